/* queue_proc.c — the queue process: a child of the master like the
 * workers, running as `user`, that delivers the outbound queue on its own
 * event loop (outbound.h: DNS lookups and SMTP client sessions, disk work
 * on its thread pool). Workers only write queue files (queue.h); the
 * queue process sees them appear through inotify. The master hands it the
 * relayhost credentials (read with the master's privileges: the file is
 * mode 0600), config reloads and `sealpost queue flush`. */
#include "server/server_private.h"
#include "server/ipc.h"
#include "outbound/outbound.h"
#include "queue/queue.h"
#include "net/jobs.h"
#include "net/listener.h"
#include "net/loop.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How often a stopping queue process looks whether it is done. */
#define QUEUE_STOP_POLL_MS 50
/* The credentials message must arrive this soon after the fork. */
#define QUEUE_START_TIMEOUT_MS 10000
/* A delivery engine that could not start is tried again this often. */
#define QUEUE_START_RETRY_SECS 60

/* ---- the master's side ---------------------------------------------------- */

/* The IPC_QUEUE_AUTH payload: user NUL password, or nothing. */
static int auth_payload(const struct config *cfg, struct buf *b, const char **error_r)
{
	char *user, *pass;

	if (cfg->relay_auth_file == NULL)
		return 0;
	if (outbound_auth_read(cfg->relay_auth_file, &user, &pass, error_r) < 0)
		return -1;
	buf_append(b, user, strlen(user) + 1);
	buf_append(b, pass, strlen(pass));
	OPENSSL_cleanse(pass, strlen(pass));
	free(user);
	free(pass);
	return 0;
}

static void wipe(struct buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	buf_free(b);
}

int server_queue_check(const struct config *cfg)
{
	struct buf b = { 0 };
	const char *error;
	int rc = 0;

	if (auth_payload(cfg, &b, &error) < 0)
		rc = sp_print_error("%s", error);
	wipe(&b);
	return rc;
}

static int queue_main(struct server *srv);

void server_queue_spawn(struct server *srv)
{
	int sv[2];
	struct buf auth = { 0 };
	const char *error;

	if (auth_payload(srv->cfg, &auth, &error) < 0) {
		log_error("queue: %s; the relayhost gets no AUTH", error);
		wipe(&auth);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("queue process: %s", strerror(errno));
		wipe(&auth);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		wipe(&auth);
		close(sv[0]);
		srv->chan = sv[1];
		_exit(queue_main(srv));
	}
	close(sv[1]);
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(sv[0]);
		wipe(&auth);
		return;
	}
	srv->queue_pid = pid;
	srv->queue_chan = sv[0];
	if (ipc_send(sv[0], IPC_QUEUE_AUTH, auth.data, auth.len, -1, &error) < 0)
		log_error("queue process pid=%d: %s", (int)pid, error);
	wipe(&auth);
}

/* Send a message to the queue process (when it runs). */
static void queue_send(struct server *srv, uint32_t type, const void *data,
		       size_t len)
{
	const char *error;

	if (srv->queue_pid <= 0 || srv->queue_chan < 0)
		return;
	if (ipc_send(srv->queue_chan, type, data, len, -1, &error) < 0)
		log_error("queue process pid=%d: %s", (int)srv->queue_pid, error);
}

void server_queue_reload(struct server *srv, struct buf *report)
{
	struct buf auth = { 0 };
	const char *error;

	queue_send(srv, IPC_CONFIG_RELOAD, srv->cfg->path, strlen(srv->cfg->path));
	if (auth_payload(srv->cfg, &auth, &error) < 0) {
		log_error("reload: %s; the relayhost login stays as it was", error);
		if (report != NULL)
			buf_printf(report, "error %s; the relayhost login stays as "
				   "it was\n", error);
	} else {
		queue_send(srv, IPC_QUEUE_AUTH, auth.data, auth.len);
	}
	wipe(&auth);
}

int server_queue_flush(struct server *srv, const char *id)
{
	if (srv->queue_pid <= 0)
		return -1;
	queue_send(srv, IPC_QUEUE_FLUSH, id != NULL ? id : "", id != NULL ? strlen(id) : 0);
	return 0;
}

void server_queue_closed(struct server *srv)
{
	srv->queue_pid = 0;
	if (srv->queue_chan >= 0)
		close(srv->queue_chan);
	srv->queue_chan = -1;
}

/* ---- the queue process ------------------------------------------------------- */

struct queue_proc {
	struct server *srv;
	struct outbound *ob;          /* NULL: not started (yet) */
	struct event *ev_poll;
	struct event *ev_retry;       /* the next try to start */
	struct buf auth;              /* the last IPC_QUEUE_AUTH payload */
};

static void set_auth(struct outbound *ob, const void *payload, size_t len);

/* Start delivering. A failure (a trust anchor or ca_file that cannot be
 * read, no resolv.conf) leaves the queue waiting, not the server down:
 * the error is logged and the start tried again. */
static void start_outbound(struct queue_proc *qp)
{
	struct timeval tv = { QUEUE_START_RETRY_SECS, 0 };
	const char *error;

	if (qp->ob != NULL || qp->ev_poll != NULL)
		return;
	if (outbound_start(ev_base, config, &qp->ob, &error) < 0) {
		log_error("queue: cannot deliver: %s; outbound mail waits in the "
			  "queue (trying again in %d s, or at a reload)", error,
			  QUEUE_START_RETRY_SECS);
		event_add(qp->ev_retry, &tv);
		return;
	}
	set_auth(qp->ob, qp->auth.data, qp->auth.len);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	start_outbound(arg);
}

static void stop_poll(evutil_socket_t fd, short what, void *arg)
{
	struct queue_proc *qp = arg;

	if (qp->ob == NULL || outbound_stopped(qp->ob))
		event_base_loopbreak(ev_base);
}

static void queue_stop(struct queue_proc *qp)
{
	struct timeval tv = { 0, QUEUE_STOP_POLL_MS * 1000 };

	if (qp->ev_poll != NULL)
		return;
	log_info("queue: stopping");
	event_del(qp->ev_retry);
	if (qp->ob != NULL)
		outbound_stop(qp->ob);
	qp->ev_poll = event_new(ev_base, -1, EV_PERSIST, stop_poll, qp);
	event_add(qp->ev_poll, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	queue_stop(arg);
}

static void set_auth(struct outbound *ob, const void *payload, size_t len)
{
	const char *p = payload;
	const char *nul = len > 0 ? memchr(p, '\0', len) : NULL;

	if (nul == NULL) {
		outbound_set_auth(ob, NULL, NULL);
		return;
	}
	char *pass = xstrndup(nul + 1, len - (size_t)(nul + 1 - p));
	outbound_set_auth(ob, p, pass);
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
}

static void on_master(uint32_t type, const void *payload, size_t len, void *arg)
{
	struct queue_proc *qp = arg;
	const char *error;
	char *text;

	switch (type) {
	case 0:
		log_error("queue: the master is gone: stopping");
		queue_stop(qp);
		break;
	case IPC_CONFIG_RELOAD:
		text = xstrndup(payload, len);
		server_child_reload(qp->srv, text);
		free(text);
		if (qp->ob == NULL)
			start_outbound(qp);
		else if (outbound_reload(qp->ob, config, &error) < 0)
			log_error("queue: reload: %s; keeping the TLS settings before", error);
		break;
	case IPC_QUEUE_AUTH:
		wipe(&qp->auth);
		buf_append(&qp->auth, payload, len);
		if (qp->ob != NULL)
			set_auth(qp->ob, payload, len);
		break;
	case IPC_QUEUE_FLUSH:
		text = xstrndup(payload, len);
		if (qp->ob != NULL)
			outbound_flush(qp->ob, text[0] != '\0' ? text : NULL);
		else
			log_error("queue: flush: delivery is not running (see above)");
		free(text);
		break;
	default:
		log_warn("queue: unknown message from the master type=%u", type);
		break;
	}
}

/* What the master sent before anything runs: the relayhost login. */
static int first_message(struct server *srv, struct buf *b)
{
	uint32_t type;
	const char *error;

	if (ipc_recv(srv->chan, &type, b, NULL, QUEUE_START_TIMEOUT_MS, &error) < 0) {
		log_error("queue: nothing from the master: %s", error);
		return -1;
	}
	if (type != IPC_QUEUE_AUTH) {
		log_error("queue: unexpected first message type=%u", type);
		return -1;
	}
	return 0;
}

static int queue_main(struct server *srv)
{
	struct queue_proc qp = { .srv = srv };
	struct event *ev_term, *ev_int;
	struct ipc_reader *reader;
	const char *error;
	int keep[1] = { srv->chan };

	listeners_free(&srv->listeners, srv->n_listeners);
	fs_close_all_except(keep, 1);
	if (server_child_setup(srv, "sealpost-queue") < 0)
		return 1;
	if (first_message(srv, &qp.auth) < 0) {
		log_flush(LOG_FLUSH_MS);
		return 1;
	}
	ev_base = event_base_new();
	if (ev_base == NULL || jobs_init(ev_base, JOBS_THREADS, &error) < 0) {
		log_error("queue: cannot start: %s", ev_base ? error : "event base");
		wipe(&qp.auth);
		log_flush(LOG_FLUSH_MS);
		return 1;
	}
	qp.ev_retry = evtimer_new(ev_base, on_retry, &qp);
	start_outbound(&qp);
	ev_term = evsignal_new(ev_base, SIGTERM, on_signal, &qp);
	ev_int = evsignal_new(ev_base, SIGINT, on_signal, &qp);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	reader = ipc_reader_new(ev_base, srv->chan, on_master, &qp);

	event_base_dispatch(ev_base);

	jobs_deinit();
	ipc_reader_free(&reader);
	outbound_free(&qp.ob);
	wipe(&qp.auth);
	event_free(qp.ev_retry);
	if (qp.ev_poll != NULL)
		event_free(qp.ev_poll);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(ev_base);
	ev_base = NULL;
	config = NULL;
	config_free(&srv->retired_cfg);
	config_free(&srv->cfg);
	log_info("queue: stopped");
	log_flush(LOG_FLUSH_MS);
	return 0;
}
