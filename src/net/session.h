/* session.h — the line-protocol session core shared by SMTP, POP3 and IMAP.
 *
 * Written once for every protocol: the connection, line reading with a
 * length limit (enforced on partial lines too), bare-LF and NUL refusal,
 * pipelining, timeouts and the deadlines a drip-feeding client cannot
 * push back (session_deadline.h), the implicit TLS handshake and the STARTTLS
 * upgrade, suspension while a job runs off the loop, graceful shutdown and
 * one-line logging with a session id. A protocol embeds `struct session` as
 * the first member of its own session struct and plugs in through
 * `struct session_vfuncs` (like Dovecot's client_vfuncs). */
#ifndef SEALPOST_SESSION_H
#define SEALPOST_SESSION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "lib/log.h"
#include "net/addr.h"
#include "net/jobs.h"

struct evbuffer;
struct event;
struct fstream;
struct conn;
struct session_deadlines;
struct tls_ctx;

/* Disconnect after this many bad commands (Dovecot CLIENT_MAX_BAD_COMMANDS,
 * Postfix smtpd_hard_error_limit). */
#define SESSION_MAX_BAD_COMMANDS 20
/* Largest line_max any protocol may ask for (IMAP: RFC 7162 3.2.1 asks
 * for at least 8192; 64 KiB like Dovecot's imap_max_line_length). */
#define SESSION_LINE_MAX_LIMIT (64 * 1024)
/* Commands are not read while this much output waits for the client: a
 * client that sends commands but never reads the answers cannot make us
 * queue without bound (Dovecot's CLIENT_OUTPUT_OPTIMAL_SIZE rule). */
#define SESSION_OUTPUT_HIGH (128 * 1024)
/* A TLS handshake must finish within this many seconds. */
#define SESSION_HANDSHAKE_SECS 30
/* After SIGTERM, busy sessions get this long to finish their transaction. */
#define SESSION_SHUTDOWN_GRACE_SECS 10

/* Bytes of a refused line shown to the protocol's bad_input(). */
#define SESSION_BAD_PREFIX 64

enum session_bad_input {
	SESSION_BAD_TOO_LONG,   /* no CRLF within line_max */
	SESSION_BAD_BARE_LF,    /* line ended by LF without CR */
	SESSION_BAD_NUL,        /* NUL byte in a command line */
};

enum session_bye {
	SESSION_BYE_TIMEOUT,         /* silence, or a command line not whole in time */
	SESSION_BYE_SHUTDOWN,
	SESSION_BYE_TOO_MANY_ERRORS,
	SESSION_BYE_AUTH_FAILURES,   /* auth_max_failures reached */
	SESSION_BYE_LOGIN_TIMEOUT,   /* no login (port 25: no MAIL) in login_timeout */
	SESSION_BYE_TOO_SLOW,        /* raw data below data_min_rate */
};

struct session;

struct session_vfuncs {
	size_t size;                  /* sizeof the protocol's session */
	/* Said in plaintext to a client refused at connect (limits). */
	const char *busy_reply;
	/* Set up protocol state right after creation (optional). */
	void (*init)(struct session *s);
	/* The first words to a client (after the handshake on implicit-TLS
	 * ports). */
	void (*greet)(struct session *s);
	/* One command line, CRLF stripped, NUL-terminated; valid only during
	 * the call. */
	void (*command)(struct session *s, char *line, size_t len);
	/* Raw mode (message data, literals): consume what is yours of in. */
	void (*raw_input)(struct session *s, struct evbuffer *in);
	/* start/len: the first bytes (at most SESSION_BAD_PREFIX) of the
	 * refused line, so a reply can name its tag. */
	void (*bad_input)(struct session *s, enum session_bad_input what,
			  const char *start, size_t len);
	/* STARTTLS handshake done: reset to just after the greeting. */
	void (*tls_started)(struct session *s);
	/* Output queue empty (optional; for streaming). Also called once when
	 * the connection ended (s->closing set), so that a waiter gives up. */
	void (*drained)(struct session *s);
	/* Queue a last reply before the session is closed. */
	void (*bye)(struct session *s, enum session_bye why);
	/* Free protocol state (optional). */
	void (*destroy)(struct session *s);
};

struct session {
	char id[LOG_SESSION_ID_LEN + 1];
	const struct session_vfuncs *v;
	enum service service;
	enum proto proto;
	struct conn *conn;
	struct tls_ctx *tls_ctx;
	char peer[ADDR_TEXT_SIZE];  /* client address, text */
	struct sockaddr_storage peer_ss;

	size_t line_max;            /* command line limit, CRLF excluded */
	unsigned timeout_secs;      /* idle timeout while waiting for input */
	unsigned bad_commands;
	unsigned auth_failures;     /* failed logins (auth/auth.c counts) */
	bool raw_mode;
	bool skipping_line;         /* discarding the rest of an overlong line */
	bool starttls_pending;      /* go-ahead queued, handshake not begun */
	bool closing;
	bool shutdown_requested;
	unsigned suspended;         /* jobs under way: no new commands */
	unsigned refcount;

	struct fstream *stream;     /* a file being sent (net/filestream.h) */
	struct event *ev_deferred;  /* resume processing / free, from the loop */
	struct session_deadlines *deadlines;  /* net/session_deadline.c */
	struct session *prev, *next;
};

/* Create a session for an accepted socket. Takes over fd. */
void session_accept(enum service service, const struct session_vfuncs *v,
		    int fd, const struct sockaddr *peer, socklen_t peer_len,
		    struct tls_ctx *tls_ctx);

/* Output. Protocols format replies themselves (<proto>_reply). */
void session_write(struct session *s, const void *data, size_t len);
void session_printf(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void session_write_buffer(struct session *s, struct evbuffer *buf);
size_t session_output_len(const struct session *s);

/* One log line "<id> <proto> <text>". */
void session_log(struct session *s, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void session_set_line_max(struct session *s, size_t line_max);
void session_set_raw(struct session *s, bool raw);
void session_set_timeout(struct session *s, unsigned secs);

/* The client logged in (or, on port 25, began a transaction with MAIL):
 * the login deadline (config login_timeout) is lifted for good. */
void session_login_done(struct session *s);

/* A bad command was answered; too many end the session. */
void session_bad_command(struct session *s);
/* A command succeeded: the bad-command count starts over (so a long
 * session is not ended by errors spread over hours). */
void session_good_command(struct session *s);

/* Keep the session alive across an asynchronous operation (a timer, a
 * job started with session_job_start() holds its own). */
void session_ref(struct session *s);
void session_unref(struct session *s);
/* Process buffered input again from the loop (after a protocol stopped
 * consuming raw input for flow control). */
void session_kick(struct session *s);

/* Stop taking commands while something runs (holds a reference); resume
 * processes whatever the client pipelined meanwhile. Jobs do this through
 * session_job_start(); a protocol calls these itself only to hold the
 * session across a wait of its own (a timer, output draining). */
void session_suspend(struct session *s);
void session_resume(struct session *s);

/* ---- jobs of a session -------------------------------------------------
 * The one lifecycle of blocking work done for a session: work() runs on a
 * pool thread (net/jobs.h) and touches only what the job owns; done() runs
 * on the loop afterwards. The core holds a reference meanwhile, so the
 * session is never freed under the job; when the client went away (or the
 * server stops) done() is still called, with live false: free what the job
 * owns and reply to nobody. */
enum session_job_mode {
	/* No command is taken until done() has run (a command's disk work). */
	SESSION_JOB_EXCLUSIVE,
	/* Input keeps flowing (spooling message data while more arrives); the
	 * protocol does its own flow control. */
	SESSION_JOB_BACKGROUND,
};

struct session_job {
	struct job job;                  /* internal: set by session_job_start */
	struct session *session;         /* set by session_job_start */
	enum session_job_mode mode;      /* set by session_job_start */
	void (*work)(struct session_job *sj);
	/* May free sj, start another job, or close the session. */
	void (*done)(struct session_job *sj, bool live);
};

/* Run sj (embedded first in the caller's job struct, whose work and done
 * the caller has set) for s. Ownership of sj stays with the caller, who
 * must not touch it until done() is called. */
void session_job_start(struct session *s, struct session_job *sj,
		       enum session_job_mode mode);
/* The session still has a client to answer (not closing). */
bool session_live(const struct session *s);

/* The STARTTLS upgrade. Call after queueing the go-ahead reply: every
 * byte the client sent after the command is discarded, nothing more is read
 * in plaintext, the reply is flushed, then the handshake starts;
 * tls_started() follows. */
void session_start_tls(struct session *s);
bool session_is_tls(const struct session *s);
const char *session_tls_version(const struct session *s);
const char *session_tls_cipher(const struct session *s);
int session_tls_bits(const struct session *s);

/* Compress the connection from now on (conn_start_compress: raw DEFLATE
 * both ways, e.g. IMAP COMPRESS=DEFLATE, RFC 4978). Call right after
 * queueing the go-ahead, which is still sent as it is. -1 with *error_r
 * when compression is on already or cannot start. */
int session_start_compress(struct session *s, const char **error_r);
bool session_is_compressed(const struct session *s);

/* Close after flushing queued output (QUIT). */
void session_close(struct session *s);
/* Queue the protocol's last words for why (its bye()), then close. */
void session_bye_and_close(struct session *s, enum session_bye why);

/* Graceful stop of every session of this process (SIGTERM): idle ones
 * get the protocol's goodbye now, busy ones after their transaction. */
void sessions_shutdown(void);
/* Close every session now, without flushing (shutdown grace is over). */
void sessions_abort(void);
size_t sessions_count(void);

#endif
