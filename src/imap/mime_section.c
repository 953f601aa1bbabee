/* mime_section.c — BODY[section]<partial> to byte ranges (RFC 3501 6.4.5). */
#include "imap/mime_section.h"
#include "mail/mime_lines.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char crlf[] = "\r\n";

void mime_section_free(struct mime_section *sec)
{
	for (size_t i = 0; i < sec->n_fields; i++)
		free(sec->fields[i]);
	x_free(&sec->fields);
	sec->n_fields = 0;
}

void mime_body_result_free(struct mime_body_result *res)
{
	x_free(&res->segs);
	res->n_segs = 0;
	res->size = 0;
}

/* Append a file range, merging it with the previous one when adjacent. */
static bool add_range(struct mime_body_result *res, uint64_t offset, uint64_t size)
{
	if (size == 0)
		return true;
	if (res->n_segs > 0) {
		struct mime_segment *last = &res->segs[res->n_segs - 1];
		if (last->data == NULL && last->offset + last->size == offset) {
			last->size += size;
			res->size += size;
			return true;
		}
	}
	if (res->n_segs == MIME_SEGMENTS_MAX)
		return false;
	res->segs = xrealloc(res->segs, (res->n_segs + 1) * sizeof(*res->segs));
	res->segs[res->n_segs].offset = offset;
	res->segs[res->n_segs].size = size;
	res->segs[res->n_segs].data = NULL;
	res->n_segs++;
	res->size += size;
	return true;
}

static void add_data(struct mime_body_result *res, const char *data, size_t size)
{
	res->segs = xrealloc(res->segs, (res->n_segs + 1) * sizeof(*res->segs));
	res->segs[res->n_segs].offset = 0;
	res->segs[res->n_segs].size = size;
	res->segs[res->n_segs].data = data;
	res->n_segs++;
	res->size += size;
}

/* The part a section's part path names (RFC 3501 6.4.5 part numbering), or
 * NULL. A non-multipart message has only part 1: its own body. */
static const struct mime_part *find_part(const struct mime_part *root,
					 const uint32_t *path, unsigned n)
{
	const struct mime_part *cur = root;
	bool is_message = true;         /* cur is a message, not yet a part */
	unsigned i = 0;

	while (i < n) {
		uint32_t num = path[i];
		if ((cur->flags & MIME_PART_MULTIPART) != 0) {
			cur = mime_part_child(cur, num);
			if (cur == NULL)
				return NULL;
			is_message = false;
		} else if (is_message) {
			if (num != 1)
				return NULL;
			is_message = false;
		} else if ((cur->flags & MIME_PART_MESSAGE) != 0 &&
			   cur->children != NULL) {
			cur = cur->children;    /* the encapsulated message */
			is_message = true;
			continue;               /* same number, one level down */
		} else {
			return NULL;
		}
		i++;
	}
	return cur;
}

const struct mime_part *mime_section_part(const struct mime_part *root,
					  const struct mime_section *sec)
{
	return sec->n_part == 0 ? root : find_part(root, sec->part, sec->n_part);
}

static bool field_selected(const struct mime_section *sec, const char *line,
			   size_t len)
{
	const char *colon = memchr(line, ':', len);
	if (colon == NULL)
		return false;
	size_t n = (size_t)(colon - line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < sec->n_fields; i++) {
		if (strlen(sec->fields[i]) == n && strncasecmp(line, sec->fields[i], n) == 0)
			return true;
	}
	return false;
}

/* HEADER.FIELDS[.NOT] of the header block of msg: the selected fields'
 * lines (with their continuations) and the blank line. */
static int header_fields(const struct mime_part *msg, const struct mime_reader *r,
			 const struct mime_section *sec, struct mime_body_result *res,
			 const char **error_r)
{
	struct mime_lines *lr = xmalloc(sizeof(*lr));
	struct mime_line s;
	bool not = sec->text == MIME_SECTION_HEADER_FIELDS_NOT;
	bool selected = false, room = true, last_lf = true;
	int ret;

	mime_lines_init(lr, r, msg->hdr_offset, msg->hdr_offset + msg->hdr_size);
	while ((ret = mime_lines_next(lr, &s, error_r)) > 0) {
		if (s.line_start) {
			if (s.line_end && (s.len == 1 || (s.len == 2 && s.data[0] == '\r')))
				break;          /* the blank line */
			if (s.data[0] != ' ' && s.data[0] != '\t')
				selected = field_selected(sec, s.data, s.len) != not;
		}
		if (selected && room) {
			room = add_range(res, s.offset, s.len);
			last_lf = s.line_end;
		}
	}
	free(lr);
	if (ret < 0)
		return -1;
	if (!last_lf)
		add_data(res, crlf, 2);
	add_data(res, crlf, 2);
	return 0;
}

/* Keep only [offset, offset+size) of the result's bytes. */
static void apply_partial(struct mime_body_result *res, uint64_t offset, uint64_t size)
{
	size_t out = 0;
	uint64_t pos = 0, total = 0;

	for (size_t i = 0; i < res->n_segs; i++) {
		struct mime_segment seg = res->segs[i];
		uint64_t seg_start = pos, seg_end = pos + seg.size;
		pos = seg_end;
		uint64_t lo = offset > seg_start ? offset : seg_start;
		uint64_t want_end = size > UINT64_MAX - offset ? UINT64_MAX : offset + size;
		uint64_t hi = want_end < seg_end ? want_end : seg_end;
		if (lo >= hi)
			continue;
		seg.offset += lo - seg_start;
		if (seg.data != NULL)
			seg.data += lo - seg_start;
		seg.size = hi - lo;
		res->segs[out++] = seg;
		total += seg.size;
	}
	res->n_segs = out;
	res->size = total;
}

int mime_section_resolve(const struct mime_part *root, const struct mime_reader *r,
			 const struct mime_section *sec, bool partial,
			 uint64_t offset, uint64_t size,
			 struct mime_body_result *res_r, const char **error_r)
{
	const struct mime_part *part = root, *msg = root;

	memset(res_r, 0, sizeof(*res_r));
	if (sec->n_part > 0) {
		part = find_part(root, sec->part, sec->n_part);
		if (part == NULL) {
			res_r->nil = true;
			return 0;
		}
		msg = (part->flags & MIME_PART_MESSAGE) != 0 ? part->children : NULL;
	}
	switch (sec->text) {
	case MIME_SECTION_ALL:
		if (sec->n_part == 0)
			add_range(res_r, root->hdr_offset,
				  root->body_offset + root->body_size - root->hdr_offset);
		else
			add_range(res_r, part->body_offset, part->body_size);
		break;
	case MIME_SECTION_MIME:
		if (sec->n_part == 0)
			res_r->nil = true;
		else
			add_range(res_r, part->hdr_offset, part->hdr_size);
		break;
	case MIME_SECTION_HEADER:
		if (msg != NULL)
			add_range(res_r, msg->hdr_offset, msg->hdr_size);
		break;
	case MIME_SECTION_TEXT:
		if (msg != NULL)
			add_range(res_r, msg->body_offset, msg->body_size);
		break;
	case MIME_SECTION_HEADER_FIELDS:
	case MIME_SECTION_HEADER_FIELDS_NOT:
		if (msg != NULL && header_fields(msg, r, sec, res_r, error_r) < 0) {
			mime_body_result_free(res_r);
			return -1;
		}
		break;
	}
	if (partial)
		apply_partial(res_r, offset, size);
	return 0;
}
