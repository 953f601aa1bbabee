/* keyupdate_client.c — a TLS 1.3 client that leaves the server's SSL_read
 * wanting to write while the server's socket stays readable, for
 * test_abuse::test_a_keyupdate_into_a_full_socket_costs_no_cpu.
 *
 *   build/tests/keyupdate_client PORT SECONDS
 *
 * After the IMAP greeting it never reads. It sends KeyUpdate requests and
 * nothing else: OpenSSL's SSL_read on the server answers each with a
 * KeyUpdate of its own at once, and once the server's socket is full the
 * answer cannot be written, so SSL_read fails with SSL_ERROR_WANT_WRITE
 * while more of our records wait unread. (No commands: had a reply been the
 * record that did not fit, OpenSSL would end the connection at the next
 * KeyUpdate, "bad length", instead.)
 *
 * Prints "ready kus=N" once the server has stopped reading, then writes
 * small application records (whatever the socket takes) for SECONDS, still
 * without reading, and prints "done written=N".
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A small receive window: the server's output piles up in its socket. */
#define KU_RCVBUF 2048
/* The kernel sizes the server's send buffer per segment (MSS plus
 * overhead) times its congestion window: with loopback's 64 KiB MSS it
 * would take megabytes of KeyUpdates to fill. */
#define KU_MAXSEG 1200
#define KU_GREETING_MAX 4096
/* CAPABILITY commands whose answers close our receive window in a few
 * large segments: each segment delivered grows the server's congestion
 * window, and so its send buffer. */
#define KU_CLOSERS 4
#define KU_CLOSER "c CAPABILITY\r\n"
#define KU_CLOSER_MAX (KU_CLOSERS * sizeof(KU_CLOSER))
#define KU_ANSWER_MS 5000       /* for the first of those answers */
#define KU_CLOSE_WAIT_US 20000  /* for the rest of those answers */
/* The server has stopped reading once our queued bytes stay put this long. */
#define KU_SETTLE_MS 300
#define KU_FILL_MAX_S 20.0      /* the server's output never backed up */
#define KU_SECONDS_MAX 600
#define KU_TICK_US 10000        /* between application records */
#define KU_RECORD_MAX 32

static void die(const char *what)
{
	fprintf(stderr, "keyupdate_client: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int rcvbuf = KU_RCVBUF, maxseg = KU_MAXSEG;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port) };

	if (fd < 0)
		die("socket");
	/* Before connect: the SYN carries the window and the MSS. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &maxseg, sizeof(maxseg)) != 0)
		die("setsockopt");
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("connect");
	return fd;
}

/* Blocking: the handshake and the IMAP greeting. */
static SSL *start_tls(int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char greeting[KU_GREETING_MAX];
	size_t len = 0;

	/* KeyUpdate is TLS 1.3. No certificate check: the server's loop is
	 * under test, not its name. */
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		die("SSL_CTX_new");
	SSL *ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
		die("handshake");
	while (memchr(greeting, '\n', len) == NULL) {
		size_t n = 0;
		if (len == sizeof(greeting) ||
		    SSL_read_ex(ssl, greeting + len, sizeof(greeting) - len, &n) != 1)
			die("no greeting");
		len += n;
	}
	return ssl;
}

/* A few commands whose answers fill our receive window. */
static void close_window(SSL *ssl, int fd)
{
	char closers[KU_CLOSER_MAX];
	size_t len = 0, n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int i = 0; i < KU_CLOSERS; i++)
		len += (size_t)snprintf(closers + len, sizeof(closers) - len, "%s",
					KU_CLOSER);
	if (SSL_write_ex(ssl, closers, len, &n) != 1)
		die("write");
	/* The answers go first: KeyUpdates sent sooner would be answered
	 * in small segments. */
	if (poll(&p, 1, KU_ANSWER_MS) != 1)
		die("no answer");
	usleep(KU_CLOSE_WAIT_US);
}

static int queued(int fd)
{
	int n = 0;
	if (ioctl(fd, SIOCOUTQ, &n) != 0)
		die("SIOCOUTQ");
	return n;
}

/* After a write that wanted the socket: true once the server has stopped
 * reading (what we queued stays put), false when the socket takes more. */
static bool settled(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int last = queued(fd);

	for (;;) {
		int r = poll(&p, 1, KU_SETTLE_MS);
		if (r < 0 && errno != EINTR)
			die("poll");
		if (r > 0)
			return false;
		int n = queued(fd);
		if (n == last)
			return true;
		last = n;
	}
}

/* KeyUpdate requests until the server has stopped reading; returns how
 * many were written. */
static long fill(SSL *ssl, int fd)
{
	double give_up = now_s() + KU_FILL_MAX_S;
	bool pending = false;   /* the last one still wants the socket */
	long kus = 0;

	while (now_s() < give_up) {
		if (!pending && SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1)
			die("SSL_key_update");
		/* Sends the KeyUpdate alone, without application data. */
		int r = SSL_do_handshake(ssl);
		if (r == 1) {
			pending = false;
			kus++;
			continue;
		}
		if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE)
			die("KeyUpdate");
		pending = true;
		if (settled(fd))
			return kus;
	}
	printf("not backed up kus=%ld\n", kus);
	exit(1);
}

/* Application records, whatever the socket takes, for `seconds`; returns
 * the bytes written. */
static long hold(SSL *ssl, double seconds)
{
	char record[KU_RECORD_MAX];
	int len = 0;
	long n = 0, written = 0;
	double end = now_s() + seconds;

	while (now_s() < end) {
		size_t w = 0;
		/* A write that wanted the socket is retried with the same bytes. */
		if (len == 0)
			len = snprintf(record, sizeof(record), "h%ld NOOP\r\n", n++);
		if (SSL_write_ex(ssl, record, (size_t)len, &w) == 1) {
			written += (long)w;
			len = 0;
		} else if (SSL_get_error(ssl, 0) != SSL_ERROR_WANT_WRITE) {
			die("write");
		}
		usleep(KU_TICK_US);
	}
	return written;
}

int main(int argc, char **argv)
{
	int port = argc == 3 ? atoi(argv[1]) : 0;
	int seconds = argc == 3 ? atoi(argv[2]) : 0;

	if (port <= 0 || port > 65535 || seconds <= 0 || seconds > KU_SECONDS_MAX) {
		fprintf(stderr, "usage: keyupdate_client PORT SECONDS\n");
		return 2;
	}
	int fd = connect_to(port);
	SSL *ssl = start_tls(fd);
	close_window(ssl, fd);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
		die("fcntl");
	printf("ready kus=%ld\n", fill(ssl, fd));
	fflush(stdout);
	printf("done written=%ld\n", hold(ssl, seconds));
	SSL_free(ssl);
	close(fd);
	return 0;
}
