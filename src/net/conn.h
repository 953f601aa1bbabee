/* conn.h — one client connection: socket, optional TLS, buffered I/O.
 *
 * The transport under every protocol session. Input is read into an
 * evbuffer the owner consumes; output queued with conn_write() is flushed
 * when the socket is writable. Plaintext and TLS share every code path but
 * the four transport calls (read, write, handshake, shutdown).
 *
 * Callbacks run from the conn's own event callbacks, never synchronously
 * from a conn_*() call. closed() is the last call the conn makes: the owner
 * frees the conn (conn_free) then or later, never earlier. */
#ifndef SEALPOST_CONN_H
#define SEALPOST_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct evbuffer;
struct event_base;
struct sockaddr;
struct tls_ctx;
struct tls_conn;
struct tls_client_params;
struct conn;

/* Bytes read per read call: one TLS record's plaintext (RFC 8446 5.1). */
#define CONN_READ_CHUNK 16384
/* Stop reading while this much input waits unprocessed: more than the
 * longest line any protocol accepts (SESSION_LINE_MAX_LIMIT), so a line
 * of the maximum length can always be completed. */
#define CONN_INPUT_MAX (128 * 1024)
/* Time to flush a final reply before closing anyway. */
#define CONN_CLOSE_FLUSH_SECS 5

enum conn_end {
	CONN_END_LOCAL,     /* we closed (conn_close) */
	CONN_END_EOF,       /* the peer closed */
	CONN_END_ERROR,     /* socket or TLS error */
	CONN_END_TIMEOUT,   /* no progress within the timeout */
};

struct conn_callbacks {
	void (*input)(void *ctx);            /* new bytes in conn_input() */
	void (*drained)(void *ctx);          /* output queue became empty */
	void (*handshake)(void *ctx);        /* TLS established */
	/* No progress within the timeout. The owner may queue a last reply and
	 * conn_close(); if it does not, the conn ends with CONN_END_TIMEOUT. */
	void (*timeout)(void *ctx);
	void (*closed)(void *ctx, enum conn_end why, const char *error);
	/* conn_connect(): the connection is up (optional otherwise). */
	void (*connected)(void *ctx);
};

/* Take over the connected, non-blocking socket fd. */
struct conn *conn_new(struct event_base *base, int fd,
		      const struct conn_callbacks *cb, void *ctx);
/* The client side: connect to sa without waiting; connected() or
 * closed() (CONN_END_ERROR "connect: ...") follows. The timeout runs
 * while connecting. NULL with *error_r when no socket could be made. */
struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa,
			  socklen_t len, const struct conn_callbacks *cb,
			  void *ctx, const char **error_r);
/* Close the socket (if still open) and free everything. */
void conn_free(struct conn **c);

struct evbuffer *conn_input(struct conn *c);
size_t conn_output_len(const struct conn *c);
void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Move all of buf to the output queue (no copy). */
void conn_write_buffer(struct conn *c, struct evbuffer *buf);

/* The owner stops/resumes consuming input (e.g. while a job runs). Input
 * also stops by itself while CONN_INPUT_MAX bytes are unprocessed; call
 * conn_resume_read() after consuming. */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);

/* No progress (bytes in or out) for secs: timeout(). 0 disables. */
void conn_set_timeout(struct conn *c, unsigned secs);

/* Start the server side of TLS. Input and output queues must be empty
 * (the STARTTLS sequence guarantees it). handshake() or closed() follows. */
void conn_start_tls(struct conn *c, struct tls_ctx *ctx);
/* The client side of the same: the handshake with what params require
 * of the server (tls.h); a failed check ends the conn with the reason. */
void conn_start_tls_client(struct conn *c, struct tls_ctx *ctx,
			   const struct tls_client_params *params);
/* The TLS connection once established (for tls_conn_*()), else NULL. */
struct tls_conn *conn_tls(const struct conn *c);
bool conn_is_tls(const struct conn *c);
bool conn_tls_ready(const struct conn *c);
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
int conn_tls_bits(const struct conn *c);
bool conn_tls_resumed(const struct conn *c);

/* Compress both directions from now on (net/compress.h, raw DEFLATE):
 * output queued so far leaves as it is, everything queued later is
 * deflated and flushed whenever the queue runs empty; input left in the
 * buffer and everything read later is inflated. -1 with *error_r when
 * compression is active already or zlib fails. conn_output_len() counts
 * the bytes on both sides of the compressor. */
int conn_start_compress(struct conn *c, const char **error_r);
bool conn_is_compressed(const struct conn *c);
/* Bytes in and out before and after compression (zeros without it). */
void conn_compress_stats(const struct conn *c, unsigned long long *in_plain_r,
			 unsigned long long *in_wire_r,
			 unsigned long long *out_plain_r,
			 unsigned long long *out_wire_r);

/* Close: with flush, queued output is written first (for at most
 * CONN_CLOSE_FLUSH_SECS). Reading stops at once. closed() follows. */
void conn_close(struct conn *c, bool flush);
bool conn_closing(const struct conn *c);

#endif
