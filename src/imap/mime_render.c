/* mime_render.c — ENVELOPE, BODY and BODYSTRUCTURE writers. */
#include "imap/mime_render.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_util.h"
#include "mail/mime_address.h"

static void append_cstring(struct buf *out, const char *s)
{
	imap_append_nstring(out, s, s != NULL ? strlen(s) : 0);
}

/* ---- ENVELOPE ------------------------------------------------------------- */

static const struct mime_header_field *first_field(const struct mime_headers *h,
						   const char *name)
{
	size_t iter = 0;
	return mime_headers_find(h, name, &iter);
}

/* An unstructured field: unfolded value as nstring. */
static void append_text_field(struct buf *out, const struct mime_headers *h,
			      const char *name)
{
	const struct mime_header_field *f = first_field(h, name);
	if (f == NULL) {
		buf_append(out, "NIL", 3);
		return;
	}
	char *v = mime_header_unfold(f->value, f->value_len);
	imap_append_string(out, v, strlen(v));
	free(v);
}

/* An address field as "((name adl mailbox host)...)"; false (nothing
 * written) when the field is absent or holds no address. */
static bool append_addresses(struct buf *out, const struct mime_headers *h,
			     const char *name)
{
	const struct mime_header_field *f = first_field(h, name);
	size_t n = 0;
	struct mime_address *list;

	if (f == NULL)
		return false;
	list = mime_address_parse(f->value, f->value_len, &n);
	if (n == 0) {
		mime_addresses_free(&list, n);
		return false;
	}
	buf_append(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		buf_append(out, "(", 1);
		append_cstring(out, list[i].name);
		buf_append(out, " ", 1);
		append_cstring(out, list[i].route);
		buf_append(out, " ", 1);
		append_cstring(out, list[i].mailbox);
		buf_append(out, " ", 1);
		append_cstring(out, list[i].host);
		buf_append(out, ")", 1);
	}
	buf_append(out, ")", 1);
	mime_addresses_free(&list, n);
	return true;
}

void mime_envelope_append(struct buf *out, const struct mime_headers *h)
{
	buf_append(out, "(", 1);
	append_text_field(out, h, "Date");
	buf_append(out, " ", 1);
	append_text_field(out, h, "Subject");
	buf_append(out, " ", 1);

	/* From, then Sender and Reply-To defaulting to From (RFC 3501 7.4.2) */
	struct buf from = { 0 };
	if (!append_addresses(&from, h, "From"))
		buf_append(&from, "NIL", 3);
	buf_append(out, from.data, from.len);
	static const char *const defaulted[] = { "Sender", "Reply-To" };
	for (size_t i = 0; i < N_ELEMENTS(defaulted); i++) {
		buf_append(out, " ", 1);
		if (!append_addresses(out, h, defaulted[i]))
			buf_append(out, from.data, from.len);
	}
	buf_free(&from);

	static const char *const lists[] = { "To", "Cc", "Bcc" };
	for (size_t i = 0; i < N_ELEMENTS(lists); i++) {
		buf_append(out, " ", 1);
		if (!append_addresses(out, h, lists[i]))
			buf_append(out, "NIL", 3);
	}
	buf_append(out, " ", 1);
	append_text_field(out, h, "In-Reply-To");
	buf_append(out, " ", 1);
	append_text_field(out, h, "Message-ID");
	buf_append(out, ")", 1);
}

int mime_render_envelope(const struct mime_part *msg, const struct mime_reader *r,
			 struct buf *out, const char **error_r)
{
	struct mime_headers h;
	if (mime_headers_read(r, msg->hdr_offset, msg->hdr_size, &h, error_r) < 0)
		return -1;
	mime_envelope_append(out, &h);
	mime_headers_free(&h);
	return 0;
}

/* ---- BODY / BODYSTRUCTURE --------------------------------------------------- */

static void append_params(struct buf *out, const struct mime_param *params, size_t n)
{
	if (n == 0) {
		buf_append(out, "NIL", 3);
		return;
	}
	buf_append(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		append_cstring(out, params[i].name);
		buf_append(out, " ", 1);
		append_cstring(out, params[i].value);
	}
	buf_append(out, ")", 1);
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void append_dsp_lang_loc(struct buf *out, const struct mime_part *part)
{
	if (part->disposition == NULL) {
		buf_append(out, "NIL", 3);
	} else {
		buf_append(out, "(", 1);
		append_cstring(out, part->disposition);
		buf_append(out, " ", 1);
		append_params(out, part->disp_params, part->n_disp_params);
		buf_append(out, ")", 1);
	}
	buf_append(out, " ", 1);
	if (part->n_languages == 0) {
		buf_append(out, "NIL", 3);
	} else {
		buf_append(out, "(", 1);
		for (size_t i = 0; i < part->n_languages; i++) {
			if (i > 0)
				buf_append(out, " ", 1);
			append_cstring(out, part->languages[i]);
		}
		buf_append(out, ")", 1);
	}
	buf_append(out, " ", 1);
	append_cstring(out, part->location);
}

static int append_part(struct buf *out, const struct mime_part *part,
		       const struct mime_reader *r, bool ext, const char **error_r);

/* A multipart without body parts is not allowed in BODYSTRUCTURE: write one
 * empty text/plain part in its place (as Dovecot does). */
static void append_empty_part(struct buf *out, bool ext)
{
	buf_printf(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		   "\"7bit\" 0 0%s)", ext ? " NIL NIL NIL NIL" : "");
}

static int append_multipart(struct buf *out, const struct mime_part *part,
			    const struct mime_reader *r, bool ext, const char **error_r)
{
	buf_append(out, "(", 1);
	if (part->children == NULL)
		append_empty_part(out, ext);
	for (const struct mime_part *c = part->children; c != NULL; c = c->next) {
		if (append_part(out, c, r, ext, error_r) < 0)
			return -1;
	}
	buf_append(out, " ", 1);
	append_cstring(out, part->subtype);
	if (ext) {
		buf_append(out, " ", 1);
		append_params(out, part->params, part->n_params);
		buf_append(out, " ", 1);
		append_dsp_lang_loc(out, part);
	}
	buf_append(out, ")", 1);
	return 0;
}

static int append_part(struct buf *out, const struct mime_part *part,
		       const struct mime_reader *r, bool ext, const char **error_r)
{
	if ((part->flags & MIME_PART_MULTIPART) != 0)
		return append_multipart(out, part, r, ext, error_r);

	buf_append(out, "(", 1);
	append_cstring(out, part->type);
	buf_append(out, " ", 1);
	append_cstring(out, part->subtype);
	buf_append(out, " ", 1);
	append_params(out, part->params, part->n_params);
	buf_append(out, " ", 1);
	append_cstring(out, part->id);
	buf_append(out, " ", 1);
	append_cstring(out, part->description);
	buf_append(out, " ", 1);
	append_cstring(out, part->encoding);
	buf_printf(out, " %llu", (unsigned long long)part->body_size);
	if ((part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL) {
		buf_append(out, " ", 1);
		if (mime_render_envelope(part->children, r, out, error_r) < 0)
			return -1;
		buf_append(out, " ", 1);
		if (append_part(out, part->children, r, ext, error_r) < 0)
			return -1;
		buf_printf(out, " %llu", (unsigned long long)part->body_lines);
	} else if ((part->flags & MIME_PART_TEXT) != 0) {
		buf_printf(out, " %llu", (unsigned long long)part->body_lines);
	}
	if (ext) {
		buf_append(out, " ", 1);
		append_cstring(out, part->md5);
		buf_append(out, " ", 1);
		append_dsp_lang_loc(out, part);
	}
	buf_append(out, ")", 1);
	return 0;
}

int mime_render_bodystructure(const struct mime_part *root, const struct mime_reader *r,
			      bool extended, struct buf *out, const char **error_r)
{
	return append_part(out, root, r, extended, error_r);
}
