/* imap_fetch_attr.c — FETCH attribute and section-spec parser. */
#include "imap/imap_fetch_attr.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_util.h"

/* ---- section-spec ----------------------------------------------------------- */

struct spec_scan {
	const char *s;
	size_t len, pos;
};

static bool spec_keyword(struct spec_scan *sc, const char *word)
{
	size_t n = strlen(word);
	if (sc->len - sc->pos < n || strncasecmp(sc->s + sc->pos, word, n) != 0)
		return false;
	sc->pos += n;
	return true;
}

/* RFC 5322 3.6.8 ftext: printable US-ASCII except ":". */
static bool field_name_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

/* One header-fld-name (astring: atom or quoted string) into sec. */
static bool header_field_name(struct spec_scan *sc, struct mime_section *sec)
{
	struct buf name = { 0 };
	bool ok = true;

	if (sc->pos < sc->len && sc->s[sc->pos] == '"') {
		for (sc->pos++; ; sc->pos++) {
			if (sc->pos >= sc->len) {
				ok = false;
				break;
			}
			char c = sc->s[sc->pos];
			if (c == '"') {
				sc->pos++;
				break;
			}
			if (c == '\\' && sc->pos + 1 < sc->len)
				c = sc->s[++sc->pos];
			buf_append(&name, &c, 1);
		}
	} else {
		size_t start = sc->pos;
		while (sc->pos < sc->len &&
		       imap_is_astring_char((unsigned char)sc->s[sc->pos]))
			sc->pos++;
		buf_append(&name, sc->s + start, sc->pos - start);
	}
	ok = ok && field_name_ok(name.data, name.len) &&
		sec->n_fields < MIME_SECTION_FIELDS_MAX;
	if (ok) {
		sec->fields = xrealloc(sec->fields, (sec->n_fields + 1) * sizeof(char *));
		sec->fields[sec->n_fields++] = name.data;
	} else {
		buf_free(&name);
	}
	return ok;
}

/* SP "(" header-fld-name *(SP header-fld-name) ")" */
static bool header_list(struct spec_scan *sc, struct mime_section *sec)
{
	if (!spec_keyword(sc, " ("))
		return false;
	for (;;) {
		if (!header_field_name(sc, sec))
			return false;
		if (spec_keyword(sc, ")"))
			return true;
		if (!spec_keyword(sc, " "))
			return false;
	}
}

/* section-part: nz-number *("." nz-number), each followed by "." or end. */
static bool section_part(struct spec_scan *sc, struct mime_section *sec)
{
	while (sc->pos < sc->len && sc->s[sc->pos] >= '1' && sc->s[sc->pos] <= '9') {
		uint64_t v = 0;
		while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9') {
			v = v * 10 + (uint64_t)(sc->s[sc->pos++] - '0');
			if (v > UINT32_MAX)
				return false;
		}
		if (sec->n_part == MIME_SECTION_PARTS_MAX)
			return false;
		sec->part[sec->n_part++] = (uint32_t)v;
		if (sc->pos == sc->len)
			return true;
		if (sc->s[sc->pos++] != '.')
			return false;
	}
	return true;
}

int imap_section_parse(const char *spec, size_t len, struct mime_section *sec_r,
		       const char **error_r)
{
	struct spec_scan sc = { spec, len, 0 };

	memset(sec_r, 0, sizeof(*sec_r));
	if (!section_part(&sc, sec_r))
		goto bad;
	if (sc.pos == sc.len) {
		/* "1.2." is left with a trailing dot: section_part ate it */
		if (sc.pos > 0 && spec[sc.pos - 1] == '.')
			goto bad;
		sec_r->text = MIME_SECTION_ALL;
		return 0;
	}
	if (spec_keyword(&sc, "HEADER.FIELDS.NOT")) {
		sec_r->text = MIME_SECTION_HEADER_FIELDS_NOT;
		if (!header_list(&sc, sec_r))
			goto bad;
	} else if (spec_keyword(&sc, "HEADER.FIELDS")) {
		sec_r->text = MIME_SECTION_HEADER_FIELDS;
		if (!header_list(&sc, sec_r))
			goto bad;
	} else if (spec_keyword(&sc, "HEADER")) {
		sec_r->text = MIME_SECTION_HEADER;
	} else if (spec_keyword(&sc, "TEXT")) {
		sec_r->text = MIME_SECTION_TEXT;
	} else if (sec_r->n_part > 0 && spec_keyword(&sc, "MIME")) {
		sec_r->text = MIME_SECTION_MIME;
	} else {
		goto bad;
	}
	if (sc.pos == sc.len)
		return 0;
bad:
	mime_section_free(sec_r);
	*error_r = "Invalid section";
	return -1;
}

void imap_section_append(struct buf *out, const struct mime_section *sec)
{
	static const char *const names[] = {
		[MIME_SECTION_ALL] = "",
		[MIME_SECTION_HEADER] = "HEADER",
		[MIME_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[MIME_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[MIME_SECTION_TEXT] = "TEXT",
		[MIME_SECTION_MIME] = "MIME",
	};
	for (unsigned i = 0; i < sec->n_part; i++)
		buf_printf(out, "%s%u", i > 0 ? "." : "", sec->part[i]);
	if (sec->text == MIME_SECTION_ALL)
		return;
	buf_printf(out, "%s%s", sec->n_part > 0 ? "." : "", names[sec->text]);
	if (sec->text != MIME_SECTION_HEADER_FIELDS &&
	    sec->text != MIME_SECTION_HEADER_FIELDS_NOT)
		return;
	buf_append(out, " (", 2);
	for (size_t i = 0; i < sec->n_fields; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		imap_append_astring(out, sec->fields[i]);
	}
	buf_append(out, ")", 1);
}

/* ---- fetch attributes ------------------------------------------------------- */

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
} simple_atts[] = {
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "UID", IMAP_FETCH_UID },
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },
};

static struct imap_fetch_item *item_add(struct imap_fetch_attrs *attrs,
					enum imap_fetch_kind kind, const char *name)
{
	attrs->items = xrealloc(attrs->items, (attrs->count + 1) * sizeof(*attrs->items));
	struct imap_fetch_item *item = &attrs->items[attrs->count++];
	memset(item, 0, sizeof(*item));
	item->kind = kind;
	item->name = xstrdup(name);
	return item;
}

/* "<" number "." nz-number ">" at s (to the end of the string). */
static bool parse_partial(const char *s, struct imap_fetch_item *item)
{
	uint64_t off = 0, size = 0;
	if (*s++ != '<' || *s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		off = off * 10 + (uint64_t)(*s - '0');
		if (off > UINT32_MAX)
			return false;
	}
	if (*s++ != '.' || *s < '1' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		size = size * 10 + (uint64_t)(*s - '0');
		if (size > UINT32_MAX)
			return false;
	}
	if (s[0] != '>' || s[1] != '\0')
		return false;
	item->partial = true;
	item->partial_offset = (uint32_t)off;
	item->partial_size = (uint32_t)size;
	return true;
}

/* The "]" closing the section that starts at s, skipping quoted strings. */
static const char *section_end(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"') {
			for (s++; *s != '\0' && *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
			}
			if (*s == '\0')
				return NULL;
		} else if (*s == ']') {
			return s;
		}
	}
	return NULL;
}

/* BODY[section]<partial> / BODY.PEEK[...]; s points after "[". */
static int parse_body_section(struct imap_fetch_attrs *attrs, const char *s,
			      bool peek, const char **error_r)
{
	const char *end = section_end(s);
	struct mime_section sec;

	if (end == NULL) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	if (imap_section_parse(s, (size_t)(end - s), &sec, error_r) < 0)
		return -1;
	struct imap_fetch_item *item = item_add(attrs, IMAP_FETCH_SECTION, "");
	item->section = sec;
	item->peek = peek;
	if (end[1] != '\0' && !parse_partial(end + 1, item)) {
		*error_r = "Invalid partial range";
		return -1;
	}
	struct buf name = { 0 };
	buf_append(&name, "BODY[", 5);
	imap_section_append(&name, &item->section);
	buf_append(&name, "]", 1);
	if (item->partial)
		buf_printf(&name, "<%u>", item->partial_offset);
	free(item->name);
	item->name = name.data;
	return 0;
}

/* BINARY[part]<partial>, BINARY.PEEK[...], BINARY.SIZE[part] (RFC 3516
 * section-binary: part numbers only); s points after "[". */
static int parse_binary_section(struct imap_fetch_attrs *attrs, const char *s,
				enum imap_fetch_kind kind, bool peek,
				const char **error_r)
{
	const char *end = strchr(s, ']');
	struct mime_section sec;

	if (end == NULL || imap_section_parse(s, (size_t)(end - s), &sec, error_r) < 0 ||
	    sec.text != MIME_SECTION_ALL) {
		if (end != NULL)
			mime_section_free(&sec);
		*error_r = "Invalid BINARY section";
		return -1;
	}
	struct imap_fetch_item *item = item_add(attrs, kind, "");
	item->section = sec;
	item->peek = peek;
	if (end[1] != '\0' &&
	    (kind == IMAP_FETCH_BINARY_SIZE || !parse_partial(end + 1, item))) {
		*error_r = "Invalid partial range";
		return -1;
	}
	struct buf name = { 0 };
	buf_append(&name, kind == IMAP_FETCH_BINARY ? "BINARY[" : "BINARY.SIZE[",
		   kind == IMAP_FETCH_BINARY ? 7 : 12);
	imap_section_append(&name, &item->section);
	buf_append(&name, "]", 1);
	if (item->partial)
		buf_printf(&name, "<%u>", item->partial_offset);
	free(item->name);
	item->name = name.data;
	return 0;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: sections under their own names. */
static bool parse_rfc822(struct imap_fetch_attrs *attrs, const char *s)
{
	enum mime_section_text text;
	bool peek = false;

	if (strcasecmp(s, "RFC822") == 0) {
		text = MIME_SECTION_ALL;
	} else if (strcasecmp(s, "RFC822.HEADER") == 0) {
		text = MIME_SECTION_HEADER;
		peek = true;
	} else if (strcasecmp(s, "RFC822.TEXT") == 0) {
		text = MIME_SECTION_TEXT;
	} else {
		return false;
	}
	char upper[16];
	strlcpy_sp(upper, s, sizeof(upper));
	for (char *p = upper; *p != '\0'; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	struct imap_fetch_item *item = item_add(attrs, IMAP_FETCH_SECTION, upper);
	item->section.text = text;
	item->peek = peek;
	return true;
}

static int parse_att(struct imap_fetch_attrs *attrs, const struct imap_arg *arg,
		     const char **error_r)
{
	const char *s;

	if (arg->type != IMAP_ARG_ATOM || !imap_arg_get_atom(arg, &s)) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	if (attrs->count == IMAP_FETCH_ITEMS_MAX) {
		*error_r = "Too many fetch attributes";
		return -1;
	}
	for (size_t i = 0; i < N_ELEMENTS(simple_atts); i++) {
		if (strcasecmp(s, simple_atts[i].name) == 0) {
			item_add(attrs, simple_atts[i].kind, simple_atts[i].name);
			return 0;
		}
	}
	if (parse_rfc822(attrs, s))
		return 0;
	if (strncasecmp(s, "BODY[", 5) == 0)
		return parse_body_section(attrs, s + 5, false, error_r);
	if (strncasecmp(s, "BODY.PEEK[", 10) == 0)
		return parse_body_section(attrs, s + 10, true, error_r);
	if (strncasecmp(s, "BINARY[", 7) == 0)
		return parse_binary_section(attrs, s + 7, IMAP_FETCH_BINARY, false,
					    error_r);
	if (strncasecmp(s, "BINARY.PEEK[", 12) == 0)
		return parse_binary_section(attrs, s + 12, IMAP_FETCH_BINARY, true,
					    error_r);
	if (strncasecmp(s, "BINARY.SIZE[", 12) == 0)
		return parse_binary_section(attrs, s + 12, IMAP_FETCH_BINARY_SIZE, true,
					    error_r);
	*error_r = "Invalid fetch attribute";
	return -1;
}

/* ALL, FAST and FULL (RFC 3501 6.4.5); false if s is not a macro. */
static bool expand_macro(struct imap_fetch_attrs *attrs, const char *s)
{
	static const enum imap_fetch_kind fast[] = {
		IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
		IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY,
	};
	size_t n;
	if (strcasecmp(s, "FAST") == 0)
		n = 3;
	else if (strcasecmp(s, "ALL") == 0)
		n = 4;
	else if (strcasecmp(s, "FULL") == 0)
		n = 5;
	else
		return false;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < N_ELEMENTS(simple_atts); j++) {
			if (simple_atts[j].kind == fast[i])
				item_add(attrs, fast[i], simple_atts[j].name);
		}
	}
	return true;
}

int imap_fetch_attrs_parse(const struct imap_arg *args, size_t n_args,
			   struct imap_fetch_attrs *attrs_r, const char **error_r)
{
	const struct imap_arg *items = args;
	size_t n = n_args;
	const char *s;

	memset(attrs_r, 0, sizeof(*attrs_r));
	if (n_args != 1) {
		*error_r = n_args == 0 ? "Missing fetch attributes" :
			"Unexpected arguments after fetch attributes";
		return -1;
	}
	if (args[0].type == IMAP_ARG_ATOM && imap_arg_get_atom(&args[0], &s) &&
	    expand_macro(attrs_r, s))
		return 0;
	if (args[0].type == IMAP_ARG_LIST) {
		items = args[0].list;
		n = args[0].len;
		if (n == 0) {
			*error_r = "Empty fetch attribute list";
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_att(attrs_r, &items[i], error_r) < 0) {
			imap_fetch_attrs_free(attrs_r);
			return -1;
		}
	}
	for (size_t i = 0; i < attrs_r->count; i++) {
		if ((attrs_r->items[i].kind == IMAP_FETCH_SECTION ||
		     attrs_r->items[i].kind == IMAP_FETCH_BINARY) && !attrs_r->items[i].peek)
			attrs_r->sets_seen = true;
	}
	return 0;
}

void imap_fetch_attrs_free(struct imap_fetch_attrs *attrs)
{
	for (size_t i = 0; i < attrs->count; i++) {
		mime_section_free(&attrs->items[i].section);
		free(attrs->items[i].name);
	}
	x_free(&attrs->items);
	attrs->count = 0;
}
