/* maildir_rename.c — RENAME of folders with their children, and of INBOX.
 *
 * A folder and its children are separate directories in Maildir++
 * (".A", ".A.x"): each is renamed on its own, under the folders lock and
 * with each folder's lock taken, and undone on failure. Renaming INBOX
 * (RFC 3501 6.3.5) moves its messages into a new folder instead. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The directories of folder dirent and of its children, sorted. */
static char **collect_tree(const char *root, const char *dirent,
			   size_t *count_r, const char **error_r)
{
	size_t len = strlen(dirent), n = 0;
	char **v = xcalloc(1, sizeof(*v));
	DIR *dir = opendir(root);
	struct dirent *d;

	if (dir == NULL) {
		*error_r = errfmt("%s: %s", root, strerror(errno));
		strv_free(&v);
		return NULL;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strncmp(d->d_name, dirent, len) != 0 ||
		    (d->d_name[len] != '\0' && d->d_name[len] != '.'))
			continue;
		char *path = fs_join(root, d->d_name);
		bool folder = maildir_is_dir(path);
		free(path);
		if (!folder)
			continue;
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = xstrdup(d->d_name);
		v[n] = NULL;
	}
	closedir(dir);
	*count_r = n;
	return v;
}

/* The new entry of each old one; EEXIST / EINVAL when one cannot be. */
static char **map_targets(const char *root, char **olds, size_t n,
			  const char *od, const char *nd, const char **error_r)
{
	char **targets = xcalloc(n + 1, sizeof(*targets));

	for (size_t i = 0; i < n; i++) {
		targets[i] = xasprintf("%s%s", nd, olds[i] + strlen(od));
		char *name = maildir_dirent_to_name(targets[i]);
		char *path = fs_join(root, targets[i]);
		bool exists = fs_exists(path);
		free(path);
		if (name == NULL || exists) {
			*error_r = exists ? errfmt("folder already exists: %s",
						   targets[i] + 1) :
				"the new name of a child folder is too long or deep";
			errno = exists ? EEXIST : EINVAL;
			free(name);
			strv_free(&targets);
			return NULL;
		}
		free(name);
	}
	return targets;
}

/* Rename root/olds[i] to root/targets[i] for all i, or none. */
static int rename_all(const char *root, char **olds, char **targets, size_t n,
		      const char **error_r)
{
	int *locks = xcalloc(n, sizeof(*locks)), ret = -1, err = 0;
	size_t done = 0;

	for (size_t i = 0; i < n; i++)
		locks[i] = -1;
	for (size_t i = 0; i < n; i++) {
		char *path = fs_join(root, olds[i]);
		int r = maildir_lock(path, MAILDIR_UIDLIST_LOCK_NAME, false,
				     &locks[i], error_r);
		free(path);
		if (r < 0)
			goto out;
	}
	for (; done < n; done++) {
		char *from = fs_join(root, olds[done]), *to = fs_join(root, targets[done]);
		int r = rename(from, to);
		err = errno;
		if (r < 0)
			*error_r = errfmt("%s: rename: %s", from, strerror(err));
		free(from);
		free(to);
		if (r < 0)
			goto undo;
	}
	ret = fs_fsync_dir(root, error_r);
	goto out;
undo:
	while (done-- > 0) {
		char *from = fs_join(root, targets[done]), *to = fs_join(root, olds[done]);
		if (rename(from, to) < 0)
			log_error("maildir rename-undo-failed from=%s to=%s "
				  "error=\"%s\"", from, to, strerror(errno));
		free(from);
		free(to);
	}
	errno = err;
out:
	err = errno;
	for (size_t i = 0; i < n; i++)
		maildir_unlock(&locks[i]);
	free(locks);
	errno = err;
	return ret;
}

static int rename_tree(const char *root, const char *old_name,
		       const char *new_name, const char **error_r)
{
	char *od = maildir_name_to_dirent(old_name);
	char *nd = maildir_name_to_dirent(new_name);
	char **olds = NULL, **targets = NULL;
	size_t n = 0;
	int ret = -1;

	olds = collect_tree(root, od, &n, error_r);
	if (olds == NULL)
		goto out;
	if (n == 0) {
		*error_r = errfmt("no such folder: %s", old_name);
		errno = ENOENT;
		goto out;
	}
	targets = map_targets(root, olds, n, od, nd, error_r);
	if (targets == NULL || maildir_make_parents(root, new_name, error_r) < 0)
		goto out;
	ret = rename_all(root, olds, targets, n, error_r);
out:;
	int err = errno;
	strv_free(&olds);
	strv_free(&targets);
	free(od);
	free(nd);
	errno = err;
	return ret;
}

/* Move every message of INBOX (locked, synced into snap) to target
 * (locked), giving them UIDs there; drop them from INBOX's uidlist. */
static int move_messages(struct maildir_folder *inbox,
			 const struct maildir_snapshot *snap,
			 struct maildir_folder *target, const char **error_r)
{
	struct uidlist *tul, *ul = inbox->ul;
	uint32_t *moved = xcalloc(snap->count + 1, sizeof(*moved));
	uint64_t tmodseq = 0, modseq = 0;
	size_t n = 0;
	int ret = -1;

	if (uidlist_load(target, &tul, error_r) < 0)
		goto out;
	for (size_t i = 0; i < snap->count; i++) {
		const struct maildir_msg *m = &snap->msgs[i];
		char *from = xasprintf("%s/cur/%s", inbox->path, m->filename);
		char *to = xasprintf("%s/cur/%s", target->path, m->filename);
		int r = rename(from, to), err = errno;
		if (r < 0 && err != ENOENT)
			*error_r = errfmt("%s: rename: %s", from, strerror(err));
		free(from);
		free(to);
		if (r < 0 && err != ENOENT)
			break;  /* persist what moved, then fail */
		if (r == 0 && uidlist_add(tul, m->basename, m->size, m->vsize,
					  (int64_t)m->internal_date, m->flags,
					  m->keywords,
					  uidlist_op_modseq(tul, &tmodseq), NULL,
					  error_r) < 0)
			break;
		moved[n++] = m->uid;
	}
	char *tcur = fs_join(target->path, "cur"), *icur = fs_join(inbox->path, "cur");
	bool all = n == snap->count;
	uidlist_remove_uids(ul, moved, n, &modseq);
	if (fs_fsync_dir(tcur, error_r) == 0 && fs_fsync_dir(icur, error_r) == 0 &&
	    uidlist_write(target, tul, error_r) == 0 &&
	    uidlist_write(inbox, ul, error_r) == 0)
		ret = all ? 0 : -1;
	free(tcur);
	free(icur);
out:
	free(moved);
	return ret;
}

static int rename_inbox(const char *root, const char *new_name,
			const char **error_r)
{
	struct maildir_folder *inbox = NULL, *target = NULL;
	struct maildir_snapshot *snap = NULL;
	int inbox_lock = -1, target_lock = -1, ret = -1;

	char *path = maildir_name_to_path(root, new_name);
	bool exists = fs_exists(path);
	free(path);
	if (exists) {
		*error_r = errfmt("folder already exists: %s", new_name);
		errno = EEXIST;
		return -1;
	}
	if (maildir_make_parents(root, new_name, error_r) < 0 ||
	    maildir_folder_make(root, new_name, error_r) < 0 ||
	    maildir_folder_open(root, "INBOX", &inbox, error_r) < 0 ||
	    maildir_folder_open(root, new_name, &target, error_r) < 0)
		goto out;
	/* Lock order: INBOX, then the (new) target. */
	if (maildir_lock(inbox->path, MAILDIR_UIDLIST_LOCK_NAME, false,
			 &inbox_lock, error_r) < 0 ||
	    maildir_lock(target->path, MAILDIR_UIDLIST_LOCK_NAME, false,
			 &target_lock, error_r) < 0 ||
	    maildir_sync_locked(inbox, &snap, error_r) < 0)
		goto out;
	ret = move_messages(inbox, snap, target, error_r);
out:;
	int err = errno;
	maildir_unlock(&target_lock);
	maildir_unlock(&inbox_lock);
	maildir_snapshot_free(&snap);
	maildir_folder_close(&inbox);
	maildir_folder_close(&target);
	errno = err;
	return ret;
}

int maildir_folder_rename(const char *root, const char *old_name,
			  const char *new_name, const char **error_r)
{
	char *o = maildir_name_normalize(old_name, error_r), *n = NULL;
	size_t olen;
	int lock_fd = -1, ret = -1;

	if (o == NULL || (n = maildir_name_normalize(new_name, error_r)) == NULL)
		goto out;
	olen = strlen(o);
	if (maildir_name_is_inbox(n) || strcmp(o, n) == 0) {
		*error_r = errfmt("folder already exists: %s", n);
		errno = EEXIST;
		goto out;
	}
	if (strncmp(n, o, olen) == 0 && n[olen] == MAILDIR_SEP &&
	    !maildir_name_is_inbox(o)) {
		*error_r = "cannot rename a folder into itself";
		errno = EINVAL;
		goto out;
	}
	if (maildir_lock(root, MAILDIR_FOLDERS_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		goto out;
	ret = maildir_name_is_inbox(o) ? rename_inbox(root, n, error_r) :
		rename_tree(root, o, n, error_r);
out:;
	int err = errno;
	maildir_unlock(&lock_fd);
	free(o);
	free(n);
	errno = err;
	return ret;
}
