/* maildir_copy.c — copy, expunge and move messages between folders; the
 * log of expunges (for QRESYNC).
 *
 * Copy: each message is hard-linked (or copied and fsync'd when a link is
 * impossible) into the destination's tmp/ without any lock, then all enter
 * cur/ and get their UIDs in one critical section (maildir_enter_cur()). */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Follow a source file renamed under us this many times. */
#define MAILDIR_COPY_ATTEMPTS 5
#define MAILDIR_COPY_CHUNK 65536

/* Copy src to a new file dst, fsync'd, with mtime date. */
static int copy_file(const char *src, const char *dst, time_t date,
		     const char **error_r)
{
	struct timespec times[2] = { { date, 0 }, { date, 0 } };
	char *chunk = NULL;
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	int out = -1, err;
	ssize_t n;

	if (in < 0) {
		err = errno;
		*error_r = errfmt("%s: %s", src, strerror(err));
		errno = err;
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto fail;
	chunk = xmalloc(MAILDIR_COPY_CHUNK);
	while ((n = read(in, chunk, MAILDIR_COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || fs_write_all(out, chunk, (size_t)n) < 0)
			goto fail;
	}
	if (futimens(out, times) < 0 || fsync(out) < 0 || close(out) < 0) {
		out = -1;
		goto fail;
	}
	free(chunk);
	close(in);
	return 0;
fail:
	err = errno;
	*error_r = errfmt("copying %s: %s", src, strerror(err));
	free(chunk);
	if (out >= 0)
		close(out);
	unlink(dst);
	close(in);
	errno = err;
	return -1;
}

/* Put a link to (or copy of) msg's file at tmp_path, following the file by
 * basename when it was renamed. ENOENT: the message is gone. */
static int link_msg(struct maildir_folder *src, struct maildir_msg *msg,
		    const char *tmp_path, const char **error_r)
{
	for (int attempt = 0; attempt < MAILDIR_COPY_ATTEMPTS; attempt++) {
		char *path = maildir_msg_path(src, msg);
		int r = link(path, tmp_path), err = errno;
		if (r < 0 && (err == EXDEV || err == EPERM || err == EMLINK ||
			      err == ENOTSUP || err == EOPNOTSUPP)) {
			r = copy_file(path, tmp_path, msg->internal_date, error_r);
			err = errno;
		} else if (r < 0) {
			*error_r = errfmt("%s: link: %s", path, strerror(err));
		}
		free(path);
		if (r == 0 || err != ENOENT) {
			errno = err;
			return r;
		}
		if (!maildir_msg_refind(src, msg))
			break;
	}
	*error_r = errfmt("message %" PRIu32 " was expunged", msg->uid);
	errno = ENOENT;
	return -1;
}

/* map[i]: the keyword bit in dst of src's keyword letter i (0: dropped,
 * as a letter src has no name for, or one dst has no room for). */
static int map_keywords(struct maildir_folder *src,
			struct maildir_msg *const *msgs, size_t count,
			struct maildir_folder *dst, uint32_t *map,
			const char **error_r)
{
	struct maildir_keywords kw;
	uint32_t used = 0;
	unsigned index;
	int ret = 0;

	for (size_t i = 0; i < count; i++)
		used |= msgs[i]->keywords;
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		map[i] = strcmp(src->path, dst->path) == 0 ? 1u << i : 0;
	if (used == 0 || strcmp(src->path, dst->path) == 0)
		return 0;
	if (maildir_keywords_read(src, &kw, error_r) < 0)
		return -1;
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX && ret == 0; i++) {
		if ((used & (1u << i)) == 0 || kw.names[i] == NULL)
			continue;
		ret = maildir_keyword_index(dst, kw.names[i], true, &index, error_r);
		if (ret == 0)
			map[i] = 1u << index;
		else if (errno == ENOSPC)
			ret = 0;
	}
	maildir_keywords_free(&kw);
	return ret;
}

static uint32_t mapped_keywords(uint32_t keywords, const uint32_t *map)
{
	uint32_t out = 0;
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if ((keywords & (1u << i)) != 0)
			out |= map[i];
	}
	return out;
}

int maildir_copy(struct maildir_folder *src, struct maildir_msg *const *msgs,
		 size_t count, struct maildir_folder *dst, uint32_t *uids_r,
		 const char **error_r)
{
	struct maildir_entering *in = xcalloc(count, sizeof(*in));
	char **tmp_paths = xcalloc(count + 1, sizeof(*tmp_paths));
	uint32_t map[MAILDIR_KEYWORDS_MAX];
	size_t made = 0;
	int ret = -1, err = 0;

	if (map_keywords(src, msgs, count, dst, map, error_r) < 0)
		goto out;
	for (; made < count; made++) {
		const struct maildir_msg *m = msgs[made];
		char *base = maildir_new_basename_sw(m->size, m->vsize);
		/* Flags travel as letters, keywords by name. */
		char *with = maildir_filename_with(m->filename, m->flags,
						   mapped_keywords(m->keywords, map));
		in[made].filename = xasprintf("%s%s", base,
					      with + maildir_basename_len(with));
		tmp_paths[made] = xasprintf("%s/tmp/%s", dst->path, base);
		in[made].tmp_path = tmp_paths[made];
		in[made].size = m->size;
		in[made].vsize = m->vsize;
		in[made].date = (int64_t)m->internal_date;
		free(base);
		free(with);
		if (link_msg(src, msgs[made], tmp_paths[made], error_r) < 0) {
			free(tmp_paths[made]);
			tmp_paths[made] = NULL;
			goto out;
		}
	}
	if (count > 0 && maildir_enter_cur(dst, in, count, uids_r, NULL, error_r) < 0)
		goto out;
	made = 0;  /* all left tmp/ */
	ret = 0;
out:
	err = errno;
	for (size_t i = 0; i < count; i++) {
		if (i < made && tmp_paths[i] != NULL)
			unlink(tmp_paths[i]);
		free(tmp_paths[i]);
		free(in[i].filename);
	}
	free(tmp_paths);
	free(in);
	errno = err;
	return ret;
}

/* Unlink msg's file, found by basename when renamed or moved from new/ to
 * cur/. *in_new_r is set when a file in new/ was unlinked. */
static int unlink_msg(struct maildir_folder *folder, struct maildir_msg *msg,
		      bool *in_new_r, bool *removed_r, const char **error_r)
{
	*removed_r = false;
	for (int attempt = 0; attempt < MAILDIR_COPY_ATTEMPTS; attempt++) {
		char *path = maildir_msg_path(folder, msg);
		int r = unlink(path), err = errno;
		if (r == 0 || err != ENOENT) {
			if (r < 0)
				*error_r = errfmt("%s: unlink: %s", path, strerror(err));
			else if (msg->in_new)
				*in_new_r = true;
			*removed_r = r == 0;
			free(path);
			errno = err;
			return r;
		}
		free(path);
		if (!maildir_msg_refind(folder, msg))
			return 0;  /* already expunged by someone else */
	}
	*error_r = errfmt("message %" PRIu32 ": renamed too often", msg->uid);
	errno = EBUSY;
	return -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* fsync the folder's sub directory (cur or new). */
static int fsync_sub(const struct maildir_folder *folder, const char *sub,
		     const char **error_r)
{
	char *path = fs_join(folder->path, sub);
	int r = fs_fsync_dir(path, error_r);
	free(path);
	return r;
}

int maildir_expunge(struct maildir_folder *folder,
		    struct maildir_msg *const *msgs, size_t count,
		    const char **error_r)
{
	struct uidlist *ul;
	uint32_t *uids = xcalloc(count + 1, sizeof(*uids));
	uint64_t modseq = 0;
	bool from_new = false;
	int lock_fd = -1, ret = -1, err;
	uint64_t bytes = 0, n_removed = 0;

	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		goto out;
	/* Files first: a crash before the uidlist is rewritten only leaves
	 * entries the next sync drops. The other order could resurrect. */
	for (size_t i = 0; i < count; i++) {
		bool removed;
		int rc = unlink_msg(folder, msgs[i], &from_new, &removed, error_r);
		if (removed) {
			bytes += msgs[i]->size;
			n_removed++;
		}
		if (rc < 0)
			goto out;
		uids[i] = msgs[i]->uid;
	}
	if (fsync_sub(folder, "cur", error_r) < 0 ||
	    (from_new && fsync_sub(folder, "new", error_r) < 0))
		goto out;
	if (uidlist_load(folder, &ul, error_r) < 0)
		goto out;
	uidlist_remove_uids(ul, uids, count, &modseq);
	if (uidlist_write(folder, ul, error_r) < 0)
		goto out;
	ret = 0;
out:
	err = errno;
	/* what is gone is gone, whatever failed after */
	if (n_removed > 0)
		maildir_quota_add(folder->root, -(int64_t)bytes, -(int64_t)n_removed);
	maildir_unlock(&lock_fd);
	free(uids);
	errno = err;
	return ret;
}

int maildir_move(struct maildir_folder *src, struct maildir_msg *const *msgs,
		 size_t count, struct maildir_folder *dst, uint32_t *uids_r,
		 const char **error_r)
{
	if (maildir_copy(src, msgs, count, dst, uids_r, error_r) < 0)
		return -1;
	return maildir_expunge(src, msgs, count, error_r);
}

int maildir_expunged_since(struct maildir_folder *folder, uint64_t modseq,
			   uint32_t **uids_r, size_t *count_r, bool *complete_r,
			   const char **error_r)
{
	struct uidlist *ul;
	uint32_t *uids = NULL;
	size_t n = 0;
	int lock_fd = -1, ret = -1, err;

	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		return -1;
	if (uidlist_load(folder, &ul, error_r) < 0 ||
	    uidlist_write(folder, ul, error_r) < 0)     /* a new list */
		goto out;
	uids = xcalloc(ul->exp_end - ul->exp_start + 1, sizeof(*uids));
	for (size_t i = ul->exp_start; i < ul->exp_end; i++) {
		if (ul->expunged[i].modseq > modseq)
			uids[n++] = ul->expunged[i].uid;
	}
	qsort(uids, n, sizeof(*uids), cmp_u32);
	*complete_r = modseq >= ul->vanished_since;
	ret = 0;
out:
	err = errno;
	maildir_unlock(&lock_fd);
	if (ret < 0) {
		free(uids);
		uids = NULL;
		n = 0;
	}
	*uids_r = uids;
	*count_r = n;
	errno = err;
	return ret;
}
