/* file_watch.c — inotify on a file's folder, counting events about it. */
#include "lib/file_watch.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* File systems whose files may change on another host, unseen by inotify. */
static const unsigned long remote_fs[] = {
	0x6969,         /* NFS */
	0x517B,         /* SMB */
	0xFF534D42,     /* CIFS */
	0xFE534D42,     /* SMB2 */
	0x65735546,     /* FUSE */
	0x00C36400,     /* Ceph */
	0x5346414F,     /* AFS */
	0x01021997,     /* 9P */
	0x01161970,     /* GFS2 */
	0x7461636F,     /* OCFS2 */
	0x0BD00BD0,     /* Lustre */
	0x47504653,     /* GPFS */
	0x786F4256,     /* vboxsf */
};

/* What happens to a name in the folder that can change the file. */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
		    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
		    IN_MOVE_SELF | IN_ONLYDIR)

struct file_watch {
	int fd;                     /* inotify, non-blocking; -1: gone */
	char *dir;                  /* the folder as the owner names it */
	dev_t dir_dev;              /* ...and the one watched */
	ino_t dir_ino;
	char name[NAME_MAX + 1];    /* the file's name in its folder */
	uint64_t events;
	bool unchanged;
	struct timespec confirmed;  /* CLOCK_MONOTONIC_COARSE */
};

struct file_watch *file_watch_new(const char *path, const char **why_r)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".") :
		    slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	const char *name = slash == NULL ? path : slash + 1;
	struct statfs fs;
	struct stat st;
	struct file_watch *w = NULL;

	if (strlen(name) == 0 || strlen(name) > NAME_MAX) {
		*why_r = "not a file name";
		goto out;
	}
	if (statfs(dir, &fs) < 0 || stat(dir, &st) < 0) {
		*why_r = errfmt("%s: %s", dir, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < N_ELEMENTS(remote_fs); i++) {
		if ((unsigned long)fs.f_type == remote_fs[i]) {
			*why_r = errfmt("%s: a network file system", dir);
			goto out;
		}
	}
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		*why_r = errfmt("inotify: %s", strerror(errno));
		goto out;
	}
	if (inotify_add_watch(fd, dir, WATCH_MASK) < 0) {
		*why_r = errfmt("inotify on %s: %s", dir, strerror(errno));
		close(fd);
		goto out;
	}
	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->dir = dir;
	dir = NULL;
	w->dir_dev = st.st_dev;
	w->dir_ino = st.st_ino;
	strlcpy_sp(w->name, name, sizeof(w->name));
out:
	free(dir);
	return w;
}

void file_watch_free(struct file_watch **wp)
{
	struct file_watch *w = *wp;

	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	x_free(wp);
}

/* The watch is of no more use (its folder gone, an unexpected error). */
static void watch_end(struct file_watch *w)
{
	close(w->fd);
	w->fd = -1;
	w->unchanged = false;
}

/* Count what the kernel queued. */
static void drain(struct file_watch *w)
{
	char buf[FILE_WATCH_READ_SIZE]
		__attribute__((aligned(__alignof__(struct inotify_event))));

	while (w->fd >= 0) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			watch_end(w);
			return;
		}
		for (ssize_t off = 0; off < n; ) {
			const struct inotify_event *ev = (const void *)(buf + off);
			/* Nameless: the folder itself, or a lost queue. */
			if (ev->len == 0 || strcmp(ev->name, w->name) == 0) {
				w->events++;
				w->unchanged = false;
			}
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				watch_end(w);
				return;
			}
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	}
}

static int64_t ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

bool file_watch_unchanged(struct file_watch *w)
{
	if (w == NULL)
		return false;
	drain(w);
	if (w->unchanged && ms_since(&w->confirmed) >= FILE_WATCH_TRUST_MS)
		w->unchanged = false;
	return w->unchanged;
}

uint64_t file_watch_mark(struct file_watch *w)
{
	if (w == NULL)
		return 0;
	drain(w);
	return w->events;
}

bool file_watch_plain(const struct file_watch *w, const char *path)
{
	struct statx stx;
	struct stat dir;

	/* The folder's name still leads to the folder watched (not another
	 * one mounted over it, or a symlink on the way pointed elsewhere). */
	if (w == NULL || stat(w->dir, &dir) < 0 ||
	    dir.st_dev != w->dir_dev || dir.st_ino != w->dir_ino)
		return false;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_NLINK,
		  &stx) < 0)
		return errno == ENOENT;
	/* A file bind-mounted over the name (a container's single-file
	 * volume) changes through its other path, unseen here; a kernel that
	 * cannot tell mount roots (before 5.8) is not trusted either. */
	if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return false;
	return S_ISREG(stx.stx_mode) && stx.stx_nlink == 1;
}

void file_watch_confirm(struct file_watch *w, uint64_t mark, bool plain)
{
	if (w == NULL)
		return;
	drain(w);
	if (w->fd >= 0 && plain && mark == w->events) {
		w->unchanged = true;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &w->confirmed);
	}
}
