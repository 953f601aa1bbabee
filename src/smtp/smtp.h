/* smtp.h — the SMTP server (RFC 5321) on the shared session core.
 *
 * smtp_session.c  the session: states, replies, dispatch, greeting, TLS reset
 * smtp_cmds.c     the command table and one handler per command
 * smtp_addr.c     address syntax: paths, parameters, domains, literals,
 *                 the EHLO argument (smtp_addr.h, shared with outbound)
 * smtp_data.c     DATA: dot-unstuffing, spooling off the loop, commit
 * smtp_relay.c    recipients in other domains: queued (queue.h) at the commit */
#ifndef SEALPOST_SMTP_H
#define SEALPOST_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "net/session.h"
#include "mail/smtp_addr.h"
#include "store/deliver.h"
#include "store/mailbox.h"

extern const struct session_vfuncs smtp_vfuncs;

/* RFC 5321 4.5.3.1.4: command line 512 octets including CRLF. */
#define SMTP_LINE_MAX 510
/* RFC 4954 4: an AUTH line (with initial response) may be 12288 octets. */
#define SMTP_AUTH_LINE_MAX 12288
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

struct smtp_data;

struct smtp_session {
	struct session s;
	enum smtp_state state;
	char helo[SMTP_HELO_MAX + 1];
	bool esmtp;
	char *auth_user;                /* authenticated address, or NULL */
	struct sasl *sasl;              /* SMTP_STATE_AUTH only; else NULL */

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
struct smtp_outbound;
void smtp_rcpt_remote(struct smtp_session *ss, const struct smtp_path *path);
void smtp_remote_reset(struct smtp_session *ss);
/* The queue's part of the transaction (NULL when all are local); offset:
 * the bytes of the spool's Return-Path line. */
struct smtp_outbound *smtp_outbound_take(struct smtp_session *ss, uint64_t offset);
/* In the group committer (pool thread): item (its spool and local
 * addresses set) also queues the message for the remote recipients
 * (queue.h queue_stage_init); after the batch, smtp_outbound_staged()
 * with the item's result publishes it (0) or takes it back (-1). */
struct deliver_item;
void smtp_outbound_stage(struct smtp_outbound *o, struct deliver_item *item,
			 const char *data_dir);
int smtp_outbound_staged(struct smtp_outbound *o, int result, const char **error_r);
void smtp_outbound_log(struct smtp_session *ss, const struct smtp_outbound *o,
		       const char *data_id, uint64_t size);
void smtp_outbound_free(struct smtp_outbound **o);

/* DATA */
void smtp_data_begin(struct smtp_session *ss);
void smtp_data_input(struct smtp_session *ss, struct evbuffer *in);
void smtp_data_free(struct smtp_session *ss);

/* The end-of-data parser, exposed for tests and fuzzing. It copies message
 * bytes from in to out, undoing dot-stuffing; it stops after the
 * terminating <CRLF>.<CRLF> (returning true; *consumed_r counts its last
 * byte). Postfix's smtpd_forbid_bare_newline = normalize: a line ended by
 * a bare LF is a line like any other, stored with CRLF and dot-unstuffed
 * ("..x<LF>" -> ".x<CRLF>"), but only <CRLF>.<CRLF> ends the data; a lone
 * dot line next to a bare LF (<LF>.<LF>, <LF>.<CRLF>, <CRLF>.<LF>) is
 * kept as the line ".". A bare CR is kept and ends no line. Stateful
 * across calls: the input may be split anywhere. */
enum smtp_dot_state {
	SMTP_DOT_LINE_START,     /* start of the data, or after CRLF */
	SMTP_DOT_MID_LINE,
	SMTP_DOT_CR,             /* a CR, its LF not seen yet */
	SMTP_DOT_DOT,            /* "." after CRLF: the end, or unstuffing */
	SMTP_DOT_DOT_CR,         /* ".<CR>" after CRLF */
	SMTP_DOT_LF_LINE_START,  /* after a bare LF: no end can start here */
	SMTP_DOT_LF_DOT,         /* "." after a bare LF */
	SMTP_DOT_LF_DOT_CR,      /* ".<CR>" after a bare LF */
};
/* At most this many output bytes per input byte (".<LF>" -> ".<CRLF>"),
 * so out needs SMTP_DOT_EXPANSION * len bytes to take all of in. */
#define SMTP_DOT_EXPANSION 3
bool smtp_dot_decode(enum smtp_dot_state *state, const unsigned char *in,
		     size_t len, size_t *consumed_r, unsigned char *out,
		     size_t out_cap, size_t *out_len_r);

#endif
