/* test_maildir_status.c — STATUS counts that leave \Recent to the next
 * sync, and the append commit with keywords and UIDVALIDITY. */
#include "store/test_store_util.h"

#include <dirent.h>
#include <errno.h>

static struct maildir_status status_of(struct maildir_folder *f)
{
	struct maildir_status st;
	const char *error = NULL;
	if (maildir_status(f, &st, &error) < 0)
		fail_msg("status: %s", error);
	return st;
}

static void test_status_keeps_recent(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");

	test_append(f, "Subject: old\r\n\r\nx\r\n", MAILDIR_FLAG_SEEN);
	test_append(f, "Subject: old2\r\n\r\nx\r\n", 0);
	/* Appended: recent until a SELECT takes them. */
	assert_int_equal(status_of(f).recent, 2);
	struct maildir_snapshot *taken = test_sync(f);
	assert_int_equal(taken->recent_count, 2);
	maildir_snapshot_free(&taken);
	assert_int_equal(status_of(f).recent, 0);
	/* Two deliveries by another program; one says it was seen already. */
	test_put(fx->root, "new", "1700000100.M1P1.host", "Subject: a\n\na\n");
	test_put(fx->root, "new", "1700000200.M2P1.host:2,S", "Subject: b\n\nb\n");
	/* Not messages: a dot file and a directory. */
	test_put(fx->root, "new", ".hidden", "x");
	char *sub = xasprintf("%s/new/subdir", fx->root);
	assert_int_equal(mkdir(sub, 0700), 0);

	struct maildir_status st = status_of(f);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.recent, 2);
	assert_int_equal(st.unseen, 2);       /* old2 and a */
	assert_int_equal(st.uidnext, 5);      /* 3 and 4 go to new/ */
	assert_true(st.uidvalidity > 0);
	/* Asked twice: the same, and new/ untouched. */
	struct maildir_status again = status_of(f);
	assert_memory_equal(&st, &again, sizeof(st));
	assert_true(test_exists(fx->root, "new", "1700000100.M1P1.host"));
	assert_true(test_exists(fx->root, "new", "1700000200.M2P1.host:2,S"));

	/* The next sync (SELECT) still sees them as recent, with the UIDs
	 * STATUS announced. */
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s = test_sync(g);
	assert_int_equal(s->count, 4);
	assert_int_equal(s->recent_count, 2);
	assert_int_equal(s->uidnext, st.uidnext);
	assert_int_equal(s->uidvalidity, st.uidvalidity);
	assert_true(s->msgs[2].recent && s->msgs[3].recent);
	maildir_snapshot_free(&s);

	/* Once synced, nothing is recent for STATUS any more. */
	st = status_of(f);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.recent, 0);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.uidnext, 5);
	rmdir(sub);
	free(sub);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
}

/* A folder never synced gets its UIDVALIDITY persisted by STATUS, so the
 * value STATUS reports is the one SELECT gets; files another program put
 * straight into cur/ get their UIDs. */
static void test_status_fresh_folder(void **state)
{
	struct fixture *fx = *state;
	const char *error = NULL;

	assert_int_equal(maildir_folder_create(fx->root, "Lists/Work", &error), 0);
	char *path = xasprintf("%s/.Lists.Work", fx->root);
	test_put(path, "cur", "1700000100.M1P1.host:2,S", "Subject: a\n\na\n");
	struct maildir_folder *f = test_open(fx->root, "Lists/Work");
	assert_true(maildir_folder_changed(f));
	struct maildir_status st = status_of(f);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.recent, 1);       /* its UID is new */
	assert_int_equal(st.unseen, 0);
	assert_int_equal(st.uidnext, 2);
	/* STATUS is no sync of this handle. */
	assert_true(maildir_folder_changed(f));
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->uidvalidity, st.uidvalidity);
	assert_int_equal(s->msgs[0].uid, 1);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);

	/* A folder without new/ (trimmed by hand) has nothing recent. */
	char *new_dir = xasprintf("%s/new", path);
	assert_int_equal(rmdir(new_dir), 0);
	f = test_open(fx->root, "Lists/Work");
	st = status_of(f);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.recent, 0);
	maildir_folder_close(&f);
	free(new_dir);
	free(path);
}

static void test_status_gone(void **state)
{
	struct fixture *fx = *state;
	const char *error = NULL;
	struct maildir_status st;

	assert_int_equal(maildir_folder_create(fx->root, "Gone", &error), 0);
	struct maildir_folder *f = test_open(fx->root, "Gone");
	assert_int_equal(maildir_folder_delete(fx->root, "Gone", &error), 0);
	assert_int_equal(maildir_status(f, &st, &error), -1);
	maildir_folder_close(&f);
}

static void test_commit_keywords_uidvalidity(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "Sent");
	struct maildir_append *ctx;
	const char *error = NULL;
	uint32_t uid = 0, uidvalidity = 0;
	unsigned kw_a, kw_b;
	int fd;

	assert_int_equal(maildir_keyword_index(f, "$Label1", true, &kw_a, &error), 0);
	assert_int_equal(maildir_keyword_index(f, "Work", true, &kw_b, &error), 0);
	assert_int_equal(maildir_append_begin(f, &ctx, &fd, &error), 0);
	assert_int_equal(write(fd, "Subject: k\r\n\r\nbody\r\n", 20), 20);
	assert_int_equal(maildir_append_commit(&ctx, MAILDIR_FLAG_FLAGGED,
						  (1u << kw_a) | (1u << kw_b),
						  1600000000, &uidvalidity, &uid,
						  &error), 0);
	assert_null(ctx);
	assert_int_equal(uid, 1);
	char *sent = xasprintf("%s/.Sent", fx->root);
	assert_int_equal(count_files(sent, "tmp"), 0);

	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->uidvalidity, uidvalidity);
	assert_int_equal(s->msgs[0].flags, MAILDIR_FLAG_FLAGGED);
	assert_int_equal(s->msgs[0].keywords, (1u << kw_a) | (1u << kw_b));
	assert_int_equal(s->msgs[0].internal_date, 1600000000);
	assert_non_null(strstr(s->msgs[0].filename, ":2,Fab"));
	maildir_snapshot_free(&s);

	/* Only valid bits reach the name; UIDVALIDITY may be left out. */
	assert_int_equal(maildir_append_begin(f, &ctx, &fd, &error), 0);
	assert_int_equal(write(fd, "x\r\n", 3), 3);
	assert_int_equal(maildir_append_commit(&ctx, 0xffffffffu, 0xffffffffu, 0,
						  NULL, &uid, &error), 0);
	assert_int_equal(uid, 2);
	s = test_sync(f);
	assert_int_equal(s->msgs[1].flags, MAILDIR_FLAGS_ALL);
	assert_int_equal(s->msgs[1].keywords, MAILDIR_KEYWORDS_ALL);
	maildir_snapshot_free(&s);
	free(sent);
	maildir_folder_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_keeps_recent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_status_fresh_folder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_status_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_keywords_uidvalidity,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
