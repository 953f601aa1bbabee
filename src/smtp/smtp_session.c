/* smtp_session.c — SMTP sessions on the session core: states, replies,
 * greeting, dispatch hooks, the reset after STARTTLS. */
#include "smtp/smtp.h"
#include "lib/util.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[SMTP_STATE_COUNT] = {
	[SMTP_STATE_INIT] = "init",
	[SMTP_STATE_READY] = "ready",
	[SMTP_STATE_MAIL] = "mail",
	[SMTP_STATE_RCPT] = "rcpt",
	[SMTP_STATE_DATA] = "data",
	[SMTP_STATE_AUTH] = "auth",
};

const char *smtp_state_name(enum smtp_state state)
{
	return state < SMTP_STATE_COUNT ? state_names[state] : "?";
}

void smtp_enter_state(struct smtp_session *ss, enum smtp_state state)
{
	if (ss->state == state)
		return;
	session_log(&ss->s, LOG_LEVEL_DEBUG, "state from=%s to=%s",
		    smtp_state_name(ss->state), smtp_state_name(state));
	ss->state = state;
}

void smtp_reply(struct smtp_session *ss, int code, const char *enhanced,
		const char *fmt, ...)
{
	char raw[512], text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Interpolated peer text can never end the reply line early. */
	str_sanitize(text, sizeof(text), raw, strlen(raw));
	if (enhanced != NULL)
		session_printf(&ss->s, "%d %s %s\r\n", code, enhanced, text);
	else
		session_printf(&ss->s, "%d %s\r\n", code, text);
	if (code >= 400)
		session_log(&ss->s, LOG_LEVEL_INFO, "reject code=%d%s%s text=\"%s\" "
			    "state=%s", code, enhanced ? " status=" : "",
			    enhanced ? enhanced : "", text, smtp_state_name(ss->state));
}

void smtp_reset_transaction(struct smtp_session *ss)
{
	for (size_t i = 0; i < ss->n_rcpts; i++)
		free(ss->rcpts[i]);
	x_free(&ss->rcpts);
	ss->n_rcpts = 0;
	smtp_remote_reset(ss);
	memset(&ss->from, 0, sizeof(ss->from));
	memset(&ss->params, 0, sizeof(ss->params));
	if (ss->state > SMTP_STATE_READY)
		smtp_enter_state(ss, SMTP_STATE_READY);
}

static void smtp_greet(struct session *s)
{
	struct smtp_session *ss = SMTP(s);

	session_set_line_max(s, session_is_tls(s) ? SMTP_AUTH_LINE_MAX : SMTP_LINE_MAX);
	session_set_timeout(s, (unsigned)config->smtp_timeout);
	ss->state = SMTP_STATE_INIT;
	session_printf(s, "220 %s ESMTP sealpost\r\n", config->hostname);
}

static void smtp_command(struct session *s, char *line, size_t len)
{
	struct smtp_session *ss = SMTP(s);

	if (ss->state == SMTP_STATE_AUTH)
		smtp_auth_response(ss, line);
	else
		smtp_dispatch(ss, line, len);
}

static void smtp_raw_input(struct session *s, struct evbuffer *in)
{
	smtp_data_input(SMTP(s), in);
}

static void smtp_bad_input(struct session *s, enum session_bad_input what,
			    const char *start, size_t len)
{
	switch (what) {
	case SESSION_BAD_TOO_LONG:
		smtp_reply(SMTP(s), 500, "5.5.2", "Error: line too long");
		break;
	case SESSION_BAD_BARE_LF:
		smtp_reply(SMTP(s), 500, "5.5.2",
			   "Error: bare <LF> received; lines end with <CR><LF>");
		break;
	case SESSION_BAD_NUL:
		smtp_reply(SMTP(s), 500, "5.5.2", "Error: NUL character in command");
		break;
	}
}

/* RFC 3207 4.2: after the handshake the client starts over with EHLO; no
 * new greeting is sent. */
static void smtp_tls_started(struct session *s)
{
	struct smtp_session *ss = SMTP(s);

	smtp_reset_transaction(ss);
	ss->helo[0] = '\0';
	ss->esmtp = false;
	smtp_enter_state(ss, SMTP_STATE_INIT);
	/* AUTH lines (RFC 4954 4: up to 12288 octets) are possible now; other
	 * commands keep the 512-octet limit in smtp_dispatch(). */
	session_set_line_max(s, SMTP_AUTH_LINE_MAX);
}

static void smtp_bye(struct session *s, enum session_bye why)
{
	switch (why) {
	case SESSION_BYE_TIMEOUT:
		session_printf(s, "421 4.4.2 %s Error: timeout exceeded\r\n",
			       config->hostname);
		break;
	case SESSION_BYE_SHUTDOWN:
		session_printf(s, "421 4.3.2 %s Service shutting down\r\n",
			       config->hostname);
		break;
	case SESSION_BYE_TOO_MANY_ERRORS:
		session_printf(s, "421 4.7.0 %s Error: too many errors\r\n",
			       config->hostname);
		break;
	case SESSION_BYE_AUTH_FAILURES:
		session_printf(s, "421 4.7.0 %s Error: too many failed "
			       "authentications\r\n", config->hostname);
		break;
	case SESSION_BYE_LOGIN_TIMEOUT:
		session_printf(s, "421 4.4.2 %s Error: timeout exceeded before %s\r\n",
			       config->hostname, service_infos[s->service].auth_required ?
			       "authentication" : "MAIL");
		break;
	case SESSION_BYE_TOO_SLOW:
		session_printf(s, "421 4.4.2 %s Error: message data arriving too "
			       "slowly\r\n", config->hostname);
		break;
	}
}

static void smtp_destroy(struct session *s)
{
	struct smtp_session *ss = SMTP(s);

	smtp_data_free(ss);
	smtp_reset_transaction(ss);
	sasl_clear(&ss->sasl);
	free(ss->auth_user);
}

const struct session_vfuncs smtp_vfuncs = {
	.size = sizeof(struct smtp_session),
	.busy_reply = "421 4.7.0 Error: too many connections, try again later\r\n",
	.greet = smtp_greet,
	.command = smtp_command,
	.raw_input = smtp_raw_input,
	.bad_input = smtp_bad_input,
	.tls_started = smtp_tls_started,
	.bye = smtp_bye,
	.destroy = smtp_destroy,
};
