/* certs.c — the master's certificate set: loaded at start, reloaded when
 * asked or when certs_dir changes, handed to the key holder (private keys)
 * and to every worker (certificates), and watched for expiry.
 *
 * A reload never makes things worse: each replacement pair is validated
 * before it is swapped in (pki_set_reload: key matches, dates valid, chain
 * ordered, usable for TLS servers, names still covered); a refused one
 * keeps the running pair, with one log line naming the file and the
 * reason. The key holder gets the new keys first, then the workers the new
 * certificates: a worker never asks for a key the key holder lacks. */
#include "server/server_private.h"
#include "server/ipc.h"
#include "server/keyd.h"
#include "server/tls_set.h"
#include "net/loop.h"
#include "pki/pki_set.h"
#include "lib/fsutil.h"
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

/* Findings go to the log, and the refusals of a reload to its report. */
struct finding_ctx {
	struct buf *report;
	unsigned errors;
};

static void log_finding(const struct pki_finding *f, void *context)
{
	struct finding_ctx *fc = context;

	if (f->severity == PKI_OK)
		return;
	if (f->severity == PKI_ERROR) {
		log_error("certificate %s: %s", f->file, f->text);
		if (fc != NULL) {
			fc->errors++;
			if (fc->report != NULL)
				buf_printf(fc->report, "error %s: %s\n", f->file, f->text);
		}
	} else {
		log_warn("certificate %s: %s", f->file, f->text);
		if (fc != NULL && fc->report != NULL)
			buf_printf(fc->report, "warning %s: %s\n", f->file, f->text);
	}
}

int server_certs_load(struct server *srv)
{
	struct pki_set *set;

	pki_set_load(srv->cfg, time(NULL), log_finding, NULL, &set);
	for (size_t i = 0; i < set->n_entries; i++) {
		if (set->entries[i].pair == NULL) {
			int rc = sp_print_error("%s", set->entries[i].error);
			pki_set_free(&set);
			return rc;
		}
	}
	pki_set_check(set, log_finding, NULL);
	srv->set = set;
	srv->expiry_logged = xcalloc(set->n_entries + 1, sizeof(*srv->expiry_logged));
	return 0;
}

int server_certs_to_keyd(struct server *srv, const char **error_r)
{
	EVP_PKEY **keys = xcalloc(srv->set->n_entries + 1, sizeof(*keys));
	size_t n = 0;

	for (size_t i = 0; i < srv->set->n_entries; i++) {
		if (srv->set->entries[i].pair != NULL)
			keys[n++] = srv->set->entries[i].pair->key;
	}
	int ret = keyd_set_keys(srv->keyd_ctl, keys, n, error_r);
	free(keys);
	return ret;
}

int server_certs_to_worker(struct server *srv, unsigned i, const char **error_r)
{
	struct buf b = { 0 };

	tls_set_encode(srv->set, srv->cfg, srv->tickets, &b);
	int ret = ipc_send(srv->workers[i].chan, IPC_TLS_SET, b.data, b.len, -1,
			   error_r);
	buf_free(&b);
	return ret;
}

/* The expiry steps logged so far, carried over to the entries of next by
 * name (a renewed pair resets its own through pki_expiry_due). */
static enum pki_expiry *carry_expiry(const struct server *srv,
				     const struct pki_set *next)
{
	enum pki_expiry *logged = xcalloc(next->n_entries + 1, sizeof(*logged));

	for (size_t i = 0; i < next->n_entries; i++) {
		size_t old;
		if (pki_set_find_entry(srv->set, next->entries[i].name, &old))
			logged[i] = srv->expiry_logged[old];
	}
	return logged;
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

int server_certs_reload(struct server *srv, const struct config *cfg,
			struct buf *report)
{
	struct finding_ctx fc = { .report = report };
	struct pki_set *next;
	const char *error;

	pki_set_load(cfg, time(NULL), NULL, NULL, &next);
	unsigned refused = pki_set_reload(next, srv->set, time(NULL), log_finding, &fc);
	size_t loaded = 0;
	for (size_t e = 0; e < next->groups[0].n_entries; e++)
		loaded += next->entries[next->groups[0].entries[e]].pair != NULL;
	if (loaded == 0) {
		log_error("reload: the default certificate cannot be served; "
			  "keeping every pair as it was");
		if (report != NULL)
			buf_printf(report, "error the default certificate cannot be served\n");
		pki_set_free(&next);
		return -1;
	}
	pki_set_check(next, log_finding, NULL);
	struct pki_set *old = srv->set;
	enum pki_expiry *old_logged = srv->expiry_logged;
	srv->expiry_logged = carry_expiry(srv, next);
	srv->set = next;
	if (server_certs_to_keyd(srv, &error) < 0) {
		log_error("reload: key holder: %s; keeping every pair as it was", error);
		if (report != NULL)
			buf_printf(report, "error key holder: %s\n", error);
		free(srv->expiry_logged);
		srv->set = old;
		srv->expiry_logged = old_logged;
		pki_set_free(&next);
		return -1;
	}
	certs_to_workers(srv);
	log_info("certificates reloaded pairs=%zu refused=%u", next->n_entries, refused);
	if (report != NULL)
		buf_printf(report, "ok certificates: %zu pairs served, %u replacements "
			   "refused\n", next->n_entries, refused);
	pki_set_free(&old);
	free(old_logged);
	server_certs_expiry(srv, time(NULL));
	return 0;
}

void server_certs_expiry(struct server *srv, time_t now)
{
	for (size_t i = 0; i < srv->set->n_entries; i++) {
		const struct pki_pair *p = srv->set->entries[i].pair;
		if (p != NULL)
			pki_expiry_due(p, now, &srv->expiry_logged[i], log_finding, NULL);
	}
}

/* ---- watching certs_dir ---------------------------------------------------- */

/* The newest change in certs_dir (the folder and its files), for the
 * periodic look when inotify is unavailable or missed something. */
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
		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, 0) < 0)
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
	srv->ev_watch = event_new(ev_base, srv->watch_fd,
				  EV_READ | EV_PERSIST, on_inotify, srv);
	event_add(srv->ev_watch, NULL);
}

/* From the master's tick: the periodic look. */
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
