/* imap_esearch.h — what SEARCH and SORT return: the RETURN options of
 * ESEARCH (RFC 4731: MIN MAX ALL COUNT), SEARCHRES (RFC 5182: SAVE, the
 * result kept as "$") and ESORT (RFC 5267: the same options over a sorted
 * result), and the "* ESEARCH" response.
 *
 * Design. A command parses "RETURN (...)" in front of its other arguments
 * with imap_esearch_parse(), collects its result as a list of view indexes
 * (ascending for SEARCH, in sort order for SORT), then renders it with
 * imap_esearch_render(). MIN and MAX are the first and last of the list
 * (for SEARCH the lowest and highest, for SORT the first and last in sort
 * order, RFC 5267 3.2); ALL is a sequence set written in list order, with
 * ranges for ascending runs ("2,10:11"); nothing but COUNT is sent for an
 * empty result. What SAVE keeps is always UIDs (RFC 5182 2.1): all of the
 * result, or only its MIN and/or MAX when those are the only other options
 * asked. */
#ifndef SEALPOST_IMAP_ESEARCH_H
#define SEALPOST_IMAP_ESEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "lib/util.h"

enum imap_esearch_opt {
	IMAP_ESEARCH_MIN = 1 << 0,
	IMAP_ESEARCH_MAX = 1 << 1,
	IMAP_ESEARCH_ALL = 1 << 2,
	IMAP_ESEARCH_COUNT = 1 << 3,
	IMAP_ESEARCH_SAVE = 1 << 4,      /* RFC 5182 */
};

/* The return options of one command. */
struct imap_esearch {
	bool given;                 /* RETURN was there: answer with ESEARCH */
	unsigned opts;              /* enum imap_esearch_opt; RETURN () = ALL */
};

/* When args start with "RETURN (options)", parse them into *es_r and set
 * *used_r to 2; else *used_r is 0 and *es_r empty. -1 with *error_r on an
 * unknown option or a missing list (the caller answers BAD). */
int imap_esearch_parse(const struct imap_arg *args, size_t n,
		       struct imap_esearch *es_r, size_t *used_r,
		       const char **error_r);

/* Does the command send an ESEARCH response? (Not for SAVE alone.) */
bool imap_esearch_answers(const struct imap_esearch *es);

/* "ESEARCH (TAG "tag") [UID] MIN a MAX b ALL set COUNT n" (no "* ", no
 * CRLF) for the n ids in list order. */
void imap_esearch_render(struct buf *out, const char *tag, bool uid,
			 const struct imap_esearch *es, const uint32_t *ids,
			 size_t n);

/* The UIDs SAVE keeps of a result whose UIDs are uids (list order), into
 * *saved_r (freed first). */
void imap_esearch_save(const struct imap_esearch *es, const uint32_t *uids,
		       size_t n, struct imap_seqset *saved_r);

/* Append ids in list order as a sequence set: ascending runs as ranges. */
void imap_esearch_append_set(struct buf *out, const uint32_t *ids, size_t n);

#endif
