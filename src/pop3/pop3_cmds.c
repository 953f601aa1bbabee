/* pop3_cmds.c — the POP3 command table and its handlers. */
#include "pop3/pop3.h"
#include "auth/auth.h"
#include "net/filestream.h"
#include "store/mailbox.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define AUTHZ (1u << POP3_STATE_AUTHORIZATION)
#define TRANS (1u << POP3_STATE_TRANSACTION)
/* Mechanisms offered, inside TLS only (RFC 5034). */
#define POP3_SASL_MECHS SASL_MECH_PLAIN

enum pop3_cmd_flags {
	/* May be longer than POP3_LINE_MAX (AUTH's initial response, RFC
	 * 5034 4: up to the session's line limit). */
	POP3_CMD_LONG_LINE = 1 << 0,
	/* The rest of the line is one argument, spaces and all (PASS:
	 * RFC 1939 7 allows spaces in the password). */
	POP3_CMD_REST_OF_LINE = 1 << 1,
};

struct pop3_cmd {
	const char *name;
	unsigned states;
	unsigned min_args, max_args;
	unsigned flags;           /* enum pop3_cmd_flags */
	void (*handler)(struct pop3_session *ps, char **args, unsigned n_args);
};

static const char PLAINTEXT_REFUSED[] =
	"Plaintext authentication disallowed on non-secure (SSL/TLS) connections";

/* ---- the maildrop: locked and read at login, off the loop -------------- */

struct mbox_job {
	struct session_job job;
	struct pop3_session *ps;
	char user[ADDRESS_MAX + 1];
	int lock_fd;
	struct maildir_folder *folder;
	struct maildir_snapshot *snap;
	bool in_use;
	int result;
	char error[200];
	/* QUIT: what to delete */
	struct maildir_msg **expunge;
	size_t n_expunge;
};

static void open_work(struct session_job *job)
{
	struct mbox_job *mj = (struct mbox_job *)job;
	char *root = mailbox_path(config->data_dir, mj->user);
	const char *error = NULL;

	mj->lock_fd = -1;
	mj->result = -1;
	if (!fs_exists(root) && mailbox_create(config->data_dir, mj->user, &error) < 0)
		goto out;
	if (maildir_session_lock(root, &mj->lock_fd, &error) < 0) {
		mj->in_use = errno == EWOULDBLOCK;
		goto out;
	}
	if (maildir_folder_open(root, "INBOX", &mj->folder, &error) < 0 ||
	    maildir_sync(mj->folder, &mj->snap, &error) < 0) {
		maildir_folder_close(&mj->folder);
		maildir_session_unlock(&mj->lock_fd);
		goto out;
	}
	mj->result = 0;
out:
	if (error != NULL)
		strlcpy_sp(mj->error, error, sizeof(mj->error));
	free(root);
}

static void open_done(struct session_job *job, bool live)
{
	struct mbox_job *mj = (struct mbox_job *)job;
	struct pop3_session *ps = mj->ps;

	if (!live) {
		maildir_snapshot_free(&mj->snap);
		maildir_folder_close(&mj->folder);
		maildir_session_unlock(&mj->lock_fd);
	} else if (mj->result < 0) {
		if (mj->in_use) {
			pop3_err(ps, "IN-USE", "Mailbox is locked by another POP3 session");
		} else {
			session_log(&ps->s, LOG_LEVEL_ERROR, "maildrop error=\"%s\"", mj->error);
			pop3_err(ps, "SYS/TEMP", "Cannot open the mailbox; try again later");
		}
		pop3_enter_state(ps, POP3_STATE_AUTHORIZATION);
	} else {
		ps->lock_fd = mj->lock_fd;
		ps->folder = mj->folder;
		ps->snap = mj->snap;
		ps->deleted = xcalloc(ps->snap->count + 1, sizeof(bool));
		strlcpy_sp(ps->user, mj->user, sizeof(ps->user));
		pop3_enter_state(ps, POP3_STATE_TRANSACTION);
		session_login_done(&ps->s);
		session_log(&ps->s, LOG_LEVEL_INFO, "login user=%s messages=%zu",
			    ps->user, ps->snap->count);
		pop3_ok(ps, "Logged in, %zu messages", ps->snap->count);
	}
	free(mj);
}

void pop3_mailbox_free(struct pop3_session *ps)
{
	maildir_snapshot_free(&ps->snap);
	maildir_folder_close(&ps->folder);
	maildir_session_unlock(&ps->lock_fd);
	x_free(&ps->deleted);
}

/* ---- authentication ---------------------------------------------------- */

static void auth_done(struct session *s, bool ok, const char *user)
{
	struct pop3_session *ps = POP3(s);

	sasl_clear(&ps->sasl);
	ps->user_given = false;
	if (!ok) {
		pop3_enter_state(ps, POP3_STATE_AUTHORIZATION);
		pop3_err(ps, "AUTH", "Authentication failed");
		return;
	}
	struct mbox_job *mj = xcalloc(1, sizeof(*mj));
	mj->job.work = open_work;
	mj->job.done = open_done;
	mj->ps = ps;
	strlcpy_sp(mj->user, user, sizeof(mj->user));
	session_job_start(s, &mj->job, SESSION_JOB_EXCLUSIVE);
}

static void cmd_user(struct pop3_session *ps, char **args, unsigned n)
{
	if (!session_is_tls(&ps->s)) {
		pop3_err(ps, "AUTH", "%s", PLAINTEXT_REFUSED);
		return;
	}
	strlcpy_sp(ps->user, args[0], sizeof(ps->user));
	ps->user_given = true;
	pop3_ok(ps, "Send the password");
}

static void cmd_pass(struct pop3_session *ps, char **args, unsigned n)
{
	if (!session_is_tls(&ps->s)) {
		pop3_err(ps, "AUTH", "%s", PLAINTEXT_REFUSED);
		return;
	}
	if (!ps->user_given) {
		pop3_err(ps, NULL, "USER first");
		return;
	}
	/* RFC 1939 7: the password is the rest of the line, spaces and all. */
	const char *password = args[0];
	auth_verify(&ps->s, "USER", ps->user, password, strlen(password), auth_done);
}

static void sasl_result(struct pop3_session *ps, enum sasl_result res,
			const char *challenge, const char *error)
{
	switch (res) {
	case SASL_CONTINUE:
		pop3_enter_state(ps, POP3_STATE_SASL);
		session_printf(&ps->s, "+ %s\r\n", challenge);
		return;
	case SASL_FAIL:
		pop3_enter_state(ps, POP3_STATE_AUTHORIZATION);
		pop3_err(ps, ps->sasl->cancelled ? NULL : "AUTH", "%s", error);
		sasl_clear(&ps->sasl);
		return;
	case SASL_DONE:
		auth_verify(&ps->s, "PLAIN", ps->sasl->user, ps->sasl->password,
			    ps->sasl->password_len, auth_done);
		return;
	}
}

void pop3_sasl_response(struct pop3_session *ps, const char *line)
{
	const char *challenge = "", *error = NULL;
	enum sasl_result res = sasl_step(ps->sasl, line, &challenge, &error);
	sasl_result(ps, res, challenge, error);
}

static void cmd_auth(struct pop3_session *ps, char **args, unsigned n)
{
	const char *challenge = "", *error = NULL;
	enum sasl_mech mech;

	if (!session_is_tls(&ps->s)) {
		pop3_err(ps, "AUTH", "%s", PLAINTEXT_REFUSED);
		return;
	}
	if (n == 0) {            /* list the mechanisms (RFC 1734 usage) */
		session_printf(&ps->s, "+OK\r\nPLAIN\r\n.\r\n");
		return;
	}
	if (!sasl_mech_find(args[0], POP3_SASL_MECHS, &mech)) {
		pop3_err(ps, NULL, "Unsupported authentication mechanism");
		return;
	}
	sasl_result(ps, sasl_begin(&ps->sasl, mech, n > 1 ? args[1] : NULL,
				   &challenge, &error), challenge, error);
}

static void cmd_capa(struct pop3_session *ps, char **args, unsigned n)
{
	bool tls = session_is_tls(&ps->s);
	bool authz = ps->state == POP3_STATE_AUTHORIZATION;

	session_printf(&ps->s, "+OK Capability list follows\r\n"
		       "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
		       "%s%s%s"
		       "IMPLEMENTATION sealpost\r\n.\r\n",
		       tls && authz ? "USER\r\n" : "",
		       tls && authz ? "SASL PLAIN\r\n" : "",
		       !tls && authz ? "STLS\r\n" : "");
}

static void cmd_stls(struct pop3_session *ps, char **args, unsigned n)
{
	if (session_is_tls(&ps->s)) {
		pop3_err(ps, NULL, "Command not permitted when TLS active");
		return;
	}
	pop3_ok(ps, "Begin TLS negotiation");
	session_start_tls(&ps->s);
}

/* ---- TRANSACTION --------------------------------------------------------- */

/* Message number args[0] -> index, or reply and return false. */
static bool msg_arg(struct pop3_session *ps, const char *arg, size_t *idx_r)
{
	uint64_t num;
	if (!str_to_u64(arg, ps->snap->count, &num) || num == 0) {
		pop3_err(ps, NULL, "No such message");
		return false;
	}
	if (ps->deleted[num - 1]) {
		pop3_err(ps, NULL, "Message %llu is deleted", (unsigned long long)num);
		return false;
	}
	*idx_r = (size_t)(num - 1);
	return true;
}

static void cmd_stat(struct pop3_session *ps, char **args, unsigned n)
{
	uint64_t size = 0;
	for (size_t i = 0; i < ps->snap->count; i++)
		size += ps->snap->msgs[i].vsize;
	pop3_ok(ps, "%zu %llu", ps->snap->count - ps->n_deleted,
		(unsigned long long)(size - ps->deleted_size));
}

/* LIST and UIDL: one message, or every message not deleted. */
static void list_or_uidl(struct pop3_session *ps, char **args, unsigned n, bool uidl)
{
	size_t idx;

	if (n == 1) {
		if (!msg_arg(ps, args[0], &idx))
			return;
		const struct maildir_msg *m = &ps->snap->msgs[idx];
		if (uidl)
			pop3_ok(ps, "%zu %08X%08X", idx + 1, m->uid, ps->snap->uidvalidity);
		else
			pop3_ok(ps, "%zu %llu", idx + 1, (unsigned long long)m->vsize);
		return;
	}
	session_printf(&ps->s, "+OK\r\n");
	for (size_t i = 0; i < ps->snap->count; i++) {
		const struct maildir_msg *m = &ps->snap->msgs[i];
		if (ps->deleted[i])
			continue;
		if (uidl)
			session_printf(&ps->s, "%zu %08X%08X\r\n", i + 1, m->uid,
				       ps->snap->uidvalidity);
		else
			session_printf(&ps->s, "%zu %llu\r\n", i + 1,
				       (unsigned long long)m->vsize);
	}
	session_printf(&ps->s, ".\r\n");
}

static void cmd_list(struct pop3_session *ps, char **args, unsigned n)
{
	list_or_uidl(ps, args, n, false);
}

static void cmd_uidl(struct pop3_session *ps, char **args, unsigned n)
{
	list_or_uidl(ps, args, n, true);
}

/* RETR and TOP: open the file off the loop, then stream it. */
struct retr_job {
	struct session_job job;
	struct pop3_session *ps;
	size_t idx;
	long body_lines;
	int fd;
	char error[200];
};

static void retr_open_work(struct session_job *job)
{
	struct retr_job *rj = (struct retr_job *)job;
	const char *error = NULL;
	if (maildir_msg_open(rj->ps->folder, &rj->ps->snap->msgs[rj->idx], &rj->fd,
			     &error) < 0) {
		rj->fd = -1;
		strlcpy_sp(rj->error, error, sizeof(rj->error));
	}
}

static void retr_sent(struct session *s, void *ctx, bool ok)
{
	if (!ok)
		session_close(s);    /* the answer is cut short: end it */
}

static void retr_open_done(struct session_job *job, bool live)
{
	struct retr_job *rj = (struct retr_job *)job;
	struct pop3_session *ps = rj->ps;

	if (!live) {
		if (rj->fd >= 0)
			close(rj->fd);
	} else if (rj->fd < 0) {
		session_log(&ps->s, LOG_LEVEL_ERROR, "retr error=\"%s\"", rj->error);
		pop3_err(ps, "SYS/TEMP", "Cannot read message %zu", rj->idx + 1);
	} else {
		const struct maildir_msg *m = &ps->snap->msgs[rj->idx];
		struct fstream_opts opts = {
			.offset = 0, .length = UINT64_MAX,
			.flags = FSTREAM_CRLF | FSTREAM_DOTSTUFF,
			.body_lines = rj->body_lines,
		};
		if (rj->body_lines < 0)
			pop3_ok(ps, "%llu octets", (unsigned long long)m->vsize);
		else
			pop3_ok(ps, "Top of message follows");
		fstream_start(&ps->s, rj->fd, &opts, retr_sent, NULL);
	}
	free(rj);
}

static void start_retr(struct pop3_session *ps, size_t idx, long body_lines)
{
	struct retr_job *rj = xcalloc(1, sizeof(*rj));
	rj->job.work = retr_open_work;
	rj->job.done = retr_open_done;
	rj->ps = ps;
	rj->idx = idx;
	rj->body_lines = body_lines;
	session_job_start(&ps->s, &rj->job, SESSION_JOB_EXCLUSIVE);
}

static void cmd_retr(struct pop3_session *ps, char **args, unsigned n)
{
	size_t idx;
	if (msg_arg(ps, args[0], &idx))
		start_retr(ps, idx, -1);
}

static void cmd_top(struct pop3_session *ps, char **args, unsigned n)
{
	size_t idx;
	uint64_t lines;
	if (!msg_arg(ps, args[0], &idx))
		return;
	if (!str_to_u64(args[1], LONG_MAX, &lines)) {
		pop3_err(ps, NULL, "Invalid number of lines");
		return;
	}
	start_retr(ps, idx, (long)lines);
}

static void cmd_dele(struct pop3_session *ps, char **args, unsigned n)
{
	size_t idx;
	if (!msg_arg(ps, args[0], &idx))
		return;
	ps->deleted[idx] = true;
	ps->n_deleted++;
	ps->deleted_size += ps->snap->msgs[idx].vsize;
	pop3_ok(ps, "Marked to be deleted");
}

static void cmd_rset(struct pop3_session *ps, char **args, unsigned n)
{
	memset(ps->deleted, 0, ps->snap->count * sizeof(bool));
	ps->n_deleted = 0;
	ps->deleted_size = 0;
	pop3_ok(ps, "%zu messages", ps->snap->count);
}

static void cmd_noop(struct pop3_session *ps, char **args, unsigned n)
{
	session_printf(&ps->s, "+OK\r\n");
}

/* ---- QUIT: the UPDATE state deletes what DELE marked ------------------ */

static void expunge_work(struct session_job *job)
{
	struct mbox_job *mj = (struct mbox_job *)job;
	const char *error = NULL;

	mj->result = maildir_expunge(mj->ps->folder, mj->expunge, mj->n_expunge, &error);
	if (error != NULL)
		strlcpy_sp(mj->error, error, sizeof(mj->error));
}

static void expunge_done(struct session_job *job, bool live)
{
	struct mbox_job *mj = (struct mbox_job *)job;
	struct pop3_session *ps = mj->ps;

	/* The deletion happened: logged even when the client is gone. */
	maildir_session_unlock(&ps->lock_fd);
	if (mj->result < 0) {
		session_log(&ps->s, LOG_LEVEL_ERROR, "expunge error=\"%s\"", mj->error);
		if (live)
			pop3_err(ps, "SYS/TEMP", "Some deleted messages were not removed");
	} else {
		session_log(&ps->s, LOG_LEVEL_INFO, "logout user=%s deleted=%zu",
			    ps->user, mj->n_expunge);
		if (live)
			pop3_ok(ps, "Logging out, %zu messages deleted", mj->n_expunge);
	}
	session_close(&ps->s);
	free(mj->expunge);
	free(mj);
}

static void cmd_quit(struct pop3_session *ps, char **args, unsigned n)
{
	if (ps->state != POP3_STATE_TRANSACTION) {
		pop3_ok(ps, "Logging out");
		session_close(&ps->s);
		return;
	}
	pop3_enter_state(ps, POP3_STATE_UPDATE);
	struct mbox_job *mj = xcalloc(1, sizeof(*mj));
	mj->job.work = expunge_work;
	mj->job.done = expunge_done;
	mj->ps = ps;
	mj->expunge = xcalloc(ps->n_deleted + 1, sizeof(*mj->expunge));
	for (size_t i = 0; i < ps->snap->count; i++) {
		if (ps->deleted[i])
			mj->expunge[mj->n_expunge++] = &ps->snap->msgs[i];
	}
	session_job_start(&ps->s, &mj->job, SESSION_JOB_EXCLUSIVE);
}

/* ---- dispatch ---------------------------------------------------------- */

static const struct pop3_cmd commands[] = {
	{ "CAPA", AUTHZ | TRANS, 0, 0, 0, cmd_capa },
	{ "STLS", AUTHZ, 0, 0, 0, cmd_stls },
	{ "USER", AUTHZ, 1, 1, 0, cmd_user },
	{ "PASS", AUTHZ, 1, 1, POP3_CMD_REST_OF_LINE, cmd_pass },
	{ "AUTH", AUTHZ, 0, 2, POP3_CMD_LONG_LINE, cmd_auth },
	{ "QUIT", AUTHZ | TRANS, 0, 0, 0, cmd_quit },
	{ "NOOP", TRANS, 0, 0, 0, cmd_noop },
	{ "STAT", TRANS, 0, 0, 0, cmd_stat },
	{ "LIST", TRANS, 0, 1, 0, cmd_list },
	{ "UIDL", TRANS, 0, 1, 0, cmd_uidl },
	{ "RETR", TRANS, 1, 1, 0, cmd_retr },
	{ "TOP", TRANS, 2, 2, 0, cmd_top },
	{ "DELE", TRANS, 1, 1, 0, cmd_dele },
	{ "RSET", TRANS, 0, 0, 0, cmd_rset },
};

/* Split "CMD a b" into up to max args (or the rest of the line as one).
 * Returns the count, or -1 for too many. */
static int split_args(const struct pop3_cmd *cmd, char *rest, char **args)
{
	unsigned n = 0;
	if (cmd->flags & POP3_CMD_REST_OF_LINE) {
		if (*rest != '\0')
			args[n++] = rest;
		return (int)n;
	}
	for (char *save = NULL, *tok = strtok_r(rest, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		if (n == cmd->max_args)
			return -1;
		args[n++] = tok;
	}
	return (int)n;
}

int pop3_parse(char *line, size_t len, const struct pop3_cmd **cmd_r,
	       char **args, unsigned *n_args_r, const char **error_r)
{
	char *rest = strchr(line, ' ');
	const struct pop3_cmd *cmd = NULL;

	if (rest != NULL)
		*rest++ = '\0';
	else
		rest = line + len;
	for (size_t i = 0; i < N_ELEMENTS(commands) && cmd == NULL; i++) {
		if (str_ieq(commands[i].name, line))
			cmd = &commands[i];
	}
	if (len > POP3_LINE_MAX && (cmd == NULL || !(cmd->flags & POP3_CMD_LONG_LINE))) {
		*error_r = "Line too long";
		return -1;
	}
	if (cmd == NULL) {
		*error_r = "Unknown command";
		return -1;
	}
	int n = split_args(cmd, rest, args);
	if (n < 0 || (unsigned)n < cmd->min_args) {
		*error_r = errfmt("Wrong number of arguments for %s", cmd->name);
		return -1;
	}
	*cmd_r = cmd;
	*n_args_r = (unsigned)n;
	return 0;
}

const char *pop3_cmd_name(const struct pop3_cmd *cmd)
{
	return cmd->name;
}

void pop3_dispatch(struct pop3_session *ps, char *line, size_t len)
{
	char *args[POP3_ARGS_MAX];
	const struct pop3_cmd *cmd;
	const char *error;
	unsigned n;

	if (pop3_parse(line, len, &cmd, args, &n, &error) < 0) {
		pop3_err(ps, NULL, "%s", error);
		session_bad_command(&ps->s);
		return;
	}
	if (!(cmd->states & (1u << ps->state))) {
		pop3_err(ps, NULL, "Command not valid in this state");
		session_bad_command(&ps->s);
		return;
	}
	cmd->handler(ps, args, n);
}
