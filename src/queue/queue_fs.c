/* queue_fs.c — the queue's files: commit, load, append, rewrite, remove
 * (queue.h). */
#include "queue/queue.h"
#include "store/deliver.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy buffer when a hard link is impossible (data_dir across file
 * systems). */
#define QUEUE_COPY_CHUNK (64 * 1024)
/* Ids tried before giving up on a free name. */
#define QUEUE_ID_TRIES 8

void queue_new_id(char id_r[QUEUE_ID_LEN + 1])
{
	uint32_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)random();
	snprintf(id_r, QUEUE_ID_LEN + 1, "%08x%08x", (unsigned)time(NULL), rnd);
}

bool queue_id_valid(const char *id)
{
	return strlen(id) == QUEUE_ID_LEN &&
	       strspn(id, "0123456789abcdef") == QUEUE_ID_LEN;
}

char *queue_path(const char *data_dir, const char *id, const char *ext)
{
	return xasprintf("%s/" QUEUE_DIR "/%s.%s", data_dir, id, ext);
}

/* Where an envelope is rewritten (queue_env_rewrite). */
static char *tmp_path(const char *data_dir, const char *id)
{
	return xasprintf("%s/" QUEUE_TMP_DIR "/%s.env", data_dir, id);
}

int queue_sync_dir(const char *data_dir, const char **error_r)
{
	char *dir = fs_join(data_dir, QUEUE_DIR);
	int rc = fs_fsync_dir(dir, error_r);

	free(dir);
	return rc;
}

/* ---- start ---------------------------------------------------------------- */

/* A .new envelope whose commit a crash cut short: whole, and with its
 * message whole beside it, it may have been acknowledged, so it is queued
 * (renamed to .env); otherwise it was not, and goes with its message. */
static bool message_whole(const char *data_dir, const struct queue_env *e)
{
	char *msg = queue_path(data_dir, e->id, "msg");
	struct stat st;
	bool whole = stat(msg, &st) == 0 && S_ISREG(st.st_mode) &&
		     (uint64_t)st.st_size == e->offset + e->size;

	free(msg);
	return whole;
}

static void recover_new(const char *data_dir, const char *qdir)
{
	DIR *d = opendir(qdir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char id[QUEUE_ID_LEN + 1];
		if (strlen(de->d_name) != QUEUE_ID_LEN + 4 ||
		    strcmp(de->d_name + QUEUE_ID_LEN, ".new") != 0)
			continue;
		memcpy(id, de->d_name, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		char *newpath = queue_path(data_dir, id, "new");
		char *env = queue_path(data_dir, id, "env");
		char *text = NULL;
		size_t len, used;
		struct queue_env *e = NULL;
		const char *error;
		if (queue_id_valid(id) &&
		    fs_read_file(newpath, QUEUE_ENV_MAX, &text, &len, &error) == 0 &&
		    queue_env_parse(text, len, &e, &used, &error) == 0 &&
		    strcmp(e->id, id) == 0 && message_whole(data_dir, e) &&
		    rename(newpath, env) == 0) {
			log_info("queue: %s recovered (its commit was cut short)", id);
		} else if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			log_info("queue: removed unfinished %s", de->d_name);
		}
		queue_env_free(&e);
		free(text);
		free(newpath);
		free(env);
	}
	if (d != NULL)
		closedir(d);
}

/* Remove tmp/ files and .msg files whose .env never came. */
static void cleanup(const char *data_dir)
{
	char *qdir = fs_join(data_dir, QUEUE_DIR), *tdir = fs_join(data_dir, QUEUE_TMP_DIR);
	DIR *d = opendir(tdir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' && unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("queue: removed unfinished %s", de->d_name);
	}
	if (d != NULL)
		closedir(d);
	recover_new(data_dir, qdir);
	d = opendir(qdir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char env[QUEUE_ID_LEN + 8];
		struct stat st;
		if (len != QUEUE_ID_LEN + 4 || strcmp(de->d_name + QUEUE_ID_LEN, ".msg") != 0)
			continue;
		snprintf(env, sizeof(env), "%.*s.env", QUEUE_ID_LEN, de->d_name);
		if (fstatat(dirfd(d), env, &st, 0) < 0 && errno == ENOENT &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("queue: removed %s (never queued)", de->d_name);
	}
	if (d != NULL)
		closedir(d);
	free(qdir);
	free(tdir);
}

int queue_prepare(const char *data_dir, bool chown_dirs, uid_t uid, gid_t gid,
		  const char **error_r)
{
	char *qdir = fs_join(data_dir, QUEUE_DIR), *tdir = fs_join(data_dir, QUEUE_TMP_DIR);
	int rc = fs_mkdir_p(tdir, 0700, error_r);

	if (rc == 0 && chown_dirs &&
	    (chown(qdir, uid, gid) < 0 || chown(tdir, uid, gid) < 0)) {
		*error_r = errfmt("%s: %s", qdir, strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		cleanup(data_dir);
	free(qdir);
	free(tdir);
	return rc;
}

/* ---- commit ---------------------------------------------------------------- */

/* A new envelope written (not yet synced) as queue/<id>.new under a fresh
 * id; *fd_r stays open for the sync, *path_r is its path. The queue
 * process takes only .env files: it sees the message at the rename in
 * publish() or queue_stage_end(). */
static int write_envelope(const char *data_dir, struct queue_env *env,
			  int *fd_r, char **path_r, const char **error_r)
{
	struct buf text = { 0 };
	int fd = -1;

	for (int i = 0; i < QUEUE_ID_TRIES && fd < 0; i++) {
		queue_new_id(env->id);
		text.len = 0;
		queue_env_format(env, &text);
		*path_r = queue_path(data_dir, env->id, "new");
		fd = open(*path_r, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			*error_r = errfmt("%s: %s", *path_r, strerror(errno));
			x_free(path_r);
			if (errno != EEXIST)
				break;
		}
	}
	if (fd >= 0 && fs_write_all(fd, text.data, text.len) < 0) {
		*error_r = errfmt("%s: %s", *path_r, strerror(errno));
		close(fd);
		unlink(*path_r);
		x_free(path_r);
		fd = -1;
	}
	buf_free(&text);
	*fd_r = fd;
	return fd < 0 ? -1 : 0;
}

/* Copy the spool into path, synced (when a link is impossible). */
static int copy_file(int in, const char *path, const char **error_r)
{
	char *buf = xmalloc(QUEUE_COPY_CHUNK);
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	off_t off = 0;
	int rc = -1;

	while (out >= 0) {
		ssize_t n = pread(in, buf, QUEUE_COPY_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && fs_write_all(out, buf, (size_t)n) < 0))
			break;
		if (n == 0) {
			rc = fsync(out);
			break;
		}
		off += n;
	}
	if (rc < 0)
		*error_r = errfmt("%s: %s", path, strerror(errno));
	if (out >= 0)
		close(out);
	if (rc < 0 && out >= 0)
		unlink(path);
	free(buf);
	return rc;
}

/* Show a message created here (queue_create: its file is written and
 * synced) to the queue process: the envelope and the folder synced, then
 * the rename from .new to .env, which needs no sync of its own: a .new
 * file left by a crash is taken as queued at the next start. */
static int publish(const char *data_dir, const char *id, const char *newpath,
		   int env_fd, const char **error_r)
{
	char *env = queue_path(data_dir, id, "env");
	int rc = -1;

	if (fsync(env_fd) < 0)
		*error_r = errfmt("%s: fsync: %s", newpath, strerror(errno));
	else if (queue_sync_dir(data_dir, error_r) < 0)
		;
	else if (rename(newpath, env) < 0)
		*error_r = errfmt("%s: %s", env, strerror(errno));
	else
		rc = 0;
	free(env);
	return rc;
}

static void envelope_init(struct queue_env *env, const char *sender,
			  unsigned flags, char *const *rcpts, size_t n)
{
	memset(env, 0, sizeof(*env));
	env->sender = (char *)sender;
	env->created = time(NULL);
	env->flags = flags;
	env->rcpts = xcalloc(n, sizeof(*env->rcpts));
	env->n_rcpts = n;
	for (size_t i = 0; i < n; i++)
		env->rcpts[i].address = rcpts[i];
}

/* The end of a commit: on failure the envelope and the message written so
 * far are removed (nothing half-queued stays); returns rc. */
static int commit_end(int rc, struct queue_env *env, int fd, char *newpath,
		      char *msg)
{
	if (fd >= 0)
		close(fd);
	if (rc < 0 && newpath != NULL)
		unlink(newpath);
	if (rc < 0 && msg != NULL)
		unlink(msg);
	free(newpath);
	free(msg);
	free(env->rcpts);
	return rc;
}

/* place_extra of a staged item (deliver.h), once its spool is synced: the
 * envelope as .new and the message linked in (or copied and synced where
 * a link is impossible); the batch syncs the envelope and the folder. */
static int stage_place(struct deliver_item *item, void *arg,
		       struct deliver_extra *extra, const char **error_r)
{
	struct queue_stage *st = arg;

	if (write_envelope(st->data_dir, &st->env, &st->fd, &st->newpath, error_r) < 0)
		return -1;
	st->msgpath = queue_path(st->data_dir, st->env.id, "msg");
	if (link(item->sp->path, st->msgpath) < 0) {
		bool copy = errno == EXDEV || errno == EPERM || errno == EMLINK;
		if (!copy)
			*error_r = errfmt("%s: %s", st->msgpath, strerror(errno));
		if (copy && copy_file(item->sp->fd, st->msgpath, error_r) == 0)
			goto placed;
		int err = errno;
		x_free(&st->msgpath);   /* not made */
		unlink(st->newpath);
		x_free(&st->newpath);
		close(st->fd);
		st->fd = -1;
		errno = err;
		return -1;
	}
placed:
	extra->fd = st->fd;
	extra->names[0] = st->newpath;
	extra->names[1] = st->msgpath;
	return 0;
}

void queue_stage_init(struct queue_stage *st, struct deliver_item *item,
		      const char *data_dir, const struct queue_submission *qs)
{
	memset(st, 0, sizeof(*st));
	st->data_dir = data_dir;
	st->fd = -1;
	envelope_init(&st->env, qs->sender, qs->flags, qs->rcpts, qs->n_rcpts);
	st->env.offset = qs->offset;
	st->env.size = item->sp->size - qs->offset;
	item->place_extra = stage_place;
	item->extra_arg = st;
}

int queue_stage_end(struct queue_stage *st, int result,
		    char id_r[QUEUE_ID_LEN + 1], const char **error_r)
{
	int rc = result == 0 && st->newpath != NULL ? 0 : -1;

	if (rc == 0) {
		char *env = queue_path(st->data_dir, st->env.id, "env");
		if (rename(st->newpath, env) < 0) {
			*error_r = errfmt("%s: %s", env, strerror(errno));
			rc = -1;
		} else {
			memcpy(id_r, st->env.id, QUEUE_ID_LEN + 1);
		}
		free(env);
	}
	return commit_end(rc, &st->env, st->fd, st->newpath, st->msgpath);
}

int queue_commit(struct spool *sp, const char *data_dir,
		 const struct queue_submission *qs, char id_r[QUEUE_ID_LEN + 1],
		 const char **error_r)
{
	struct deliver_item item = {
		.sp = sp, .addresses = qs->local, .n_addresses = qs->n_local,
	};
	struct queue_stage st;
	int err;

	queue_stage_init(&st, &item, data_dir, qs);
	deliver_commit_batch(&item, 1, data_dir);
	err = item.err;
	if (item.result < 0)
		*error_r = errfmt("%s", item.error);
	if (queue_stage_end(&st, item.result, id_r, error_r) < 0) {
		if (item.result < 0)
			errno = err;
		return -1;
	}
	return 0;
}

int queue_create(const char *data_dir, const void *data, size_t len,
		 uint64_t offset, const char *sender, unsigned flags,
		 char *const *rcpts, size_t n_rcpts, char id_r[QUEUE_ID_LEN + 1],
		 const char **error_r)
{
	struct queue_env env;
	char *newpath = NULL, *msg = NULL;
	int rc = -1, fd = -1;

	envelope_init(&env, sender, flags, rcpts, n_rcpts);
	env.offset = offset;
	env.size = len - offset;
	if (write_envelope(data_dir, &env, &fd, &newpath, error_r) < 0)
		goto done;
	msg = queue_path(data_dir, env.id, "msg");
	if (fs_write_new(msg, data, len, 0600, error_r) < 0) {
		x_free(&msg);
		goto done;
	}
	if (publish(data_dir, env.id, newpath, fd, error_r) < 0)
		goto done;
	memcpy(id_r, env.id, QUEUE_ID_LEN + 1);
	rc = 0;
done:
	return commit_end(rc, &env, fd, newpath, msg);
}

/* ---- the queue process's side ---------------------------------------------- */

int queue_env_load(const char *data_dir, const char *id, struct queue_env **env_r,
		   int *fd_r, const char **error_r)
{
	char *path = queue_path(data_dir, id, "env");
	int fd = open(path, (fd_r != NULL ? O_RDWR | O_APPEND : O_RDONLY) | O_CLOEXEC);
	char *data = NULL;
	size_t len = 0, used;
	struct stat st;
	int rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		goto done;
	}
	if ((uint64_t)st.st_size > QUEUE_ENV_MAX) {
		*error_r = errfmt("%s: larger than %u bytes", path, QUEUE_ENV_MAX);
		goto done;
	}
	data = xmalloc((size_t)st.st_size + 1);
	for (ssize_t n; len < (size_t)st.st_size; len += (size_t)n) {
		n = pread(fd, data + len, (size_t)st.st_size - len, (off_t)len);
		if (n <= 0) {
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			break;
		}
	}
	if (queue_env_parse(data, len, env_r, &used, error_r) < 0) {
		*error_r = errfmt("%s: %s", path, *error_r);
		goto done;
	}
	if (strcmp((*env_r)->id, id) != 0) {
		*error_r = errfmt("%s: holds id %s", path, (*env_r)->id);
		queue_env_free(env_r);
		goto done;
	}
	/* A record cut by a crash: cut off, so the next append starts a line. */
	if (fd_r != NULL && used < len && ftruncate(fd, (off_t)used) < 0)
		log_warn("queue: %s: cannot cut a torn record: %s", path, strerror(errno));
	rc = 0;
done:
	if (rc == 0 && fd_r != NULL)
		*fd_r = fd;
	else if (fd >= 0)
		close(fd);
	free(data);
	free(path);
	return rc;
}

int queue_env_append(int fd, const void *data, size_t len, bool sync,
		     const char **error_r)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		*error_r = errfmt("queue record: %s", strerror(errno));
		return -1;
	}
	if (fs_write_all(fd, data, len) < 0) {
		*error_r = errfmt("queue record: %s", strerror(errno));
		/* No half line may be left for the next record to join. */
		if (ftruncate(fd, st.st_size) < 0)
			log_warn("queue: cannot take back a torn record: %s",
				 strerror(errno));
		return -1;
	}
	if (sync && fdatasync(fd) < 0) {
		*error_r = errfmt("queue record: fdatasync: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The log of env folded: one record per recipient that has a state. */
static void compact_log(const struct queue_env *env, struct buf *out)
{
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (r->state == QUEUE_RCPT_PENDING)
			continue;
		queue_record_result(out, r->when, r->state, &i, 1, r->relay,
				    r->tls, r->reply);
		if (r->dsn_made)
			queue_record_dsn(out, r->when, &i, 1, NULL);
	}
	if (env->attempts > 0 || env->next_attempt > 0)
		queue_record_next(out, time(NULL), env->attempts, env->next_attempt);
}

int queue_env_rewrite(const char *data_dir, const struct queue_env *env,
		      int *fd_r, const char **error_r)
{
	char *tmp = tmp_path(data_dir, env->id), *path = queue_path(data_dir, env->id, "env");
	struct buf text = { 0 };
	int rc = -1, fd;

	queue_env_format(env, &text);
	compact_log(env, &text);
	unlink(tmp);
	if (fs_write_new(tmp, text.data, text.len, 0600, error_r) < 0)
		goto done;
	if (rename(tmp, path) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		unlink(tmp);
		goto done;
	}
	if (queue_sync_dir(data_dir, error_r) < 0)
		goto done;
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		goto done;
	}
	close(*fd_r);
	*fd_r = fd;
	rc = 0;
done:
	buf_free(&text);
	free(tmp);
	free(path);
	return rc;
}

int queue_remove(const char *data_dir, const char *id, bool sync,
		 const char **error_r)
{
	char *env = queue_path(data_dir, id, "env"), *msg = queue_path(data_dir, id, "msg");
	int rc = 0;

	if (unlink(env) < 0 && errno != ENOENT) {
		*error_r = errfmt("%s: %s", env, strerror(errno));
		rc = -1;
	} else if (unlink(msg) < 0 && errno != ENOENT) {
		*error_r = errfmt("%s: %s", msg, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && sync)
		rc = queue_sync_dir(data_dir, error_r);
	free(env);
	free(msg);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int queue_list_ids(const char *data_dir, char ***ids_r, size_t *n_r,
		   const char **error_r)
{
	char *dir = fs_join(data_dir, QUEUE_DIR);
	DIR *d = opendir(dir);
	struct dirent *de;
	char **ids = NULL;
	size_t n = 0;

	if (d == NULL) {
		*error_r = errfmt("%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char id[QUEUE_ID_LEN + 1];
		if (strlen(de->d_name) != QUEUE_ID_LEN + 4 ||
		    strcmp(de->d_name + QUEUE_ID_LEN, ".env") != 0)
			continue;
		memcpy(id, de->d_name, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		if (!queue_id_valid(id))
			continue;
		ids = xrealloc(ids, (n + 2) * sizeof(*ids));
		ids[n++] = xstrdup(id);
		ids[n] = NULL;
	}
	closedir(d);
	free(dir);
	if (ids == NULL)
		ids = xcalloc(1, sizeof(*ids));
	qsort(ids, n, sizeof(*ids), cmp_str);
	*ids_r = ids;
	*n_r = n;
	return 0;
}
