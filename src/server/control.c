/* control.c — the control socket of a running server, and the reload.
 *
 * data_dir/sealpost.control is a Unix socket of the master, mode 0600 (the
 * administrator, and the future web admin, talk to it). A client sends one
 * command line and reads the answer: lines "ok ...", "warning ...",
 * "error ...", then "done 0" (applied) or "done 1" (something refused:
 * the config, or a pair whose running one keeps serving).
 *
 *   reload     the same as SIGHUP: the config file again; what can change
 *              at run time changes (certificates and [sni], [tls], limits,
 *              domains, hostname, log_level), what cannot ([listen], user,
 *              data_dir, workers) is reported as needing a restart.
 *   queue flush [ID]
 *              the queue process tries every deferred message now (or the
 *              one ID); the answer says it was told, not how it went. */
#include "server/server_private.h"
#include "server/ipc.h"
#include "queue/queue.h"
#include "net/loop.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A control client must send its line within this long. */
#define CONTROL_READ_TIMEOUT_SECS 2

/* Every worker re-reads the config file it is told (IPC_CONFIG_RELOAD). */
static void config_to_workers(struct server *srv)
{
	const char *error;

	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].pid <= 0 || srv->workers[i].chan < 0)
			continue;
		if (ipc_send(srv->workers[i].chan, IPC_CONFIG_RELOAD, srv->cfg->path,
			     strlen(srv->cfg->path), -1, &error) < 0)
			log_error("worker pid=%d: %s", (int)srv->workers[i].pid, error);
	}
}

/* The new config is taken first (what it changes at run time applies even
 * when a pair is refused); then the certificates, which also carry the
 * new [tls] policy to the workers; then the workers re-read the file. */
static int reload_config(struct server *srv, struct buf *report)
{
	struct config *next;
	struct buf fixed = { 0 };
	const char *error;

	if (config_load(srv->cfg->path, true, &next, &error) < 0) {
		log_error("reload: %s; nothing changed", error);
		if (report != NULL)
			buf_printf(report, "error %s\n", error);
		return -1;
	}
	config_carry_fixed(next, srv->cfg, &fixed);
	if (fixed.len > 0) {
		log_warn("reload: %s changed: restart sealpost to apply", fixed.data);
		if (report != NULL)
			buf_printf(report, "warning %s changed: restart sealpost to "
				   "apply\n", fixed.data);
	}
	buf_free(&fixed);
	config_free(&srv->retired_cfg);   /* nothing refers to it any more */
	srv->retired_cfg = srv->cfg;
	srv->cfg = next;
	config = next;
	log_set_level(next->log_level);
	int ret = server_certs_reload(srv, next->path, report);
	config_to_workers(srv);
	server_queue_reload(srv, report);
	log_info("reloaded config=%s", next->path);
	if (report != NULL)
		buf_printf(report, "ok config %s reloaded\n", next->path);
	return ret;
}

int server_reload(struct server *srv, bool certs_only, struct buf *report)
{
	if (srv->stopping)
		return -1;
	if (certs_only)
		return server_certs_reload(srv, srv->cfg->path, report);
	return reload_config(srv, report);
}

static int queue_flush(struct server *srv, const char *id, struct buf *out)
{
	if (id != NULL && !queue_id_valid(id)) {
		buf_printf(out, "error '%s' is not a queue id\n", log_value(id));
		return 1;
	}
	if (srv->stopping || server_queue_flush(srv, id) < 0) {
		buf_printf(out, "error the queue process is not running\n");
		return 1;
	}
	log_info("queue flush requested by control socket id=%s", id ? id : "all");
	buf_printf(out, "ok queue flush %s: the queue process tries now\n",
		   id != NULL ? id : "(all deferred messages)");
	return 0;
}

/* ---- the socket ------------------------------------------------------------ */

static void answer(struct server *srv, int fd)
{
	char line[SERVER_CONTROL_LINE_MAX + 1];
	struct timeval tv = { CONTROL_READ_TIMEOUT_SECS, 0 };
	struct buf out = { 0 };
	size_t len = 0;
	int rc = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < SERVER_CONTROL_LINE_MAX) {
		ssize_t n = read(fd, line + len, 1);
		if (n <= 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strcmp(line, "reload") == 0) {
		log_info("reload requested by control socket");
		rc = server_reload(srv, false, &out) < 0;
		/* Anything refused (a pair, the config) fails the command: a
		 * renewal hook must hear of it. */
		if (out.len >= 6 && (strncmp(out.data, "error ", 6) == 0 ||
				     memmem(out.data, out.len, "\nerror ", 7) != NULL))
			rc = 1;
	} else if (strcmp(line, "queue flush") == 0 ||
		   strncmp(line, "queue flush ", 12) == 0) {
		rc = queue_flush(srv, line[11] == ' ' ? line + 12 : NULL, &out);
	} else {
		buf_printf(&out, "error unknown command\n");
	}
	buf_printf(&out, "done %d\n", rc);
	if (fs_write_all(fd, out.data, out.len) < 0)
		log_warn("control: the client went away before the answer");
	buf_free(&out);
}

static void on_control(evutil_socket_t lfd, short what, void *arg)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	answer(arg, fd);
	close(fd);
}

int server_control_open(struct server *srv, const char **error_r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path = fs_join(srv->cfg->data_dir, SERVER_CONTROL_NAME);

	srv->control_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*error_r = errfmt("%s: path too long for a socket", path);
		free(path);
		return -1;
	}
	strlcpy_sp(sa.sun_path, path, sizeof(sa.sun_path));
	unlink(path);   /* a socket left by a server that is gone */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(077);
	int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 8) < 0) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	srv->control_fd = fd;
	srv->control_path = path;
	srv->ev_control = event_new(ev_base, fd, EV_READ | EV_PERSIST, on_control, srv);
	event_add(srv->ev_control, NULL);
	return 0;
}

void server_control_close(struct server *srv)
{
	if (srv->ev_control != NULL)
		event_free(srv->ev_control);
	srv->ev_control = NULL;
	if (srv->control_fd >= 0) {
		close(srv->control_fd);
		unlink(srv->control_path);
	}
	srv->control_fd = -1;
	x_free(&srv->control_path);
}
