/* mime.c — streaming MIME structure parser (see mime.h). */
#include "mail/mime.h"
#include "mail/mime_lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 6838 4.2: type and subtype names are at most 127 characters; longer
 * tokens (and encodings) are junk and get the defaults. */
#define MIME_TOKEN_MAX 127

/* ---- parser state ---------------------------------------------------------- */

enum parse_mode {
	MODE_HEADER,            /* reading cur's header */
	MODE_BODY,              /* in cur's body (or a multipart's pre/epilogue) */
	MODE_AFTER_BOUNDARY,    /* a delimiter line: next line starts a part */
};

/* The Content-* fields collected from a header. */
enum content_field {
	CF_TYPE, CF_ENCODING, CF_DISPOSITION, CF_ID, CF_DESCRIPTION, CF_MD5,
	CF_LANGUAGE, CF_LOCATION, CF_COUNT
};

static const char *const content_field_names[CF_COUNT] = {
	"Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
	"Content-ID", "Content-Description", "Content-MD5", "Content-Language",
	"Content-Location",
};

struct boundary {
	struct mime_part *part;
	char *str;
	size_t len;
	bool closed;            /* close delimiter seen: now epilogue */
};

struct parser {
	struct mime_lines lr;
	struct mime_part *root, *cur;
	enum parse_mode mode;
	struct boundary bounds[MIME_DEPTH_MAX];
	unsigned n_bounds;
	unsigned n_parts;
	uint64_t lf_count;      /* LFs before the current line */
	unsigned prev_eol;      /* terminator length of the previous line */
	bool skip_line;         /* rest of a delimiter line */
	int field;              /* content_field being collected, or -1 */
	struct buf fbuf;
	char *fields[CF_COUNT];
	size_t strings;         /* string bytes kept in the tree */
};

static struct mime_part *part_new(struct parser *p, struct mime_part *parent,
				  uint64_t offset)
{
	struct mime_part *part = xcalloc(1, sizeof(*part));
	part->hdr_offset = offset;
	part->parent = parent;
	p->n_parts++;
	if (parent != NULL) {
		struct mime_part **tail = &parent->children;
		while (*tail != NULL)
			tail = &(*tail)->next;
		*tail = part;
		parent->n_children++;
	}
	return part;
}

static unsigned part_depth(const struct mime_part *part)
{
	unsigned d = 0;
	for (; part->parent != NULL; part = part->parent)
		d++;
	return d;
}

/* A copy of s for the tree, cut at MIME_VALUE_MAX, or NULL when the tree's
 * string budget is spent (part flagged). */
static char *keep(struct parser *p, struct mime_part *part, const char *s)
{
	size_t n = strlen(s);
	if (n > MIME_VALUE_MAX) {
		n = MIME_VALUE_MAX;
		part->flags |= MIME_PART_TRUNCATED;
	}
	if (p->strings + n > MIME_STRINGS_MAX) {
		part->flags |= MIME_PART_TRUNCATED;
		return NULL;
	}
	p->strings += n + 1;
	return xstrndup(s, n);
}

/* ---- Content-* fields into the part ----------------------------------------- */

/* Copy params into the tree; those over the budget are dropped. */
static void keep_params(struct parser *p, struct mime_part *part,
			const struct mime_content *c, struct mime_param **out,
			size_t *n_out)
{
	*out = c->n_params == 0 ? NULL : xcalloc(c->n_params + 1, sizeof(**out));
	*n_out = 0;
	for (size_t i = 0; i < c->n_params; i++) {
		char *name = keep(p, part, c->params[i].name);
		char *value = name != NULL ? keep(p, part, c->params[i].value) : NULL;
		if (value == NULL) {
			free(name);
			continue;
		}
		(*out)[*n_out].name = name;
		(*out)[(*n_out)++].value = value;
	}
}

static bool parent_is_digest(const struct mime_part *part)
{
	const struct mime_part *parent = part->parent;
	return parent != NULL && (parent->flags & MIME_PART_MULTIPART) != 0 &&
		strcasecmp(parent->subtype, "digest") == 0;
}

static void apply_content_type(struct parser *p, struct mime_part *part)
{
	const char *v = p->fields[CF_TYPE];
	struct mime_content c;

	if (v != NULL && mime_content_type_parse(v, strlen(v), &c)) {
		if (strlen(c.type) <= MIME_TOKEN_MAX &&
		    strlen(c.subtype) <= MIME_TOKEN_MAX) {
			part->type = xstrdup(c.type);
			part->subtype = xstrdup(c.subtype);
			keep_params(p, part, &c, &part->params, &part->n_params);
		}
		mime_content_free(&c);
	}
	if (part->type == NULL) {
		bool digest = parent_is_digest(part);
		part->type = xstrdup(digest ? "message" : "text");
		part->subtype = xstrdup(digest ? "rfc822" : "plain");
		part->flags |= MIME_PART_DEFAULT;
	}
	if (strcasecmp(part->type, "text") == 0) {
		part->flags |= MIME_PART_TEXT;
		if (mime_part_param(part, "charset") == NULL) {
			/* RFC 2045 5.2: the default charset is US-ASCII */
			part->params = xrealloc(part->params,
						(part->n_params + 1) * sizeof(*part->params));
			memmove(part->params + 1, part->params,
				part->n_params * sizeof(*part->params));
			part->params[0].name = xstrdup("charset");
			part->params[0].value = xstrdup("us-ascii");
			part->n_params++;
		}
	} else if (strcasecmp(part->type, "multipart") == 0) {
		part->flags |= MIME_PART_MULTIPART;
	}
}

static char *unfolded_field(struct parser *p, struct mime_part *part, int cf)
{
	if (p->fields[cf] == NULL)
		return NULL;
	char *v = mime_header_unfold(p->fields[cf], strlen(p->fields[cf]));
	char *kept = keep(p, part, v);
	free(v);
	return kept;
}

static void apply_languages(struct parser *p, struct mime_part *part)
{
	if (p->fields[CF_LANGUAGE] == NULL)
		return;
	char *v = mime_header_unfold(p->fields[CF_LANGUAGE],
				     strlen(p->fields[CF_LANGUAGE]));
	size_t n = 0;
	char **tags = strv_split_commas(v, &n);
	free(v);
	for (size_t i = 0; i < n && part->n_languages < MIME_LANGUAGES_MAX; i++) {
		char *tag = keep(p, part, tags[i]);
		if (tag == NULL)
			break;
		part->languages = xrealloc(part->languages,
					   (part->n_languages + 1) * sizeof(char *));
		part->languages[part->n_languages++] = tag;
	}
	strv_free(&tags);
}

static void apply_disposition(struct parser *p, struct mime_part *part)
{
	const char *v = p->fields[CF_DISPOSITION];
	struct mime_content c;

	if (v == NULL || !mime_disposition_parse(v, strlen(v), &c))
		return;
	part->disposition = keep(p, part, c.type);
	if (part->disposition != NULL)
		keep_params(p, part, &c, &part->disp_params, &part->n_disp_params);
	mime_content_free(&c);
}

/* Fill part's content fields from the collected header fields. */
static void apply_fields(struct parser *p, struct mime_part *part)
{
	apply_content_type(p, part);
	char *enc = p->fields[CF_ENCODING] == NULL ? NULL :
		mime_token_parse(p->fields[CF_ENCODING], strlen(p->fields[CF_ENCODING]));
	if (enc != NULL && strlen(enc) > MIME_TOKEN_MAX)
		x_free(&enc);
	part->encoding = enc != NULL ? enc : xstrdup("7bit");
	enum mime_encoding e = mime_encoding_parse(part->encoding);
	if (strcasecmp(part->type, "message") == 0 &&
	    strcasecmp(part->subtype, "rfc822") == 0 &&
	    (e == MIME_ENC_7BIT || e == MIME_ENC_8BIT || e == MIME_ENC_BINARY))
		part->flags |= MIME_PART_MESSAGE;
	part->id = unfolded_field(p, part, CF_ID);
	part->description = unfolded_field(p, part, CF_DESCRIPTION);
	part->md5 = unfolded_field(p, part, CF_MD5);
	part->location = unfolded_field(p, part, CF_LOCATION);
	apply_disposition(p, part);
	apply_languages(p, part);
	for (int i = 0; i < CF_COUNT; i++)
		x_free(&p->fields[i]);
}

/* ---- headers ------------------------------------------------------------------ */

static void field_append(struct parser *p, const char *data, size_t len)
{
	if (p->field < 0)
		return;
	if (p->fbuf.len + len > MIME_FIELD_MAX) {
		len = MIME_FIELD_MAX - p->fbuf.len;
		p->cur->flags |= MIME_PART_TRUNCATED;
	}
	buf_append(&p->fbuf, data, len);
}

static void field_finish(struct parser *p)
{
	if (p->field >= 0 && p->fields[p->field] == NULL)
		p->fields[p->field] = xstrdup(p->fbuf.data != NULL ? p->fbuf.data : "");
	p->field = -1;
	p->fbuf.len = 0;
}

/* The first line of a header field. */
static void field_start(struct parser *p, const struct mime_line *s)
{
	const char *colon = memchr(s->data, ':', s->len);
	field_finish(p);
	if (colon == NULL)
		return;
	size_t n = (size_t)(colon - s->data);
	while (n > 0 && (s->data[n - 1] == ' ' || s->data[n - 1] == '\t'))
		n--;
	for (int i = 0; i < CF_COUNT; i++) {
		if (strlen(content_field_names[i]) == n &&
		    strncasecmp(s->data, content_field_names[i], n) == 0 &&
		    p->fields[i] == NULL) {
			p->field = i;
			break;
		}
	}
	field_append(p, colon + 1, s->len - (size_t)(colon + 1 - s->data));
}

/* The header of cur ended; its body starts at body_off. */
static void header_end(struct parser *p, uint64_t body_off, uint64_t lines_before)
{
	struct mime_part *part = p->cur;

	field_finish(p);
	part->hdr_size = body_off - part->hdr_offset;
	part->body_offset = body_off;
	part->body_lines = lines_before;        /* until the part closes */
	apply_fields(p, part);
	p->mode = MODE_BODY;

	bool deep = part_depth(part) >= MIME_DEPTH_MAX;
	if ((part->flags & MIME_PART_MULTIPART) != 0) {
		const char *b = mime_part_param(part, "boundary");
		if (b == NULL || *b == '\0' || strlen(b) > MIME_BOUNDARY_MAX)
			return;
		if (deep || p->n_bounds == MIME_DEPTH_MAX) {
			part->flags |= MIME_PART_TRUNCATED;
			return;
		}
		struct boundary *bd = &p->bounds[p->n_bounds++];
		bd->part = part;
		bd->str = xstrdup(b);
		bd->len = strlen(b);
		bd->closed = false;
	} else if ((part->flags & MIME_PART_MESSAGE) != 0) {
		if (deep || p->n_parts >= MIME_PARTS_MAX) {
			part->flags &= ~MIME_PART_MESSAGE;
			part->flags |= MIME_PART_TRUNCATED;
			return;
		}
		p->cur = part_new(p, part, body_off);
		p->mode = MODE_HEADER;
	}
}

static void header_line(struct parser *p, const struct mime_line *s)
{
	if (s->line_end && (s->len == 1 || (s->len == 2 && s->data[0] == '\r'))) {
		header_end(p, s->offset + s->len, p->lf_count + 1);
		return;
	}
	if (s->data[0] == ' ' || s->data[0] == '\t')
		field_append(p, s->data, s->len);
	else
		field_start(p, s);
}

/* ---- boundaries and closing parts ------------------------------------------- */

/* The active boundary that line s starts with: the longest match, innermost
 * first on ties (RFC 2046 5.1.2; Dovecot does the same). */
static int boundary_find(const struct parser *p, const struct mime_line *s,
			 bool *close_r)
{
	int best = -1;

	if (s->len < 3 || s->data[0] != '-' || s->data[1] != '-')
		return -1;
	for (int i = (int)p->n_bounds - 1; i >= 0; i--) {
		const struct boundary *b = &p->bounds[i];
		if (b->closed || b->len > s->len - 2 ||
		    memcmp(s->data + 2, b->str, b->len) != 0)
			continue;
		if (best < 0 || b->len > p->bounds[best].len)
			best = i;
	}
	if (best >= 0) {
		size_t n = 2 + p->bounds[best].len;
		*close_r = s->len >= n + 2 && s->data[n] == '-' && s->data[n + 1] == '-';
	}
	return best;
}

/* Close part at a delimiter line starting at line_off (or at EOF, where
 * line_off is the file size and eol 0). lines: LFs before line_off. */
static void part_close(struct parser *p, struct mime_part *part, uint64_t line_off,
		       unsigned eol, uint64_t lines)
{
	uint64_t end = line_off - eol;

	if (part == p->cur && p->mode == MODE_HEADER) {
		field_finish(p);
		if (end < part->hdr_offset)
			part->hdr_offset = end; /* empty part right before the
						   CRLF of an outer delimiter */
		part->hdr_size = end - part->hdr_offset;
		part->body_offset = part->hdr_offset + part->hdr_size;
		part->body_size = 0;
		part->body_lines = 0;
		apply_fields(p, part);
		part->flags &= ~MIME_PART_MESSAGE;      /* no message parsed */
		p->mode = MODE_BODY;
		return;
	}
	if (end < part->body_offset)
		end = part->body_offset;
	part->body_size = end - part->body_offset;
	uint64_t first = part->body_lines;      /* LFs before the body */
	part->body_lines = lines - first;
	if (eol > 0 && line_off > part->body_offset)
		part->body_lines--;             /* that LF is the boundary's */
}

static void boundary_line(struct parser *p, int k, bool close, uint64_t line_off)
{
	struct mime_part *mp = p->bounds[k].part;
	unsigned eol = p->prev_eol;

	/* The CRLF before a delimiter belongs to it, unless it is the blank
	 * line that ended the header of a part being closed (whose body is
	 * then empty). */
	for (const struct mime_part *q = p->cur; q != mp; q = q->parent) {
		bool in_body = q != p->cur || p->mode != MODE_HEADER;
		if (in_body && line_off - eol < q->body_offset)
			eol = 0;
	}
	while (p->cur != mp) {
		part_close(p, p->cur, line_off, eol, p->lf_count);
		p->cur = p->cur->parent;
	}
	for (unsigned i = (unsigned)k + 1; i < p->n_bounds; i++) {
		if (!p->bounds[i].closed)
			p->bounds[i].part->flags |= MIME_PART_UNTERMINATED;
		x_free(&p->bounds[i].str);
	}
	p->n_bounds = (unsigned)k + 1;
	p->bounds[k].closed |= close;
	p->mode = close ? MODE_BODY : MODE_AFTER_BOUNDARY;
	p->skip_line = true;
}

/* The line after a delimiter starts a body part of cur. */
static void part_begin(struct parser *p, uint64_t offset)
{
	if (p->n_parts >= MIME_PARTS_MAX) {
		p->cur->flags |= MIME_PART_TRUNCATED;
		p->mode = MODE_BODY;
		return;
	}
	p->cur = part_new(p, p->cur, offset);
	p->mode = MODE_HEADER;
}

/* ---- the line loop --------------------------------------------------------- */

static void line_start(struct parser *p, const struct mime_line *s)
{
	bool close;

	p->skip_line = false;
	if (p->mode == MODE_AFTER_BOUNDARY)
		part_begin(p, s->offset);
	if (p->n_bounds > 0) {
		int k = boundary_find(p, s, &close);
		if (k >= 0) {
			boundary_line(p, k, close, s->offset);
			return;
		}
	}
	if (p->mode == MODE_HEADER)
		header_line(p, s);
}

static void segment_in(struct parser *p, const struct mime_line *s, char *last)
{
	if (s->line_start)
		line_start(p, s);
	else if (!p->skip_line && p->mode == MODE_HEADER)
		field_append(p, s->data, s->len);

	if (memchr(s->data, '\0', s->len) != NULL)
		p->root->flags |= MIME_PART_HAS_NUL;
	if (s->line_end) {
		char before = s->len >= 2 ? s->data[s->len - 2] : *last;
		if (before != '\r')
			p->root->flags |= MIME_PART_BARE_LF;
		p->prev_eol = before == '\r' ? 2 : 1;
		p->lf_count++;
	}
	*last = s->data[s->len - 1];
}

/* Close everything still open at the end of the file. */
static void parse_finish(struct parser *p, uint64_t size)
{
	if (p->mode == MODE_AFTER_BOUNDARY)
		part_begin(p, size);
	for (struct mime_part *part = p->cur; part != NULL; part = part->parent) {
		part_close(p, part, size, 0, p->lf_count);
		p->mode = MODE_BODY;
	}
	for (unsigned i = 0; i < p->n_bounds; i++) {
		if (!p->bounds[i].closed)
			p->bounds[i].part->flags |= MIME_PART_UNTERMINATED;
		x_free(&p->bounds[i].str);
	}
	p->n_bounds = 0;
}

int mime_parse(const struct mime_reader *r, struct mime_part **root_r,
	       const char **error_r)
{
	struct parser *p = xcalloc(1, sizeof(*p));
	struct mime_line s;
	uint64_t size = 0;
	char last = '\n';
	int ret;

	mime_lines_init(&p->lr, r, 0, UINT64_MAX);
	p->field = -1;
	p->root = p->cur = part_new(p, NULL, 0);
	p->mode = MODE_HEADER;
	while ((ret = mime_lines_next(&p->lr, &s, error_r)) > 0) {
		segment_in(p, &s, &last);
		size = s.offset + s.len;
	}
	parse_finish(p, size);
	buf_free(&p->fbuf);
	for (int i = 0; i < CF_COUNT; i++)
		free(p->fields[i]);
	if (ret < 0) {
		mime_part_free(&p->root);
		free(p);
		return -1;
	}
	*root_r = p->root;
	free(p);
	return 0;
}

/* ---- the tree ------------------------------------------------------------- */

static void params_free(struct mime_param *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
}

void mime_part_free(struct mime_part **partp)
{
	struct mime_part *part = *partp;
	if (part == NULL)
		return;
	while (part->children != NULL) {
		struct mime_part *child = part->children;
		part->children = child->next;
		mime_part_free(&child);
	}
	free(part->type);
	free(part->subtype);
	params_free(part->params, part->n_params);
	free(part->id);
	free(part->description);
	free(part->md5);
	free(part->location);
	free(part->encoding);
	free(part->disposition);
	params_free(part->disp_params, part->n_disp_params);
	for (size_t i = 0; i < part->n_languages; i++)
		free(part->languages[i]);
	free(part->languages);
	x_free(partp);
}

const struct mime_part *mime_part_child(const struct mime_part *part, unsigned n)
{
	const struct mime_part *child = part->children;
	for (unsigned i = 1; child != NULL && i < n; i++)
		child = child->next;
	return n == 0 ? NULL : child;
}

const char *mime_part_param(const struct mime_part *part, const char *name)
{
	return mime_param_get(part->params, part->n_params, name);
}

enum mime_encoding mime_part_encoding(const struct mime_part *part)
{
	return mime_encoding_parse(part->encoding);
}

unsigned mime_part_count(const struct mime_part *root)
{
	unsigned n = 1;
	for (const struct mime_part *c = root->children; c != NULL; c = c->next)
		n += mime_part_count(c);
	return n;
}
