/* maildir_sync.c — bring a folder's uidlist in line with its files.
 *
 * Under the folder lock: move new/ into cur/ (as a mail reader does), scan
 * cur/, match files to uidlist entries by basename, give unknown files the
 * next UIDs (oldest first), forget entries whose files are gone (logged as
 * expunged), record flags changed by others, persist, and hand out a
 * snapshot. readdir() may miss a file that another program renames during
 * the scan, so an entry is only forgotten when a second scan misses it
 * too. Our own renames (flag changes) take the same lock and record their
 * change, so a sync never mistakes them for someone else's.
 *
 * \Recent is the uidlist's watermark (maildir.h): a full sync reports the
 * messages at or above it and raises it past them. A read-only view
 * (EXAMINE) and STATUS must not take \Recent (RFC 3501 6.3.2, 6.3.10), so
 * their syncs leave the watermark and new/ where they are: new/'s files
 * get UIDs by basename like those of cur/ and keep them when a later full
 * sync moves them. new/ is scanned before cur/, so a file another program
 * moves from one to the other meanwhile is seen in at least one. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* File-system timestamps advance in coarse ticks: a change within this many
 * seconds of a stamp may not have moved it, so the stamp is not trusted. */
#define MAILDIR_STAMP_TRUST_SECS 1
/* Read size when counting line ends for the virtual size. */
#define MAILDIR_VSIZE_CHUNK 65536

struct scan_file {
	char *basename;
	char *filename;
	bool in_new;        /* found in new/, not cur/ */
	bool used;
};

struct scan {
	struct scan_file *files;
	size_t count, cap;
};

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->count; i++) {
		free(sc->files[i].basename);
		free(sc->files[i].filename);
	}
	x_free(&sc->files);
	sc->count = sc->cap = 0;
}

static int cmp_scan_file(const void *a, const void *b)
{
	const struct scan_file *x = a, *y = b;
	return strcmp(x->basename, y->basename);
}

/* By basename, and for one basename the name in cur/ first. */
static int cmp_scan_sort(const void *a, const void *b)
{
	const struct scan_file *x = a, *y = b;
	int r = strcmp(x->basename, y->basename);
	return r != 0 ? r : (int)x->in_new - (int)y->in_new;
}

/* A directory entry that may be a message: no dot files, no names that
 * cannot be written to the uidlist. */
bool maildir_message_name(const char *name, unsigned char d_type)
{
	return name[0] != '.' && d_type != DT_DIR && strchr(name, '\n') == NULL &&
		maildir_basename_len(name) > 0;
}

static bool message_name(const struct dirent *d)
{
	return maildir_message_name(d->d_name, d->d_type);
}

/* Add the messages of dir (new/ when in_new) to sc, unsorted. A folder
 * without new/ has none there. */
static int scan_dir(const char *path, bool in_new, struct scan *sc,
		    const char **error_r)
{
	DIR *dir = opendir(path);
	struct dirent *d;

	if (dir == NULL) {
		if (in_new && errno == ENOENT)
			return 0;
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		if (!message_name(d))
			continue;
		if (sc->count == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 256;
			sc->files = xrealloc(sc->files, sc->cap * sizeof(*sc->files));
		}
		struct scan_file *f = &sc->files[sc->count++];
		f->basename = xstrndup(d->d_name, maildir_basename_len(d->d_name));
		f->filename = xstrdup(d->d_name);
		f->in_new = in_new;
		f->used = false;
	}
	closedir(dir);
	return 0;
}

/* List cur/ (after new/ when with_new) sorted by basename, one file per
 * basename. */
static int scan_folder(const char *folder_path, bool with_new, struct scan *sc,
		       const char **error_r)
{
	char *new_dir = fs_join(folder_path, "new");
	char *cur = fs_join(folder_path, "cur");
	int r = 0;

	memset(sc, 0, sizeof(*sc));
	if (with_new)
		r = scan_dir(new_dir, true, sc, error_r);
	if (r == 0)
		r = scan_dir(cur, false, sc, error_r);
	free(new_dir);
	free(cur);
	if (r < 0) {
		scan_free(sc);
		return -1;
	}
	if (sc->count == 0)
		return 0;
	qsort(sc->files, sc->count, sizeof(*sc->files), cmp_scan_sort);
	/* Two names for one basename: a reader mid-way through a link+unlink
	 * flag change (either name reaches the same message), or a file
	 * moved from new/ to cur/ during the scan (cur/'s, sorted first, is
	 * kept). */
	size_t out = 0;
	for (size_t i = 0; i < sc->count; i++) {
		if (out > 0 && strcmp(sc->files[out - 1].basename,
				      sc->files[i].basename) == 0) {
			free(sc->files[i].basename);
			free(sc->files[i].filename);
			continue;
		}
		sc->files[out++] = sc->files[i];
	}
	sc->count = out;
	return 0;
}

static struct scan_file *scan_find(const struct scan *sc, const char *basename)
{
	struct scan_file key = { .basename = (char *)basename };
	if (sc->count == 0)
		return NULL;
	return bsearch(&key, sc->files, sc->count, sizeof(*sc->files),
		       cmp_scan_file);
}

/* Add the files of extra that sc lacks, and take extra's (newer) names for
 * those both have. Empties extra. */
static void scan_merge(struct scan *sc, struct scan *extra)
{
	struct scan sorted = *sc;  /* the sorted part, for lookups */

	for (size_t i = 0; i < extra->count; i++) {
		struct scan_file *f = scan_find(&sorted, extra->files[i].basename);
		if (f != NULL) {
			free(f->filename);
			f->filename = extra->files[i].filename;
			f->in_new = extra->files[i].in_new;
			free(extra->files[i].basename);
			continue;
		}
		if (sc->count == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 256;
			sc->files = xrealloc(sc->files, sc->cap * sizeof(*sc->files));
			sorted.files = sc->files;
		}
		sc->files[sc->count++] = extra->files[i];
	}
	if (sc->count > 0)
		qsort(sc->files, sc->count, sizeof(*sc->files), cmp_scan_file);
	extra->count = 0;
	scan_free(extra);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Move new/<name> to cur/, adding ":2," when it has no info. Never
 * replaces a file in cur/. 1 = moved, 0 = not a message or taken by
 * another reader, -1 = error (errno). */
static int move_one(int new_fd, int cur_fd, const struct dirent *d)
{
	struct stat st;

	if (d->d_type != DT_REG &&
	    (fstatat(new_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	     !S_ISREG(st.st_mode)))
		return 0;
	bool has_info = strchr(d->d_name, ':') != NULL;
	char *target = xasprintf("%s%s", d->d_name, has_info ? "" : ":2,");
	int r = renameat2(new_fd, d->d_name, cur_fd, target, RENAME_NOREPLACE);
	if (r < 0 && (errno == EINVAL || errno == ENOSYS))
		r = renameat(new_fd, d->d_name, cur_fd, target);
	int err = errno;
	free(target);
	if (r == 0)
		return 1;
	if (err == ENOENT)
		return 0;  /* another reader took it */
	if (err == EEXIST) {
		log_warn("maildir new-file-kept file=%s reason=\"same name in cur/\"",
			 d->d_name);
		return 0;
	}
	errno = err;
	return -1;
}

/* Move every message of new/ to cur/. The basenames moved go to *moved_r
 * (sorted; strv). A folder without new/ has nothing to move. */
static int move_new(const char *path, char ***moved_r, size_t *count_r,
		    const char **error_r)
{
	char *new_dir = fs_join(path, "new"), *cur_dir = fs_join(path, "cur");
	int cur_fd = open(cur_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = opendir(new_dir);
	char **moved = xcalloc(1, sizeof(*moved));
	struct dirent *d;
	size_t n = 0;
	int ret = -1;

	if (cur_fd < 0 || (dir == NULL && errno != ENOENT)) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		goto out;
	}
	while (dir != NULL && (d = readdir(dir)) != NULL) {
		if (!message_name(d))
			continue;
		int r = move_one(dirfd(dir), cur_fd, d);
		if (r < 0) {
			*error_r = errfmt("%s/%s: rename: %s", new_dir, d->d_name,
					  strerror(errno));
			goto out;
		}
		if (r == 0)
			continue;
		moved = xrealloc(moved, (n + 2) * sizeof(*moved));
		moved[n++] = xstrndup(d->d_name, maildir_basename_len(d->d_name));
		moved[n] = NULL;
	}
	if (n > 0)
		qsort(moved, n, sizeof(*moved), cmp_str);
	ret = 0;
out:
	if (dir != NULL)
		closedir(dir);
	if (cur_fd >= 0)
		close(cur_fd);
	free(new_dir);
	free(cur_dir);
	if (ret < 0) {
		strv_free(&moved);
		n = 0;
	}
	*moved_r = moved;
	*count_r = n;
	return ret;
}

int maildir_count_vsize(int fd, uint64_t *vsize_r)
{
	char *chunk = xmalloc(MAILDIR_VSIZE_CHUNK);
	uint64_t total = 0, bare_lf = 0;
	char prev = '\0';
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, chunk, MAILDIR_VSIZE_CHUNK, off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(chunk);
			return -1;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n' && prev != '\r')
				bare_lf++;
			prev = chunk[i];
		}
		total += (uint64_t)n;
		off += n;
	}
	free(chunk);
	*vsize_r = total + bare_lf;
	return 0;
}

/* Size, virtual size and date of <sub>/<filename> (sub: cur or new, open
 * as dir_fd; -1: gone). 0 = ok, 1 = gone or not a regular file, -1 =
 * error. A plausible ",W=" in the name (Dovecot's, or ours) spares reading
 * the file. */
static int measure(int dir_fd, const char *sub, const char *filename,
		   uint64_t *size_r, uint64_t *vsize_r, int64_t *date_r,
		   const char **error_r)
{
	struct stat st;
	uint64_t w;
	int fd = dir_fd < 0 ? -1 : openat(dir_fd, filename, O_RDONLY | O_CLOEXEC |
					  O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (dir_fd < 0 || (fd < 0 && (errno == ENOENT || errno == ELOOP)))
		return 1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*error_r = errfmt("%s/%s: %s", sub, filename, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 1;
	}
	*size_r = (uint64_t)st.st_size;
	*date_r = (int64_t)st.st_mtime;
	char *base = xstrndup(filename, maildir_basename_len(filename));
	bool have_w = maildir_basename_field(base, 'W', &w) &&
		w >= *size_r && w <= 2 * *size_r;
	free(base);
	if (have_w) {
		*vsize_r = w;
	} else if (maildir_count_vsize(fd, vsize_r) < 0) {
		*error_r = errfmt("%s/%s: read: %s", sub, filename, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* The state of one sync while it runs. */
struct sync_ctx {
	struct maildir_folder *folder;
	struct uidlist *ul;
	int cur_fd, new_fd;         /* new_fd: -1 unless new/ is scanned */
	struct scan sc;
	struct scan_file **match;   /* file of ul->entries[i], or NULL */
	char **moved;               /* basenames moved from new/, sorted */
	size_t n_moved;
	uint64_t modseq;            /* this sync's mod-sequence; 0 until used */
	uint32_t first_recent;      /* the \Recent watermark as found */
};

/* measure() the file f of the scan where it was found. */
static int measure_file(const struct sync_ctx *ctx, const struct scan_file *f,
			uint64_t *size_r, uint64_t *vsize_r, int64_t *date_r,
			const char **error_r)
{
	return measure(f->in_new ? ctx->new_fd : ctx->cur_fd,
		       f->in_new ? "new" : "cur", f->filename, size_r, vsize_r,
		       date_r, error_r);
}

static size_t match_entries(struct sync_ctx *ctx)
{
	size_t missing = 0;
	ctx->match = xrealloc(ctx->match,
			      (ctx->ul->count + 1) * sizeof(*ctx->match));
	for (size_t i = 0; i < ctx->ul->count; i++) {
		ctx->match[i] = scan_find(&ctx->sc, ctx->ul->entries[i].basename);
		if (ctx->match[i] == NULL)
			missing++;
	}
	return missing;
}

/* Fill the fields an entry lacks (imported or hand-written lines). */
static int fill_entry(struct sync_ctx *ctx, size_t i, const char **error_r)
{
	struct uidlist_entry *e = &ctx->ul->entries[i];

	if (e->has_size && e->has_vsize && e->has_date)
		return 0;
	int r = measure_file(ctx, ctx->match[i], &e->size, &e->vsize, &e->date,
			     error_r);
	if (r < 0)
		return -1;
	e->has_size = e->has_vsize = e->has_date = r == 0;
	ctx->ul->rewrite = ctx->ul->dirty = true;
	return 0;
}

/* The flags the file of entry i shows: recorded when unknown, a change
 * (with this sync's mod-sequence) when they differ from the uidlist's. */
static void note_flags(struct sync_ctx *ctx, size_t i)
{
	struct uidlist *ul = ctx->ul;
	const struct uidlist_entry *e = &ul->entries[i];
	const char *name = ctx->match[i]->filename;
	unsigned flags = maildir_flags_from_filename(name);
	uint32_t keywords = maildir_keywords_from_filename(name);

	if (!e->has_flags)
		uidlist_fill_flags(ul, i, flags, keywords);
	else if (flags != e->flags || keywords != e->keywords)
		uidlist_set_flags(ul, i, flags, keywords,
				  uidlist_op_modseq(ul, &ctx->modseq));
}

/* Forget the entries whose files are gone (logged as expunged), note flag
 * changes, fill what entries lack. */
static int drop_and_fill(struct sync_ctx *ctx, const char **error_r)
{
	struct uidlist *ul = ctx->ul;
	size_t out = 0;

	for (size_t i = 0; i < ul->count; i++) {
		if (ctx->match[i] == NULL) {
			uidlist_drop(ul, i, &ctx->modseq);
			continue;
		}
		ctx->match[i]->used = true;
		if (fill_entry(ctx, i, error_r) < 0)
			return -1;
		note_flags(ctx, i);
	}
	for (size_t i = 0; i < ul->count; i++) {
		if (!ul->entries[i].gone)
			ctx->match[out++] = ctx->match[i];
	}
	uidlist_compact(ul);
	return 0;
}

struct new_file {
	struct scan_file *f;
	uint64_t size, vsize;
	int64_t date;
};

static int cmp_new_file(const void *a, const void *b)
{
	const struct new_file *x = a, *y = b;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return strcmp(x->f->basename, y->f->basename);
}

/* Give the files without an entry the next UIDs, oldest first. */
static int assign_new(struct sync_ctx *ctx, const char **error_r)
{
	struct new_file *nf = xcalloc(ctx->sc.count, sizeof(*nf));
	size_t n = 0;
	int ret = -1;

	for (size_t i = 0; i < ctx->sc.count; i++) {
		struct scan_file *f = &ctx->sc.files[i];
		if (f->used)
			continue;
		int r = measure_file(ctx, f, &nf[n].size, &nf[n].vsize,
				     &nf[n].date, error_r);
		if (r < 0)
			goto out;
		if (r == 0)
			nf[n++].f = f;
	}
	qsort(nf, n, sizeof(*nf), cmp_new_file);
	ctx->match = xrealloc(ctx->match,
			      (ctx->ul->count + n + 1) * sizeof(*ctx->match));
	for (size_t i = 0; i < n; i++) {
		const char *name = nf[i].f->filename;
		if (uidlist_add(ctx->ul, nf[i].f->basename, nf[i].size, nf[i].vsize,
				nf[i].date, maildir_flags_from_filename(name),
				maildir_keywords_from_filename(name),
				uidlist_op_modseq(ctx->ul, &ctx->modseq), NULL,
				error_r) < 0)
			goto out;
		ctx->match[ctx->ul->count - 1] = nf[i].f;
		nf[i].f->used = true;
	}
	ret = 0;
out:
	free(nf);
	return ret;
}

/* A list read from version 1 (or Dovecot's) knew \Recent as "still in
 * new/": those messages stay recent, the others are not. */
static void upgrade_recent(struct sync_ctx *ctx)
{
	struct uidlist *ul = ctx->ul;
	uint32_t first = ul->nextuid;

	for (size_t i = 0; i < ul->count; i++) {
		const struct uidlist_entry *e = &ul->entries[i];
		bool was_new = ctx->match[i]->in_new || (ctx->n_moved > 0 &&
			bsearch(&e->basename, ctx->moved, ctx->n_moved,
				sizeof(*ctx->moved), cmp_str) != NULL);
		if (was_new && e->uid < first)
			first = e->uid;
	}
	ul->first_recent = first;
}

static struct maildir_snapshot *build_snapshot(struct sync_ctx *ctx)
{
	struct maildir_snapshot *snap = xcalloc(1, sizeof(*snap));
	struct uidlist *ul = ctx->ul;

	snap->uidvalidity = ul->uidvalidity;
	snap->uidnext = ul->nextuid;
	snap->highest_modseq = ul->highest_modseq;
	snap->count = ul->count;
	snap->msgs = xcalloc(ul->count, sizeof(*snap->msgs));
	for (size_t i = 0; i < ul->count; i++) {
		struct maildir_msg *m = &snap->msgs[i];
		const struct uidlist_entry *e = &ul->entries[i];
		m->uid = e->uid;
		m->basename = xstrdup(e->basename);
		m->filename = xstrdup(ctx->match[i]->filename);
		m->flags = maildir_flags_from_filename(m->filename);
		m->keywords = maildir_keywords_from_filename(m->filename);
		m->size = e->size;
		m->vsize = e->vsize;
		m->internal_date = (time_t)e->date;
		m->modseq = e->modseq;
		m->in_new = ctx->match[i]->in_new;
		m->recent = e->uid >= ctx->first_recent;
		if (m->recent)
			snap->recent_count++;
	}
	return snap;
}

static bool stamp(const char *dir, const char *name, struct timespec *mtime_r,
		  struct stat *st_r)
{
	char *path = fs_join(dir, name);
	struct stat st;
	bool ok = stat(path, &st) == 0;

	free(path);
	if (!ok) {
		memset(mtime_r, 0, sizeof(*mtime_r));
		return false;
	}
	*mtime_r = st.st_mtim;
	if (st_r != NULL)
		*st_r = st;
	return true;
}

static bool stamp_fresh(const struct timespec *ts, time_t now)
{
	return ts->tv_sec + MAILDIR_STAMP_TRUST_SECS >= now;
}

/* Scan cur/ (and new/ when with_new) and match; a second scan when entries
 * seem gone (readdir() may have missed a file renamed under it). */
static int scan_and_match(struct sync_ctx *ctx, bool with_new,
			  const char **error_r)
{
	const char *path = ctx->folder->path;
	struct scan extra;

	if (scan_folder(path, with_new, &ctx->sc, error_r) < 0)
		return -1;
	if (match_entries(ctx) == 0)
		return 0;
	if (scan_folder(path, with_new, &extra, error_r) < 0)
		return -1;
	scan_merge(&ctx->sc, &extra);
	match_entries(ctx);
	return 0;
}

/* Record what this handle saw, for maildir_folder_changed(). */
static void remember_stamps(struct maildir_folder *folder,
			    const struct timespec *new_mtime,
			    const struct timespec *cur_mtime)
{
	struct stat st;
	time_t now = time(NULL);

	folder->new_mtime = *new_mtime;
	folder->cur_mtime = *cur_mtime;
	memset(&st, 0, sizeof(st));
	stamp(folder->path, MAILDIR_UIDLIST_NAME, &folder->uidlist_mtime, &st);
	folder->uidlist_ino = st.st_ino;
	folder->uidlist_size = st.st_size;
	folder->dirty = stamp_fresh(new_mtime, now) ||
		stamp_fresh(cur_mtime, now) ||
		stamp_fresh(&folder->uidlist_mtime, now);
	folder->synced = true;
}

/* What a sync does with new/. */
enum sync_mode {
	SYNC_TAKE_NEW,      /* maildir_sync(): move it into cur/ */
	SYNC_READ_ONLY,     /* maildir_sync_readonly(): scan it in place */
	SYNC_STATUS,        /* the same, this handle's stamps untouched */
};

/* Open the directory sub of folder; a missing new/ gives -1 quietly. */
static int open_sub(const struct maildir_folder *folder, const char *sub,
		    int *fd_r, const char **error_r)
{
	char *path = fs_join(folder->path, sub);

	*fd_r = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd_r < 0 && (strcmp(sub, "new") != 0 || errno != ENOENT)) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* The sync under the folder lock; folder->ul is left loaded. */
static int sync_locked(struct maildir_folder *folder, enum sync_mode mode,
		       struct maildir_snapshot **snap_r, const char **error_r)
{
	struct sync_ctx ctx = { .folder = folder, .cur_fd = -1, .new_fd = -1 };
	bool take_new = mode == SYNC_TAKE_NEW;
	struct timespec new_mtime, cur_mtime;
	int ret = -1;

	/* Stamps before looking: a change during the sync shows next time. */
	stamp(folder->path, "new", &new_mtime, NULL);
	if (take_new &&
	    move_new(folder->path, &ctx.moved, &ctx.n_moved, error_r) < 0)
		goto out;
	stamp(folder->path, "cur", &cur_mtime, NULL);
	if (uidlist_load(folder, &ctx.ul, error_r) < 0 ||
	    scan_and_match(&ctx, !take_new, error_r) < 0 ||
	    open_sub(folder, "cur", &ctx.cur_fd, error_r) < 0 ||
	    (!take_new && open_sub(folder, "new", &ctx.new_fd, error_r) < 0))
		goto out;
	if (drop_and_fill(&ctx, error_r) < 0)
		goto out;
	if (ctx.ul->upgraded)
		upgrade_recent(&ctx);
	ctx.first_recent = ctx.ul->first_recent;
	if (assign_new(&ctx, error_r) < 0)
		goto out;
	if (take_new)
		uidlist_set_first_recent(ctx.ul, ctx.ul->nextuid);
	if (uidlist_write(folder, ctx.ul, error_r) < 0)
		goto out;
	*snap_r = build_snapshot(&ctx);
	if (mode != SYNC_STATUS)
		remember_stamps(folder, &new_mtime, &cur_mtime);
	ret = 0;
out:
	if (ctx.cur_fd >= 0)
		close(ctx.cur_fd);
	if (ctx.new_fd >= 0)
		close(ctx.new_fd);
	scan_free(&ctx.sc);
	free(ctx.match);
	strv_free(&ctx.moved);
	return ret;
}

int maildir_sync_locked(struct maildir_folder *folder,
			struct maildir_snapshot **snap_r, const char **error_r)
{
	return sync_locked(folder, SYNC_TAKE_NEW, snap_r, error_r);
}

/* sync_locked() under the folder lock. */
static int sync_with_lock(struct maildir_folder *folder, enum sync_mode mode,
			  struct maildir_snapshot **snap_r, const char **error_r)
{
	int lock_fd = -1;

	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		return -1;
	int ret = sync_locked(folder, mode, snap_r, error_r);
	int err = errno;
	maildir_unlock(&lock_fd);
	errno = err;
	return ret;
}

int maildir_sync_readonly(struct maildir_folder *folder,
			  struct maildir_snapshot **snap_r, const char **error_r)
{
	return sync_with_lock(folder, SYNC_READ_ONLY, snap_r, error_r);
}

int maildir_sync_status(struct maildir_folder *folder,
			struct maildir_snapshot **snap_r, const char **error_r)
{
	return sync_with_lock(folder, SYNC_STATUS, snap_r, error_r);
}

/* Remove tmp/ files neither read nor written for MAILDIR_TMP_STALE_SECS
 * (the Maildir specification's rule for a writer's crash leftovers). The
 * inode's change time counts too: a writer gives its tmp/ file the
 * message's date (futimens(), an APPEND of an old message, a copy keeping
 * its internal date) before renaming it into cur/, so atime and mtime alone
 * would call a file stale that is being written this very second. ctime
 * cannot be set back: it is the last moment anyone touched the inode. */
void maildir_tmp_clean(const char *path, time_t now)
{
	char *tmp = fs_join(path, "tmp");
	int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	time_t limit = now - MAILDIR_TMP_STALE_SECS;
	struct dirent *d;
	struct stat st;

	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		free(tmp);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' ||
		    fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode))
			continue;
		if (st.st_atime < limit && st.st_mtime < limit &&
		    st.st_ctime < limit && unlinkat(fd, d->d_name, 0) == 0)
			log_info("maildir stale-tmp-removed file=%s/%s", tmp,
				 d->d_name);
	}
	closedir(dir);
	free(tmp);
}

int maildir_sync(struct maildir_folder *folder,
		 struct maildir_snapshot **snap_r, const char **error_r)
{
	if (sync_with_lock(folder, SYNC_TAKE_NEW, snap_r, error_r) < 0)
		return -1;
	if (!folder->tmp_cleaned) {
		maildir_tmp_clean(folder->path, time(NULL));
		folder->tmp_cleaned = true;
	}
	return 0;
}

void maildir_snapshot_free(struct maildir_snapshot **snap)
{
	if (*snap == NULL)
		return;
	for (size_t i = 0; i < (*snap)->count; i++) {
		free((*snap)->msgs[i].basename);
		free((*snap)->msgs[i].filename);
	}
	free((*snap)->msgs);
	x_free(snap);
}

struct maildir_msg *maildir_snapshot_find(const struct maildir_snapshot *snap,
					  uint32_t uid)
{
	size_t lo = 0, hi = snap->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (snap->msgs[mid].uid == uid)
			return &snap->msgs[mid];
		if (snap->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool maildir_folder_changed(struct maildir_folder *folder)
{
	struct timespec new_mtime, cur_mtime, ul_mtime;
	struct stat st;

	if (!folder->synced || folder->dirty)
		return true;
	memset(&st, 0, sizeof(st));
	stamp(folder->path, "new", &new_mtime, NULL);
	stamp(folder->path, "cur", &cur_mtime, NULL);
	stamp(folder->path, MAILDIR_UIDLIST_NAME, &ul_mtime, &st);
	return !ts_equal(&new_mtime, &folder->new_mtime) ||
		!ts_equal(&cur_mtime, &folder->cur_mtime) ||
		!ts_equal(&ul_mtime, &folder->uidlist_mtime) ||
		st.st_ino != folder->uidlist_ino || st.st_size != folder->uidlist_size;
}
