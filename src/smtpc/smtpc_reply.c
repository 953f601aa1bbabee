/* smtpc_reply.c — SMTP replies (RFC 5321 4.2): "ddd-text" continues a
 * reply, "ddd text" (or "ddd") ends it; every line has the same code. The
 * EHLO reply's lines after the first are keywords (RFC 5321 4.1.1.1). */
#include "smtpc/smtpc.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void ehlo_keyword(struct smtpc_reply_parser *p, const char *kw, size_t len)
{
	static const struct {
		const char *name;
		unsigned ext;
	} names[] = {
		{ "PIPELINING", SMTPC_EXT_PIPELINING },
		{ "SIZE", SMTPC_EXT_SIZE },
		{ "STARTTLS", SMTPC_EXT_STARTTLS },
		{ "8BITMIME", SMTPC_EXT_8BITMIME },
		{ "SMTPUTF8", SMTPC_EXT_SMTPUTF8 },
		{ "ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCED },
	};
	char word[32], *save = NULL;
	char *copy = xstrndup(kw, len);
	char *first = strtok_r(copy, " ", &save);

	if (first == NULL || strlen(first) >= sizeof(word)) {
		free(copy);
		return;
	}
	strlcpy_sp(word, first, sizeof(word));
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		if (str_ieq(word, names[i].name))
			p->ext |= names[i].ext;
	}
	if (str_ieq(word, "SIZE")) {
		const char *arg = strtok_r(NULL, " ", &save);
		uint64_t v;
		if (arg != NULL && str_to_u64(arg, UINT64_MAX, &v))
			p->size = v;
	} else if (str_ieq(word, "AUTH")) {
		for (const char *m = strtok_r(NULL, " ", &save); m != NULL;
		     m = strtok_r(NULL, " ", &save)) {
			if (str_ieq(m, "PLAIN"))
				p->ext |= SMTPC_EXT_AUTH_PLAIN;
			else if (str_ieq(m, "LOGIN"))
				p->ext |= SMTPC_EXT_AUTH_LOGIN;
		}
	}
	free(copy);
}

/* Append a line to the reply text (control bytes replaced). */
static void append_text(struct smtpc_reply *r, const char *line, size_t len)
{
	size_t have = strlen(r->text);
	size_t room = sizeof(r->text) - 1 - have;

	if (have > 0 && room > 0) {
		r->text[have++] = ' ';
		room--;
	}
	if (len > room)
		len = room;
	str_sanitize(r->text + have, len + 1, line, len);
}

enum smtpc_parse smtpc_reply_line(struct smtpc_reply_parser *p, const char *line,
				  size_t len, bool ehlo, const char **error_r)
{
	int code;

	if (p->code == 0 && p->lines == 0) {
		memset(p, 0, sizeof(*p));
	}
	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]) ||
	    line[0] < '2' || line[0] > '5' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		*error_r = "not an SMTP reply line";
		goto error;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->lines > 0 && code != p->code) {
		*error_r = "reply lines with different codes";
		goto error;
	}
	if (++p->lines > SMTPC_REPLY_LINES_MAX) {
		*error_r = "reply with too many lines";
		goto error;
	}
	p->code = code;
	append_text(&p->reply, line, len);
	if (ehlo && p->lines > 1 && len > 4)
		ehlo_keyword(p, line + 4, len - 4);
	if (len > 3 && line[3] == '-')
		return SMTPC_PARSE_MORE;
	p->reply.code = code;
	p->code = 0;
	p->lines = 0;
	return SMTPC_PARSE_DONE;
error:
	p->code = 0;
	p->lines = 0;
	return SMTPC_PARSE_ERROR;
}
