/* imap.h — the IMAP4rev1 server (RFC 3501) on the shared session core.
 *
 * imap_session.c  the session: states, the parser with literals, replies,
 *                 the command table and dispatch, jobs
 * cmd_auth.c      CAPABILITY NOOP LOGOUT STARTTLS LOGIN AUTHENTICATE ID
 *                 ENABLE NAMESPACE (the commands of any state)
 * cmd_*.c         one file per command or family (Dovecot's cmd-*.c)
 *
 * Every command handler is called with the parsed arguments (owned by the
 * parser, valid until the command is done). A handler validates, then
 * either answers at once with imap_command_done(), or starts a job
 * (imap_job_start) and answers from its completion. No other command is
 * read while one is under way (commands run one at a time). */
#ifndef SEALPOST_IMAP_H
#define SEALPOST_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "imap/imap_parser.h"
#include "net/jobs.h"
#include "net/session.h"

struct evbuffer;

extern const struct session_vfuncs imap_vfuncs;

/* RFC 3501 5.4: the autologout timer is at least 30 minutes (config
 * imap_timeout); before login we wait less. */
#define IMAP_PREAUTH_TIMEOUT_SECS 60
/* Longest tagged reply text kept while a job runs. */
#define IMAP_REPLY_MAX 512

enum imap_state {
	IMAP_STATE_NOT_AUTH,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
	IMAP_STATE_COUNT
};
const char *imap_state_name(enum imap_state state);

enum imap_cmd_flags {
	/* Has a "UID <name>" form (RFC 3501 6.4.8). */
	IMAP_CMD_UID = 1 << 0,
	/* EXPUNGE responses may not follow it (RFC 3501 7.4.1: FETCH, STORE,
	 * SEARCH without UID). */
	IMAP_CMD_NO_EXPUNGE = 1 << 1,
};

struct imap_session;

struct imap_literal_sink;

/* imap_cmd.mailbox_args: LIST/LSUB syntax ([(selection)] reference
 * pattern-or-patterns ...). */
#define IMAP_MBOX_LIST (1u << 31)

struct imap_cmd {
	const char *name;
	unsigned states;            /* bit per enum imap_state */
	unsigned flags;
	void (*handler)(struct imap_session *is, const struct imap_arg *args,
			size_t n_args);
	/* For commands whose literals are streamed (APPEND): called with the
	 * command parsed so far when such a literal is announced. Returns
	 * where its bytes go, or NULL after answering the command with NO
	 * (e.g. [TRYCREATE], [TOOBIG]). When the answer needs the disk, it
	 * calls imap_literal_defer(), starts a job and returns NULL; the
	 * job's done() then calls imap_literal_decided(). */
	const struct imap_literal_sink *(*literal_begin)(
		struct imap_session *is, const struct imap_command *so_far,
		const struct imap_literal *lit);
	/* Arguments that are mailbox names (bit i: args[i]; IMAP_MBOX_LIST:
	 * LIST's reference and patterns), converted from UTF-8 to the
	 * store's modified UTF-7 for an IMAP4rev2 session before the
	 * handler runs. */
	unsigned mailbox_args;
};

/* Streamed literal (APPEND message): where its bytes go. */
struct imap_literal_sink {
	/* Take what you can of in (at most max bytes); return the count
	 * taken. Taking 0 pauses input until imap_literal_resume(). */
	size_t (*write)(struct imap_session *is, struct evbuffer *in, size_t max);
	/* All announced bytes were taken. */
	void (*end)(struct imap_session *is);
};

/* A line handler while a command talks with the client (AUTHENTICATE
 * responses, IDLE's DONE). */
typedef void imap_line_handler(struct imap_session *is, const char *line);

struct imap_mailbox;
struct imap_append;

struct imap_session {
	struct session s;
	enum imap_state state;
	struct imap_parser *parser;

	/* the command under way */
	const struct imap_cmd *cmd;
	char tag[IMAP_TAG_MAX + 1];
	bool uid;                   /* "UID <cmd>" */
	bool busy;                  /* a command is under way */
	imap_line_handler *line_handler;
	/* The running command's own cleanup when it ends without completing
	 * (a parse error, a refused line, the client leaving): set by the
	 * commands that keep state across lines or literals (APPEND, IDLE,
	 * AUTHENTICATE); cleared when any command is answered. */
	void (*cancel)(struct imap_session *is);

	/* literals */
	bool in_literal;
	uint64_t literal_left;
	struct imap_literal literal;
	const struct imap_literal_sink *sink;  /* NULL: buffered or dropped */
	bool literal_deferred;      /* literal_begin waits for a job */
	bool refused;               /* the command was answered mid-parse:
				       drop the rest of it */
	char reply[IMAP_REPLY_MAX]; /* the tagged reply waiting for a sync */

	/* authentication */
	struct sasl *sasl;
	char *user;                 /* logged-in account */
	char *root;                 /* its mailbox path */

	/* RFC 5161 ENABLE */
	bool utf8_accept;
	bool condstore;             /* RFC 7162 (imap_modseq.h) */
	bool qresync;
	/* RFC 9051: IMAP4rev2 is on (ENABLE IMAP4rev2): mailbox names are
	 * UTF-8 both ways, no \Recent and no RECENT, SEARCH answers ESEARCH,
	 * SELECT lists the mailbox */
	bool rev2;

	/* the selected mailbox (cmd_select.c and friends) */
	struct imap_mailbox *sel;
	/* Called (once) when the output queue drained, or the session closed:
	 * a long answer (FETCH) waits for the client to read. */
	void (*drained)(struct imap_session *is, void *ctx);
	void *drained_ctx;

	/* an APPEND whose message is being received (cmd_append.c) */
	struct imap_append *append;
};

static inline struct imap_session *IMAP(struct session *s)
{
	return (struct imap_session *)s;
}

void imap_enter_state(struct imap_session *is, enum imap_state state);

/* "* <text>" (the caller's text is a full untagged response, may hold
 * IMAP strings; only a trailing CRLF is added). */
void imap_untagged(struct imap_session *is, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Finish the command under way: send updates of the selected mailbox as
 * the command allows, then "<tag> <status> [<code>] <text>". status is
 * "OK", "NO" or "BAD"; code may be NULL. NO and BAD are logged. */
void imap_command_done(struct imap_session *is, const char *status,
		       const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* imap_command_done() without the update of the selected mailbox: the
 * tagged reply is queued before this returns (COMPRESS switches the
 * stream right after it). */
void imap_command_done_now(struct imap_session *is, const char *status,
			   const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A syntax error in the arguments: "BAD <text>", counted as bad. */
void imap_command_bad(struct imap_session *is, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A command's disk work: session_job_start(SESSION_JOB_EXCLUSIVE), so
 * the session takes no input meanwhile. The job struct is the caller's
 * (embed struct session_job first); done() frees it and, when live,
 * answers the command. */
void imap_job_start(struct imap_session *is, struct session_job *job);

/* IMAP4rev2: the mailbox-name arguments of a command (imap_cmd
 * mailbox_args bits) from UTF-8 to modified UTF-7, in place; false when
 * one is not valid UTF-8. */
bool imap_names_from_utf8(struct imap_session *is, unsigned which,
			  const struct imap_arg *args, size_t n);

/* The capability list for the session's state (no leading "CAPABILITY"). */
const char *imap_capabilities(struct imap_session *is);

/* Input of a streamed literal stopped by the sink may flow again. */
void imap_literal_resume(struct imap_session *is);
/* From literal_begin: the decision waits for a job (no "+" yet). */
void imap_literal_defer(struct imap_session *is);
/* The deferred decision: where the literal goes, or NULL after the command
 * was answered (a synchronising literal is then never sent by the client;
 * a non-synchronising one is read and dropped). */
void imap_literal_decided(struct imap_session *is,
			  const struct imap_literal_sink *sink);
/* End the running command's exchange without completing it: its cancel
 * hook runs (an APPEND's file is removed in a job, IDLE's watch and
 * AUTHENTICATE's secrets go). No reply is sent. */
void imap_command_cancel(struct imap_session *is);

/* Hooks of the selected-mailbox code (imap_mailbox.c): bring the client's
 * view up to date before the tagged reply of any command (then call
 * then), and forget the mailbox. */
void imap_mailbox_sync_then(struct imap_session *is, bool allow_expunge,
			    void (*then)(struct imap_session *is));
void imap_mailbox_close(struct imap_session *is);

/* Command handlers (one file per command or family). */
void cmd_capability(struct imap_session *, const struct imap_arg *, size_t);
void cmd_noop(struct imap_session *, const struct imap_arg *, size_t);
void cmd_logout(struct imap_session *, const struct imap_arg *, size_t);
void cmd_starttls(struct imap_session *, const struct imap_arg *, size_t);
void cmd_compress(struct imap_session *, const struct imap_arg *, size_t);
void cmd_unauthenticate(struct imap_session *, const struct imap_arg *, size_t);
void cmd_login(struct imap_session *, const struct imap_arg *, size_t);
void cmd_authenticate(struct imap_session *, const struct imap_arg *, size_t);
void cmd_id(struct imap_session *, const struct imap_arg *, size_t);
void cmd_enable(struct imap_session *, const struct imap_arg *, size_t);
void cmd_namespace(struct imap_session *, const struct imap_arg *, size_t);
/* cmd_list.c, cmd_mailbox.c, cmd_status.c, cmd_append.c */
void cmd_list(struct imap_session *, const struct imap_arg *, size_t);
void cmd_lsub(struct imap_session *, const struct imap_arg *, size_t);
void cmd_create(struct imap_session *, const struct imap_arg *, size_t);
void cmd_delete(struct imap_session *, const struct imap_arg *, size_t);
void cmd_rename(struct imap_session *, const struct imap_arg *, size_t);
void cmd_subscribe(struct imap_session *, const struct imap_arg *, size_t);
void cmd_unsubscribe(struct imap_session *, const struct imap_arg *, size_t);
void cmd_status(struct imap_session *, const struct imap_arg *, size_t);
void cmd_append(struct imap_session *, const struct imap_arg *, size_t);
/* cmd_quota.c */
void cmd_getquota(struct imap_session *, const struct imap_arg *, size_t);
void cmd_getquotaroot(struct imap_session *, const struct imap_arg *, size_t);
void cmd_setquota(struct imap_session *, const struct imap_arg *, size_t);
const struct imap_literal_sink *cmd_append_literal(
	struct imap_session *is, const struct imap_command *so_far,
	const struct imap_literal *lit);
/* the selected state (cmd_select.c, cmd_fetch.c, cmd_store.c, cmd_search.c,
 * cmd_sort.c, cmd_thread.c, cmd_copy.c, cmd_idle.c) */
void cmd_select(struct imap_session *, const struct imap_arg *, size_t);
void cmd_examine(struct imap_session *, const struct imap_arg *, size_t);
void cmd_close(struct imap_session *, const struct imap_arg *, size_t);
void cmd_unselect(struct imap_session *, const struct imap_arg *, size_t);
void cmd_check(struct imap_session *, const struct imap_arg *, size_t);
void cmd_expunge(struct imap_session *, const struct imap_arg *, size_t);
void cmd_fetch(struct imap_session *, const struct imap_arg *, size_t);
void cmd_store(struct imap_session *, const struct imap_arg *, size_t);
void cmd_search(struct imap_session *, const struct imap_arg *, size_t);
void cmd_sort(struct imap_session *, const struct imap_arg *, size_t);
void cmd_thread(struct imap_session *, const struct imap_arg *, size_t);
void cmd_copy(struct imap_session *, const struct imap_arg *, size_t);
void cmd_move(struct imap_session *, const struct imap_arg *, size_t);
void cmd_idle(struct imap_session *, const struct imap_arg *, size_t);

#endif
