/* server.c — master and worker processes. */
#include "net/server.h"
#include "net/iptable.h"
#include "net/jobs.h"
#include "net/listener.h"
#include "net/loop.h"
#include "net/session.h"
#include "net/tls.h"
#include "auth/auth.h"
#include "pki/pki.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"
#include "store/deliver.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct event_base *ev_base;

_Static_assert(SERVER_MAX_WORKERS <= IPTABLE_WORKERS_MAX,
	       "the shared counters keep a column per worker");

/* How often a stopping worker looks whether its sessions are gone. */
#define WORKER_STOP_POLL_MS 50

struct server {
	struct listener *listeners;
	size_t n_listeners;
	struct tls_ctx *tls_ctx;
	pid_t workers[SERVER_MAX_WORKERS];
	unsigned n_workers;
	/* worker side */
	struct event *ev_stop_poll;
	time_t stop_deadline;
	bool forced;
};

static const struct session_vfuncs *const proto_vfuncs[] = {
	[PROTO_SMTP] = &smtp_vfuncs,
	[PROTO_POP3] = &pop3_vfuncs,
	[PROTO_IMAP] = &imap_vfuncs,
};


static int check_services(const struct config *cfg)
{
	if (!config_any_listen(cfg))
		return sp_print_error("%s: [listen]: no service is listed; nothing to serve",
			    cfg->path);
	for (int s = 0; s < SERVICE_COUNT; s++) {
		if (cfg->n_listen[s] > 0 && proto_vfuncs[service_infos[s].proto] == NULL)
			return sp_print_error("%s: [listen] %s: %s is not part of this "
				    "sealpost version", cfg->path, service_infos[s].name,
				    proto_name(service_infos[s].proto));
	}
	if (cfg->n_domains == 0)
		return sp_print_error("%s: domains: no local domain is set", cfg->path);
	return 0;
}

/* Findings about the served pair go to the log; only a missing, unreadable
 * or mismatched pair (pki_pair_load) stops the start. */
static void log_finding(const struct pki_finding *f, void *context)
{
	if (f->severity == PKI_ERROR)
		log_error("certificate %s: %s", f->file, f->text);
	else if (f->severity == PKI_WARNING)
		log_warn("certificate %s: %s", f->file, f->text);
}

static int load_tls(const struct config *cfg, struct server *srv)
{
	struct pki_pair *pair;
	const char *error;

	if (pki_pair_load(cfg->certs_dir, cfg->certificate, &pair, &error) < 0)
		return sp_print_error("%s", error);
	pki_pair_check(pair, cfg->hostname, time(NULL), log_finding, NULL);
	if (tls_server_ctx_new(pair->cert, pair->chain, pair->key,
			       cfg->tls_min_version, &srv->tls_ctx, &error) < 0) {
		pki_pair_free(&pair);
		return sp_print_error("%s/%s.crt: %s", cfg->certs_dir, cfg->certificate, error);
	}
	pki_pair_free(&pair);
	return 0;
}

/* Started as root: resolve `user`; the caller drops to it later. */
static int lookup_user(const struct config *cfg, uid_t *uid_r, gid_t *gid_r,
		       bool *drop_r)
{
	*drop_r = false;
	if (geteuid() != 0) {
		if (cfg->user != NULL) {
			struct passwd *pw = getpwnam(cfg->user);
			if (pw == NULL || pw->pw_uid != geteuid())
				log_warn("user=%s ignored: not started as root",
					 cfg->user);
		}
		return 0;
	}
	if (cfg->user == NULL) {
		log_warn("running as root: set 'user' in %s to drop privileges",
			 cfg->path);
		return 0;
	}
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL)
		return sp_print_error("%s: user: no such user '%s'", cfg->path, cfg->user);
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	*drop_r = pw->pw_uid != 0;
	return 0;
}

static int drop_privileges(const struct config *cfg, uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return sp_print_error("user %s: cannot drop privileges: %s", cfg->user,
			    strerror(errno));
	if (setuid(0) == 0)
		return sp_print_error("user %s: privileges were not dropped", cfg->user);
	log_info("privileges dropped user=%s uid=%u", cfg->user, (unsigned)uid);
	return 0;
}

/* data_dir and its spool must exist and belong to the serving user. */
static int prepare_dirs(const struct config *cfg, bool drop, uid_t uid, gid_t gid)
{
	const char *error;
	char *spool = fs_join(cfg->data_dir, DELIVER_SPOOL_DIR);
	int ret = 0;

	if (fs_mkdir_p(spool, 0700, &error) < 0)
		ret = sp_print_error("data_dir: %s", error);
	else if (drop && (chown(cfg->data_dir, uid, gid) < 0 ||
			  chown(spool, uid, gid) < 0))
		ret = sp_print_error("data_dir: %s: %s", cfg->data_dir, strerror(errno));
	if (ret == 0)
		spool_cleanup(cfg->data_dir);
	free(spool);
	return ret;
}

static int check_writable(const struct config *cfg)
{
	char *spool = fs_join(cfg->data_dir, DELIVER_SPOOL_DIR);
	int ret = 0;
	if (access(spool, W_OK | X_OK) < 0)
		ret = sp_print_error("data_dir: %s: not writable by the serving user: %s",
			   spool, strerror(errno));
	free(spool);
	return ret;
}

/* ---- worker ------------------------------------------------------------ */

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

static int worker_main(struct server *srv)
{
	struct event *ev_term, *ev_int;
	const char *error;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	ev_base = event_base_new();
	if (ev_base == NULL || jobs_init(ev_base, JOBS_THREADS, &error) < 0) {
		log_error("worker: cannot start: %s", ev_base ? error : "event base");
		return 1;
	}
	if (auth_init(config->data_dir, &error) < 0)
		log_error("users: %s", error);   /* retried at each lookup */
	ev_term = evsignal_new(ev_base, SIGTERM, worker_on_signal, srv);
	ev_int = evsignal_new(ev_base, SIGINT, worker_on_signal, srv);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	signal(SIGHUP, SIG_IGN);
	listeners_start(srv->listeners, srv->n_listeners, ev_base, proto_vfuncs,
			srv->tls_ctx);

	event_base_dispatch(ev_base);

	jobs_deinit();
	auth_deinit();
	listeners_free(&srv->listeners, srv->n_listeners);
	if (srv->ev_stop_poll != NULL)
		event_free(srv->ev_stop_poll);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(ev_base);
	ev_base = NULL;
	tls_ctx_unref(&srv->tls_ctx);
	return 0;
}

/* ---- master ------------------------------------------------------------ */

static pid_t spawn_worker(struct server *srv, unsigned index)
{
	pid_t pid = fork();
	if (pid == 0) {
		iptable_set_worker(index);
		int rc = worker_main(srv);
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

/* Each connection is a descriptor: take the hard limit, and say when it
 * cannot hold max_connections (plus listeners, pool, files in use). */
static void raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < cfg->max_connections + SERVER_FD_RESERVE)
		log_warn("open files limit %llu is below max_connections=%llu "
			 "(+%d); raise it (LimitNOFILE, ulimit -n)",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)cfg->max_connections, SERVER_FD_RESERVE);
}

static int start(struct config *cfg, struct server *srv)
{
	uid_t uid = 0;
	gid_t gid = 0;
	bool drop;
	const char *error;

	raise_fd_limit(cfg);
	if (check_services(cfg) != 0 || load_tls(cfg, srv) != 0 ||
	    lookup_user(cfg, &uid, &gid, &drop) != 0 ||
	    prepare_dirs(cfg, drop, uid, gid) != 0)
		return 1;
	if (listeners_bind(cfg, &srv->listeners, &srv->n_listeners, &error) < 0)
		return sp_print_error("%s", error);
	if (drop && drop_privileges(cfg, uid, gid) != 0)
		return 1;
	if (check_writable(cfg) != 0)
		return 1;
	srv->n_workers = worker_count(cfg);
	if (iptable_init(cfg->max_connections, cfg->max_connections_per_ip,
			 srv->n_workers, &error) < 0)
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
