/* smtpc_private.h — between the files of src/smtpc. */
#ifndef SEALPOST_SMTPC_PRIVATE_H
#define SEALPOST_SMTPC_PRIVATE_H

#include "smtpc/smtpc.h"
#include "net/filestream.h"
#include "net/jobs.h"
#include "net/tls.h"

/* The commands whose replies are awaited, at most: RSET, MAIL, every
 * RCPT, DATA (a PIPELINING group, RFC 2920 3.1), then the final dot. */
#define SMTPC_PENDING_MAX (SMTPC_RCPTS_MAX + 4)
/* A user name or password sent with AUTH LOGIN (RFC 4616 2 allows 255
 * octets for PLAIN's fields; LOGIN is not standardised: the same, with
 * room). */
#define SMTPC_AUTH_FIELD_MAX 512
/* The MAIL FROM parameters we send: SIZE=<20 digits> BODY=8BITMIME
 * SMTPUTF8. */
#define SMTPC_MAIL_PARAMS_MAX 96
/* Log prefix kept. */
#define SMTPC_ID_MAX 40

/* A TLS version or cipher name as OpenSSL gives it ("TLSv1.3",
 * "ECDHE-RSA-AES256-GCM-SHA384"), cut to this. */
#define SMTPC_TLS_NAME_MAX 64
/* One log line of a client session, before the log's own limits. */
#define SMTPC_LOG_LINE_MAX 1024

enum smtpc_state {
	SMTPC_STATE_CONNECTING,
	SMTPC_STATE_GREETING,     /* waiting for the 220 */
	SMTPC_STATE_EHLO,
	SMTPC_STATE_HELO,
	SMTPC_STATE_STARTTLS,     /* waiting for the 220 to STARTTLS */
	SMTPC_STATE_HANDSHAKE,
	SMTPC_STATE_AUTH,
	SMTPC_STATE_READY,        /* idle between transactions */
	SMTPC_STATE_TXN,          /* MAIL, RCPT, DATA replies */
	SMTPC_STATE_DATA,         /* sending the message */
	SMTPC_STATE_DOT,          /* waiting for the final reply */
	SMTPC_STATE_QUIT,
	SMTPC_STATE_ENDED,
};

enum smtpc_cmd {
	SMTPC_CMD_RSET,
	SMTPC_CMD_MAIL,
	SMTPC_CMD_RCPT,
	SMTPC_CMD_DATA,
	SMTPC_CMD_DOT,
};

struct smtpc_read {
	struct job job;
	struct smtpc *c;
	int fd;
	uint64_t offset;
	size_t want;
	ssize_t got;
	int err;
	unsigned char buf[SMTPC_DATA_CHUNK];
};

struct smtpc {
	char id[SMTPC_ID_MAX + 1];
	struct conn *conn;
	struct event *ev_closed;          /* closed() from a fresh callback */
	enum smtpc_state state;
	const struct smtpc_callbacks *cb;
	void *ctx;

	/* the parameters, copied */
	char *host, *helo, *auth_user, *auth_pass;
	enum smtpc_tls tls;
	struct tls_ctx *tls_ctx;
	struct tls_client_params tls_params;
	struct tls_tlsa tlsa[SMTPC_TLSA_MAX];
	char *tls_host, *tls_domain, *tls_sni;

	struct smtpc_reply_parser parser;
	unsigned ext;
	uint64_t size_limit;
	bool tls_active;
	char tls_version[SMTPC_TLS_NAME_MAX], tls_cipher[SMTPC_TLS_NAME_MAX];
	const char *tls_auth;
	unsigned auth_step;               /* LOGIN: 334 replies seen */

	/* the transaction */
	struct smtpc_txn *txn;
	enum smtpc_cmd pending[SMTPC_PENDING_MAX];
	size_t n_pending;
	size_t rcpt_sent, rcpt_replied, rcpts_ok;
	bool mail_ok, need_rset, data_refused;
	struct smtpc_read *read;          /* allocated once, reused */
	bool reading;                     /* read job in flight */
	uint64_t data_offset, data_left;
	struct fstream_state dot;

	/* the end */
	bool ending;                      /* end is set, closed() to come */
	bool timed_out;
	struct smtpc_end end;
};

void smtpc_enter_state(struct smtpc *c, enum smtpc_state state);
void smtpc_log(struct smtpc *c, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Send one command line (CRLF added); never logs AUTH data. */
void smtpc_command(struct smtpc *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* End the session: the transaction (if any) fails, the conn closes, and
 * closed() follows with end. */
void smtpc_fail(struct smtpc *c, enum smtpc_stage stage, bool permanent,
		const char *text);

/* smtpc_txn.c */
void smtpc_txn_reply(struct smtpc *c, const struct smtpc_reply *r);
void smtpc_txn_drained(struct smtpc *c);
/* The session ended under a transaction: report it failed. */
void smtpc_txn_abort(struct smtpc *c, const char *text);
/* closed() can be delivered (no job of ours in flight). */
void smtpc_closed_later(struct smtpc *c);

#endif
