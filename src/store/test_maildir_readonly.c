/* test_maildir_readonly.c — the read-only sync (IMAP EXAMINE): new/ left
 * where it is but given UIDs, which a later full sync keeps while it takes
 * the messages as recent; reading, copying, flagging and expunging a
 * message still in new/ or moved meanwhile; change polling; concurrency
 * with deliveries, full syncs and another Maildir program. */
#include "store/test_store_util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

static void set_time(const char *dir, const char *sub, const char *name,
		     time_t when)
{
	char *path = name == NULL ? xasprintf("%s/%s", dir, sub) :
		xasprintf("%s/%s/%s", dir, sub, name);
	struct timespec ts[2] = { { when, 0 }, { when, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(path);
}

static struct maildir_snapshot *ro_sync(struct maildir_folder *f)
{
	struct maildir_snapshot *snap = NULL;
	const char *error = NULL;
	if (maildir_sync_readonly(f, &snap, &error) < 0)
		fail_msg("read-only sync: %s", error);
	return snap;
}

static char *read_msg(struct maildir_folder *f, struct maildir_msg *m)
{
	const char *error = NULL;
	char buf[4096];
	int fd;

	if (maildir_msg_open(f, m, &fd, &error) < 0)
		fail_msg("open: %s", error);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return xstrdup(buf);
}

#define NEW_A "1700000100.M1P1.host"
#define NEW_B "1700000200.M2P1.host:2,S"
#define TEXT_A "Subject: a\n\na\n"
#define TEXT_B "Subject: b\n\nb\n"

/* One message appended into cur/, two delivered into new/ by hand. */
static void put_three(struct fixture *fx, struct maildir_folder *f)
{
	test_append(f, "Subject: old\r\n\r\nx\r\n", MAILDIR_FLAG_SEEN);
	/* A SELECT takes the appended message's \Recent. */
	struct maildir_snapshot *s = test_sync(f);
	maildir_snapshot_free(&s);
	test_put(fx->root, "new", NEW_A, TEXT_A);
	test_put(fx->root, "new", NEW_B, TEXT_B);
	set_time(fx->root, "new", NEW_A, 1700000100);
	set_time(fx->root, "new", NEW_B, 1700000200);
}

static void test_readonly_keeps_new(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");

	put_three(fx, f);
	struct maildir_snapshot *s = ro_sync(f);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->uidnext, 4);
	assert_int_equal(s->recent_count, 2);
	assert_false(s->msgs[0].in_new || s->msgs[0].recent);
	assert_true(s->msgs[1].in_new && s->msgs[1].recent);
	assert_true(s->msgs[2].in_new && s->msgs[2].recent);
	assert_int_equal(s->msgs[1].uid, 2);
	assert_string_equal(s->msgs[1].filename, NEW_A);
	assert_string_equal(s->msgs[2].basename, "1700000200.M2P1.host");
	assert_int_equal(s->msgs[1].flags, 0);
	assert_int_equal(s->msgs[2].flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(s->msgs[1].internal_date, 1700000100);
	assert_int_equal(s->msgs[1].size, strlen(TEXT_A));
	assert_int_equal(s->msgs[1].vsize, strlen(TEXT_A) + 3);
	/* Nothing moved. */
	assert_true(test_exists(fx->root, "new", NEW_A));
	assert_true(test_exists(fx->root, "new", NEW_B));
	assert_int_equal(count_files(fx->root, "cur"), 1);
	maildir_snapshot_free(&s);

	/* Again, and from a fresh handle: the same UIDs (persisted). */
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	s = ro_sync(g);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->msgs[2].uid, 3);
	assert_true(s->msgs[2].in_new);
	maildir_snapshot_free(&s);

	/* The full sync (SELECT) takes them, recent, with those UIDs. */
	s = test_sync(g);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->uidnext, 4);
	assert_int_equal(s->recent_count, 2);
	assert_int_equal(s->msgs[1].uid, 2);
	assert_string_equal(s->msgs[1].basename, NEW_A);
	assert_true(s->msgs[1].recent && s->msgs[2].recent);
	assert_false(s->msgs[1].in_new || s->msgs[2].in_new);
	assert_int_equal(s->msgs[1].internal_date, 1700000100);
	assert_int_equal(count_files(fx->root, "new"), 0);
	assert_int_equal(count_files(fx->root, "cur"), 3);
	maildir_snapshot_free(&s);

	/* Now nobody sees them recent. */
	s = ro_sync(f);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->recent_count, 0);
	assert_false(s->msgs[2].in_new);
	assert_int_equal(s->msgs[2].flags, MAILDIR_FLAG_SEEN);
	maildir_snapshot_free(&s);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
}

/* STATUS after a read-only sync gave new/ UIDs: each message counted once,
 * and the next sync's view agrees. */
static void test_readonly_then_status(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_status st;
	const char *error = NULL;

	put_three(fx, f);
	struct maildir_snapshot *s = ro_sync(f);
	maildir_snapshot_free(&s);
	assert_int_equal(maildir_status(f, &st, &error), 0);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.recent, 2);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.uidnext, 4);
	test_put(fx->root, "new", "1700000300.M3P1.host", "Subject: c\n\nc\n");
	assert_int_equal(maildir_status(f, &st, &error), 0);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.recent, 3);
	assert_int_equal(st.uidnext, 5);
	assert_int_equal(count_files(fx->root, "new"), 3);
	s = test_sync(f);
	assert_int_equal(s->count, 4);
	assert_int_equal(s->recent_count, 3);
	assert_int_equal(s->uidnext, 5);
	maildir_snapshot_free(&s);
	assert_int_equal(maildir_status(f, &st, &error), 0);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.recent, 0);
	maildir_folder_close(&f);
}

static void test_readonly_open(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	const char *error = NULL;
	int fd;

	put_three(fx, f);
	struct maildir_snapshot *s = ro_sync(f);
	char *text = read_msg(f, &s->msgs[1]);
	assert_string_equal(text, TEXT_A);
	free(text);
	assert_true(s->msgs[1].in_new);

	/* Another session selects the folder: the files move to cur/ under
	 * the snapshot, which still reaches them. */
	struct maildir_snapshot *t = test_sync(g);
	maildir_snapshot_free(&t);
	assert_false(test_exists(fx->root, "new", NEW_A));
	text = read_msg(f, &s->msgs[1]);
	assert_string_equal(text, TEXT_A);
	free(text);
	assert_false(s->msgs[1].in_new);
	assert_string_equal(s->msgs[1].filename, NEW_A ":2,");
	text = read_msg(f, &s->msgs[2]);
	assert_string_equal(text, TEXT_B);
	free(text);
	assert_string_equal(s->msgs[2].filename, NEW_B);

	/* Expunged meanwhile: ENOENT. */
	test_put(fx->root, "new", "1700000300.M3P1.host", "Subject: c\n\nc\n");
	maildir_snapshot_free(&s);
	s = ro_sync(f);
	assert_int_equal(s->count, 4);
	assert_true(s->msgs[3].in_new);
	char *path = xasprintf("%s/new/1700000300.M3P1.host", fx->root);
	assert_int_equal(unlink(path), 0);
	free(path);
	errno = 0;
	assert_int_equal(maildir_msg_open(f, &s->msgs[3], &fd, &error), -1);
	assert_int_equal(errno, ENOENT);
	maildir_snapshot_free(&s);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
}

/* COPY from a read-only view links the file in new/; a flag change or an
 * expunge of such a message works on it there too. */
static void test_readonly_copy_flags_expunge(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_folder *sent = test_open(fx->root, "Sent");
	const char *error = NULL;
	uint32_t uids[2];

	put_three(fx, f);
	struct maildir_snapshot *s = ro_sync(f);
	struct maildir_msg *list[2] = { &s->msgs[1], &s->msgs[2] };
	assert_int_equal(maildir_copy(f, list, 2, sent, uids, &error), 0);
	assert_int_equal(uids[0], 1);
	assert_int_equal(count_files(fx->root, "new"), 2);   /* not moved */
	struct maildir_snapshot *d = test_sync(sent);
	assert_int_equal(d->count, 2);
	assert_int_equal(d->msgs[1].flags, MAILDIR_FLAG_SEEN);
	char *text = read_msg(sent, &d->msgs[0]);
	assert_string_equal(text, TEXT_A);
	free(text);
	maildir_snapshot_free(&d);

	/* A flag change moves the message into cur/, UID kept. */
	assert_int_equal(maildir_msg_set_flags(f, &s->msgs[1], MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_FLAGGED, &error), 0);
	assert_false(s->msgs[1].in_new);
	assert_string_equal(s->msgs[1].filename, NEW_A ":2,F");
	assert_true(test_exists(fx->root, "cur", NEW_A ":2,F"));
	assert_false(test_exists(fx->root, "new", NEW_A));

	/* An expunge removes the one still in new/. */
	list[0] = &s->msgs[2];
	assert_int_equal(maildir_expunge(f, list, 1, &error), 0);
	assert_int_equal(count_files(fx->root, "new"), 0);
	maildir_snapshot_free(&s);
	s = test_sync(f);
	assert_int_equal(s->count, 2);
	assert_int_equal(s->msgs[1].uid, 2);
	assert_int_equal(s->msgs[1].flags, MAILDIR_FLAG_FLAGGED);
	maildir_snapshot_free(&s);
	maildir_folder_close(&sent);
	maildir_folder_close(&f);
}

/* Polling a read-only view notices deliveries into new/, and its own
 * syncs (which move nothing) settle it. */
static void test_readonly_changed(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	time_t past = time(NULL) - 60;

	put_three(fx, f);
	assert_true(maildir_folder_changed(f));
	struct maildir_snapshot *s = ro_sync(f);
	maildir_snapshot_free(&s);
	set_time(fx->root, "new", NULL, past);
	set_time(fx->root, "cur", NULL, past);
	set_time(fx->root, ".", "sealpost-uidlist", past);
	s = ro_sync(f);
	maildir_snapshot_free(&s);
	assert_false(maildir_folder_changed(f));

	test_put(fx->root, "new", "1700000300.M3P1.host", "Subject: c\n\nc\n");
	assert_true(maildir_folder_changed(f));
	s = ro_sync(f);
	assert_int_equal(s->count, 4);
	assert_true(s->msgs[3].in_new);
	maildir_snapshot_free(&s);
	set_time(fx->root, "new", NULL, past);
	set_time(fx->root, "cur", NULL, past);
	set_time(fx->root, ".", "sealpost-uidlist", past);
	s = ro_sync(f);
	maildir_snapshot_free(&s);
	assert_false(maildir_folder_changed(f));
	assert_int_equal(count_files(fx->root, "new"), 3);
	maildir_folder_close(&f);
}

/* ---- concurrency --------------------------------------------------------- */

#define CONC_SECONDS 1.0
#define CONC_SEEN_MAX 100000

struct seen_uid {
	uint32_t uid;
	char *basename;
};

struct conc {
	const char *root;
	pthread_mutex_t mutex;
	struct seen_uid *seen;  /* what read-only views saw */
	size_t n_seen;
	size_t delivered;
	size_t moved_outside;   /* moved new/ -> cur/ by "another program" */
	bool failed;
	char why[256];
};

static void conc_fail(struct conc *c, const char *why)
{
	pthread_mutex_lock(&c->mutex);
	if (!c->failed)
		strlcpy_sp(c->why, why, sizeof(c->why));
	c->failed = true;
	pthread_mutex_unlock(&c->mutex);
}

/* Deliveries into new/ (no lock); every third one is then moved to cur/
 * without our lock, as mutt would. */
static void *delivery_thread(void *arg)
{
	struct conc *c = arg;
	double end = now_s() + CONC_SECONDS;
	size_t n = 0, moved = 0;

	while (now_s() < end && !c->failed) {
		char name[MAILDIR_BASENAME_SIZE];
		assert_int_equal(maildir_new_basename(name, sizeof(name), 14), 0);
		char *tmp = xasprintf("%s/tmp/%s", c->root, name);
		char *dst = xasprintf("%s/new/%s", c->root, name);
		char *cur = xasprintf("%s/cur/%s:2,S", c->root, name);
		test_write(tmp, "Subject: d\n\nx\n");
		if (rename(tmp, dst) < 0)
			conc_fail(c, "delivery rename");
		n++;
		if (n % 3 == 0 && rename(dst, cur) == 0)
			moved++;
		free(tmp);
		free(dst);
		free(cur);
		struct timespec pause = { 0, 2 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	pthread_mutex_lock(&c->mutex);
	c->delivered += n;
	c->moved_outside += moved;
	pthread_mutex_unlock(&c->mutex);
	return NULL;
}

/* A SELECTed session: full syncs now and then. */
static void *full_thread(void *arg)
{
	struct conc *c = arg;
	struct maildir_folder *f = NULL;
	const char *error;
	double end = now_s() + CONC_SECONDS;

	if (maildir_folder_open(c->root, "INBOX", &f, &error) < 0) {
		conc_fail(c, error);
		return NULL;
	}
	while (now_s() < end && !c->failed) {
		struct maildir_snapshot *s;
		if (maildir_sync(f, &s, &error) < 0) {
			conc_fail(c, error);
			break;
		}
		maildir_snapshot_free(&s);
		struct timespec pause = { 0, 5 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	maildir_folder_close(&f);
	return NULL;
}

/* Check one read-only snapshot against the previous one: ascending, every
 * earlier UID still there under the same basename (nothing is expunged),
 * and the newest message readable wherever it went. */
static void check_ro(struct conc *c, struct maildir_folder *f,
		     struct maildir_snapshot *prev, struct maildir_snapshot *s)
{
	const char *error;
	int fd;

	for (size_t i = 1; i < s->count; i++) {
		if (s->msgs[i].uid <= s->msgs[i - 1].uid)
			conc_fail(c, "snapshot not ascending");
	}
	for (size_t i = 0; prev != NULL && i < prev->count; i++) {
		struct maildir_msg *m = maildir_snapshot_find(s, prev->msgs[i].uid);
		if (m == NULL || strcmp(m->basename, prev->msgs[i].basename) != 0)
			conc_fail(c, "a UID was lost or changed");
	}
	if (s->count > 0) {
		if (maildir_msg_open(f, &s->msgs[s->count - 1], &fd, &error) < 0)
			conc_fail(c, error);
		else
			close(fd);
	}
}

/* An EXAMINEd session: read-only syncs, remembering what it saw. */
static void *readonly_thread(void *arg)
{
	struct conc *c = arg;
	struct maildir_folder *f = NULL;
	struct maildir_snapshot *prev = NULL, *s;
	const char *error;
	double end = now_s() + CONC_SECONDS;

	if (maildir_folder_open(c->root, "INBOX", &f, &error) < 0) {
		conc_fail(c, error);
		return NULL;
	}
	while (now_s() < end && !c->failed) {
		if (maildir_sync_readonly(f, &s, &error) < 0) {
			conc_fail(c, error);
			break;
		}
		check_ro(c, f, prev, s);
		maildir_snapshot_free(&prev);
		prev = s;
	}
	pthread_mutex_lock(&c->mutex);
	for (size_t i = 0; prev != NULL && i < prev->count &&
		     c->n_seen < CONC_SEEN_MAX; i++) {
		c->seen[c->n_seen].uid = prev->msgs[i].uid;
		c->seen[c->n_seen++].basename = xstrdup(prev->msgs[i].basename);
	}
	pthread_mutex_unlock(&c->mutex);
	maildir_snapshot_free(&prev);
	maildir_folder_close(&f);
	return NULL;
}

static void test_readonly_concurrent(void **state)
{
	struct fixture *fx = *state;
	struct conc c = { .root = fx->root };
	void *(*fns[])(void *) = { delivery_thread, full_thread, readonly_thread,
				   readonly_thread };
	pthread_t threads[N_ELEMENTS(fns)];

	c.seen = xcalloc(CONC_SEEN_MAX, sizeof(*c.seen));
	pthread_mutex_init(&c.mutex, NULL);
	for (size_t i = 0; i < N_ELEMENTS(fns); i++)
		assert_int_equal(pthread_create(&threads[i], NULL, fns[i], &c), 0);
	for (size_t i = 0; i < N_ELEMENTS(fns); i++)
		pthread_join(threads[i], NULL);
	if (c.failed)
		fail_msg("%s", c.why);

	/* Every message has one UID, none skipped, and each UID a read-only
	 * view handed out is the one the message has now. */
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s = test_sync(f);
	print_message("%zu deliveries (%zu moved by hand), %zu UIDs checked\n",
		      c.delivered, c.moved_outside, c.n_seen);
	assert_true(c.delivered > 10);
	assert_true(c.n_seen > 0);
	assert_int_equal(s->count, c.delivered);
	assert_int_equal(s->uidnext, s->count + 1);
	assert_int_equal(count_files(fx->root, "new"), 0);
	for (size_t i = 0; i < c.n_seen; i++) {
		struct maildir_msg *m = maildir_snapshot_find(s, c.seen[i].uid);
		assert_non_null(m);
		assert_string_equal(m->basename, c.seen[i].basename);
		free(c.seen[i].basename);
	}
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
	pthread_mutex_destroy(&c.mutex);
	free(c.seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_readonly_keeps_new, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_readonly_then_status, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_readonly_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_copy_flags_expunge,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_changed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_readonly_concurrent, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
