/* compress.h — DEFLATE (RFC 1951, raw: no zlib header) of a connection's
 * two byte streams, with zlib: IMAP COMPRESS=DEFLATE (RFC 4978), and any
 * later protocol with such an extension.
 *
 * Design. The connection core (conn.c) keeps, under its session-side
 * buffers, a pair of transport-side buffers once compression is on: bytes
 * read from the socket (or TLS) go into zin and are inflated into the
 * session's input only while that holds less than its cap, so a small
 * compressed flood never becomes a large buffer (the rest waits, still
 * compressed, and the socket is not read meanwhile); output is deflated
 * from the session's queue into zout in chunks as the socket takes it, and
 * every time the queue runs empty the stream is flushed with Z_SYNC_FLUSH,
 * so each response reaches the client whole (RFC 4978 4). The state is two
 * z_streams with named limits, about 200 KiB per compressing connection. */
#ifndef SEALPOST_COMPRESS_H
#define SEALPOST_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

/* Our deflate window: 2^15 = 32 KiB, the RFC 1951 maximum, which the peer
 * must accept anyway; smaller windows cost ratio on header FETCHes. */
#define COMPRESS_WINDOW_BITS 15
/* zlib memLevel of our deflate state: 2^(6+9) = 32 KiB of hash tables
 * (zlib's default 8 takes 128 KiB for a few percent of ratio). Together
 * with the window, deflate holds about 160 KiB, inflate 40 KiB (it must
 * take the peer's 32 KiB window, RFC 4978 4). */
#define COMPRESS_MEM_LEVEL 6
/* zlib level: the default speed/ratio trade (Dovecot's default too). */
#define COMPRESS_LEVEL 6
/* Bytes deflated or inflated per step: bounds the buffers a step adds. */
#define COMPRESS_CHUNK (16 * 1024)

struct compress;

/* A new pair of streams; NULL with *error_r when zlib cannot start one. */
struct compress *compress_new(const char **error_r);
void compress_free(struct compress **z);

/* Inflate from zin into out until zin is empty or out holds out_max
 * bytes; consumed input is drained from zin. *produced_r is set when out
 * grew. -1 with *error_r on a corrupt or ended stream. */
int compress_inflate(struct compress *z, struct evbuffer *zin,
		     struct evbuffer *out, size_t out_max, bool *produced_r,
		     const char **error_r);

/* Is there input to inflate (in zin, or decoded bytes zlib holds)? Such
 * bytes raise no socket event: the owner comes back for them. */
bool compress_inflate_pending(const struct compress *z, struct evbuffer *zin);

/* Deflate up to COMPRESS_CHUNK bytes of in (drained) into zout; when that
 * empties in, end with a Z_SYNC_FLUSH so the peer can read everything. */
void compress_deflate(struct compress *z, struct evbuffer *in,
		      struct evbuffer *zout);

/* Totals for the log: bytes before and after compression, each way. */
void compress_stats(const struct compress *z, unsigned long long *in_plain_r,
		    unsigned long long *in_wire_r, unsigned long long *out_plain_r,
		    unsigned long long *out_wire_r);

#endif
