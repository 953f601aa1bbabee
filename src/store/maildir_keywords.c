/* maildir_keywords.c — IMAP keywords as Dovecot stores them in a Maildir.
 *
 * File "dovecot-keywords" in the folder: one "<index> <name>" line per
 * keyword; index i is the letter 'a' + i in the info part of file names.
 * Readers need no lock (the file is replaced atomically); a new keyword is
 * added under the folder lock. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 26 names of at most MAILDIR_KEYWORD_LEN_MAX bytes fit easily. */
#define MAILDIR_KEYWORDS_FILE_MAX 65536

bool maildir_keyword_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MAILDIR_KEYWORD_LEN_MAX)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		/* RFC 3501 9: atom-specials, plus '\' (system flags) and ']'. */
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
}

void maildir_keywords_free(struct maildir_keywords *kw)
{
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		x_free(&kw->names[i]);
}

int maildir_keywords_read(struct maildir_folder *folder,
			  struct maildir_keywords *kw_r, const char **error_r)
{
	char *path = fs_join(folder->path, MAILDIR_KEYWORDS_NAME), *data = NULL;
	char *save = NULL;
	size_t len;
	int ret = 0;

	memset(kw_r, 0, sizeof(*kw_r));
	if (fs_exists(path) &&
	    fs_read_file(path, MAILDIR_KEYWORDS_FILE_MAX, &data, &len, error_r) < 0)
		ret = -1;
	for (char *line = data == NULL ? NULL : strtok_r(data, "\n", &save);
	     line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		uint64_t i;
		if (sp == NULL)
			continue;
		*sp = '\0';
		/* Lines we cannot use are skipped, never fatal. */
		if (!str_to_u64(line, MAILDIR_KEYWORDS_MAX - 1, &i) ||
		    !maildir_keyword_valid(sp + 1) || kw_r->names[i] != NULL)
			continue;
		kw_r->names[i] = xstrdup(sp + 1);
	}
	free(data);
	free(path);
	return ret;
}

static int keywords_write(struct maildir_folder *folder,
			  const struct maildir_keywords *kw, const char **error_r)
{
	char *path = fs_join(folder->path, MAILDIR_KEYWORDS_NAME);
	struct buf b = { 0 };

	buf_append(&b, "", 0);
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (kw->names[i] != NULL)
			buf_printf(&b, "%zu %s\n", i, kw->names[i]);
	}
	int ret = fs_write_atomic(path, b.data, b.len, 0600, error_r);
	buf_free(&b);
	free(path);
	return ret;
}

/* Find name in kw: its index, or -1. */
static int find_keyword(const struct maildir_keywords *kw, const char *name)
{
	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (kw->names[i] != NULL && strcasecmp(kw->names[i], name) == 0)
			return i;
	}
	return -1;
}

int maildir_keyword_index(struct maildir_folder *folder, const char *name,
			  bool create, unsigned *index_r, const char **error_r)
{
	struct maildir_keywords kw;
	int lock_fd = -1, ret = -1, err, i;

	if (!maildir_keyword_valid(name)) {
		*error_r = "invalid keyword";
		errno = EINVAL;
		return -1;
	}
	memset(&kw, 0, sizeof(kw));
	if ((create && maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false,
				    &lock_fd, error_r) < 0) ||
	    maildir_keywords_read(folder, &kw, error_r) < 0)
		goto out;
	i = find_keyword(&kw, name);
	if (i < 0 && !create) {
		*error_r = errfmt("no such keyword: %s", name);
		errno = ENOENT;
		goto out;
	}
	for (int j = 0; i < 0 && j < MAILDIR_KEYWORDS_MAX; j++) {
		if (kw.names[j] == NULL) {
			kw.names[j] = xstrdup(name);
			if (keywords_write(folder, &kw, error_r) < 0)
				goto out;
			i = j;
		}
	}
	if (i < 0) {
		*error_r = "no keyword letters left (Maildir has 26)";
		errno = ENOSPC;
		goto out;
	}
	*index_r = (unsigned)i;
	ret = 0;
out:
	err = errno;
	maildir_unlock(&lock_fd);
	maildir_keywords_free(&kw);
	errno = err;
	return ret;
}
