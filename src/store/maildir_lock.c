/* maildir_lock.c — flock() on lock files, and the POP3 session lock.
 *
 * flock() locks belong to the open file description, so a lock file opened
 * per operation excludes other threads of this process as well as other
 * processes (fcntl() locks would not exclude threads). The lock files stay
 * in place; only the lock comes and goes, so there is nothing stale to clean
 * after a crash: the kernel drops the lock with the process. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int maildir_lock(const char *dir, const char *name, bool nonblock, int *fd_r,
		 const char **error_r)
{
	char *path = fs_join(dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		      0600);
	int err;

	if (fd < 0) {
		err = errno;
		*error_r = errfmt("%s: %s", path, strerror(err));
		goto fail;
	}
	while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
		err = errno;
		if (err == EINTR)
			continue;
		*error_r = err == EWOULDBLOCK ?
			errfmt("%s: in use by another session", path) :
			errfmt("%s: flock: %s", path, strerror(err));
		close(fd);
		goto fail;
	}
	free(path);
	*fd_r = fd;
	return 0;
fail:
	free(path);
	errno = err;
	return -1;
}

void maildir_unlock(int *fd)
{
	if (*fd < 0)
		return;
	/* close() drops the flock; no explicit LOCK_UN needed. */
	close(*fd);
	*fd = -1;
}

int maildir_session_lock(const char *root, int *fd_r, const char **error_r)
{
	if (maildir_lock(root, MAILDIR_POP3_LOCK_NAME, true, fd_r, error_r) < 0) {
		int err = errno;
		if (err == EWOULDBLOCK)
			*error_r = "mailbox is in use by another session";
		errno = err;
		return -1;
	}
	return 0;
}

void maildir_session_unlock(int *fd)
{
	maildir_unlock(fd);
}
