/* session_deadline.c — line, login and data-rate deadlines of a session
 * (session_deadline.h). */
#include "net/session_deadline.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/session.h"
#include "lib/util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdint.h>
#include <time.h>

struct session_deadlines {
	struct event *ev;           /* at the earliest of the times below */
	uint64_t line_at;           /* monotonic ms; 0: not set */
	uint64_t login_at;
	uint64_t rate_at;           /* end of the grace or of a window */
	bool rate_grace;            /* rate_at ends the grace */
	uint64_t rate_bytes;        /* received in the current window */
	size_t in_seen;             /* input length at the last look */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void consider(uint64_t at, uint64_t *next)
{
	if (at != 0 && (*next == 0 || at < *next))
		*next = at;
}

/* (Re)arm the timer for the earliest deadline, or stop it. */
static void schedule(struct session *s)
{
	struct session_deadlines *d = s->deadlines;
	uint64_t next = 0, now;

	consider(d->line_at, &next);
	consider(d->login_at, &next);
	consider(d->rate_at, &next);
	if (next == 0 || s->closing) {
		event_del(d->ev);
		return;
	}
	now = now_ms();
	uint64_t wait = next > now ? next - now : 0;
	struct timeval tv = { (time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000 };
	event_add(d->ev, &tv);
}

/* The rate window (or the grace) is over. False if the session ended. */
static bool rate_window_over(struct session *s, uint64_t now)
{
	struct session_deadlines *d = s->deadlines;
	uint64_t need = config->data_min_rate * config->data_rate_window;
	/* Unconsumed input means the server, not the client, was behind. */
	bool held_back = s->suspended ||
			 evbuffer_get_length(conn_input(s->conn)) > 0;

	if (!d->rate_grace && d->rate_bytes < need && !held_back) {
		session_log(s, LOG_LEVEL_INFO, "too slow bytes=%llu window=%llus "
			    "min_rate=%llu", (unsigned long long)d->rate_bytes,
			    (unsigned long long)config->data_rate_window,
			    (unsigned long long)config->data_min_rate);
		session_bye_and_close(s, SESSION_BYE_TOO_SLOW);
		return false;
	}
	d->rate_grace = false;
	d->rate_bytes = 0;
	d->rate_at = now + config->data_rate_window * 1000;
	return true;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct session_deadlines *d = s->deadlines;
	uint64_t now = now_ms();

	if (s->closing)
		return;
	if (d->login_at != 0 && now >= d->login_at) {
		session_log(s, LOG_LEVEL_INFO, "timeout what=login after=%llus",
			    (unsigned long long)config->login_timeout);
		session_bye_and_close(s, SESSION_BYE_LOGIN_TIMEOUT);
		return;
	}
	if (d->line_at != 0 && now >= d->line_at) {
		/* A full input buffer is not read from: the server is behind. */
		if (evbuffer_get_length(conn_input(s->conn)) >= CONN_INPUT_MAX) {
			d->line_at = now + (uint64_t)s->timeout_secs * 1000;
		} else {
			session_log(s, LOG_LEVEL_INFO, "timeout what=line after=%us",
				    s->timeout_secs);
			session_bye_and_close(s, SESSION_BYE_TIMEOUT);
			return;
		}
	}
	if (d->rate_at != 0 && now >= d->rate_at && !rate_window_over(s, now))
		return;
	schedule(s);
}

void session_deadlines_new(struct session *s)
{
	struct session_deadlines *d = xcalloc(1, sizeof(*d));

	d->ev = evtimer_new(ev_base, on_deadline, s);
	if (d->ev == NULL)
		abort(); /* out of memory */
	s->deadlines = d;
	if (config->login_timeout > 0) {
		d->login_at = now_ms() + config->login_timeout * 1000;
		schedule(s);
	}
}

void session_deadlines_free(struct session *s)
{
	if (s->deadlines == NULL)
		return;
	event_free(s->deadlines->ev);
	x_free(&s->deadlines);
}

void session_login_done(struct session *s)
{
	if (s->deadlines->login_at == 0)
		return;
	s->deadlines->login_at = 0;
	schedule(s);
}

void session_deadlines_input(struct session *s)
{
	struct session_deadlines *d = s->deadlines;
	struct evbuffer *in = conn_input(s->conn);
	size_t len = evbuffer_get_length(in);
	size_t fresh = len > d->in_seen ? len - d->in_seen : 0;

	if (s->raw_mode && !d->rate_grace)
		d->rate_bytes += fresh;
	/* A line end among the new bytes finished the line the deadline
	 * was for: what follows it is a new line, with a time of its own
	 * (set by session_deadlines_after_input). */
	if (d->line_at != 0 && fresh > 0) {
		struct evbuffer_ptr from;
		evbuffer_ptr_set(in, &from, d->in_seen < len ? d->in_seen : 0,
				 EVBUFFER_PTR_SET);
		if (evbuffer_search(in, "\n", 1, &from).pos >= 0)
			d->line_at = 0;
	}
	d->in_seen = len;
}

/* Is the last line of in unfinished? */
static bool partial_line(const struct session *s, struct evbuffer *in, size_t len)
{
	struct evbuffer_ptr last;
	char c = 0;

	if (s->skipping_line)
		return true;
	if (len == 0)
		return false;
	evbuffer_ptr_set(in, &last, len - 1, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &last, &c, 1);
	return c != '\n';
}

void session_deadlines_after_input(struct session *s)
{
	struct session_deadlines *d = s->deadlines;
	struct evbuffer *in = conn_input(s->conn);
	size_t len = evbuffer_get_length(in);
	bool partial = !s->closing && !s->raw_mode && s->timeout_secs > 0 &&
		       partial_line(s, in, len);

	d->in_seen = len;
	if (partial == (d->line_at != 0))
		return;
	d->line_at = partial ? now_ms() + (uint64_t)s->timeout_secs * 1000 : 0;
	schedule(s);
}

void session_deadlines_raw(struct session *s, bool raw)
{
	struct session_deadlines *d = s->deadlines;

	d->line_at = 0;
	d->rate_at = 0;
	d->rate_bytes = 0;
	if (raw && config->data_min_rate > 0) {
		d->rate_grace = true;
		d->rate_at = now_ms() + config->data_rate_grace * 1000;
	}
	schedule(s);
}
