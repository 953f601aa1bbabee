/* imap_session.c — IMAP sessions on the session core: the parser and its
 * literals, the command table, replies and jobs. */
#include "imap/imap.h"
#include "imap/imap_folder.h"
#include "imap/imap_mailbox.h"
#include "imap/imap_util.h"
#include "lib/util.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#define NOT_AUTH (1u << IMAP_STATE_NOT_AUTH)
#define AUTHED (1u << IMAP_STATE_AUTH)
#define SELECTED (1u << IMAP_STATE_SELECTED)
#define ANY (NOT_AUTH | AUTHED | SELECTED)

static const struct imap_cmd commands[] = {
	{ "CAPABILITY", ANY, 0, cmd_capability, NULL, 0 },
	{ "NOOP", ANY, 0, cmd_noop, NULL, 0 },
	{ "LOGOUT", ANY, 0, cmd_logout, NULL, 0 },
	{ "ID", ANY, 0, cmd_id, NULL, 0 },
	{ "STARTTLS", NOT_AUTH, 0, cmd_starttls, NULL, 0 },
	{ "COMPRESS", AUTHED | SELECTED, 0, cmd_compress, NULL, 0 },
	{ "UNAUTHENTICATE", AUTHED | SELECTED, 0, cmd_unauthenticate, NULL, 0 },
	{ "LOGIN", NOT_AUTH, 0, cmd_login, NULL, 0 },
	{ "AUTHENTICATE", NOT_AUTH, 0, cmd_authenticate, NULL, 0 },
	{ "ENABLE", AUTHED, 0, cmd_enable, NULL, 0 },
	{ "NAMESPACE", AUTHED | SELECTED, 0, cmd_namespace, NULL, 0 },
	{ "LIST", AUTHED | SELECTED, 0, cmd_list, NULL, IMAP_MBOX_LIST },
	{ "LSUB", AUTHED | SELECTED, 0, cmd_lsub, NULL, IMAP_MBOX_LIST },
	{ "CREATE", AUTHED | SELECTED, 0, cmd_create, NULL, 1 },
	{ "DELETE", AUTHED | SELECTED, 0, cmd_delete, NULL, 1 },
	{ "RENAME", AUTHED | SELECTED, 0, cmd_rename, NULL, 3 },
	{ "SUBSCRIBE", AUTHED | SELECTED, 0, cmd_subscribe, NULL, 1 },
	{ "UNSUBSCRIBE", AUTHED | SELECTED, 0, cmd_unsubscribe, NULL, 1 },
	{ "STATUS", AUTHED | SELECTED, 0, cmd_status, NULL, 1 },
	{ "APPEND", AUTHED | SELECTED, 0, cmd_append, cmd_append_literal, 0 },
	{ "GETQUOTA", AUTHED | SELECTED, 0, cmd_getquota, NULL, 0 },
	{ "GETQUOTAROOT", AUTHED | SELECTED, 0, cmd_getquotaroot, NULL, 1 },
	{ "SETQUOTA", AUTHED | SELECTED, 0, cmd_setquota, NULL, 0 },
	{ "SELECT", AUTHED | SELECTED, 0, cmd_select, NULL, 1 },
	{ "EXAMINE", AUTHED | SELECTED, 0, cmd_examine, NULL, 1 },
	{ "CLOSE", SELECTED, 0, cmd_close, NULL, 0 },
	{ "UNSELECT", SELECTED, 0, cmd_unselect, NULL, 0 },
	{ "CHECK", SELECTED, 0, cmd_check, NULL, 0 },
	{ "EXPUNGE", SELECTED, IMAP_CMD_UID, cmd_expunge, NULL, 0 },
	{ "FETCH", SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, cmd_fetch, NULL, 0 },
	{ "STORE", SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, cmd_store, NULL, 0 },
	{ "SEARCH", SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, cmd_search, NULL, 0 },
	{ "SORT", SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, cmd_sort, NULL, 0 },
	{ "THREAD", SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, cmd_thread, NULL, 0 },
	{ "COPY", SELECTED, IMAP_CMD_UID, cmd_copy, NULL, 2 },
	{ "MOVE", SELECTED, IMAP_CMD_UID, cmd_move, NULL, 2 },
	{ "IDLE", AUTHED | SELECTED, 0, cmd_idle, NULL, 0 },
};

static const char *const state_names[IMAP_STATE_COUNT] = {
	[IMAP_STATE_NOT_AUTH] = "not-authenticated",
	[IMAP_STATE_AUTH] = "authenticated",
	[IMAP_STATE_SELECTED] = "selected",
	[IMAP_STATE_LOGOUT] = "logout",
};

const char *imap_state_name(enum imap_state state)
{
	return state < IMAP_STATE_COUNT ? state_names[state] : "?";
}

void imap_enter_state(struct imap_session *is, enum imap_state state)
{
	if (is->state == state)
		return;
	session_log(&is->s, LOG_LEVEL_DEBUG, "state from=%s to=%s",
		    imap_state_name(is->state), imap_state_name(state));
	is->state = state;
}

static const struct imap_cmd *find_cmd(const char *name, unsigned need_flags)
{
	for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
		if (str_ieq(commands[i].name, name) &&
		    (commands[i].flags & need_flags) == need_flags)
			return &commands[i];
	}
	return NULL;
}

/* ---- replies ------------------------------------------------------------ */

void imap_untagged(struct imap_session *is, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	session_printf(&is->s, "* %s\r\n", text);
	free(text);
}

static void send_tagged(struct imap_session *is)
{
	session_printf(&is->s, "%s %s\r\n", is->tag[0] ? is->tag : "*", is->reply);
	if (strncmp(is->reply, "OK", 2) == 0)
		session_good_command(&is->s);
	else
		session_log(&is->s, LOG_LEVEL_INFO, "reject tag=%s command=%s text=\"%s\" "
			    "state=%s", is->tag, is->cmd ? is->cmd->name : "-",
			    is->reply, imap_state_name(is->state));
	is->busy = false;
	is->cmd = NULL;
	is->uid = false;
	is->line_handler = NULL;
	is->cancel = NULL;
	if (is->state == IMAP_STATE_LOGOUT)
		session_close(&is->s);
}

/* Format "<status> [<code>] <text>" into is->reply, sanitised. */
static void format_reply(struct imap_session *is, const char *status,
			 const char *code, const char *fmt, va_list ap)
{
	char text[IMAP_REPLY_MAX];
	struct buf b = { 0 };

	vsnprintf(text, sizeof(text), fmt, ap);
	buf_printf(&b, "%s %s%s%s", status, code ? "[" : "", code ? code : "",
		   code ? "] " : "");
	buf_append(&b, text, strlen(text));
	/* A reply cut at IMAP_REPLY_MAX is still a reply. */
	str_sanitize(is->reply, sizeof(is->reply), b.data, b.len);
	buf_free(&b);
}

static void format_reply_text(struct imap_session *is, const char *status,
			      const char *text)
{
	snprintf(is->reply, sizeof(is->reply), "%.8s %s", status, text);
}

void imap_command_done(struct imap_session *is, const char *status,
		       const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	format_reply(is, status, code, fmt, ap);
	va_end(ap);
	if (is->sel != NULL && !is->s.closing)
		imap_mailbox_sync_then(is, is->cmd == NULL || is->uid ||
				       !(is->cmd->flags & IMAP_CMD_NO_EXPUNGE),
				       send_tagged);
	else
		send_tagged(is);
}

void imap_command_done_now(struct imap_session *is, const char *status,
			   const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	format_reply(is, status, code, fmt, ap);
	va_end(ap);
	send_tagged(is);
}

void imap_command_bad(struct imap_session *is, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	format_reply(is, "BAD", NULL, fmt, ap);
	va_end(ap);
	session_bad_command(&is->s);
	send_tagged(is);
}

void imap_command_cancel(struct imap_session *is)
{
	void (*cancel)(struct imap_session *) = is->cancel;

	is->cancel = NULL;
	is->line_handler = NULL;
	if (cancel != NULL)
		cancel(is);
}

/* ---- jobs --------------------------------------------------------------- */

void imap_job_start(struct imap_session *is, struct session_job *job)
{
	session_job_start(&is->s, job, SESSION_JOB_EXCLUSIVE);
}

/* ---- dispatch ---------------------------------------------------------- */

/* One mailbox-name argument from UTF-8 to modified UTF-7 (IMAP4rev2);
 * lists (LIST's pattern lists) item by item. false when one is not UTF-8
 * or not a name at all (the handler's own checks answer the rest). */
static bool name_from_utf8(struct imap_session *is, const struct imap_arg *arg)
{
	const char *error;

	if (arg->type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < arg->len; i++) {
			if (!name_from_utf8(is, &arg->list[i]))
				return false;
		}
		return true;
	}
	if (arg->type == IMAP_ARG_NIL || arg->type == IMAP_ARG_LITERAL_EXT ||
	    arg->str == NULL)
		return true;
	char *mutf7 = imap_mailbox_from_utf8(arg->str, &error);
	if (mutf7 == NULL)
		return false;
	imap_parser_replace_str(is->parser, arg, mutf7);
	return true;
}

/* RFC 9051 5.1: an IMAP4rev2 client names mailboxes in UTF-8; the
 * handlers and the store see modified UTF-7 (IMAP4rev1's form). */
bool imap_names_from_utf8(struct imap_session *is, unsigned which,
			  const struct imap_arg *args, size_t n)
{
	size_t first = 0;

	if (which & IMAP_MBOX_LIST) {
		/* [(selection options)] reference pattern(s) [RETURN (...)] */
		first = n > 0 && args[0].type == IMAP_ARG_LIST ? 1 : 0;
		which = 3u << first;
	}
	for (size_t i = 0; i < n && i < 31; i++) {
		if ((which & (1u << i)) && !name_from_utf8(is, &args[i]))
			return false;
	}
	return true;
}

static void dispatch(struct imap_session *is, const struct imap_command *c)
{
	const struct imap_arg *args = c->args;
	size_t n = c->n_args;
	const struct imap_cmd *cmd;

	strlcpy_sp(is->tag, c->tag, sizeof(is->tag));
	is->busy = true;
	is->uid = str_ieq(c->name, "UID");
	if (is->uid) {
		const char *sub;
		if (n == 0 || !imap_arg_get_atom(&args[0], &sub)) {
			imap_command_bad(is, "UID needs a command");
			return;
		}
		cmd = find_cmd(sub, IMAP_CMD_UID);
		args++, n--;
	} else {
		cmd = find_cmd(c->name, 0);
	}
	if (cmd == NULL) {
		imap_command_bad(is, "Unknown command");
		return;
	}
	is->cmd = cmd;
	if (!(cmd->states & (1u << is->state))) {
		imap_command_bad(is, "%s is not allowed %s", cmd->name,
				 is->state == IMAP_STATE_NOT_AUTH ? "before login" :
				 is->state == IMAP_STATE_SELECTED ||
				 !(cmd->states & NOT_AUTH) ? "without a selected mailbox" :
				 "after login");
		return;
	}
	if (is->rev2 && cmd->mailbox_args != 0 &&
	    !imap_names_from_utf8(is, cmd->mailbox_args, args, n)) {
		imap_command_bad(is, "Mailbox names are UTF-8 (IMAP4rev2)");
		return;
	}
	cmd->handler(is, args, n);
}

/* The sink of a streamed literal is decided (NULL: the command was
 * answered). False when nothing more of it will come. */
static bool stream_decided(struct imap_session *is)
{
	if (is->sink != NULL)
		return true;
	is->refused = true;
	if (is->literal.sync) {
		/* The client sends nothing more of it. */
		imap_parser_reset(is->parser);
		is->refused = false;
		return false;
	}
	return true;
}

/* Are the literal's bytes dropped? (A buffered literal of a refused
 * command is still fed to the parser, which ignores it: its state wants
 * the bytes.) */
static bool literal_dropped(const struct imap_session *is)
{
	return is->literal.discard || (is->refused && is->literal.stream);
}

/* Every byte of the literal was read: a streamed or dropped one is over
 * for the parser too (a buffered one ends with its bytes). */
static void literal_finish(struct imap_session *is)
{
	if (is->sink != NULL) {
		imap_parser_literal_done(is->parser);
		is->sink->end(is);
		is->sink = NULL;
	} else if (literal_dropped(is)) {
		imap_parser_literal_done(is->parser);
	}
}

/* Say "+" if needed and read the literal's bytes. */
static void literal_go(struct imap_session *is)
{
	struct imap_literal *lit = &is->literal;

	if (!lit->sync && (lit->discard || is->refused) &&
	    lit->size > IMAP_LITERAL_DISCARD_MAX) {
		/* RFC 7888 4: too much to read and drop: end the session. */
		imap_untagged(is, "BYE Literal too large");
		session_close(&is->s);
		return;
	}
	if (lit->sync && !lit->discard && !is->refused)
		session_printf(&is->s, "+ OK\r\n");
	is->in_literal = true;
	is->literal_left = lit->size;
	if (lit->size == 0) {
		/* nothing to read: the next line continues */
		literal_finish(is);
		return;
	}
	session_set_raw(&is->s, true);
}

/* A literal was announced: decide where it goes, say "+" if needed. */
static void start_literal(struct imap_session *is)
{
	struct imap_literal *lit = &is->literal;

	imap_parser_literal(is->parser, lit);
	is->sink = NULL;
	if (is->refused && lit->sync) {
		/* Answered already: the client sends nothing more of it. */
		imap_parser_reset(is->parser);
		is->refused = false;
		return;
	}
	if (lit->stream && !lit->discard && !is->refused) {
		const struct imap_command *so_far = imap_parser_command(is->parser);
		const struct imap_cmd *cmd = find_cmd(so_far->name, 0);
		strlcpy_sp(is->tag, so_far->tag, sizeof(is->tag));
		is->cmd = cmd;
		is->busy = true;
		is->literal_deferred = false;
		if (cmd != NULL && cmd->literal_begin != NULL &&
		    (cmd->states & (1u << is->state)))
			is->sink = cmd->literal_begin(is, so_far, lit);
		else
			imap_command_done(is, "NO", NULL, "Unexpected literal");
		if (is->literal_deferred)
			return;     /* imap_literal_decided() follows */
		if (!stream_decided(is))
			return;
	}
	literal_go(is);
}

void imap_literal_defer(struct imap_session *is)
{
	is->literal_deferred = true;
}

void imap_literal_decided(struct imap_session *is,
			  const struct imap_literal_sink *sink)
{
	is->literal_deferred = false;
	is->sink = sink;
	if (!is->s.closing && stream_decided(is))
		literal_go(is);
}

static void parse_error(struct imap_session *is)
{
	const struct imap_parse_error *e = imap_parser_error(is->parser);
	const char *tag = imap_parser_tag(is->parser);

	strlcpy_sp(is->tag, tag != NULL ? tag : "*", sizeof(is->tag));
	is->cmd = NULL;
	imap_command_cancel(is);
	if (e->toobig) {
		imap_command_done(is, "NO", "TOOBIG", "%s", e->text);
	} else {
		imap_command_bad(is, "%s", e->text);
	}
	if (e->disconnect) {
		imap_untagged(is, "BYE %s", e->text);
		session_close(&is->s);
	}
}

static void parse_result(struct imap_session *is, enum imap_parse_result r)
{
	if (r == IMAP_PARSE_NEED_LITERAL) {
		start_literal(is);
		return;
	}
	if (is->refused) {          /* answered already: drop the rest */
		is->refused = false;
		return;
	}
	if (r == IMAP_PARSE_COMPLETE)
		dispatch(is, imap_parser_command(is->parser));
	else
		parse_error(is);
}

static void imap_command(struct session *s, char *line, size_t len)
{
	struct imap_session *is = IMAP(s);

	if (is->line_handler != NULL) {
		is->line_handler(is, line);
		return;
	}
	is->in_literal = false;
	parse_result(is, imap_parser_feed_line(is->parser, line, len));
}

/* Raw input: the bytes of a literal. */
static void imap_raw_input(struct session *s, struct evbuffer *in)
{
	struct imap_session *is = IMAP(s);
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < is->literal_left ? avail : (size_t)is->literal_left;

	if (is->sink != NULL) {
		n = is->sink->write(is, in, n);
	} else if (literal_dropped(is)) {
		evbuffer_drain(in, n);
	} else {
		for (size_t left = n; left > 0; ) {
			struct evbuffer_iovec v;
			evbuffer_peek(in, (ssize_t)left, NULL, &v, 1);
			size_t k = v.iov_len < left ? v.iov_len : left;
			imap_parser_feed_literal(is->parser, v.iov_base, k);
			evbuffer_drain(in, k);
			left -= k;
		}
	}
	is->literal_left -= n;
	if (is->literal_left > 0)
		return;
	session_set_raw(s, false);
	literal_finish(is);
}

void imap_literal_resume(struct imap_session *is)
{
	session_kick(&is->s);
}

/* ---- the session hooks --------------------------------------------------- */

static void imap_init(struct session *s)
{
	IMAP(s)->parser = imap_parser_new(config->max_message_size);
}

static void imap_greet(struct session *s)
{
	struct imap_session *is = IMAP(s);

	session_set_line_max(s, IMAP_LINE_MAX);
	session_set_timeout(s, IMAP_PREAUTH_TIMEOUT_SECS);
	imap_untagged(is, "OK [CAPABILITY %s] %s IMAP4rev1 sealpost ready",
		      imap_capabilities(is), config->hostname);
}

/* The tag a refused line started with, if it looks like one. */
static bool line_tag(const char *start, size_t len, char *tag, size_t size)
{
	size_t n = 0;
	while (n < len && start[n] != ' ' && n + 1 < size) {
		unsigned char c = (unsigned char)start[n];
		if (!imap_is_astring_char(c) || c == '+')
			return false;
		tag[n++] = (char)c;
	}
	tag[n] = '\0';
	return n > 0 && n < len;       /* a tag, then a space */
}

static void imap_bad_input(struct session *s, enum session_bad_input what,
			   const char *start, size_t len)
{
	struct imap_session *is = IMAP(s);
	static const char *const text[] = {
		[SESSION_BAD_TOO_LONG] = "Line too long",
		[SESSION_BAD_BARE_LF] = "Bare LF received; lines end with CRLF",
		[SESSION_BAD_NUL] = "NUL character in command",
	};
	const char *parsing = imap_parser_tag(is->parser);

	/* RFC 3501 7.1: the client waits for its tag, so answer it when we
	 * can tell it: the command being parsed, or the line's first word. */
	if (parsing != NULL)
		strlcpy_sp(is->tag, parsing, sizeof(is->tag));
	else if (is->line_handler == NULL && !line_tag(start, len, is->tag, sizeof(is->tag)))
		is->tag[0] = '\0';
	/* Whatever was being parsed cannot be trusted any more; an IDLE or
	 * AUTHENTICATE exchange under way ends with this answer. */
	imap_parser_reset(is->parser);
	is->refused = false;
	imap_command_cancel(is);
	format_reply_text(is, "BAD", text[what]);
	send_tagged(is);
}

/* RFC 3501 6.2.1: after STARTTLS the client asks for CAPABILITY again; no
 * greeting, nothing carried over. */
static void imap_tls_started(struct session *s)
{
	struct imap_session *is = IMAP(s);
	imap_parser_reset(is->parser);
	imap_enter_state(is, IMAP_STATE_NOT_AUTH);
}

static void imap_bye(struct session *s, enum session_bye why)
{
	struct imap_session *is = IMAP(s);
	switch (why) {
	case SESSION_BYE_TIMEOUT:
		imap_untagged(is, "BYE Disconnected for inactivity");
		break;
	case SESSION_BYE_SHUTDOWN:
		imap_untagged(is, "BYE [UNAVAILABLE] Server shutting down");
		break;
	case SESSION_BYE_TOO_MANY_ERRORS:
		imap_untagged(is, "BYE Too many invalid commands");
		break;
	case SESSION_BYE_AUTH_FAILURES:
		imap_untagged(is, "BYE Too many authentication failures");
		break;
	case SESSION_BYE_LOGIN_TIMEOUT:
		imap_untagged(is, "BYE Disconnected: no login in time");
		break;
	case SESSION_BYE_TOO_SLOW:
		imap_untagged(is, "BYE Disconnected: literal data arriving too slowly");
		break;
	}
}

static void imap_drained(struct session *s)
{
	struct imap_session *is = IMAP(s);
	void (*cb)(struct imap_session *, void *) = is->drained;

	if (cb != NULL) {
		is->drained = NULL;
		cb(is, is->drained_ctx);
	}
}

static void imap_destroy(struct session *s)
{
	struct imap_session *is = IMAP(s);
	imap_command_cancel(is);
	imap_mailbox_close(is);
	imap_parser_free(&is->parser);
	sasl_clear(&is->sasl);
	free(is->user);
	free(is->root);
}

const struct session_vfuncs imap_vfuncs = {
	.size = sizeof(struct imap_session),
	.busy_reply = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
	.init = imap_init,
	.greet = imap_greet,
	.command = imap_command,
	.raw_input = imap_raw_input,
	.bad_input = imap_bad_input,
	.tls_started = imap_tls_started,
	.drained = imap_drained,
	.bye = imap_bye,
	.destroy = imap_destroy,
};
