/* session.c — the line-protocol session core. */
#include "net/session.h"
#include "net/session_deadline.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/filestream.h"
#include "net/iptable.h"
#include "net/loop.h"
#include "net/tls.h"
#include "lib/util.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every session of this process, for shutdown and counting. */
static struct session *sessions_head;
static size_t n_sessions;
_Static_assert(SESSION_LINE_MAX_LIMIT + 2 < CONN_INPUT_MAX,
	       "a maximal line must fit in the input buffer");

/* One command line at a time is handed to a protocol: a shared buffer. */
static char line_buf[SESSION_LINE_MAX_LIMIT + 1];

static void process_input(struct session *s);

void session_ref(struct session *s)
{
	s->refcount++;
}

static void session_free(struct session *s)
{
	if (s->v->destroy != NULL)
		s->v->destroy(s);
	iptable_conn_release(&s->peer_ss);
	session_deadlines_free(s);
	conn_free(&s->conn);
	tls_ctx_unref(&s->tls_ctx);
	event_free(s->ev_deferred);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sessions_head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	n_sessions--;
	free(s);
}

/* Deferred work, always from a fresh loop callback: the free once nothing
 * refers to the session, else the processing of buffered input. */
static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->refcount == 0) {
		session_free(s);
		return;
	}
	if (!s->closing) {
		process_input(s);
		if (!s->closing && !s->starttls_pending)
			conn_resume_read(s->conn);
	}
}

void session_unref(struct session *s)
{
	assert(s->refcount > 0);
	if (--s->refcount == 0)
		event_active(s->ev_deferred, EV_TIMEOUT, 1);
}

void session_kick(struct session *s)
{
	if (!s->closing)
		event_active(s->ev_deferred, EV_TIMEOUT, 1);
}

void session_log(struct session *s, enum log_level level, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg(level, "%s %s %s", s->id, proto_name(s->proto), text);
}

void session_write(struct session *s, const void *data, size_t len)
{
	conn_write(s->conn, data, len);
}

void session_printf(struct session *s, const char *fmt, ...)
{
	char stack[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(stack, sizeof(stack), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(stack)) {
		conn_write(s->conn, stack, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	char *big = xvasprintf(fmt, ap);
	va_end(ap);
	conn_write(s->conn, big, strlen(big));
	free(big);
}

void session_write_buffer(struct session *s, struct evbuffer *buf)
{
	conn_write_buffer(s->conn, buf);
}

size_t session_output_len(const struct session *s)
{
	return conn_output_len(s->conn);
}

void session_set_line_max(struct session *s, size_t line_max)
{
	assert(line_max > 0 && line_max <= SESSION_LINE_MAX_LIMIT);
	s->line_max = line_max;
}

void session_set_raw(struct session *s, bool raw)
{
	if (s->raw_mode == raw)
		return;
	s->raw_mode = raw;
	session_deadlines_raw(s, raw);
}

void session_set_timeout(struct session *s, unsigned secs)
{
	s->timeout_secs = secs;
	conn_set_timeout(s->conn, secs);
}

void session_close(struct session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	conn_close(s->conn, true);
}

void session_bye_and_close(struct session *s, enum session_bye why)
{
	if (s->closing)
		return;
	if (s->v->bye != NULL && (!conn_is_tls(s->conn) || conn_tls_ready(s->conn)))
		s->v->bye(s, why);
	session_close(s);
}

void session_bad_command(struct session *s)
{
	if (++s->bad_commands >= SESSION_MAX_BAD_COMMANDS) {
		session_log(s, LOG_LEVEL_INFO, "too many errors count=%u",
			    s->bad_commands);
		session_bye_and_close(s, SESSION_BYE_TOO_MANY_ERRORS);
	}
}

/* The idle timeout keeps running while suspended: jobs take milliseconds,
 * and a client that stops reading a long answer must still be let go. */
void session_good_command(struct session *s)
{
	s->bad_commands = 0;
}

void session_suspend(struct session *s)
{
	session_ref(s);
	s->suspended++;
}

void session_resume(struct session *s)
{
	assert(s->suspended > 0);
	if (--s->suspended == 0 && !s->closing)
		event_active(s->ev_deferred, EV_TIMEOUT, 1);
	session_unref(s);
}

bool session_live(const struct session *s)
{
	return !s->closing;
}

static void session_job_work(struct job *job)
{
	struct session_job *sj = (struct session_job *)job;
	sj->work(sj);
}

static void session_job_done(struct job *job)
{
	struct session_job *sj = (struct session_job *)job;
	struct session *s = sj->session;
	enum session_job_mode mode = sj->mode;

	sj->done(sj, !s->closing);   /* sj may be gone now */
	if (mode == SESSION_JOB_EXCLUSIVE)
		session_resume(s);
	else
		session_unref(s);
}

void session_job_start(struct session *s, struct session_job *sj,
		       enum session_job_mode mode)
{
	sj->job.work = session_job_work;
	sj->job.done = session_job_done;
	sj->session = s;
	sj->mode = mode;
	if (mode == SESSION_JOB_EXCLUSIVE)
		session_suspend(s);
	else
		session_ref(s);
	jobs_submit(&sj->job);
}

/* One line out of the input buffer. Returns false when more input is
 * needed. */
static bool take_line(struct session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
	char prefix[SESSION_BAD_PREFIX];
	ssize_t plen;

	if (s->skipping_line) {
		evbuffer_drain(in, lf.pos < 0 ? avail : (size_t)lf.pos + 1);
		s->skipping_line = lf.pos < 0;
		return lf.pos >= 0;
	}
	if (lf.pos < 0) {
		/* The limit holds for partial lines too: +1 for a CR that
		 * may still be followed by its LF. */
		if (avail > s->line_max + 1) {
			plen = evbuffer_copyout(in, prefix, sizeof(prefix));
			evbuffer_drain(in, avail);
			s->skipping_line = true;
			s->v->bad_input(s, SESSION_BAD_TOO_LONG, prefix, (size_t)plen);
			session_bad_command(s);
		}
		return false;
	}
	size_t pos = (size_t)lf.pos;
	char cr = 0;
	if (pos > 0) {
		struct evbuffer_ptr p;
		evbuffer_ptr_set(in, &p, pos - 1, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(in, &p, &cr, 1);
	}
	if (cr != '\r' || pos - 1 > s->line_max) {
		plen = evbuffer_copyout(in, prefix, pos < sizeof(prefix) ? pos : sizeof(prefix));
		evbuffer_drain(in, pos + 1);
		s->v->bad_input(s, cr != '\r' ? SESSION_BAD_BARE_LF : SESSION_BAD_TOO_LONG,
				prefix, plen > 0 ? (size_t)plen : 0);
		session_bad_command(s);
		return true;
	}
	size_t len = pos - 1;
	evbuffer_remove(in, line_buf, len);
	evbuffer_drain(in, 2);
	line_buf[len] = '\0';
	if (memchr(line_buf, '\0', len) != NULL) {
		s->v->bad_input(s, SESSION_BAD_NUL, line_buf,
				len < SESSION_BAD_PREFIX ? len : SESSION_BAD_PREFIX);
		session_bad_command(s);
		return true;
	}
	s->v->command(s, line_buf, len);
	return true;
}

static bool can_process(const struct session *s)
{
	return !s->closing && !s->suspended && !s->starttls_pending &&
	       !(conn_is_tls(s->conn) && !conn_tls_ready(s->conn)) &&
	       conn_output_len(s->conn) < SESSION_OUTPUT_HIGH;
}

static void process_input_loop(struct session *s)
{
	struct evbuffer *in = conn_input(s->conn);

	while (can_process(s)) {
		if (s->shutdown_requested && !s->raw_mode) {
			session_bye_and_close(s, SESSION_BYE_SHUTDOWN);
			return;
		}
		size_t before = evbuffer_get_length(in);
		if (before == 0)
			return;
		if (s->raw_mode) {
			s->v->raw_input(s, in);
			if (s->raw_mode && evbuffer_get_length(in) == before)
				return;
			continue;
		}
		if (!take_line(s, in))
			return;
	}
}

static void process_input(struct session *s)
{
	process_input_loop(s);
	session_deadlines_after_input(s);
}

/* ---- conn callbacks --------------------------------------------------- */

static void cb_input(void *ctx)
{
	session_deadlines_input(ctx);
	process_input(ctx);
}

static void cb_drained(void *ctx)
{
	struct session *s = ctx;

	if (s->starttls_pending) {
		struct evbuffer *in = conn_input(s->conn);
		/* Reading stopped with the go-ahead: nothing can have come. */
		assert(evbuffer_get_length(in) == 0);
		conn_set_timeout(s->conn, SESSION_HANDSHAKE_SECS);
		conn_start_tls(s->conn, s->tls_ctx);
		return;
	}
	if (s->stream != NULL)
		fstream_drained(s);
	else if (s->v->drained != NULL && !s->closing)
		s->v->drained(s);
	/* Commands held back while the output was full may run now. */
	if (!s->closing && !s->suspended &&
	    evbuffer_get_length(conn_input(s->conn)) > 0)
		session_kick(s);
}

static void cb_handshake(void *ctx)
{
	struct session *s = ctx;
	bool upgrade = s->starttls_pending;

	s->starttls_pending = false;
	session_log(s, LOG_LEVEL_INFO, "tls version=%s cipher=%s bits=%d%s",
		    conn_tls_version(s->conn), conn_tls_cipher(s->conn),
		    conn_tls_bits(s->conn),
		    conn_tls_resumed(s->conn) ? " resumed=yes" : "");
	conn_set_timeout(s->conn, s->timeout_secs);
	if (upgrade)
		s->v->tls_started(s);
	else
		s->v->greet(s);
	conn_resume_read(s->conn);
}

static void cb_timeout(void *ctx)
{
	struct session *s = ctx;
	session_log(s, LOG_LEVEL_INFO, "timeout after=%us", s->timeout_secs);
	session_bye_and_close(s, SESSION_BYE_TIMEOUT);
}

static const char *end_text(enum conn_end why)
{
	switch (why) {
	case CONN_END_LOCAL: return "closed";
	case CONN_END_EOF: return "client closed";
	case CONN_END_ERROR: return "error";
	case CONN_END_TIMEOUT: return "timeout";
	}
	return "?";
}

static void cb_closed(void *ctx, enum conn_end why, const char *error)
{
	struct session *s = ctx;
	char safe[200] = "";

	if (error != NULL)
		str_sanitize(safe, sizeof(safe), error, strlen(error));
	if (conn_is_compressed(s->conn)) {
		unsigned long long in_plain, in_wire, out_plain, out_wire;
		conn_compress_stats(s->conn, &in_plain, &in_wire, &out_plain, &out_wire);
		session_log(s, LOG_LEVEL_INFO, "compress in=%llu/%llu out=%llu/%llu",
			    in_wire, in_plain, out_wire, out_plain);
	}
	session_log(s, LOG_LEVEL_INFO, "disconnected reason=\"%s\"%s%s%s",
		    end_text(why), error ? " error=\"" : "", safe, error ? "\"" : "");
	s->closing = true;
	/* Whoever waits for the output to drain must learn that it never
	 * will, or its reference would keep the session forever. */
	if (s->stream != NULL)
		fstream_drained(s);
	else if (s->v->drained != NULL)
		s->v->drained(s);
	session_unref(s);
}

static const struct conn_callbacks session_conn_callbacks = {
	.input = cb_input,
	.drained = cb_drained,
	.handshake = cb_handshake,
	.timeout = cb_timeout,
	.closed = cb_closed,
};

/* ---- creation, TLS, shutdown ----------------------------------------- */

void session_accept(enum service service, const struct session_vfuncs *v,
		    int fd, const struct sockaddr *peer, socklen_t peer_len,
		    struct tls_ctx *tls_ctx)
{
	struct session *s = xcalloc(1, v->size);

	s->v = v;
	s->service = service;
	s->proto = service_infos[service].proto;
	s->refcount = 1;
	s->line_max = 512;
	log_new_session_id(s->id);
	memcpy(&s->peer_ss, peer, peer_len);
	addr_text(peer, s->peer, sizeof(s->peer));
	s->tls_ctx = tls_ctx_ref(tls_ctx);
	s->ev_deferred = evtimer_new(ev_base, on_deferred, s);
	s->conn = conn_new(ev_base, fd, &session_conn_callbacks, s);
	session_deadlines_new(s);
	s->next = sessions_head;
	if (sessions_head != NULL)
		sessions_head->prev = s;
	sessions_head = s;
	n_sessions++;

	if (v->init != NULL)
		v->init(s);
	session_log(s, LOG_LEVEL_INFO, "connected address=%s service=%s",
		    s->peer, service_infos[service].name);
	if (service_infos[service].implicit_tls) {
		conn_set_timeout(s->conn, SESSION_HANDSHAKE_SECS);
		conn_start_tls(s->conn, s->tls_ctx);
	} else {
		v->greet(s);
	}
}

void session_start_tls(struct session *s)
{
	struct evbuffer *in = conn_input(s->conn);
	size_t pipelined = evbuffer_get_length(in);

	assert(!conn_is_tls(s->conn));
	s->starttls_pending = true;
	/* CVE-2011-0411 class: anything sent before the handshake could be
	 * taken for an encrypted command. Drop it and stop reading. */
	if (pipelined > 0) {
		evbuffer_drain(in, pipelined);
		session_log(s, LOG_LEVEL_INFO, "starttls discarded=%zu "
			    "reason=\"data after STARTTLS\"", pipelined);
	}
	conn_pause_read(s->conn);
	if (session_output_len(s) == 0)
		cb_drained(s);
}

int session_start_compress(struct session *s, const char **error_r)
{
	if (conn_start_compress(s->conn, error_r) < 0)
		return -1;
	session_log(s, LOG_LEVEL_DEBUG, "compress started");
	return 0;
}

bool session_is_compressed(const struct session *s)
{
	return conn_is_compressed(s->conn);
}

bool session_is_tls(const struct session *s)
{
	return conn_tls_ready(s->conn);
}

const char *session_tls_version(const struct session *s)
{
	return conn_tls_version(s->conn);
}

const char *session_tls_cipher(const struct session *s)
{
	return conn_tls_cipher(s->conn);
}

int session_tls_bits(const struct session *s)
{
	return conn_tls_bits(s->conn);
}

void sessions_shutdown(void)
{
	for (struct session *s = sessions_head; s != NULL; s = s->next) {
		s->shutdown_requested = true;
		if (!s->suspended && !s->raw_mode)
			session_bye_and_close(s, SESSION_BYE_SHUTDOWN);
	}
}

void sessions_abort(void)
{
	for (struct session *s = sessions_head; s != NULL; s = s->next) {
		s->closing = true;
		conn_close(s->conn, false);
	}
}

size_t sessions_count(void)
{
	return n_sessions;
}
