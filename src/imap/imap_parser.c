/* imap_parser.c — incremental IMAP command parser (see imap_parser.h). */
#include "imap/imap_parser.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_util.h"
#include "lib/util.h"

/* Where the parser is between calls. */
enum parser_state {
	PS_START,       /* next line starts a command */
	PS_ARGS,        /* next line continues the command after a literal */
	PS_LITERAL,     /* waiting for literal bytes (buffered or streamed) */
	PS_DISCARD,     /* waiting for a literal of a failed command */
	PS_FAILED,      /* failed; next line still belongs to the command */
	PS_DONE,        /* COMPLETE or ERROR returned; next line resets */
};

struct imap_parser {
	uint64_t append_max;
	enum parser_state state;
	char *tag, *name;
	struct imap_arg root;                   /* LIST of top-level args */
	struct imap_arg *stack[IMAP_PARSER_DEPTH_MAX + 1];
	unsigned depth;                         /* open lists; stack[0]=root */
	bool need_sep;                          /* a token just ended */
	size_t n_args;
	uint64_t total;                         /* bytes buffered */
	unsigned n_ext;
	struct imap_literal lit;
	uint64_t lit_got;
	struct imap_arg *lit_arg;               /* buffered literal target */
	struct imap_command cmd;
	struct imap_parse_error err;
};

static void args_free(struct imap_arg *arg)
{
	if (arg->type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < arg->len; i++)
			args_free(&arg->list[i]);
		x_free(&arg->list);
	}
	x_free(&arg->str);
}

void imap_parser_reset(struct imap_parser *p)
{
	args_free(&p->root);
	x_free(&p->tag);
	x_free(&p->name);
	memset(&p->root, 0, sizeof(p->root));
	p->root.type = IMAP_ARG_LIST;
	p->stack[0] = &p->root;
	p->depth = 0;
	p->need_sep = false;
	p->n_args = 0;
	p->total = 0;
	p->n_ext = 0;
	memset(&p->lit, 0, sizeof(p->lit));
	p->lit_got = 0;
	p->lit_arg = NULL;
	memset(&p->err, 0, sizeof(p->err));
	p->state = PS_START;
}

struct imap_parser *imap_parser_new(uint64_t append_max)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	p->append_max = append_max;
	imap_parser_reset(p);
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	if (*pp == NULL)
		return;
	imap_parser_reset(*pp);
	x_free(pp);
}

/* ---- errors ---------------------------------------------------------- */

/* Record the first error of the command. */
static void fail(struct imap_parser *p, const char *text)
{
	if (p->err.text == NULL)
		p->err.text = text;
}

/* Does the line end with a non-synchronising literal "{N+}"? Returns 1 with
 * its size, 0 when it does not, -1 when it does but N is unusable. */
static int trailing_nonsync_literal(const char *line, size_t len, uint64_t *size_r)
{
	if (len < 4 || line[len - 1] != '}' || line[len - 2] != '+')
		return 0;
	size_t i = len - 2;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || line[i - 1] != '{')
		return 0;
	uint64_t v = 0;
	if (i == len - 2)
		return -1;
	for (size_t j = i; j < len - 2; j++) {
		unsigned d = (unsigned)(line[j] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*size_r = v;
	return 1;
}

/* The command has failed while parsing this line: the client may still send
 * a non-synchronising literal announced at its end, which must be skipped. */
static enum imap_parse_result failed_line_end(struct imap_parser *p,
					      const char *line, size_t len)
{
	uint64_t size = 0;
	int ret = trailing_nonsync_literal(line, len, &size);

	if (ret == 0) {
		p->state = PS_DONE;
		return IMAP_PARSE_ERROR;
	}
	if (ret < 0 || size > IMAP_LITERAL_DISCARD_MAX) {
		p->err.disconnect = true;
		p->state = PS_DONE;
		return IMAP_PARSE_ERROR;
	}
	memset(&p->lit, 0, sizeof(p->lit));
	p->lit.size = size;
	p->lit.discard = true;
	p->lit_got = 0;
	p->state = PS_DISCARD;
	return IMAP_PARSE_NEED_LITERAL;
}

static void literal_finished(struct imap_parser *p);

/* ---- tokens ---------------------------------------------------------- */

static struct imap_arg *add_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *list = p->stack[p->depth];

	if (++p->n_args > IMAP_PARSER_ARGS_MAX) {
		fail(p, "Too many arguments");
		return NULL;
	}
	if (list->len == list->list_cap) {
		list->list_cap = list->list_cap == 0 ? 4 : list->list_cap * 2;
		list->list = xrealloc(list->list, list->list_cap * sizeof(*list->list));
	}
	struct imap_arg *arg = &list->list[list->len++];
	memset(arg, 0, sizeof(*arg));
	arg->type = type;
	return arg;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Skip a quoted string starting at line[*pos] == '"' inside a [section];
 * the FETCH attribute parser reads it later. */
static bool skip_quoted(const char *line, size_t len, size_t *pos)
{
	for (size_t i = *pos + 1; i < len; i++) {
		if (line[i] == '\\' && i + 1 < len)
			i++;
		else if (line[i] == '"') {
			*pos = i + 1;
			return true;
		}
	}
	return false;
}

/* The "]" closing a "[" at line[pos], skipping quoted strings; 0 if none. */
static size_t bracket_end(const char *line, size_t len, size_t pos)
{
	size_t i = pos + 1;
	while (i < len) {
		if (line[i] == ']')
			return i;
		if (line[i] != '"')
			i++;
		else if (!skip_quoted(line, len, &i))
			return 0;
	}
	return 0;
}

/* Find the end of an atom starting at pos; NULL or an error text. A "[" with
 * a matching "]" on the line opens a section (BODY[HEADER.FIELDS (A B)])
 * whose spaces, parentheses and quoted strings belong to the atom; a lone
 * "[" is an ordinary ATOM-CHAR (RFC 3501 9). */
static const char *scan_atom(const char *line, size_t len, size_t *pos)
{
	size_t i = *pos;

	for (; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '[') {
			size_t end = bracket_end(line, len, i);
			for (size_t j = i + 1; j < end; j++) {
				unsigned char d = (unsigned char)line[j];
				if (d == '"') {
					skip_quoted(line, len, &j);
					j--;
				} else if (d == '[' || d == '{' || is_ctl(d)) {
					return "Invalid character in section";
				}
			}
			if (end > 0)
				i = end;
			continue;
		}
		if (c == ' ' || c == '(' || c == ')')
			break;
		if (c == '"' || c == '{' || is_ctl(c) || (c == '\\' && i != *pos))
			return "Invalid character in atom";
	}
	*pos = i;
	return NULL;
}

static bool parse_atom(struct imap_parser *p, const char *line, size_t len,
		       size_t *pos)
{
	size_t start = *pos;
	const char *error = scan_atom(line, len, pos);

	if (error != NULL) {
		fail(p, error);
		return false;
	}
	size_t n = *pos - start;
	char *text = xstrndup(line + start, n);
	uint64_t v;
	enum imap_arg_type type = IMAP_ARG_ATOM;
	if (strcasecmp(text, "NIL") == 0)
		type = IMAP_ARG_NIL;
	else if (str_to_u64(text, UINT64_MAX, &v))
		type = IMAP_ARG_NUMBER;
	struct imap_arg *arg = add_arg(p, type);
	if (arg == NULL) {
		free(text);
		return false;
	}
	arg->str = text;
	arg->len = n;
	if (type == IMAP_ARG_NUMBER)
		arg->number = v;
	return true;
}

static bool parse_quoted(struct imap_parser *p, const char *line, size_t len,
			 size_t *pos)
{
	char *out = xmalloc(len - *pos);
	size_t n = 0;

	for (size_t i = *pos + 1; i < len; i++) {
		char c = line[i];
		if (c == '"') {
			struct imap_arg *arg = add_arg(p, IMAP_ARG_STRING);
			if (arg == NULL)
				break;
			out[n] = '\0';
			arg->str = out;
			arg->len = n;
			*pos = i + 1;
			return true;
		}
		if (c == '\0') {
			fail(p, "NUL in quoted string");
			break;
		}
		if (c == '\r' || c == '\n') {         /* not TEXT-CHAR */
			fail(p, "Invalid character in quoted string");
			break;
		}
		if (c == '\\') {
			if (i + 1 == len)
				break;
			c = line[++i];
			if (c != '\\' && c != '"') {
				fail(p, "Invalid escape in quoted string");
				break;
			}
		}
		out[n++] = c;
	}
	fail(p, "Unterminated quoted string");
	free(out);
	return false;
}

/* "{N}" or "{N+}" at line[*pos]; it must end the line. */
static bool parse_literal_spec(struct imap_parser *p, const char *line,
			       size_t len, size_t pos, uint64_t *size_r, bool *sync_r)
{
	size_t i = pos + 1;
	uint64_t v = 0;

	if (i >= len || line[i] < '0' || line[i] > '9') {
		fail(p, "Invalid literal size");
		return false;
	}
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
		unsigned d = (unsigned)(line[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			fail(p, "Invalid literal size");
			return false;
		}
		v = v * 10 + d;
	}
	*sync_r = true;
	if (i < len && line[i] == '+') {
		*sync_r = false;
		i++;
	}
	if (i >= len || line[i] != '}') {
		fail(p, "Invalid literal size");
		return false;
	}
	if (i + 1 != len) {
		fail(p, "Literal must end the line");
		return false;
	}
	*size_r = v;
	return true;
}

/* A literal announcement ends the line: set up the wait for its bytes.
 * binary: a literal8 "~{N}" (RFC 3516 4.3), only for APPEND messages. */
static enum imap_parse_result start_literal(struct imap_parser *p,
					    const char *line, size_t len,
					    size_t pos, bool binary)
{
	uint64_t size;
	bool sync;

	if (!parse_literal_spec(p, line, len, pos, &size, &sync))
		return failed_line_end(p, line, len);

	/* APPEND's message (and each MULTIAPPEND message) is streamed. */
	bool stream = strcasecmp(p->name, "APPEND") == 0 && p->depth == 0 &&
		p->root.len >= 1;
	if (binary && !stream) {
		fail(p, "literal8 is only for APPEND messages");
		return failed_line_end(p, line, len);
	}
	if (stream && size > p->append_max) {
		fail(p, "Message too large");
		p->err.toobig = true;
		return failed_line_end(p, line, len);
	}
	if (!stream && (size > IMAP_LITERAL_MAX ||
			p->total + size > IMAP_COMMAND_MAX)) {
		fail(p, "Literal too large");
		return failed_line_end(p, line, len);
	}
	memset(&p->lit, 0, sizeof(p->lit));
	p->lit.size = size;
	p->lit.sync = sync;
	p->lit.stream = stream;
	p->lit.binary = binary;
	p->lit_got = 0;
	p->lit_arg = NULL;
	if (!stream) {
		p->lit_arg = add_arg(p, IMAP_ARG_LITERAL);
		if (p->lit_arg == NULL)
			return failed_line_end(p, line, len);
		p->lit_arg->str = xmalloc(size + 1);
		p->lit_arg->str[size] = '\0';
		p->lit_arg->len = size;
		p->total += size;
	}
	p->state = PS_LITERAL;
	return IMAP_PARSE_NEED_LITERAL;
}

/* One token or separator at line[*pos]; false after fail(). */
static bool parse_token(struct imap_parser *p, const char *line, size_t len,
			size_t *pos)
{
	char c = line[*pos];

	if (c == ' ') {
		p->need_sep = false;
		(*pos)++;
		return true;
	}
	if (c == ')') {
		if (p->depth == 0) {
			fail(p, "Unexpected ')'");
			return false;
		}
		p->depth--;
		p->need_sep = true;
		(*pos)++;
		return true;
	}
	if (p->need_sep) {
		fail(p, "Missing space between arguments");
		return false;
	}
	if (c == '(') {
		if (p->depth == IMAP_PARSER_DEPTH_MAX) {
			fail(p, "Lists nested too deeply");
			return false;
		}
		struct imap_arg *arg = add_arg(p, IMAP_ARG_LIST);
		if (arg == NULL)
			return false;
		p->stack[++p->depth] = arg;
		(*pos)++;
		return true;
	}
	p->need_sep = true;
	if (c == '"')
		return parse_quoted(p, line, len, pos);
	return parse_atom(p, line, len, pos);
}

static enum imap_parse_result parse_args(struct imap_parser *p, const char *line,
					 size_t len, size_t pos)
{
	while (pos < len) {
		if (line[pos] == '{' && !p->need_sep)
			return start_literal(p, line, len, pos, false);
		if (line[pos] == '~' && pos + 1 < len && line[pos + 1] == '{' &&
		    !p->need_sep)
			return start_literal(p, line, len, pos + 1, true);
		if (!parse_token(p, line, len, &pos))
			return failed_line_end(p, line, len);
	}
	if (p->depth > 0) {
		fail(p, "Missing ')'");
		return failed_line_end(p, line, len);
	}
	p->state = PS_DONE;
	return IMAP_PARSE_COMPLETE;
}

/* "tag SP name" at the start of a command; returns the position after it
 * or 0 after fail(). */
static size_t parse_tag_and_name(struct imap_parser *p, const char *line, size_t len)
{
	size_t i = 0;

	if (len == 0) {
		fail(p, "Empty command line");
		return 0;
	}
	while (i < len && line[i] != ' ')
		i++;
	for (size_t j = 0; j < i; j++) {
		unsigned char c = (unsigned char)line[j];
		if (!imap_is_astring_char(c) || c == '+') {
			fail(p, i == 0 ? "Missing tag" : "Invalid tag");
			return 0;
		}
	}
	if (i == 0) {
		fail(p, "Missing tag");
		return 0;
	}
	if (i > IMAP_TAG_MAX) {
		fail(p, "Tag too long");
		return 0;
	}
	p->tag = xstrndup(line, i);
	size_t start = ++i;
	while (i < len && line[i] != ' ')
		i++;
	if (i == start || start > len) {
		fail(p, "Missing command name");
		return 0;
	}
	for (size_t j = start; j < i; j++) {
		if (!imap_is_atom_char((unsigned char)line[j])) {
			fail(p, "Invalid command name");
			return 0;
		}
	}
	p->name = xstrndup(line + start, i - start);
	return i < len ? i + 1 : i;
}

enum imap_parse_result imap_parser_feed_line(struct imap_parser *p,
					     const char *line, size_t len)
{
	/* A zero-length buffered literal needs no feed call. */
	if ((p->state == PS_LITERAL || p->state == PS_DISCARD) &&
	    !p->lit.stream && p->lit_got == p->lit.size)
		literal_finished(p);
	assert(p->state != PS_LITERAL && p->state != PS_DISCARD);
	if (p->state == PS_DONE)
		imap_parser_reset(p);
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;

	if (p->state == PS_FAILED)
		return failed_line_end(p, line, len);
	p->total += len + 2;
	if (len > IMAP_LINE_MAX || p->total > IMAP_COMMAND_MAX) {
		fail(p, "Command line too long");
		return failed_line_end(p, line, len);
	}
	size_t pos = 0;
	if (p->state == PS_START) {
		pos = parse_tag_and_name(p, line, len);
		if (pos == 0)
			return failed_line_end(p, line, len);
	}
	p->state = PS_ARGS;
	return parse_args(p, line, len, pos);
}

void imap_parser_literal(const struct imap_parser *p, struct imap_literal *lit_r)
{
	assert(p->state == PS_LITERAL || p->state == PS_DISCARD);
	*lit_r = p->lit;
}

/* The literal's last byte arrived (or the caller consumed it). */
static void literal_finished(struct imap_parser *p)
{
	if (p->state == PS_DISCARD || p->err.text != NULL) {
		p->state = PS_FAILED;
		return;
	}
	p->state = PS_ARGS;
	p->need_sep = true;
}

void imap_parser_feed_literal(struct imap_parser *p, const void *data, size_t len)
{
	if (len == 0)
		return;         /* also after the literal is complete */
	assert(p->state == PS_LITERAL || p->state == PS_DISCARD);
	assert(!p->lit.stream);
	assert(len <= p->lit.size - p->lit_got);

	if (p->state == PS_LITERAL) {
		memcpy(p->lit_arg->str + p->lit_got, data, len);
		if (memchr(data, '\0', len) != NULL)
			fail(p, "NUL in literal");
	}
	p->lit_got += len;
	if (p->lit_got == p->lit.size)
		literal_finished(p);
}

void imap_parser_literal_done(struct imap_parser *p)
{
	assert(p->state == PS_DISCARD ||
	       (p->state == PS_LITERAL && p->lit.stream));
	if (p->state == PS_LITERAL) {
		struct imap_arg *arg = add_arg(p, IMAP_ARG_LITERAL_EXT);
		if (arg != NULL) {
			arg->number = p->lit.size;
			arg->ext_index = p->n_ext++;
		}
	}
	p->lit_got = p->lit.size;
	literal_finished(p);
}

const struct imap_command *imap_parser_command(const struct imap_parser *p)
{
	struct imap_command *cmd = (struct imap_command *)&p->cmd;

	cmd->tag = p->tag;
	cmd->name = p->name;
	cmd->args = p->root.list;
	cmd->n_args = p->root.len;
	return cmd;
}

const struct imap_parse_error *imap_parser_error(const struct imap_parser *p)
{
	return &p->err;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

/* ---- argument accessors -------------------------------------------- */

void imap_parser_replace_str(struct imap_parser *p, const struct imap_arg *arg,
			     char *str)
{
	/* the tree is the parser's: its arguments are writable here */
	struct imap_arg *a = (struct imap_arg *)arg;

	(void)p;
	free(a->str);
	a->str = str;
	a->len = strlen(str);
}

bool imap_arg_atom_equals(const struct imap_arg *arg, const char *word)
{
	const char *s;
	return imap_arg_get_atom(arg, &s) && strcasecmp(s, word) == 0;
}

bool imap_arg_get_atom(const struct imap_arg *arg, const char **s_r)
{
	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NUMBER &&
	    arg->type != IMAP_ARG_NIL)
		return false;
	*s_r = arg->str;
	return true;
}

/* Are all bytes of an atom astring chars (plus extra)? 8-bit is tolerated. */
static bool atom_chars_ok(const struct imap_arg *arg, const char *extra)
{
	for (size_t i = 0; i < arg->len; i++) {
		unsigned char c = (unsigned char)arg->str[i];
		if (c < 0x80 && !imap_is_astring_char(c) &&
		    (extra == NULL || strchr(extra, c) == NULL))
			return false;
	}
	return true;
}

static bool get_astring(const struct imap_arg *arg, const char *extra,
			const char **s_r, size_t *len_r)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
		if (!atom_chars_ok(arg, extra))
			return false;
		/* fall through */
	case IMAP_ARG_NUMBER:
	case IMAP_ARG_NIL:
	case IMAP_ARG_STRING:
	case IMAP_ARG_LITERAL:
		*s_r = arg->str;
		*len_r = arg->len;
		return true;
	default:
		return false;
	}
}

bool imap_arg_get_astring(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	return get_astring(arg, NULL, s_r, len_r);
}

bool imap_arg_get_list_mailbox(const struct imap_arg *arg, const char **s_r,
			       size_t *len_r)
{
	return get_astring(arg, "%*", s_r, len_r);
}

bool imap_arg_get_string(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	if (arg->type != IMAP_ARG_STRING && arg->type != IMAP_ARG_LITERAL)
		return false;
	*s_r = arg->str;
	*len_r = arg->len;
	return true;
}

bool imap_arg_get_nstring(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		*len_r = 0;
		return true;
	}
	return imap_arg_get_string(arg, s_r, len_r);
}

bool imap_arg_get_number(const struct imap_arg *arg, uint64_t max, uint64_t *n_r)
{
	if (arg->type != IMAP_ARG_NUMBER || arg->number > max)
		return false;
	*n_r = arg->number;
	return true;
}

bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **items_r,
		       size_t *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*items_r = arg->list;
	*count_r = arg->len;
	return true;
}

static bool keyword_add(char ***kw, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcasecmp((*kw)[i], name) == 0)
			return false;
	}
	*kw = xrealloc(*kw, (*n + 2) * sizeof(**kw));
	(*kw)[(*n)++] = xstrdup(name);
	(*kw)[*n] = NULL;
	return true;
}

int imap_flags_parse(const struct imap_arg *items, size_t count, uint32_t *flags_r,
		     char ***keywords_r, const char **error_r)
{
	char **kw = xcalloc(1, sizeof(*kw));
	size_t n_kw = 0;
	uint32_t flags = 0, bit;
	const char *s;

	for (size_t i = 0; i < count; i++) {
		/* NIL is an atom like any other here: the keyword "NIL"
		 * (RFC 3501 9: flag-keyword = atom). */
		if (!imap_arg_get_atom(&items[i], &s)) {
			*error_r = "Invalid flag";
			goto fail;
		}
		if (s[0] == '\\') {
			if (!imap_flag_from_name(s, &bit) || bit == IMAP_FLAG_RECENT) {
				*error_r = "Invalid system flag";
				goto fail;
			}
			flags |= bit;
		} else if (!imap_keyword_valid(s)) {
			*error_r = "Invalid keyword";
			goto fail;
		} else {
			keyword_add(&kw, &n_kw, s);
		}
	}
	*flags_r = flags;
	*keywords_r = kw;
	return 0;
fail:
	strv_free(&kw);
	return -1;
}
