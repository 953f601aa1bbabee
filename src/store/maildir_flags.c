/* maildir_flags.c — the info part of Maildir file names and flag changes.
 *
 * A file in cur/ is "<basename>:2,<letters>", letters in ASCII order:
 * D draft, F flagged, P passed, R replied, S seen, T trashed. Other letters
 * (Dovecot keywords a-z, anything a reader invented) are kept as they are.
 * A name without ":2," has no flags. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file renamed again and again under us by another program: give up
 * after this many attempts to follow it. */
#define MAILDIR_RENAME_ATTEMPTS 5

static const struct {
	char letter;
	unsigned flag;
} flag_letters[] = {
	{ 'D', MAILDIR_FLAG_DRAFT },
	{ 'F', MAILDIR_FLAG_FLAGGED },
	{ 'P', MAILDIR_FLAG_PASSED },
	{ 'R', MAILDIR_FLAG_ANSWERED },
	{ 'S', MAILDIR_FLAG_SEEN },
	{ 'T', MAILDIR_FLAG_DELETED },
};

static unsigned letter_flag(char c)
{
	for (size_t i = 0; i < N_ELEMENTS(flag_letters); i++) {
		if (flag_letters[i].letter == c)
			return flag_letters[i].flag;
	}
	return 0;
}

size_t maildir_basename_len(const char *filename)
{
	return strcspn(filename, ":");
}

/* The letters after ":2," in filename, or NULL when it has none. */
static const char *info_letters(const char *filename)
{
	const char *info = strchr(filename, ':');
	if (info == NULL || strncmp(info + 1, "2,", 2) != 0)
		return NULL;
	return info + 3;
}

unsigned maildir_flags_from_filename(const char *filename)
{
	const char *letters = info_letters(filename);
	unsigned flags = 0;

	for (; letters != NULL && *letters != '\0'; letters++)
		flags |= letter_flag(*letters);
	return flags;
}

char *maildir_filename_with_flags(const char *filename, unsigned flags,
				  bool keep_keywords)
{
	bool present[256] = { false };
	const char *letters = info_letters(filename);
	struct buf out = { 0 };

	for (; letters != NULL && *letters != '\0'; letters++) {
		unsigned char c = (unsigned char)*letters;
		if (letter_flag((char)c) != 0 || c == ',' || c == ':')
			continue;
		if (islower(c) && !keep_keywords)
			continue;
		present[c] = true;
	}
	for (size_t i = 0; i < N_ELEMENTS(flag_letters); i++) {
		if ((flags & flag_letters[i].flag) != 0)
			present[(unsigned char)flag_letters[i].letter] = true;
	}
	buf_append(&out, filename, maildir_basename_len(filename));
	buf_append(&out, ":2,", 3);
	for (unsigned c = 1; c < 256; c++) {
		if (present[c]) {
			char ch = (char)c;
			buf_append(&out, &ch, 1);
		}
	}
	return out.data;
}

bool maildir_basename_field(const char *basename, char key, uint64_t *value_r)
{
	char pattern[4] = { ',', key, '=', '\0' };
	const char *p = strstr(basename, pattern);
	uint64_t v = 0;

	if (p == NULL)
		return false;
	p += 3;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0' && *p != ',' && *p != ':')
		return false;
	*value_r = v;
	return true;
}

static unsigned apply_op(enum maildir_flags_op op, unsigned old, unsigned flags)
{
	switch (op) {
	case MAILDIR_FLAGS_ADD:
		return old | flags;
	case MAILDIR_FLAGS_REMOVE:
		return old & ~flags;
	case MAILDIR_FLAGS_REPLACE:
		break;
	}
	return flags;
}

/* Rename the file of msg (currently *name in cur/) to carry the flags op
 * asks for; follows it by basename when renamed under us. Caller holds
 * the folder lock. */
static int rename_flags(struct maildir_folder *folder, struct maildir_msg *msg,
			char **name, enum maildir_flags_op op, unsigned flags,
			const char **error_r)
{
	char *cur = fs_join(folder->path, "cur");
	int ret = -1, err = 0;

	for (int attempt = 0; attempt < MAILDIR_RENAME_ATTEMPTS; attempt++) {
		unsigned want = apply_op(op, maildir_flags_from_filename(*name), flags);
		char *target = maildir_filename_with_flags(*name, want, true);
		char *from = fs_join(cur, *name), *to = fs_join(cur, target);
		/* Nothing to change still needs the file to be there under
		 * this name: else the change applies to its current one. */
		struct stat st;
		int r = strcmp(*name, target) == 0 ? lstat(from, &st) :
			rename(from, to);
		err = errno;
		free(from);
		free(to);
		if (r == 0) {
			free(*name);
			*name = target;
			ret = 0;
			break;
		}
		free(target);
		if (err != ENOENT) {
			*error_r = errfmt("%s/%s: rename: %s", cur, *name, strerror(err));
			break;
		}
		free(*name);
		*name = maildir_find_basename(folder->path, msg->basename);
		if (*name == NULL) {
			*error_r = errfmt("message %u was expunged", msg->uid);
			break;
		}
	}
	if (ret < 0 && err == ENOENT && *name != NULL) {
		*error_r = errfmt("message %u: renamed too often", msg->uid);
		err = EBUSY;
	}
	free(cur);
	errno = err;
	return ret;
}

int maildir_msg_set_flags(struct maildir_folder *folder, struct maildir_msg *msg,
			  enum maildir_flags_op op, unsigned flags,
			  const char **error_r)
{
	char *name = xstrdup(msg->filename);
	int lock_fd = -1, ret, err;

	flags &= MAILDIR_FLAGS_ALL;
	/* Under the folder lock so that a concurrent sync of ours never sees
	 * the file half-way (neither name) and forgets its UID. */
	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0) {
		free(name);
		return -1;
	}
	ret = rename_flags(folder, msg, &name, op, flags, error_r);
	err = errno;
	maildir_unlock(&lock_fd);
	if (ret == 0) {
		free(msg->filename);
		msg->filename = name;
		msg->flags = maildir_flags_from_filename(name);
	} else {
		free(name);
	}
	errno = err;
	return ret;
}
