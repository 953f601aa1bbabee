/* maildir_status.c — STATUS counts without taking \Recent.
 *
 * A sync moves new/ to cur/, and whoever moves a message is the one
 * session that sees it \Recent. STATUS must not be that session (RFC 3501
 * 6.3.10: STATUS does not change \Recent), so it syncs cur/ alone and
 * counts new/ as it stands, all under the folder lock so that no sealpost
 * sync moves files between the two looks. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* Count the messages of new/ (and those of them without 'S' in an info
 * part, which a delivering program may have written). A folder without new/
 * has none. */
static int count_new(const char *path, uint32_t *count_r, uint32_t *unseen_r,
		     const char **error_r)
{
	char *new_dir = fs_join(path, "new");
	DIR *dir = opendir(new_dir);
	struct dirent *d;
	struct stat st;
	uint32_t n = 0, unseen = 0;

	if (dir == NULL && errno != ENOENT) {
		*error_r = errfmt("%s: %s", new_dir, strerror(errno));
		free(new_dir);
		return -1;
	}
	while (dir != NULL && (d = readdir(dir)) != NULL) {
		if (!maildir_message_name(d->d_name, d->d_type))
			continue;
		if (d->d_type != DT_REG &&
		    (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		     !S_ISREG(st.st_mode)))
			continue;
		n++;
		if (!(maildir_flags_from_filename(d->d_name) & MAILDIR_FLAG_SEEN))
			unseen++;
	}
	if (dir != NULL)
		closedir(dir);
	free(new_dir);
	*count_r = n;
	*unseen_r = unseen;
	return 0;
}

int maildir_status(struct maildir_folder *folder, struct maildir_status *st_r,
		   const char **error_r)
{
	struct maildir_snapshot *snap = NULL;
	struct uidlist ul;
	uint32_t n_new = 0, new_unseen = 0;
	int lock_fd = -1, ret = -1, err;

	memset(&ul, 0, sizeof(ul));
	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		return -1;
	if (maildir_sync_locked_keep_new(folder, &ul, &snap, error_r) < 0 ||
	    count_new(folder->path, &n_new, &new_unseen, error_r) < 0)
		goto out;
	memset(st_r, 0, sizeof(*st_r));
	st_r->uidvalidity = snap->uidvalidity;
	st_r->messages = (uint32_t)snap->count + n_new;
	st_r->recent = n_new;
	st_r->unseen = new_unseen;
	for (size_t i = 0; i < snap->count; i++) {
		if (!(snap->msgs[i].flags & MAILDIR_FLAG_SEEN))
			st_r->unseen++;
	}
	/* new/ takes the next UIDs at the next sync; UIDs end at 2^32-1. */
	uint64_t next = (uint64_t)snap->uidnext + n_new;
	st_r->uidnext = next > UINT32_MAX ? UINT32_MAX : (uint32_t)next;
	ret = 0;
out:
	err = errno;
	maildir_unlock(&lock_fd);
	uidlist_free(&ul);
	maildir_snapshot_free(&snap);
	errno = err;
	return ret;
}
