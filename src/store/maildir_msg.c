/* maildir_msg.c — message files: new names, open, append, copy, expunge.
 *
 * A new message is written to tmp/ and fsync'd without any lock; it enters
 * cur/ by rename() under the folder lock, and its UID is assigned and the
 * uidlist persisted in the same critical section, so no sync can give it a
 * UID first. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes of the escaped host name in a file name (each odd byte can take 4). */
#define MAILDIR_HOST_MAX 64
/* Follow a file renamed under us (flag changes by others) this many times. */
#define MAILDIR_FIND_ATTEMPTS 5

/* The Maildir "Q<n>" part: deliveries made by this process. The one piece
 * of process-wide mutable state here; atomic, so threads never share a
 * number (with the time, pid and host this makes names unique). */
static atomic_ulong name_counter;

static void escaped_host(char *out, size_t size)
{
	char host[256];
	size_t j = 0;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		strlcpy_sp(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (size_t i = 0; host[i] != '\0' && j + 5 < size; i++) {
		unsigned char c = (unsigned char)host[i];
		/* Maildir: '/' and ':' as octal escapes; ',' too, so that
		 * ",S=" is never confused. */
		if (c == '/' || c == ':' || c == ',' || c == '\\' || c < 0x20 ||
		    c >= 0x7f)
			j += (size_t)snprintf(out + j, size - j, "\\%03o", c);
		else
			out[j++] = (char)c;
	}
	out[j] = '\0';
}

/* The escaped host name, looked up once per process (a system call per
 * message name showed in the SMTP benchmark). */
static char cached_host[MAILDIR_HOST_MAX + 1];
static pthread_once_t cached_host_once = PTHREAD_ONCE_INIT;

static void cache_host(void)
{
	escaped_host(cached_host, sizeof(cached_host));
}

int maildir_unique_name(char *buf, size_t size)
{
	const char *host = cached_host;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_once(&cached_host_once, cache_host);
	unsigned long q = atomic_fetch_add(&name_counter, 1) + 1;
	/* M<usec> zero-padded: names of one second sort in arrival order,
	 * and UIDs of files of the same mtime follow the name order. */
	int n = snprintf(buf, size, "%lld.M%06ldP%ldQ%lu.%s",
			 (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000),
			 (long)getpid(), q, host);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int maildir_new_basename(char *buf, size_t size, size_t msg_size)
{
	if (maildir_unique_name(buf, size) < 0)
		return -1;
	size_t len = strlen(buf);
	int n = snprintf(buf + len, size - len, ",S=%zu", msg_size);
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

char *maildir_basename_sw(const char *unique, uint64_t size, uint64_t vsize)
{
	return xasprintf("%s,S=%" PRIu64 ",W=%" PRIu64, unique, size, vsize);
}

char *maildir_new_basename_sw(uint64_t size, uint64_t vsize)
{
	char unique[MAILDIR_BASENAME_SIZE];
	if (maildir_unique_name(unique, sizeof(unique)) < 0)
		abort();  /* our buffer, our bug */
	return maildir_basename_sw(unique, size, vsize);
}

char *maildir_msg_path(const struct maildir_folder *folder,
		       const struct maildir_msg *msg)
{
	return xasprintf("%s/%s/%s", folder->path, msg->in_new ? "new" : "cur",
			 msg->filename);
}

bool maildir_msg_refind(const struct maildir_folder *folder,
			struct maildir_msg *msg)
{
	char *found = maildir_find_basename(folder->path, msg->basename);

	if (found == NULL)
		return false;
	free(msg->filename);
	msg->filename = found;
	msg->in_new = false;
	return true;
}

/* Run op on msg's file, following it by basename when it was renamed or
 * moved from new/ to cur/. op returns 0, or -1 with errno. */
static int with_msg_file(struct maildir_folder *folder, struct maildir_msg *msg,
			 int (*op)(const char *path, void *ctx), void *ctx,
			 const char **error_r)
{
	for (int attempt = 0; attempt < MAILDIR_FIND_ATTEMPTS; attempt++) {
		char *path = maildir_msg_path(folder, msg);
		int r = op(path, ctx), err = errno;
		if (r == 0 || err != ENOENT) {
			if (r < 0)
				*error_r = errfmt("%s: %s", path, strerror(err));
			free(path);
			errno = err;
			return r;
		}
		free(path);
		if (!maildir_msg_refind(folder, msg))
			break;
	}
	*error_r = errfmt("message %" PRIu32 " was expunged", msg->uid);
	errno = ENOENT;
	return -1;
}

static int op_open(const char *path, void *ctx)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	*(int *)ctx = fd;
	return fd < 0 ? -1 : 0;
}

int maildir_msg_open(struct maildir_folder *folder, struct maildir_msg *msg,
		     int *fd_r, const char **error_r)
{
	return with_msg_file(folder, msg, op_open, fd_r, error_r);
}

/* ---- append ------------------------------------------------------------- */

struct maildir_append {
	struct maildir_folder *folder;
	char *tmp_path;   /* tmp/<unique>: the size is not known yet */
	char *unique;     /* the name it keeps, with ",S=,W=" added in cur/ */
	int fd;           /* -1 once finished */
	bool finished;    /* maildir_append_finish() ran: */
	uint64_t size, vsize;
	time_t date;
};

int maildir_append_begin(struct maildir_folder *folder,
			 struct maildir_append **ctx_r, int *fd_r,
			 const char **error_r)
{
	char name[MAILDIR_BASENAME_SIZE];
	struct maildir_append *ctx = xcalloc(1, sizeof(*ctx));

	if (maildir_unique_name(name, sizeof(name)) < 0)
		abort();  /* our buffer, our bug */
	ctx->folder = folder;
	ctx->unique = xstrdup(name);
	ctx->tmp_path = xasprintf("%s/tmp/%s", folder->path, name);
	ctx->fd = open(ctx->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (ctx->fd < 0) {
		int err = errno;
		*error_r = errfmt("%s: %s", ctx->tmp_path, strerror(err));
		free(ctx->tmp_path);
		free(ctx->unique);
		free(ctx);
		errno = err;
		return -1;
	}
	*ctx_r = ctx;
	*fd_r = ctx->fd;
	return 0;
}

static void append_free(struct maildir_append **ctx, bool remove_tmp)
{
	if (*ctx == NULL)
		return;
	if ((*ctx)->fd >= 0)
		close((*ctx)->fd);
	if (remove_tmp)
		unlink((*ctx)->tmp_path);
	free((*ctx)->tmp_path);
	free((*ctx)->unique);
	x_free(ctx);
}

void maildir_append_abort(struct maildir_append **ctx)
{
	append_free(ctx, true);
}

/* Make the tmp/ file durable with its date; measure it. */
static int finish_tmp(int fd, const char *path, time_t date, uint64_t *size_r,
		      uint64_t *vsize_r, const char **error_r)
{
	struct timespec times[2] = { { date, 0 }, { date, 0 } };
	struct stat st;

	if (fstat(fd, &st) < 0 || maildir_count_vsize(fd, vsize_r) < 0 ||
	    futimens(fd, times) < 0 || fsync(fd) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	*size_r = (uint64_t)st.st_size;
	return 0;
}

int maildir_enter_cur(struct maildir_folder *folder, struct maildir_entering *in,
		      size_t n, uint32_t *uids_r, uint32_t *uidvalidity_r,
		      const char **error_r)
{
	struct uidlist *ul;
	char *cur = fs_join(folder->path, "cur");
	int lock_fd = -1, ret = -1, err = 0;
	uint64_t modseq = 0;
	size_t done = 0;

	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		goto out;
	for (; done < n; done++) {
		char *to = fs_join(cur, in[done].filename);
		int r = rename(in[done].tmp_path, to);
		free(to);
		if (r < 0) {
			*error_r = errfmt("%s: rename: %s", in[done].tmp_path,
					  strerror(errno));
			goto fail;
		}
	}
	if (fs_fsync_dir(cur, error_r) < 0 || uidlist_load(folder, &ul, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t blen = maildir_basename_len(in[i].filename);
		char *base = xstrndup(in[i].filename, blen);
		int r = uidlist_add(ul, base, in[i].size, in[i].vsize, in[i].date,
				    maildir_flags_from_filename(in[i].filename),
				    maildir_keywords_from_filename(in[i].filename),
				    uidlist_op_modseq(ul, &modseq), &uids_r[i], error_r);
		free(base);
		if (r < 0)
			goto fail;
	}
	if (uidlist_write(folder, ul, error_r) < 0)
		goto fail;
	if (uidvalidity_r != NULL)
		*uidvalidity_r = ul->uidvalidity;
	ret = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += in[i].size;
	maildir_quota_add(folder->root, (int64_t)bytes, (int64_t)n);
	goto out;
fail:
	err = errno;
	for (size_t i = 0; i < done; i++) {
		char *path = fs_join(cur, in[i].filename);
		unlink(path);
		free(path);
	}
	errno = err;
out:
	err = errno;
	maildir_unlock(&lock_fd);
	free(cur);
	errno = err;
	return ret;
}

int maildir_append_finish(struct maildir_append *c, time_t internal_date,
			  const char **error_r)
{
	if (internal_date <= 0)
		internal_date = time(NULL);
	if (finish_tmp(c->fd, c->tmp_path, internal_date, &c->size, &c->vsize,
		       error_r) < 0)
		return -1;
	/* durable now; the descriptor is not needed any more */
	close(c->fd);
	c->fd = -1;
	c->date = internal_date;
	c->finished = true;
	return 0;
}

int maildir_append_commit_all(struct maildir_append **ctxs, size_t n,
			      const unsigned *flags, const uint32_t *keywords,
			      uint32_t *uidvalidity_r, uint32_t *uids_r,
			      const char **error_r)
{
	struct maildir_entering *in = xcalloc(n + 1, sizeof(*in));
	int ret = 0, err;

	for (size_t i = 0; i < n; i++) {
		struct maildir_append *c = ctxs[i];
		/* all of one folder, all finished: a caller bug otherwise */
		if (!c->finished || c->folder != ctxs[0]->folder)
			abort();
		char *base = maildir_basename_sw(c->unique, c->size, c->vsize);
		in[i].tmp_path = c->tmp_path;
		in[i].size = c->size;
		in[i].vsize = c->vsize;
		in[i].date = (int64_t)c->date;
		in[i].filename = maildir_filename_with(base, flags[i] & MAILDIR_FLAGS_ALL,
						       keywords[i] & MAILDIR_KEYWORDS_ALL);
		free(base);
	}
	if (n > 0)
		ret = maildir_enter_cur(ctxs[0]->folder, in, n, uids_r, uidvalidity_r,
					error_r);
	err = errno;
	for (size_t i = 0; i < n; i++) {
		free(in[i].filename);
		/* On success the files left tmp/; on failure they are still there. */
		append_free(&ctxs[i], ret < 0);
	}
	free(in);
	errno = err;
	return ret;
}

int maildir_append_commit(struct maildir_append **ctx, unsigned flags,
			  uint32_t keywords, time_t internal_date,
			  uint32_t *uidvalidity_r, uint32_t *uid_r,
			  const char **error_r)
{
	if (maildir_append_finish(*ctx, internal_date, error_r) < 0) {
		int err = errno;
		append_free(ctx, true);
		errno = err;
		return -1;
	}
	return maildir_append_commit_all(ctx, 1, &flags, &keywords, uidvalidity_r,
					 uid_r, error_r);
}
