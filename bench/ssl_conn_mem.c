/* ssl_conn_mem.c — what OpenSSL itself keeps per idle server connection,
 * with sealpost's TLS policy (src/net/tls.c), measured as heap bytes in use
 * (mallinfo2) over N handshakes on socket pairs. The floor under the
 * server's memory per idle TLS connection: bench/idle_conns.py measures
 * the whole server.
 *
 *   cc -O2 -o build/ssl_conn_mem bench/ssl_conn_mem.c -lssl -lcrypto
 *   build/ssl_conn_mem CERT.pem KEY.pem [N]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_MAX 2000

static size_t heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

/* Both ends of one connection, handshake done, the server idle after a
 * read that found nothing (as sealpost's conn.c leaves it). */
static int connect_pair(SSL_CTX *sc, SSL_CTX *cc, SSL **s_r, SSL **c_r)
{
	int p[2];
	char buf[64];
	size_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	SSL *s = SSL_new(sc), *c = SSL_new(cc);
	SSL_set_fd(s, p[0]);
	SSL_set_fd(c, p[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	int done = 0;
	for (int i = 0; i < 100 && done != 3; i++) {
		if (!(done & 1) && SSL_do_handshake(c) == 1)
			done |= 1;
		if (!(done & 2) && SSL_do_handshake(s) == 1)
			done |= 2;
	}
	if (done != 3)
		return -1;
	(void)SSL_read_ex(c, buf, sizeof(buf), &n);   /* the tickets */
	(void)SSL_read_ex(s, buf, sizeof(buf), &n);   /* nothing: idle */
	*s_r = s;
	*c_r = c;
	return 0;
}

int main(int argc, char **argv)
{
	static SSL *srv[N_MAX], *cli[N_MAX];
	int n = argc > 3 ? atoi(argv[3]) : 500;

	if (argc < 3 || n < 1 || n > N_MAX) {
		fprintf(stderr, "usage: ssl_conn_mem CERT KEY [N <= %d]\n", N_MAX);
		return 2;
	}
	SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
	if (SSL_CTX_use_certificate_chain_file(sc, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sc, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	/* The policy of src/net/tls.c. */
	SSL_CTX_set_options(sc, SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set1_groups_list(sc, "X25519:P-256:P-384");
	SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(sc, (const unsigned char *)"sealpost", 8);
	SSL_CTX_set_mode(cc, SSL_MODE_RELEASE_BUFFERS);

	size_t a = heap_in_use();
	for (int i = 0; i < n; i++)
		srv[i] = SSL_new(sc);
	size_t b = heap_in_use();
	for (int i = 0; i < n; i++)
		SSL_free(srv[i]);
	/* Warm up: one-off allocations are not per connection. */
	for (int i = 0; i < 20; i++) {
		SSL *s, *c;
		if (connect_pair(sc, cc, &s, &c) < 0)
			return 1;
		SSL_free(s);
		SSL_free(c);
	}
	size_t before = heap_in_use();
	for (int i = 0; i < n; i++) {
		if (connect_pair(sc, cc, &srv[i], &cli[i]) < 0) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
	}
	for (int i = 0; i < n; i++)
		SSL_free(cli[i]);             /* only the server side counts */
	size_t after = heap_in_use();
	printf("%s, %d connections: SSL_new() alone %.0f B, an idle server "
	       "connection after its handshake %.0f B (%s, %s)\n",
	       OpenSSL_version(OPENSSL_VERSION), n, (double)(b - a) / n,
	       (double)(after - before) / n, SSL_get_version(srv[0]),
	       SSL_get_cipher_name(srv[0]));
	return 0;
}
