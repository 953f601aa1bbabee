/* fsutil.h — durable file operations: read, atomic write, directory fsync. */
#ifndef SEALPOST_FSUTIL_H
#define SEALPOST_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read a whole regular file of at most max bytes. On success *data_r is a
 * newly allocated, NUL-terminated buffer owned by the caller. */
int fs_read_file(const char *path, size_t max, char **data_r, size_t *len_r,
		 const char **error_r);

/* Write all of data to fd, retrying on EINTR and short writes. */
int fs_write_all(int fd, const void *data, size_t len);

/* Create a file exclusively at path with mode, write data, fsync, close.
 * Nothing is left behind on failure. */
int fs_write_new(const char *path, const void *data, size_t len, mode_t mode,
		 const char **error_r);

/* Atomically replace path: temp file in the same folder, fsync, rename,
 * fsync the folder. Readers see the old file or the new one, never half. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    const char **error_r);

/* fsync the folder holding path (or path itself when it is a folder). */
int fs_fsync_dir(const char *dir, const char **error_r);

/* mkdir -p with mode for each created component. */
int fs_mkdir_p(const char *path, mode_t mode, const char **error_r);

bool fs_exists(const char *path);

/* Close every descriptor above 2 but those in keep (a child forked from a
 * process that holds more than it should hand on). */
void fs_close_all_except(const int *keep, size_t n);

/* A scratch file in dir that has no name (O_TMPFILE; else made with
 * mkstemp and unlinked at once): read/write, mode 0600, gone when its
 * last descriptor closes. -1 with *error_r. */
int fs_tmpfile(const char *dir, const char **error_r);

/* "dir/name" in a new string; name is returned as-is when absolute. */
char *fs_join(const char *dir, const char *name);
/* Folder part of path ("." when none), new string. */
char *fs_dirname(const char *path);

#endif
