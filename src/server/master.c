/* master.c — the master process of `sealpost serve`: load, bind, drop
 * privileges, fork the workers, restart one that dies, and stop them all on
 * SIGTERM/SIGINT. */
#include "server/server_private.h"
#include "auth/auth_cache.h"
#include "net/iptable.h"
#include "net/listener.h"
#include "net/session.h"
#include "net/tls.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(SERVER_MAX_WORKERS <= IPTABLE_WORKERS_MAX,
	       "the shared counters keep a column per worker");

/* ---- master ------------------------------------------------------------ */

static pid_t spawn_worker(struct server *srv, unsigned index)
{
	pid_t pid = fork();
	if (pid == 0) {
		iptable_set_worker(index);
		int rc = server_worker_main(srv);
		config_free((struct config **)&config);
		_exit(rc);
	}
	if (pid < 0)
		log_error("fork: %s", strerror(errno));
	return pid;
}

static unsigned worker_count(const struct config *cfg)
{
	long n = cfg->workers > 0 ? (long)cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > SERVER_MAX_WORKERS ? SERVER_MAX_WORKERS : (unsigned)n;
}

static bool reap(struct server *srv, bool stopping, time_t *restarts, int *n_restarts)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < srv->n_workers; i++) {
			if (srv->workers[i] != pid)
				continue;
			srv->workers[i] = 0;
			if (stopping)
				break;
			log_error("worker pid=%d died status=%d; restarting", (int)pid,
				  WIFEXITED(status) ? WEXITSTATUS(status) :
				  128 + WTERMSIG(status));
			time_t now = time(NULL);
			if (now - *restarts > SERVER_RESTART_WINDOW_SECS) {
				*restarts = now;
				*n_restarts = 0;
			}
			if (++*n_restarts > SERVER_MAX_RESTARTS) {
				log_error("workers keep dying: stopping");
				return false;
			}
			iptable_worker_gone(i);
			srv->workers[i] = spawn_worker(srv, i);
		}
	}
	return true;
}

static unsigned workers_alive(const struct server *srv)
{
	unsigned n = 0;
	for (unsigned i = 0; i < srv->n_workers; i++)
		n += srv->workers[i] > 0;
	return n;
}

static void signal_workers(const struct server *srv, int sig)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i] > 0)
			kill(srv->workers[i], sig);
	}
}

static int master_loop(struct server *srv, const sigset_t *set)
{
	bool stopping = false;
	time_t restarts = 0, kill_at = 0;
	int n_restarts = 0, rc = 0;
	struct timespec tick = { 1, 0 };

	for (;;) {
		siginfo_t info;
		int sig = sigtimedwait(set, &info, &tick);
		if (sig == SIGCHLD && !reap(srv, stopping, &restarts, &n_restarts)) {
			rc = 1;
			sig = SIGTERM;
		}
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			log_info("stopping signal=%s", sig == SIGTERM ? "TERM" : "INT");
			stopping = true;
			kill_at = time(NULL) + SESSION_SHUTDOWN_GRACE_SECS + 5;
			signal_workers(srv, SIGTERM);
		} else if (sig == SIGHUP) {
			log_warn("SIGHUP: configuration reload is not supported; "
				 "restart sealpost to apply changes");
		}
		if (stopping) {
			reap(srv, true, &restarts, &n_restarts);
			if (workers_alive(srv) == 0)
				break;
			if (time(NULL) >= kill_at)
				signal_workers(srv, SIGKILL);
		}
	}
	log_info("stopped");
	return rc;
}

static int start(struct config *cfg, struct server *srv)
{
	uid_t uid = 0;
	gid_t gid = 0;
	bool drop;
	const char *error;

	server_raise_fd_limit(cfg);
	if (server_check_services(cfg) != 0 || server_load_tls(cfg, srv) != 0 ||
	    server_lookup_user(cfg, &uid, &gid, &drop) != 0 ||
	    server_prepare_dirs(cfg, drop, uid, gid) != 0)
		return 1;
	if (listeners_bind(cfg, &srv->listeners, &srv->n_listeners, &error) < 0)
		return sp_print_error("%s", error);
	if (drop && server_drop_privileges(cfg, uid, gid) != 0)
		return 1;
	if (server_check_writable(cfg) != 0)
		return 1;
	srv->n_workers = worker_count(cfg);
	if (iptable_init(cfg->max_connections, cfg->max_connections_per_ip,
			 srv->n_workers, &error) < 0 ||
	    auth_cache_init((unsigned)cfg->auth_cache_ttl, &error) < 0)
		return sp_print_error("%s", error);
	return 0;
}

int server_run(struct config *cfg)
{
	struct server srv = { 0 };
	sigset_t set;
	int rc;

	config = cfg;
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	rc = start(cfg, &srv);
	if (rc == 0) {
		for (size_t i = 0; i < srv.n_listeners; i++)
			log_info("listening %s", listener_describe(srv.listeners, i));
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGCHLD);
		sigaddset(&set, SIGHUP);
		sigprocmask(SIG_BLOCK, &set, NULL);
		for (unsigned i = 0; i < srv.n_workers; i++)
			srv.workers[i] = spawn_worker(&srv, i);
		log_info("ready hostname=%s workers=%u", cfg->hostname, srv.n_workers);
		rc = master_loop(&srv, &set);
	}
	listeners_free(&srv.listeners, srv.n_listeners);
	tls_ctx_unref(&srv.tls_ctx);
	config = NULL;
	config_free(&cfg);
	return rc;
}
