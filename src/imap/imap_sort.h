/* imap_sort.h — SORT (RFC 5256 3, with SORT=DISPLAY of RFC 5957) and what
 * SORT and THREAD read of each message.
 *
 * Design. A command parses its criteria (imap_sort_parse) and its search
 * keys, then a job collects the matching messages of the view with just
 * the header data the criteria need (imap_sort_collect: subject, sent
 * date, first addresses, message identifiers), one message file at a time
 * and only its header. The result is an array of struct imap_sort_msg that
 * imap_sort_run() orders (qsort; equal messages keep their sequence order,
 * RFC 5256 3) and imap_thread.h threads.
 *
 * Keys (RFC 5256 2.2, 3): ARRIVAL is the internal date; DATE the sent
 * date: the Date field in UTC, or the internal date when it is missing or
 * unparsable; FROM, TO and CC the addr-mailbox (local part) of the first
 * address of the field, compared i;ascii-casemap; DISPLAYFROM and
 * DISPLAYTO (RFC 5957) its display name, RFC 2047-decoded, else the
 * address; SUBJECT the base subject (imap_subject.h); SIZE the RFC822.SIZE.
 * A missing field sorts as the empty string, first. */
#ifndef SEALPOST_IMAP_SORT_H
#define SEALPOST_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parser.h"
#include "imap/imap_search.h"

struct imap_mailbox;

/* Keys in one sort program (each key once makes 9; repeats are allowed
 * but pointless, so this only bounds abuse). */
#define IMAP_SORT_KEYS_MAX 32

enum imap_sort_type {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,
	IMAP_SORT_DISPLAYTO,
};

struct imap_sort_key {
	enum imap_sort_type type;
	bool reverse;
};

struct imap_sort_program {
	struct imap_sort_key keys[IMAP_SORT_KEYS_MAX];
	size_t n_keys;
};

/* What imap_sort_collect reads of each message's header. */
enum imap_sort_need {
	IMAP_SORT_NEED_SUBJECT = 1 << 0,
	IMAP_SORT_NEED_DATE = 1 << 1,
	IMAP_SORT_NEED_FROM = 1 << 2,
	IMAP_SORT_NEED_TO = 1 << 3,
	IMAP_SORT_NEED_CC = 1 << 4,
	IMAP_SORT_NEED_REFS = 1 << 5,       /* Message-ID, References,
					       In-Reply-To (THREAD) */
};

/* One matching message. Strings are new (imap_sort_msgs_free). */
struct imap_sort_msg {
	uint32_t seq, uid;
	uint64_t size;
	time_t arrival;
	time_t sent;                /* RFC 5256 2.2 sent date (UTC) */
	char *subject;              /* base subject (NEED_SUBJECT) */
	char *subject_key;          /* its comparison form */
	bool is_reply;              /* RFC 5256 4 reply or forward */
	char *from, *to, *cc;       /* addr-mailbox of the first address */
	char *display_from, *display_to;
	char *msgid;                /* NEED_REFS: own identifier or NULL */
	char **refs;                /* NEED_REFS: References, else the first
				       In-Reply-To (NULL-terminated) */
};

/* Parse the parenthesised sort criteria. -1 with *error_r. */
int imap_sort_parse(const struct imap_arg *arg, struct imap_sort_program *prog_r,
		    const char **error_r);
/* What the program needs read. */
unsigned imap_sort_needs(const struct imap_sort_program *prog);

/* "charset SP search-keys", the tail of SORT and THREAD (RFC 5256 3):
 * UTF-8 or US-ASCII, the keys parsed with "$" and "*" resolved against mb.
 * The result says how to answer a failure (imap_search.h). */
enum imap_search_parse_result imap_sort_parse_keys(const struct imap_mailbox *mb,
						   const struct imap_arg *args,
						   size_t n,
						   struct imap_search_key **key_r,
						   const char **error_r);

/* Pool thread: the view messages matching key, with the header data of
 * needs, in sequence order. -1 with *error_r when reading fails. */
int imap_sort_collect(struct imap_mailbox *mb, const struct imap_search_key *key,
		      unsigned needs, struct imap_sort_msg **msgs_r, size_t *n_r,
		      const char **error_r);
/* Fill the header data of one message from its raw header fields (also
 * for tests): value/len of Subject, Date, From, To, Cc, Message-ID,
 * References, In-Reply-To as found (NULL when absent). */
struct imap_sort_fields {
	const char *subject, *date, *from, *to, *cc, *msgid, *references, *in_reply_to;
	size_t subject_len, date_len, from_len, to_len, cc_len, msgid_len,
		references_len, in_reply_to_len;
};
void imap_sort_fill(struct imap_sort_msg *m, unsigned needs,
		    const struct imap_sort_fields *f);

/* Order msgs by the program (ties: sequence number). */
void imap_sort_run(struct imap_sort_msg *msgs, size_t n,
		   const struct imap_sort_program *prog);
void imap_sort_msgs_free(struct imap_sort_msg **msgs, size_t n);

#endif
