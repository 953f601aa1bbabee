/* test_deliver.c — the group commit of received messages: a batch links
 * every message and syncs each folder once; a message that fails takes
 * its links back and leaves the others durable. */
#include "test_store_util.h"
#include "store/deliver.h"

#include <pthread.h>

static size_t count_new(const char *data_dir, const char *address)
{
	char *maildir = mailbox_path(data_dir, address);
	char *new_dir = fs_join(maildir, "new");
	DIR *d = opendir(new_dir);
	struct dirent *de;
	size_t n = 0;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			n += de->d_name[0] != '.';
		closedir(d);
	}
	free(new_dir);
	free(maildir);
	return n;
}

static void spool_with(const char *data_dir, struct spool *sp, const char *text)
{
	const char *error = NULL;
	if (spool_open(data_dir, sp, &error) < 0 ||
	    spool_write(sp, text, strlen(text), &error) < 0)
		fail_msg("spool: %s", error);
}

static void test_batch_partial_failure(void **state)
{
	char *data_dir, *root = test_mailbox(&data_dir);
	char *spool_dir = fs_join(data_dir, DELIVER_SPOOL_DIR);
	char *blocked = fs_join(data_dir, "mail/blocked.test");
	struct spool sp[4];
	char *to1[] = { "user@example.test" };
	char *to2[] = { "user@example.test", "other@example.test" };
	char *to3[] = { "user@example.test", "x@blocked.test" };
	char *to4[] = { "other@example.test" };

	assert_int_equal(mkdir(spool_dir, 0700), 0);
	/* A file where x@blocked.test's domain folder would be. */
	test_write(blocked, "not a folder\n");
	for (size_t i = 0; i < N_ELEMENTS(sp); i++)
		spool_with(data_dir, &sp[i], "Subject: t\r\n\r\nbody\r\n");
	struct deliver_item items[] = {
		{ .sp = &sp[0], .addresses = to1, .n_addresses = 1 },
		{ .sp = &sp[1], .addresses = to2, .n_addresses = 2 },
		{ .sp = &sp[2], .addresses = to3, .n_addresses = 2 },
		/* Skipped by its caller (the client went away). */
		{ .sp = &sp[3], .addresses = to4, .n_addresses = 1, .result = -1 },
	};
	deliver_commit_batch(items, N_ELEMENTS(items), data_dir);
	assert_int_equal(items[0].result, 0);
	assert_int_equal(items[1].result, 0);
	assert_int_equal(items[2].result, -1);
	assert_non_null(strstr(items[2].error, "blocked.test"));
	assert_int_equal(items[3].result, -1);
	/* user: items 1 and 2 (item 3's link was taken back); other: item 2
	 * only (item 4 was skipped). */
	assert_int_equal(count_new(data_dir, "user@example.test"), 2);
	assert_int_equal(count_new(data_dir, "other@example.test"), 1);
	for (size_t i = 0; i < N_ELEMENTS(sp); i++)
		spool_discard(&sp[i]);
	free(blocked);
	free(spool_dir);
	free(root);
	test_rm_rf(&data_dir);
}

#define CONCURRENT_BATCHES 3
#define BATCH_ITEMS 6

struct batch_arg {
	const char *data_dir;
	struct spool sp[BATCH_ITEMS];
	struct deliver_item items[BATCH_ITEMS];
};

static void *commit_thread(void *p)
{
	struct batch_arg *a = p;
	deliver_commit_batch(a->items, BATCH_ITEMS, a->data_dir);
	return NULL;
}

/* Batches committed at the same time (the committer runs two at once)
 * share the sync helpers: every message of each ends up delivered. */
static void test_concurrent_batches(void **state)
{
	char *data_dir, *root = test_mailbox(&data_dir);
	char *spool_dir = fs_join(data_dir, DELIVER_SPOOL_DIR);
	char *to[] = { "user@example.test", "other@example.test" };
	static struct batch_arg args[CONCURRENT_BATCHES];
	pthread_t threads[CONCURRENT_BATCHES];

	assert_int_equal(mkdir(spool_dir, 0700), 0);
	for (int t = 0; t < CONCURRENT_BATCHES; t++) {
		args[t].data_dir = data_dir;
		for (int i = 0; i < BATCH_ITEMS; i++) {
			spool_with(data_dir, &args[t].sp[i], "Subject: c\r\n\r\nx\r\n");
			args[t].items[i] = (struct deliver_item){
				.sp = &args[t].sp[i], .addresses = to, .n_addresses = 2 };
		}
	}
	for (int t = 0; t < CONCURRENT_BATCHES; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, commit_thread,
						&args[t]), 0);
	for (int t = 0; t < CONCURRENT_BATCHES; t++) {
		assert_int_equal(pthread_join(threads[t], NULL), 0);
		for (int i = 0; i < BATCH_ITEMS; i++) {
			assert_int_equal(args[t].items[i].result, 0);
			spool_discard(&args[t].sp[i]);
		}
	}
	assert_int_equal(count_new(data_dir, "user@example.test"),
			 CONCURRENT_BATCHES * BATCH_ITEMS);
	assert_int_equal(count_new(data_dir, "other@example.test"),
			 CONCURRENT_BATCHES * BATCH_ITEMS);
	free(spool_dir);
	free(root);
	test_rm_rf(&data_dir);
}

static void test_single_commit(void **state)
{
	char *data_dir, *root = test_mailbox(&data_dir);
	char *spool_dir = fs_join(data_dir, DELIVER_SPOOL_DIR);
	struct spool sp;
	char *to[] = { "user@example.test" };
	const char *error = NULL;

	assert_int_equal(mkdir(spool_dir, 0700), 0);
	assert_int_equal(spool_open(data_dir, &sp, &error), 0);
	assert_int_equal(spool_write(&sp, "x\r\n", 3, &error), 0);
	assert_int_equal(deliver_commit(&sp, data_dir, to, 1, &error), 0);
	spool_discard(&sp);
	assert_int_equal(count_new(data_dir, "user@example.test"), 1);
	free(spool_dir);
	free(root);
	test_rm_rf(&data_dir);
}

/* The inode of the only file in dir (0: none or more than one). */
static ino_t only_file(const char *dir, nlink_t *nlink_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	ino_t ino = 0;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		assert_int_equal(fstatat(dirfd(d), de->d_name, &st, 0), 0);
		ino = st.st_ino;
		*nlink_r = st.st_nlink;
	}
	closedir(d);
	return n == 1 ? ino : 0;
}

/* The spool file becomes the message: linked into the first recipients'
 * new/, renamed into the last one's, no spool name left and no inode
 * freed (and so nothing for ext4's allocator to skip later). */
static void test_commit_moves_the_spool_file(void **state)
{
	char *data_dir, *root = test_mailbox(&data_dir);
	char *spool_dir = fs_join(data_dir, DELIVER_SPOOL_DIR);
	char *new1 = fs_join(data_dir, "mail/example.test/user/new");
	char *new2 = fs_join(data_dir, "mail/example.test/other/new");
	char *to[] = { "user@example.test", "other@example.test" };
	const char *error = NULL;
	struct spool sp;
	struct stat st;
	nlink_t n1 = 0, n2 = 0, ns = 0;

	assert_int_equal(mkdir(spool_dir, 0700), 0);
	spool_with(data_dir, &sp, "Subject: m\r\n\r\nx\r\n");
	assert_int_equal(fstat(sp.fd, &st), 0);
	assert_int_equal(deliver_commit(&sp, data_dir, to, 2, &error), 0);
	assert_true(sp.moved);
	assert_int_equal(access(sp.path, F_OK), -1);
	assert_int_equal(only_file(new1, &n1), st.st_ino);
	assert_int_equal(only_file(new2, &n2), st.st_ino);
	assert_int_equal(n1, 2);
	assert_int_equal(only_file(spool_dir, &ns), 0);
	spool_discard(&sp);           /* closes; removes nothing */
	assert_int_equal(only_file(new1, &n1), st.st_ino);
	assert_int_equal(n1, 2);
	free(new1);
	free(new2);
	free(spool_dir);
	free(root);
	test_rm_rf(&data_dir);
}

/* A message whose last recipient fails keeps its spool name (nothing was
 * moved) and leaves no file in any new/. */
static void test_failed_commit_moves_nothing(void **state)
{
	char *data_dir, *root = test_mailbox(&data_dir);
	char *spool_dir = fs_join(data_dir, DELIVER_SPOOL_DIR);
	char *blocked = fs_join(data_dir, "mail/blocked.test");
	char *to[] = { "user@example.test", "x@blocked.test" };
	const char *error = NULL;
	struct spool sp;

	assert_int_equal(mkdir(spool_dir, 0700), 0);
	test_write(blocked, "not a folder\n");
	spool_with(data_dir, &sp, "Subject: f\r\n\r\nx\r\n");
	assert_int_equal(deliver_commit(&sp, data_dir, to, 2, &error), -1);
	assert_false(sp.moved);
	assert_int_equal(access(sp.path, F_OK), 0);
	assert_int_equal(count_new(data_dir, "user@example.test"), 0);
	spool_discard(&sp);
	free(blocked);
	free(spool_dir);
	free(root);
	test_rm_rf(&data_dir);
}

/* A spool around a file the caller keeps (the outbound queue's message,
 * delivered to local recipients one commit each) is linked, never moved:
 * the file is still there for the next recipient and the next attempt. */
static void test_commit_keeps_a_file_it_does_not_own(void **state)
{
	char *data_dir, *root = test_mailbox(&data_dir);
	char *msg = fs_join(data_dir, "queued.msg");
	char *to1[] = { "user@example.test" }, *to2[] = { "other@example.test" };
	const char *error = NULL;

	test_write(msg, "Subject: q\r\n\r\nx\r\n");
	struct spool sp = { .fd = open(msg, O_RDONLY | O_CLOEXEC), .path = msg,
			    .size = 17 };
	assert_true(sp.fd >= 0);
	assert_int_equal(deliver_commit(&sp, data_dir, to1, 1, &error), 0);
	assert_int_equal(deliver_commit(&sp, data_dir, to2, 1, &error), 0);
	assert_false(sp.moved);
	assert_int_equal(access(msg, F_OK), 0);
	assert_int_equal(count_new(data_dir, "user@example.test"), 1);
	assert_int_equal(count_new(data_dir, "other@example.test"), 1);
	close(sp.fd);
	free(msg);
	free(root);
	test_rm_rf(&data_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_partial_failure),
		cmocka_unit_test(test_concurrent_batches),
		cmocka_unit_test(test_single_commit),
		cmocka_unit_test(test_commit_moves_the_spool_file),
		cmocka_unit_test(test_failed_commit_moves_nothing),
		cmocka_unit_test(test_commit_keeps_a_file_it_does_not_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
