/* mime_lines.h — line-by-line reading of a message through a mime_reader
 * (internal to the mail library and the IMAP readers built on it:
 * mail/mime*.c, imap/mime_section.c, imap/imap_msg.c).
 *
 * Design. One MIME_READ_CHUNK buffer; lines are returned as pointers into
 * it. A line longer than the buffer comes in several segments, the first of
 * which holds the first MIME_READ_CHUNK bytes, enough to recognise a
 * boundary or a header field name. */
#ifndef SEALPOST_MIME_LINES_H
#define SEALPOST_MIME_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mime.h"

struct mime_lines {
	const struct mime_reader *r;
	char buf[MIME_READ_CHUNK];
	size_t start, end;      /* unread bytes are buf[start, end) */
	uint64_t buf_off;       /* file offset of buf[0] */
	uint64_t limit;         /* file offset where reading stops */
	bool eof;
	bool at_line_start;
};

/* A line, or a piece of a line longer than MIME_READ_CHUNK. */
struct mime_line {
	const char *data;
	size_t len;
	uint64_t offset;        /* file offset of data[0] */
	bool line_start;
	bool line_end;          /* ends with LF */
};

/* Read lines from offset up to limit (UINT64_MAX: to the end). */
void mime_lines_init(struct mime_lines *lr, const struct mime_reader *r,
	     uint64_t offset, uint64_t limit);
/* 1 with the next segment, 0 at the end, -1 on a read error. */
int mime_lines_next(struct mime_lines *lr, struct mime_line *s, const char **error_r);

#endif
