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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy buffer when a hard link is impossible (data_dir across file
 * systems). */
#define DELIVER_COPY_CHUNK (64 * 1024)

/* ---- syncing many files at once ------------------------------------------
 * A batch's fsyncs are issued together, from this many helper threads of
 * the process (made at first use) plus the caller: the device serves
 * concurrent syncs with shared cache flushes, where one thread would wait
 * for each flush in turn. Requests of concurrent batches queue in order;
 * the helpers only ever wait in fsync(). */
#define DELIVER_SYNC_THREADS 15

/* One caller's fsyncs: helpers and the caller take them one by one. */
struct sync_req {
	const int *fds;
	int *errs;                    /* errno of each fd's fsync, 0: synced */
	size_t n, next, finished;
	pthread_cond_t done;
	struct sync_req *next_req;    /* queued: fds not all taken yet */
};

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;         /* guards the rest and every sync_req */
	pthread_cond_t work;
	struct sync_req *head, *tail;
	unsigned threads;
} syncer = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER,
	     .work = PTHREAD_COND_INITIALIZER };

/* Sync the next fd of req (queued, not all taken). Locked; unlocks while
 * syncing. */
static void sync_one(struct sync_req *req)
{
	size_t i = req->next++;

	if (req->next == req->n) {
		/* All taken: off the queue (it is the head: FIFO). */
		syncer.head = req->next_req;
		if (syncer.head == NULL)
			syncer.tail = NULL;
	}
	pthread_mutex_unlock(&syncer.lock);
	int err = fsync(req->fds[i]) < 0 ? errno : 0;
	pthread_mutex_lock(&syncer.lock);
	req->errs[i] = err;
	if (++req->finished == req->n)
		pthread_cond_signal(&req->done);
}

static void *sync_thread(void *arg)
{
	pthread_mutex_lock(&syncer.lock);
	for (;;) {
		while (syncer.head == NULL)
			pthread_cond_wait(&syncer.work, &syncer.lock);
		sync_one(syncer.head);
	}
	return NULL;
}

static void syncer_start(void)
{
	sigset_t all, old;
	pthread_attr_t attr;

	/* Signals belong to the loop thread. Small stacks: they only sync. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (unsigned i = 0; i < DELIVER_SYNC_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, sync_thread, NULL) != 0)
			break;    /* fewer helpers: the caller syncs the rest */
		(void)pthread_setname_np(t, "sealpost-sync");
		syncer.threads++;
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* fsync every fd, concurrently; errs[i] is the errno of fds[i] (0: ok). */
static void sync_all(const int *fds, int *errs, size_t n)
{
	if (n == 1) {
		errs[0] = fsync(fds[0]) < 0 ? errno : 0;
		return;
	}
	pthread_once(&syncer.once, syncer_start);
	if (syncer.threads == 0) {
		for (size_t i = 0; i < n; i++)
			errs[i] = fsync(fds[i]) < 0 ? errno : 0;
		return;
	}
	struct sync_req req = { .fds = fds, .errs = errs, .n = n };
	pthread_cond_init(&req.done, NULL);
	pthread_mutex_lock(&syncer.lock);
	if (syncer.tail != NULL)
		syncer.tail->next_req = &req;
	else
		syncer.head = &req;
	syncer.tail = &req;
	/* As many helpers as there are fds beyond the caller's own first
	 * one: waking all of them for a batch of two would only have the
	 * rest find the queue empty again. */
	for (size_t i = 1; i < n && i <= syncer.threads; i++)
		pthread_cond_signal(&syncer.work);
	/* The caller syncs too until its own fds are all taken (those of
	 * requests queued before it first: they are served in order). */
	while (req.next < req.n)
		sync_one(syncer.head);
	while (req.finished < req.n)
		pthread_cond_wait(&req.done, &syncer.lock);
	pthread_mutex_unlock(&syncer.lock);
	pthread_cond_destroy(&req.done);
}

int spool_open(const char *data_dir, struct spool *sp, const char **error_r)
{
	char name[MAILDIR_BASENAME_SIZE];

	if (maildir_unique_name(name, sizeof(name)) < 0) {
		*error_r = "spool: cannot make a file name";
		return -1;
	}
	sp->path = xasprintf("%s/%s/%s", data_dir, DELIVER_SPOOL_DIR, name);
	sp->size = 0;
	sp->owned = true;
	sp->moved = false;
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
	if (sp->path != NULL && !sp->moved)
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

/* Put the spool into one Maildir, as a hard link, or by renaming it when
 * move (its last name); *placed_r is the new file's path. */
static int deliver_one(struct spool *sp, const char *maildir, bool move,
		       char **placed_r, const char **error_r)
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
	if ((move ? rename(sp->path, dst) : link(sp->path, dst)) < 0) {
		if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
			*error_r = errfmt("%s: %s", dst, strerror(errno));
			free(dst);
			return -1;
		}
		if (copy_into(sp, maildir, name, error_r) < 0) {
			free(dst);
			return -1;
		}
	} else if (move) {
		sp->moved = true;
	}
	*placed_r = dst;
	return 0;
}

static void item_fail(struct deliver_item *item, int err, const char *error)
{
	item->result = -1;
	item->err = err;
	strlcpy_sp(item->error, error, sizeof(item->error));
}

/* Link item's spool into each recipient's new/, the last by renaming it
 * there when the spool is its own and place_extra does not need its name;
 * on failure the names made are taken back. */
static void item_place(struct deliver_item *item, const char *data_dir)
{
	const char *error = NULL;

	item->placed = xcalloc(item->n_addresses + 1, sizeof(char *));
	for (size_t i = 0; i < item->n_addresses; i++) {
		char *maildir = mailbox_path(data_dir, item->addresses[i]);
		bool move = i + 1 == item->n_addresses && item->place_extra == NULL &&
			    item->sp->owned;
		int rc = deliver_one(item->sp, maildir, move,
				     &item->placed[item->n_placed], &error);
		int err = errno;
		free(maildir);
		if (rc < 0) {
			item_fail(item, err, error);
			return;
		}
		item->n_placed++;
	}
}

/* The distinct new/ folders of the placed files. */
struct dir_set {
	char **dirs;
	int *failed;         /* the errno of the fsync of dirs[i], or 0 */
	size_t n, cap;
};

static size_t dir_set_add(struct dir_set *set, const char *file)
{
	char *dir = fs_dirname(file);
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->dirs[i], dir) == 0) {
			free(dir);
			return i;
		}
	}
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->dirs = xrealloc(set->dirs, set->cap * sizeof(*set->dirs));
		set->failed = xrealloc(set->failed, set->cap * sizeof(*set->failed));
	}
	set->dirs[set->n] = dir;
	set->failed[set->n] = 0;
	return set->n++;
}

/* Add the folders item made names in (its links, its extra files) to
 * set; with an error, fail the item when the sync of one of them failed. */
static void item_dirs(struct deliver_item *item, struct dir_set *set,
		      const char *error)
{
	size_t n = item->n_placed + (item->extra_placed ? DELIVER_EXTRA_NAMES : 0);

	for (size_t j = 0; item->result == 0 && j < n; j++) {
		const char *name = j < item->n_placed ? item->placed[j]
						      : item->extra.names[j - item->n_placed];
		if (name == NULL)
			continue;
		size_t d = dir_set_add(set, name);
		if (error != NULL && set->failed[d])
			item_fail(item, set->failed[d], error);
	}
}

/* Every file placed in a folder whose fsync failed is not durable: its
 * message fails whole. */
static void items_check_dirs(struct deliver_item *items, size_t n,
			     struct dir_set *set, const char *error)
{
	for (size_t i = 0; i < n; i++)
		item_dirs(&items[i], set, error);
}

/* Phase 1: every spool file's data and inode on disk, before any name
 * points at it. */
static void items_sync_spools(struct deliver_item *items, size_t n)
{
	int *fds = xcalloc(n, sizeof(*fds)), *errs = xcalloc(n, sizeof(*errs));
	size_t *which = xcalloc(n, sizeof(*which)), k = 0;

	for (size_t i = 0; i < n; i++) {
		if (items[i].result == 0) {
			which[k] = i;
			fds[k++] = items[i].sp->fd;
		}
	}
	if (k > 0)
		sync_all(fds, errs, k);
	for (size_t j = 0; j < k; j++) {
		struct deliver_item *item = &items[which[j]];
		if (errs[j] != 0)
			item_fail(item, errs[j], errfmt("%s: fsync: %s",
						       item->sp->path, strerror(errs[j])));
	}
	free(fds);
	free(errs);
	free(which);
}

/* Phase 2, for an item with other files: make them (after the local
 * links, so a failure takes those back too). */
static void item_place_extra(struct deliver_item *item)
{
	const char *error = "cannot place the message";

	item->extra = (struct deliver_extra){ .fd = -1 };
	errno = 0;
	if (item->place_extra(item, item->extra_arg, &item->extra, &error) < 0) {
		item_fail(item, errno != 0 ? errno : EIO, error);
		return;
	}
	item->extra_placed = true;
}

/* The extra files' fds of the items still in, into fds[] from index k;
 * which[] tells the item of each. */
static size_t extra_fds(struct deliver_item *items, size_t n, int *fds,
			size_t *which, size_t k)
{
	for (size_t i = 0; i < n; i++) {
		if (items[i].result == 0 && items[i].extra_placed && items[i].extra.fd >= 0) {
			which[k] = i;
			fds[k++] = items[i].extra.fd;
		}
	}
	return k;
}

/* Phase 3: each folder that got a name, once, and the items' extra files,
 * all at the same time. */
static void dirs_sync(struct dir_set *set, struct deliver_item *items, size_t n,
		      const char **error_r)
{
	size_t cap = set->n + n, k = set->n;
	int *fds = xcalloc(cap, sizeof(*fds)), *errs = xcalloc(cap, sizeof(*errs));
	size_t *which = xcalloc(cap, sizeof(*which));

	for (size_t d = 0; d < set->n; d++) {
		fds[d] = open(set->dirs[d], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[d] < 0) {
			set->failed[d] = errno != 0 ? errno : EIO;
			*error_r = errfmt("%s: %s", set->dirs[d], strerror(errno));
		}
	}
	k = extra_fds(items, n, fds, which, k);
	/* Open ones only: a failed open is -1, whose "sync" fails at once. */
	if (k > 0)
		sync_all(fds, errs, k);
	for (size_t d = 0; d < set->n; d++) {
		if (fds[d] >= 0 && errs[d] != 0) {
			set->failed[d] = errs[d];
			*error_r = errfmt("%s: fsync: %s", set->dirs[d], strerror(errs[d]));
		}
		if (fds[d] >= 0)
			close(fds[d]);
	}
	for (size_t j = set->n; j < k; j++) {
		if (errs[j] != 0)
			item_fail(&items[which[j]], errs[j],
				  errfmt("%s: fsync: %s", items[which[j]].extra.names[0],
					 strerror(errs[j])));
	}
	free(fds);
	free(errs);
	free(which);
}


void deliver_commit_batch(struct deliver_item *items, size_t n,
			  const char *data_dir)
{
	struct dir_set set = { 0 };
	const char *error = NULL;

	items_sync_spools(items, n);
	for (size_t i = 0; i < n; i++) {
		items[i].extra_placed = false;
		if (items[i].result == 0)
			item_place(&items[i], data_dir);
		if (items[i].result == 0 && items[i].place_extra != NULL)
			item_place_extra(&items[i]);
		item_dirs(&items[i], &set, NULL);
	}
	/* The new names are durable only once their folders are synced: each
	 * folder once for the whole batch. */
	dirs_sync(&set, items, n, &error);
	if (error != NULL)
		items_check_dirs(items, n, &set, error);
	for (size_t i = 0; i < n; i++) {
		/* each durable copy grows its mailbox's quota usage (maildirsize) */
		for (size_t a = 0; items[i].result == 0 && a < items[i].n_addresses; a++) {
			char *maildir = mailbox_path(data_dir, items[i].addresses[a]);
			maildir_quota_add(maildir, (int64_t)items[i].sp->size, 1);
			free(maildir);
		}
		for (size_t j = 0; j < items[i].n_placed; j++) {
			if (items[i].result < 0)
				unlink(items[i].placed[j]);
			free(items[i].placed[j]);
		}
		x_free(&items[i].placed);
		items[i].n_placed = 0;
	}
	for (size_t d = 0; d < set.n; d++)
		free(set.dirs[d]);
	free(set.dirs);
	free(set.failed);
}

int deliver_commit(struct spool *sp, const char *data_dir,
		   char *const *addresses, size_t n_addresses,
		   const char **error_r)
{
	struct deliver_item item = {
		.sp = sp, .addresses = addresses, .n_addresses = n_addresses,
	};

	deliver_commit_batch(&item, 1, data_dir);
	if (item.result < 0)
		*error_r = errfmt("%s", item.error);
	return item.result;
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
