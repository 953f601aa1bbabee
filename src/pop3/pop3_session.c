/* pop3_session.c — POP3 sessions on the session core. */
#include "pop3/pop3.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[POP3_STATE_COUNT] = {
	[POP3_STATE_AUTHORIZATION] = "authorization",
	[POP3_STATE_SASL] = "sasl",
	[POP3_STATE_TRANSACTION] = "transaction",
	[POP3_STATE_UPDATE] = "update",
};

const char *pop3_state_name(enum pop3_state state)
{
	return state < POP3_STATE_COUNT ? state_names[state] : "?";
}

void pop3_enter_state(struct pop3_session *ps, enum pop3_state state)
{
	if (ps->state == state)
		return;
	session_log(&ps->s, LOG_LEVEL_DEBUG, "state from=%s to=%s",
		    pop3_state_name(ps->state), pop3_state_name(state));
	ps->state = state;
}

static void reply(struct pop3_session *ps, const char *status, const char *code,
		  const char *fmt, va_list ap)
{
	char raw[512], text[512];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	str_sanitize(text, sizeof(text), raw, strlen(raw));
	session_printf(&ps->s, "%s %s%s%s%s\r\n", status, code ? "[" : "",
		       code ? code : "", code ? "] " : "", text);
	if (*status == '-')
		session_log(&ps->s, LOG_LEVEL_INFO, "reject%s%s text=\"%s\" state=%s",
			    code ? " code=" : "", code ? code : "", text,
			    pop3_state_name(ps->state));
}

void pop3_ok(struct pop3_session *ps, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply(ps, "+OK", NULL, fmt, ap);
	va_end(ap);
}

void pop3_err(struct pop3_session *ps, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply(ps, "-ERR", code, fmt, ap);
	va_end(ap);
}

static void pop3_init(struct session *s)
{
	POP3(s)->lock_fd = -1;
}

static void pop3_greet(struct session *s)
{
	struct pop3_session *ps = POP3(s);

	session_set_line_max(s, session_is_tls(s) ? POP3_AUTH_LINE_MAX : POP3_LINE_MAX);
	session_set_timeout(s, (unsigned)config->pop3_timeout);
	pop3_ok(ps, "%s POP3 sealpost ready", config->hostname);
}

static void pop3_command(struct session *s, char *line, size_t len)
{
	struct pop3_session *ps = POP3(s);

	if (ps->state == POP3_STATE_SASL)
		pop3_sasl_response(ps, line);
	else
		pop3_dispatch(ps, line, len);
}

static void pop3_bad_input(struct session *s, enum session_bad_input what,
			    const char *start, size_t len)
{
	static const char *const text[] = {
		[SESSION_BAD_TOO_LONG] = "Line too long",
		[SESSION_BAD_BARE_LF] = "Bare LF received; lines end with CRLF",
		[SESSION_BAD_NUL] = "NUL character in command",
	};
	pop3_err(POP3(s), NULL, "%s", text[what]);
}

/* RFC 2595 4: after STLS the client starts over (CAPA, then USER/AUTH). */
static void pop3_tls_started(struct session *s)
{
	struct pop3_session *ps = POP3(s);

	ps->user_given = false;
	ps->user[0] = '\0';
	session_set_line_max(s, POP3_AUTH_LINE_MAX);
	pop3_enter_state(ps, POP3_STATE_AUTHORIZATION);
}

static void pop3_bye(struct session *s, enum session_bye why)
{
	struct pop3_session *ps = POP3(s);
	switch (why) {
	case SESSION_BYE_TIMEOUT:
		pop3_err(ps, NULL, "Disconnected for inactivity");
		break;
	case SESSION_BYE_SHUTDOWN:
		pop3_err(ps, "SYS/TEMP", "Server shutting down");
		break;
	case SESSION_BYE_TOO_MANY_ERRORS:
		pop3_err(ps, NULL, "Too many bad commands");
		break;
	case SESSION_BYE_AUTH_FAILURES:
		pop3_err(ps, NULL, "Too many authentication failures");
		break;
	case SESSION_BYE_LOGIN_TIMEOUT:
		pop3_err(ps, NULL, "Disconnected: no login in time");
		break;
	case SESSION_BYE_TOO_SLOW:
		pop3_err(ps, NULL, "Disconnected: data arriving too slowly");
		break;
	}
}

static void pop3_destroy(struct session *s)
{
	struct pop3_session *ps = POP3(s);
	sasl_clear(&ps->sasl);
	/* A dropped connection deletes nothing (RFC 1939 6): only the lock
	 * goes. */
	pop3_mailbox_free(ps);
}

const struct session_vfuncs pop3_vfuncs = {
	.size = sizeof(struct pop3_session),
	.busy_reply = "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
	.init = pop3_init,
	.greet = pop3_greet,
	.command = pop3_command,
	.bad_input = pop3_bad_input,
	.tls_started = pop3_tls_started,
	.bye = pop3_bye,
	.destroy = pop3_destroy,
};
