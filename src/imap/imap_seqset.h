/* imap_seqset.h — IMAP sequence sets (RFC 3501 9 "sequence-set").
 *
 * Design. Parsing keeps the set as written: ranges in the client's order,
 * either end possibly "*" (stored as IMAP_SEQ_STAR). The command then
 * resolves it against the mailbox: "*" becomes the largest number in use
 * (the message count for sequence numbers, the highest UID for UIDs), each
 * range is ordered ("7:5" = "5:7") and the ranges are sorted and merged, so
 * membership is a binary search. The UID rule of RFC 3501 6.4.8 falls out:
 * with highest UID 3, "UID 5:*" resolves to 3:5 and matches UID 3.
 * Out-of-range sequence numbers are a BAD for the caller to report
 * (imap_seqset_max); nonexistent UIDs are simply not matched. */
#ifndef SEALPOST_IMAP_SEQSET_H
#define SEALPOST_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* Ranges in one set. The line limit bounds them too (2 bytes per range at
 * least); this caps memory and the resolve sort. */
#define IMAP_SEQSET_RANGES_MAX 32768
/* "*" before resolution (0 is not a valid nz-number, RFC 3501 9). */
#define IMAP_SEQ_STAR 0u

struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_seq_range *ranges;
	size_t count, cap;
};

/* Parse "1:*,3,5:7" into *set_r (caller frees with imap_seqset_free, also on
 * error). Numbers are nz-numbers (1..4294967295). */
int imap_seqset_parse(const char *s, struct imap_seqset *set_r, const char **error_r);
/* Does the parsed set use "*"? */
bool imap_seqset_has_star(const struct imap_seqset *set);
/* Replace "*" with star (0 for an empty mailbox: such ranges keep only
 * their other end), order, sort and merge the ranges in place. */
void imap_seqset_resolve(struct imap_seqset *set, uint32_t star);
/* Is n in a resolved set? */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
/* Largest number in a resolved set (0 when empty). */
uint32_t imap_seqset_max(const struct imap_seqset *set);
/* How many numbers a resolved set holds. */
uint64_t imap_seqset_count(const struct imap_seqset *set);
/* Add lo:hi (1 <= lo <= hi) to a set being built, e.g. the UIDs of
 * COPYUID; call imap_seqset_resolve(set, 0) afterwards to merge. */
void imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi);
/* Append a resolved set as "1:3,5" (nothing for an empty set). */
void imap_seqset_append(struct buf *b, const struct imap_seqset *set);
void imap_seqset_free(struct imap_seqset *set);

#endif
