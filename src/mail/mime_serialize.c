/* mime_serialize.c — compact cache form of a MIME part tree.
 *
 * Format (version 1): the byte 0x01, then every part in pre-order:
 *   varint flags, hdr_offset, hdr_size, body_offset, body_size, body_lines
 *   str type, str subtype, varint n, n x (str name, str value)
 *   str id, str description, str md5, str location, str encoding,
 *   str disposition, varint n, n x (str name, str value)
 *   varint n, n x str language
 *   varint n_children
 * where varint is LEB128 (7 bits per byte, low first) and str is
 * varint(length + 1) followed by the bytes, 0 meaning NULL. */
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>

#define MIME_CACHE_VERSION 1
/* A varint holds at most 64 bits: 10 bytes. */
#define VARINT_MAX_BYTES 10

static void put_varint(struct buf *out, uint64_t v)
{
	unsigned char tmp[VARINT_MAX_BYTES];
	size_t n = 0;
	do {
		tmp[n++] = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	buf_append(out, tmp, n);
}

static void put_str(struct buf *out, const char *s)
{
	if (s == NULL) {
		put_varint(out, 0);
		return;
	}
	size_t n = strlen(s);
	put_varint(out, n + 1);
	buf_append(out, s, n);
}

static void put_params(struct buf *out, const struct mime_param *params, size_t n)
{
	put_varint(out, n);
	for (size_t i = 0; i < n; i++) {
		put_str(out, params[i].name);
		put_str(out, params[i].value);
	}
}

static void put_part(struct buf *out, const struct mime_part *part)
{
	put_varint(out, part->flags);
	put_varint(out, part->hdr_offset);
	put_varint(out, part->hdr_size);
	put_varint(out, part->body_offset);
	put_varint(out, part->body_size);
	put_varint(out, part->body_lines);
	put_str(out, part->type);
	put_str(out, part->subtype);
	put_params(out, part->params, part->n_params);
	put_str(out, part->id);
	put_str(out, part->description);
	put_str(out, part->md5);
	put_str(out, part->location);
	put_str(out, part->encoding);
	put_str(out, part->disposition);
	put_params(out, part->disp_params, part->n_disp_params);
	put_varint(out, part->n_languages);
	for (size_t i = 0; i < part->n_languages; i++)
		put_str(out, part->languages[i]);
	put_varint(out, part->n_children);
	for (const struct mime_part *c = part->children; c != NULL; c = c->next)
		put_part(out, c);
}

void mime_serialize(const struct mime_part *root, struct buf *out)
{
	unsigned char version = MIME_CACHE_VERSION;
	buf_append(out, &version, 1);
	put_part(out, root);
}

/* ---- reading back ------------------------------------------------------- */

struct reader {
	const unsigned char *p, *end;
	unsigned parts;
	bool bad;
};

static uint64_t get_varint(struct reader *rd)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (rd->p >= rd->end) {
			rd->bad = true;
			return 0;
		}
		unsigned char c = *rd->p++;
		v |= (uint64_t)(c & 0x7F) << shift;
		if ((c & 0x80) == 0)
			return v;
	}
	rd->bad = true;
	return 0;
}

static char *get_str(struct reader *rd)
{
	uint64_t n = get_varint(rd);
	if (rd->bad || n == 0)
		return NULL;
	n--;
	if (n > MIME_STRINGS_MAX || n > (uint64_t)(rd->end - rd->p) ||
	    memchr(rd->p, '\0', (size_t)n) != NULL) {
		rd->bad = true;
		return NULL;
	}
	char *s = xstrndup((const char *)rd->p, (size_t)n);
	rd->p += n;
	return s;
}

/* A count no greater than max, or bad. */
static size_t get_count(struct reader *rd, size_t max)
{
	uint64_t n = get_varint(rd);
	if (n > max)
		rd->bad = true;
	return rd->bad ? 0 : (size_t)n;
}

static void get_params(struct reader *rd, struct mime_param **params, size_t *n_r)
{
	size_t n = get_count(rd, MIME_PARAMS_MAX + 1);
	*params = n == 0 ? NULL : xcalloc(n, sizeof(**params));
	for (*n_r = 0; *n_r < n && !rd->bad; (*n_r)++) {
		(*params)[*n_r].name = get_str(rd);
		(*params)[*n_r].value = get_str(rd);
		if ((*params)[*n_r].name == NULL || (*params)[*n_r].value == NULL)
			rd->bad = true;
	}
}

static bool range_ok(uint64_t off, uint64_t size)
{
	return off <= INT64_MAX && size <= INT64_MAX - off;
}

/* Are the part's numbers consistent (and inside its parent's body)? */
static bool part_ok(const struct mime_part *part)
{
	if (!range_ok(part->hdr_offset, part->hdr_size) ||
	    !range_ok(part->body_offset, part->body_size) ||
	    part->type == NULL || part->subtype == NULL || part->encoding == NULL)
		return false;
	const struct mime_part *parent = part->parent;
	if (parent == NULL)
		return true;
	uint64_t lo = parent->body_offset, hi = lo + parent->body_size;
	return part->hdr_offset >= lo && part->hdr_offset + part->hdr_size <= hi &&
		part->body_offset >= lo && part->body_offset + part->body_size <= hi;
}

static struct mime_part *get_part(struct reader *rd, struct mime_part *parent,
				  unsigned depth)
{
	if (++rd->parts > MIME_PARTS_MAX || depth > MIME_DEPTH_MAX) {
		rd->bad = true;
		return NULL;
	}
	struct mime_part *part = xcalloc(1, sizeof(*part));
	part->parent = parent;
	part->flags = (uint32_t)get_varint(rd);
	part->hdr_offset = get_varint(rd);
	part->hdr_size = get_varint(rd);
	part->body_offset = get_varint(rd);
	part->body_size = get_varint(rd);
	part->body_lines = get_varint(rd);
	part->type = get_str(rd);
	part->subtype = get_str(rd);
	get_params(rd, &part->params, &part->n_params);
	part->id = get_str(rd);
	part->description = get_str(rd);
	part->md5 = get_str(rd);
	part->location = get_str(rd);
	part->encoding = get_str(rd);
	part->disposition = get_str(rd);
	get_params(rd, &part->disp_params, &part->n_disp_params);
	size_t n = get_count(rd, MIME_LANGUAGES_MAX);
	part->languages = n == 0 ? NULL : xcalloc(n, sizeof(char *));
	for (; part->n_languages < n && !rd->bad; part->n_languages++)
		part->languages[part->n_languages] = get_str(rd);
	size_t kids = get_count(rd, MIME_PARTS_MAX);
	bool container = (part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) != 0;
	if ((kids > 0 && !container) ||
	    ((part->flags & MIME_PART_MESSAGE) != 0 && kids != 1))
		rd->bad = true;
	if (!rd->bad && !part_ok(part))
		rd->bad = true;
	struct mime_part **tail = &part->children;
	for (size_t i = 0; i < kids && !rd->bad; i++) {
		struct mime_part *child = get_part(rd, part, depth + 1);
		if (child == NULL)
			break;
		*tail = child;
		tail = &child->next;
		part->n_children++;
	}
	return part;
}

int mime_deserialize(const void *data, size_t len, struct mime_part **root_r,
		     const char **error_r)
{
	struct reader rd = { data, (const unsigned char *)data + len, 0, false };

	if (len == 0 || *rd.p++ != MIME_CACHE_VERSION) {
		*error_r = "MIME cache: unknown version";
		return -1;
	}
	struct mime_part *root = get_part(&rd, NULL, 0);
	if (rd.bad || rd.p != rd.end) {
		mime_part_free(&root);
		*error_r = "MIME cache: corrupt entry";
		return -1;
	}
	*root_r = root;
	return 0;
}
