/* imap_search.h — SEARCH keys (RFC 3501 6.4.4) parsed into a tree, and
 * evaluated against one message at a time.
 *
 * Design. Parsing desugars the RFC's 35 keys into a few node types: the
 * flag keys become FLAG nodes (UNSEEN = NOT SEEN, NEW = RECENT AND NOT
 * SEEN, OLD = NOT RECENT), FROM/TO/CC/BCC/SUBJECT become HEADER nodes, and
 * every "AND" (the top level and parenthesised groups) is ordered cheapest
 * first (flags and numbers, then header keys, then body keys) so evaluation
 * short-circuits before reading the message where it can.
 *
 * Matching (RFC 3501: case-insensitive substring): header values are
 * unfolded and RFC 2047-decoded to UTF-8; BODY searches the text of the
 * message: every text/ * part after transfer decoding (base64,
 * quoted-printable) and charset conversion to UTF-8 (mime_decode.h), plus
 * the headers of encapsulated messages; non-text parts (attachments) are not
 * searched, HTML is searched as it is (tags included). TEXT is the decoded
 * header fields plus BODY. Case folding is text_match.h's. CHARSET may be
 * UTF-8 or US-ASCII (the default); others are refused with BADCHARSET.
 * Dates compare calendar days in the date's own zone: the internal date in
 * the zone the message has, the Date: field in the zone it names. */
#ifndef SEALPOST_IMAP_SEARCH_H
#define SEALPOST_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "mail/mime.h"

/* Nodes in one search program (no RFC limit; bounds memory and time). */
#define IMAP_SEARCH_KEYS_MAX 1000
/* Nesting of NOT/OR/groups; bounds recursion in parse and evaluation. */
#define IMAP_SEARCH_DEPTH_MAX 64

enum imap_search_type {
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_AND,        /* children */
	IMAP_SEARCH_OR,         /* 2 children */
	IMAP_SEARCH_NOT,        /* 1 child */
	IMAP_SEARCH_SEQSET,     /* set (message sequence numbers) */
	IMAP_SEARCH_UID,        /* set */
	IMAP_SEARCH_FLAG,       /* flag bit is set */
	IMAP_SEARCH_KEYWORD,    /* value */
	IMAP_SEARCH_BEFORE,     /* internal date day < day */
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,      /* >= */
	IMAP_SEARCH_SENTBEFORE, /* Date: field */
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	IMAP_SEARCH_LARGER,     /* size > number */
	IMAP_SEARCH_SMALLER,    /* size < number */
	IMAP_SEARCH_HEADER,     /* field contains value ("" = field exists) */
	IMAP_SEARCH_BODY,       /* value */
	IMAP_SEARCH_TEXT,       /* value */
	IMAP_SEARCH_MODSEQ,     /* mod-sequence >= number (RFC 7162 3.1.5) */
};

struct imap_search_key {
	enum imap_search_type type;
	struct imap_search_key *children;
	size_t n_children;
	uint32_t flag;
	char *field;
	char *value;
	uint64_t number;
	int64_t day;            /* days since 1970-01-01 */
	struct imap_seqset set;
	bool saved;             /* UID: the set is "$" (RFC 5182), filled in
				   by imap_search_use_saved() */
};

enum imap_search_parse_result {
	IMAP_SEARCH_PARSE_OK,
	IMAP_SEARCH_PARSE_BAD,          /* reply BAD error */
	IMAP_SEARCH_PARSE_BADCHARSET,   /* reply NO [BADCHARSET (UTF-8 US-ASCII)] */
};

/* Parse the SEARCH arguments (after "SEARCH", including CHARSET). */
enum imap_search_parse_result imap_search_parse(const struct imap_arg *args, size_t n,
						struct imap_search_key **key_r,
						const char **error_r);
void imap_search_free(struct imap_search_key **keyp);

/* Fill every "$" (RFC 5182 SEARCHRES: the saved result, UIDs) with a copy
 * of saved; call before imap_search_resolve(). */
void imap_search_use_saved(struct imap_search_key *key,
			   const struct imap_seqset *saved);

/* Resolve "*" in sequence sets: count messages, highest UID max_uid. */
void imap_search_resolve(struct imap_search_key *key, uint32_t count, uint32_t max_uid);

/* Does key use MODSEQ (then the untagged SEARCH ends with "(MODSEQ n)",
 * RFC 7162 3.1.6)? */
bool imap_search_uses_modseq(const struct imap_search_key *key);

/* What evaluation will read from the message. */
#define IMAP_SEARCH_NEEDS_HEADER 0x1u
#define IMAP_SEARCH_NEEDS_BODY   0x2u
unsigned imap_search_needs(const struct imap_search_key *key);

/* The message abstraction the evaluator works on. mime and reader are
 * needed only when imap_search_needs() says so (else they may be NULL). */
struct imap_search_msg {
	uint32_t seq, uid;
	uint32_t flags;                 /* IMAP_FLAG_* */
	const char *const *keywords;
	size_t n_keywords;
	uint64_t size;                  /* RFC822.SIZE */
	uint64_t modseq;                /* RFC 7162 */
	time_t internal_date;
	int internal_tz;                /* minutes east of UTC */
	const struct mime_part *mime;
	const struct mime_reader *reader;
};

/* Does msg match key? Fails only when reading the message fails. */
int imap_search_match(const struct imap_search_key *key,
		      const struct imap_search_msg *msg, bool *match_r,
		      const char **error_r);

#endif
