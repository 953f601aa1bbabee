/* imap_util.c — IMAP character classes, output quoting and flag names. */
#include "imap/imap_util.h"

#include <string.h>
#include <strings.h>

bool imap_is_atom_char(unsigned char c)
{
	/* atom-specials: ( ) { SP CTL % * " \ ] ; 8-bit is not CHAR */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

bool imap_is_astring_char(unsigned char c)
{
	return c == ']' || imap_is_atom_char(c);
}

enum quote_kind { QUOTE_QUOTED, QUOTE_LITERAL };

static enum quote_kind string_kind(const char *s, size_t len)
{
	if (len > IMAP_QUOTED_MAX)
		return QUOTE_LITERAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n' || c >= 0x80)
			return QUOTE_LITERAL;
	}
	return QUOTE_QUOTED;
}

static void append_quoted(struct buf *b, const char *s, size_t len)
{
	buf_append(b, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c != '"' && c != '\\' && c != '\0')
			continue;
		buf_append(b, s + start, i - start);
		if (c != '\0')
			buf_append(b, c == '"' ? "\\\"" : "\\\\", 2);
		start = i + 1;
	}
	buf_append(b, s + start, len - start);
	buf_append(b, "\"", 1);
}

static void append_literal(struct buf *b, const char *s, size_t len)
{
	size_t nuls = 0;
	for (size_t i = 0; i < len; i++)
		nuls += s[i] == '\0';
	buf_printf(b, "{%zu}\r\n", len - nuls);
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\0')
			continue;
		buf_append(b, s + start, i - start);
		start = i + 1;
	}
	buf_append(b, s + start, len - start);
}

void imap_append_string(struct buf *b, const char *s, size_t len)
{
	if (string_kind(s, len) == QUOTE_QUOTED)
		append_quoted(b, s, len);
	else
		append_literal(b, s, len);
}

void imap_append_nstring(struct buf *b, const char *s, size_t len)
{
	if (s == NULL)
		buf_append(b, "NIL", 3);
	else
		imap_append_string(b, s, len);
}

void imap_append_astring(struct buf *b, const char *s)
{
	size_t len = strlen(s);
	bool atom = len > 0 && strcasecmp(s, "NIL") != 0;
	/* "[" is an ATOM-CHAR, but quoting it keeps clients (and our own
	 * section-aware tokenizer) from reading it as a section */
	for (size_t i = 0; atom && i < len; i++)
		atom = imap_is_astring_char((unsigned char)s[i]) && s[i] != '[';
	if (atom)
		buf_append(b, s, len);
	else
		imap_append_string(b, s, len);
}

static const struct {
	uint32_t flag;
	const char *name;
} flag_names[] = {
	{ IMAP_FLAG_ANSWERED, "\\Answered" },
	{ IMAP_FLAG_FLAGGED, "\\Flagged" },
	{ IMAP_FLAG_DELETED, "\\Deleted" },
	{ IMAP_FLAG_SEEN, "\\Seen" },
	{ IMAP_FLAG_DRAFT, "\\Draft" },
	{ IMAP_FLAG_RECENT, "\\Recent" },
};

bool imap_flag_from_name(const char *name, uint32_t *flag_r)
{
	for (size_t i = 0; i < N_ELEMENTS(flag_names); i++) {
		if (strcasecmp(name, flag_names[i].name) == 0) {
			*flag_r = flag_names[i].flag;
			return true;
		}
	}
	return false;
}

const char *imap_flag_name(uint32_t flag)
{
	for (size_t i = 0; i < N_ELEMENTS(flag_names); i++) {
		if (flag_names[i].flag == flag)
			return flag_names[i].name;
	}
	return NULL;
}

bool imap_keyword_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > IMAP_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!imap_is_atom_char((unsigned char)name[i]))
			return false;
	}
	return true;
}

void imap_append_flags(struct buf *b, uint32_t flags,
		       const char *const *keywords, size_t n_keywords)
{
	bool first = true;
	buf_append(b, "(", 1);
	for (size_t i = 0; i < N_ELEMENTS(flag_names); i++) {
		if ((flags & flag_names[i].flag) == 0)
			continue;
		if (!first)
			buf_append(b, " ", 1);
		buf_append(b, flag_names[i].name, strlen(flag_names[i].name));
		first = false;
	}
	for (size_t i = 0; i < n_keywords; i++) {
		if (!first)
			buf_append(b, " ", 1);
		buf_append(b, keywords[i], strlen(keywords[i]));
		first = false;
	}
	buf_append(b, ")", 1);
}
