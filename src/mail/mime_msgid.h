/* mime_msgid.h — message identifiers (RFC 5322 3.6.4): Message-ID,
 * In-Reply-To and References, as threading (IMAP THREAD=REFERENCES, RFC
 * 5256 4) and any later reader of replies need them.
 *
 * Design. A tolerant parser: a msg-id is "<" id-left "@" id-right ">" with
 * CFWS (comments, folding) allowed around and inside it, as the obsolete
 * syntax of RFC 5322 4.5.4 permits; whitespace and comments inside the
 * brackets are dropped, quoted strings keep their text, and the result is
 * the bare "left@right" (no brackets), compared case-sensitively (RFC 5256
 * 4). Text between identifiers (phrases of In-Reply-To, junk, commas) is
 * skipped; a bracketed token without "@" or over MIME_MSGID_MAX bytes is
 * not a valid identifier and is skipped as well. */
#ifndef SEALPOST_MIME_MSGID_H
#define SEALPOST_MIME_MSGID_H

#include <stddef.h>

/* Longest identifier kept (RFC 5322 sets no limit; 998-byte lines bound
 * real ones, Dovecot and others cap them near this). */
#define MIME_MSGID_MAX 512
/* Identifiers kept from one References field: the last ones are what
 * threading needs; a longer chain is cut at its start. */
#define MIME_MSGID_REFS_MAX 256

/* Every valid identifier of the header value, in order, as a new
 * NULL-terminated array (free with strv_free); at most max of them, the
 * last ones when there are more. */
char **mime_msgid_list(const char *value, size_t len, size_t max);
/* The first valid identifier of the value (new string), or NULL. */
char *mime_msgid_first(const char *value, size_t len);

#endif
