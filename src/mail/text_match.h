/* text_match.h — case-insensitive substring search over UTF-8 streams, for
 * IMAP SEARCH (RFC 3501 6.4.4: "case-insensitive substring").
 *
 * Design. Both the needle and the haystack are case-folded code point by
 * code point (simple one-to-one folding for ASCII, Latin-1, Latin
 * Extended-A, Greek, Cyrillic, Armenian and fullwidth Latin; other scripts
 * compare exactly), then matched bytewise with a Knuth-Morris-Pratt
 * automaton, so the haystack can arrive in chunks of any size and nothing
 * but the automaton state and up to 3 bytes of a split character is kept.
 * Bytes that are not valid UTF-8 are compared as they are. */
#ifndef SEALPOST_TEXT_MATCH_H
#define SEALPOST_TEXT_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

/* Append the case-folded form of UTF-8 text s. */
void text_fold_append(struct buf *out, const char *s, size_t len);

struct text_matcher;

/* A matcher for needle (UTF-8). An empty needle matches everything. */
struct text_matcher *text_matcher_new(const char *needle, size_t len);
/* Forget the haystack fed so far (start a new, unrelated text). */
void text_matcher_reset(struct text_matcher *m);
/* Feed the next chunk of haystack; true once the needle was seen since the
 * last reset. */
bool text_matcher_feed(struct text_matcher *m, const char *data, size_t len);
bool text_matcher_matched(const struct text_matcher *m);
void text_matcher_free(struct text_matcher **mp);
/* One-shot: does haystack contain needle, case-insensitively? */
bool text_contains(const char *haystack, size_t hlen, const char *needle, size_t nlen);

#endif
