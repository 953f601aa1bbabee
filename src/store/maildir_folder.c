/* maildir_folder.c — the folder tree: open, list, create, delete, rename.
 *
 * Folder-tree changes hold the root's folders lock, so they are serialised
 * among sealpost sessions; each directory appears and disappears by one
 * rename(), so other programs never see a half-made or half-removed
 * folder. */
#include "store/maildir_private.h"
#include "store/mailbox.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How deep maildir_remove_tree() goes: folder/cur/file is 2; other
 * programs' control folders may add a level or two. */
#define MAILDIR_REMOVE_DEPTH 6

bool maildir_is_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int maildir_folder_open(const char *root, const char *name,
			struct maildir_folder **folder_r, const char **error_r)
{
	char *norm = maildir_name_normalize(name, error_r);
	if (norm == NULL)
		return -1;
	char *path = maildir_name_to_path(root, norm);
	char *cur = fs_join(path, "cur");
	/* A folder is a real directory, never a symlink (as listed). */
	bool exists = maildir_is_dir(cur) &&
		(maildir_name_is_inbox(norm) || maildir_is_dir(path));
	free(cur);
	if (!exists) {
		*error_r = errfmt("no such folder: %s", norm);
		free(norm);
		free(path);
		errno = ENOENT;
		return -1;
	}
	struct maildir_folder *f = xcalloc(1, sizeof(*f));
	f->root = xstrdup(root);
	f->name = norm;
	f->path = path;
	*folder_r = f;
	return 0;
}

void maildir_folder_close(struct maildir_folder **folder)
{
	if (*folder == NULL)
		return;
	free((*folder)->root);
	free((*folder)->name);
	free((*folder)->path);
	uidlist_free(&(*folder)->ul);
	x_free(folder);
}

const char *maildir_folder_path(const struct maildir_folder *folder)
{
	return folder->path;
}

/* ---- listing ------------------------------------------------------------- */

static int cmp_info(const void *a, const void *b)
{
	const struct maildir_folder_info *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct info_list {
	struct maildir_folder_info *v;
	size_t count, cap;
};

static void info_add(struct info_list *l, char *name, unsigned flags)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->count++] = (struct maildir_folder_info){ .name = name,
							 .flags = flags };
}

static struct maildir_folder_info *info_find(const struct info_list *l,
					     const char *name)
{
	struct maildir_folder_info key = { .name = (char *)name };
	return bsearch(&key, l->v, l->count, sizeof(*l->v), cmp_info);
}

/* Read the folders on disk (INBOX included) into l, unsorted. */
static int read_folders(const char *root, struct info_list *l,
			const char **error_r)
{
	DIR *dir = opendir(root);
	struct dirent *d;

	if (dir == NULL) {
		*error_r = errfmt("%s: %s", root, strerror(errno));
		return -1;
	}
	info_add(l, xstrdup("INBOX"), 0);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.' || (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN))
			continue;
		char *name = maildir_dirent_to_name(d->d_name);
		char *path = name == NULL ? NULL : fs_join(root, d->d_name);
		if (name != NULL && maildir_is_dir(path))
			info_add(l, name, 0);
		else
			free(name);
		free(path);
	}
	closedir(dir);
	return 0;
}

/* Add the missing parents of every folder as NOSELECT, then sort. */
static void add_parents(struct info_list *l)
{
	size_t n = l->count;

	qsort(l->v, l->count, sizeof(*l->v), cmp_info);
	for (size_t i = 0; i < n; i++) {
		for (char *p = strchr(l->v[i].name, MAILDIR_SEP); p != NULL;
		     p = strchr(p + 1, MAILDIR_SEP)) {
			char *parent = xstrndup(l->v[i].name, (size_t)(p - l->v[i].name));
			struct info_list sorted = { l->v, n, n };
			if (info_find(&sorted, parent) != NULL) {
				free(parent);
				continue;
			}
			info_add(l, parent, MAILDIR_LIST_NOSELECT);
		}
	}
	qsort(l->v, l->count, sizeof(*l->v), cmp_info);
	size_t out = 0;
	for (size_t i = 0; i < l->count; i++) {
		if (out > 0 && strcmp(l->v[out - 1].name, l->v[i].name) == 0) {
			free(l->v[i].name);
			continue;
		}
		l->v[out++] = l->v[i];
	}
	l->count = out;
}

/* Does any name in l (sorted) start with name + "/"? Names sharing a
 * prefix are adjacent in sorted order: look where name + "/" would go. */
static bool has_child(const struct info_list *l, const char *name)
{
	struct maildir_folder_info key = { .name = xasprintf("%s%c", name,
							     MAILDIR_SEP) };
	size_t lo = 0, hi = l->count, len = strlen(key.name);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_info(&l->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	bool found = lo < l->count && strncmp(l->v[lo].name, key.name, len) == 0;
	free(key.name);
	return found;
}

static const char *special_use_of(const char *name)
{
	for (size_t i = 0; i < mailbox_specials_count; i++) {
		if (strcmp(mailbox_specials[i].name, name) == 0)
			return mailbox_specials[i].special_use;
	}
	return NULL;
}

int maildir_folder_list(const char *root, struct maildir_folder_info **list_r,
			size_t *count_r, const char **error_r)
{
	struct info_list l = { 0 };

	if (read_folders(root, &l, error_r) < 0) {
		maildir_folder_list_free(&l.v, l.count);
		return -1;
	}
	add_parents(&l);
	for (size_t i = 0; i < l.count; i++) {
		l.v[i].flags |= has_child(&l, l.v[i].name) ?
			MAILDIR_LIST_HAS_CHILDREN : MAILDIR_LIST_HAS_NO_CHILDREN;
		l.v[i].special_use = special_use_of(l.v[i].name);
	}
	*list_r = l.v;
	*count_r = l.count;
	return 0;
}

void maildir_folder_list_free(struct maildir_folder_info **list, size_t count)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free((*list)[i].name);
	x_free(list);
}

/* ---- create ------------------------------------------------------------ */

/* A hidden, unique path under root for a folder being built or removed. */
static char *hidden_path(const char *root, const char *what)
{
	char unique[MAILDIR_BASENAME_SIZE];
	if (maildir_unique_name(unique, sizeof(unique)) < 0)
		abort();  /* our buffer, our bug */
	return xasprintf("%s/" MAILDIR_HIDDEN_PREFIX "%s.%s", root, what, unique);
}

static int make_marker(const char *dir, const char **error_r)
{
	char *marker = fs_join(dir, MAILDIR_FOLDER_MARKER);
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int err = errno;
		*error_r = errfmt("%s: %s", marker, strerror(err));
		free(marker);
		errno = err;
		return -1;
	}
	close(fd);
	free(marker);
	return fs_fsync_dir(dir, error_r);
}

int maildir_folder_make(const char *root, const char *name,
			const char **error_r)
{
	char *final = maildir_name_to_path(root, name);
	char *tmp = hidden_path(root, "new");
	int ret = -1, err;

	if (fs_exists(final)) {
		*error_r = errfmt("folder already exists: %s", name);
		errno = EEXIST;
		goto out;
	}
	if (maildir_create(tmp, error_r) < 0 || make_marker(tmp, error_r) < 0)
		goto fail;
	/* rename() would replace an empty directory: keep the check above
	 * under the folders lock, and treat a late arrival as existing. */
	if (rename(tmp, final) < 0) {
		err = errno;
		*error_r = err == ENOTEMPTY || err == EEXIST ?
			errfmt("folder already exists: %s", name) :
			errfmt("%s: rename: %s", final, strerror(err));
		errno = err == ENOTEMPTY ? EEXIST : err;
		goto fail;
	}
	ret = fs_fsync_dir(root, error_r);
	goto out;
fail:
	err = errno;
	const char *ignored;
	maildir_remove_tree(tmp, &ignored);
	errno = err;
out:
	free(final);
	free(tmp);
	return ret;
}

/* Create every missing parent of name ("A" and "A/B" for "A/B/C"). */
int maildir_make_parents(const char *root, const char *name,
			 const char **error_r)
{
	for (const char *p = strchr(name, MAILDIR_SEP); p != NULL;
	     p = strchr(p + 1, MAILDIR_SEP)) {
		char *parent = xstrndup(name, (size_t)(p - name));
		int r = maildir_name_is_inbox(parent) ? 0 :
			maildir_folder_make(root, parent, error_r);
		free(parent);
		if (r < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

int maildir_folder_create(const char *root, const char *name,
			  const char **error_r)
{
	char *copy = xstrdup(name), *norm = NULL;
	size_t len = strlen(copy);
	int lock_fd = -1, ret = -1, err;

	/* RFC 3501 6.3.3: a trailing separator only declares the intent to
	 * create children. */
	if (len > 1 && copy[len - 1] == MAILDIR_SEP)
		copy[len - 1] = '\0';
	norm = maildir_name_normalize(copy, error_r);
	if (norm == NULL)
		goto out;
	if (maildir_name_is_inbox(norm)) {
		*error_r = "INBOX already exists";
		errno = EEXIST;
		goto out;
	}
	if (maildir_lock(root, MAILDIR_FOLDERS_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		goto out;
	if (maildir_make_parents(root, norm, error_r) == 0)
		ret = maildir_folder_make(root, norm, error_r);
out:
	err = errno;
	maildir_unlock(&lock_fd);
	free(copy);
	free(norm);
	errno = err;
	return ret;
}

/* ---- delete ------------------------------------------------------------ */

/* Unlink everything in directory fd, depth levels down. */
static int empty_dir(int fd, int depth)
{
	DIR *dir = fdopendir(fd);
	struct dirent *d;
	bool removed;
	int ret = 0;

	if (dir == NULL) {
		close(fd);
		return -1;
	}
	do {
		/* Removing while reading may skip entries: read again until a
		 * pass removes nothing. */
		removed = false;
		rewinddir(dir);
		while ((d = readdir(dir)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			if (unlinkat(fd, d->d_name, 0) == 0) {
				removed = true;
				continue;
			}
			if (errno != EISDIR || depth == 0) {
				ret = -1;
				continue;
			}
			int sub = openat(fd, d->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || empty_dir(sub, depth - 1) < 0 ||
			    unlinkat(fd, d->d_name, AT_REMOVEDIR) < 0)
				ret = -1;
			else
				removed = true;
		}
	} while (removed && ret == 0);
	closedir(dir);
	return ret;
}

int maildir_remove_tree(const char *path, const char **error_r)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || empty_dir(fd, MAILDIR_REMOVE_DEPTH) < 0 || rmdir(path) < 0) {
		*error_r = errfmt("%s: cannot remove: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

bool maildir_dirent_has_children(const char *root, const char *dirent)
{
	size_t len = strlen(dirent);
	DIR *dir = opendir(root);
	struct dirent *d;
	bool found = false;

	while (dir != NULL && !found && (d = readdir(dir)) != NULL)
		found = strncmp(d->d_name, dirent, len) == 0 && d->d_name[len] == '.';
	if (dir != NULL)
		closedir(dir);
	return found;
}

/* Move the folder at path out of sight and remove it. Caller holds the
 * folders lock; the folder lock waits for operations in progress. */
static int remove_folder(const char *root, const char *path,
			 const char **error_r)
{
	char *hidden = hidden_path(root, "deleted");
	int lock_fd = -1, ret = -1;

	if (maildir_lock(path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		goto out;
	if (rename(path, hidden) < 0) {
		*error_r = errfmt("%s: rename: %s", path, strerror(errno));
		goto out;
	}
	maildir_unlock(&lock_fd);
	if (fs_fsync_dir(root, error_r) < 0)
		goto out;
	ret = 0;
	/* The folder is gone for everyone; what follows is housekeeping. */
	const char *error;
	if (maildir_remove_tree(hidden, &error) < 0)
		log_warn("maildir delete-cleanup-failed error=\"%s\"", error);
out:
	maildir_unlock(&lock_fd);
	free(hidden);
	return ret;
}

int maildir_folder_delete(const char *root, const char *name,
			  const char **error_r)
{
	char *norm = maildir_name_normalize(name, error_r), *path = NULL;
	char *dirent = NULL;
	int lock_fd = -1, ret = -1, err;

	if (norm == NULL)
		return -1;
	if (maildir_name_is_inbox(norm)) {
		*error_r = "INBOX cannot be deleted";
		errno = EPERM;
		goto out;
	}
	if (maildir_lock(root, MAILDIR_FOLDERS_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		goto out;
	path = maildir_name_to_path(root, norm);
	dirent = maildir_name_to_dirent(norm);
	if (!maildir_is_dir(path)) {
		/* RFC 3501 6.3.4: deleting a \Noselect name with children is
		 * an error. */
		bool parent = maildir_dirent_has_children(root, dirent);
		*error_r = parent ?
			errfmt("%s has children and holds no messages", norm) :
			errfmt("no such folder: %s", norm);
		errno = parent ? EPERM : ENOENT;
		goto out;
	}
	ret = remove_folder(root, path, error_r);
	/* its messages no longer count: recount at the next look */
	maildir_quota_invalidate(root);
out:
	err = errno;
	maildir_unlock(&lock_fd);
	free(norm);
	free(path);
	free(dirent);
	errno = err;
	return ret;
}
