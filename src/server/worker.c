/* worker.c — a worker process: one event loop for thousands of sessions,
 * a thread pool for the disk, accepting on every listener until SIGTERM,
 * then a graceful stop. It holds no private key (keyd.h) and runs as
 * `user`; the master sends it the certificate set at start and at every
 * reload, and new ticket keys when they rotate. */
#include "server/server_private.h"
#include "server/ipc.h"
#include "server/tls_set.h"
#include "net/jobs.h"
#include "net/listener.h"
#include "net/loop.h"
#include "net/session.h"
#include "net/tls.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a stopping worker looks whether its sessions are gone. */
#define WORKER_STOP_POLL_MS 50
/* The certificate set must arrive this soon after the fork. */
#define WORKER_SET_TIMEOUT_MS 10000

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

static void worker_stop(struct server *srv)
{
	struct timeval tv = { 0, WORKER_STOP_POLL_MS * 1000 };

	if (srv->ev_stop_poll != NULL)
		return;
	listeners_stop(srv->listeners, srv->n_listeners);
	sessions_shutdown();
	srv->stop_deadline = time(NULL) + SESSION_SHUTDOWN_GRACE_SECS;
	srv->ev_stop_poll = event_new(ev_base, -1, EV_PERSIST, worker_stop_poll, srv);
	event_add(srv->ev_stop_poll, &tv);
}

static void worker_on_signal(evutil_socket_t sig, short what, void *arg)
{
	worker_stop(arg);
}

/* New sessions get ctx; running ones keep the one they started with. */
static void apply_set(struct server *srv, const void *payload, size_t len)
{
	struct tls_ctx *ctx;
	const char *error;

	if (tls_set_decode(payload, len, srv->keyd_fd, &ctx, &error) < 0) {
		log_error("certificates from the master refused: %s; "
			  "serving the ones before", error);
		return;
	}
	listeners_set_tls(srv->listeners, srv->n_listeners, ctx);
	tls_ctx_unref(&ctx);
	log_info("certificates in service");
}

int server_child_setup(struct server *srv, const char *name)
{
	/* The master's event loop came along with the fork. Its descriptors
	 * are closed by now, so freeing it touches nothing of the master's,
	 * and libevent gives signals to this child's own loop. */
	if (ev_base != NULL)
		event_base_free(ev_base);
	ev_base = NULL;
	prctl(PR_SET_NAME, name);
	/* A child never outlives its master (who would restart it?). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		return -1;
	buf_free(&srv->pairs);   /* the master's copy; ours comes by message */
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (srv->drop && server_drop_privileges(srv->cfg, srv->uid, srv->gid) != 0)
		return -1;
	/* A full stderr must never stall the loop (lib/log.h). */
	const char *error;
	if (log_async_start(&error) < 0)
		log_warn("%s; writing log lines directly", error);
	return 0;
}

/* The config file again (a reload the master has validated): what cannot
 * change at run time stays as it is. The config before is freed at the
 * next reload: nothing holds on to it longer than a command. */
void server_child_reload(struct server *srv, const char *path)
{
	struct config *next;
	struct buf fixed = { 0 };
	const char *error;

	if (config_load(path, true, &next, &error) < 0) {
		log_error("reload: %s; keeping the config before", error);
		return;
	}
	config_carry_fixed(next, srv->cfg, &fixed);
	buf_free(&fixed);
	config_free(&srv->retired_cfg);
	srv->retired_cfg = srv->cfg;
	srv->cfg = next;
	config = next;
	log_set_level(next->log_level);
}

static void on_master(uint32_t type, const void *payload, size_t len, void *arg)
{
	struct server *srv = arg;
	char *path;

	switch (type) {
	case 0:
		log_error("the master is gone: stopping");
		worker_stop(srv);
		break;
	case IPC_TLS_SET:
		apply_set(srv, payload, len);
		break;
	case IPC_TICKET_KEYS:
		if (len == TLS_TICKET_KEYS_SIZE)
			listeners_set_ticket_keys(srv->listeners, srv->n_listeners, payload);
		break;
	case IPC_CONFIG_RELOAD:
		path = xstrndup(payload, len);
		server_child_reload(srv, path);
		free(path);
		break;
	default:
		log_warn("unknown message from the master type=%u", type);
		break;
	}
}

/* What the worker keeps of all the master held: its listeners and its two
 * channels. The rest (other workers' channels, the key holder's, the
 * control socket, the master's event loop) is closed. */
static void close_inherited(struct server *srv)
{
	int *keep = xcalloc(srv->n_listeners + 2, sizeof(*keep));

	for (size_t i = 0; i < srv->n_listeners; i++)
		keep[i] = listener_fd(srv->listeners, i);
	keep[srv->n_listeners] = srv->chan;
	keep[srv->n_listeners + 1] = srv->keyd_fd;
	fs_close_all_except(keep, srv->n_listeners + 2);
	free(keep);
}

/* The first certificate set, before anything is accepted. */
static int first_set(struct server *srv, struct tls_ctx **ctx_r)
{
	struct buf b = { 0 };
	uint32_t type;
	const char *error;
	int ret = -1;

	if (ipc_recv(srv->chan, &type, &b, NULL, WORKER_SET_TIMEOUT_MS, &error) < 0)
		log_error("worker: no certificates from the master: %s", error);
	else if (type != IPC_TLS_SET)
		log_error("worker: no certificates from the master");
	else if (tls_set_decode(b.data, b.len, srv->keyd_fd, ctx_r, &error) < 0)
		log_error("worker: %s", error);
	else
		ret = 0;
	if (ret == 0)
		log_info("certificates in service");
	buf_free(&b);
	return ret;
}

int server_worker_main(struct server *srv, unsigned index)
{
	struct event *ev_term, *ev_int;
	struct tls_ctx *ctx;
	const char *error;

	close_inherited(srv);
	if (server_child_setup(srv, "sealpost-worker") < 0)
		return 1;
	if (first_set(srv, &ctx) < 0) {
		log_flush(LOG_FLUSH_MS);
		return 1;
	}
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
	srv->chan_reader = ipc_reader_new(ev_base, srv->chan, on_master, srv);
	listeners_start(srv->listeners, srv->n_listeners, ev_base,
			server_proto_vfuncs, ctx);
	tls_ctx_unref(&ctx);

	event_base_dispatch(ev_base);

	jobs_deinit();
	server_services_worker_deinit();
	ipc_reader_free(&srv->chan_reader);
	listeners_free(&srv->listeners, srv->n_listeners);
	if (srv->ev_stop_poll != NULL)
		event_free(srv->ev_stop_poll);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(ev_base);
	ev_base = NULL;
	config = NULL;
	config_free(&srv->retired_cfg);
	config_free(&srv->cfg);
	log_flush(LOG_FLUSH_MS);
	return 0;
}
