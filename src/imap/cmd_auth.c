/* cmd_auth.c — the commands of any state: CAPABILITY NOOP LOGOUT ID, and
 * of the not-authenticated state: STARTTLS LOGIN AUTHENTICATE; ENABLE and
 * NAMESPACE after login. */
#include "imap/imap.h"
#include "imap/imap_modseq.h"
#include "auth/auth.h"
#include "store/mailbox.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Mechanisms offered inside TLS (RFC 3501 6.2.2, SASL-IR RFC 4959). */
#define IMAP_SASL_MECHS SASL_MECH_PLAIN
/* Items of an ID list we look at (RFC 2971 3.3: at most 30 pairs). */
#define IMAP_ID_PAIRS_MAX 30

/* Where a capability is announced. */
enum cap_when {
	CAP_ALWAYS,
	CAP_PLAIN_PREAUTH,          /* before login, before TLS */
	CAP_TLS_PREAUTH,            /* before login, inside TLS */
};

/* The capabilities, one a line, in the order announced. */
static const struct {
	const char *name;
	enum cap_when when;
} capabilities[] = {
	{ "IMAP4rev1", CAP_ALWAYS },
	{ "IMAP4rev2", CAP_ALWAYS },            /* RFC 9051, after ENABLE */
	{ "LITERAL+", CAP_ALWAYS },
	{ "SASL-IR", CAP_ALWAYS },
	{ "ID", CAP_ALWAYS },
	{ "ENABLE", CAP_ALWAYS },
	{ "IDLE", CAP_ALWAYS },
	{ "NAMESPACE", CAP_ALWAYS },
	{ "UNSELECT", CAP_ALWAYS },
	{ "CHILDREN", CAP_ALWAYS },
	{ "SPECIAL-USE", CAP_ALWAYS },
	{ "LIST-EXTENDED", CAP_ALWAYS },
	{ "UIDPLUS", CAP_ALWAYS },
	{ "MOVE", CAP_ALWAYS },
	{ "CONDSTORE", CAP_ALWAYS },            /* RFC 7162 */
	{ "QRESYNC", CAP_ALWAYS },              /* RFC 7162 */
	{ "ESEARCH", CAP_ALWAYS },              /* RFC 4731 */
	{ "SEARCHRES", CAP_ALWAYS },            /* RFC 5182 */
	{ "COMPRESS=DEFLATE", CAP_ALWAYS },     /* RFC 4978 */
	{ "UNAUTHENTICATE", CAP_ALWAYS },       /* RFC 8437 */
	{ "LIST-STATUS", CAP_ALWAYS },          /* RFC 5819 */
	{ "MULTIAPPEND", CAP_ALWAYS },          /* RFC 3502 */
	{ "BINARY", CAP_ALWAYS },               /* RFC 3516 */
	{ "QUOTA", CAP_ALWAYS },                /* RFC 9208 */
	{ "QUOTA=RES-STORAGE", CAP_ALWAYS },    /* RFC 9208 */
	{ "QUOTA=RES-MESSAGE", CAP_ALWAYS },    /* RFC 9208 */
	{ "STATUS=SIZE", CAP_ALWAYS },          /* RFC 8438 */
	{ "SORT", CAP_ALWAYS },                 /* RFC 5256 */
	{ "SORT=DISPLAY", CAP_ALWAYS },         /* RFC 5957 */
	{ "ESORT", CAP_ALWAYS },                /* RFC 5267 */
	{ "THREAD=ORDEREDSUBJECT", CAP_ALWAYS },        /* RFC 5256 */
	{ "THREAD=REFERENCES", CAP_ALWAYS },    /* RFC 5256 */
	{ "STARTTLS", CAP_PLAIN_PREAUTH },
	{ "LOGINDISABLED", CAP_PLAIN_PREAUTH },
	{ "AUTH=PLAIN", CAP_TLS_PREAUTH },
};

/* Longest capability list (the names above and their spaces). */
#define IMAP_CAPABILITY_MAX 1024

const char *imap_capabilities(struct imap_session *is)
{
	static char out[IMAP_CAPABILITY_MAX];
	enum cap_when now = CAP_ALWAYS;
	size_t len = 0;

	if (is->state == IMAP_STATE_NOT_AUTH)
		now = session_is_tls(&is->s) ? CAP_TLS_PREAUTH : CAP_PLAIN_PREAUTH;
	out[0] = '\0';
	for (size_t i = 0; i < N_ELEMENTS(capabilities); i++) {
		if (capabilities[i].when != CAP_ALWAYS && capabilities[i].when != now)
			continue;
		int n = snprintf(out + len, sizeof(out) - len, "%s%s",
				 len > 0 ? " " : "", capabilities[i].name);
		assert(n > 0 && (size_t)n < sizeof(out) - len);
		len += (size_t)n;
	}
	return out;
}

void cmd_capability(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	if (n != 0) {
		imap_command_bad(is, "CAPABILITY takes no arguments");
		return;
	}
	imap_untagged(is, "CAPABILITY %s", imap_capabilities(is));
	imap_command_done(is, "OK", NULL, "Capability completed");
}

void cmd_noop(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	imap_command_done(is, "OK", NULL, "NOOP completed");
}

void cmd_logout(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	imap_untagged(is, "BYE Logging out");
	imap_enter_state(is, IMAP_STATE_LOGOUT);
	imap_command_done(is, "OK", NULL, "Logout completed");
}

/* RFC 2971: say who we are; the client's list is only checked. */
void cmd_id(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	const struct imap_arg *items;
	size_t count;

	if (n != 1 || (args[0].type != IMAP_ARG_NIL &&
		       (!imap_arg_get_list(&args[0], &items, &count) ||
			count % 2 != 0 || count > 2 * IMAP_ID_PAIRS_MAX))) {
		imap_command_bad(is, "Syntax: ID NIL or ID (\"name\" \"value\" ...)");
		return;
	}
	imap_untagged(is, "ID (\"name\" \"sealpost\" \"vendor\" \"sealpost\")");
	imap_command_done(is, "OK", NULL, "ID completed");
}

/* What ENABLE can turn on (RFC 5161): one line each. */
static const struct {
	const char *name;
	size_t flag_offset;             /* a bool in struct imap_session */
} enablers[] = {
	{ "IMAP4rev2", offsetof(struct imap_session, rev2) },   /* RFC 9051 */
};

/* RFC 5161: the extensions named that we have and that were not on
 * already are turned on and listed in "* ENABLED"; unknown names are
 * ignored. */
void cmd_enable(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct buf b = { 0 };
	const char *cap;

	if (n == 0) {
		imap_command_bad(is, "ENABLE needs capability names");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&args[i], &cap)) {
			imap_command_bad(is, "ENABLE takes capability names");
			return;
		}
	}
	buf_append(&b, "ENABLED", 7);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		imap_arg_get_atom(&args[i], &cap);
		/* CONDSTORE and QRESYNC do more than set a flag (imap_modseq.h) */
		if ((name = imap_modseq_enable(is, cap)) != NULL) {
			buf_printf(&b, " %s", name);
			continue;
		}
		for (size_t k = 0; k < N_ELEMENTS(enablers); k++) {
			bool *flag = (bool *)((char *)is + enablers[k].flag_offset);
			if (!str_ieq(cap, enablers[k].name) || *flag)
				continue;
			*flag = true;
			buf_printf(&b, " %s", enablers[k].name);
			session_log(&is->s, LOG_LEVEL_DEBUG, "enabled %s", enablers[k].name);
		}
	}
	imap_untagged(is, "%s", b.data);
	buf_free(&b);
	imap_command_done(is, "OK", NULL, "ENABLE completed");
}

/* RFC 2342: one personal namespace, "/" as the hierarchy separator. */
void cmd_namespace(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	imap_untagged(is, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_command_done(is, "OK", NULL, "NAMESPACE completed");
}

void cmd_starttls(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	if (session_is_tls(&is->s)) {
		imap_command_bad(is, "TLS is already active");
		return;
	}
	imap_command_done(is, "OK", NULL, "Begin TLS negotiation now");
	session_start_tls(&is->s);
}

/* RFC 4978: COMPRESS DEFLATE. The OK leaves uncompressed, everything after
 * it is compressed both ways (net/compress.h); a second one, or one while
 * the connection is compressed otherwise, is refused. */
void cmd_compress(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	const char *mech, *error = NULL;

	if (n != 1 || !imap_arg_get_atom(&args[0], &mech)) {
		imap_command_bad(is, "Syntax: COMPRESS DEFLATE");
		return;
	}
	if (!str_ieq(mech, "DEFLATE")) {
		imap_command_done(is, "NO", NULL, "Unsupported compression mechanism");
		return;
	}
	if (session_is_compressed(&is->s)) {
		imap_command_done(is, "NO", "COMPRESSIONACTIVE", "DEFLATE active already");
		return;
	}
	/* Nothing may come between the OK and the switch: no updates. */
	imap_command_done_now(is, "OK", NULL, "DEFLATE active");
	if (session_start_compress(&is->s, &error) < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "compress error=\"%s\"", error);
		session_close(&is->s);
	}
}

/* RFC 8437: back to the not-authenticated state as after the greeting
 * (TLS and compression stay): the mailbox is closed without expunging,
 * and the account, its mailbox path and every ENABLEd extension are
 * forgotten. Per-user session state added later must be reset here. */
void cmd_unauthenticate(struct imap_session *is, const struct imap_arg *args,
			size_t n)
{
	if (n != 0) {
		imap_command_bad(is, "UNAUTHENTICATE takes no arguments");
		return;
	}
	session_log(&is->s, LOG_LEVEL_INFO, "unauthenticate user=%s", is->user);
	imap_mailbox_close(is);
	x_free(&is->user);
	x_free(&is->root);
	sasl_clear(&is->sasl);
	is->utf8_accept = false;
	is->rev2 = false;
	is->condstore = false;      /* RFC 8437 3: what ENABLE did is undone */
	is->qresync = false;
	imap_enter_state(is, IMAP_STATE_NOT_AUTH);
	session_set_timeout(&is->s, IMAP_PREAUTH_TIMEOUT_SECS);
	imap_command_done(is, "OK", NULL, "Unauthenticate completed");
}

/* ---- login: verify off the loop, then make sure the mailbox exists ------ */

struct login_job {
	struct session_job job;
	struct imap_session *is;
	char user[ADDRESS_MAX + 1];
	char *root;
	int result;
	char error[200];
};

static void login_work(struct session_job *job)
{
	struct login_job *lj = (struct login_job *)job;
	const char *error = NULL;

	lj->root = mailbox_path(config->data_dir, lj->user);
	lj->result = 0;
	/* A user from an imported passwd file may have no Maildir yet. */
	if (!fs_exists(lj->root) &&
	    (lj->result = mailbox_create(config->data_dir, lj->user, &error)) < 0)
		strlcpy_sp(lj->error, error, sizeof(lj->error));
}

static void login_done(struct session_job *job, bool live)
{
	struct login_job *lj = (struct login_job *)job;
	struct imap_session *is = lj->is;

	if (!live) {
		free(lj->root);
	} else if (lj->result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "mailbox error=\"%s\"", lj->error);
		free(lj->root);
		imap_command_done(is, "NO", "UNAVAILABLE", "Mailbox unavailable");
	} else {
		is->user = xstrdup(lj->user);
		is->root = lj->root;
		imap_enter_state(is, IMAP_STATE_AUTH);
		session_set_timeout(&is->s, (unsigned)config->imap_timeout);
		session_login_done(&is->s);
		session_log(&is->s, LOG_LEVEL_INFO, "login user=%s", is->user);
		imap_command_done(is, "OK", NULL, "[CAPABILITY %s] Logged in",
				  imap_capabilities(is));
	}
	free(lj);
}

static void auth_done(struct session *s, bool ok, const char *user)
{
	struct imap_session *is = IMAP(s);

	sasl_clear(&is->sasl);
	is->line_handler = NULL;
	if (!ok) {
		imap_command_done(is, "NO", "AUTHENTICATIONFAILED",
				  "Authentication failed");
		return;
	}
	struct login_job *lj = xcalloc(1, sizeof(*lj));
	lj->job.work = login_work;
	lj->job.done = login_done;
	lj->is = is;
	strlcpy_sp(lj->user, user, sizeof(lj->user));
	imap_job_start(is, &lj->job);
}

static bool plaintext_refused(struct imap_session *is)
{
	if (session_is_tls(&is->s))
		return false;
	imap_command_done(is, "NO", "PRIVACYREQUIRED", "Plaintext authentication "
			  "disallowed on non-secure (SSL/TLS) connections");
	return true;
}

void cmd_login(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	const char *user, *password;
	size_t ulen, plen;

	if (n != 2 || !imap_arg_get_astring(&args[0], &user, &ulen) ||
	    !imap_arg_get_astring(&args[1], &password, &plen)) {
		imap_command_bad(is, "Syntax: LOGIN user password");
		return;
	}
	if (plaintext_refused(is))
		return;
	auth_verify(&is->s, "LOGIN", user, password, plen, auth_done);
}

static void sasl_result(struct imap_session *is, enum sasl_result res,
			const char *challenge, const char *error);

/* The cancel hook of an exchange cut short: the secrets go. */
static void authenticate_cancel(struct imap_session *is)
{
	sasl_clear(&is->sasl);
}

static void authenticate_line(struct imap_session *is, const char *line)
{
	const char *challenge = "", *error = NULL;
	sasl_result(is, sasl_step(is->sasl, line, &challenge, &error), challenge, error);
}

static void sasl_result(struct imap_session *is, enum sasl_result res,
			const char *challenge, const char *error)
{
	switch (res) {
	case SASL_CONTINUE:
		is->line_handler = authenticate_line;
		is->cancel = authenticate_cancel;
		session_printf(&is->s, "+ %s\r\n", challenge);
		return;
	case SASL_FAIL:
		is->line_handler = NULL;
		is->cancel = NULL;
		/* RFC 3501 6.2.2: a cancelled exchange gets BAD. */
		if (is->sasl->cancelled)
			imap_command_done(is, "BAD", NULL, "Authentication cancelled");
		else
			imap_command_done(is, "NO", "AUTHENTICATIONFAILED", "%s", error);
		sasl_clear(&is->sasl);
		return;
	case SASL_DONE:
		is->line_handler = NULL;
		is->cancel = NULL;
		auth_verify(&is->s, "PLAIN", is->sasl->user, is->sasl->password,
			    is->sasl->password_len, auth_done);
		return;
	}
}

void cmd_authenticate(struct imap_session *is, const struct imap_arg *args,
		      size_t n)
{
	const char *mech_name, *initial = NULL, *challenge = "", *error = NULL;
	enum sasl_mech mech;

	if (n < 1 || n > 2 || !imap_arg_get_atom(&args[0], &mech_name) ||
	    (n == 2 && !imap_arg_get_atom(&args[1], &initial))) {
		imap_command_bad(is, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (plaintext_refused(is))
		return;
	if (!sasl_mech_find(mech_name, IMAP_SASL_MECHS, &mech)) {
		imap_command_done(is, "NO", NULL, "Unsupported authentication mechanism");
		return;
	}
	sasl_result(is, sasl_begin(&is->sasl, mech, initial, &challenge, &error),
		    challenge, error);
}
