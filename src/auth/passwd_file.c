/* passwd_file.c — locked, atomic edits of the passwd file.
 *
 * An edit holds an exclusive flock on passwd.lock from begin to free, reads
 * the current file, changes only the lines naming the user (every other
 * line — comments, other users, lines we could not parse — stays byte for
 * byte), and replaces the file by rename. Concurrent writers queue on the
 * lock, so none loses another's update; readers never see half a file. */
#include "auth/passwd.h"
#include "auth/passwd_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "store/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new passwd file: only its owner (the server's user) reads the hashes. */
#define PASSWD_NEW_MODE 0600
/* A rewrite keeps the old mode, less group write and anything for others. */
#define PASSWD_MODE_KEEP 0640

struct edit_line {
	char *text;           /* without '\n'; may hold a '\r' or NUL bytes */
	size_t len;
	char *key;            /* lower-cased user field; NULL for comments */
};

struct passwd_edit {
	char *path;
	int lock_fd;
	mode_t mode;          /* of the file we write */
	bool chown;           /* chown the new file to uid:gid */
	uid_t uid;
	gid_t gid;
	struct edit_line *lines;
	size_t count, cap;
};

static void line_append(struct passwd_edit *edit, const char *text, size_t len)
{
	if (edit->count == edit->cap) {
		edit->cap = edit->cap ? edit->cap * 2 : 32;
		edit->lines = xrealloc(edit->lines, edit->cap * sizeof(*edit->lines));
	}
	struct edit_line *l = &edit->lines[edit->count++];
	l->text = xmalloc(len + 1);
	memcpy(l->text, text, len);
	l->text[len] = '\0';
	l->len = len;
	l->key = NULL;
	if (!passwd_line_is_comment(text, len)) {
		size_t ulen = passwd_line_user_len(text, len);
		l->key = xstrndup(text, ulen);
		str_lower(l->key);
	}
}

static int lock_open(struct passwd_edit *edit, const struct passwd_owner *owner,
		     const char **error_r)
{
	char *lock_path = xasprintf("%s%s", edit->path, PASSWD_LOCK_SUFFIX);
	int ret = -1;

	edit->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			     0600);
	if (edit->lock_fd < 0) {
		*error_r = errfmt("%s: %s", lock_path, strerror(errno));
		goto out;
	}
	if (owner != NULL && owner->set &&
	    fchown(edit->lock_fd, owner->uid, owner->gid) < 0) {
		*error_r = errfmt("%s: chown: %s", lock_path, strerror(errno));
		goto out;
	}
	while ((ret = flock(edit->lock_fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (ret < 0)
		*error_r = errfmt("%s: flock: %s", lock_path, strerror(errno));
out:
	free(lock_path);
	return ret;
}

/* Read the file into lines and decide the mode and owner of its successor. */
static int file_read(struct passwd_edit *edit, const struct passwd_owner *owner,
		     const char **error_r)
{
	struct stat st;
	char *data;
	size_t len;

	edit->mode = PASSWD_NEW_MODE;
	if (owner != NULL && owner->set) {
		edit->chown = true;
		edit->uid = owner->uid;
		edit->gid = owner->gid;
	}
	if (stat(edit->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = errfmt("%s: %s", edit->path, strerror(errno));
		return -1;
	}
	edit->mode = st.st_mode & PASSWD_MODE_KEEP;
	if (!edit->chown && geteuid() == 0) {
		/* root rewriting: the file stays whose it was. */
		edit->chown = true;
		edit->uid = st.st_uid;
		edit->gid = st.st_gid;
	}
	if (fs_read_file(edit->path, PASSWD_FILE_MAX, &data, &len, error_r) < 0)
		return -1;
	const char *pos = data, *line;
	size_t line_len;
	while (passwd_line_next(&pos, data + len, &line, &line_len))
		line_append(edit, line, line_len);
	free(data);
	return 0;
}

int passwd_edit_begin(const char *path, const struct passwd_owner *owner,
		      struct passwd_edit **edit_r, const char **error_r)
{
	struct passwd_edit *edit = xcalloc(1, sizeof(*edit));

	edit->path = xstrdup(path);
	edit->lock_fd = -1;
	if (lock_open(edit, owner, error_r) < 0 ||
	    file_read(edit, owner, error_r) < 0) {
		passwd_edit_free(&edit);
		return -1;
	}
	*edit_r = edit;
	return 0;
}

static bool line_names(const struct edit_line *l, const char *address)
{
	return l->key != NULL && strcasecmp(l->key, address) == 0;
}

bool passwd_edit_has(const struct passwd_edit *edit, const char *address)
{
	for (size_t i = 0; i < edit->count; i++) {
		if (line_names(&edit->lines[i], address))
			return true;
	}
	return false;
}

int passwd_edit_add(struct passwd_edit *edit, const char *address,
		    const char *hash, const char **error_r)
{
	if (passwd_edit_has(edit, address)) {
		*error_r = errfmt("%s: user already exists in %s", address,
				  edit->path);
		return -1;
	}
	char *line = xasprintf("%s:{CRYPT}%s", address, hash);
	line_append(edit, line, strlen(line));
	free(line);
	return 0;
}

/* "user:{CRYPT}hash" followed by whatever came after the password field. */
static void line_set_hash(struct edit_line *l, const char *hash)
{
	size_t len = passwd_line_trim_cr(l->text, l->len);
	size_t ulen = passwd_line_user_len(l->text, len);
	const char *rest = "";
	size_t rest_len = 0;

	if (ulen < len) {
		const char *field = l->text + ulen + 1;
		size_t flen = passwd_line_user_len(field, len - ulen - 1);
		rest = field + flen;
		rest_len = len - ulen - 1 - flen;
	}
	char *text = xasprintf("%.*s:{CRYPT}%s%.*s", (int)ulen, l->text, hash,
			       (int)rest_len, rest);
	free(l->text);
	l->text = text;
	l->len = strlen(text);
}

int passwd_edit_set_hash(struct passwd_edit *edit, const char *address,
			 const char *hash, const char **error_r)
{
	bool found = false;

	for (size_t i = 0; i < edit->count; i++) {
		if (line_names(&edit->lines[i], address)) {
			line_set_hash(&edit->lines[i], hash);
			found = true;
		}
	}
	if (!found) {
		*error_r = errfmt("%s: no such user in %s", address, edit->path);
		return -1;
	}
	return 0;
}

int passwd_edit_delete(struct passwd_edit *edit, const char *address,
		       const char **error_r)
{
	size_t out = 0;

	for (size_t i = 0; i < edit->count; i++) {
		struct edit_line *l = &edit->lines[i];
		if (line_names(l, address)) {
			free(l->text);
			free(l->key);
			continue;
		}
		edit->lines[out++] = *l;
	}
	if (out == edit->count) {
		*error_r = errfmt("%s: no such user in %s", address, edit->path);
		return -1;
	}
	edit->count = out;
	return 0;
}

/* Give tmp its final owner durably, before it takes the file's place, so a
 * reader never meets a passwd it may not open. */
static int tmp_chown(const struct passwd_edit *edit, const char *tmp,
		     const char **error_r)
{
	int fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fchown(fd, edit->uid, edit->gid) < 0 ||
	    fchmod(fd, edit->mode) < 0 || fsync(fd) < 0) {
		*error_r = errfmt("%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int passwd_edit_commit(struct passwd_edit *edit, const char **error_r)
{
	char *tmp = xasprintf("%s%s", edit->path, PASSWD_TMP_SUFFIX);
	char *dir = fs_dirname(edit->path);
	struct buf b = { 0 };
	int ret = -1;

	for (size_t i = 0; i < edit->count; i++) {
		buf_append(&b, edit->lines[i].text, edit->lines[i].len);
		buf_append(&b, "\n", 1);
	}
	/* A temp file left by a crash: ours to replace, we hold the lock. */
	(void)unlink(tmp);
	if (fs_write_new(tmp, b.data != NULL ? b.data : "", b.len, edit->mode,
			 error_r) < 0)
		goto out;
	if (edit->chown && tmp_chown(edit, tmp, error_r) < 0)
		goto fail;
	if (rename(tmp, edit->path) < 0) {
		*error_r = errfmt("%s: %s", edit->path, strerror(errno));
		goto fail;
	}
	ret = fs_fsync_dir(dir, error_r);
	goto out;
fail:
	(void)unlink(tmp);
out:
	buf_free(&b);
	free(dir);
	free(tmp);
	return ret;
}

void passwd_edit_free(struct passwd_edit **editp)
{
	struct passwd_edit *edit = *editp;

	if (edit == NULL)
		return;
	if (edit->lock_fd >= 0)
		close(edit->lock_fd);
	for (size_t i = 0; i < edit->count; i++) {
		free(edit->lines[i].text);
		free(edit->lines[i].key);
	}
	free(edit->lines);
	free(edit->path);
	x_free(editp);
}
