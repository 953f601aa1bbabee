/* conn.c — non-blocking socket I/O with optional TLS, on libevent. */
#include "net/conn.h"
#include "net/compress.h"
#include "net/tls.h"
#include "lib/util.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Largest chunk handed to one SSL_write: one full TLS record. */
#define CONN_TLS_WRITE_CHUNK 16384

/* Why a connection ended, as told to its owner. */
#define CONN_END_ERROR_MAX 160

struct conn {
	int fd;
	struct event *ev_read, *ev_write, *ev_timer, *ev_end;
	struct evbuffer *in, *out;  /* the owner's bytes */
	struct tls_conn *tls;
	/* Compression (compress.h): the transport's bytes go through zin and
	 * zout; without it these point at in and out. */
	struct compress *z;
	struct evbuffer *zin, *zout;

	bool read_added, write_added;
	bool connecting;             /* conn_connect: waiting for the socket */
	bool write_kicked;           /* ev_write made active without epoll */
	bool write_blocked;          /* the last write attempt would block */
	bool handshaking, hs_wants_write;
	bool tls_read_wants_write;   /* SSL_read asked for writability */
	/* The last SSL_read wanted the socket: whatever OpenSSL still holds
	 * is part of a record, and only more bytes from the socket can
	 * complete it (coming back for it at once would spin the loop). */
	bool tls_starved;
	/* The end of the stream (close_notify or TCP close) was read behind
	 * data not yet handed over: the owner gets the data first. */
	bool tls_eof;
	bool tls_write_wants_read;   /* SSL_write asked for readability */
	bool owner_paused;
	bool closing, dead;
	unsigned timeout_secs;

	enum conn_end end_why;
	char end_error[CONN_END_ERROR_MAX];

	const struct conn_callbacks *cb;
	void *ctx;
};

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_end(evutil_socket_t fd, short what, void *arg);

struct conn *conn_new(struct event_base *base, int fd,
		      const struct conn_callbacks *cb, void *ctx)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->cb = cb;
	c->ctx = ctx;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->ev_timer = evtimer_new(base, on_timer, c);
	c->ev_end = evtimer_new(base, on_end, c);
	c->zin = c->in;
	c->zout = c->out;
	if (c->in == NULL || c->out == NULL || c->ev_read == NULL ||
	    c->ev_write == NULL || c->ev_timer == NULL || c->ev_end == NULL)
		abort(); /* out of memory */
	event_add(c->ev_read, NULL);
	c->read_added = true;
	return c;
}

void conn_free(struct conn **cp)
{
	struct conn *c = *cp;
	if (c == NULL)
		return;
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_timer);
	event_free(c->ev_end);
	if (c->z != NULL) {
		evbuffer_free(c->zin);
		evbuffer_free(c->zout);
		compress_free(&c->z);
	}
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	tls_conn_free(&c->tls);
	if (c->fd >= 0)
		close(c->fd);
	x_free(cp);
}

static bool want_read(const struct conn *c)
{
	if (c->connecting)
		return false;
	if (c->dead || c->closing)
		return c->tls_write_wants_read;
	if (c->handshaking || c->tls_write_wants_read)
		return true;
	/* SSL_read waits for the socket to take its reply (a key update):
	 * on_write reads again; a readable socket meanwhile would spin. */
	if (c->tls_read_wants_write)
		return false;
	return !c->owner_paused && evbuffer_get_length(c->in) < CONN_INPUT_MAX &&
		evbuffer_get_length(c->zin) < CONN_INPUT_MAX;
}

/* Bytes queued for the client, before and after compression. */
static size_t out_len(const struct conn *c)
{
	return evbuffer_get_length(c->out) +
		(c->z != NULL ? evbuffer_get_length(c->zout) : 0);
}

static bool want_write(const struct conn *c)
{
	if (c->dead)
		return false;
	if (c->connecting)
		return true;
	if (c->handshaking)
		return c->hs_wants_write;
	return out_len(c) > 0 || c->tls_read_wants_write;
}

/* Input that raises no socket event: decrypted TLS records, and
 * compressed bytes (or zlib's own) not inflated yet. */
static bool input_pending(struct conn *c)
{
	return (c->tls != NULL && !c->handshaking &&
		(c->tls_eof || (!c->tls_starved && tls_has_pending(c->tls)))) ||
		(c->z != NULL && compress_inflate_pending(c->z, c->zin));
}

/* Writability is asked of epoll only once a write would block. Until
 * then output is flushed from the loop right away (event_active): a reply
 * costs its write, not also two epoll_ctl calls and a wake-up. */
static void update_write_event(struct conn *c, bool w)
{
	/* A connection being made is writable only once it is up. */
	bool wait = w && (c->write_blocked || c->handshaking ||
			  c->tls_read_wants_write || c->connecting);

	if (wait != c->write_added) {
		if (wait)
			event_add(c->ev_write, NULL);
		else
			event_del(c->ev_write);
		c->write_added = wait;
	}
	if (w && !wait && !c->write_kicked) {
		c->write_kicked = true;
		event_active(c->ev_write, EV_WRITE, 1);
	}
}

static void update_events(struct conn *c)
{
	bool r = want_read(c);

	if (r != c->read_added) {
		if (r)
			event_add(c->ev_read, NULL);
		else
			event_del(c->ev_read);
		c->read_added = r;
	}
	update_write_event(c, want_write(c));
}

static void progress(struct conn *c)
{
	if (c->timeout_secs > 0 && !c->closing) {
		struct timeval tv = { .tv_sec = c->timeout_secs };
		event_add(c->ev_timer, &tv);
	}
}

/* The conn is over: stop everything and tell the owner. The caller must
 * return at once without touching c: the owner may free it. */
static void end(struct conn *c, enum conn_end why, const char *error)
{
	c->dead = true;
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_del(c->ev_timer);
	event_del(c->ev_end);
	c->read_added = c->write_added = false;
	if (c->tls != NULL && why == CONN_END_LOCAL)
		tls_shutdown(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->cb->closed(c->ctx, why, error);
}

/* Queue end() to run from the loop (conn_close may be called from inside
 * the owner's callbacks). */
static void end_later(struct conn *c, enum conn_end why, const char *error)
{
	c->end_why = why;
	strlcpy_sp(c->end_error, error != NULL ? error : "", sizeof(c->end_error));
	event_active(c->ev_end, EV_TIMEOUT, 1);
}

static void on_end(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (!c->dead)
		end(c, c->end_why, c->end_error[0] != '\0' ? c->end_error : NULL);
}

static void do_handshake(struct conn *c)
{
	const char *error = NULL;

	switch (tls_handshake(c->tls, &error)) {
	case TLS_IO_OK:
		c->handshaking = c->hs_wants_write = false;
		progress(c);
		c->cb->handshake(c->ctx);
		update_events(c);
		/* The client may have sent its first command in the same
		 * flight as Finished: it is decrypted already. */
		if (!c->dead && tls_has_pending(c->tls))
			event_active(c->ev_read, EV_READ, 1);
		return;
	case TLS_IO_WANT_READ:
		c->hs_wants_write = false;
		break;
	case TLS_IO_WANT_WRITE:
		c->hs_wants_write = true;
		break;
	case TLS_IO_EOF:
	case TLS_IO_ERROR:
		end(c, CONN_END_ERROR, errfmt("TLS handshake failed: %s",
					      error != NULL ? error : "?"));
		return;
	}
	update_events(c);
}

/* Read what the transport has. Returns false if the conn ended. */
static bool read_plain(struct conn *c, bool *got_r)
{
	int n = evbuffer_read(c->zin, c->fd, CONN_READ_CHUNK);
	if (n > 0) {
		*got_r = true;
		return true;
	}
	if (n == 0) {
		end(c, CONN_END_EOF, NULL);
		return false;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return true;
	end(c, CONN_END_ERROR, errfmt("read: %s", strerror(errno)));
	return false;
}

static bool read_tls(struct conn *c, bool *got_r)
{
	const char *error = NULL;

	if (c->tls_eof) {
		end(c, CONN_END_EOF, NULL);
		return false;
	}
	/* Drain what OpenSSL holds: those bytes raise no socket event. */
	do {
		struct evbuffer_iovec v;
		size_t n = 0;
		if (evbuffer_reserve_space(c->zin, CONN_READ_CHUNK, &v, 1) != 1)
			abort();
		enum tls_io io = tls_read(c->tls, v.iov_base, v.iov_len, &n, &error);
		v.iov_len = io == TLS_IO_OK ? n : 0;
		evbuffer_commit_space(c->zin, &v, 1);
		c->tls_starved = io == TLS_IO_WANT_READ || io == TLS_IO_WANT_WRITE;
		switch (io) {
		case TLS_IO_OK:
			*got_r = true;
			break;
		case TLS_IO_WANT_READ:
			return true;
		case TLS_IO_WANT_WRITE:
			c->tls_read_wants_write = true;
			return true;
		case TLS_IO_EOF:
			/* Read ahead, the close can come in the same read as the
			 * last commands: they are served first, as on TCP. */
			if (*got_r) {
				c->tls_eof = true;
				return true;
			}
			end(c, CONN_END_EOF, NULL);
			return false;
		case TLS_IO_ERROR:
			end(c, CONN_END_ERROR, errfmt("TLS read: %s", error));
			return false;
		}
	} while (tls_has_pending(c->tls) &&
		 evbuffer_get_length(c->zin) < CONN_INPUT_MAX);
	return true;
}

/* Inflate what zin holds into the owner's input, up to its cap. */
static bool inflate_input(struct conn *c, bool *got_r)
{
	const char *error = NULL;
	bool produced;

	if (compress_inflate(c->z, c->zin, c->in, CONN_INPUT_MAX, &produced,
			     &error) < 0) {
		end(c, CONN_END_ERROR, error);
		return false;
	}
	*got_r = produced;
	return true;
}

/* Returns false when the conn ended: an owner's closed callback may have
 * freed it already (the outbound client does), so c is not touched. */
static bool do_read(struct conn *c)
{
	bool got = false;

	if (!(c->tls != NULL ? read_tls(c, &got) : read_plain(c, &got)))
		return false;
	if (c->z != NULL && !inflate_input(c, &got))
		return false;
	if (got) {
		progress(c);
		c->cb->input(c->ctx);
	}
	if (c->dead)
		return true;     /* still allocated: owners end a conn via the loop */
	update_events(c);
	/* Bytes left behind at the input cap raise no socket event: come
	 * back for them once there is room. */
	if (want_read(c) && input_pending(c))
		event_active(c->ev_read, EV_READ, 1);
	return true;
}

/* Write queued output. Returns false if the conn ended. */
static bool flush_out(struct conn *c, bool *wrote_r)
{
	const char *error = NULL;

	c->write_blocked = false;
	for (;;) {
		/* compressing: deflate the next chunk once the last is out */
		if (c->z != NULL && evbuffer_get_length(c->zout) < COMPRESS_CHUNK)
			compress_deflate(c->z, c->out, c->zout);
		if (evbuffer_get_length(c->zout) == 0)
			break;
		if (c->tls == NULL) {
			int n = evbuffer_write_atmost(c->zout, c->fd, -1);
			if (n > 0) {
				*wrote_r = true;
				continue;
			}
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				end(c, CONN_END_ERROR, errfmt("write: %s", strerror(errno)));
				return false;
			}
			c->write_blocked = true;
			return true;
		}
		size_t chunk = evbuffer_get_length(c->zout), n = 0;
		if (chunk > CONN_TLS_WRITE_CHUNK)
			chunk = CONN_TLS_WRITE_CHUNK;
		unsigned char *p = evbuffer_pullup(c->zout, (ssize_t)chunk);
		switch (tls_write(c->tls, p, chunk, &n, &error)) {
		case TLS_IO_OK:
			evbuffer_drain(c->zout, n);
			*wrote_r = true;
			break;
		case TLS_IO_WANT_WRITE:
			c->write_blocked = true;
			return true;
		case TLS_IO_WANT_READ:
			c->tls_write_wants_read = true;
			return true;
		case TLS_IO_EOF:
		case TLS_IO_ERROR:
			end(c, CONN_END_ERROR, errfmt("TLS write: %s",
						      error ? error : "peer closed"));
			return false;
		}
	}
	return true;
}

/* Returns false when the conn ended (c may be freed: see do_read). */
static bool do_write(struct conn *c)
{
	bool wrote = false;

	if (!flush_out(c, &wrote))
		return false;
	if (wrote)
		progress(c);
	if (out_len(c) == 0) {
		if (c->closing) {
			end(c, CONN_END_LOCAL, NULL);
			return false;
		}
		if (wrote)
			c->cb->drained(c->ctx);
		if (c->dead)
			return true;     /* still allocated: see do_read */
	}
	update_events(c);
	return true;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	if (c->handshaking) {
		do_handshake(c);
		return;
	}
	if (c->tls_write_wants_read) {
		c->tls_write_wants_read = false;
		if (!do_write(c) || c->dead)
			return;
	}
	if (want_read(c))
		(void)do_read(c);
	else
		update_events(c);
}

static void finish_connect(struct conn *c);

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->write_kicked = false;
	if (c->dead)
		return;
	if (c->connecting) {
		finish_connect(c);
		return;
	}
	if (c->handshaking) {
		do_handshake(c);
		return;
	}
	if (c->tls_read_wants_write) {
		c->tls_read_wants_write = false;
		if (!do_read(c) || c->dead)
			return;
	}
	(void)do_write(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	if (!c->closing) {
		c->cb->timeout(c->ctx);
		if (c->dead)
			return;
		if (c->closing) {
			/* The owner queued a last reply: give it a moment. */
			struct timeval tv = { .tv_sec = CONN_CLOSE_FLUSH_SECS };
			event_add(c->ev_timer, &tv);
			return;
		}
	}
	end(c, CONN_END_TIMEOUT, NULL);
}

struct evbuffer *conn_input(struct conn *c)
{
	return c->in;
}

size_t conn_output_len(const struct conn *c)
{
	return out_len(c);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->dead)
		return;
	evbuffer_add(c->out, data, len);
	update_events(c);
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	if (c->dead)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(c->out, fmt, ap);
	va_end(ap);
	update_events(c);
}

void conn_write_buffer(struct conn *c, struct evbuffer *buf)
{
	if (c->dead) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	evbuffer_add_buffer(c->out, buf);
	update_events(c);
}

void conn_pause_read(struct conn *c)
{
	c->owner_paused = true;
	update_events(c);
}

void conn_resume_read(struct conn *c)
{
	c->owner_paused = false;
	if (c->dead)
		return;
	update_events(c);
	if (want_read(c) && input_pending(c))
		event_active(c->ev_read, EV_READ, 1);
}

void conn_set_timeout(struct conn *c, unsigned secs)
{
	if (c->closing || c->dead)
		return;
	c->timeout_secs = secs;
	if (secs == 0)
		event_del(c->ev_timer);
	else
		progress(c);
}

/* Both sides: the transport becomes tc (NULL: it could not be made, for
 * the reason error), the handshake starts. */
static void start_tls(struct conn *c, struct tls_conn *tc, const char *error)
{
	c->tls = tc;
	if (c->tls == NULL) {
		end_later(c, CONN_END_ERROR, error);
		return;
	}
	c->handshaking = true;
	c->hs_wants_write = false;
	update_events(c);
}

void conn_start_tls(struct conn *c, struct tls_ctx *ctx)
{
	assert(c->tls == NULL);
	assert(evbuffer_get_length(c->in) == 0);
	assert(evbuffer_get_length(c->out) == 0);
	if (c->dead)
		return;
	start_tls(c, tls_conn_new_server(ctx, c->fd), "TLS: cannot create a session");
}

void conn_start_tls_client(struct conn *c, struct tls_ctx *ctx,
			   const struct tls_client_params *params)
{
	const char *error = NULL;

	assert(c->tls == NULL && c->z == NULL);
	if (c->dead)
		return;
	/* What the peer controls is checked, not asserted: a server can
	 * answer STARTTLS before the command left (our bytes still here) or
	 * send more behind its reply. */
	if (evbuffer_get_length(c->in) != 0 || evbuffer_get_length(c->out) != 0) {
		end_later(c, CONN_END_ERROR, "TLS: plaintext still buffered at the "
			  "start of the handshake");
		return;
	}
	struct tls_conn *tc = tls_conn_new_client(ctx, c->fd, params, &error);
	start_tls(c, tc, error);
	if (tc != NULL) {
		/* The client speaks first: its ClientHello waits for writability. */
		c->hs_wants_write = true;
		update_events(c);
	}
}

struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa,
			  socklen_t len, const struct conn_callbacks *cb,
			  void *ctx, const char **error_r)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		*error_r = errfmt("socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
		*error_r = errfmt("connect: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	struct conn *c = conn_new(base, fd, cb, ctx);
	c->connecting = true;
	update_events(c);
	return c;
}

/* The socket became writable: the connection is up, or it failed. */
static void finish_connect(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		end(c, CONN_END_ERROR, errfmt("connect: %s", strerror(err)));
		return;
	}
	c->connecting = false;
	progress(c);
	update_events(c);
	if (c->cb->connected != NULL)
		c->cb->connected(c->ctx);
}

struct tls_conn *conn_tls(const struct conn *c)
{
	return c->tls != NULL && !c->handshaking ? c->tls : NULL;
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

bool conn_tls_ready(const struct conn *c)
{
	return c->tls != NULL && !c->handshaking;
}

const char *conn_tls_version(const struct conn *c)
{
	return c->tls != NULL ? tls_conn_version(c->tls) : "";
}

const char *conn_tls_cipher(const struct conn *c)
{
	return c->tls != NULL ? tls_conn_cipher(c->tls) : "";
}

int conn_tls_bits(const struct conn *c)
{
	return c->tls != NULL ? tls_conn_cipher_bits(c->tls) : 0;
}

bool conn_tls_resumed(const struct conn *c)
{
	return c->tls != NULL && tls_conn_resumed(c->tls);
}

void conn_close(struct conn *c, bool flush)
{
	if (c->dead || c->closing)
		return;
	c->closing = true;
	c->owner_paused = true;
	if (!flush || out_len(c) == 0 || c->handshaking) {
		update_events(c);
		end_later(c, CONN_END_LOCAL, NULL);
		return;
	}
	struct timeval tv = { .tv_sec = CONN_CLOSE_FLUSH_SECS };
	event_add(c->ev_timer, &tv);
	update_events(c);
}

int conn_start_compress(struct conn *c, const char **error_r)
{
	if (c->z != NULL) {
		*error_r = "compression is already active";
		return -1;
	}
	if ((c->z = compress_new(error_r)) == NULL)
		return -1;
	/* What is queued (the go-ahead) leaves as it is; what the client
	 * sent after the command is compressed already. */
	c->zout = evbuffer_new();
	c->zin = evbuffer_new();
	if (c->zout == NULL || c->zin == NULL)
		abort();        /* out of memory */
	evbuffer_add_buffer(c->zout, c->out);
	evbuffer_add_buffer(c->zin, c->in);
	if (!c->dead && input_pending(c))
		event_active(c->ev_read, EV_READ, 1);
	update_events(c);
	return 0;
}

bool conn_is_compressed(const struct conn *c)
{
	return c->z != NULL;
}

void conn_compress_stats(const struct conn *c, unsigned long long *in_plain_r,
			 unsigned long long *in_wire_r,
			 unsigned long long *out_plain_r,
			 unsigned long long *out_wire_r)
{
	*in_plain_r = *in_wire_r = *out_plain_r = *out_wire_r = 0;
	if (c->z != NULL)
		compress_stats(c->z, in_plain_r, in_wire_r, out_plain_r, out_wire_r);
}

bool conn_closing(const struct conn *c)
{
	return c->closing || c->dead;
}
