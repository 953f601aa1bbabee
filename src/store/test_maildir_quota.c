/* test_maildir_quota.c — Maildir++ maildirsize: recalculation from the
 * folders' names, changes recorded by append, copy, expunge and
 * delivery-like additions, recalculation when stale, too big, written for
 * other limits or after a folder is deleted; MULTIAPPEND's commit_all. */
#include "store/test_store_util.h"

#include <errno.h>

static struct maildir_quota_usage usage_of(const char *root,
					   const struct maildir_quota *limit)
{
	struct maildir_quota_usage u;
	const char *error = NULL;
	if (maildir_quota_usage(root, limit, &u, &error) < 0)
		fail_msg("usage: %s", error);
	return u;
}

static char *quota_file(const char *root)
{
	char *path = xasprintf("%s/maildirsize", root);
	char *text = test_read(path);
	free(path);
	return text;
}

static void test_recalc_and_changes(void **state)
{
	struct fixture *fx = *state;
	struct maildir_quota limit = { 1000000, 0 };
	struct maildir_folder *inbox = test_open(fx->root, "INBOX");
	struct maildir_folder *sent = test_open(fx->root, "Sent");

	/* before any limit was looked at: no file, nothing recorded */
	test_append(inbox, "Subject: 1\r\n\r\n12345\r\n", 0);       /* 21 bytes */
	char *path = xasprintf("%s/maildirsize", fx->root);
	assert_false(fs_exists(path));
	/* mail from elsewhere: a name with ,S= and one without */
	test_put(fx->root, "new", "1700000100.M1P1.host,S=1000", "Subject: x\n\n");
	test_put(fx->root, "cur", "1700000101.M2P1.host:2,S", "0123456789");
	char *sdir = xasprintf("%s/.Sent", fx->root);
	test_put(sdir, "cur", "1700000102.M3P1.host,S=500:2,", "short");
	struct maildir_quota_usage u = usage_of(fx->root, &limit);
	assert_int_equal(u.bytes, 21 + 1000 + 10 + 500);
	assert_int_equal(u.messages, 4);
	char *text = quota_file(fx->root);
	assert_string_equal(text, "1000000S\n1531 4\n");
	free(text);

	/* changes are appended, the sum follows */
	test_append(sent, "Subject: 2\r\n\r\nabc\r\n", 0);           /* 19 */
	maildir_quota_add(fx->root, 4000, 1);                       /* a delivery */
	u = usage_of(fx->root, &limit);
	assert_int_equal(u.bytes, 1531 + 19 + 4000);
	assert_int_equal(u.messages, 6);
	struct maildir_snapshot *snap = test_sync(inbox);
	struct maildir_msg *msgs[1] = { &snap->msgs[0] };            /* the 21 */
	const char *error;
	assert_int_equal(maildir_expunge(inbox, msgs, 1, &error), 0);
	/* expunged again by someone else: counted once */
	assert_int_equal(maildir_expunge(inbox, msgs, 1, &error), 0);
	maildir_snapshot_free(&snap);
	u = usage_of(fx->root, &limit);
	assert_int_equal(u.bytes, 1531 + 19 + 4000 - 21);
	assert_int_equal(u.messages, 5);
	assert_true(maildir_quota_allows(&limit, &u, 1000000 - u.bytes, 1));
	assert_false(maildir_quota_allows(&limit, &u, 1000000 - u.bytes + 1, 1));

	/* other limits: recalculated from the disk (the +4000 was not real) */
	struct maildir_quota other = { 0, 10 };
	u = usage_of(fx->root, &other);
	assert_int_equal(u.bytes, 1531 + 19 - 21);
	assert_int_equal(u.messages, 4);
	assert_false(maildir_quota_allows(&other, &u, 1, 7));
	assert_true(maildir_quota_allows(&other, &u, 1 << 30, 6));
	text = quota_file(fx->root);
	assert_string_equal(text, "10C\n1529 4\n");
	free(text);

	/* a deleted folder: recounted */
	assert_int_equal(maildir_folder_delete(fx->root, "Sent", &error), 0);
	assert_false(fs_exists(path));
	u = usage_of(fx->root, &other);
	assert_int_equal(u.messages, 2);

	/* stale (over 15 minutes): recalculated; too big: the same */
	maildir_quota_add(fx->root, 77, 7);
	struct timespec old[2] = { { time(NULL) - 16 * 60, 0 }, { time(NULL) - 16 * 60, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	u = usage_of(fx->root, &other);
	assert_int_equal(u.messages, 2);
	for (int i = 0; i < 1000; i++)            /* under 5120 bytes: summed */
		maildir_quota_add(fx->root, 1, 0);
	u = usage_of(fx->root, &other);
	assert_int_equal(u.bytes, 2010);
	for (int i = 0; i < 400; i++)             /* past it: recalculated */
		maildir_quota_add(fx->root, 1, 0);
	u = usage_of(fx->root, &other);
	assert_int_equal(u.bytes, 1010);
	/* a torn or junk line: recalculated */
	test_write(path, "10C\n1010 2\n99 x\n");
	u = usage_of(fx->root, &other);
	assert_int_equal(u.bytes, 1010);
	text = quota_file(fx->root);
	assert_string_equal(text, "10C\n1010 2\n");
	free(text);
	free(sdir);
	free(path);
	maildir_folder_close(&inbox);
	maildir_folder_close(&sent);
}

/* MULTIAPPEND: finish each, commit all with consecutive UIDs; counted. */
static void test_commit_all(void **state)
{
	struct fixture *fx = *state;
	struct maildir_quota limit = { 1 << 20, 0 };
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_append *ctxs[3];
	unsigned flags[3] = { MAILDIR_FLAG_SEEN, 0, MAILDIR_FLAG_FLAGGED };
	uint32_t kw[3] = { 0, 1, 0 }, uids[3], uidvalidity;
	const char *error;
	int fd;

	(void)usage_of(fx->root, &limit);       /* start counting */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(maildir_append_begin(f, &ctxs[i], &fd, &error), 0);
		assert_int_equal(write(fd, "Subject: m\r\n\r\nbody\r\n", 20), 20);
		assert_int_equal(maildir_append_finish(ctxs[i], 1700000000 + i, &error), 0);
	}
	assert_int_equal(count_files(fx->root, "tmp"), 3);
	assert_int_equal(count_files(fx->root, "cur"), 0);
	assert_int_equal(maildir_append_commit_all(ctxs, 3, flags, kw, &uidvalidity,
						   uids, &error), 0);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[2], 3);
	assert_int_equal(count_files(fx->root, "tmp"), 0);
	assert_int_equal(count_files(fx->root, "cur"), 3);
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->msgs[0].flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(s->msgs[1].keywords, 1);
	assert_int_equal(s->msgs[2].internal_date, 1700000002);
	maildir_snapshot_free(&s);
	struct maildir_quota_usage u = usage_of(fx->root, &limit);
	assert_int_equal(u.messages, 3);
	assert_int_equal(u.bytes, 60);
	/* finished ones are aborted cleanly too */
	assert_int_equal(maildir_append_begin(f, &ctxs[0], &fd, &error), 0);
	assert_int_equal(maildir_append_finish(ctxs[0], 0, &error), 0);
	maildir_append_abort(&ctxs[0]);
	assert_int_equal(count_files(fx->root, "tmp"), 0);
	maildir_folder_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recalc_and_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_all, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
