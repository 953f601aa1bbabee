/* ipc.c — framed messages over AF_UNIX socketpairs between the processes of
 * `sealpost serve`. */
#include "server/ipc.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct ipc_header {
	uint32_t len;
	uint32_t type;
};

/* ---- payloads ------------------------------------------------------------ */

void ipc_put_u32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, sizeof(v));
}

void ipc_put_bytes(struct buf *b, const void *data, size_t len)
{
	ipc_put_u32(b, (uint32_t)len);
	if (len > 0)
		buf_append(b, data, len);
}

void ipc_put_str(struct buf *b, const char *s)
{
	ipc_put_bytes(b, s, s != NULL ? strlen(s) : 0);
}

void ipc_cursor_init(struct ipc_cursor *c, const void *data, size_t len)
{
	c->p = data;
	c->left = len;
	c->bad = false;
}

uint32_t ipc_get_u32(struct ipc_cursor *c)
{
	uint32_t v = 0;
	if (c->bad || c->left < sizeof(v)) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, sizeof(v));
	c->p += sizeof(v);
	c->left -= sizeof(v);
	return v;
}

const void *ipc_get_bytes(struct ipc_cursor *c, size_t *len_r)
{
	uint32_t len = ipc_get_u32(c);
	const void *p = c->p;

	*len_r = 0;
	if (c->bad || len > c->left) {
		c->bad = true;
		return NULL;
	}
	c->p += len;
	c->left -= len;
	*len_r = len;
	return p;
}

char *ipc_get_str(struct ipc_cursor *c)
{
	size_t len;
	const char *p = ipc_get_bytes(c, &len);

	if (p == NULL || memchr(p, '\0', len) != NULL) {
		c->bad = true;
		return NULL;
	}
	return xstrndup(p, len);
}

/* ---- blocking send and receive ------------------------------------------ */

static int wait_for(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	return r > 0 ? 0 : -1;
}

int ipc_send(int fd, uint32_t type, const void *payload, size_t len,
	     int pass_fd, const char **error_r)
{
	struct ipc_header h = { (uint32_t)len, type };
	struct iovec iov[2] = {
		{ &h, sizeof(h) }, { (void *)payload, len },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1 };
	size_t total = sizeof(h) + len, sent = 0;

	if (len > IPC_MSG_MAX) {
		*error_r = "ipc: message too large";
		return -1;
	}
	if (pass_fd >= 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	while (sent < total) {
		if (wait_for(fd, POLLOUT, IPC_SEND_TIMEOUT_MS) < 0)
			goto fail;
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto fail;
		}
		sent += (size_t)n;
		msg.msg_control = NULL;      /* the fd went with the first byte */
		msg.msg_controllen = 0;
		/* Skip what went out. */
		while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov[0].iov_len) {
			n -= (ssize_t)msg.msg_iov[0].iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + n;
			msg.msg_iov[0].iov_len -= (size_t)n;
		}
	}
	return 0;
fail:
	*error_r = errfmt("ipc: send: %s", strerror(errno));
	return -1;
}

/* Read exactly len bytes (and a passed fd with the first of them). */
static int read_exact(int fd, void *data, size_t len, int *fd_r, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = { (char *)data + got, len - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		if (wait_for(fd, POLLIN, timeout_ms) < 0)
			return -1;
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		if (cm != NULL && cm->cmsg_type == SCM_RIGHTS) {
			int passed;
			memcpy(&passed, CMSG_DATA(cm), sizeof(int));
			if (fd_r != NULL && *fd_r < 0)
				*fd_r = passed;
			else
				close(passed);
		}
		got += (size_t)n;
	}
	return 0;
}

int ipc_recv(int fd, uint32_t *type_r, struct buf *b, int *fd_r,
	     int timeout_ms, const char **error_r)
{
	struct ipc_header h;

	if (fd_r != NULL)
		*fd_r = -1;
	b->len = 0;
	if (read_exact(fd, &h, sizeof(h), fd_r, timeout_ms) < 0)
		goto fail;
	if (h.len > IPC_MSG_MAX) {
		*error_r = "ipc: message too large";
		return -1;
	}
	if (b->cap < h.len + 1) {
		b->data = xrealloc(b->data, h.len + 1);
		b->cap = h.len + 1;
	}
	if (h.len > 0 && read_exact(fd, b->data, h.len, NULL, timeout_ms) < 0)
		goto fail;
	b->len = h.len;
	*type_r = h.type;
	return 0;
fail:
	*error_r = errfmt("ipc: receive: %s", strerror(errno));
	return -1;
}

/* ---- on the event loop ------------------------------------------------------ */

struct ipc_reader {
	int fd;
	struct event *ev;
	struct evbuffer *in;
	ipc_handler_fn *handler;
	void *arg;
};

static void reader_gone(struct ipc_reader *r)
{
	event_del(r->ev);
	r->handler(0, NULL, 0, r->arg);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_reader *r = arg;
	int n = evbuffer_read(r->in, fd, 64 * 1024);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		reader_gone(r);
		return;
	}
	for (;;) {
		struct ipc_header h;
		if (evbuffer_copyout(r->in, &h, sizeof(h)) < (ssize_t)sizeof(h))
			return;
		if (h.len > IPC_MSG_MAX) {
			reader_gone(r);
			return;
		}
		if (evbuffer_get_length(r->in) < sizeof(h) + h.len)
			return;
		evbuffer_drain(r->in, sizeof(h));
		void *payload = xmalloc(h.len + 1);
		evbuffer_remove(r->in, payload, h.len);
		r->handler(h.type, payload, h.len, r->arg);
		free(payload);
	}
}

struct ipc_reader *ipc_reader_new(struct event_base *base, int fd,
				  ipc_handler_fn *handler, void *arg)
{
	struct ipc_reader *r = xcalloc(1, sizeof(*r));

	evutil_make_socket_nonblocking(fd);
	r->fd = fd;
	r->in = evbuffer_new();
	r->handler = handler;
	r->arg = arg;
	r->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, r);
	event_add(r->ev, NULL);
	return r;
}

void ipc_reader_free(struct ipc_reader **rp)
{
	struct ipc_reader *r = *rp;
	if (r == NULL)
		return;
	event_free(r->ev);
	evbuffer_free(r->in);
	x_free(rp);
}
