/* fsutil.c — durable file operations. */
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_read_file(const char *path, size_t max, char **data_r, size_t *len_r,
		 const char **error_r)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = errfmt("%s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		*error_r = errfmt("%s: file is too large (%lld bytes, at most %zu)",
				  path, (long long)st.st_size, max);
		goto fail;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = errfmt("%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	close(fd);
	*data_r = data;
	*len_r = len;
	return 0;
fail:
	free(data);
	close(fd);
	return -1;
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_new(const char *path, const void *data, size_t len, mode_t mode,
		 const char **error_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	/* open() applies the umask; the caller's mode is what we promise. */
	if (fchmod(fd, mode) < 0 || fs_write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int fs_fsync_dir(const char *dir, const char **error_r)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = errfmt("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (fsync(fd) < 0 && errno != EINVAL) {
		*error_r = errfmt("%s: fsync: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    const char **error_r)
{
	char *dir = fs_dirname(path);
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	int ret = -1;

	unlink(tmp);
	if (fs_write_new(tmp, data, len, mode, error_r) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = fs_fsync_dir(dir, error_r);
out:
	free(dir);
	free(tmp);
	return ret;
}

int fs_mkdir_p(const char *path, mode_t mode, const char **error_r)
{
	char *copy = xstrdup(path);
	int ret = 0;

	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			*error_r = errfmt("%s: %s", copy, strerror(errno));
			ret = -1;
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return ret;
}

bool fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

char *fs_join(const char *dir, const char *name)
{
	if (name[0] == '/' || dir == NULL || dir[0] == '\0')
		return xstrdup(name);
	size_t n = strlen(dir);
	return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

void fs_close_all_except(const int *keep, size_t n)
{
	int *k = xcalloc(n + 1, sizeof(*k));
	unsigned from = 3;

	memcpy(k, keep, n * sizeof(*k));
	qsort(k, n, sizeof(*k), int_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k[i] < (int)from)
			continue;
		if ((unsigned)k[i] > from)
			close_range(from, (unsigned)k[i] - 1, 0);
		from = (unsigned)k[i] + 1;
	}
	close_range(from, ~0u, 0);
	free(k);
}

int fs_tmpfile(const char *dir, const char **error_r)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		*error_r = errfmt("%s: scratch file: %s", dir, strerror(errno));
		return -1;
	}
	/* a file system without O_TMPFILE */
	char *path = xasprintf("%s/.scratch.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		*error_r = errfmt("%s: %s", path, strerror(errno));
	else
		unlink(path);
	free(path);
	return fd;
}
