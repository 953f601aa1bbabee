/* imap_util.h — IMAP syntax helpers: character classes, output quoting, flags.
 *
 * Design: pure functions over RFC 3501 section 9 (formal syntax). Output goes
 * into a struct buf; the choice between atom, quoted string and literal is
 * made here once, so every response writer quotes the same way:
 *   - atom      only for astrings made of ATOM-CHARs (and never "NIL");
 *   - quoted    for 7-bit text without CR/LF up to IMAP_QUOTED_MAX bytes;
 *   - literal   {N}CRLF<bytes> for everything else: 8-bit data, CR/LF, long.
 * NUL cannot be sent in any IMAP string (CHAR8 is %x01-ff), so NUL bytes are
 * dropped from output strings.
 *
 * Flags: the five settable system flags plus \Recent are bits; keywords are
 * atoms kept by name (the store owns their storage). */
#ifndef SEALPOST_IMAP_UTIL_H
#define SEALPOST_IMAP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* Longest string written as a quoted string; longer ones become literals
 * (no RFC limit; keeps response lines short for line-based clients). */
#define IMAP_QUOTED_MAX 1024
/* Longest keyword we accept (no RFC limit; Dovecot also caps keyword names). */
#define IMAP_KEYWORD_MAX 128

/* System flags (RFC 3501 2.3.2). */
#define IMAP_FLAG_ANSWERED 0x01u
#define IMAP_FLAG_FLAGGED  0x02u
#define IMAP_FLAG_DELETED  0x04u
#define IMAP_FLAG_SEEN     0x08u
#define IMAP_FLAG_DRAFT    0x10u
#define IMAP_FLAG_RECENT   0x20u   /* session flag: never set by a client */

/* RFC 3501 9: ATOM-CHAR (any CHAR except atom-specials). */
bool imap_is_atom_char(unsigned char c);
/* RFC 3501 9: ASTRING-CHAR = ATOM-CHAR / resp-specials ("]"). */
bool imap_is_astring_char(unsigned char c);

/* Append s as an astring: atom when possible, else quoted or literal. */
void imap_append_astring(struct buf *b, const char *s);
/* Append len bytes of s as a string (quoted or literal, never an atom). */
void imap_append_string(struct buf *b, const char *s, size_t len);
/* As imap_append_string, or NIL when s is NULL. */
void imap_append_nstring(struct buf *b, const char *s, size_t len);

/* The flag bit of a system flag name ("\Seen", any case); false when name
 * is not one of \Answered \Flagged \Deleted \Seen \Draft \Recent. */
bool imap_flag_from_name(const char *name, uint32_t *flag_r);
/* The name of one flag bit ("\Seen"), or NULL. */
const char *imap_flag_name(uint32_t flag);
/* Is name a valid keyword (flag-keyword = atom, RFC 3501 9), at most
 * IMAP_KEYWORD_MAX bytes? */
bool imap_keyword_valid(const char *name);
/* Append "(\Seen \Answered kw1 kw2)" for flags and keywords. */
void imap_append_flags(struct buf *b, uint32_t flags,
		       const char *const *keywords, size_t n_keywords);

#endif
