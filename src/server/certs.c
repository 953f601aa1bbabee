/* certs.c — the certificate set in service: loaded at start and reloaded
 * (when asked, or when certs_dir changes) by the key holder, which alone
 * reads private keys (keyd.h); relayed from it to every worker; certs_dir
 * watched for changes.
 *
 * A reload never makes things worse: the key holder validates each
 * replacement pair before it takes it (key matches, dates valid, chain
 * ordered, usable for TLS servers, names still covered); a refused one
 * keeps the running pair, with one log line naming the file and the
 * reason. The key holder has the new keys before any worker has the new
 * certificates: a worker never asks for a key the key holder lacks. */
#include "server/server_private.h"
#include "server/ipc.h"
#include "server/keyd.h"
#include "server/tls_set.h"
#include "net/loop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* A change in certs_dir is acted on once the folder has been quiet this
 * long (a renewal tool writes the key, then the certificate). */
#define CERTS_SETTLE_MS 1000

int server_certs_load(struct server *srv)
{
	const char *error;

	if (keyd_load(srv->keyd_ctl, KEYD_LOAD_START, srv->cfg->path, &srv->pairs,
		      NULL, &error) < 0)
		return sp_print_error("%s", error);
	return 0;
}

int server_certs_to_worker(struct server *srv, unsigned i, const char **error_r)
{
	struct buf b = { 0 };

	tls_set_message(srv->cfg->tls_min_version, srv->tickets, &srv->pairs, &b);
	int ret = ipc_send(srv->workers[i].chan, IPC_TLS_SET, b.data, b.len, -1,
			   error_r);
	buf_free(&b);
	return ret;
}

/* Every worker gets the set in service. */
static void certs_to_workers(struct server *srv)
{
	const char *error;

	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].pid > 0 && srv->workers[i].chan >= 0 &&
		    server_certs_to_worker(srv, i, &error) < 0)
			log_error("worker pid=%d: %s", (int)srv->workers[i].pid, error);
	}
}

int server_certs_reload(struct server *srv, const char *path, struct buf *report)
{
	struct buf pairs = { 0 };
	const char *error;

	if (keyd_load(srv->keyd_ctl, KEYD_LOAD_RELOAD, path, &pairs, report,
		      &error) < 0) {
		log_error("reload: certificates: %s", error);
		if (report != NULL)
			buf_printf(report, "error %s\n", error);
		buf_free(&pairs);
		return -1;
	}
	buf_free(&srv->pairs);
	srv->pairs = pairs;
	certs_to_workers(srv);
	log_info("certificates reloaded");
	if (report != NULL)
		buf_printf(report, "ok certificates reloaded\n");
	return 0;
}

/* ---- watching certs_dir ---------------------------------------------------- */

/* The newest change in certs_dir (the folder and its files), for the
 * periodic look when inotify is unavailable. */
static time_t certs_stamp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	time_t newest = 0;

	if (d == NULL)
		return 0;
	if (fstat(dirfd(d), &st) == 0)
		newest = st.st_mtime > st.st_ctime ? st.st_mtime : st.st_ctime;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
			continue;
		if (st.st_mtime > newest)
			newest = st.st_mtime;
		if (st.st_ctime > newest)
			newest = st.st_ctime;
	}
	closedir(d);
	return newest;
}

static void settle_later(struct server *srv)
{
	struct timeval tv = { CERTS_SETTLE_MS / 1000, (CERTS_SETTLE_MS % 1000) * 1000 };
	event_add(srv->ev_reload, &tv);   /* re-adding pushes it back */
}

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	srv->certs_stamp = certs_stamp(srv->cfg->certs_dir);
	log_info("certs_dir changed: reloading certificates");
	server_reload(srv, true, NULL);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	settle_later(arg);
}

void server_certs_watch(struct server *srv)
{
	srv->certs_stamp = certs_stamp(srv->cfg->certs_dir);
	srv->ev_reload = evtimer_new(ev_base, on_settled, srv);
	srv->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (srv->watch_fd >= 0 &&
	    inotify_add_watch(srv->watch_fd, srv->cfg->certs_dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
			      IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
		close(srv->watch_fd);
		srv->watch_fd = -1;
	}
	if (srv->watch_fd < 0) {
		log_warn("certs_dir %s: inotify unavailable (%s); looking every "
			 "%d s instead", srv->cfg->certs_dir, strerror(errno),
			 SERVER_TICK_SECS);
		return;
	}
	srv->ev_watch = event_new(ev_base, srv->watch_fd, EV_READ | EV_PERSIST,
				  on_inotify, srv);
	event_add(srv->ev_watch, NULL);
}

void server_certs_poll(struct server *srv)
{
	time_t stamp = certs_stamp(srv->cfg->certs_dir);
	if (stamp != srv->certs_stamp) {
		srv->certs_stamp = stamp;
		settle_later(srv);
	}
}

void server_certs_unwatch(struct server *srv)
{
	if (srv->ev_watch != NULL)
		event_free(srv->ev_watch);
	srv->ev_watch = NULL;
	if (srv->watch_fd >= 0)
		close(srv->watch_fd);
	srv->watch_fd = -1;
	if (srv->ev_reload != NULL)
		event_free(srv->ev_reload);
	srv->ev_reload = NULL;
}
