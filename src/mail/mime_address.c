/* mime_address.c — tolerant RFC 5322 address-list parser. */
#include "mail/mime_address.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/mime_header.h"

/* Words in one phrase or local part (the rest are dropped). */
#define ADDRESS_WORDS_MAX 64

enum tok_type { TOK_END, TOK_ATOM, TOK_QUOTED, TOK_DOMLIT, TOK_SPECIAL };

struct tok {
	enum tok_type type;
	char special;
	char *text;             /* atom, unquoted string, domain literal */
	char *raw;              /* source text (quoted strings keep quotes) */
};

struct parser {
	const char *s;
	size_t len, pos;
	struct tok cur;
	char *comment;          /* the last comment passed */
	struct mime_address *list;
	size_t count;
	bool full;
};

struct words {
	char *text[ADDRESS_WORDS_MAX];
	char *raw[ADDRESS_WORDS_MAX];
	size_t n;
};

static void words_free(struct words *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->text[i]);
		free(w->raw[i]);
	}
	w->n = 0;
}

static bool is_special(char c)
{
	return strchr("<>@,;:\\]", c) != NULL;
}

static void skip_comment(struct parser *p)
{
	unsigned depth = 0;
	size_t start = p->pos + 1;
	for (; p->pos < p->len; p->pos++) {
		char c = p->s[p->pos];
		if (c == '\\') {
			p->pos++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && --depth == 0) {
			free(p->comment);
			p->comment = xstrndup(p->s + start, p->pos - start);
			p->pos++;
			return;
		}
	}
	p->pos = p->len;
}

static void scan_quoted(struct parser *p)
{
	struct buf b = { 0 };
	size_t start = p->pos;
	buf_append(&b, "", 0);
	for (p->pos++; p->pos < p->len; p->pos++) {
		char c = p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c == '\\' && p->pos + 1 < p->len)
			c = p->s[++p->pos];
		else if (c == '\r' || c == '\n')
			continue;
		buf_append(&b, &c, 1);
	}
	if (p->pos > p->len)
		p->pos = p->len;
	p->cur.type = TOK_QUOTED;
	p->cur.text = b.data;
	p->cur.raw = xstrndup(p->s + start, p->pos - start);
}

static void next(struct parser *p)
{
	x_free(&p->cur.text);
	x_free(&p->cur.raw);
	p->cur.type = TOK_END;
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ')')
			p->pos++;
		else if (c == '(')
			skip_comment(p);
		else
			break;
	}
	if (p->pos >= p->len)
		return;
	char c = p->s[p->pos];
	size_t start = p->pos;
	if (c == '"') {
		scan_quoted(p);
		return;
	}
	if (c == '[') {
		const char *close = memchr(p->s + start, ']', p->len - start);
		p->pos = close != NULL ? (size_t)(close - p->s) + 1 : p->len;
		p->cur.type = TOK_DOMLIT;
	} else if (is_special(c)) {
		p->pos++;
		p->cur.type = TOK_SPECIAL;
		p->cur.special = c;
		return;
	} else {
		while (p->pos < p->len) {
			c = p->s[p->pos];
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
			    c == '"' || c == '(' || c == ')' || c == '[' || is_special(c))
				break;
			p->pos++;
		}
		p->cur.type = TOK_ATOM;
	}
	p->cur.text = xstrndup(p->s + start, p->pos - start);
	p->cur.raw = xstrdup(p->cur.text);
}

static bool cur_is(const struct parser *p, char special)
{
	return p->cur.type == TOK_SPECIAL && p->cur.special == special;
}

static bool cur_is_word(const struct parser *p)
{
	return p->cur.type == TOK_ATOM || p->cur.type == TOK_QUOTED;
}

/* Collect words (atoms and quoted strings) from the current token on. */
static void collect_words(struct parser *p, struct words *w)
{
	while (cur_is_word(p)) {
		if (w->n < ADDRESS_WORDS_MAX) {
			w->text[w->n] = p->cur.text;
			w->raw[w->n] = p->cur.raw;
			p->cur.text = p->cur.raw = NULL;
			w->n++;
		}
		next(p);
	}
}

/* Display form: unquoted words joined by single spaces; NULL if none. */
static char *words_display(const struct words *w)
{
	struct buf b = { 0 };
	if (w->n == 0)
		return NULL;
	for (size_t i = 0; i < w->n; i++) {
		if (i > 0)
			buf_append(&b, " ", 1);
		buf_append(&b, w->text[i], strlen(w->text[i]));
	}
	return b.data;
}

/* Source form for local parts: "john" "." "doe" -> john.doe. */
static char *words_raw(const struct words *w)
{
	struct buf b = { 0 };
	buf_append(&b, "", 0);
	for (size_t i = 0; i < w->n; i++) {
		size_t prev = i > 0 ? strlen(w->raw[i - 1]) : 0;
		if (i > 0 && w->raw[i][0] != '.' && w->raw[i - 1][prev - 1] != '.')
			buf_append(&b, " ", 1);
		buf_append(&b, w->raw[i], strlen(w->raw[i]));
	}
	return b.data;
}

/* Takes ownership of all four strings. */
static void emit(struct parser *p, char *name, char *route, char *mailbox, char *host,
		 bool force)
{
	if (p->count >= MIME_ADDRESSES_MAX && !force) {
		p->full = true;
		free(name);
		free(route);
		free(mailbox);
		free(host);
		return;
	}
	p->list = xrealloc(p->list, (p->count + 1) * sizeof(*p->list));
	struct mime_address *a = &p->list[p->count++];
	a->name = name;
	a->route = route;
	a->mailbox = mailbox;
	a->host = host;
}

/* domain = dot-atom / domain-literal (obsolete forms glued together). */
static char *parse_domain(struct parser *p)
{
	struct buf b = { 0 };
	buf_append(&b, "", 0);
	while (p->cur.type == TOK_ATOM || p->cur.type == TOK_DOMLIT) {
		buf_append(&b, p->cur.raw, strlen(p->cur.raw));
		next(p);
		/* A comment between the domain's tokens is CFWS inside the
		 * address, not the trailing comment that names it. */
		if (p->cur.type == TOK_ATOM || p->cur.type == TOK_DOMLIT)
			x_free(&p->comment);
	}
	return b.data;
}

/* "<" [route ":"] local "@" domain ">" with the current token at "<". */
static void parse_angle(struct parser *p, struct words *phrase)
{
	struct words local = { 0 };
	struct buf route = { 0 };
	char *host = NULL;

	next(p);
	if (cur_is(p, '@')) {
		/* obs-route: "@a,@b:" */
		while (cur_is(p, '@') || cur_is(p, ',') || p->cur.type == TOK_ATOM ||
		       p->cur.type == TOK_DOMLIT) {
			buf_append(&route, p->cur.raw != NULL ? p->cur.raw :
				   &p->cur.special, p->cur.raw != NULL ?
				   strlen(p->cur.raw) : 1);
			next(p);
		}
		if (cur_is(p, ':'))
			next(p);
		else
			buf_free(&route);
	}
	collect_words(p, &local);
	if (cur_is(p, '@')) {
		next(p);
		host = parse_domain(p);
	}
	while (p->cur.type != TOK_END && !cur_is(p, '>') && !cur_is(p, ','))
		next(p);
	if (cur_is(p, '>'))
		next(p);
	emit(p, words_display(phrase), route.data, words_raw(&local),
	     host != NULL ? host : xstrdup(""), false);
	words_free(&local);
}

static void parse_address(struct parser *p, bool in_group);

/* "name:" [members] ";" with the current token at ":". */
static void parse_group(struct parser *p, struct words *phrase)
{
	bool open = p->count < MIME_ADDRESSES_MAX;

	emit(p, NULL, NULL, words_display(phrase), NULL, false);
	next(p);
	while (p->cur.type != TOK_END && !cur_is(p, ';')) {
		if (cur_is(p, ',') || cur_is(p, ':'))
			next(p);
		else
			parse_address(p, true);
	}
	if (cur_is(p, ';'))
		next(p);
	if (open)
		emit(p, NULL, NULL, NULL, NULL, true);
}

static void parse_address(struct parser *p, bool in_group)
{
	struct words phrase = { 0 };

	free(p->comment);
	p->comment = NULL;
	collect_words(p, &phrase);
	if (cur_is(p, '<')) {
		parse_angle(p, &phrase);
	} else if (cur_is(p, ':') && phrase.n > 0 && !in_group) {
		parse_group(p, &phrase);
	} else if (phrase.n > 0) {
		/* addr-spec, or a bare local part without a domain */
		char *local = words_raw(&phrase);
		char *host;
		free(p->comment);
		p->comment = NULL;
		if (cur_is(p, '@')) {
			next(p);
			x_free(&p->comment);    /* "@ (comment) domain" */
			host = parse_domain(p);
		} else {
			host = xstrdup("");
		}
		char *name = p->comment;
		p->comment = NULL;
		if (name != NULL) {
			char *trimmed = xstrdup(str_trim(name));
			free(name);
			name = trimmed;
			if (*name == '\0')
				x_free(&name);
		}
		emit(p, name, NULL, local, host, false);
	} else {
		next(p);                /* junk: skip one token */
	}
	words_free(&phrase);
}

struct mime_address *mime_address_parse(const char *value, size_t len, size_t *count_r)
{
	struct parser p = { .s = value, .len = len };

	next(&p);
	while (p.cur.type != TOK_END) {
		if (cur_is(&p, ',') || cur_is(&p, ';'))
			next(&p);
		else
			parse_address(&p, false);
	}
	next(&p);
	free(p.comment);
	*count_r = p.count;
	return p.list;
}

void mime_addresses_free(struct mime_address **list, size_t count)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		free((*list)[i].name);
		free((*list)[i].route);
		free((*list)[i].mailbox);
		free((*list)[i].host);
	}
	x_free(list);
}

/* One address as text: "Name <local@host>", "local@host", group markers
 * "name:" and ";". */
static void address_text(struct buf *b, const struct mime_address *a)
{
	if (a->host == NULL) {
		if (a->mailbox != NULL) {
			buf_append(b, a->mailbox, strlen(a->mailbox));
			buf_append(b, ":", 1);
		} else {
			buf_append(b, ";", 1);
		}
		return;
	}
	if (a->name != NULL) {
		char *name = mime_header_decode(a->name, strlen(a->name));
		buf_printf(b, "%s <", name);
		free(name);
	}
	if (a->route != NULL)
		buf_printf(b, "%s:", a->route);
	buf_append(b, a->mailbox, strlen(a->mailbox));
	if (a->host[0] != '\0')
		buf_printf(b, "@%s", a->host);
	if (a->name != NULL)
		buf_append(b, ">", 1);
}

char *mime_address_text(const char *value, size_t len)
{
	size_t n;
	struct mime_address *list = mime_address_parse(value, len, &n);
	struct buf b = { 0 };

	buf_append(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		/* ", " between addresses, not after "group:" nor before ";" */
		bool group_start = i > 0 && list[i - 1].host == NULL &&
			list[i - 1].mailbox != NULL;
		bool group_end = list[i].host == NULL && list[i].mailbox == NULL;
		if (i > 0 && !group_start && !group_end)
			buf_append(&b, ", ", 2);
		address_text(&b, &list[i]);
	}
	mime_addresses_free(&list, n);
	return b.data;
}
