/* imap_match.c — LIST/LSUB patterns: a table-driven match, row by row. */
#include "imap/imap_match.h"
#include "lib/util.h"

#include <ctype.h>
#include <string.h>

void imap_pattern_init(struct imap_pattern *p, const char *reference,
		       const char *mailbox, char sep)
{
	char *joined = xasprintf("%s%s", reference, mailbox);
	size_t out = 0;

	p->literals = 0;
	p->sep = sep;
	for (size_t i = 0; joined[i] != '\0'; ) {
		if (joined[i] != '*' && joined[i] != '%') {
			joined[out++] = joined[i++];
			p->literals++;
			continue;
		}
		/* "%%" is "%"; a run holding '*' is "*". */
		bool star = false;
		for (; joined[i] == '*' || joined[i] == '%'; i++)
			star |= joined[i] == '*';
		joined[out++] = star ? '*' : '%';
	}
	joined[out] = '\0';
	p->text = joined;
}

void imap_pattern_free(struct imap_pattern *p)
{
	x_free(&p->text);
}

bool imap_pattern_ends_with_percent(const struct imap_pattern *p)
{
	size_t len = strlen(p->text);
	return len > 0 && p->text[len - 1] == '%';
}

/* Characters before this index of name match case-insensitively: the
 * "INBOX" of "INBOX" and "INBOX/...". */
static size_t inbox_prefix(const char *name)
{
	return strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/')
		? 5 : 0;
}

/* row[j]: the pattern so far matches name[0..j). One row per pattern
 * character. */
bool imap_pattern_match(const struct imap_pattern *p, const char *name)
{
	size_t n = strlen(name), icase = inbox_prefix(name);

	/* Every literal byte takes one byte of the name. */
	if (n > IMAP_MATCH_NAME_MAX || p->literals > n)
		return false;
	bool *row = xcalloc(n + 1, sizeof(*row)), *next = xcalloc(n + 1, sizeof(*next));
	row[0] = true;
	for (const char *c = p->text; *c != '\0'; c++) {
		if (*c == '*') {
			next[0] = row[0];
			for (size_t j = 1; j <= n; j++)
				next[j] = next[j - 1] || row[j];
		} else if (*c == '%') {
			next[0] = row[0];
			for (size_t j = 1; j <= n; j++)
				next[j] = row[j] || (next[j - 1] && name[j - 1] != p->sep);
		} else {
			next[0] = false;
			for (size_t j = 1; j <= n; j++) {
				char nc = name[j - 1];
				bool eq = *c == nc || (j - 1 < icase &&
					toupper((unsigned char)*c) == nc);
				next[j] = row[j - 1] && eq;
			}
		}
		bool *t = row;
		row = next;
		next = t;
	}
	bool match = row[n];
	free(row);
	free(next);
	return match;
}
