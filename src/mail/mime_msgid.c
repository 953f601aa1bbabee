/* mime_msgid.c — RFC 5322 msg-id lists (see mime_msgid.h). */
#include "mail/mime_msgid.h"
#include "lib/util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Skip a comment starting at s[*pos] == '(' (nested, with quoted pairs). */
static void skip_comment(const char *s, size_t len, size_t *pos)
{
	unsigned depth = 0;

	for (; *pos < len; (*pos)++) {
		char c = s[*pos];
		if (c == '\\')
			(*pos)++;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			(*pos)++;
			return;
		}
	}
}

/* The identifier between "<" at s[*pos] and its ">", CFWS removed; false
 * when it is not a valid one. *pos ends after the ">" (or at the next
 * "<", which starts the next identifier). */
static bool scan_id(const char *s, size_t len, size_t *pos, struct buf *id)
{
	bool at = false, quoted = false;

	id->len = 0;
	for ((*pos)++; *pos < len; (*pos)++) {
		char c = s[*pos];
		if (quoted) {
			if (c == '"')
				quoted = false;
			else if (c == '\\' && *pos + 1 < len)
				buf_append(id, &s[++(*pos)], 1);
			else if (c != '\r' && c != '\n')
				buf_append(id, &c, 1);
			continue;
		}
		if (c == '>') {
			(*pos)++;
			break;
		}
		if (c == '<')
			return false;           /* unterminated: the next one starts */
		if (c == '(') {
			skip_comment(s, len, pos);
			(*pos)--;
		} else if (c == '"') {
			quoted = true;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			at |= c == '@';
			buf_append(id, &c, 1);
		}
	}
	return at && id->len > 1 && id->len <= MIME_MSGID_MAX &&
		id->data[0] != '@' && id->data[id->len - 1] != '@';
}

/* The next valid identifier from value[*pos] on into id; false at the end. */
static bool next_id(const char *value, size_t len, size_t *pos, struct buf *id)
{
	while (*pos < len) {
		char c = value[*pos];
		if (c == '(') {
			skip_comment(value, len, pos);
		} else if (c == '"') {
			/* a quoted phrase of In-Reply-To: skip it whole */
			for ((*pos)++; *pos < len && value[*pos] != '"'; (*pos)++)
				*pos += value[*pos] == '\\';
			(*pos)++;
		} else if (c != '<') {
			(*pos)++;
		} else if (scan_id(value, len, pos, id)) {
			return true;
		}
	}
	return false;
}

char **mime_msgid_list(const char *value, size_t len, size_t max)
{
	char **ids = xcalloc(max + 1, sizeof(*ids));
	size_t n = 0, pos = 0;
	struct buf id = { 0 };

	while (max > 0 && next_id(value, len, &pos, &id)) {
		if (n == max) {         /* keep the last max */
			free(ids[0]);
			memmove(ids, ids + 1, (max - 1) * sizeof(*ids));
			n--;
		}
		ids[n++] = xstrndup(id.data, id.len);
	}
	buf_free(&id);
	return ids;
}

char *mime_msgid_first(const char *value, size_t len)
{
	struct buf id = { 0 };
	size_t pos = 0;
	char *first = NULL;

	if (next_id(value, len, &pos, &id))
		first = xstrndup(id.data, id.len);
	buf_free(&id);
	return first;
}
