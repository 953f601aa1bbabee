/* maildir_uidlist.c — the per-folder UID list: read, import, append, rewrite.
 *
 * File "sealpost-uidlist" in the folder:
 *   sealpost-uidlist 1 V<uidvalidity> N<nextuid>
 *   <uid> S<size> W<vsize> T<internal date> :<basename>
 *   ...
 * UIDs ascend line by line. New UIDs are appended (one write, fsync'd); a
 * removal rewrites the file atomically (temp, fsync, rename, fsync folder).
 * The next UID is the larger of N and the last UID + 1, since appends do not
 * touch the header. Unknown fields are ignored; a final line without '\n'
 * (a torn append) is ignored and the file rewritten at the next change.
 * Everything here runs with the folder lock held. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define UIDLIST_MAGIC "sealpost-uidlist"
#define UIDLIST_VERSION "1"

void uidlist_free(struct uidlist *ul)
{
	for (size_t i = 0; i < ul->count; i++)
		free(ul->entries[i].basename);
	x_free(&ul->entries);
	ul->count = ul->cap = ul->persisted = 0;
}

static struct uidlist_entry *uidlist_push(struct uidlist *ul, uint32_t uid,
					  const char *basename, size_t len)
{
	if (ul->count == ul->cap) {
		ul->cap = ul->cap ? ul->cap * 2 : 64;
		ul->entries = xrealloc(ul->entries, ul->cap * sizeof(*ul->entries));
	}
	struct uidlist_entry *e = &ul->entries[ul->count++];
	memset(e, 0, sizeof(*e));
	e->uid = uid;
	e->basename = xstrndup(basename, len);
	return e;
}

static bool parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*v_r = v;
	return true;
}

/* One entry line (without '\n'): "<uid> [<key><value> ...] :<basename>",
 * or with plain_name (Courier/Dovecot version 1) "<uid> <filename>". */
static bool parse_entry(struct uidlist *ul, const char *line, size_t len,
			bool plain_name)
{
	const char *end = line + len, *p = memchr(line, ' ', len), *name;
	uint64_t uid, v;

	if (p == NULL || !parse_u64(line, (size_t)(p - line), UINT32_MAX, &uid) ||
	    uid == 0 || (ul->count > 0 && uid <= ul->entries[ul->count - 1].uid))
		return false;
	const char *fields = ++p;
	if (plain_name) {
		name = p;
	} else {
		while (p < end && *p != ':') {
			const char *sp = memchr(p, ' ', (size_t)(end - p));
			p = sp == NULL ? end : sp + 1;
		}
		if (p >= end)
			return false;
		name = p + 1;
	}
	size_t name_len = strcspn(name, ":\n");
	if (name_len == 0 || name + name_len > end ||
	    memchr(name, '/', name_len) != NULL)
		return false;
	struct uidlist_entry *e = uidlist_push(ul, (uint32_t)uid, name, name_len);
	for (p = fields; !plain_name && p < name - 1; ) {
		const char *sp = memchr(p, ' ', (size_t)(name - 1 - p));
		size_t flen = (size_t)((sp == NULL ? name - 1 : sp) - p);
		if (flen > 1 && parse_u64(p + 1, flen - 1, INT64_MAX, &v)) {
			if (*p == 'S') {
				e->size = v;
				e->has_size = true;
			} else if (*p == 'W') {
				e->vsize = v;
				e->has_vsize = true;
			} else if (*p == 'T') {
				e->date = (int64_t)v;
				e->has_date = true;
			}
		}
		p = sp == NULL ? name : sp + 1;
	}
	return true;
}

/* Header fields "V<n>" and "N<n>" anywhere after the version. */
static bool parse_header_fields(struct uidlist *ul, char *const *tok, size_t n)
{
	uint64_t v;
	for (size_t i = 0; i < n; i++) {
		if (tok[i][0] == 'V' && str_to_u64(tok[i] + 1, UINT32_MAX, &v))
			ul->uidvalidity = (uint32_t)v;
		else if (tok[i][0] == 'N' && str_to_u64(tok[i] + 1, UINT32_MAX, &v))
			ul->nextuid = (uint32_t)v;
	}
	return ul->uidvalidity != 0;
}

/* Split the first line of data into at most max blank-separated tokens
 * (in place); returns the count and sets *rest_r after the line. */
static size_t split_header(char *data, char **tok, size_t max, char **rest_r)
{
	char *nl = strchr(data, '\n'), *save = NULL;
	size_t n = 0;

	if (nl == NULL)
		return 0;
	*nl = '\0';
	*rest_r = nl + 1;
	for (char *t = strtok_r(data, " \t", &save); t != NULL && n < max;
	     t = strtok_r(NULL, " \t", &save))
		tok[n++] = t;
	return n;
}

/* Parse a whole file (ours, or Dovecot's when dovecot). false = corrupt. */
static bool parse_file(struct uidlist *ul, char *data, bool dovecot)
{
	char *tok[16], *rest = NULL;
	size_t n = split_header(data, tok, N_ELEMENTS(tok), &rest);
	bool plain = false, ok;
	uint64_t v;

	if (!dovecot) {
		ok = n >= 2 && strcmp(tok[0], UIDLIST_MAGIC) == 0 &&
			strcmp(tok[1], UIDLIST_VERSION) == 0 &&
			parse_header_fields(ul, tok + 2, n - 2);
	} else if (n >= 1 && strcmp(tok[0], "3") == 0) {
		ok = parse_header_fields(ul, tok + 1, n - 1);
	} else if (n == 3 && strcmp(tok[0], "1") == 0 &&
		   str_to_u64(tok[1], UINT32_MAX, &v) && v != 0) {
		/* Version 1 (Courier's format): "1 <uidvalidity> <nextuid>". */
		ul->uidvalidity = (uint32_t)v;
		ok = str_to_u64(tok[2], UINT32_MAX, &v);
		ul->nextuid = (uint32_t)v;
		plain = true;
	} else {
		ok = false;
	}
	while (ok && *rest != '\0') {
		char *nl = strchr(rest, '\n');
		if (nl == NULL) {
			/* A torn last append: never acknowledged, forget it. */
			ul->rewrite = true;
			break;
		}
		ok = parse_entry(ul, rest, (size_t)(nl - rest), plain);
		rest = nl + 1;
	}
	if (ok && ul->count > 0 && ul->nextuid <= ul->entries[ul->count - 1].uid)
		ul->nextuid = ul->entries[ul->count - 1].uid + 1;
	if (ok && ul->nextuid == 0)
		ul->nextuid = 1;
	return ok;
}

/* Read file name of folder into ul. 1 = read, 0 = no such file, -1 error;
 * a corrupt file counts as read but sets *corrupt_r. */
static int read_one(struct maildir_folder *folder, const char *name,
		    struct uidlist *ul, bool *corrupt_r, const char **error_r)
{
	char *path = fs_join(folder->path, name), *data = NULL;
	size_t len;
	int ret = 1;

	*corrupt_r = false;
	if (!fs_exists(path)) {
		ret = 0;
	} else if (fs_read_file(path, MAILDIR_UIDLIST_MAX, &data, &len,
				error_r) < 0) {
		ret = -1;
	} else if (strlen(data) != len ||
		   !parse_file(ul, data, strcmp(name, MAILDIR_UIDLIST_NAME) != 0)) {
		*corrupt_r = true;
	}
	free(data);
	free(path);
	return ret;
}

static void uidlist_reset(struct uidlist *ul)
{
	uidlist_free(ul);
	ul->nextuid = 1;
	ul->exists = false;
	ul->rewrite = true;
}

int uidlist_read(struct maildir_folder *folder, struct uidlist *ul,
		 const char **error_r)
{
	bool corrupt;
	uint32_t old_validity;

	memset(ul, 0, sizeof(*ul));
	int ret = read_one(folder, MAILDIR_UIDLIST_NAME, ul, &corrupt, error_r);
	if (ret < 0)
		return -1;
	if (ret > 0 && !corrupt) {
		ul->exists = true;
		ul->persisted = ul->count;
		return 0;
	}
	old_validity = ul->uidvalidity;
	if (ret > 0) {
		/* Our UIDs cannot be trusted any more: start again under a
		 * new UIDVALIDITY, as RFC 3501 2.3.1.1 requires. */
		log_error("maildir uidlist-corrupt file=%s/%s action=new-uidvalidity",
			  folder->path, MAILDIR_UIDLIST_NAME);
	} else {
		/* None yet: a Maildir that Dovecot served keeps its UIDs. */
		uidlist_reset(ul);
		ret = read_one(folder, MAILDIR_DOVECOT_UIDLIST_NAME, ul, &corrupt,
			       error_r);
		if (ret > 0 && !corrupt) {
			ul->exists = false;
			ul->rewrite = true;
			return 0;
		}
	}
	uidlist_reset(ul);
	if (uidlist_new_uidvalidity(folder->root, &ul->uidvalidity, error_r) < 0)
		return -1;
	if (ul->uidvalidity <= old_validity && old_validity < UINT32_MAX)
		ul->uidvalidity = old_validity + 1;
	return 0;
}

int uidlist_add(struct uidlist *ul, const char *basename, uint64_t size,
		uint64_t vsize, int64_t date, uint32_t *uid_r,
		const char **error_r)
{
	if (ul->nextuid == UINT32_MAX) {
		*error_r = "UIDs exhausted in this folder";
		errno = EOVERFLOW;
		return -1;
	}
	struct uidlist_entry *e = uidlist_push(ul, ul->nextuid++, basename,
					       strlen(basename));
	e->size = size;
	e->vsize = vsize;
	e->date = date;
	e->has_size = e->has_vsize = e->has_date = true;
	if (uid_r != NULL)
		*uid_r = e->uid;
	return 0;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

size_t uidlist_remove_uids(struct uidlist *ul, uint32_t *uids, size_t n)
{
	size_t out = 0;

	qsort(uids, n, sizeof(*uids), cmp_uid);
	for (size_t i = 0; i < ul->count; i++) {
		struct uidlist_entry *e = &ul->entries[i];
		if (n > 0 && bsearch(&e->uid, uids, n, sizeof(*uids), cmp_uid)) {
			free(e->basename);
			continue;
		}
		ul->entries[out++] = *e;
	}
	size_t removed = ul->count - out;
	ul->count = out;
	if (removed > 0)
		ul->rewrite = true;
	return removed;
}

static void format_entry(struct buf *b, const struct uidlist_entry *e)
{
	buf_printf(b, "%" PRIu32, e->uid);
	if (e->has_size)
		buf_printf(b, " S%" PRIu64, e->size);
	if (e->has_vsize)
		buf_printf(b, " W%" PRIu64, e->vsize);
	if (e->has_date && e->date >= 0)
		buf_printf(b, " T%" PRId64, e->date);
	buf_printf(b, " :%s\n", e->basename);
}

static int append_entries(const char *path, struct uidlist *ul,
			  const char **error_r)
{
	struct buf b = { 0 };
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	int ret = -1;

	if (fd < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = ul->persisted; i < ul->count; i++)
		format_entry(&b, &ul->entries[i]);
	/* One write, so a crash leaves at most one torn final line. */
	if (fs_write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		*error_r = errfmt("%s: %s", path, strerror(errno));
	else
		ret = 0;
	close(fd);
	buf_free(&b);
	return ret;
}

int uidlist_write(struct maildir_folder *folder, struct uidlist *ul,
		  const char **error_r)
{
	char *path = fs_join(folder->path, MAILDIR_UIDLIST_NAME);
	int ret;

	if (ul->exists && !ul->rewrite) {
		ret = ul->persisted == ul->count ? 0 :
			append_entries(path, ul, error_r);
	} else {
		struct buf b = { 0 };
		buf_printf(&b, UIDLIST_MAGIC " " UIDLIST_VERSION " V%" PRIu32
			   " N%" PRIu32 "\n", ul->uidvalidity, ul->nextuid);
		for (size_t i = 0; i < ul->count; i++)
			format_entry(&b, &ul->entries[i]);
		ret = fs_write_atomic(path, b.data, b.len, 0600, error_r);
		buf_free(&b);
	}
	if (ret == 0) {
		ul->exists = true;
		ul->rewrite = false;
		ul->persisted = ul->count;
	}
	free(path);
	return ret;
}

int uidlist_new_uidvalidity(const char *root, uint32_t *uidvalidity_r,
			    const char **error_r)
{
	char buf[32], *path = fs_join(root, MAILDIR_UIDVALIDITY_NAME);
	int fd = -1, ret = -1;
	uint64_t last = 0;
	ssize_t n;

	/* The file is its own lock: the last lock taken, after any folder's. */
	if (maildir_lock(root, MAILDIR_UIDVALIDITY_NAME, false, &fd, error_r) < 0)
		goto out;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		if (!str_to_u64(str_trim(buf), UINT32_MAX, &last))
			last = 0;
	}
	uint64_t now = (uint64_t)time(NULL);
	uint64_t next = now > last ? now : last + 1;
	if (next > UINT32_MAX - 1 || next == 0) {
		*error_r = errfmt("%s: UIDVALIDITY values exhausted", path);
		goto out;
	}
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", next);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len ||
	    fsync(fd) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		goto out;
	}
	*uidvalidity_r = (uint32_t)next;
	ret = 0;
out:
	maildir_unlock(&fd);
	free(path);
	return ret;
}
