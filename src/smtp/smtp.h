/* smtp.h — the SMTP server (RFC 5321) on the shared session core.
 *
 * smtp_session.c  the session: states, replies, dispatch, greeting, TLS reset
 * smtp_cmds.c     the command table and one handler per command
 * smtp_addr.c     reverse-path / forward-path and parameter parsing
 * smtp_data.c     DATA: dot-unstuffing, spooling off the loop, commit
 * smtp_relay.c    recipients in other domains: queued (queue.h) at the commit */
#ifndef SEALPOST_SMTP_H
#define SEALPOST_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "net/session.h"
#include "store/deliver.h"
#include "store/mailbox.h"

extern const struct session_vfuncs smtp_vfuncs;

/* RFC 5321 4.5.3.1.4: command line 512 octets including CRLF. */
#define SMTP_LINE_MAX 510
/* RFC 4954 4: an AUTH line (with initial response) may be 12288 octets. */
#define SMTP_AUTH_LINE_MAX 12288
/* RFC 5321 4.5.3.1.3: path 256 octets including the angle brackets. */
#define SMTP_PATH_MAX 256
/* RFC 5321 4.1.1.1 / 4.5.3.1.2: the EHLO argument is a domain or literal. */
#define SMTP_HELO_MAX 255
/* Message data is written to the spool in chunks of this size... */
#define SMTP_SPOOL_CHUNK (64 * 1024)
/* ...and reading stops while this much waits for the disk. */
#define SMTP_DATA_BUFFER_MAX (256 * 1024)

enum smtp_state {
	SMTP_STATE_INIT,      /* greeted; EHLO/HELO expected */
	SMTP_STATE_READY,     /* after EHLO/HELO or a finished transaction */
	SMTP_STATE_MAIL,      /* MAIL accepted: RCPT expected */
	SMTP_STATE_RCPT,      /* one recipient or more: RCPT or DATA */
	SMTP_STATE_DATA,      /* receiving message data */
	SMTP_STATE_AUTH,      /* in a SASL exchange: lines are responses */
	SMTP_STATE_COUNT
};
const char *smtp_state_name(enum smtp_state state);

struct smtp_path {
	char address[ADDRESS_MAX + 1];  /* local@domain as given, unquoted */
	char local[ADDRESS_LOCAL_MAX + 1];
	char domain[ADDRESS_DOMAIN_MAX + 1]; /* lower case */
	bool null_path;                 /* <> */
	bool utf8;                      /* has non-ASCII octets */
	bool quoted;                    /* local part was a quoted string */
};

struct smtp_mail_params {
	uint64_t size;                  /* SIZE=, 0 if absent */
	bool body_8bit;                 /* BODY=8BITMIME */
	bool smtputf8;                  /* SMTPUTF8 */
};

/* Parse "<path> [params]" after "FROM:" / "TO:". The null path is allowed
 * only when allow_null. *rest_r points at the parameters. */
int smtp_parse_path(const char *s, bool allow_null, struct smtp_path *path_r,
		    const char **rest_r, const char **error_r);
/* MAIL FROM parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8);
 * on error *code_r is the reply code to use (501 or 555). */
int smtp_parse_mail_params(const char *s, struct smtp_mail_params *params_r,
			   int *code_r, const char **error_r);

struct smtp_data;

struct smtp_session {
	struct session s;
	enum smtp_state state;
	char helo[SMTP_HELO_MAX + 1];
	bool esmtp;
	char *auth_user;                /* authenticated address, or NULL */
	struct sasl sasl;               /* SMTP_STATE_AUTH */

	/* the transaction */
	struct smtp_path from;
	struct smtp_mail_params params;
	char **rcpts;                   /* normalised addresses, local */
	size_t n_rcpts;
	char **remote;                  /* other domains (authenticated users) */
	size_t n_remote;
	struct smtp_data *data;         /* while receiving/committing */
	unsigned messages;              /* accepted in this session */
};

static inline struct smtp_session *SMTP(struct session *s)
{
	return (struct smtp_session *)s;
}

void smtp_enter_state(struct smtp_session *ss, enum smtp_state state);
/* One reply line; the text is sanitised (no CR/LF or control bytes).
 * 4xx/5xx replies are logged. */
void smtp_reply(struct smtp_session *ss, int code, const char *enhanced,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Forget the transaction (RSET, after DATA, after STARTTLS). */
void smtp_reset_transaction(struct smtp_session *ss);
void smtp_dispatch(struct smtp_session *ss, char *line, size_t len);
/* A line of an AUTH exchange (SMTP_STATE_AUTH). */
void smtp_auth_response(struct smtp_session *ss, const char *line);

/* Recipients in other domains (smtp_relay.c). */
struct spool;
struct smtp_outbound;
void smtp_rcpt_remote(struct smtp_session *ss, const struct smtp_path *path);
void smtp_remote_reset(struct smtp_session *ss);
/* The queue's part of the transaction (NULL when all are local); offset:
 * the bytes of the spool's Return-Path line. */
struct smtp_outbound *smtp_outbound_take(struct smtp_session *ss, uint64_t offset);
/* On a pool thread: queue sp for the remote recipients and deliver it to
 * the local ones, as one commit (queue.h queue_commit). */
int smtp_outbound_commit(struct smtp_outbound *o, struct spool *sp,
			 char *const *local, size_t n_local, const char *data_dir,
			 const char **error_r);
void smtp_outbound_log(struct smtp_session *ss, const struct smtp_outbound *o,
		       const char *data_id, uint64_t size);
void smtp_outbound_free(struct smtp_outbound **o);

/* DATA */
void smtp_data_begin(struct smtp_session *ss);
void smtp_data_input(struct smtp_session *ss, struct evbuffer *in);
void smtp_data_free(struct smtp_session *ss);

/* The end-of-data parser, exposed for tests and fuzzing. It copies message
 * bytes from in to out, undoing dot-stuffing; it stops after the
 * terminating <CRLF>.<CRLF> (returning true). Only CRLF ends a line for
 * that purpose: bare LF is stored as CRLF (Postfix's
 * smtpd_forbid_bare_newline = normalize), bare CR is kept. */
enum smtp_dot_state {
	SMTP_DOT_LINE_START,
	SMTP_DOT_MID_LINE,
	SMTP_DOT_CR,
	SMTP_DOT_DOT,
	SMTP_DOT_DOT_CR,
};
/* At most this many output bytes per input byte (".<LF>" -> ".<CRLF>"),
 * so out needs SMTP_DOT_EXPANSION * len bytes to take all of in. */
#define SMTP_DOT_EXPANSION 3
bool smtp_dot_decode(enum smtp_dot_state *state, const unsigned char *in,
		     size_t len, size_t *consumed_r, unsigned char *out,
		     size_t out_cap, size_t *out_len_r);

#endif
