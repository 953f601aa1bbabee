/* mime_crlf.h — the CRLF form of a message file with LF-only lines.
 *
 * IMAP sizes and offsets are those of the message with CRLF line ends
 * (RFC 3501 2.3.4), but files written by other programs (mutt, Dovecot)
 * usually end lines with LF alone (MIME_PART_BARE_LF). Such a file is not
 * converted or copied: a map of marks (file offset, CRLF-form offset) is
 * built while it is read, one at least every MIME_CRLF_MARK_STEP file
 * bytes and only where the previous file byte is not CR, so that converting
 * from a mark yields exactly the CRLF form from there. Every bare LF counts
 * as CRLF; a lone CR stays as it is (the Maildir vsize counts the same way).
 *
 * A mime_reader over the map presents the CRLF form to the MIME parser, the
 * renderers and SEARCH; mime_crlf_locate() tells a file stream where to
 * start reading (and how many converted bytes to drop) for a CRLF-form
 * offset. Once a message was read through, its marks cover the file; they
 * are serialised next to the MIME tree in the session's cache, so a later
 * partial FETCH starts within MIME_CRLF_MARK_STEP bytes of its offset.
 *
 * Memory: the map holds 16 bytes per mark plus one read buffer. */
#ifndef SEALPOST_MIME_CRLF_H
#define SEALPOST_MIME_CRLF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mime_header.h"
#include "lib/util.h"

/* File bytes between marks: a partial read of the CRLF form converts at
 * most this much more than it returns. */
#define MIME_CRLF_MARK_STEP (64 * 1024)
/* Bytes read from the file at once. */
#define MIME_CRLF_READ_CHUNK (16 * 1024)

struct mime_crlf_mark {
	uint64_t phys;          /* file offset; the byte before is not CR */
	uint64_t virt;          /* the same point in the CRLF form */
};

struct mime_crlf {
	const struct mime_reader *file;
	struct mime_crlf_mark *marks;   /* ascending; marks[0] = {0, 0} */
	size_t n_marks, cap;
	struct mime_crlf_mark cursor;   /* where the last read stopped */
	char *chunk;                    /* MIME_CRLF_READ_CHUNK bytes */
};

/* A map over the file read through file (which must outlive it). */
void mime_crlf_init(struct mime_crlf *c, const struct mime_reader *file);
void mime_crlf_free(struct mime_crlf *c);
/* A reader of the CRLF form (c must outlive it). */
void mime_crlf_reader(struct mime_crlf *c, struct mime_reader *r_r);
/* Where the CRLF-form offset v begins: converting the file from *phys_r
 * and dropping *skip_r output bytes gets there. Reads the file as far as
 * needed to place marks up to v. */
int mime_crlf_locate(struct mime_crlf *c, uint64_t v, uint64_t *phys_r,
		     uint64_t *skip_r, const char **error_r);
/* Append the marks (for the cache). */
void mime_crlf_serialize(const struct mime_crlf *c, struct buf *out);
/* Restore marks written by mime_crlf_serialize into an initialised map
 * (validated: a corrupt entry is an error, never a wrong offset beyond
 * what the file gives). */
int mime_crlf_deserialize(struct mime_crlf *c, const void *data, size_t len,
			  const char **error_r);

#endif
