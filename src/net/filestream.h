/* filestream.h — send (part of) a file to a session's client, off the loop.
 *
 * POP3 RETR/TOP and IMAP FETCH bodies can be large: the file is read in
 * chunks by pool-thread jobs, each chunk is transformed on the loop and
 * queued for the client, and the next chunk is read only once the queue
 * has drained below FSTREAM_OUTPUT_HIGH. A client that stops reading thus
 * holds at most one chunk plus the high mark of memory, and the session's
 * idle timeout ends it. The session takes no commands while a stream runs.
 *
 * Transforms (flags): FSTREAM_CRLF sends every bare LF as CRLF, as IMAP and
 * POP3 sizes (Maildir ",W=" vsize) count them; FSTREAM_DOTSTUFF doubles a
 * leading '.' (POP3, RFC 1939 3) and ends with "CRLF.CRLF"; body_lines >= 0
 * stops after the header and that many body lines (POP3 TOP).
 *
 * Segments (IMAP FETCH): a stream may also be a list of pieces sent one
 * after the other: bytes held in memory, and ranges of the file counted in
 * output bytes, each optionally with the CRLF transform and an output skip,
 * so that a range of the CRLF form of an LF-only file can be sent from a
 * known point of the file (see imap/mime_crlf.h). Such a stream must
 * produce exactly the announced bytes: a file that ends early is a read
 * error (an IMAP literal cannot be cut short). */
#ifndef SEALPOST_FILESTREAM_H
#define SEALPOST_FILESTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;

/* Bytes read per job. */
#define FSTREAM_CHUNK (64 * 1024)
/* Read no more while this much output waits for the client. */
#define FSTREAM_OUTPUT_HIGH (128 * 1024)

enum fstream_flags {
	FSTREAM_CRLF = 1 << 0,
	FSTREAM_DOTSTUFF = 1 << 1,
};

struct fstream_opts {
	uint64_t offset;        /* in the file */
	uint64_t length;        /* file bytes to read; UINT64_MAX: to the end */
	unsigned flags;
	long body_lines;        /* -1: all */
};

/* Called on the loop when the stream ended (ok false: a read error; the
 * client got a truncated answer and should be disconnected), unless the
 * session closed meanwhile. */
typedef void fstream_done_cb(struct session *s, void *ctx, bool ok);

/* Stream fd (taken over; closed at the end) to s. */
void fstream_start(struct session *s, int fd, const struct fstream_opts *opts,
		   fstream_done_cb *done, void *ctx);

/* One piece of a segment stream. */
struct fstream_segment {
	const void *data;       /* non-NULL: send these length bytes (copied) */
	int fd;                 /* else: -1 for the stream's file, or a file
				   of this segment alone, taken over (closed
				   when the stream ends) */
	uint64_t offset;        /* file bytes from offset, */
	bool crlf;              /*   with every bare LF sent as CRLF (start where
				     the previous file byte is not CR), */
	uint64_t skip;          /*   dropping this many output bytes first, */
	uint64_t length;        /*   then sending exactly length output bytes */
};

/* Stream the n segments in order to s; fd (taken over, closed at the end;
 * -1 when no segment reads it) holds the file ranges of the segments with
 * fd -1. The segment array is copied. Unlike fstream_start(), done is
 * called in every case, with ok false when the session closed meanwhile. */
void fstream_start_segments(struct session *s, int fd,
			    const struct fstream_segment *segs, size_t n,
			    fstream_done_cb *done, void *ctx);

/* The session core calls this when the output queue drained. */
void fstream_drained(struct session *s);

/* The transform, exposed for tests. */
struct fstream_state {
	bool line_start;
	bool prev_cr;
	bool in_body;
	bool done;              /* the line limit was reached */
	bool blank_line;        /* the current line is empty so far */
	long body_lines;        /* left; -1: all */
};
void fstream_state_init(struct fstream_state *st, long body_lines);
/* Transform len bytes of in into out (room for 3 * len + 2 bytes); returns
 * the output length. */
size_t fstream_transform(struct fstream_state *st, unsigned flags,
			 const unsigned char *in, size_t len, unsigned char *out);

#endif
