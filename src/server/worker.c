/* worker.c — a worker process: one event loop for thousands of sessions,
 * a thread pool for the disk, accepting on every listener until SIGTERM,
 * then a graceful stop. */
#include "server/server_private.h"
#include "net/jobs.h"
#include "net/listener.h"
#include "net/loop.h"
#include "net/session.h"
#include "net/tls.h"
#include "lib/log.h"

#include <event2/event.h>
#include <signal.h>
#include <time.h>

/* How often a stopping worker looks whether its sessions are gone. */
#define WORKER_STOP_POLL_MS 50

static void worker_stop_poll(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	if (!srv->forced && time(NULL) >= srv->stop_deadline) {
		log_info("shutdown grace over: closing %zu sessions", sessions_count());
		sessions_abort();
		srv->forced = true;
	}
	if (sessions_count() == 0 && jobs_in_flight() == 0)
		event_base_loopbreak(ev_base);
}

static void worker_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { 0, WORKER_STOP_POLL_MS * 1000 };

	if (srv->ev_stop_poll != NULL)
		return;
	listeners_stop(srv->listeners, srv->n_listeners);
	sessions_shutdown();
	srv->stop_deadline = time(NULL) + SESSION_SHUTDOWN_GRACE_SECS;
	srv->ev_stop_poll = event_new(ev_base, -1, EV_PERSIST, worker_stop_poll, srv);
	event_add(srv->ev_stop_poll, &tv);
}

int server_worker_main(struct server *srv)
{
	struct event *ev_term, *ev_int;
	const char *error;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A full stderr must never stall the loop (lib/log.h). */
	if (log_async_start(&error) < 0)
		log_warn("%s; writing log lines directly", error);
	ev_base = event_base_new();
	if (ev_base == NULL || jobs_init(ev_base, JOBS_THREADS, &error) < 0) {
		log_error("worker: cannot start: %s", ev_base ? error : "event base");
		log_flush(LOG_FLUSH_MS);
		return 1;
	}
	server_services_worker_init(config);
	ev_term = evsignal_new(ev_base, SIGTERM, worker_on_signal, srv);
	ev_int = evsignal_new(ev_base, SIGINT, worker_on_signal, srv);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	signal(SIGHUP, SIG_IGN);
	listeners_start(srv->listeners, srv->n_listeners, ev_base,
			server_proto_vfuncs, srv->tls_ctx);

	event_base_dispatch(ev_base);

	jobs_deinit();
	server_services_worker_deinit();
	listeners_free(&srv->listeners, srv->n_listeners);
	if (srv->ev_stop_poll != NULL)
		event_free(srv->ev_stop_poll);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(ev_base);
	ev_base = NULL;
	tls_ctx_unref(&srv->tls_ctx);
	log_flush(LOG_FLUSH_MS);
	return 0;
}
