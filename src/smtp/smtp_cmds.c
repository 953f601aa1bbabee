/* smtp_cmds.c — the SMTP command table and its handlers. */
#include "smtp/smtp.h"
#include "auth/auth.h"
#include "net/jobs.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

/* Every state in which a command line is a command. */
#define ANY_STATE ((1u << SMTP_STATE_INIT) | (1u << SMTP_STATE_READY) | \
		   (1u << SMTP_STATE_MAIL) | (1u << SMTP_STATE_RCPT))
/* Mechanisms offered, inside TLS only. */
#define SMTP_SASL_MECHS (SASL_MECH_PLAIN | SASL_MECH_LOGIN)

enum cmd_flags {
	CMD_NO_ARGS = 1 << 0,     /* "DATA x" is a syntax error */
	CMD_NEEDS_ARGS = 1 << 1,  /* "MAIL" alone is a syntax error */
	/* May be longer than SMTP_LINE_MAX, up to the session's line limit
	 * (SMTP_AUTH_LINE_MAX inside TLS: RFC 4954 4). */
	CMD_LONG_LINE = 1 << 2,
};

struct smtp_cmd {
	const char *name;
	unsigned states;          /* bit per enum smtp_state */
	unsigned flags;           /* enum cmd_flags */
	const char *syntax;       /* for 501 replies */
	/* The 503 text when the state does not allow it (after EHLO). */
	const char *out_of_sequence;
	void (*handler)(struct smtp_session *ss, const char *args);
};

/* ---- EHLO / HELO ------------------------------------------------------- */

/* Peer bytes for a log value: printable ASCII as it is, any other octet
 * (and '"', '\\') as \xNN, at most SMTP_HELO_MAX octets of input. */
static void log_bytes(char *dst, size_t size, const char *src)
{
	size_t j = 0;

	for (size_t i = 0; src[i] != '\0' && i < SMTP_HELO_MAX; i++) {
		unsigned char c = (unsigned char)src[i];
		if (j + 5 > size)
			break;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			j += (size_t)snprintf(dst + j, size - j, "\\x%02x", c);
		else
			dst[j++] = (char)c;
	}
	dst[j] = '\0';
}

static bool set_helo(struct smtp_session *ss, const char *args)
{
	char shown[SMTP_HELO_MAX * 4 + 1];
	const char *error;
	size_t len = strcspn(args, " ");

	if (len == 0 || args[len] != '\0') {
		smtp_reply(ss, 501, "5.5.4", "Syntax: EHLO hostname");
		session_bad_command(&ss->s);
		return false;
	}
	/* RFC 5321 4.1.1.1: a domain or an address literal, nothing else. */
	if (!smtp_helo_valid(args, &error)) {
		log_bytes(shown, sizeof(shown), args);
		session_log(&ss->s, LOG_LEVEL_INFO, "helo rejected name=\"%s\" "
			    "error=\"%s\"", shown, error);
		smtp_reply(ss, 501, "5.5.2", "Helo command rejected: %s", error);
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
	else if (ss->auth_user == NULL)
		ext[n++] = "AUTH PLAIN LOGIN";
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
	if (ss->auth_user != NULL && !path.null_path) {
		char from[ADDRESS_MAX + 1];
		mailbox_address_normalize(path.address, from, sizeof(from));
		/* Postfix reject_sender_login_mismatch: a user sends as
		 * themselves. */
		if (strcmp(from, ss->auth_user) != 0) {
			smtp_reply(ss, 553, "5.7.1", "<%s>: Sender address rejected: "
				   "not owned by user %s", path.address, ss->auth_user);
			return;
		}
	}
	ss->from = path;
	ss->params = params;
	session_login_done(&ss->s);
	smtp_enter_state(ss, SMTP_STATE_MAIL);
	smtp_reply(ss, 250, "2.1.0", "Ok");
}

/* ---- RCPT: the account lookup ----------------------------------------
 * Answered from memory while the passwd file is known unchanged and the
 * mailbox has no limits (auth_user_known); otherwise the lookup (and the
 * quota usage) reads the disk, so it is a job. */

struct rcpt_job {
	struct session_job job;
	struct smtp_session *ss;
	char address[ADDRESS_MAX + 1];
	uint64_t size;              /* MAIL FROM SIZE=, 0 if absent */
	uint64_t users_mark;        /* auth_users_read_begin() */
	bool users_reload;          /* ...says: read the file again */
	bool users_trusted;         /* auth_users_read() */
	bool exists;
	bool quota_ok;
};

static void rcpt_work(struct session_job *job)
{
	struct rcpt_job *rj = (struct rcpt_job *)job;
	const char *error;

	rj->users_trusted = auth_users_read(rj->users_reload);
	rj->exists = auth_user_exists(rj->address);
	rj->quota_ok = true;
	/* A mailbox over its quota (with the announced size) takes no mail;
	 * its usage unreadable: take it, the log says why. */
	if (rj->exists &&
	    auth_quota_check(rj->address, rj->size, 1, &rj->quota_ok, &error) < 0)
		log_warn("quota of %s: %s", rj->address, error);
}

static void rcpt_answer(struct smtp_session *ss, const char *address,
			bool exists, bool quota_ok)
{
	if (!exists) {
		smtp_reply(ss, 550, "5.1.1", "<%s>: Recipient address rejected: "
			   "User unknown in local recipient table", address);
		/* Counted like Postfix's hard errors: no endless guessing of
		 * addresses on one connection. */
		session_bad_command(&ss->s);
	} else if (!quota_ok) {
		/* RFC 3463 4.2.2: mailbox full, a temporary failure */
		smtp_reply(ss, 452, "4.2.2", "<%s>: Recipient address rejected: "
			   "Mailbox full", address);
	} else {
		bool dup = false;
		for (size_t i = 0; i < ss->n_rcpts && !dup; i++)
			dup = strcmp(ss->rcpts[i], address) == 0;
		if (!dup) {
			ss->rcpts = xrealloc(ss->rcpts, (ss->n_rcpts + 1) * sizeof(char *));
			ss->rcpts[ss->n_rcpts++] = xstrdup(address);
		}
		smtp_enter_state(ss, SMTP_STATE_RCPT);
		smtp_reply(ss, 250, "2.1.5", "Ok");
	}
}

static void rcpt_done(struct session_job *job, bool live)
{
	struct rcpt_job *rj = (struct rcpt_job *)job;

	auth_users_read_end(rj->users_mark, rj->users_trusted);
	if (live)
		rcpt_answer(rj->ss, rj->address, rj->exists, rj->quota_ok);
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
		session_bad_command(&ss->s);
		return;
	}
	bool exists, limited;
	if (auth_user_known(address, &exists, &limited) && !(exists && limited)) {
		rcpt_answer(ss, address, exists, true);
		return;
	}
	struct rcpt_job *rj = xcalloc(1, sizeof(*rj));
	rj->job.work = rcpt_work;
	rj->job.done = rcpt_done;
	rj->ss = ss;
	rj->size = ss->params.size;
	rj->users_mark = auth_users_read_begin(&rj->users_reload);
	strlcpy_sp(rj->address, address, sizeof(rj->address));
	session_job_start(&ss->s, &rj->job, SESSION_JOB_EXCLUSIVE);
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
	if (ss->n_rcpts + ss->n_remote >= config->max_recipients) {
		smtp_reply(ss, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (path.domain[0] == '\0' || config_is_local_domain(config, path.domain)) {
		rcpt_local(ss, &path);
		return;
	}
	if (ss->auth_user != NULL) {
		smtp_rcpt_remote(ss, &path);   /* queued at the end of DATA */
		return;
	}
	smtp_reply(ss, 554, "5.7.1", "<%s>: Relay access denied", path.address);
	session_bad_command(&ss->s);
}

/* ---- AUTH (RFC 4954), inside TLS only ---------------------------------- */

static void auth_done(struct session *s, bool ok, const char *user)
{
	struct smtp_session *ss = SMTP(s);

	sasl_clear(&ss->sasl);
	if (ok) {
		ss->auth_user = xstrdup(user);
		session_login_done(s);
		smtp_reply(ss, 235, "2.7.0", "Authentication successful");
		return;
	}
	smtp_reply(ss, 535, "5.7.8", "Error: authentication failed");
}

/* Answer one step of the exchange: a challenge, the verdict, or an error. */
static void auth_result(struct smtp_session *ss, enum sasl_result res,
			const char *challenge, const char *error)
{
	switch (res) {
	case SASL_CONTINUE:
		smtp_enter_state(ss, SMTP_STATE_AUTH);
		session_printf(&ss->s, "334 %s\r\n", challenge);
		return;
	case SASL_FAIL:
		smtp_enter_state(ss, SMTP_STATE_READY);
		if (ss->sasl->cancelled)
			smtp_reply(ss, 501, "5.7.0", "Authentication aborted");
		else
			smtp_reply(ss, 501, "5.5.2", "Cannot decode response: %s", error);
		sasl_clear(&ss->sasl);
		return;
	case SASL_DONE:
		smtp_enter_state(ss, SMTP_STATE_READY);
		auth_verify(&ss->s, ss->sasl->mech == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN",
			    ss->sasl->user, ss->sasl->password, ss->sasl->password_len,
			    auth_done);
		return;
	}
}

void smtp_auth_response(struct smtp_session *ss, const char *line)
{
	const char *challenge = "", *error = NULL;
	enum sasl_result res = sasl_step(ss->sasl, line, &challenge, &error);
	auth_result(ss, res, challenge, error);
}

static void cmd_auth(struct smtp_session *ss, const char *args)
{
	char mech_name[32];
	const char *initial = NULL, *challenge = "", *error = NULL;
	enum sasl_mech mech;

	if (!session_is_tls(&ss->s)) {
		smtp_reply(ss, 538, "5.7.11", "Encryption required for requested "
			   "authentication mechanism");
		return;
	}
	if (ss->auth_user != NULL) {
		smtp_reply(ss, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (ss->state != SMTP_STATE_READY) {
		smtp_reply(ss, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	size_t n = strcspn(args, " ");
	bool known = n < sizeof(mech_name);
	if (known) {
		memcpy(mech_name, args, n);
		mech_name[n] = '\0';
		known = sasl_mech_find(mech_name, SMTP_SASL_MECHS, &mech);
	}
	if (!known) {
		smtp_reply(ss, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	if (args[n] == ' ')
		initial = args + n + 1;
	enum sasl_result res = sasl_begin(&ss->sasl, mech, initial, &challenge, &error);
	auth_result(ss, res, challenge, error);
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
			       "214 2.0.0 NOOP QUIT HELP VRFY EXPN STARTTLS AUTH\r\n");
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
	/* Inside TLS the session reads lines up to SMTP_AUTH_LINE_MAX for
	 * AUTH; everything else keeps RFC 5321's limit. */
	if (len > SMTP_LINE_MAX && (cmd == NULL || !(cmd->flags & CMD_LONG_LINE))) {
		smtp_reply(ss, 500, "5.5.2", "Error: line too long");
		session_bad_command(&ss->s);
		return;
	}
	if (cmd == NULL) {
		smtp_reply(ss, 500, "5.5.2", "Error: command not recognized");
		session_bad_command(&ss->s);
		return;
	}
	if (!(cmd->states & (1u << ss->state))) {
		smtp_reply(ss, 503, "5.5.1", "Error: %s",
			   ss->state == SMTP_STATE_INIT ? "send HELO/EHLO first" :
			   cmd->out_of_sequence != NULL ? cmd->out_of_sequence :
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
	{ "EHLO", ANY_STATE, CMD_NEEDS_ARGS, "EHLO hostname", NULL, cmd_ehlo },
	{ "HELO", ANY_STATE, CMD_NEEDS_ARGS, "HELO hostname", NULL, cmd_helo },
	{ "STARTTLS", ANY_STATE, CMD_NO_ARGS, "STARTTLS", NULL, cmd_starttls },
	{ "AUTH", ANY_STATE & ~(1u << SMTP_STATE_INIT), CMD_NEEDS_ARGS | CMD_LONG_LINE,
	  "AUTH mechanism [initial-response]", NULL, cmd_auth },
	{ "MAIL", 1u << READY, CMD_NEEDS_ARGS, "MAIL FROM:<address>",
	  "nested MAIL command", cmd_mail },
	{ "RCPT", (1u << MAIL) | (1u << RCPT), CMD_NEEDS_ARGS,
	  "RCPT TO:<address>", "need MAIL command", cmd_rcpt },
	{ "DATA", 1u << RCPT, CMD_NO_ARGS, "DATA", "need RCPT command", cmd_data },
	{ "RSET", ANY_STATE, CMD_NO_ARGS, "RSET", NULL, cmd_rset },
	{ "NOOP", ANY_STATE, 0, "NOOP", NULL, cmd_noop },
	{ "QUIT", ANY_STATE, CMD_NO_ARGS, "QUIT", NULL, cmd_quit },
	{ "HELP", ANY_STATE, 0, "HELP", NULL, cmd_help },
	{ "VRFY", ANY_STATE, CMD_NEEDS_ARGS, "VRFY address", NULL, cmd_vrfy },
	{ "EXPN", ANY_STATE, CMD_NEEDS_ARGS, "EXPN list", NULL, cmd_vrfy },
};

static const struct smtp_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
		if (str_ieq(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}
