/* imap_thread.h — THREAD (RFC 5256): the ORDEREDSUBJECT and REFERENCES
 * algorithms over the messages imap_sort_collect() gathered, and the
 * THREAD response.
 *
 * ORDEREDSUBJECT (RFC 5256 3): messages grouped by base subject, each
 * group ordered by sent date, its first message the parent of all the
 * others; groups ordered by the sent date of their first message.
 * REFERENCES (RFC 5256 4, Jamie Zawinski's algorithm), step by step: (1)
 * parent/child links from References (else the first In-Reply-To) through
 * a table of message identifiers, with dummies for messages not there,
 * never making a loop, and duplicate or missing Message-IDs made unique;
 * (2) the messages without parent form the root set; (3) dummies pruned;
 * (4) the root set ordered by sent date; (5) threads whose roots share a
 * base subject merged; (6) every set of siblings ordered by sent date
 * (a dummy by its first child). Equal dates keep sequence order. Message
 * identifiers compare case-sensitively.
 *
 * The response (RFC 5256 5): "(1 2 (3)(4 5))(6)": a message with one child
 * continues the list, several children are nested lists, and a dummy left
 * at the top is a list of its children. */
#ifndef SEALPOST_IMAP_THREAD_H
#define SEALPOST_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/imap_sort.h"
#include "lib/util.h"

/* Levels of replies in one thread (no RFC limit): a reply chain deeper
 * than this continues as a new thread, which bounds the recursion of the
 * algorithm's steps and of the response. */
#define IMAP_THREAD_DEPTH_MAX 1000

enum imap_thread_algorithm {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

/* The algorithm named name (any case); false when unknown. */
bool imap_thread_algorithm_parse(const char *name, enum imap_thread_algorithm *alg_r);
/* What the algorithm reads of each message (imap_sort_need bits). */
unsigned imap_thread_needs(enum imap_thread_algorithm alg);

/* Thread msgs (in sequence order; reordered) and append the thread lists
 * (what follows "THREAD" in the response, without a leading space) to
 * out, numbering messages by UID when uid, else by sequence number. */
void imap_thread_run(enum imap_thread_algorithm alg, struct imap_sort_msg *msgs,
		     size_t n, bool uid, struct buf *out);

#endif
