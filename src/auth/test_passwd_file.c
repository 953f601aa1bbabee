/* test_passwd_file.c — locked, atomic edits of the passwd file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "lib/fsutil.h"
#include "lib/util.h"

/* `openssl passwd -5 -salt abc secret` and `... -salt abd other`. */
#define HASH_A "$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0"
#define HASH_B "$5$abd$oXhsj7RTUeAtIDmWr7PbgdT2ZIXy5F1w4WsAQF6vB/3"

struct fixture {
	char *dir;
	char *path;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/sealpost-pwedit-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->path = fs_join(f->dir, "passwd");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	int ret = system(cmd);
	free(cmd);
	free(f->dir);
	free(f->path);
	free(f);
	return ret == 0 ? 0 : -1;
}

static char *read_text(const char *path)
{
	char *data;
	size_t len;
	const char *error;
	if (fs_read_file(path, 1 << 20, &data, &len, &error) < 0)
		fail_msg("%s", error);
	return data;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	const char *error;
	assert_int_equal(fs_write_atomic(path, text, strlen(text), mode, &error), 0);
}

/* Names in dir other than passwd and passwd.lock: temp files left over. */
static int stray_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "passwd") != 0 &&
		    strcmp(de->d_name, "passwd.lock") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void edit_ok(const char *path, struct passwd_edit **edit_r)
{
	const char *error;
	if (passwd_edit_begin(path, NULL, edit_r, &error) < 0)
		fail_msg("%s", error);
}

static void test_new_file(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;
	struct stat st;

	edit_ok(f->path, &edit);
	assert_false(passwd_edit_has(edit, "bob@example.test"));
	assert_int_equal(passwd_edit_add(edit, "bob@example.test", HASH_A, &error), 0);
	assert_int_equal(passwd_edit_add(edit, "amy@example.test", HASH_B, &error), 0);
	assert_int_equal(passwd_edit_add(edit, "bob@example.test", HASH_B, &error), -1);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_null(edit);

	char *text = read_text(f->path);
	assert_string_equal(text, "bob@example.test:{CRYPT}" HASH_A "\n"
			    "amy@example.test:{CRYPT}" HASH_B "\n");
	free(text);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stray_files(f->dir), 0);

	/* What was written reads back. */
	struct passwd_db *db = passwd_db_new(f->path, NULL, NULL);
	assert_true(passwd_db_verify(db, "amy@example.test", "other", 5));
	assert_true(passwd_db_verify(db, "bob@example.test", "secret", 6));
	passwd_db_free(&db);
}

static void test_other_lines_kept(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;
	const char *before =
		"# Dovecot users\n"
		"\n"
		"Bob@Example.test:{SHA256-CRYPT}" HASH_B ":1000:1000:Bob:/home/bob:/bin/sh:userdb_quota_rule=*:storage=1G\n"
		"broken line without a password\r\n"
		"plain@example.test:{PLAIN}hunter2\n"
		"amy@example.test:" HASH_A "::::::\r\n"
		"dup@example.test:" HASH_A "\n"
		"dup@example.test:" HASH_B;

	write_text(f->path, before, 0600);
	edit_ok(f->path, &edit);
	assert_true(passwd_edit_has(edit, "bob@example.test"));
	assert_true(passwd_edit_has(edit, "plain@example.test"));
	/* An existing user (any case, even with a refused line) is not added. */
	assert_int_equal(passwd_edit_add(edit, "bob@example.test", HASH_A, &error), -1);
	assert_non_null(strstr(error, "bob@example.test: user already exists in "));
	assert_int_equal(passwd_edit_add(edit, "plain@example.test", HASH_A, &error), -1);
	/* New password: extra fields stay, the scheme becomes {CRYPT}. */
	assert_int_equal(passwd_edit_set_hash(edit, "bob@example.test", HASH_A, &error), 0);
	assert_int_equal(passwd_edit_set_hash(edit, "plain@example.test", HASH_B, &error), 0);
	assert_int_equal(passwd_edit_set_hash(edit, "amy@example.test", HASH_B, &error), 0);
	assert_int_equal(passwd_edit_delete(edit, "dup@example.test", &error), 0);
	assert_int_equal(passwd_edit_set_hash(edit, "nobody@example.test", HASH_A, &error), -1);
	assert_non_null(strstr(error, "nobody@example.test: no such user in "));
	assert_int_equal(passwd_edit_delete(edit, "nobody@example.test", &error), -1);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);

	char *text = read_text(f->path);
	assert_string_equal(text,
		"# Dovecot users\n"
		"\n"
		"Bob@Example.test:{CRYPT}" HASH_A ":1000:1000:Bob:/home/bob:/bin/sh:userdb_quota_rule=*:storage=1G\n"
		"broken line without a password\r\n"
		"plain@example.test:{CRYPT}" HASH_B "\n"
		"amy@example.test:{CRYPT}" HASH_B "::::::\n");
	free(text);
	assert_int_equal(stray_files(f->dir), 0);
}

static void test_uncommitted_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;
	const char *before = "bob@example.test:" HASH_A "\n";
	struct stat st1, st2;

	write_text(f->path, before, 0600);
	assert_int_equal(stat(f->path, &st1), 0);
	edit_ok(f->path, &edit);
	assert_int_equal(passwd_edit_delete(edit, "bob@example.test", &error), 0);
	passwd_edit_free(&edit);
	assert_int_equal(stat(f->path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	char *text = read_text(f->path);
	assert_string_equal(text, before);
	free(text);
}

static void test_mode_kept_but_tightened(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;
	struct stat st;
	static const mode_t cases[][2] = {
		{ 0600, 0600 }, { 0640, 0640 }, { 0644, 0640 }, { 0666, 0640 },
		{ 0400, 0400 },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		write_text(f->path, "bob@example.test:" HASH_A "\n", cases[i][0]);
		edit_ok(f->path, &edit);
		assert_int_equal(passwd_edit_set_hash(edit, "bob@example.test",
						      HASH_B, &error), 0);
		assert_int_equal(passwd_edit_commit(edit, &error), 0);
		passwd_edit_free(&edit);
		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_mode & 07777, cases[i][1]);
	}
}

static void test_owner(void **state)
{
	struct fixture *f = *state;
	struct passwd_owner owner = { .set = true, .uid = 1, .gid = 1 };
	struct passwd_edit *edit;
	const char *error;
	struct stat st;

	if (geteuid() != 0)
		skip();
	assert_int_equal(passwd_edit_begin(f->path, &owner, &edit, &error), 0);
	assert_int_equal(passwd_edit_add(edit, "bob@example.test", HASH_A, &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_uid, 1);
	assert_int_equal(st.st_gid, 1);
	char *lock = xasprintf("%s.lock", f->path);
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_uid, 1);
	free(lock);

	/* root rewriting without an owner keeps the file whose it was. */
	edit_ok(f->path, &edit);
	assert_int_equal(passwd_edit_delete(edit, "bob@example.test", &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_uid, 1);
	assert_int_equal(st.st_gid, 1);
}

#define ADD_THREADS 10

struct add_arg {
	const char *path;
	int n;
	int ret;
};

static void *add_thread(void *context)
{
	struct add_arg *arg = context;
	struct passwd_edit *edit;
	const char *error;
	char address[64];

	snprintf(address, sizeof(address), "user%d@example.test", arg->n);
	arg->ret = passwd_edit_begin(arg->path, NULL, &edit, &error);
	if (arg->ret < 0)
		return NULL;
	/* Widen the window in which an unlocked writer would lose updates. */
	usleep(2000);
	arg->ret = passwd_edit_add(edit, address, HASH_A, &error);
	if (arg->ret == 0)
		arg->ret = passwd_edit_commit(edit, &error);
	passwd_edit_free(&edit);
	return NULL;
}

static void test_concurrent_adds_all_land(void **state)
{
	struct fixture *f = *state;
	pthread_t threads[ADD_THREADS];
	struct add_arg args[ADD_THREADS];

	for (int i = 0; i < ADD_THREADS; i++) {
		args[i] = (struct add_arg){ .path = f->path, .n = i, .ret = -2 };
		assert_int_equal(pthread_create(&threads[i], NULL, add_thread,
						&args[i]), 0);
	}
	for (int i = 0; i < ADD_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].ret, 0);
	}
	struct passwd_db *db = passwd_db_new(f->path, NULL, NULL);
	char **list = passwd_db_addresses(db);
	assert_int_equal(strv_len(list), ADD_THREADS);
	for (int i = 0; i < ADD_THREADS; i++) {
		char address[64];
		snprintf(address, sizeof(address), "user%d@example.test", i);
		assert_true(passwd_db_exists(db, address));
	}
	strv_free(&list);
	passwd_db_free(&db);
	assert_int_equal(stray_files(f->dir), 0);
}

static void test_running_db_sees_edits(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;

	struct passwd_db *db = passwd_db_new(f->path, NULL, NULL);
	assert_false(passwd_db_exists(db, "bob@example.test"));

	edit_ok(f->path, &edit);
	assert_int_equal(passwd_edit_add(edit, "bob@example.test", HASH_A, &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_true(passwd_db_verify(db, "bob@example.test", "secret", 6));

	edit_ok(f->path, &edit);
	assert_int_equal(passwd_edit_set_hash(edit, "bob@example.test", HASH_B, &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_false(passwd_db_verify(db, "bob@example.test", "secret", 6));
	assert_true(passwd_db_verify(db, "bob@example.test", "other", 5));

	edit_ok(f->path, &edit);
	assert_int_equal(passwd_edit_delete(edit, "bob@example.test", &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_false(passwd_db_exists(db, "bob@example.test"));
	assert_int_equal(passwd_db_count(db), 0);
	passwd_db_free(&db);
}

/* Lines ending in several CRs: the server and the CLI read the same user
 * (found by fuzz_passwd: "frank@example.test\r\r" got "empty password; set
 * a new password with 'sealpost user passwd frank@example.test'", and that
 * command then answered "no such user"). */
static void test_stray_crs_read_alike(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;

	write_text(f->path, "frank@example.test\r\r\n\r\r\n"
		   "gina@example.test:{CRYPT}" HASH_A "\r\r\n", 0600);
	struct passwd_db *db = passwd_db_new(f->path, NULL, NULL);
	assert_int_equal(passwd_db_refresh(db, &error), 0);
	assert_int_equal(passwd_db_count(db), 1);
	assert_true(passwd_db_verify(db, "gina@example.test", "secret", 6));

	edit_ok(f->path, &edit);
	assert_true(passwd_edit_has(edit, "frank@example.test"));
	assert_int_equal(passwd_edit_set_hash(edit, "frank@example.test", HASH_B,
					      &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_true(passwd_db_verify(db, "frank@example.test", "other", 5));
	assert_int_equal(passwd_db_count(db), 2);
	passwd_db_free(&db);
}

static void test_stale_temp_file_replaced(void **state)
{
	struct fixture *f = *state;
	struct passwd_edit *edit;
	const char *error;
	char *tmp = xasprintf("%s.tmp", f->path);

	/* As left by a writer that crashed before its rename. */
	write_text(tmp, "junk\n", 0600);
	edit_ok(f->path, &edit);
	assert_int_equal(passwd_edit_add(edit, "bob@example.test", HASH_A, &error), 0);
	assert_int_equal(passwd_edit_commit(edit, &error), 0);
	passwd_edit_free(&edit);
	assert_false(fs_exists(tmp));
	assert_int_equal(stray_files(f->dir), 0);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_lines_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uncommitted_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_kept_but_tightened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_adds_all_land, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_db_sees_edits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray_crs_read_alike, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temp_file_replaced, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
