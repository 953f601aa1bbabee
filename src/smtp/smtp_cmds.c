/* smtp_cmds.c — the SMTP command table and its handlers. */
#include "smtp/smtp.h"
#include "auth/accounts.h"
#include "net/jobs.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

#define ANY_STATE ((1u << SMTP_STATE_COUNT) - 1 - (1u << SMTP_STATE_DATA))

enum cmd_flags {
	CMD_NO_ARGS = 1 << 0,     /* "DATA x" is a syntax error */
	CMD_NEEDS_ARGS = 1 << 1,  /* "MAIL" alone is a syntax error */
};

struct smtp_cmd {
	const char *name;
	unsigned states;          /* bit per enum smtp_state */
	unsigned flags;
	const char *syntax;       /* for 501 replies */
	void (*handler)(struct smtp_session *ss, const char *args);
};

/* ---- EHLO / HELO ------------------------------------------------------- */

static bool set_helo(struct smtp_session *ss, const char *args)
{
	size_t len = strcspn(args, " ");
	if (len == 0 || len > SMTP_HELO_MAX || args[len] != '\0') {
		smtp_reply(ss, 501, "5.5.4", "Syntax: EHLO hostname");
		session_bad_command(&ss->s);
		return false;
	}
	str_sanitize(ss->helo, sizeof(ss->helo), args, len);
	/* RFC 5321 4.1.4: EHLO in a transaction is an implicit RSET. */
	smtp_reset_transaction(ss);
	smtp_enter_state(ss, SMTP_STATE_READY);
	return true;
}

static void cmd_ehlo(struct smtp_session *ss, const char *args)
{
	const char *ext[8];
	size_t n = 0;
	char size[48];

	if (!set_helo(ss, args))
		return;
	ss->esmtp = true;
	snprintf(size, sizeof(size), "SIZE %llu",
		 (unsigned long long)config->max_message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	if (!session_is_tls(&ss->s))
		ext[n++] = "STARTTLS";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "8BITMIME";
	ext[n++] = "SMTPUTF8";
	session_printf(&ss->s, "250-%s\r\n", config->hostname);
	for (size_t i = 0; i < n; i++)
		session_printf(&ss->s, "250%c%s\r\n", i + 1 < n ? '-' : ' ', ext[i]);
}

static void cmd_helo(struct smtp_session *ss, const char *args)
{
	if (!set_helo(ss, args))
		return;
	ss->esmtp = false;
	session_printf(&ss->s, "250 %s\r\n", config->hostname);
}

/* ---- MAIL ------------------------------------------------------------- */

static void cmd_mail(struct smtp_session *ss, const char *args)
{
	struct smtp_path path;
	struct smtp_mail_params params;
	const char *rest, *error;
	int code;

	if (service_infos[ss->s.service].auth_required && ss->auth_user == NULL) {
		smtp_reply(ss, 530, "5.7.0", "Authentication required");
		return;
	}
	if (!str_has_prefix_ci(args, "FROM:")) {
		smtp_reply(ss, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		session_bad_command(&ss->s);
		return;
	}
	if (smtp_parse_path(args + 5, true, &path, &rest, &error) < 0) {
		smtp_reply(ss, 501, "5.1.7", "Bad sender address syntax: %s", error);
		return;
	}
	if (smtp_parse_mail_params(rest, &params, &code, &error) < 0) {
		smtp_reply(ss, code, "5.5.4", "%s", error);
		return;
	}
	if (params.size > config->max_message_size) {
		smtp_reply(ss, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	if (path.utf8 && !params.smtputf8) {
		smtp_reply(ss, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
		return;
	}
	ss->from = path;
	ss->params = params;
	smtp_enter_state(ss, SMTP_STATE_MAIL);
	smtp_reply(ss, 250, "2.1.0", "Ok");
}

/* ---- RCPT: the account lookup reads the disk, so it is a job ---------- */

struct rcpt_job {
	struct job job;
	struct smtp_session *ss;
	char address[ADDRESS_MAX + 1];
	bool exists;
};

static void rcpt_work(struct job *job)
{
	struct rcpt_job *rj = (struct rcpt_job *)job;
	rj->exists = accounts_exists(config->data_dir, rj->address);
}

static void rcpt_done(struct job *job)
{
	struct rcpt_job *rj = (struct rcpt_job *)job;
	struct smtp_session *ss = rj->ss;

	if (ss->s.closing) {
		/* nothing to say */
	} else if (!rj->exists) {
		smtp_reply(ss, 550, "5.1.1", "<%s>: Recipient address rejected: "
			   "User unknown in local recipient table", rj->address);
	} else {
		bool dup = false;
		for (size_t i = 0; i < ss->n_rcpts && !dup; i++)
			dup = strcmp(ss->rcpts[i], rj->address) == 0;
		if (!dup) {
			ss->rcpts = xrealloc(ss->rcpts, (ss->n_rcpts + 1) * sizeof(char *));
			ss->rcpts[ss->n_rcpts++] = xstrdup(rj->address);
		}
		smtp_enter_state(ss, SMTP_STATE_RCPT);
		smtp_reply(ss, 250, "2.1.5", "Ok");
	}
	session_resume(&ss->s);
	free(rj);
}

static void rcpt_local(struct smtp_session *ss, const struct smtp_path *path)
{
	char address[ADDRESS_MAX + 1];

	if (path->domain[0] == '\0')   /* <postmaster> */
		snprintf(address, sizeof(address), "postmaster@%s", config->domains[0]);
	else
		snprintf(address, sizeof(address), "%s@%s", path->local, path->domain);
	mailbox_address_normalize(address, address, sizeof(address));
	if (!mailbox_address_valid(address)) {
		/* Not a name an account can have here (quoted, odd bytes). */
		smtp_reply(ss, 550, "5.1.1", "<%s>: Recipient address rejected: "
			   "User unknown in local recipient table", path->address);
		return;
	}
	struct rcpt_job *rj = xcalloc(1, sizeof(*rj));
	rj->job.work = rcpt_work;
	rj->job.done = rcpt_done;
	rj->ss = ss;
	strlcpy_sp(rj->address, address, sizeof(rj->address));
	session_suspend(&ss->s);
	jobs_submit(&rj->job);
}

static void cmd_rcpt(struct smtp_session *ss, const char *args)
{
	struct smtp_path path;
	const char *rest, *error;

	if (!str_has_prefix_ci(args, "TO:")) {
		smtp_reply(ss, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		session_bad_command(&ss->s);
		return;
	}
	if (smtp_parse_path(args + 3, false, &path, &rest, &error) < 0) {
		smtp_reply(ss, 501, "5.1.3", "Bad recipient address syntax: %s", error);
		return;
	}
	if (*rest != '\0') {
		smtp_reply(ss, 555, "5.5.4", "Unsupported RCPT parameter");
		return;
	}
	if (path.utf8 && !ss->params.smtputf8) {
		smtp_reply(ss, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
		return;
	}
	if (ss->n_rcpts >= config->max_recipients) {
		smtp_reply(ss, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (path.domain[0] == '\0' || config_is_local_domain(config, path.domain)) {
		rcpt_local(ss, &path);
		return;
	}
	smtp_reply(ss, 554, "5.7.1", "<%s>: Relay access denied", path.address);
}

/* ---- the rest ---------------------------------------------------------- */

static void cmd_data(struct smtp_session *ss, const char *args)
{
	smtp_data_begin(ss);
}

static void cmd_rset(struct smtp_session *ss, const char *args)
{
	smtp_reset_transaction(ss);
	smtp_reply(ss, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct smtp_session *ss, const char *args)
{
	smtp_reply(ss, 250, "2.0.0", "Ok");
}

static void cmd_quit(struct smtp_session *ss, const char *args)
{
	smtp_reply(ss, 221, "2.0.0", "Bye");
	session_close(&ss->s);
}

static void cmd_help(struct smtp_session *ss, const char *args)
{
	session_printf(&ss->s, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET\r\n"
			       "214 2.0.0 NOOP QUIT HELP VRFY EXPN STARTTLS\r\n");
}

/* VRFY and EXPN disclose nothing (RFC 5321 3.5.3, 7.3). */
static void cmd_vrfy(struct smtp_session *ss, const char *args)
{
	smtp_reply(ss, 252, "2.5.2", "Cannot VRFY user, but will accept "
		   "message and attempt delivery");
}

static void cmd_starttls(struct smtp_session *ss, const char *args)
{
	if (session_is_tls(&ss->s)) {
		smtp_reply(ss, 554, "5.5.1", "Error: TLS already active");
		return;
	}
	smtp_reply(ss, 220, "2.0.0", "Ready to start TLS");
	session_start_tls(&ss->s);
}

static const struct smtp_cmd *find_cmd(const char *name);

void smtp_dispatch(struct smtp_session *ss, char *line, size_t len)
{
	char *args = strchr(line, ' ');
	const struct smtp_cmd *cmd;

	if (args != NULL)
		*args++ = '\0';
	else
		args = line + len;
	cmd = find_cmd(line);
	if (cmd == NULL) {
		smtp_reply(ss, 500, "5.5.2", "Error: command not recognized");
		session_bad_command(&ss->s);
		return;
	}
	if (!(cmd->states & (1u << ss->state))) {
		smtp_reply(ss, 503, "5.5.1", "Error: %s",
			   ss->state == SMTP_STATE_INIT ? "send HELO/EHLO first" :
			   strcmp(cmd->name, "MAIL") == 0 ? "nested MAIL command" :
			   strcmp(cmd->name, "RCPT") == 0 ? "need MAIL command" :
			   strcmp(cmd->name, "DATA") == 0 ? "need RCPT command" :
			   "bad sequence of commands");
		session_bad_command(&ss->s);
		return;
	}
	if (((cmd->flags & CMD_NO_ARGS) && *args != '\0') ||
	    ((cmd->flags & CMD_NEEDS_ARGS) && *args == '\0')) {
		smtp_reply(ss, 501, "5.5.4", "Syntax: %s", cmd->syntax);
		session_bad_command(&ss->s);
		return;
	}
	cmd->handler(ss, args);
}

#define INIT SMTP_STATE_INIT
#define READY SMTP_STATE_READY
#define MAIL SMTP_STATE_MAIL
#define RCPT SMTP_STATE_RCPT

static const struct smtp_cmd commands[] = {
	{ "EHLO", ANY_STATE, CMD_NEEDS_ARGS, "EHLO hostname", cmd_ehlo },
	{ "HELO", ANY_STATE, CMD_NEEDS_ARGS, "HELO hostname", cmd_helo },
	{ "STARTTLS", ANY_STATE, CMD_NO_ARGS, "STARTTLS", cmd_starttls },
	{ "MAIL", 1u << READY, CMD_NEEDS_ARGS, "MAIL FROM:<address>", cmd_mail },
	{ "RCPT", (1u << MAIL) | (1u << RCPT), CMD_NEEDS_ARGS,
	  "RCPT TO:<address>", cmd_rcpt },
	{ "DATA", 1u << RCPT, CMD_NO_ARGS, "DATA", cmd_data },
	{ "RSET", ANY_STATE, CMD_NO_ARGS, "RSET", cmd_rset },
	{ "NOOP", ANY_STATE, 0, "NOOP", cmd_noop },
	{ "QUIT", ANY_STATE, CMD_NO_ARGS, "QUIT", cmd_quit },
	{ "HELP", ANY_STATE, 0, "HELP", cmd_help },
	{ "VRFY", ANY_STATE, CMD_NEEDS_ARGS, "VRFY address", cmd_vrfy },
	{ "EXPN", ANY_STATE, CMD_NEEDS_ARGS, "EXPN list", cmd_vrfy },
};

static const struct smtp_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
		if (str_ieq(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}
