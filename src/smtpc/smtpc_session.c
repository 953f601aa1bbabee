/* smtpc_session.c — the client session up to READY and after it: connect,
 * greeting, EHLO (HELO when refused), STARTTLS, AUTH, QUIT, the end. */
#include "smtpc/smtpc_private.h"
#include "net/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {
	[SMTPC_STATE_CONNECTING] = "connecting",
	[SMTPC_STATE_GREETING] = "greeting",
	[SMTPC_STATE_EHLO] = "ehlo",
	[SMTPC_STATE_HELO] = "helo",
	[SMTPC_STATE_STARTTLS] = "starttls",
	[SMTPC_STATE_HANDSHAKE] = "handshake",
	[SMTPC_STATE_AUTH] = "auth",
	[SMTPC_STATE_READY] = "ready",
	[SMTPC_STATE_TXN] = "transaction",
	[SMTPC_STATE_DATA] = "data",
	[SMTPC_STATE_DOT] = "data-end",
	[SMTPC_STATE_QUIT] = "quit",
	[SMTPC_STATE_ENDED] = "ended",
};

/* The no-progress timeout of each state (RFC 5321 4.5.3.2). */
static unsigned state_timeout(const struct smtpc *c, enum smtpc_state st)
{
	switch (st) {
	case SMTPC_STATE_CONNECTING: return SMTPC_CONNECT_SECS;
	case SMTPC_STATE_GREETING: return SMTPC_GREETING_SECS;
	case SMTPC_STATE_HANDSHAKE: return SMTPC_TLS_SECS;
	case SMTPC_STATE_TXN: return SMTPC_MAIL_SECS;
	case SMTPC_STATE_DATA: return SMTPC_DATA_BLOCK_SECS;
	case SMTPC_STATE_DOT: return SMTPC_DATA_END_SECS;
	default: return SMTPC_COMMAND_SECS;
	}
}

static const char *const stage_names[] = {
	[SMTPC_STAGE_CONNECT] = "connect",
	[SMTPC_STAGE_GREETING] = "greeting",
	[SMTPC_STAGE_EHLO] = "ehlo",
	[SMTPC_STAGE_STARTTLS] = "starttls",
	[SMTPC_STAGE_AUTH] = "auth",
	[SMTPC_STAGE_SESSION] = "session",
	[SMTPC_STAGE_QUIT] = "quit",
};

const char *smtpc_stage_name(enum smtpc_stage stage)
{
	return (size_t)stage < N_ELEMENTS(stage_names) ? stage_names[stage] : "?";
}

void smtpc_log(struct smtpc *c, enum log_level level, const char *fmt, ...)
{
	char text[SMTPC_LOG_LINE_MAX];
	va_list ap;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg(level, "%s smtpc %s", c->id, text);
}

void smtpc_enter_state(struct smtpc *c, enum smtpc_state state)
{
	if (c->state == state)
		return;
	log_debug("%s smtpc state %s -> %s", c->id, state_names[c->state],
		  state_names[state]);
	c->state = state;
	if (c->conn != NULL && state != SMTPC_STATE_ENDED)
		conn_set_timeout(c->conn, state_timeout(c, state));
}

void smtpc_command(struct smtpc *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	conn_printf(c->conn, "%s\r\n", line);
	OPENSSL_cleanse(line, strlen(line));   /* AUTH lines hold a secret */
	free(line);
}

/* The stage a failure in state st belongs to. */
static enum smtpc_stage stage_of(enum smtpc_state st)
{
	switch (st) {
	case SMTPC_STATE_CONNECTING: return SMTPC_STAGE_CONNECT;
	case SMTPC_STATE_GREETING: return SMTPC_STAGE_GREETING;
	case SMTPC_STATE_EHLO:
	case SMTPC_STATE_HELO: return SMTPC_STAGE_EHLO;
	case SMTPC_STATE_STARTTLS:
	case SMTPC_STATE_HANDSHAKE: return SMTPC_STAGE_STARTTLS;
	case SMTPC_STATE_AUTH: return SMTPC_STAGE_AUTH;
	case SMTPC_STATE_QUIT: return SMTPC_STAGE_QUIT;
	default: return SMTPC_STAGE_SESSION;
	}
}

static void set_end(struct smtpc *c, enum smtpc_stage stage, bool permanent,
		    const char *text)
{
	c->ending = true;
	c->end.stage = stage;
	c->end.permanent = permanent;
	strlcpy_sp(c->end.text, text, sizeof(c->end.text));
	if (c->txn != NULL)
		smtpc_txn_abort(c, text);
}

void smtpc_fail(struct smtpc *c, enum smtpc_stage stage, bool permanent,
		const char *text)
{
	if (c->ending)
		return;
	/* The owner logs the outcome, with what it was trying to do. */
	smtpc_log(c, LOG_LEVEL_DEBUG, "failed stage=%s error=\"%s\"",
		  smtpc_stage_name(stage), log_value(text));
	set_end(c, stage, permanent, text);
	conn_close(c->conn, false);
}

static void on_closed_event(evutil_socket_t fd, short what, void *arg)
{
	struct smtpc *c = arg;

	smtpc_enter_state(c, SMTPC_STATE_ENDED);
	c->cb->closed(c->ctx, c, &c->end);   /* may free c */
}

void smtpc_closed_later(struct smtpc *c)
{
	if (c->state != SMTPC_STATE_ENDED && c->conn == NULL && !c->reading)
		event_active(c->ev_closed, EV_TIMEOUT, 1);
}

/* ---- the way to READY --------------------------------------------------- */

static void send_ehlo(struct smtpc *c)
{
	smtpc_enter_state(c, SMTPC_STATE_EHLO);
	smtpc_command(c, "EHLO %s", c->helo);
}

static void base64(const void *in, size_t len, char *out, size_t size)
{
	if (4 * ((len + 2) / 3) + 1 > size) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* RFC 4954 with PLAIN (RFC 4616, initial response) or LOGIN. */
static void start_auth(struct smtpc *c)
{
	if (!c->tls_active) {
		smtpc_fail(c, SMTPC_STAGE_AUTH, false, "AUTH is only done inside TLS, "
			   "and this session has none");
		return;
	}
	smtpc_enter_state(c, SMTPC_STATE_AUTH);
	c->auth_step = 0;
	if (c->ext & SMTPC_EXT_AUTH_PLAIN) {
		size_t ul = strlen(c->auth_user), pl = strlen(c->auth_pass);
		size_t len = ul + pl + 2, size = 4 * ((len + 2) / 3) + 1;
		char *raw = xmalloc(len), *b64 = xmalloc(size);
		raw[0] = '\0';
		memcpy(raw + 1, c->auth_user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, c->auth_pass, pl);
		base64(raw, len, b64, size);
		smtpc_command(c, "AUTH PLAIN %s", b64);
		OPENSSL_cleanse(raw, len);
		OPENSSL_cleanse(b64, size);
		free(raw);
		free(b64);
	} else if (c->ext & SMTPC_EXT_AUTH_LOGIN) {
		smtpc_command(c, "AUTH LOGIN");
	} else {
		smtpc_fail(c, SMTPC_STAGE_AUTH, false, "the server offers neither "
			   "AUTH PLAIN nor AUTH LOGIN");
	}
}

/* EHLO (or HELO) answered: STARTTLS, AUTH, or READY. */
static void after_ehlo(struct smtpc *c)
{
	if (!c->tls_active && c->tls != SMTPC_TLS_NONE) {
		if (c->ext & SMTPC_EXT_STARTTLS) {
			smtpc_enter_state(c, SMTPC_STATE_STARTTLS);
			smtpc_command(c, "STARTTLS");
			return;
		}
		if (c->tls == SMTPC_TLS_REQUIRE) {
			smtpc_fail(c, SMTPC_STAGE_STARTTLS, false, "TLS is required, "
				   "but the server does not offer STARTTLS");
			return;
		}
	}
	if (c->auth_user != NULL) {
		start_auth(c);
		return;
	}
	smtpc_enter_state(c, SMTPC_STATE_READY);
	c->cb->ready(c->ctx, c);
}

static void on_starttls_reply(struct smtpc *c, const struct smtpc_reply *r)
{
	if (r->code != 220) {
		if (c->tls == SMTPC_TLS_REQUIRE) {
			smtpc_fail(c, SMTPC_STAGE_STARTTLS, false, r->text);
			return;
		}
		smtpc_log(c, LOG_LEVEL_INFO, "starttls refused reply=\"%s\"; going on "
			  "without TLS", log_value(r->text));
		c->tls = SMTPC_TLS_NONE;
		after_ehlo(c);
		return;
	}
	/* Bytes behind the 220 would be read as if protected by TLS. */
	if (evbuffer_get_length(conn_input(c->conn)) > 0) {
		smtpc_fail(c, SMTPC_STAGE_STARTTLS, false, "the server sent data "
			   "after its STARTTLS reply (a command injection attempt)");
		return;
	}
	/* A reply to a command that has not left yet was not an answer. */
	if (conn_output_len(c->conn) > 0) {
		smtpc_fail(c, SMTPC_STAGE_STARTTLS, false, "the server answered "
			   "STARTTLS before it was sent");
		return;
	}
	smtpc_enter_state(c, SMTPC_STATE_HANDSHAKE);
	conn_pause_read(c->conn);
	conn_start_tls_client(c->conn, c->tls_ctx, &c->tls_params);
}

static void on_auth_reply(struct smtpc *c, const struct smtpc_reply *r)
{
	char b64[4 * ((SMTPC_AUTH_FIELD_MAX + 2) / 3) + 1];

	if (r->code == 235) {
		smtpc_log(c, LOG_LEVEL_INFO, "auth ok user=\"%s\"", log_value(c->auth_user));
		smtpc_enter_state(c, SMTPC_STATE_READY);
		c->cb->ready(c->ctx, c);
		return;
	}
	if (r->code == 334 && !(c->ext & SMTPC_EXT_AUTH_PLAIN) && c->auth_step < 2) {
		const char *s = c->auth_step++ == 0 ? c->auth_user : c->auth_pass;
		if (strlen(s) > SMTPC_AUTH_FIELD_MAX) {
			smtpc_fail(c, SMTPC_STAGE_AUTH, false, "credentials too long");
			return;
		}
		base64(s, strlen(s), b64, sizeof(b64));
		smtpc_command(c, "%s", b64);
		OPENSSL_cleanse(b64, sizeof(b64));
		return;
	}
	if (r->code == 334)
		smtpc_command(c, "*");   /* RFC 4954 4: cancel */
	/* A refused login is the relay's or our configuration's problem, not
	 * the message's: deferred, never bounced. */
	smtpc_fail(c, SMTPC_STAGE_AUTH, false,
		   errfmt("authentication failed: %s", r->text));
}

static void on_reply(struct smtpc *c, const struct smtpc_reply *r, unsigned ext,
		     uint64_t size)
{
	smtpc_log(c, LOG_LEVEL_DEBUG, "reply state=%s reply=\"%s\"",
		  state_names[c->state], log_value(r->text));
	if (r->code == 421 && c->state != SMTPC_STATE_QUIT) {
		smtpc_fail(c, stage_of(c->state), false, r->text);
		return;
	}
	switch (c->state) {
	case SMTPC_STATE_GREETING:
		if (r->code != 220) {
			smtpc_fail(c, SMTPC_STAGE_GREETING, r->code >= 500, r->text);
			return;
		}
		send_ehlo(c);
		return;
	case SMTPC_STATE_EHLO:
		if (r->code >= 500 && r->code != 554 && !c->tls_active) {
			smtpc_enter_state(c, SMTPC_STATE_HELO);   /* an old server */
			smtpc_command(c, "HELO %s", c->helo);
			return;
		}
		/* fall through */
	case SMTPC_STATE_HELO:
		if (r->code != 250) {
			smtpc_fail(c, SMTPC_STAGE_EHLO, r->code >= 500, r->text);
			return;
		}
		c->ext = c->state == SMTPC_STATE_EHLO ? ext : 0;
		c->size_limit = c->ext & SMTPC_EXT_SIZE ? size : 0;
		after_ehlo(c);
		return;
	case SMTPC_STATE_STARTTLS:
		on_starttls_reply(c, r);
		return;
	case SMTPC_STATE_AUTH:
		on_auth_reply(c, r);
		return;
	case SMTPC_STATE_TXN:
	case SMTPC_STATE_DATA:
	case SMTPC_STATE_DOT:
		smtpc_txn_reply(c, r);
		return;
	case SMTPC_STATE_QUIT:
		c->end.ok = true;
		c->ending = true;
		c->end.stage = SMTPC_STAGE_QUIT;
		strlcpy_sp(c->end.text, r->text, sizeof(c->end.text));
		conn_close(c->conn, false);
		return;
	default:
		smtpc_fail(c, SMTPC_STAGE_SESSION, false,
			   errfmt("unexpected reply: %s", r->text));
		return;
	}
}

/* ---- conn callbacks ------------------------------------------------------- */

static void cb_input(void *ctx)
{
	struct smtpc *c = ctx;
	struct evbuffer *in = conn_input(c->conn);
	const char *error;

	while (!c->ending && c->state != SMTPC_STATE_HANDSHAKE) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > SMTPC_REPLY_LINE_MAX)
				smtpc_fail(c, stage_of(c->state), false, "reply line too long");
			break;
		}
		bool ehlo = c->state == SMTPC_STATE_EHLO;
		enum smtpc_parse res = len > SMTPC_REPLY_LINE_MAX ? SMTPC_PARSE_ERROR :
			smtpc_reply_line(&c->parser, line, len, ehlo, &error);
		if (len > SMTPC_REPLY_LINE_MAX)
			error = "reply line too long";
		free(line);
		if (res == SMTPC_PARSE_ERROR) {
			smtpc_fail(c, stage_of(c->state), false,
				   errfmt("protocol error: %s", error));
			break;
		}
		if (res == SMTPC_PARSE_DONE) {
			struct smtpc_reply r = c->parser.reply;
			on_reply(c, &r, c->parser.ext, c->parser.size);
		}
	}
	if (c->conn != NULL && !c->ending && c->state != SMTPC_STATE_HANDSHAKE)
		conn_resume_read(c->conn);
}

static void cb_drained(void *ctx)
{
	struct smtpc *c = ctx;

	if (c->state == SMTPC_STATE_DATA)
		smtpc_txn_drained(c);
}

static void cb_handshake(void *ctx)
{
	struct smtpc *c = ctx;
	struct tls_conn *tc = conn_tls(c->conn);

	c->tls_active = true;
	strlcpy_sp(c->tls_version, tls_conn_version(tc), sizeof(c->tls_version));
	strlcpy_sp(c->tls_cipher, tls_conn_cipher(tc), sizeof(c->tls_cipher));
	c->tls_auth = tls_peer_auth_name(tls_conn_peer_auth(tc));
	smtpc_log(c, LOG_LEVEL_INFO, "tls version=%s cipher=%s auth=%s",
		  c->tls_version, c->tls_cipher, c->tls_auth);
	conn_resume_read(c->conn);
	send_ehlo(c);   /* RFC 3207 4.2: the session starts over */
}

static void cb_timeout(void *ctx)
{
	struct smtpc *c = ctx;
	c->timed_out = true;
}

static void cb_connected(void *ctx)
{
	struct smtpc *c = ctx;

	smtpc_log(c, LOG_LEVEL_DEBUG, "connected host=%s", c->host);
	smtpc_enter_state(c, SMTPC_STATE_GREETING);
}

static void cb_closed(void *ctx, enum conn_end why, const char *error)
{
	struct smtpc *c = ctx;
	enum smtpc_stage stage = stage_of(c->state);

	if (!c->ending) {
		const char *text =
			c->timed_out ? errfmt("timed out after %us in state %s",
					      state_timeout(c, c->state),
					      state_names[c->state]) :
			error != NULL ? error :
			why == CONN_END_EOF ? errfmt("the server closed the connection "
						     "in state %s", state_names[c->state]) :
			"connection lost";
		if (c->state == SMTPC_STATE_QUIT) {
			c->ending = true;
			c->end.ok = true;
			c->end.stage = SMTPC_STAGE_QUIT;
		} else {
			smtpc_log(c, LOG_LEVEL_DEBUG, "failed stage=%s error=\"%s\"",
				  smtpc_stage_name(stage), log_value(text));
			set_end(c, stage, false, text);
			c->end.tls_handshake_failed = c->state == SMTPC_STATE_HANDSHAKE;
		}
	}
	conn_free(&c->conn);
	smtpc_closed_later(c);
}

static const struct conn_callbacks smtpc_conn_callbacks = {
	.input = cb_input,
	.drained = cb_drained,
	.handshake = cb_handshake,
	.timeout = cb_timeout,
	.closed = cb_closed,
	.connected = cb_connected,
};

/* ---- life -------------------------------------------------------------------- */

static void copy_tls_params(struct smtpc *c, const struct tls_client_params *p)
{
	c->tls_params = *p;
	c->tls_sni = p->sni != NULL ? xstrdup(p->sni) : NULL;
	c->tls_host = p->host != NULL ? xstrdup(p->host) : NULL;
	c->tls_domain = p->domain != NULL ? xstrdup(p->domain) : NULL;
	c->tls_params.sni = c->tls_sni;
	c->tls_params.host = c->tls_host;
	c->tls_params.domain = c->tls_domain;
	c->tls_params.n_tlsa = p->n_tlsa < SMTPC_TLSA_MAX ? p->n_tlsa : SMTPC_TLSA_MAX;
	for (size_t i = 0; i < c->tls_params.n_tlsa; i++) {
		c->tlsa[i] = p->tlsa[i];
		unsigned char *d = xmalloc(p->tlsa[i].len + 1);
		memcpy(d, p->tlsa[i].data, p->tlsa[i].len);
		c->tlsa[i].data = d;
	}
	c->tls_params.tlsa = c->tlsa;
}

struct smtpc *smtpc_open(struct event_base *base, const struct smtpc_params *p,
			 const struct smtpc_callbacks *cb, void *ctx,
			 const char **error_r)
{
	struct smtpc *c = xcalloc(1, sizeof(*c));

	strlcpy_sp(c->id, p->log_id, sizeof(c->id));
	c->cb = cb;
	c->ctx = ctx;
	c->host = xstrdup(p->host);
	c->helo = xstrdup(p->helo);
	c->tls = p->tls;
	c->tls_ctx = p->tls_ctx != NULL ? tls_ctx_ref(p->tls_ctx) : NULL;
	if (p->tls_params != NULL)
		copy_tls_params(c, p->tls_params);
	if (p->auth_user != NULL) {
		c->auth_user = xstrdup(p->auth_user);
		c->auth_pass = xstrdup(p->auth_pass);
	}
	c->tls_auth = "none";
	c->ev_closed = evtimer_new(base, on_closed_event, c);
	c->conn = conn_connect(base, p->addr, p->addr_len, &smtpc_conn_callbacks, c,
			       error_r);
	if (c->conn == NULL) {
		smtpc_free(&c);
		return NULL;
	}
	c->state = SMTPC_STATE_CONNECTING;
	conn_set_timeout(c->conn, p->connect_secs > 0 ? p->connect_secs :
			 SMTPC_CONNECT_SECS);
	return c;
}

bool smtpc_usable(const struct smtpc *c)
{
	return c->state == SMTPC_STATE_READY && c->txn == NULL && !c->ending &&
	       c->conn != NULL;
}

void smtpc_quit(struct smtpc *c)
{
	if (c->ending || c->state != SMTPC_STATE_READY)
		return;
	smtpc_enter_state(c, SMTPC_STATE_QUIT);
	smtpc_command(c, "QUIT");
}

void smtpc_abort(struct smtpc *c)
{
	if (c->ending || c->conn == NULL)
		return;
	set_end(c, stage_of(c->state), false, "delivery stopped (shutdown)");
	conn_close(c->conn, false);
}

void smtpc_free(struct smtpc **cp)
{
	struct smtpc *c = *cp;

	if (c == NULL)
		return;
	conn_free(&c->conn);
	if (c->ev_closed != NULL)
		event_free(c->ev_closed);
	tls_ctx_unref(&c->tls_ctx);
	for (size_t i = 0; i < c->tls_params.n_tlsa; i++)
		free((void *)c->tlsa[i].data);
	free(c->tls_sni);
	free(c->tls_host);
	free(c->tls_domain);
	free(c->host);
	free(c->helo);
	free(c->auth_user);
	if (c->auth_pass != NULL) {
		OPENSSL_cleanse(c->auth_pass, strlen(c->auth_pass));
		free(c->auth_pass);
	}
	free(c->read);
	x_free(cp);
}

unsigned smtpc_extensions(const struct smtpc *c)
{
	return c->ext;
}

uint64_t smtpc_size_limit(const struct smtpc *c)
{
	return c->size_limit;
}

const char *smtpc_tls_version(const struct smtpc *c)
{
	return c->tls_active ? c->tls_version : "";
}

const char *smtpc_tls_cipher(const struct smtpc *c)
{
	return c->tls_active ? c->tls_cipher : "";
}

const char *smtpc_tls_auth(const struct smtpc *c)
{
	return c->tls_active ? c->tls_auth : "none";
}
