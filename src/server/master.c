/* master.c — the master process of `sealpost serve`: load, bind, fork the
 * key holder and the workers, restart one that dies, reload on SIGHUP and
 * `sealpost reload`, rotate the ticket keys, and stop everything on
 * SIGTERM/SIGINT. It runs its own event loop and never talks to clients. */
#include "server/server_private.h"
#include "server/ipc.h"
#include "server/keyd.h"
#include "server/tls_set.h"
#include "auth/auth_cache.h"
#include "net/iptable.h"
#include "net/listener.h"
#include "net/loop.h"
#include "net/session.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(SERVER_MAX_WORKERS <= IPTABLE_WORKERS_MAX,
	       "the shared counters keep a column per worker");

static unsigned worker_count(const struct config *cfg)
{
	long n = cfg->workers > 0 ? (long)cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > SERVER_MAX_WORKERS ? SERVER_MAX_WORKERS : (unsigned)n;
}

/* ---- children ------------------------------------------------------------- */

static void close_chan(struct worker_slot *w)
{
	if (w->chan >= 0)
		close(w->chan);
	w->chan = -1;
}

/* Fork worker i with a channel to the master and one to the key holder;
 * the master then sends it the certificate set. */
static void spawn_worker(struct server *srv, unsigned i)
{
	struct worker_slot *w = &srv->workers[i];
	int sv[2], keyd_fd = -1;
	const char *error;

	if (keyd_new_channel(srv->keyd_ctl, &keyd_fd, &error) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker %u: %s", i, keyd_fd < 0 ? error : strerror(errno));
		if (keyd_fd >= 0)
			close(keyd_fd);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		srv->chan = sv[1];
		srv->keyd_fd = keyd_fd;
		iptable_set_worker(i);
		int rc = server_worker_main(srv, i);
		_exit(rc);
	}
	close(sv[1]);
	close(keyd_fd);
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(sv[0]);
		return;
	}
	w->pid = pid;
	w->chan = sv[0];
	if (server_certs_to_worker(srv, i, &error) < 0)
		log_error("worker pid=%d: %s", (int)pid, error);
}

static void signal_workers(const struct server *srv, int sig)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].pid > 0)
			kill(srv->workers[i].pid, sig);
	}
}

/* Every child that serves: the workers and the queue process. */
static void signal_children(const struct server *srv, int sig)
{
	signal_workers(srv, sig);
	if (srv->queue_pid > 0)
		kill(srv->queue_pid, sig);
}

/* Workers and the queue process still running. */
static unsigned workers_alive(const struct server *srv)
{
	unsigned n = srv->queue_pid > 0;
	for (unsigned i = 0; i < srv->n_workers; i++)
		n += srv->workers[i].pid > 0;
	return n;
}

static void begin_stop(struct server *srv, const char *why, int status)
{
	if (srv->stopping)
		return;
	log_info("stopping %s", why);
	srv->stopping = true;
	srv->exit_status = status;
	srv->kill_at = time(NULL) + SESSION_SHUTDOWN_GRACE_SECS + 5;
	signal_children(srv, SIGTERM);
	server_certs_unwatch(srv);
	server_control_close(srv);
}

/* The key holder and the workers' channels to it go together: a new key
 * holder gets the keys, and every worker is replaced (gracefully) so that
 * each gets a channel to it. */
static int start_keyd(struct server *srv)
{
	const char *error;

	if (keyd_spawn(&srv->keyd_pid, &srv->keyd_ctl, &error) < 0)
		return sp_print_error("%s", error);
	return server_certs_load(srv);
}

/* Too many deaths in a short time: stop rather than spin. */
static bool restart_allowed(struct server *srv)
{
	time_t now = time(NULL);

	if (now - srv->restarts > SERVER_RESTART_WINDOW_SECS) {
		srv->restarts = now;
		srv->n_restarts = 0;
	}
	if (++srv->n_restarts > SERVER_MAX_RESTARTS) {
		begin_stop(srv, "reason=\"children keep dying\"", 1);
		return false;
	}
	return true;
}

static void keyd_died(struct server *srv, int status)
{
	close(srv->keyd_ctl);
	srv->keyd_ctl = -1;
	srv->keyd_pid = 0;
	if (srv->stopping)
		return;
	log_error("key holder died status=%d; restarting it and the workers", status);
	if (!restart_allowed(srv))
		return;
	if (start_keyd(srv) != 0) {
		begin_stop(srv, "reason=\"no key holder\"", 1);
		return;
	}
	signal_workers(srv, SIGTERM);   /* each comes back with a new channel */
}

static void worker_died(struct server *srv, unsigned i, int status)
{
	struct worker_slot *w = &srv->workers[i];
	pid_t pid = w->pid;

	w->pid = 0;
	close_chan(w);
	if (srv->stopping)
		return;
	if (status != 0)
		log_error("worker pid=%d died status=%d; restarting", (int)pid, status);
	iptable_worker_gone(i);
	if (restart_allowed(srv))
		spawn_worker(srv, i);
}

static void reap(struct server *srv)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) :
			     128 + WTERMSIG(wstatus);
		if (pid == srv->keyd_pid) {
			keyd_died(srv, status);
			continue;
		}
		if (pid == srv->queue_pid) {
			server_queue_closed(srv);
			if (!srv->stopping && status != 0)
				log_error("queue process died status=%d; restarting", status);
			if (!srv->stopping && restart_allowed(srv))
				server_queue_spawn(srv);
			continue;
		}
		for (unsigned i = 0; i < srv->n_workers; i++) {
			if (srv->workers[i].pid == pid)
				worker_died(srv, i, status);
		}
	}
}

/* ---- events ---------------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	switch (sig) {
	case SIGCHLD:
		reap(srv);
		break;
	case SIGHUP:
		log_info("reload requested signal=HUP");
		server_reload(srv, false, NULL);
		break;
	default:
		begin_stop(srv, sig == SIGTERM ? "signal=TERM" : "signal=INT", 0);
		break;
	}
	if (srv->stopping && workers_alive(srv) == 0)
		event_base_loopbreak(ev_base);
}

static void rotate_tickets(struct server *srv, time_t now)
{
	const char *error;

	tls_set_rotate_tickets(srv->tickets);
	srv->tickets_rotated = now;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].pid > 0 &&
		    ipc_send(srv->workers[i].chan, IPC_TICKET_KEYS, srv->tickets,
			     sizeof(srv->tickets), -1, &error) < 0)
			log_error("worker pid=%d: %s", (int)srv->workers[i].pid, error);
	}
	log_info("session ticket keys rotated");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	time_t now = time(NULL);

	reap(srv);
	if (srv->stopping) {
		if (workers_alive(srv) == 0)
			event_base_loopbreak(ev_base);
		else if (now >= srv->kill_at)
			signal_children(srv, SIGKILL);
		return;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].pid == 0 && srv->keyd_pid > 0 && restart_allowed(srv))
			spawn_worker(srv, i);   /* a fork that failed before */
	}
	if (srv->queue_pid == 0 && restart_allowed(srv))
		server_queue_spawn(srv);
	if (srv->watch_fd < 0)
		server_certs_poll(srv);
	if (now - srv->tickets_rotated >= (time_t)srv->cfg->ticket_rotation)
		rotate_tickets(srv, now);
	if (now - srv->expiry_checked >= SERVER_EXPIRY_CHECK_SECS) {
		srv->expiry_checked = now;
		keyd_expiry(srv->keyd_ctl);
	}
}

static void master_events(struct server *srv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	/* A ticket rotation shorter than the tick (tests) sets the pace. */
	struct timeval tick = { srv->cfg->ticket_rotation < SERVER_TICK_SECS ?
				(time_t)srv->cfg->ticket_rotation : SERVER_TICK_SECS, 0 };

	for (size_t i = 0; i < N_ELEMENTS(sigs); i++) {
		srv->ev_signals[i] = evsignal_new(ev_base, sigs[i], on_signal, srv);
		event_add(srv->ev_signals[i], NULL);
	}
	srv->ev_tick = event_new(ev_base, -1, EV_PERSIST, on_tick, srv);
	event_add(srv->ev_tick, &tick);
}

static void master_events_free(struct server *srv)
{
	for (size_t i = 0; i < N_ELEMENTS(srv->ev_signals); i++) {
		if (srv->ev_signals[i] != NULL)
			event_free(srv->ev_signals[i]);
	}
	if (srv->ev_tick != NULL)
		event_free(srv->ev_tick);
}

/* ---- start and stop ---------------------------------------------------------- */

static int start(struct server *srv)
{
	struct config *cfg = srv->cfg;
	const char *error;

	server_raise_fd_limit(cfg);
	if (server_check_services(cfg) != 0 ||
	    server_lookup_user(cfg, &srv->uid, &srv->gid, &srv->drop) != 0 ||
	    server_prepare_dirs(cfg, srv->drop, srv->uid, srv->gid) != 0 ||
	    server_check_writable(cfg, srv->uid, srv->gid, srv->drop) != 0 ||
	    server_queue_check(cfg) != 0)
		return 1;
	if (listeners_bind(cfg, &srv->listeners, &srv->n_listeners, &error) < 0)
		return sp_print_error("%s", error);
	srv->n_workers = worker_count(cfg);
	if (iptable_init(cfg->max_connections, cfg->max_connections_per_ip,
			 srv->n_workers, &error) < 0 ||
	    auth_cache_init((unsigned)cfg->auth_cache_ttl, &error) < 0)
		return sp_print_error("%s", error);
	tls_set_rotate_tickets(srv->tickets);
	memset(srv->tickets + TLS_TICKET_KEY_SIZE, 0, TLS_TICKET_KEY_SIZE);
	srv->tickets_rotated = time(NULL);
	ev_base = event_base_new();
	if (ev_base == NULL)
		return sp_print_error("event base: %s", strerror(errno));
	if (start_keyd(srv) != 0)
		return 1;
	if (server_control_open(srv, &error) < 0)
		log_warn("control socket: %s (sealpost reload will not work; "
			 "SIGHUP does)", error);
	server_certs_watch(srv);
	srv->expiry_checked = time(NULL);   /* the load logged them */
	return 0;
}

static void stop(struct server *srv)
{
	master_events_free(srv);
	server_certs_unwatch(srv);
	server_control_close(srv);
	if (srv->keyd_pid > 0) {
		kill(srv->keyd_pid, SIGTERM);
		waitpid(srv->keyd_pid, NULL, 0);
	}
	if (srv->keyd_ctl >= 0)
		close(srv->keyd_ctl);
	for (unsigned i = 0; i < srv->n_workers; i++)
		close_chan(&srv->workers[i]);
	server_queue_closed(srv);
	listeners_free(&srv->listeners, srv->n_listeners);
	buf_free(&srv->pairs);
	OPENSSL_cleanse(srv->tickets, sizeof(srv->tickets));
	if (ev_base != NULL)
		event_base_free(ev_base);
	ev_base = NULL;
}

int server_run(struct config *cfg)
{
	struct server srv = { .cfg = cfg, .keyd_ctl = -1, .watch_fd = -1,
			      .control_fd = -1, .chan = -1, .keyd_fd = -1,
			      .queue_chan = -1 };
	const char *error;
	sigset_t set;
	int rc;

	config = cfg;
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < SERVER_MAX_WORKERS; i++)
		srv.workers[i].chan = -1;
	/* Signals wait for the loop (a child exiting before it runs). */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	rc = start(&srv);
	if (rc == 0) {
		/* From here on a full stderr never holds the master up. */
		if (log_async_start(&error) < 0)
			log_warn("%s; writing log lines directly", error);
		for (size_t i = 0; i < srv.n_listeners; i++)
			log_info("listening %s", listener_describe(srv.listeners, i));
		master_events(&srv);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		for (unsigned i = 0; i < srv.n_workers; i++)
			spawn_worker(&srv, i);
		server_queue_spawn(&srv);
		log_info("ready hostname=%s workers=%u", srv.cfg->hostname, srv.n_workers);
		event_base_dispatch(ev_base);
		rc = srv.exit_status;
		log_info("stopped");
	}
	stop(&srv);
	config = NULL;
	config_free(&srv.retired_cfg);
	config_free(&srv.cfg);
	log_flush(LOG_FLUSH_MS);
	return rc;
}
