/* test_maildir_folder.c — folder tree: list, create, delete, rename,
 * subscriptions, and names that must never reach the file system. */
#include "store/test_store_util.h"

#include <dirent.h>
#include <errno.h>

/* The listing as "name:flags:special" lines, e.g. "Sent:n:\Sent". */
static char *list_text(const char *root)
{
	struct maildir_folder_info *list;
	size_t n;
	const char *error;
	struct buf b = { 0 };

	if (maildir_folder_list(root, &list, &n, &error) < 0)
		fail_msg("list: %s", error);
	buf_append(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s:%s%s%s%s\n", list[i].name,
			   (list[i].flags & MAILDIR_LIST_NOSELECT) ? "x" : "",
			   (list[i].flags & MAILDIR_LIST_HAS_CHILDREN) ? "c" : "",
			   (list[i].flags & MAILDIR_LIST_HAS_NO_CHILDREN) ? "n" : "",
			   list[i].special_use != NULL ? list[i].special_use : "");
	}
	maildir_folder_list_free(&list, n);
	return b.data;
}

static void assert_list(const char *root, const char *expected)
{
	char *text = list_text(root);
	assert_string_equal(text, expected);
	free(text);
}

static void create_ok(const char *root, const char *name)
{
	const char *error = NULL;
	if (maildir_folder_create(root, name, &error) < 0)
		fail_msg("create %s: %s", name, error);
}

/* Entries of dir whose names start with prefix. */
static size_t count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void test_list_fresh(void **state)
{
	struct fixture *fx = *state;
	assert_list(fx->root,
		    "INBOX:n\n"
		    "Drafts:n\\Drafts\n"
		    "Junk:n\\Junk\n"
		    "Sent:n\\Sent\n"
		    "Trash:n\\Trash\n");
}

static void test_create_nested(void **state)
{
	struct fixture *fx = *state;
	const char *error;

	create_ok(fx->root, "Lists/Work/Team");
	create_ok(fx->root, "inbox/Sub");
	create_ok(fx->root, "Later/");      /* trailing separator ignored */
	create_ok(fx->root, "Entw&APw-rfe");
	assert_list(fx->root,
		    "INBOX:c\n"
		    "Drafts:n\\Drafts\n"
		    "Entw&APw-rfe:n\n"
		    "INBOX/Sub:n\n"
		    "Junk:n\\Junk\n"
		    "Later:n\n"
		    "Lists:c\n"
		    "Lists/Work:c\n"
		    "Lists/Work/Team:n\n"
		    "Sent:n\\Sent\n"
		    "Trash:n\\Trash\n");
	/* Maildir++ on disk, each a Maildir with its marker. */
	assert_true(test_exists(fx->root, ".Lists.Work.Team", "cur"));
	assert_true(test_exists(fx->root, ".Lists.Work.Team", "new"));
	assert_true(test_exists(fx->root, ".Lists.Work.Team", "tmp"));
	assert_true(test_exists(fx->root, ".Lists.Work", "maildirfolder"));
	assert_true(test_exists(fx->root, ".INBOX.Sub", "cur"));
	assert_int_equal(count_entries(fx->root, ".."), 1);  /* ".." only */

	errno = 0;
	assert_int_equal(maildir_folder_create(fx->root, "Lists/Work", &error), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(maildir_folder_create(fx->root, "INBOX", &error), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(maildir_folder_create(fx->root, "Inbox", &error), -1);
	assert_int_equal(errno, EEXIST);
}

static void test_traversal_refused(void **state)
{
	struct fixture *fx = *state;
	static const char *const bad[] = {
		"..", "../x", "../../../../etc", "a/../../b", ".x", "a.b", "/abs",
		"a//b", "x/.", "..\\..", "new\nline", "", "*", "a/%",
	};
	const char *error;
	struct maildir_folder *f = NULL;
	size_t before_root = count_entries(fx->root, "");
	size_t before_data = count_entries(fx->data_dir, "");

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		errno = 0;
		if (maildir_folder_create(fx->root, bad[i], &error) == 0)
			fail_msg("created %s", bad[i]);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(maildir_folder_open(fx->root, bad[i], &f, &error), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(maildir_folder_delete(fx->root, bad[i], &error), -1);
		assert_int_equal(maildir_folder_rename(fx->root, "Sent", bad[i],
						       &error), -1);
		assert_int_equal(maildir_subscribe(fx->root, bad[i], true, &error), -1);
	}
	assert_int_equal(count_entries(fx->root, ""), before_root);
	assert_int_equal(count_entries(fx->data_dir, ""), before_data);
	assert_true(test_exists(fx->root, ".Sent", "cur"));

	/* A folder that is a symlink (to another user's mailbox, say) is
	 * neither listed nor opened. */
	char *other = xasprintf("%s/mail/example.test/other", fx->data_dir);
	assert_int_equal(maildir_create(other, &error), 0);
	char *link = xasprintf("%s/.Evil", fx->root);
	assert_int_equal(symlink(other, link), 0);
	errno = 0;
	assert_int_equal(maildir_folder_open(fx->root, "Evil", &f, &error), -1);
	assert_int_equal(errno, ENOENT);
	char *text = list_text(fx->root);
	assert_null(strstr(text, "Evil"));
	free(text);
	free(link);
	free(other);
}

static void test_missing_parent_is_noselect(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	char *path = xasprintf("%s/.A.B", fx->root);

	/* Made by another program: no ".A". Hidden leftovers are not shown. */
	assert_int_equal(maildir_create(path, &error), 0);
	free(path);
	path = xasprintf("%s/..sealpost-deleted.x", fx->root);
	assert_int_equal(maildir_create(path, &error), 0);
	free(path);
	path = xasprintf("%s/.bad&name", fx->root);
	assert_int_equal(maildir_create(path, &error), 0);
	free(path);
	assert_list(fx->root,
		    "INBOX:n\n"
		    "A:xc\n"
		    "A/B:n\n"
		    "Drafts:n\\Drafts\n"
		    "Junk:n\\Junk\n"
		    "Sent:n\\Sent\n"
		    "Trash:n\\Trash\n");
	/* Creating the NOSELECT parent makes it a folder. */
	create_ok(fx->root, "A");
	char *text = list_text(fx->root);
	assert_non_null(strstr(text, "\nA:c\n"));
	free(text);
}

static void test_delete(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	struct maildir_folder *f;

	f = test_open(fx->root, "Trash");
	test_append(f, "Subject: x\n\nbody\n", 0);
	maildir_folder_close(&f);
	assert_int_equal(maildir_folder_delete(fx->root, "Trash", &error), 0);
	assert_false(test_exists(fx->root, ".Trash", ""));
	assert_int_equal(count_entries(fx->root, ".."), 1);  /* nothing hidden left */
	errno = 0;
	assert_int_equal(maildir_folder_delete(fx->root, "Trash", &error), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_folder_open(fx->root, "Trash", &f, &error), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(maildir_folder_delete(fx->root, "INBOX", &error), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(maildir_folder_delete(fx->root, "inbox", &error), -1);
	assert_int_equal(errno, EPERM);

	/* With children: the folder goes, its name stays as \Noselect. */
	create_ok(fx->root, "Lists/Work");
	assert_int_equal(maildir_folder_delete(fx->root, "Lists", &error), 0);
	char *text = list_text(fx->root);
	assert_non_null(strstr(text, "\nLists:xc\nLists/Work:n\n"));
	free(text);
	errno = 0;
	assert_int_equal(maildir_folder_delete(fx->root, "Lists", &error), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(maildir_folder_delete(fx->root, "Lists/Work", &error), 0);
	text = list_text(fx->root);
	assert_null(strstr(text, "Lists"));
	free(text);
}

static void test_rename_tree(void **state)
{
	struct fixture *fx = *state;
	const char *error;

	create_ok(fx->root, "A/B");
	struct maildir_folder *f = test_open(fx->root, "A");
	uint32_t uid = test_append(f, "Subject: a\n\nx\n", MAILDIR_FLAG_SEEN);
	maildir_folder_close(&f);

	assert_int_equal(maildir_folder_rename(fx->root, "A", "C/D", &error), 0);
	char *text = list_text(fx->root);
	assert_null(strstr(text, "\nA"));
	assert_non_null(strstr(text, "\nC:c\nC/D:c\nC/D/B:n\n"));
	free(text);
	assert_true(test_exists(fx->root, ".C", "cur"));  /* parent created */
	f = test_open(fx->root, "C/D");
	struct maildir_snapshot *snap = test_sync(f);
	assert_int_equal(snap->count, 1);
	assert_int_equal(snap->msgs[0].uid, uid);  /* UIDs travel with it */
	assert_int_equal(snap->msgs[0].flags, MAILDIR_FLAG_SEEN);
	maildir_snapshot_free(&snap);
	maildir_folder_close(&f);

	errno = 0;
	assert_int_equal(maildir_folder_rename(fx->root, "C/D", "Sent", &error), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(maildir_folder_rename(fx->root, "Nope", "X", &error), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_folder_rename(fx->root, "C", "C/D/E", &error), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(maildir_folder_rename(fx->root, "Sent", "INBOX", &error), -1);
	assert_int_equal(errno, EEXIST);
	/* Only a child's new name collides (".F.B" made by hand, no ".F"):
	 * nothing moves. */
	char *path = xasprintf("%s/.F.B", fx->root);
	assert_int_equal(maildir_create(path, &error), 0);
	free(path);
	errno = 0;
	assert_int_equal(maildir_folder_rename(fx->root, "C/D", "F", &error), -1);
	assert_int_equal(errno, EEXIST);
	assert_true(test_exists(fx->root, ".C.D", "cur"));
	assert_true(test_exists(fx->root, ".C.D.B", "cur"));
	assert_false(test_exists(fx->root, ".F", "cur"));
}

static void test_rename_inbox(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	struct maildir_folder *inbox = test_open(fx->root, "INBOX");

	test_append(inbox, "Subject: 1\n\none\n", 0);
	test_append(inbox, "Subject: 2\n\ntwo\n", MAILDIR_FLAG_FLAGGED);
	test_put(fx->root, "new", "1700000000.M1P1.other", "Subject: 3\n\nthree\n");
	create_ok(fx->root, "INBOX/Sub");
	struct maildir_snapshot *snap = test_sync(inbox);
	uint32_t uidnext = snap->uidnext;
	maildir_snapshot_free(&snap);

	assert_int_equal(maildir_folder_rename(fx->root, "INBOX", "Old/Mail", &error), 0);
	struct maildir_folder *old = test_open(fx->root, "Old/Mail");
	snap = test_sync(old);
	assert_int_equal(snap->count, 3);
	assert_int_equal(snap->msgs[0].uid, 1);
	assert_int_equal(snap->msgs[2].uid, 3);
	assert_int_equal(snap->msgs[1].flags, MAILDIR_FLAG_FLAGGED);
	maildir_snapshot_free(&snap);
	maildir_folder_close(&old);

	snap = test_sync(inbox);
	assert_int_equal(snap->count, 0);
	assert_int_equal(snap->uidnext, uidnext);  /* UIDs never reused */
	maildir_snapshot_free(&snap);
	assert_true(test_exists(fx->root, ".INBOX.Sub", "cur"));  /* untouched */
	uint32_t uid = test_append(inbox, "Subject: 4\n\nfour\n", 0);
	assert_int_equal(uid, uidnext);
	maildir_folder_close(&inbox);

	assert_int_equal(maildir_folder_rename(fx->root, "INBOX", "Sent", &error), -1);
	assert_int_equal(errno, EEXIST);
}

static void test_subscriptions(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	char **names;

	assert_int_equal(maildir_subscriptions(fx->root, &names, &error), 0);
	assert_int_equal(strv_len(names), 0);
	strv_free(&names);

	assert_int_equal(maildir_subscribe(fx->root, "Sent", true, &error), 0);
	assert_int_equal(maildir_subscribe(fx->root, "Lists/Work", true, &error), 0);
	assert_int_equal(maildir_subscribe(fx->root, "inbox", true, &error), 0);
	assert_int_equal(maildir_subscribe(fx->root, "Sent", true, &error), 0);
	char *path = xasprintf("%s/subscriptions", fx->root);
	char *text = test_read(path);
	assert_string_equal(text, "INBOX\nLists/Work\nSent\n");
	free(text);

	assert_int_equal(maildir_subscribe(fx->root, "Sent", false, &error), 0);
	assert_int_equal(maildir_subscribe(fx->root, "Nope", false, &error), 0);
	assert_int_equal(maildir_subscriptions(fx->root, &names, &error), 0);
	assert_int_equal(strv_len(names), 2);
	assert_string_equal(names[0], "INBOX");
	assert_string_equal(names[1], "Lists/Work");
	strv_free(&names);

	/* Dovecot wrote these: version 1 with '.', and version 2 with tabs. */
	test_write(path, "INBOX\nLists.Work\nbad/../x\n\nSent\n");
	assert_int_equal(maildir_subscriptions(fx->root, &names, &error), 0);
	assert_int_equal(strv_len(names), 3);
	assert_string_equal(names[1], "Lists/Work");
	strv_free(&names);
	test_write(path, "V\t2\n\nINBOX\nLists\tWork\nTrash\n");
	assert_int_equal(maildir_subscriptions(fx->root, &names, &error), 0);
	assert_int_equal(strv_len(names), 3);
	assert_string_equal(names[1], "Lists/Work");
	assert_string_equal(names[2], "Trash");
	strv_free(&names);
	free(path);
}

static void test_open_missing(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = NULL;
	const char *error;

	errno = 0;
	assert_int_equal(maildir_folder_open(fx->root, "Nope", &f, &error), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(f);
	f = test_open(fx->root, "inbox");
	assert_string_equal(maildir_folder_path(f), fx->root);
	maildir_folder_close(&f);
	f = test_open(fx->root, "Sent");
	char *want = xasprintf("%s/.Sent", fx->root);
	assert_string_equal(maildir_folder_path(f), want);
	free(want);
	maildir_folder_close(&f);
	assert_null(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traversal_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_parent_is_noselect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_inbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
