/* smtpc.h — the SMTP client (RFC 5321) of outbound delivery.
 *
 * One more user of the connection core: the socket, buffers, timeouts and
 * TLS are net/conn.h and net/tls.h (conn_connect, conn_start_tls_client);
 * this module speaks the protocol over them:
 *   smtpc_reply.c    replies (multi-line, RFC 3463 codes) and EHLO keywords
 *   smtpc_session.c  connect, greeting, EHLO/HELO, STARTTLS, AUTH: the way
 *                    to READY, and QUIT
 *   smtpc_txn.c      one transaction: MAIL, RCPT, DATA (PIPELINING, RFC
 *                    2920, when offered), the message streamed from its
 *                    file by pool jobs, dot-stuffed (RFC 5321 4.5.2)
 *
 * A session is for one remote address. It becomes READY once the remote
 * greeted, answered EHLO (HELO when EHLO is refused), and STARTTLS and
 * AUTH went as asked; then any number of transactions, one after the
 * other, each reporting per-recipient replies; QUIT ends it. Every
 * callback runs from the event loop, never from inside an smtpc_*() call;
 * closed() is the last one, after which the owner frees the session.
 *
 * TLS (smtpc_tls): NONE never asks for it; MAY asks when offered and goes
 * on in plaintext when it is not; REQUIRE fails the session (a temporary
 * failure, never a plaintext fallback) when the remote does not offer it
 * or the handshake fails. What the handshake checks (nothing, PKIX, DANE)
 * is in tls_params (net/tls.h). After STARTTLS anything the remote sent
 * behind its 220 is an injection attempt (the CVE-2011-0411 class, seen
 * from the client): the session fails. */
#ifndef SEALPOST_SMTPC_H
#define SEALPOST_SMTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/log.h"

struct event_base;
struct tls_ctx;
struct tls_client_params;
struct smtpc;

/* Timeouts of RFC 5321 4.5.3.2, seconds without progress. */
#define SMTPC_GREETING_SECS 300      /* 4.5.3.2.1 initial 220 */
#define SMTPC_MAIL_SECS 300          /* 4.5.3.2.2 MAIL */
#define SMTPC_RCPT_SECS 300          /* 4.5.3.2.3 RCPT */
#define SMTPC_DATA_INIT_SECS 120     /* 4.5.3.2.4 DATA initiation */
#define SMTPC_DATA_BLOCK_SECS 180    /* 4.5.3.2.5 each data block */
#define SMTPC_DATA_END_SECS 600      /* 4.5.3.2.6 DATA termination */
/* Commands the RFC names no timeout for (EHLO, STARTTLS, AUTH, RSET,
 * QUIT): Postfix's smtp_helo_timeout and friends. */
#define SMTPC_COMMAND_SECS 300
/* A connection attempt (Postfix smtp_connect_timeout). */
#define SMTPC_CONNECT_SECS 30
/* The TLS handshake (as the server side: SESSION_HANDSHAKE_SECS). */
#define SMTPC_TLS_SECS 60

/* RFC 5321 4.5.3.1.5: a reply line is 512 octets with its CRLF; longer
 * ones are accepted up to Postfix's line_length_limit. */
#define SMTPC_REPLY_LINE_MAX 2048
/* Lines of one multi-line reply (an EHLO lists a few dozen at most). */
#define SMTPC_REPLY_LINES_MAX 100
/* The text kept of a reply: its lines joined (RFC 5321 4.5.3.1.5). */
#define SMTPC_REPLY_TEXT_MAX 512
/* Recipients of one transaction (RFC 5321 4.5.3.1.8: a server must
 * accept at least 100). */
#define SMTPC_RCPTS_MAX 100
/* TLSA records a session hands to the verifier (dns.h DNS_TLSA_MAX). */
#define SMTPC_TLSA_MAX 16
/* The message is read and sent in chunks of this size... */
#define SMTPC_DATA_CHUNK (64 * 1024)
/* ...and the next one read while no more than this waits to be sent. */
#define SMTPC_OUTPUT_HIGH (128 * 1024)

enum smtpc_tls {
	SMTPC_TLS_NONE,
	SMTPC_TLS_MAY,
	SMTPC_TLS_REQUIRE,
};

struct smtpc_reply {
	int code;                            /* 250; 0: none came */
	char text[SMTPC_REPLY_TEXT_MAX + 1]; /* "250 2.0.0 Ok", lines joined */
};

/* EHLO keywords that matter here (RFC 5321 4.1.1.1). */
enum smtpc_ext {
	SMTPC_EXT_PIPELINING = 1 << 0,   /* RFC 2920 */
	SMTPC_EXT_SIZE = 1 << 1,         /* RFC 1870 */
	SMTPC_EXT_STARTTLS = 1 << 2,     /* RFC 3207 */
	SMTPC_EXT_8BITMIME = 1 << 3,     /* RFC 6152 */
	SMTPC_EXT_SMTPUTF8 = 1 << 4,     /* RFC 6531 */
	SMTPC_EXT_ENHANCED = 1 << 5,     /* RFC 2034 */
	SMTPC_EXT_AUTH_PLAIN = 1 << 6,   /* RFC 4954, RFC 4616 */
	SMTPC_EXT_AUTH_LOGIN = 1 << 7,
};

struct smtpc_params {
	const struct sockaddr *addr;
	socklen_t addr_len;
	const char *host;             /* the remote's name, for the logs */
	const char *helo;             /* our name (EHLO) */
	enum smtpc_tls tls;
	struct tls_ctx *tls_ctx;      /* client context (tls_client_ctx_new) */
	const struct tls_client_params *tls_params;  /* copied */
	const char *auth_user;        /* AUTH (inside TLS only); NULL: none */
	const char *auth_pass;        /* copied, wiped when freed */
	const char *log_id;           /* prefix of the session's log lines */
	unsigned connect_secs;        /* 0: SMTPC_CONNECT_SECS */
};

/* Where a session that never got READY (or ended early) failed. */
enum smtpc_stage {
	SMTPC_STAGE_CONNECT,
	SMTPC_STAGE_GREETING,
	SMTPC_STAGE_EHLO,
	SMTPC_STAGE_STARTTLS,        /* not offered, refused, or the handshake */
	SMTPC_STAGE_AUTH,
	SMTPC_STAGE_SESSION,         /* after READY: lost, timed out, 421 */
	SMTPC_STAGE_QUIT,            /* after QUIT: the normal end */
};
const char *smtpc_stage_name(enum smtpc_stage stage);

struct smtpc_end {
	enum smtpc_stage stage;
	bool ok;                     /* QUIT answered (or the remote closed
				      * after it) */
	bool permanent;              /* the remote said 5xx */
	bool tls_handshake_failed;   /* the handshake itself failed */
	char text[SMTPC_REPLY_TEXT_MAX + 1];   /* the reply or the error */
};

/* One transaction. The caller fills the first part and keeps it (and
 * the strings and fd) until txn_done(); the results follow. */
struct smtpc_txn {
	const char *from;            /* "" for <> */
	const char *const *rcpts;    /* at most SMTPC_RCPTS_MAX */
	size_t n_rcpts;
	int fd;                      /* the message file; stays the caller's */
	uint64_t offset, size;       /* the bytes of fd to send */
	bool body_8bit, smtputf8;    /* BODY=8BITMIME, SMTPUTF8 to ask for */

	struct smtpc_reply mail;
	struct smtpc_reply *rcpt;    /* n_rcpts replies (made by smtpc_send) */
	struct smtpc_reply data;     /* DATA's refusal or the final reply */
	/* The session failed during the transaction (text in data): every
	 * recipient without a final answer gets a temporary failure. */
	bool session_failed;
};

struct smtpc_callbacks {
	/* READY: smtpc_send() or smtpc_quit() now. */
	void (*ready)(void *ctx, struct smtpc *c);
	/* The transaction ended (results in t; the session may have failed:
	 * t->session_failed, then closed() follows). */
	void (*txn_done)(void *ctx, struct smtpc *c, struct smtpc_txn *t);
	/* The last call: the session is over (end says how). */
	void (*closed)(void *ctx, struct smtpc *c, const struct smtpc_end *end);
};

/* Start a session (connecting now). NULL with *error_r when no socket
 * could be made (no callback then). */
struct smtpc *smtpc_open(struct event_base *base, const struct smtpc_params *p,
			 const struct smtpc_callbacks *cb, void *ctx,
			 const char **error_r);
/* Can a transaction start now: READY, none running, not ending, the
 * connection up? One that is not gets closed() soon (or is in use). */
bool smtpc_usable(const struct smtpc *c);
/* Start a transaction (smtpc_usable only). */
void smtpc_send(struct smtpc *c, struct smtpc_txn *t);
/* QUIT (READY only); closed() follows with end->ok. */
void smtpc_quit(struct smtpc *c);
/* Drop the connection now (shutdown); closed() follows. */
void smtpc_abort(struct smtpc *c);
/* After closed(). */
void smtpc_free(struct smtpc **c);

/* What the session has: EHLO keywords (enum smtpc_ext), SIZE (0: none
 * announced or no limit), TLS ("" when plaintext). */
unsigned smtpc_extensions(const struct smtpc *c);
uint64_t smtpc_size_limit(const struct smtpc *c);
const char *smtpc_tls_version(const struct smtpc *c);
const char *smtpc_tls_cipher(const struct smtpc *c);
/* "none", "anonymous", "verified" or "dane" (net/tls.h). */
const char *smtpc_tls_auth(const struct smtpc *c);

/* ---- replies (smtpc_reply.c), exposed for tests ------------------------ */

struct smtpc_reply_parser {
	int code;                    /* of the lines so far; 0: none */
	size_t lines;
	struct smtpc_reply reply;
	unsigned ext;                /* EHLO: keywords seen */
	uint64_t size;               /* EHLO: SIZE value */
};

enum smtpc_parse {
	SMTPC_PARSE_MORE,            /* a continuation line: more to come */
	SMTPC_PARSE_DONE,            /* the reply is complete (p->reply) */
	SMTPC_PARSE_ERROR,           /* not an SMTP reply line (*error_r) */
};
/* Feed one line (CRLF stripped). With ehlo, keywords are collected. After
 * DONE or ERROR the parser starts over. */
enum smtpc_parse smtpc_reply_line(struct smtpc_reply_parser *p, const char *line,
				  size_t len, bool ehlo, const char **error_r);

#endif
