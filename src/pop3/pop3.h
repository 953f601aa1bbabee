/* pop3.h — the POP3 server (RFC 1939, 2449 CAPA, 2595 STLS, 5034 AUTH,
 * 3206 response codes) on the shared session core and Maildir store.
 *
 * pop3_session.c  states, replies, the session hooks
 * pop3_cmds.c     the command table and one handler per command */
#ifndef SEALPOST_POP3_H
#define SEALPOST_POP3_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/sasl.h"
#include "net/session.h"
#include "store/maildir.h"

extern const struct session_vfuncs pop3_vfuncs;

/* RFC 2449 4: a command line is at most 255 octets with its CRLF. */
#define POP3_LINE_MAX 253
/* AUTH responses carry base64 credentials (RFC 5034 4 leaves the length to
 * the mechanism): ours are at most SASL_RESPONSE_MAX. */
#define POP3_AUTH_LINE_MAX (SASL_RESPONSE_MAX + 16)

enum pop3_state {
	POP3_STATE_AUTHORIZATION,   /* USER/PASS/AUTH/STLS/CAPA */
	POP3_STATE_SASL,            /* in an AUTH exchange: lines are responses */
	POP3_STATE_TRANSACTION,     /* logged in, maildrop locked */
	POP3_STATE_UPDATE,          /* QUIT: deleting, then closing */
	POP3_STATE_COUNT
};
const char *pop3_state_name(enum pop3_state state);

struct pop3_session {
	struct session s;
	enum pop3_state state;
	char user[ADDRESS_MAX + 1];     /* from USER, or the logged-in user */
	bool user_given;
	struct sasl *sasl;

	/* TRANSACTION */
	int lock_fd;                    /* maildrop lock (one session) */
	struct maildir_folder *folder;  /* INBOX */
	struct maildir_snapshot *snap;  /* the maildrop as of login */
	bool *deleted;                  /* per message, DELE marks */
	size_t n_deleted;
	uint64_t deleted_size;
};

static inline struct pop3_session *POP3(struct session *s)
{
	return (struct pop3_session *)s;
}

void pop3_enter_state(struct pop3_session *ps, enum pop3_state state);
/* "+OK text" / "-ERR [CODE] text"; text sanitised; -ERR logged. */
void pop3_ok(struct pop3_session *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pop3_err(struct pop3_session *ps, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Most arguments of any command (TOP msg n, AUTH mech initial). */
#define POP3_ARGS_MAX 2
struct pop3_cmd;
/* Parse a command line in place: the command and its arguments (pointers
 * into line), or the -ERR text. The state is not checked here. */
int pop3_parse(char *line, size_t len, const struct pop3_cmd **cmd_r,
	       char **args, unsigned *n_args_r, const char **error_r);
const char *pop3_cmd_name(const struct pop3_cmd *cmd);
void pop3_dispatch(struct pop3_session *ps, char *line, size_t len);
void pop3_sasl_response(struct pop3_session *ps, const char *line);
void pop3_mailbox_free(struct pop3_session *ps);

#endif
