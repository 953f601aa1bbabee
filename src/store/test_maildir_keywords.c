/* test_maildir_keywords.c — keywords as Dovecot stores them: the
 * dovecot-keywords file, letters a-z in file names, copies between folders. */
#include "store/test_store_util.h"

#include <errno.h>

static unsigned index_of(struct maildir_folder *f, const char *name, bool create)
{
	unsigned i = 99;
	const char *error = NULL;
	if (maildir_keyword_index(f, name, create, &i, &error) < 0)
		fail_msg("keyword %s: %s", name, error);
	return i;
}

static void test_valid(void **state)
{
	static const char *const good[] = { "$Junk", "$label1", "NonJunk", "a.b-c" };
	static const char *const bad[] = {
		"", "\\Seen", "two words", "par(en", "quo\"te", "star*", "pct%",
		"brace{", "brack]", "tab\t", "caf\xc3\xa9",
	};
	for (size_t i = 0; i < N_ELEMENTS(good); i++)
		assert_true(maildir_keyword_valid(good[i]));
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_false(maildir_keyword_valid(bad[i]));
	char long_kw[MAILDIR_KEYWORD_LEN_MAX + 2];
	memset(long_kw, 'k', sizeof(long_kw) - 1);
	long_kw[sizeof(long_kw) - 1] = '\0';
	assert_false(maildir_keyword_valid(long_kw));
	long_kw[MAILDIR_KEYWORD_LEN_MAX] = '\0';
	assert_true(maildir_keyword_valid(long_kw));
}

static void test_index_file(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_keywords kw;
	const char *error;
	unsigned i;

	/* Written by Dovecot, with a gap. */
	test_put(fx->root, ".", "dovecot-keywords", "0 $Forwarded\n3 Work\nbad line\n");
	assert_int_equal(index_of(f, "$forwarded", false), 0);
	assert_int_equal(index_of(f, "Work", false), 3);
	errno = 0;
	assert_int_equal(maildir_keyword_index(f, "$Junk", false, &i, &error), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_keyword_index(f, "bad word", true, &i, &error), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(index_of(f, "$Junk", true), 1);
	assert_int_equal(index_of(f, "$JUNK", true), 1);
	char *path = xasprintf("%s/dovecot-keywords", fx->root);
	char *text = test_read(path);
	assert_string_equal(text, "0 $Forwarded\n1 $Junk\n3 Work\n");
	free(text);
	free(path);

	assert_int_equal(maildir_keywords_read(f, &kw, &error), 0);
	assert_string_equal(kw.names[1], "$Junk");
	assert_null(kw.names[2]);
	maildir_keywords_free(&kw);

	/* 26 letters, no more. */
	for (int n = 0; n < MAILDIR_KEYWORDS_MAX - 3; n++) {
		char name[16];
		snprintf(name, sizeof(name), "k%d", n);
		index_of(f, name, true);
	}
	errno = 0;
	assert_int_equal(maildir_keyword_index(f, "one-too-many", true, &i, &error), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(index_of(f, "k0", false), 2);
	maildir_folder_close(&f);
}

static void test_store(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	const char *error;

	test_put(fx->root, "cur", "1600000000.A.host:2,RXac", "A: b\n\n");
	struct maildir_snapshot *s = test_sync(f);
	struct maildir_msg *m = &s->msgs[0];
	assert_int_equal(m->keywords, (1u << 0) | (1u << 2));
	assert_int_equal(m->flags, MAILDIR_FLAG_ANSWERED);

	assert_int_equal(maildir_msg_store(f, m, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN,
					   1u << 1, &error), 0);
	assert_string_equal(m->filename, "1600000000.A.host:2,RSXabc");
	assert_int_equal(m->keywords, 7);
	assert_int_equal(maildir_msg_store(f, m, MAILDIR_FLAGS_REMOVE, 0,
					   (1u << 0) | (1u << 2), &error), 0);
	assert_string_equal(m->filename, "1600000000.A.host:2,RSXb");
	assert_int_equal(maildir_msg_set_flags(f, m, MAILDIR_FLAGS_REPLACE,
					       MAILDIR_FLAG_FLAGGED, &error), 0);
	assert_string_equal(m->filename, "1600000000.A.host:2,FXb");  /* kept */
	assert_int_equal(maildir_msg_store(f, m, MAILDIR_FLAGS_REPLACE, 0,
					   (1u << 25) | (1u << 3), &error), 0);
	assert_string_equal(m->filename, "1600000000.A.host:2,Xdz");
	maildir_snapshot_free(&s);
	s = test_sync(f);
	assert_int_equal(s->msgs[0].keywords, (1u << 25) | (1u << 3));
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

static void test_copy_maps_names(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *in = test_open(fx->root, "INBOX");
	struct maildir_folder *dst = test_open(fx->root, "Junk");
	const char *error;
	uint32_t uid;

	test_put(fx->root, ".", "dovecot-keywords", "0 $Junk\n1 Work\n3 Private\n");
	test_put(maildir_folder_path(dst), ".", "dovecot-keywords", "0 Other\n");
	/* 'c' has no name in INBOX: it cannot travel. */
	test_put(fx->root, "cur", "1600000000.A.host:2,Sabc", "A: b\n\n");
	struct maildir_snapshot *s = test_sync(in);
	struct maildir_msg *m = &s->msgs[0];
	assert_int_equal(maildir_copy(in, &m, 1, dst, &uid, &error), 0);
	struct maildir_snapshot *d = test_sync(dst);
	assert_int_equal(d->count, 1);
	assert_int_equal(d->msgs[0].flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(d->msgs[0].keywords, (1u << 1) | (1u << 2));
	assert_int_equal(index_of(dst, "$Junk", false), 1);
	assert_int_equal(index_of(dst, "Work", false), 2);
	errno = 0;
	unsigned i;
	assert_int_equal(maildir_keyword_index(dst, "Private", false, &i, &error), -1);
	assert_int_equal(errno, ENOENT);
	/* Within one folder, letters stay. */
	assert_int_equal(maildir_copy(in, &m, 1, in, &uid, &error), 0);
	maildir_snapshot_free(&s);
	s = test_sync(in);
	assert_int_equal(s->count, 2);
	assert_int_equal(s->msgs[1].keywords, 7);
	maildir_snapshot_free(&s);
	maildir_snapshot_free(&d);
	maildir_folder_close(&in);
	maildir_folder_close(&dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test_setup_teardown(test_index_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_maps_names, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
