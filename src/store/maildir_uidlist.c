/* maildir_uidlist.c — the per-folder UID list: UIDs, mod-sequences, the
 * \Recent watermark and the log of expunges; read, import, append, compact.
 *
 * File "sealpost-uidlist" in the folder, version 2:
 *   sealpost-uidlist 2 V<uidvalidity> N<nextuid> G<gen> R<first recent uid>
 *       M<highest modseq> X<expunge log complete above>
 *   <uid> S<size> W<vsize> T<internal date> M<modseq> F<flags> :<basename>
 *   +<uid> M<modseq> F<flags>        the message's flags changed at modseq
 *   -<uid> M<modseq>                 the message was expunged at modseq
 *   R<uid>                           the first \Recent UID was raised
 * (the header is one line). F<flags> are the Maildir info letters of the
 * system flags and keywords (DFPRST, a-z). Lines are only ever appended
 * (one write per operation, fsync'd) until the file is compacted: rewritten
 * atomically (temp, fsync, rename, fsync folder) from the state it
 * describes, with a new G, once superseded lines outnumber live ones by
 * MAILDIR_UIDLIST_COMPACT_SLACK, or when it was damaged or in an old
 * format. The state is a pure function of the lines in order, so a handle
 * that read the file once only reads what was appended since: same inode,
 * larger size, same header line (a rewrite changes G). Entry UIDs ascend;
 * the next UID is the larger of N and the last UID + 1. Unknown fields are
 * ignored; a final line without '\n' (a torn append) is ignored and the
 * file rewritten at the next change.
 *
 * Version 1 (entries without M and F, no records, no R M X G) is read:
 * every message gets mod-sequence 1, the expunge log starts empty and
 * complete above 1, and the next write is a rewrite in version 2.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UIDLIST_MAGIC "sealpost-uidlist"
#define UIDLIST_VERSION "2"
#define UIDLIST_VERSION_OLD "1"
/* The mod-sequence of what a version 1 list or an import holds. */
#define UIDLIST_BASE_MODSEQ 1

/* ---- state ------------------------------------------------------------- */

static void state_clear(struct uidlist *ul)
{
	for (size_t i = 0; i < ul->count; i++)
		free(ul->entries[i].basename);
	x_free(&ul->entries);
	x_free(&ul->expunged);
	x_free(&ul->header);
	buf_free(&ul->pending);
	memset(ul, 0, sizeof(*ul));
}

void uidlist_free(struct uidlist **ul)
{
	if (*ul == NULL)
		return;
	state_clear(*ul);
	x_free(ul);
}

static void note_modseq(struct uidlist *ul, uint64_t modseq)
{
	if (modseq > ul->highest_modseq)
		ul->highest_modseq = modseq;
}

uint64_t uidlist_op_modseq(struct uidlist *ul, uint64_t *op_modseq)
{
	if (*op_modseq == 0)
		*op_modseq = ++ul->highest_modseq;
	return *op_modseq;
}

static struct uidlist_entry *entry_push(struct uidlist *ul, uint32_t uid,
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
	if (uid >= ul->nextuid)
		ul->nextuid = uid + 1;
	if (uid > ul->last_uid)
		ul->last_uid = uid;
	return e;
}

ssize_t uidlist_find(const struct uidlist *ul, uint32_t uid)
{
	size_t lo = 0, hi = ul->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ul->entries[mid].uid == uid)
			return (ssize_t)mid;
		if (ul->entries[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Remember uid as expunged at modseq; the oldest go beyond
 * MAILDIR_EXPUNGED_MAX, and the log is then complete from theirs on. */
static void log_expunge(struct uidlist *ul, uint32_t uid, uint64_t modseq)
{
	if (ul->exp_end == ul->exp_cap) {
		if (ul->exp_start > 0) {
			memmove(ul->expunged, ul->expunged + ul->exp_start,
				(ul->exp_end - ul->exp_start) * sizeof(*ul->expunged));
			ul->exp_end -= ul->exp_start;
			ul->exp_start = 0;
		}
		if (ul->exp_end == ul->exp_cap) {
			ul->exp_cap = ul->exp_cap ? ul->exp_cap * 2 : 64;
			ul->expunged = xrealloc(ul->expunged,
						ul->exp_cap * sizeof(*ul->expunged));
		}
	}
	ul->expunged[ul->exp_end].uid = uid;
	ul->expunged[ul->exp_end++].modseq = modseq;
	note_modseq(ul, modseq);
	while (ul->exp_end - ul->exp_start > MAILDIR_EXPUNGED_MAX) {
		uint64_t m = ul->expunged[ul->exp_start++].modseq;
		if (m > ul->vanished_since)
			ul->vanished_since = m;
	}
}

void uidlist_compact(struct uidlist *ul)
{
	size_t out = 0;
	for (size_t i = 0; i < ul->count; i++) {
		if (ul->entries[i].gone) {
			free(ul->entries[i].basename);
			continue;
		}
		ul->entries[out++] = ul->entries[i];
	}
	ul->count = out;
}

/* ---- the letters of F<flags> ---------------------------------------------- */

static void letters_parse(const char *s, size_t len, unsigned *flags_r,
			  uint32_t *keywords_r)
{
	char *info = xasprintf(":2,%.*s", (int)len, s);
	*flags_r = maildir_flags_from_filename(info);
	*keywords_r = maildir_keywords_from_filename(info);
	free(info);
}

static void letters_append(struct buf *b, unsigned flags, uint32_t keywords)
{
	char *info = maildir_filename_with("", flags, keywords);
	buf_printf(b, " F%s", info + 3);   /* after ":2," */
	free(info);
}

/* ---- parsing --------------------------------------------------------------- */

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

/* The next blank-separated token of [*p, end); false at the end. */
static bool next_token(const char **p, const char *end, const char **tok_r,
		       size_t *len_r)
{
	while (*p < end && **p == ' ')
		(*p)++;
	if (*p >= end)
		return false;
	*tok_r = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	*len_r = (size_t)(*p - *tok_r);
	return true;
}

/* The fields of an entry ("S14", "M7", "F" ...) between p and end. */
static void entry_fields(struct uidlist_entry *e, const char *p, const char *end)
{
	const char *tok;
	size_t len;
	uint64_t v;

	while (next_token(&p, end, &tok, &len)) {
		if (*tok == 'F') {
			letters_parse(tok + 1, len - 1, &e->flags, &e->keywords);
			e->has_flags = true;
			continue;
		}
		if (len < 2 || !parse_u64(tok + 1, len - 1, INT64_MAX, &v))
			continue;
		if (*tok == 'S') {
			e->size = v;
			e->has_size = true;
		} else if (*tok == 'W') {
			e->vsize = v;
			e->has_vsize = true;
		} else if (*tok == 'T') {
			e->date = (int64_t)v;
			e->has_date = true;
		} else if (*tok == 'M' && v > 0) {
			e->modseq = v;
		}
	}
}

/* One entry line (without '\n'): "<uid> [<key><value> ...] :<basename>",
 * or with plain_name (Courier/Dovecot version 1) "<uid> <filename>". */
static bool parse_entry(struct uidlist *ul, const char *line, size_t len,
			bool plain_name)
{
	const char *end = line + len, *p = memchr(line, ' ', len), *name;
	uint64_t uid;

	/* UIDs ascend, also past expunged (compacted) ones: never reused. */
	if (p == NULL || !parse_u64(line, (size_t)(p - line), UINT32_MAX, &uid) ||
	    uid == 0 || uid == UINT32_MAX || uid <= ul->last_uid)
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
	struct uidlist_entry *e = entry_push(ul, (uint32_t)uid, name, name_len);
	if (!plain_name)
		entry_fields(e, fields, name - 1);
	if (e->modseq == 0)
		e->modseq = UIDLIST_BASE_MODSEQ;
	note_modseq(ul, e->modseq);
	return true;
}

/* "<uid> M<modseq> [F<flags>]" after the '+' or '-' of a record. */
static bool parse_record(const char *p, const char *end, uint32_t *uid_r,
			 uint64_t *modseq_r, const char **flags_r,
			 size_t *flags_len_r)
{
	const char *tok;
	size_t len;
	uint64_t v;

	*modseq_r = 0;
	*flags_r = NULL;
	if (!next_token(&p, end, &tok, &len) ||
	    !parse_u64(tok, len, UINT32_MAX, &v) || v == 0)
		return false;
	*uid_r = (uint32_t)v;
	while (next_token(&p, end, &tok, &len)) {
		if (*tok == 'M' && parse_u64(tok + 1, len - 1, INT64_MAX, &v) && v > 0)
			*modseq_r = v;
		else if (*tok == 'F') {
			*flags_r = tok + 1;
			*flags_len_r = len - 1;
		}
	}
	return *modseq_r != 0;
}

static bool apply_flags_record(struct uidlist *ul, const char *p, const char *end)
{
	const char *letters;
	size_t letters_len = 0;
	uint32_t uid;
	uint64_t modseq;

	if (!parse_record(p, end, &uid, &modseq, &letters, &letters_len) ||
	    letters == NULL)
		return false;
	note_modseq(ul, modseq);
	ssize_t i = uidlist_find(ul, uid);
	if (i < 0 || ul->entries[i].gone)
		return true;    /* expunged since: nothing to change */
	struct uidlist_entry *e = &ul->entries[i];
	letters_parse(letters, letters_len, &e->flags, &e->keywords);
	e->has_flags = true;
	e->modseq = modseq;
	return true;
}

static bool apply_expunge_record(struct uidlist *ul, const char *p, const char *end)
{
	const char *letters;
	size_t letters_len;
	uint32_t uid;
	uint64_t modseq;

	if (!parse_record(p, end, &uid, &modseq, &letters, &letters_len))
		return false;
	ssize_t i = uidlist_find(ul, uid);
	if (i >= 0)
		ul->entries[i].gone = true;
	log_expunge(ul, uid, modseq);
	return true;
}

static bool apply_line(struct uidlist *ul, const char *line, size_t len,
		       bool plain)
{
	uint64_t v;

	if (len == 0)
		return false;
	switch (line[0]) {
	case '+':
		return apply_flags_record(ul, line + 1, line + len);
	case '-':
		return apply_expunge_record(ul, line + 1, line + len);
	case 'R':
		if (!parse_u64(line + 1, len - 1, UINT32_MAX, &v))
			return false;
		if (v > ul->first_recent)
			ul->first_recent = (uint32_t)v;
		return true;
	default:
		return parse_entry(ul, line, len, plain);
	}
}

/* Apply the complete lines of data[0, len); the offset after the last one
 * goes to *used_r. false = a line is damaged. */
static bool apply_lines(struct uidlist *ul, const char *data, size_t len,
			bool plain, bool records, size_t *used_r)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (nl == NULL)
			break;      /* a torn last append */
		size_t n = (size_t)(nl - (data + pos));
		bool ok = records || (n > 0 && data[pos] >= '0' && data[pos] <= '9');
		if (!ok || !apply_line(ul, data + pos, n, plain))
			return false;
		pos += n + 1;
		ul->file_lines++;
	}
	*used_r = pos;
	return true;
}

/* Header fields of version 2 (and V, N of version 1 and Dovecot's).
 * Returns the fields of version 2 found (all four are needed there: the
 * state must not depend on what follows the header). */
static unsigned parse_header_fields(struct uidlist *ul, char *const *tok, size_t n)
{
	unsigned found = 0;
	uint64_t v;

	for (size_t i = 0; i < n; i++) {
		if (!str_to_u64(tok[i] + 1, INT64_MAX, &v))
			continue;
		switch (tok[i][0]) {
		case 'V':
			if (v <= UINT32_MAX)
				ul->uidvalidity = (uint32_t)v;
			break;
		case 'N':
			if (v <= UINT32_MAX)
				ul->nextuid = (uint32_t)v;
			break;
		case 'G':
			ul->gen = v;
			found |= 1u << 0;
			break;
		case 'R':
			if (v <= UINT32_MAX) {
				ul->first_recent = (uint32_t)v;
				found |= 1u << 1;
			}
			break;
		case 'M':
			ul->highest_modseq = v;
			found |= 1u << 2;
			break;
		case 'X':
			ul->vanished_since = v;
			found |= 1u << 3;
			break;
		}
	}
	return found;
}
#define HEADER_V2_FIELDS 0xfu

enum uidlist_kind { KIND_OURS, KIND_DOVECOT };

/* Parse a whole file. false = corrupt. *used_r: bytes up to the last
 * complete line. */
static bool parse_file(struct uidlist *ul, char *data, size_t len,
		       enum uidlist_kind kind, size_t *used_r)
{
	char *nl = memchr(data, '\n', len), *tok[16], *save = NULL;
	size_t n = 0, used = 0;
	bool plain = false, ok, v2 = false;
	uint64_t v;

	if (nl == NULL)
		return false;
	size_t header_len = (size_t)(nl - data) + 1;
	ul->header = xstrndup(data, header_len);
	*nl = '\0';
	for (char *t = strtok_r(data, " \t", &save); t != NULL && n < N_ELEMENTS(tok);
	     t = strtok_r(NULL, " \t", &save))
		tok[n++] = t;
	if (kind == KIND_OURS) {
		v2 = n >= 2 && strcmp(tok[1], UIDLIST_VERSION) == 0;
		ok = n >= 2 && strcmp(tok[0], UIDLIST_MAGIC) == 0 &&
			(v2 || strcmp(tok[1], UIDLIST_VERSION_OLD) == 0);
		if (ok && parse_header_fields(ul, tok + 2, n - 2) != HEADER_V2_FIELDS &&
		    v2)
			ok = false;
	} else if (n >= 1 && strcmp(tok[0], "3") == 0) {
		parse_header_fields(ul, tok + 1, n - 1);
		ok = true;
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
	ok = ok && ul->uidvalidity != 0 &&
		apply_lines(ul, data + header_len, len - header_len, plain, v2, &used);
	if (!ok)
		return false;
	*used_r = header_len + used;
	if (header_len + used < len)
		ul->rewrite = true;     /* a torn last line: never acknowledged */
	if (ul->nextuid == 0)
		ul->nextuid = 1;
	note_modseq(ul, UIDLIST_BASE_MODSEQ);
	if (!v2) {
		/* Everything there so far was seen, no expunge is known. */
		ul->vanished_since = ul->highest_modseq;
		ul->first_recent = ul->nextuid;
		ul->upgraded = true;
		ul->rewrite = true;
	}
	uidlist_compact(ul);
	return true;
}

/* ---- reading ---------------------------------------------------------------- */

/* Read [off, size) of fd (at most MAILDIR_UIDLIST_MAX in all) into a new
 * NUL-terminated buffer. */
static int read_range(int fd, off_t off, off_t size, char **data_r,
		      size_t *len_r, const char *path, const char **error_r)
{
	if (size > (off_t)MAILDIR_UIDLIST_MAX) {
		*error_r = errfmt("%s: larger than %u bytes", path, MAILDIR_UIDLIST_MAX);
		errno = EFBIG;
		return -1;
	}
	size_t want = (size_t)(size - off), got = 0;
	char *data = xmalloc(want + 1);
	while (got < want) {
		ssize_t n = pread(fd, data + got, want - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = n < 0 ? errfmt("%s: %s", path, strerror(errno)) :
				errfmt("%s: shorter than its size", path);
			free(data);
			if (n == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	data[got] = '\0';
	*data_r = data;
	*len_r = got;
	return 0;
}

/* Read the other program's list (dovecot-uidlist). 1 = read, 0 = none or
 * unusable. */
static int import_dovecot(struct maildir_folder *folder, struct uidlist *ul,
			  const char **error_r)
{
	char *path = fs_join(folder->path, MAILDIR_DOVECOT_UIDLIST_NAME), *data = NULL;
	size_t len, used;
	int ret = 0;

	if (fs_exists(path) &&
	    fs_read_file(path, MAILDIR_UIDLIST_MAX, &data, &len, error_r) == 0 &&
	    strlen(data) == len && parse_file(ul, data, len, KIND_DOVECOT, &used)) {
		ul->upgraded = true;
		ret = 1;
	}
	free(data);
	free(path);
	return ret;
}

/* No usable list of ours: import Dovecot's, else start empty under a new
 * UIDVALIDITY (greater than old_validity, from a damaged list). */
static int start_list(struct maildir_folder *folder, struct uidlist *ul,
		      uint32_t old_validity, const char **error_r)
{
	state_clear(ul);
	if (old_validity == 0 && import_dovecot(folder, ul, error_r) > 0) {
		free(ul->header);
		ul->header = NULL;
	} else {
		state_clear(ul);
		ul->nextuid = 1;
		ul->first_recent = 1;
		ul->highest_modseq = ul->vanished_since = UIDLIST_BASE_MODSEQ;
		if (uidlist_new_uidvalidity(folder->root, &ul->uidvalidity, error_r) < 0)
			return -1;
		if (ul->uidvalidity <= old_validity && old_validity < UINT32_MAX)
			ul->uidvalidity = old_validity + 1;
	}
	ul->exists = false;
	ul->rewrite = true;
	ul->dirty = true;
	ul->loaded = true;
	return 0;
}

/* A full read of our file, open as fd with status st. */
static int read_full(struct maildir_folder *folder, struct uidlist *ul, int fd,
		     const struct stat *st, const char *path, const char **error_r)
{
	char *data;
	size_t len, used = 0;

	state_clear(ul);
	if (read_range(fd, 0, st->st_size, &data, &len, path, error_r) < 0)
		return -1;
	bool ok = strlen(data) == len && parse_file(ul, data, len, KIND_OURS, &used);
	free(data);
	if (!ok) {
		uint32_t old = ul->uidvalidity;
		/* Our UIDs cannot be trusted any more: start again under a
		 * new UIDVALIDITY, as RFC 3501 2.3.1.1 requires. */
		log_error("maildir uidlist-corrupt file=%s action=new-uidvalidity", path);
		return start_list(folder, ul, old != 0 ? old : 1, error_r);
	}
	ul->exists = true;
	ul->loaded = true;
	ul->dev = st->st_dev;
	ul->ino = st->st_ino;
	ul->size = (off_t)used;
	ul->dirty = ul->upgraded;
	return 0;
}

/* Is the header line of fd still the one ul was read with? */
static bool same_header(int fd, const struct uidlist *ul)
{
	size_t len = strlen(ul->header);
	char *buf = xmalloc(len);
	bool same = pread(fd, buf, len, 0) == (ssize_t)len &&
		memcmp(buf, ul->header, len) == 0;
	free(buf);
	return same;
}

/* Apply what was appended to fd since ul was read. false: read it all. */
static bool read_tail(struct uidlist *ul, int fd, const struct stat *st,
		      const char *path)
{
	const char *error;
	char *data;
	size_t len, used;

	if (st->st_size == ul->size)
		return true;
	if (read_range(fd, ul->size, st->st_size, &data, &len, path, &error) < 0)
		return false;
	bool ok = strlen(data) == len && apply_lines(ul, data, len, false, true, &used);
	free(data);
	if (!ok)
		return false;
	ul->size += (off_t)used;
	if (used < len)
		ul->rewrite = true;
	uidlist_compact(ul);
	return true;
}

int uidlist_load(struct maildir_folder *folder, struct uidlist **ul_r,
		 const char **error_r)
{
	char *path = fs_join(folder->path, MAILDIR_UIDLIST_NAME);
	struct stat st;
	int ret = -1;

	if (folder->ul == NULL)
		folder->ul = xcalloc(1, sizeof(*folder->ul));
	struct uidlist *ul = folder->ul;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno != ENOENT) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fd >= 0 && fstat(fd, &st) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fd < 0) {
		/* None yet: a Maildir that Dovecot served keeps its UIDs. */
		ret = start_list(folder, ul, 0, error_r);
	} else if (ul->loaded && !ul->dirty && ul->exists && ul->header != NULL &&
		   st.st_dev == ul->dev && st.st_ino == ul->ino &&
		   st.st_size >= ul->size && same_header(fd, ul) &&
		   read_tail(ul, fd, &st, path)) {
		ret = 0;
	} else {
		ret = read_full(folder, ul, fd, &st, path, error_r);
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	if (ret < 0)
		state_clear(ul);
	*ul_r = ul;
	return ret;
}

/* ---- changes ------------------------------------------------------------------ */

static void format_entry(struct buf *b, const struct uidlist_entry *e)
{
	buf_printf(b, "%" PRIu32, e->uid);
	if (e->has_size)
		buf_printf(b, " S%" PRIu64, e->size);
	if (e->has_vsize)
		buf_printf(b, " W%" PRIu64, e->vsize);
	if (e->has_date && e->date >= 0)
		buf_printf(b, " T%" PRId64, e->date);
	buf_printf(b, " M%" PRIu64, e->modseq);
	if (e->has_flags)
		letters_append(b, e->flags, e->keywords);
	buf_printf(b, " :%s\n", e->basename);
}

int uidlist_add(struct uidlist *ul, const char *basename, uint64_t size,
		uint64_t vsize, int64_t date, unsigned flags, uint32_t keywords,
		uint64_t modseq, uint32_t *uid_r, const char **error_r)
{
	if (ul->nextuid == UINT32_MAX) {
		*error_r = "UIDs exhausted in this folder";
		errno = EOVERFLOW;
		return -1;
	}
	struct uidlist_entry *e = entry_push(ul, ul->nextuid, basename,
					     strlen(basename));
	e->size = size;
	e->vsize = vsize;
	e->date = date;
	e->has_size = e->has_vsize = e->has_date = e->has_flags = true;
	e->flags = flags & MAILDIR_FLAGS_ALL;
	e->keywords = keywords & MAILDIR_KEYWORDS_ALL;
	e->modseq = modseq;
	note_modseq(ul, modseq);
	format_entry(&ul->pending, e);
	ul->dirty = true;
	if (uid_r != NULL)
		*uid_r = e->uid;
	return 0;
}

void uidlist_set_flags(struct uidlist *ul, size_t i, unsigned flags,
		       uint32_t keywords, uint64_t modseq)
{
	struct uidlist_entry *e = &ul->entries[i];

	e->flags = flags & MAILDIR_FLAGS_ALL;
	e->keywords = keywords & MAILDIR_KEYWORDS_ALL;
	e->has_flags = true;
	e->modseq = modseq;
	note_modseq(ul, modseq);
	buf_printf(&ul->pending, "+%" PRIu32 " M%" PRIu64, e->uid, modseq);
	letters_append(&ul->pending, e->flags, e->keywords);
	buf_append(&ul->pending, "\n", 1);
	ul->dirty = true;
}

void uidlist_fill_flags(struct uidlist *ul, size_t i, unsigned flags,
			uint32_t keywords)
{
	struct uidlist_entry *e = &ul->entries[i];

	e->flags = flags & MAILDIR_FLAGS_ALL;
	e->keywords = keywords & MAILDIR_KEYWORDS_ALL;
	e->has_flags = true;
	/* Only a rewrite carries it: it is no change, so no record. */
	ul->rewrite = true;
	ul->dirty = true;
}

void uidlist_drop(struct uidlist *ul, size_t i, uint64_t *op_modseq)
{
	struct uidlist_entry *e = &ul->entries[i];

	if (e->gone)
		return;
	uint64_t modseq = uidlist_op_modseq(ul, op_modseq);
	e->gone = true;
	log_expunge(ul, e->uid, modseq);
	buf_printf(&ul->pending, "-%" PRIu32 " M%" PRIu64 "\n", e->uid, modseq);
	ul->dirty = true;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

size_t uidlist_remove_uids(struct uidlist *ul, uint32_t *uids, size_t n,
			   uint64_t *op_modseq)
{
	size_t removed = 0;

	qsort(uids, n, sizeof(*uids), cmp_uid);
	for (size_t i = 0; i < ul->count && n > 0; i++) {
		struct uidlist_entry *e = &ul->entries[i];
		if (e->gone || bsearch(&e->uid, uids, n, sizeof(*uids), cmp_uid) == NULL)
			continue;
		uidlist_drop(ul, i, op_modseq);
		removed++;
	}
	uidlist_compact(ul);
	return removed;
}

void uidlist_set_first_recent(struct uidlist *ul, uint32_t uid)
{
	if (uid <= ul->first_recent)
		return;
	ul->first_recent = uid;
	buf_printf(&ul->pending, "R%" PRIu32 "\n", uid);
	ul->dirty = true;
}

/* ---- writing ---------------------------------------------------------------- */

static size_t count_lines(const struct buf *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

static int append_pending(const char *path, struct uidlist *ul,
			  const char **error_r)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	int ret = -1;

	if (fd < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	/* One write, so a crash leaves at most one torn final line. */
	if (fs_write_all(fd, ul->pending.data, ul->pending.len) < 0 || fsync(fd) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
	} else {
		ul->size += (off_t)ul->pending.len;
		ul->file_lines += count_lines(&ul->pending);
		ret = 0;
	}
	close(fd);
	return ret;
}

/* The whole state as a file; the header line goes to ul->header. */
static void format_file(struct uidlist *ul, struct buf *b)
{
	buf_printf(b, UIDLIST_MAGIC " " UIDLIST_VERSION " V%" PRIu32 " N%" PRIu32
		   " G%" PRIu64 " R%" PRIu32 " M%" PRIu64 " X%" PRIu64 "\n",
		   ul->uidvalidity, ul->nextuid, ul->gen, ul->first_recent,
		   ul->highest_modseq, ul->vanished_since);
	free(ul->header);
	ul->header = xstrndup(b->data, b->len);
	for (size_t i = 0; i < ul->count; i++) {
		if (!ul->entries[i].gone)
			format_entry(b, &ul->entries[i]);
	}
	for (size_t i = ul->exp_start; i < ul->exp_end; i++)
		buf_printf(b, "-%" PRIu32 " M%" PRIu64 "\n", ul->expunged[i].uid,
			   ul->expunged[i].modseq);
}

static int rewrite(const char *path, struct uidlist *ul, const char **error_r)
{
	struct buf b = { 0 };
	struct stat st;
	int ret;

	uidlist_compact(ul);
	ul->gen++;
	format_file(ul, &b);
	ret = fs_write_atomic(path, b.data, b.len, 0600, error_r);
	if (ret == 0 && stat(path, &st) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		ret = -1;
	}
	if (ret == 0) {
		ul->dev = st.st_dev;
		ul->ino = st.st_ino;
		ul->size = (off_t)b.len;
		ul->file_lines = count_lines(&b) - 1;
	}
	buf_free(&b);
	return ret;
}

int uidlist_write(struct maildir_folder *folder, struct uidlist *ul,
		  const char **error_r)
{
	char *path = fs_join(folder->path, MAILDIR_UIDLIST_NAME);
	size_t live = ul->count + (ul->exp_end - ul->exp_start);
	int ret = 0;

	if (!ul->dirty)
		goto out;
	if (!ul->exists || ul->rewrite ||
	    ul->file_lines + count_lines(&ul->pending) >
	    2 * live + MAILDIR_UIDLIST_COMPACT_SLACK)
		ret = rewrite(path, ul, error_r);
	else if (ul->pending.len > 0)
		ret = append_pending(path, ul, error_r);
	if (ret < 0) {
		ul->loaded = false;     /* re-read at the next load */
		goto out;
	}
	uidlist_compact(ul);
	ul->exists = true;
	ul->rewrite = false;
	ul->upgraded = false;
	ul->dirty = false;
	ul->pending.len = 0;
out:
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
