/* loadgen.c — the C load generator behind `make bench BENCH_ARGS=--peers`
 * (bench/peers.py drives it; bench/README.md describes the loads).
 *
 * One process, one libevent loop per thread (--threads), many concurrent
 * client connections (--conns). Every connection is a small explicit state
 * machine; a slot that finishes an operation starts the next one until the
 * run's deadline (--duration) or operation count (--count) is reached, then
 * finishes what it has in flight. Modes:
 *
 *   smtp       connect, EHLO, STARTTLS, EHLO, then --per-conn messages
 *              (MAIL+RCPT+DATA pipelined, RFC 2920), QUIT. One op = one
 *              message acknowledged with 250; every acknowledged Message-ID
 *              is written to --ids ("A <id>"; "U <id>" for a message whose
 *              data was sent but whose reply never came), so the caller can
 *              check the Maildir: delivered once each, nothing lost.
 *   handshake  IMAPS: TCP connect, TLS handshake, the greeting, close. One op
 *              = one handshake; --resume offers each slot's last session.
 *   imap       IMAPS: LOGIN, SELECT INBOX (EXISTS must equal the number of
 *              --expect files), FETCH n BODY.PEEK[] whose literal must equal
 *              the n-th --expect file byte for byte, LOGOUT.
 *   idle       IMAPS: open --conns connections up to the greeting, print
 *              "open ...", wait for a line on stdin; LOGIN + SELECT on all,
 *              print "login ...", wait for a line; close all.
 *
 * Any unexpected reply, a failed handshake or certificate check, a timeout
 * or a FETCH with the wrong bytes is counted as an error by kind (with the
 * first example) in the JSON printed at the end: a broken server cannot look
 * fast. The password comes from --password-file, never the command line.
 *
 * Exit status: 0 when the run had no error, 1 otherwise, 2 on bad usage. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest reply line accepted. RFC 5321 4.5.3.1.5 allows 512 octets per SMTP
 * reply line; IMAP lines (RFC 3501) have no fixed limit, but nothing the
 * servers send before a literal (greeting, CAPABILITY, FLAGS) comes close. */
#define LINE_MAX_LEN 8192
/* Concurrent connections: the open-files limit here is 20,000. */
#define CONNS_MAX 20000
#define THREADS_MAX 16
/* Messages the imap mode can check (SELECT's EXISTS = this many at most). */
#define EXPECT_MAX 64
/* Largest message sent (smtp) or expected (imap): 1 MiB. */
#define MESSAGE_MAX (1 << 20)
/* Kinds of error kept apart in the report. */
#define ERR_KINDS_MAX 32
#define ERR_TEXT_MAX 200
/* No reply within this many seconds is an error (a stalled server). */
#define IO_TIMEOUT_S 60
/* After an error a slot waits this long before its next connection. */
#define RETRY_DELAY_MS 10
/* Longest Message-ID this tool makes ("<run>.<thread>.<slot>.<seq>@loadgen"). */
#define MSGID_MAX 160
#define NAME_MAX_LEN 256
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
/* idle mode: handshakes or logins in flight at once. */
#define IDLE_INFLIGHT_DEFAULT 64

enum mode { MODE_SMTP, MODE_HANDSHAKE, MODE_IMAP, MODE_IDLE };

enum state {
	ST_NONE,
	ST_SMTP_GREETING, ST_SMTP_EHLO1, ST_SMTP_STARTTLS, ST_SMTP_TLS,
	ST_SMTP_EHLO2, ST_SMTP_MAIL, ST_SMTP_RCPT, ST_SMTP_DATA, ST_SMTP_DOT,
	ST_SMTP_QUIT,
	ST_IMAP_TLS, ST_IMAP_GREETING, ST_IMAP_LOGIN, ST_IMAP_SELECT,
	ST_IMAP_FETCH, ST_IMAP_LITERAL, ST_IMAP_FETCH_TAIL, ST_IMAP_LOGOUT,
	ST_IDLE_OPEN, ST_IDLE_LOGGED_IN,
};

static const char *const state_names[] = {
	[ST_NONE] = "none",
	[ST_SMTP_GREETING] = "smtp greeting", [ST_SMTP_EHLO1] = "smtp EHLO",
	[ST_SMTP_STARTTLS] = "smtp STARTTLS", [ST_SMTP_TLS] = "smtp TLS handshake",
	[ST_SMTP_EHLO2] = "smtp EHLO after TLS", [ST_SMTP_MAIL] = "smtp MAIL",
	[ST_SMTP_RCPT] = "smtp RCPT", [ST_SMTP_DATA] = "smtp DATA",
	[ST_SMTP_DOT] = "smtp end of data", [ST_SMTP_QUIT] = "smtp QUIT",
	[ST_IMAP_TLS] = "imap TLS handshake", [ST_IMAP_GREETING] = "imap greeting",
	[ST_IMAP_LOGIN] = "imap LOGIN", [ST_IMAP_SELECT] = "imap SELECT",
	[ST_IMAP_FETCH] = "imap FETCH", [ST_IMAP_LITERAL] = "imap FETCH literal",
	[ST_IMAP_FETCH_TAIL] = "imap FETCH after the literal",
	[ST_IMAP_LOGOUT] = "imap LOGOUT", [ST_IDLE_OPEN] = "idle (before login)",
	[ST_IDLE_LOGGED_IN] = "idle (logged in)",
};

struct expect_msg {
	unsigned char *data;
	size_t len;
};

/* The run's settings: written by main() before any thread starts. */
static struct {
	enum mode mode;
	struct sockaddr_in addr;
	unsigned conns, threads, per_conn, size, inflight;
	double duration;
	uint64_t count;             /* 0: until the deadline */
	bool resume;
	const char *cafile, *tls_name, *ids_path;
	char rcpt[NAME_MAX_LEN], from[NAME_MAX_LEN], run_id[64];
	char user[NAME_MAX_LEN], password[NAME_MAX_LEN];
	struct expect_msg expect[EXPECT_MAX];
	unsigned n_expect;
	SSL_CTX *ssl_ctx;
	double t_start, t_end;      /* CLOCK_MONOTONIC seconds */
} cfg;

/* Operations begun so far, across threads (for --count). */
static atomic_uint_least64_t ops_begun;

struct err_kind {
	char kind[ERR_TEXT_MAX];
	char example[ERR_TEXT_MAX];
	uint64_t count;
};

struct stats {
	uint64_t ops, handshakes, resumed, acked, unknown;
	double *lat;                /* per-op latency, seconds */
	size_t n_lat, cap_lat;
	struct err_kind errs[ERR_KINDS_MAX];
	unsigned n_errs;
	uint64_t errors;
	char tls[128];              /* version and cipher of the first handshake */
};

struct worker;

struct slot {
	struct worker *w;
	unsigned idx;
	struct bufferevent *bev;
	enum state st;
	SSL_SESSION *sess;          /* the last session ticket, for --resume */
	double t_conn, t_op;
	unsigned msgs_in_conn;
	uint64_t seq;               /* messages this slot has sent */
	unsigned fetch_no, exists;
	size_t lit_len;
	bool fetch_ok, data_sent, done;
	char msgid[MSGID_MAX];
	struct event *retry;
};

struct worker {
	unsigned idx;
	struct event_base *base;
	pthread_t thread;
	struct slot *slots;
	unsigned n_slots, active;
	struct stats st;
	FILE *ids;                  /* open_memstream of "A id" / "U id" lines */
	char *ids_buf;
	size_t ids_len;
	char *filler;               /* message body after the headers */
	size_t filler_len;
	/* idle mode: the phase's connections in order, how many of them were
	 * started and how many reached the phase's goal or failed */
	struct slot **queue;
	enum state idle_phase;
	unsigned idle_target, idle_reached, idle_started;
};

static void slot_start(struct slot *s);
static void idle_next(struct worker *w);
static void imap_login(struct slot *s);
static void slot_fail(struct slot *s, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- statistics -------------------------------------------------------- */

static void stats_error(struct stats *st, const char *kind, const char *example)
{
	unsigned i;

	st->errors++;
	for (i = 0; i < st->n_errs; i++) {
		if (strcmp(st->errs[i].kind, kind) == 0) {
			st->errs[i].count++;
			return;
		}
	}
	if (i == ERR_KINDS_MAX)
		i = ERR_KINDS_MAX - 1;          /* the last kind collects the rest */
	else
		st->n_errs++;
	snprintf(st->errs[i].kind, sizeof(st->errs[i].kind), "%s", kind);
	snprintf(st->errs[i].example, sizeof(st->errs[i].example), "%s", example);
	st->errs[i].count++;
}

static void stats_latency(struct stats *st, double secs)
{
	if (st->n_lat == st->cap_lat) {
		st->cap_lat = st->cap_lat ? st->cap_lat * 2 : 4096;
		st->lat = realloc(st->lat, st->cap_lat * sizeof(*st->lat));
		if (st->lat == NULL)
			die("out of memory");
	}
	st->lat[st->n_lat++] = secs;
}

static void stats_merge(struct stats *into, const struct stats *from)
{
	into->ops += from->ops;
	into->handshakes += from->handshakes;
	into->resumed += from->resumed;
	into->acked += from->acked;
	into->unknown += from->unknown;
	for (size_t i = 0; i < from->n_lat; i++)
		stats_latency(into, from->lat[i]);
	for (unsigned i = 0; i < from->n_errs; i++) {
		for (uint64_t k = 0; k < from->errs[i].count; k++)
			stats_error(into, from->errs[i].kind, from->errs[i].example);
	}
	if (into->tls[0] == '\0')
		memcpy(into->tls, from->tls, sizeof(into->tls));
}

/* ---- run control ------------------------------------------------------- */

/* Reserve one operation; false when the run is over. An operation begun is
 * carried through: a slot reserves one before it connects, so no
 * connection is opened for nothing at the end of a run. */
static bool op_begin(void)
{
	if (cfg.count > 0)
		return atomic_fetch_add(&ops_begun, 1) < cfg.count;
	atomic_fetch_add(&ops_begun, 1);
	return now_s() < cfg.t_end;
}

static void slot_close(struct slot *s)
{
	if (s->bev != NULL) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		if (ssl != NULL) {
			/* Best effort close_notify, as a polite client sends. */
			SSL_shutdown(ssl);
			ERR_clear_error();
		}
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	s->st = ST_NONE;
}

static void slot_finish(struct slot *s)
{
	slot_close(s);
	if (!s->done) {
		s->done = true;
		if (--s->w->active == 0)
			event_base_loopexit(s->w->base, NULL);
	}
}

/* The operation ended (successfully or not): start the next one or stop. */
static void slot_next(struct slot *s)
{
	slot_close(s);
	if (cfg.mode == MODE_IDLE || !op_begin())
		slot_finish(s);
	else
		slot_start(s);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	slot_next(arg);
}

static void slot_fail(struct slot *s, const char *kind, const char *fmt, ...)
{
	char example[ERR_TEXT_MAX];
	struct timeval tv = { 0, RETRY_DELAY_MS * 1000 };
	bool parked = s->st == ST_IDLE_OPEN || s->st == ST_IDLE_LOGGED_IN;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(example, sizeof(example), fmt, ap);
	va_end(ap);
	stats_error(&s->w->st, kind, example);
	/* A message whose data went out has an unknown fate: it may have been
	 * delivered even though no 250 came. */
	if (s->data_sent && s->w->ids != NULL) {
		fprintf(s->w->ids, "U %s\n", s->msgid);
		s->w->st.unknown++;
	}
	s->data_sent = false;
	slot_close(s);
	if (cfg.mode == MODE_IDLE) {
		/* A parked connection that breaks is an error, not progress. */
		slot_finish(s);
		if (!parked)
			idle_next(s->w);
		return;
	}
	if (s->retry == NULL)
		s->retry = evtimer_new(s->w->base, retry_cb, s);
	evtimer_add(s->retry, &tv);
}

/* ---- connections ------------------------------------------------------- */

static void read_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

static int new_socket(void)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static SSL *new_ssl(struct slot *s)
{
	SSL *ssl = SSL_new(cfg.ssl_ctx);

	if (ssl == NULL)
		return NULL;
	SSL_set_app_data(ssl, s);
	SSL_set_tlsext_host_name(ssl, cfg.tls_name);
	SSL_set1_host(ssl, cfg.tls_name);
	if (cfg.resume && s->sess != NULL)
		SSL_set_session(ssl, s->sess);
	return ssl;
}

static void bev_setup(struct slot *s)
{
	struct timeval tmo = { IO_TIMEOUT_S, 0 };

	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	bufferevent_set_timeouts(s->bev, &tmo, &tmo);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* A new connection: plain for SMTP (STARTTLS later), TLS from the first
 * byte for IMAPS. */
static void slot_start(struct slot *s)
{
	int fd = new_socket();

	if (fd < 0) {
		slot_fail(s, "socket", "socket: %s", strerror(errno));
		return;
	}
	s->t_conn = s->t_op = now_s();
	s->msgs_in_conn = 0;
	if (cfg.mode == MODE_SMTP) {
		s->bev = bufferevent_socket_new(s->w->base, fd, BEV_OPT_CLOSE_ON_FREE);
		s->st = ST_SMTP_GREETING;
	} else {
		SSL *ssl = new_ssl(s);
		s->bev = ssl == NULL ? NULL :
			bufferevent_openssl_socket_new(s->w->base, fd, ssl,
						       BUFFEREVENT_SSL_CONNECTING,
						       BEV_OPT_CLOSE_ON_FREE);
		s->st = ST_IMAP_TLS;
	}
	if (s->bev == NULL) {
		close(fd);
		slot_fail(s, "socket", "cannot set up a connection");
		return;
	}
	bev_setup(s);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&cfg.addr,
				       sizeof(cfg.addr)) < 0)
		slot_fail(s, "connect", "connect: %s", strerror(errno));
}

/* STARTTLS accepted: the same socket goes on under TLS. */
static void smtp_upgrade(struct slot *s)
{
	int fd = bufferevent_getfd(s->bev);
	SSL *ssl;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		slot_fail(s, "smtp STARTTLS", "data after the 220 to STARTTLS");
		return;
	}
	/* Detach the socket from the plain bufferevent without closing it. */
	fd = dup(fd);
	bufferevent_free(s->bev);
	s->bev = NULL;
	ssl = fd < 0 ? NULL : new_ssl(s);
	if (ssl != NULL)
		s->bev = bufferevent_openssl_socket_new(s->w->base, fd, ssl,
							BUFFEREVENT_SSL_CONNECTING,
							BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		if (fd >= 0)
			close(fd);
		slot_fail(s, "smtp STARTTLS", "cannot start TLS");
		return;
	}
	s->st = ST_SMTP_TLS;
	bev_setup(s);
}

static void handshake_done(struct slot *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	struct stats *st = &s->w->st;

	st->handshakes++;
	if (SSL_session_reused(ssl))
		st->resumed++;
	if (st->tls[0] == '\0')
		snprintf(st->tls, sizeof(st->tls), "%s %s", SSL_get_version(ssl),
			 SSL_get_cipher_name(ssl));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct slot *s = arg;
	unsigned long e;
	char buf[ERR_TEXT_MAX] = "";

	if (what & BEV_EVENT_CONNECTED) {
		if (s->st == ST_SMTP_TLS) {
			handshake_done(s);
			s->st = ST_SMTP_EHLO2;
			evbuffer_add_printf(bufferevent_get_output(bev),
					    "EHLO loadgen.localhost\r\n");
		} else if (s->st == ST_IMAP_TLS) {
			handshake_done(s);
			s->st = ST_IMAP_GREETING;
		}
		return;
	}
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	if (what & BEV_EVENT_TIMEOUT)
		slot_fail(s, "timeout", "no reply in %d s (%s)", IO_TIMEOUT_S,
			  state_names[s->st]);
	else if (what & BEV_EVENT_EOF)
		slot_fail(s, "closed by the server", "in state %s", state_names[s->st]);
	else
		slot_fail(s, s->st == ST_IMAP_TLS || s->st == ST_SMTP_TLS ?
			  "TLS handshake" : "connection error", "%s: %s %s",
			  state_names[s->st], buf,
			  EVUTIL_SOCKET_ERROR() ? strerror(EVUTIL_SOCKET_ERROR()) : "");
}

/* Copy the next line (without CRLF) into buf; 1: a line, 0: none yet,
 * -1: too long (the slot has failed). */
static int next_line(struct slot *s, char *buf)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);

	if (p.pos < 0) {
		if (evbuffer_get_length(in) >= LINE_MAX_LEN) {
			slot_fail(s, "line too long", "%s", state_names[s->st]);
			return -1;
		}
		return 0;
	}
	if ((size_t)p.pos >= LINE_MAX_LEN) {
		slot_fail(s, "line too long", "%s", state_names[s->st]);
		return -1;
	}
	evbuffer_remove(in, buf, (size_t)p.pos);
	buf[p.pos] = '\0';
	evbuffer_drain(in, eol_len);
	return 1;
}

/* ---- SMTP -------------------------------------------------------------- */

static void smtp_send_message(struct slot *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	snprintf(s->msgid, sizeof(s->msgid), "%s.%u.%u.%llu@loadgen", cfg.run_id,
		 s->w->idx, s->idx, (unsigned long long)s->seq++);
	evbuffer_add_printf(out, "From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\n"
			    "Message-ID: <%s>\r\n\r\n", cfg.from, cfg.rcpt, s->msgid);
	/* The same filler (ending in CRLF.CRLF) for every message. */
	evbuffer_add_reference(out, s->w->filler, s->w->filler_len, NULL, NULL);
	s->data_sent = true;
}

/* The first message of a connection was reserved before it connected. */
static void smtp_begin_message(struct slot *s)
{
	if (s->msgs_in_conn >= cfg.per_conn ||
	    (s->msgs_in_conn > 0 && !op_begin())) {
		s->st = ST_SMTP_QUIT;
		evbuffer_add_printf(bufferevent_get_output(s->bev), "QUIT\r\n");
		return;
	}
	s->msgs_in_conn++;
	s->t_op = now_s();
	s->st = ST_SMTP_MAIL;
	/* PIPELINING (RFC 2920): the three commands in one write. */
	evbuffer_add_printf(bufferevent_get_output(s->bev),
			    "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n",
			    cfg.from, cfg.rcpt);
}

static void smtp_acked(struct slot *s)
{
	struct stats *st = &s->w->st;

	s->data_sent = false;
	st->ops++;
	st->acked++;
	stats_latency(st, now_s() - s->t_op);
	fprintf(s->w->ids, "A %s\n", s->msgid);
}

/* One complete reply (its last line) in the current state. */
static void smtp_reply(struct slot *s, int code, const char *line)
{
	static const int want[] = {
		[ST_SMTP_GREETING] = 220, [ST_SMTP_EHLO1] = 250,
		[ST_SMTP_STARTTLS] = 220, [ST_SMTP_EHLO2] = 250,
		[ST_SMTP_MAIL] = 250, [ST_SMTP_RCPT] = 250, [ST_SMTP_DATA] = 354,
		[ST_SMTP_DOT] = 250, [ST_SMTP_QUIT] = 221,
	};
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (s->st > ST_SMTP_QUIT || code != want[s->st]) {
		slot_fail(s, state_names[s->st], "unexpected reply: %.120s", line);
		return;
	}
	switch (s->st) {
	case ST_SMTP_GREETING:
		s->st = ST_SMTP_EHLO1;
		evbuffer_add_printf(out, "EHLO loadgen.localhost\r\n");
		break;
	case ST_SMTP_EHLO1:
		s->st = ST_SMTP_STARTTLS;
		evbuffer_add_printf(out, "STARTTLS\r\n");
		break;
	case ST_SMTP_STARTTLS:
		smtp_upgrade(s);
		break;
	case ST_SMTP_EHLO2:
		smtp_begin_message(s);
		break;
	case ST_SMTP_MAIL:
		s->st = ST_SMTP_RCPT;
		break;
	case ST_SMTP_RCPT:
		s->st = ST_SMTP_DATA;
		break;
	case ST_SMTP_DATA:
		s->st = ST_SMTP_DOT;
		smtp_send_message(s);
		break;
	case ST_SMTP_DOT:
		smtp_acked(s);
		smtp_begin_message(s);
		break;
	default:                 /* ST_SMTP_QUIT */
		slot_next(s);
		break;
	}
}

static void smtp_read(struct slot *s)
{
	char line[LINE_MAX_LEN];
	int r;

	while (s->bev != NULL && s->st != ST_SMTP_TLS &&
	       (r = next_line(s, line)) == 1) {
		size_t len = strlen(line);
		if (len < 3 || line[0] < '2' || line[0] > '5') {
			slot_fail(s, state_names[s->st], "malformed reply: %.120s", line);
			return;
		}
		if (len > 3 && line[3] == '-')
			continue;       /* a continuation line of a multi-line reply */
		smtp_reply(s, atoi(line), line);
	}
}

/* ---- IMAP -------------------------------------------------------------- */

static void imap_send(struct slot *s, enum state next, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void imap_send(struct slot *s, enum state next, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
	s->st = next;
}

static void imap_login(struct slot *s)
{
	struct timeval tmo = { IO_TIMEOUT_S, 0 };

	bufferevent_set_timeouts(s->bev, &tmo, &tmo);
	imap_send(s, ST_IMAP_LOGIN, "L LOGIN \"%s\" \"%s\"\r\n", cfg.user, cfg.password);
}

/* idle mode: start the next queued slot of the phase; false when none is
 * left. A slot closed while it waited its turn (an error, counted) is
 * skipped. */
static bool idle_launch(struct worker *w)
{
	while (w->idle_started < w->idle_target) {
		struct slot *nx = w->queue[w->idle_started++];
		nx->t_op = now_s();
		if (w->idle_phase == ST_IDLE_OPEN) {
			slot_start(nx);
			return true;
		}
		if (nx->bev != NULL) {
			imap_login(nx);
			return true;
		}
		w->idle_reached++;
	}
	return false;
}

/* One more connection reached the phase's goal or failed: keep --inflight
 * in progress; stop the loop when all are through. */
static void idle_next(struct worker *w)
{
	w->idle_reached++;
	idle_launch(w);
	if (w->idle_reached >= w->idle_target)
		event_base_loopbreak(w->base);
}

static void imap_idle_reached(struct slot *s, enum state parked)
{
	s->st = parked;
	/* Parked: the connection may stay silent for as long as it takes. */
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	stats_latency(&s->w->st, now_s() - s->t_op);
	s->w->st.ops++;
	idle_next(s->w);
}

/* A tagged reply ("L OK ...") to our command, in the current state. */
static void imap_tagged(struct slot *s, const char *line)
{
	if (strncmp(line + 2, "OK", 2) != 0) {
		slot_fail(s, state_names[s->st], "%.120s", line);
		return;
	}
	switch (s->st) {
	case ST_IMAP_LOGIN:
		imap_send(s, ST_IMAP_SELECT, "S SELECT INBOX\r\n");
		s->exists = UINT32_MAX;
		break;
	case ST_IMAP_SELECT:
		if (s->exists != cfg.n_expect) {
			slot_fail(s, "imap SELECT", "EXISTS %u, expected %u",
				  s->exists, cfg.n_expect);
			return;
		}
		if (cfg.mode == MODE_IDLE) {
			imap_idle_reached(s, ST_IDLE_LOGGED_IN);
			return;
		}
		s->fetch_no = 1 + (unsigned)(s->seq++ % cfg.n_expect);
		s->fetch_ok = false;
		imap_send(s, ST_IMAP_FETCH, "F FETCH %u BODY.PEEK[]\r\n", s->fetch_no);
		break;
	case ST_IMAP_FETCH:
		if (!s->fetch_ok) {
			slot_fail(s, "imap FETCH", "no BODY[] literal for message %u",
				  s->fetch_no);
			return;
		}
		imap_send(s, ST_IMAP_LOGOUT, "O LOGOUT\r\n");
		break;
	default:                 /* ST_IMAP_LOGOUT */
		s->w->st.ops++;
		stats_latency(&s->w->st, now_s() - s->t_op);
		slot_next(s);
		break;
	}
}

static void imap_greeting(struct slot *s, const char *line)
{
	if (strncmp(line, "* OK", 4) != 0) {
		slot_fail(s, "imap greeting", "%.120s", line);
		return;
	}
	if (cfg.mode == MODE_HANDSHAKE) {
		s->w->st.ops++;
		stats_latency(&s->w->st, now_s() - s->t_op);
		slot_next(s);
	} else if (cfg.mode == MODE_IDLE) {
		imap_idle_reached(s, ST_IDLE_OPEN);
	} else {
		imap_login(s);
	}
}

/* An untagged line; a FETCH line ending in {n} announces the literal. */
static void imap_untagged(struct slot *s, const char *line)
{
	unsigned n;
	int end = 0;
	const char *brace;

	/* "* 3 EXISTS" exactly (not "* 0 RECENT": %n proves the whole match). */
	if (s->st == ST_IMAP_SELECT && sscanf(line, "* %u EXISTS%n", &n, &end) == 1 &&
	    line[end] == '\0' && end > 0)
		s->exists = n;
	if (s->st != ST_IMAP_FETCH || strstr(line, " FETCH ") == NULL)
		return;
	brace = strrchr(line, '{');
	if (brace == NULL || line[strlen(line) - 1] != '}')
		return;
	if (sscanf(line, "* %u FETCH (%n", &n, &end) != 1 || end == 0 || n != s->fetch_no ||
	    strstr(line, "BODY[]") == NULL) {
		slot_fail(s, "imap FETCH", "unexpected: %.120s", line);
		return;
	}
	s->lit_len = strtoul(brace + 1, NULL, 10);
	s->st = ST_IMAP_LITERAL;
}

/* The FETCH literal is in the buffer: compare it with the message stored. */
static void imap_literal(struct slot *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	const struct expect_msg *m = &cfg.expect[s->fetch_no - 1];
	unsigned char *data;

	if (s->lit_len > MESSAGE_MAX) {
		slot_fail(s, "imap FETCH", "literal of %zu bytes", s->lit_len);
		return;
	}
	if (evbuffer_get_length(in) < s->lit_len)
		return;
	data = evbuffer_pullup(in, (ssize_t)s->lit_len);
	if (s->lit_len != m->len || memcmp(data, m->data, m->len) != 0) {
		slot_fail(s, "imap FETCH wrong bytes", "message %u: %zu bytes, "
			  "expected %zu", s->fetch_no, s->lit_len, m->len);
		return;
	}
	evbuffer_drain(in, s->lit_len);
	s->fetch_ok = true;
	s->st = ST_IMAP_FETCH_TAIL;
}

static void imap_read(struct slot *s)
{
	char line[LINE_MAX_LEN];
	int r;

	while (s->bev != NULL) {
		if (s->st == ST_IMAP_LITERAL) {
			imap_literal(s);
			if (s->st == ST_IMAP_LITERAL || s->bev == NULL)
				return;
		}
		if ((r = next_line(s, line)) != 1)
			return;
		if (s->st == ST_IMAP_GREETING)
			imap_greeting(s, line);
		else if (s->st == ST_IMAP_FETCH_TAIL)
			s->st = ST_IMAP_FETCH;  /* ")" ending the response; then "F OK" */
		else if (line[0] == '*')
			imap_untagged(s, line);
		else if (line[0] == '+' || line[1] != ' ')
			slot_fail(s, state_names[s->st], "unexpected: %.120s", line);
		else if (s->st == ST_IDLE_OPEN || s->st == ST_IDLE_LOGGED_IN)
			slot_fail(s, state_names[s->st], "unexpected: %.120s", line);
		else
			imap_tagged(s, line);
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct slot *s = arg;

	if (cfg.mode == MODE_SMTP)
		smtp_read(s);
	else
		imap_read(s);
}

/* ---- set-up -------------------------------------------------------------- */

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct slot *s = SSL_get_app_data(ssl);

	if (s == NULL)
		return 0;
	if (s->sess != NULL)
		SSL_SESSION_free(s->sess);
	s->sess = sess;          /* ours now: return 1 */
	return 1;
}

static void tls_setup(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		die("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* The TLS 1.3 suites in the order browsers offer them: a server that
	 * follows the client's order (Postfix, Dovecot) picks AES-128-GCM, as
	 * one that keeps its own does; all are measured on the same cipher. */
	if (SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1)
		die("SSL_CTX_set_ciphersuites failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, cfg.cafile, NULL) != 1)
		die("%s: cannot load the CA certificate", cfg.cafile);
	if (cfg.resume) {
		/* Each slot keeps the newest ticket it got (new_session_cb). */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
					       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	cfg.ssl_ctx = ctx;
}

static void *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(MESSAGE_MAX + 1);
	size_t n;

	if (f == NULL || buf == NULL)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, MESSAGE_MAX + 1, f);
	fclose(f);
	if (n > MESSAGE_MAX)
		die("%s: larger than %d bytes", path, MESSAGE_MAX);
	*len_r = n;
	return realloc(buf, n + 1);
}

static void read_password(const char *path)
{
	size_t len;
	char *buf = read_file(path, &len);
	char *nl = memchr(buf, '\n', len);

	if (nl != NULL)
		len = (size_t)(nl - buf);
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0 || len >= sizeof(cfg.password) ||
	    memchr(buf, '"', len) != NULL || memchr(buf, '\\', len) != NULL)
		die("%s: the password must be 1-%zu bytes without \" or \\", path,
		    sizeof(cfg.password) - 1);
	memcpy(cfg.password, buf, len);
	cfg.password[len] = '\0';
	free(buf);
}

/* The body after the headers: lines of 'x' up to --size bytes in all, then
 * the end-of-data mark. No line starts with '.', so no dot-stuffing. */
static void make_filler(struct worker *w)
{
	size_t want = cfg.size > 200 ? cfg.size - 200 : 64, i = 0;

	w->filler = malloc(want + 8);
	if (w->filler == NULL)
		die("out of memory");
	while (i + 78 <= want) {
		memset(w->filler + i, 'x', 76);
		memcpy(w->filler + i + 76, "\r\n", 2);
		i += 78;
	}
	memcpy(w->filler + i, ".\r\n", 3);
	w->filler_len = i + 3;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (unsigned i = 0; i < w->n_slots; i++) {
		if (op_begin())
			slot_start(&w->slots[i]);
		else
			slot_finish(&w->slots[i]);
	}
	if (w->active > 0)
		event_base_dispatch(w->base);
	return NULL;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: loadgen smtp|handshake|imap|idle --port P --cafile F [options]\n"
	      "  --host A            server address (127.0.0.1)\n"
	      "  --conns N           concurrent connections (10)\n"
	      "  --threads T         event loops (1; idle: 1)\n"
	      "  --duration S        seconds of load (5)  |  --count M  operations\n"
	      "  --tls-name NAME     SNI and certificate name (localhost)\n"
	      "  --resume            handshake: resume each slot's last session\n"
	      "  smtp: --per-conn K --size B --rcpt A --from A --run-id ID --ids FILE\n"
	      "  imap, idle: --user U --password-file F --expect FILE (repeat)\n"
	      "  idle: --inflight N  connections or logins in progress at once (64)\n",
	      stderr);
	exit(2);
}

static const struct option long_opts[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "conns", required_argument, NULL, 'n' },
	{ "threads", required_argument, NULL, 't' },
	{ "duration", required_argument, NULL, 'd' },
	{ "count", required_argument, NULL, 'c' },
	{ "cafile", required_argument, NULL, 'C' },
	{ "tls-name", required_argument, NULL, 'N' },
	{ "resume", no_argument, NULL, 'r' },
	{ "per-conn", required_argument, NULL, 'k' },
	{ "size", required_argument, NULL, 's' },
	{ "rcpt", required_argument, NULL, 'R' },
	{ "from", required_argument, NULL, 'F' },
	{ "run-id", required_argument, NULL, 'i' },
	{ "ids", required_argument, NULL, 'I' },
	{ "user", required_argument, NULL, 'u' },
	{ "password-file", required_argument, NULL, 'P' },
	{ "expect", required_argument, NULL, 'e' },
	{ "inflight", required_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};

static unsigned long num_arg(const char *name, const char *v, unsigned long lo,
			     unsigned long hi)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n < lo || n > hi)
		die("--%s %s: expected a number from %lu to %lu", name, v, lo, hi);
	return n;
}

static void copy_arg(char *dst, size_t size, const char *name, const char *v)
{
	if (strlen(v) >= size || strpbrk(v, "\r\n\"<>\\ ") != NULL)
		die("--%s: too long or holds a space, quote, <, >, CR or LF", name);
	strcpy(dst, v);
}

static void parse_one(int c, const char *v)
{
	size_t len;

	switch (c) {
	case 'H':
		if (inet_pton(AF_INET, v, &cfg.addr.sin_addr) != 1)
			die("--host %s: an IPv4 address", v);
		break;
	case 'p': cfg.addr.sin_port = htons((uint16_t)num_arg("port", v, 1, 65535)); break;
	case 'n': cfg.conns = (unsigned)num_arg("conns", v, 1, CONNS_MAX); break;
	case 't': cfg.threads = (unsigned)num_arg("threads", v, 1, THREADS_MAX); break;
	case 'd':
		cfg.duration = strtod(v, NULL);
		if (!(cfg.duration > 0 && cfg.duration < 86400))
			die("--duration %s: seconds, more than 0", v);
		break;
	case 'c': cfg.count = num_arg("count", v, 1, ULONG_MAX); break;
	case 'C': cfg.cafile = v; break;
	case 'N': cfg.tls_name = v; break;
	case 'r': cfg.resume = true; break;
	case 'k': cfg.per_conn = (unsigned)num_arg("per-conn", v, 1, 1000000); break;
	case 's': cfg.size = (unsigned)num_arg("size", v, 256, MESSAGE_MAX); break;
	case 'R': copy_arg(cfg.rcpt, sizeof(cfg.rcpt), "rcpt", v); break;
	case 'F': copy_arg(cfg.from, sizeof(cfg.from), "from", v); break;
	case 'i': copy_arg(cfg.run_id, sizeof(cfg.run_id), "run-id", v); break;
	case 'I': cfg.ids_path = v; break;
	case 'u': copy_arg(cfg.user, sizeof(cfg.user), "user", v); break;
	case 'P': read_password(v); break;
	case 'e':
		if (cfg.n_expect == EXPECT_MAX)
			die("at most %d --expect files", EXPECT_MAX);
		cfg.expect[cfg.n_expect].data = read_file(v, &len);
		cfg.expect[cfg.n_expect++].len = len;
		break;
	case 'f': cfg.inflight = (unsigned)num_arg("inflight", v, 1, CONNS_MAX); break;
	default: usage();
	}
}

static void parse_args(int argc, char **argv)
{
	static const char *const modes[] = { "smtp", "handshake", "imap", "idle" };
	int c;

	if (argc < 2)
		usage();
	for (c = 0; c < 4 && strcmp(argv[1], modes[c]) != 0; c++)
		;
	if (c == 4)
		usage();
	cfg.mode = (enum mode)c;
	cfg.addr.sin_family = AF_INET;
	cfg.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.conns = 10;
	cfg.threads = 1;
	cfg.duration = 5;
	cfg.per_conn = 1;
	cfg.size = 4096;
	cfg.inflight = IDLE_INFLIGHT_DEFAULT;
	cfg.tls_name = "localhost";
	optind = 2;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
		parse_one(c, optarg);
	if (optind != argc || cfg.addr.sin_port == 0 || cfg.cafile == NULL)
		usage();
	if (cfg.mode == MODE_SMTP && (!cfg.rcpt[0] || !cfg.from[0] || !cfg.run_id[0] ||
				      cfg.ids_path == NULL))
		die("smtp needs --rcpt, --from, --run-id and --ids");
	if ((cfg.mode == MODE_IMAP || cfg.mode == MODE_IDLE) &&
	    (!cfg.user[0] || !cfg.password[0] || cfg.n_expect == 0))
		die("imap and idle need --user, --password-file and --expect");
	if (cfg.mode == MODE_IDLE)
		cfg.threads = 1;
	if (cfg.threads > cfg.conns)
		cfg.threads = cfg.conns;
}

/* ---- the run ------------------------------------------------------------- */

static void worker_init(struct worker *w, unsigned idx, unsigned first, unsigned n)
{
	w->idx = idx;
	w->base = event_base_new();
	w->slots = calloc(n, sizeof(*w->slots));
	w->queue = calloc(n, sizeof(*w->queue));
	if (w->base == NULL || w->slots == NULL || w->queue == NULL)
		die("out of memory");
	w->n_slots = w->active = n;
	for (unsigned i = 0; i < n; i++) {
		w->slots[i].w = w;
		w->slots[i].idx = first + i;
		w->queue[i] = &w->slots[i];
	}
	if (cfg.mode == MODE_SMTP) {
		w->ids = open_memstream(&w->ids_buf, &w->ids_len);
		if (w->ids == NULL)
			die("out of memory");
		make_filler(w);
	}
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const struct stats *st, double q)
{
	size_t k = (size_t)(q / 100.0 * (double)st->n_lat);

	if (st->n_lat == 0)
		return 0.0;
	return st->lat[k >= st->n_lat ? st->n_lat - 1 : k];
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(struct stats *st, double wall, double cpu)
{
	static const char *const names[] = { "smtp", "handshake", "imap", "idle" };

	if (st->n_lat > 0)
		qsort(st->lat, st->n_lat, sizeof(*st->lat), cmp_double);
	printf("{\"mode\": \"%s\", \"conns\": %u, \"threads\": %u, \"ops\": %llu, "
	       "\"wall_s\": %.6f, \"ops_per_s\": %.3f, \"handshakes\": %llu, "
	       "\"resumed\": %llu, \"acked\": %llu, \"unknown\": %llu, "
	       "\"cpu_s\": %.6f, \"t_start\": %.6f, \"tls\": ",
	       names[cfg.mode], cfg.conns, cfg.threads, (unsigned long long)st->ops,
	       wall, wall > 0 ? (double)st->ops / wall : 0.0,
	       (unsigned long long)st->handshakes, (unsigned long long)st->resumed,
	       (unsigned long long)st->acked, (unsigned long long)st->unknown, cpu,
	       cfg.t_start);
	json_str(st->tls);
	printf(", \"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f, "
	       "\"n\": %zu}, \"error_count\": %llu, \"errors\": {",
	       1000 * pct(st, 50), 1000 * pct(st, 99),
	       st->n_lat ? 1000 * st->lat[st->n_lat - 1] : 0.0, st->n_lat,
	       (unsigned long long)st->errors);
	for (unsigned i = 0; i < st->n_errs; i++) {
		printf("%s", i ? ", " : "");
		json_str(st->errs[i].kind);
		printf(": {\"count\": %llu, \"example\": ",
		       (unsigned long long)st->errs[i].count);
		json_str(st->errs[i].example);
		putchar('}');
	}
	printf("}}\n");
	fflush(stdout);
}

static void write_ids(struct worker *ws, unsigned n)
{
	FILE *f = fopen(cfg.ids_path, "w");

	if (f == NULL)
		die("%s: %s", cfg.ids_path, strerror(errno));
	for (unsigned i = 0; i < n; i++) {
		fclose(ws[i].ids);
		fwrite(ws[i].ids_buf, 1, ws[i].ids_len, f);
		free(ws[i].ids_buf);
	}
	if (fclose(f) != 0)
		die("%s: %s", cfg.ids_path, strerror(errno));
}

/* Run one idle phase on the single worker: every queued slot is opened
 * (ST_IDLE_OPEN) or logged in (ST_IDLE_LOGGED_IN), --inflight at a time. */
static void idle_phase(struct worker *w, enum state phase, const char *word)
{
	unsigned n = 0, ok = 0;
	double t0 = now_s();
	uint64_t err0 = w->st.errors;

	for (unsigned i = 0; i < w->n_slots; i++) {
		if (phase == ST_IDLE_OPEN || w->slots[i].st == ST_IDLE_OPEN)
			w->queue[n++] = &w->slots[i];
	}
	w->idle_phase = phase;
	w->idle_target = n;
	w->idle_reached = 0;
	w->idle_started = 0;
	/* Start --inflight of them; each one through starts the next. */
	for (unsigned i = 0; i < cfg.inflight && idle_launch(w); i++)
		;
	if (w->idle_reached < n)
		event_base_dispatch(w->base);
	for (unsigned i = 0; i < w->n_slots; i++)
		ok += w->slots[i].st == phase;
	printf("%s %u errors %llu seconds %.3f\n", word, ok,
	       (unsigned long long)(w->st.errors - err0), now_s() - t0);
	fflush(stdout);
}

static void wait_line(void)
{
	char buf[64];

	if (fgets(buf, sizeof(buf), stdin) == NULL)
		die("stdin closed before the next phase");
}

static void run_idle(struct worker *w)
{
	idle_phase(w, ST_IDLE_OPEN, "open");
	wait_line();
	idle_phase(w, ST_IDLE_LOGGED_IN, "login");
	wait_line();
	/* Anything the server sent meanwhile (it should send nothing) is an
	 * error: e.g. a timeout that closed parked connections. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	for (unsigned i = 0; i < w->n_slots; i++)
		slot_close(&w->slots[i]);
}

static void run_load(struct worker *ws)
{
	for (unsigned i = 0; i < cfg.threads; i++) {
		if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) != 0)
			die("pthread_create: %s", strerror(errno));
	}
	for (unsigned i = 0; i < cfg.threads; i++)
		pthread_join(ws[i].thread, NULL);
}

/* Everything the run allocated, so that LeakSanitizer reports only real
 * leaks. */
static void workers_free(struct worker *ws, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws[i];
		for (unsigned k = 0; k < w->n_slots; k++) {
			struct slot *s = &w->slots[k];
			slot_close(s);
			if (s->sess != NULL)
				SSL_SESSION_free(s->sess);
			if (s->retry != NULL)
				event_free(s->retry);
		}
		free(w->slots);
		free(w->queue);
		free(w->filler);
		free(w->st.lat);
		event_base_free(w->base);
	}
	free(ws);
	for (unsigned i = 0; i < cfg.n_expect; i++)
		free(cfg.expect[i].data);
	SSL_CTX_free(cfg.ssl_ctx);
}

int main(int argc, char **argv)
{
	struct worker *ws;
	struct stats total = { 0 };
	double wall;

	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv);
	if (evthread_use_pthreads() < 0)
		die("libevent without thread support");
	tls_setup();
	ws = calloc(cfg.threads, sizeof(*ws));
	if (ws == NULL)
		die("out of memory");
	for (unsigned i = 0, first = 0; i < cfg.threads; i++) {
		unsigned n = cfg.conns / cfg.threads + (i < cfg.conns % cfg.threads);
		worker_init(&ws[i], i, first, n);
		first += n;
	}
	cfg.t_start = now_s();
	cfg.t_end = cfg.t_start + cfg.duration;
	if (cfg.mode == MODE_IDLE)
		run_idle(&ws[0]);
	else
		run_load(ws);
	wall = now_s() - cfg.t_start;
	for (unsigned i = 0; i < cfg.threads; i++)
		stats_merge(&total, &ws[i].st);
	if (cfg.mode == MODE_SMTP)
		write_ids(ws, cfg.threads);
	print_json(&total, wall, cpu_seconds());
	workers_free(ws, cfg.threads);
	free(total.lat);
	libevent_global_shutdown();
	return total.errors == 0 && total.ops > 0 ? 0 : 1;
}
