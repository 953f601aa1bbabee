/* imap_subject.c — RFC 5256 2.1 base subject extraction. */
#include "imap/imap_subject.h"
#include "mail/mime_header.h"
#include "mail/text_match.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The text being reduced: s[start, end). */
struct subj {
	const char *s;
	size_t start, end;
	bool reply;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Step 1: the decoded value with every whitespace run (tabs and the
 * CR/LF of folding included) as one space. */
static char *normalize(const char *value, size_t len)
{
	char *decoded = mime_header_decode(value != NULL ? value : "",
					   value != NULL ? len : 0);
	size_t o = 0;
	bool space = false;

	for (size_t i = 0; decoded[i] != '\0'; i++) {
		char c = decoded[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = true;
			continue;
		}
		if (space && o > 0)
			decoded[o++] = ' ';
		space = false;
		decoded[o++] = c;
	}
	decoded[o] = '\0';
	return decoded;
}

/* Does the text at *p begin with word (ASCII, any case)? */
static bool at_word(const struct subj *sb, size_t p, const char *word)
{
	size_t n = strlen(word);
	return sb->end - p >= n && strncasecmp(sb->s + p, word, n) == 0;
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at p; its end in *end_r. */
static bool blob_at(const struct subj *sb, size_t p, size_t *end_r)
{
	if (p >= sb->end || sb->s[p] != '[')
		return false;
	for (p++; p < sb->end && sb->s[p] != ']'; p++) {
		if (sb->s[p] == '[')
			return false;
	}
	if (p >= sb->end)
		return false;
	for (p++; p < sb->end && is_wsp(sb->s[p]); p++)
		;
	*end_r = p;
	return true;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at p. */
static bool refwd_at(const struct subj *sb, size_t p, size_t *end_r)
{
	if (at_word(sb, p, "re"))
		p += 2;
	else if (at_word(sb, p, "fwd"))
		p += 3;
	else if (at_word(sb, p, "fw"))
		p += 2;
	else
		return false;
	while (p < sb->end && is_wsp(sb->s[p]))
		p++;
	blob_at(sb, p, &p);
	if (p >= sb->end || sb->s[p] != ':')
		return false;
	*end_r = p + 1;
	return true;
}

/* Step 2: trailing subj-trailer = "(fwd)" / WSP, repeatedly. */
static void strip_trailers(struct subj *sb)
{
	for (;;) {
		if (sb->end > sb->start && is_wsp(sb->s[sb->end - 1])) {
			sb->end--;
		} else if (sb->end - sb->start >= 5 &&
			   strncasecmp(sb->s + sb->end - 5, "(fwd)", 5) == 0) {
			sb->end -= 5;
			sb->reply = true;
		} else {
			return;
		}
	}
}

/* Step 3: one subj-leader = (*subj-blob subj-refwd) / WSP at the start. */
static bool strip_leader(struct subj *sb)
{
	size_t p = sb->start;

	if (p < sb->end && is_wsp(sb->s[p])) {
		sb->start++;
		return true;
	}
	while (blob_at(sb, p, &p))
		;
	if (!refwd_at(sb, p, &p))
		return false;
	sb->start = p;
	sb->reply = true;
	return true;
}

/* Step 4: a leading subj-blob, when a non-empty subj-base remains. */
static bool strip_blob(struct subj *sb)
{
	size_t p;

	if (!blob_at(sb, sb->start, &p) || p >= sb->end)
		return false;
	sb->start = p;
	return true;
}

/* Step 6: "[fwd:" ... "]" around the rest. */
static bool strip_fwd(struct subj *sb)
{
	if (sb->end - sb->start < 6 || !at_word(sb, sb->start, "[fwd:") ||
	    sb->s[sb->end - 1] != ']')
		return false;
	sb->start += 5;
	sb->end--;
	sb->reply = true;
	return true;
}

char *imap_base_subject(const char *value, size_t len, bool *is_reply_r)
{
	char *text = normalize(value, len);
	struct subj sb = { text, 0, strlen(text), false };

	do {
		strip_trailers(&sb);                            /* (2) */
		bool changed;
		do {                                            /* (5) */
			changed = false;
			while (strip_leader(&sb))               /* (3) */
				changed = true;
			if (strip_blob(&sb))                    /* (4) */
				changed = true;
		} while (changed);
	} while (strip_fwd(&sb));                               /* (6) */
	if (is_reply_r != NULL)
		*is_reply_r = sb.reply;
	char *base = xstrndup(text + sb.start, sb.end - sb.start);
	free(text);
	return base;
}

char *imap_subject_key(const char *base)
{
	struct buf b = { 0 };

	buf_append(&b, "", 0);
	text_fold_append(&b, base, strlen(base));
	return b.data;
}
