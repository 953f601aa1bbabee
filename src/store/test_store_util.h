/* test_store_util.h — temporary mailboxes for the store unit tests. */
#ifndef SEALPOST_TEST_STORE_UTIL_H
#define SEALPOST_TEST_STORE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/util.h"
#include "store/mailbox.h"
#include "store/maildir.h"

/* A fresh mailbox (INBOX + special folders) under a new temporary data
 * dir; returns its root (free it) and the data dir in *data_dir_r. */
static inline char *test_mailbox(char **data_dir_r)
{
	char tmpl[] = "/tmp/sealpost-store-XXXXXX";
	const char *error = NULL;

	assert_non_null(mkdtemp(tmpl));
	if (mailbox_create(tmpl, "user@example.test", &error) < 0)
		fail_msg("mailbox_create: %s", error);
	*data_dir_r = xstrdup(tmpl);
	return mailbox_path(tmpl, "user@example.test");
}

static inline int test_rm_entry(const char *path, const struct stat *st,
				int type, struct FTW *ftw)
{
	return remove(path);
}

static inline void test_rm_rf(char **path)
{
	if (*path != NULL)
		nftw(*path, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	x_free(path);
}

static inline void test_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/* Write dir/sub/name holding text (a message "delivered by hand"). */
static inline void test_put(const char *dir, const char *sub, const char *name,
			    const char *text)
{
	char *path = xasprintf("%s/%s/%s", dir, sub, name);
	test_write(path, text);
	free(path);
}

static inline bool test_exists(const char *dir, const char *sub,
			       const char *name)
{
	char *path = xasprintf("%s/%s/%s", dir, sub, name);
	bool ok = fs_exists(path);
	free(path);
	return ok;
}

static inline char *test_read(const char *path)
{
	char *data;
	size_t len;
	const char *error;
	if (fs_read_file(path, 1 << 20, &data, &len, &error) < 0)
		fail_msg("%s", error);
	return data;
}

static inline struct maildir_folder *test_open(const char *root,
					       const char *name)
{
	struct maildir_folder *f = NULL;
	const char *error = NULL;
	if (maildir_folder_open(root, name, &f, &error) < 0)
		fail_msg("open %s: %s", name, error);
	return f;
}

static inline struct maildir_snapshot *test_sync(struct maildir_folder *f)
{
	struct maildir_snapshot *snap = NULL;
	const char *error = NULL;
	if (maildir_sync(f, &snap, &error) < 0)
		fail_msg("sync: %s", error);
	return snap;
}

/* Append a message held in memory through the streaming API (what IMAP
 * APPEND does): 0 or -1 with *error_r, like the store. */
static inline int maildir_append(struct maildir_folder *f, const void *data,
				 size_t len, unsigned flags, time_t date,
				 uint32_t *uid_r, const char **error_r)
{
	struct maildir_append *ctx;
	int fd;

	if (maildir_append_begin(f, &ctx, &fd, error_r) < 0)
		return -1;
	if (fs_write_all(fd, data, len) < 0) {
		*error_r = "write failed";
		maildir_append_abort(&ctx);
		return -1;
	}
	return maildir_append_commit(&ctx, flags, 0, date, NULL, uid_r, error_r);
}

static inline uint32_t test_append(struct maildir_folder *f, const char *text,
				   unsigned flags)
{
	uint32_t uid = 0;
	const char *error = NULL;
	if (maildir_append(f, text, strlen(text), flags, 0, &uid, &error) < 0)
		fail_msg("append: %s", error);
	return uid;
}

/* The fixture most store tests run in: a fresh mailbox per test. */
struct fixture {
	char *data_dir;
	char *root;
};

static inline int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	fx->root = test_mailbox(&fx->data_dir);
	*state = fx;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *fx = *state;
	test_rm_rf(&fx->data_dir);
	free(fx->root);
	free(fx);
	return 0;
}

/* Files (no dot files) in dir/sub. */
static inline size_t count_files(const char *dir, const char *sub)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	free(path);
	return n;
}

/* Seconds on the monotonic clock, for tests that run for a while. */
static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
