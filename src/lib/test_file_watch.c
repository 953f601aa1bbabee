/* test_file_watch.c — a file known unchanged until an event about it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file_watch.h"
#include "lib/util.h"

struct fixture {
	char dir[64];
	char path[96];
};

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/sealpost-watch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/passwd", f->dir);
	put(f->path, "a\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct file_watch *watch_of(const char *path)
{
	const char *why = NULL;
	struct file_watch *w = file_watch_new(path, &why);

	if (w == NULL)
		fail_msg("no watch for %s: %s", path, why);
	return w;
}

/* The owner's read: mark, read (here: nothing), confirm. */
static void owner_reads(struct file_watch *w, const char *path)
{
	uint64_t mark = file_watch_mark(w);
	file_watch_confirm(w, mark, file_watch_plain(w, path));
}

static void test_changed_until_read(void **state)
{
	struct fixture *f = *state;
	struct file_watch *w = watch_of(f->path);

	assert_false(file_watch_unchanged(w));       /* never read yet */
	owner_reads(w, f->path);
	assert_true(file_watch_unchanged(w));
	assert_true(file_watch_unchanged(w));
	file_watch_free(&w);
	assert_null(w);
	assert_false(file_watch_unchanged(NULL));
}

static void test_every_kind_of_change(void **state)
{
	struct fixture *f = *state;
	char tmp[128], other[128];
	struct file_watch *w = watch_of(f->path);

	snprintf(tmp, sizeof(tmp), "%s/passwd.tmp", f->dir);
	snprintf(other, sizeof(other), "%s/other", f->dir);
	owner_reads(w, f->path);
	put(f->path, "b\n");                          /* written in place */
	assert_false(file_watch_unchanged(w));
	owner_reads(w, f->path);
	assert_true(file_watch_unchanged(w));
	put(tmp, "c\n");                              /* renamed over */
	assert_true(file_watch_unchanged(w));         /* another name: no */
	assert_int_equal(rename(tmp, f->path), 0);
	assert_false(file_watch_unchanged(w));
	owner_reads(w, f->path);
	assert_int_equal(chmod(f->path, 0640), 0);    /* attributes */
	assert_false(file_watch_unchanged(w));
	owner_reads(w, f->path);
	assert_int_equal(unlink(f->path), 0);         /* removed */
	assert_false(file_watch_unchanged(w));
	owner_reads(w, f->path);                      /* none: an empty db */
	assert_true(file_watch_unchanged(w));
	put(other, "x\n");                            /* other files: no */
	assert_int_equal(unlink(other), 0);
	assert_true(file_watch_unchanged(w));
	file_watch_free(&w);
}

/* A change between the mark and the confirm (the owner may have read
 * the file before it): the confirm does not make it unchanged. */
static void test_change_during_read(void **state)
{
	struct fixture *f = *state;
	struct file_watch *w = watch_of(f->path);

	uint64_t mark = file_watch_mark(w);
	put(f->path, "during\n");
	file_watch_confirm(w, mark, true);
	assert_false(file_watch_unchanged(w));
	owner_reads(w, f->path);
	assert_true(file_watch_unchanged(w));
	file_watch_free(&w);
}

static void test_not_plain(void **state)
{
	struct fixture *f = *state;
	char link_path[128], target[128];
	struct file_watch *w = watch_of(f->path);

	snprintf(target, sizeof(target), "%s/target", f->dir);
	snprintf(link_path, sizeof(link_path), "%s/hard", f->dir);
	assert_true(file_watch_plain(w, f->path));
	assert_int_equal(link(f->path, link_path), 0);        /* two links */
	assert_false(file_watch_plain(w, f->path));
	owner_reads(w, f->path);
	assert_false(file_watch_unchanged(w));
	assert_int_equal(unlink(link_path), 0);
	assert_int_equal(unlink(f->path), 0);
	put(target, "t\n");
	assert_int_equal(symlink(target, f->path), 0);        /* a symlink */
	assert_false(file_watch_plain(w, f->path));
	owner_reads(w, f->path);
	assert_false(file_watch_unchanged(w));
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mkdir(f->path, 0700), 0);            /* a folder */
	assert_false(file_watch_plain(w, f->path));
	assert_int_equal(rmdir(f->path), 0);
	assert_true(file_watch_plain(w, f->path));               /* none */
	file_watch_free(&w);
}

/* A file bind-mounted over the name (root only: skipped otherwise). */
static void test_bind_mount_not_plain(void **state)
{
	struct fixture *f = *state;
	char source[128];

	struct file_watch *w = watch_of(f->path);

	snprintf(source, sizeof(source), "%s/source", f->dir);
	put(source, "s\n");
	if (mount(source, f->path, NULL, MS_BIND, NULL) < 0) {
		file_watch_free(&w);
		skip();
	}
	bool plain = file_watch_plain(w, f->path);
	assert_int_equal(umount(f->path), 0);
	assert_false(plain);
	assert_true(file_watch_plain(w, f->path));
	file_watch_free(&w);
}

/* The folder's name leads elsewhere now (a symlink on the way changed). */
static void test_folder_retargeted(void **state)
{
	struct fixture *f = *state;
	char a[96], b[96], link_dir[96], path[128];

	snprintf(a, sizeof(a), "%s/a", f->dir);
	snprintf(b, sizeof(b), "%s/b", f->dir);
	snprintf(link_dir, sizeof(link_dir), "%s/data", f->dir);
	snprintf(path, sizeof(path), "%s/passwd", link_dir);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	assert_int_equal(symlink("a", link_dir), 0);
	struct file_watch *w = watch_of(path);
	owner_reads(w, path);
	assert_true(file_watch_unchanged(w));
	assert_int_equal(unlink(link_dir), 0);
	assert_int_equal(symlink("b", link_dir), 0);
	assert_false(file_watch_plain(w, path));
	file_watch_free(&w);
}

/* Trusted for FILE_WATCH_TRUST_MS after a read, no longer. */
static void test_trust_expires(void **state)
{
	struct fixture *f = *state;
	struct file_watch *w = watch_of(f->path);
	struct timespec pause = { .tv_sec = FILE_WATCH_TRUST_MS / 1000,
				  .tv_nsec = (FILE_WATCH_TRUST_MS % 1000) * 1000000L +
					     100000000L };

	owner_reads(w, f->path);
	assert_true(file_watch_unchanged(w));
	nanosleep(&pause, NULL);
	assert_false(file_watch_unchanged(w));
	owner_reads(w, f->path);
	assert_true(file_watch_unchanged(w));
	file_watch_free(&w);
}

/* The folder goes: the watch ends, and says changed for good. */
static void test_folder_removed(void **state)
{
	struct fixture *f = *state;
	struct file_watch *w = watch_of(f->path);
	char cmd[128];

	owner_reads(w, f->path);
	assert_true(file_watch_unchanged(w));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_false(file_watch_unchanged(w));
	assert_int_equal(mkdir(f->dir, 0700), 0);
	put(f->path, "again\n");
	owner_reads(w, f->path);
	assert_false(file_watch_unchanged(w));
	file_watch_free(&w);
}

static void test_no_watch(void **state)
{
	const char *why = NULL;

	assert_null(file_watch_new("/nonexistent-sealpost/passwd", &why));
	assert_non_null(why);
	assert_non_null(strstr(why, "/nonexistent-sealpost"));
	assert_null(file_watch_new("/tmp/", &why));           /* no file name */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_changed_until_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_kind_of_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_during_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_mount_not_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_retargeted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_removed, setup, teardown),
		cmocka_unit_test(test_no_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
