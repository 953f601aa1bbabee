/* listener.c — bind and accept. */
#include "net/listener.h"
#include "net/addr.h"
#include "net/iptable.h"
#include "net/session.h"
#include "net/tls.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct listener {
	enum service service;
	int fd;
	char text[64];
	struct event *ev;
	struct event *ev_pause;
	const struct session_vfuncs *v;
	struct tls_ctx *tls_ctx;
};

static int bind_one(const struct listen_addr *la, const char **error_r)
{
	int one = 1;
	int fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::]:25 beside 0.0.0.0:25: each socket serves its own family. */
	if (la->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) < 0 ||
	    listen(fd, LISTENER_BACKLOG) < 0) {
		*error_r = strerror(errno);
		close(fd);
		return -1;
	}
	return fd;
}

int listeners_bind(const struct config *cfg, struct listener **ls_r,
		   size_t *count_r, const char **error_r)
{
	struct listener *ls = NULL;
	size_t n = 0;

	for (int svc = 0; svc < SERVICE_COUNT; svc++) {
		for (size_t i = 0; i < cfg->n_listen[svc]; i++) {
			const struct listen_addr *la = &cfg->listen[svc][i];
			const char *why;
			int fd = bind_one(la, &why);
			if (fd < 0) {
				*error_r = errfmt("listen %s %s: %s",
						  service_infos[svc].name, la->text, why);
				listeners_free(&ls, n);
				return -1;
			}
			ls = xrealloc(ls, (n + 1) * sizeof(*ls));
			memset(&ls[n], 0, sizeof(ls[n]));
			ls[n].service = (enum service)svc;
			ls[n].fd = fd;
			strlcpy_sp(ls[n].text, la->text, sizeof(ls[n].text));
			n++;
		}
	}
	*ls_r = ls;
	*count_r = n;
	return 0;
}

static void refuse(struct listener *l, int fd, const struct sockaddr_storage *ss,
		   const char *reason)
{
	char host[ADDR_TEXT_SIZE];

	addr_text((const struct sockaddr *)ss, host, sizeof(host));
	log_info("- %s refused address=%s service=%s reason=\"%s\"",
		 proto_name(service_infos[l->service].proto), host,
		 service_infos[l->service].name, reason);
	/* A plaintext port can say why; an implicit-TLS port cannot. */
	if (!service_infos[l->service].implicit_tls && l->v->busy_reply != NULL) {
		ssize_t ignored = send(fd, l->v->busy_reply, strlen(l->v->busy_reply),
				       MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)ignored;
	}
	close(fd);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	event_add(l->ev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;

	for (int i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timeval tv = { .tv_sec = LISTENER_PAUSE_SECS };
				log_warn("accept on %s: %s; pausing %ds", l->text,
					 strerror(errno), LISTENER_PAUSE_SECS);
				event_del(l->ev);
				event_add(l->ev_pause, &tv);
			}
			/* EAGAIN: another worker took it, or the batch is done. */
			return;
		}
		const char *reason;
		if (!iptable_conn_acquire(&ss, &reason)) {
			refuse(l, fd, &ss, reason);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		session_accept(l->service, l->v, fd, (struct sockaddr *)&ss, len,
			       l->tls_ctx);
	}
}

void listeners_start(struct listener *ls, size_t count, struct event_base *base,
		     const struct session_vfuncs *const vfuncs[],
		     struct tls_ctx *tls_ctx)
{
	for (size_t i = 0; i < count; i++) {
		struct listener *l = &ls[i];
		l->v = vfuncs[service_infos[l->service].proto];
		l->tls_ctx = tls_ctx_ref(tls_ctx);
		l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, on_accept, l);
		l->ev_pause = evtimer_new(base, on_resume, l);
		event_add(l->ev, NULL);
	}
}

void listeners_set_tls(struct listener *ls, size_t count, struct tls_ctx *tls_ctx)
{
	for (size_t i = 0; i < count; i++) {
		tls_ctx_unref(&ls[i].tls_ctx);
		ls[i].tls_ctx = tls_ctx_ref(tls_ctx);
	}
}

void listeners_set_ticket_keys(struct listener *ls, size_t count,
			       const unsigned char *keys)
{
	for (size_t i = 0; i < count; i++) {
		if (ls[i].tls_ctx != NULL)
			tls_ctx_set_ticket_keys(ls[i].tls_ctx, keys);
	}
}

int listener_fd(const struct listener *ls, size_t i)
{
	return ls[i].fd;
}

void listeners_stop(struct listener *ls, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (ls[i].ev != NULL)
			event_del(ls[i].ev);
		if (ls[i].ev_pause != NULL)
			event_del(ls[i].ev_pause);
	}
}

const char *listener_describe(const struct listener *ls, size_t i)
{
	return errfmt("service=%s address=%s", service_infos[ls[i].service].name,
		      ls[i].text);
}

void listeners_free(struct listener **lsp, size_t count)
{
	struct listener *ls = *lsp;
	if (ls == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		if (ls[i].ev != NULL)
			event_free(ls[i].ev);
		if (ls[i].ev_pause != NULL)
			event_free(ls[i].ev_pause);
		tls_ctx_unref(&ls[i].tls_ctx);
		close(ls[i].fd);
	}
	x_free(lsp);
}
