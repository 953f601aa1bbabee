/* deliver.c — spool files and their commit into Maildirs. */
#include "store/deliver.h"
#include "store/mailbox.h"
#include "store/maildir.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy buffer when a hard link is impossible (data_dir across file
 * systems). */
#define DELIVER_COPY_CHUNK (64 * 1024)

int spool_open(const char *data_dir, struct spool *sp, const char **error_r)
{
	char name[MAILDIR_BASENAME_SIZE];

	if (maildir_unique_name(name, sizeof(name)) < 0) {
		*error_r = "spool: cannot make a file name";
		return -1;
	}
	sp->path = xasprintf("%s/%s/%s", data_dir, DELIVER_SPOOL_DIR, name);
	sp->size = 0;
	sp->fd = open(sp->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (sp->fd < 0) {
		*error_r = errfmt("%s: %s", sp->path, strerror(errno));
		x_free(&sp->path);
		return -1;
	}
	return 0;
}

int spool_write(struct spool *sp, const void *data, size_t len,
		const char **error_r)
{
	if (fs_write_all(sp->fd, data, len) < 0) {
		*error_r = errfmt("%s: %s", sp->path, strerror(errno));
		return -1;
	}
	sp->size += len;
	return 0;
}

void spool_discard(struct spool *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	if (sp->path != NULL)
		unlink(sp->path);
	x_free(&sp->path);
}

/* Copy the spool to maildir/tmp/name, fsync, rename into new/. */
static int copy_into(struct spool *sp, const char *maildir, const char *name,
		     const char **error_r)
{
	char *tmp = xasprintf("%s/tmp/%s", maildir, name);
	char *dst = xasprintf("%s/new/%s", maildir, name);
	char *buf = xmalloc(DELIVER_COPY_CHUNK);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int ret = -1;
	off_t off = 0;

	if (out < 0) {
		*error_r = errfmt("%s: %s", tmp, strerror(errno));
		goto done;
	}
	for (;;) {
		ssize_t n = pread(sp->fd, buf, DELIVER_COPY_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && fs_write_all(out, buf, (size_t)n) < 0)) {
			*error_r = errfmt("%s: %s", tmp, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		off += n;
	}
	if (fsync(out) < 0 || rename(tmp, dst) < 0) {
		*error_r = errfmt("%s: %s", dst, strerror(errno));
		goto done;
	}
	ret = 0;
done:
	if (out >= 0)
		close(out);
	if (ret < 0)
		unlink(tmp);
	free(buf);
	free(tmp);
	free(dst);
	return ret;
}

/* Put the spool into one Maildir; *placed_r is the new file's path. */
static int deliver_one(struct spool *sp, const char *maildir, char **placed_r,
		       const char **error_r)
{
	char name[MAILDIR_BASENAME_SIZE];
	size_t n;
	char *newdir = fs_join(maildir, "new");
	struct stat st;

	if (stat(newdir, &st) < 0 && maildir_create(maildir, error_r) < 0) {
		free(newdir);
		return -1;
	}
	free(newdir);
	/* Stored with CRLF line ends, so the RFC 822 size (",W=") is the
	 * file size: readers need not scan the file for it. */
	if (maildir_new_basename(name, sizeof(name), sp->size) < 0 ||
	    (n = strlen(name)) + 24 >= sizeof(name)) {
		*error_r = "cannot make a Maildir file name";
		return -1;
	}
	snprintf(name + n, sizeof(name) - n, ",W=%llu", (unsigned long long)sp->size);
	char *dst = xasprintf("%s/new/%s", maildir, name);
	if (link(sp->path, dst) < 0) {
		if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
			*error_r = errfmt("%s: %s", dst, strerror(errno));
			free(dst);
			return -1;
		}
		if (copy_into(sp, maildir, name, error_r) < 0) {
			free(dst);
			return -1;
		}
	}
	*placed_r = dst;
	return 0;
}

int deliver_commit(struct spool *sp, const char *data_dir,
		   char *const *addresses, size_t n_addresses,
		   const char **error_r)
{
	char **placed = xcalloc(n_addresses + 1, sizeof(char *));
	size_t n_placed = 0;
	int ret = -1;

	if (fsync(sp->fd) < 0) {
		*error_r = errfmt("%s: fsync: %s", sp->path, strerror(errno));
		goto done;
	}
	for (size_t i = 0; i < n_addresses; i++) {
		char *maildir = mailbox_path(data_dir, addresses[i]);
		int rc = deliver_one(sp, maildir, &placed[n_placed], error_r);
		free(maildir);
		if (rc < 0)
			goto done;
		n_placed++;
	}
	/* The new names are durable only once their folders are synced. */
	for (size_t i = 0; i < n_placed; i++) {
		char *dir = fs_dirname(placed[i]);
		int rc = fs_fsync_dir(dir, error_r);
		free(dir);
		if (rc < 0)
			goto done;
	}
	ret = 0;
	/* each mailbox's quota usage (maildirsize) grows by the message */
	for (size_t i = 0; i < n_addresses; i++) {
		char *maildir = mailbox_path(data_dir, addresses[i]);
		maildir_quota_add(maildir, (int64_t)sp->size, 1);
		free(maildir);
	}
done:
	for (size_t i = 0; i < n_placed; i++) {
		if (ret < 0)
			unlink(placed[i]);
		free(placed[i]);
	}
	free(placed);
	return ret;
}

void spool_cleanup(const char *data_dir)
{
	char *dir = fs_join(data_dir, DELIVER_SPOOL_DIR);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_info("spool: removed unfinished %s", de->d_name);
		}
		closedir(d);
	}
	free(dir);
}
