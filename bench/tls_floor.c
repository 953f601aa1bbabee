/* tls_floor.c — what OpenSSL alone costs a server per TLS handshake, with
 * sealpost's TLS policy (src/net/tls.c): the floor under the server CPU per
 * handshake that bench/handshakes.py measures on the real server.
 *
 * Client and server run in one thread over an in-memory BIO pair, so no
 * system call, socket, event loop or other process is counted: only the
 * CPU time of this thread while it is inside the server's calls (SSL_new,
 * the handshake, the first application record, SSL_free). The same run
 * times the primitives a full handshake cannot avoid (one signature, one
 * X25519 key pair and shared secret), so what OpenSSL spends around them
 * is printed too.
 *
 *   build/bench/tls_floor [rsa:2048|rsa:4096|ecdsa] [N]
 *
 * prints one JSON line per handshake kind (full, resumed).
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLOOR_N_MAX 100000      /* handshakes per kind */
#define FLOOR_STEPS_MAX 64      /* handshake round trips before giving up */
#define FLOOR_GREETING "* OK IMAP4rev1 ready\r\n"

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "tls_floor: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static EVP_PKEY *make_key(const char *kind)
{
	if (strcmp(kind, "rsa:2048") == 0)
		return EVP_RSA_gen(2048);
	if (strcmp(kind, "rsa:4096") == 0)
		return EVP_RSA_gen(4096);
	if (strcmp(kind, "ecdsa") == 0)
		return EVP_EC_gen("P-256");
	return NULL;
}

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (x == NULL || name == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)"localhost", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		die("cannot make the certificate");
	X509_NAME_free(name);
	return x;
}

/* The policy of src/net/tls.c's ctx_apply_protocol and ctx_apply_policy. */
static SSL_CTX *server_ctx(EVP_PKEY *key, X509 *cert)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());

	if (c == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE |
			       SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			       SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:"
				     "TLS_AES_256_GCM_SHA384:"
				     "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
	    SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") != 1 ||
	    SSL_CTX_use_certificate(c, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(c, key) != 1)
		die("server policy");
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS |
			    SSL_MODE_ENABLE_PARTIAL_WRITE |
			    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(c, (const unsigned char *)"sealpost", 8);
	SSL_CTX_set_timeout(c, 3600);
	SSL_CTX_set_num_tickets(c, 1);
	return c;
}

/* A client that checks the certificate, as bench/loadgen does. */
static SSL_CTX *client_ctx(X509 *cert)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (c == NULL || X509_STORE_add_cert(SSL_CTX_get_cert_store(c), cert) != 1)
		die("client context");
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
	return c;
}

/* One connection: handshake, the server's greeting, the client reads it
 * (and the ticket). Returns the server's CPU seconds; *session_r gets the
 * client's session for the next resumption. */
static double one_handshake(SSL_CTX *sc, SSL_CTX *cc, SSL_SESSION **session_r,
			    int *resumed_r)
{
	BIO *sb, *cb;
	char buf[256];
	size_t n;
	double t0, server = 0;

	if (BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		die("BIO pair");
	SSL *c = SSL_new(cc);
	if (c == NULL)
		die("SSL_new client");
	SSL_set_bio(c, cb, cb);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "localhost");
	SSL_set1_host(c, "localhost");
	if (*session_r != NULL)
		SSL_set_session(c, *session_r);

	t0 = thread_cpu_s();
	SSL *s = SSL_new(sc);
	if (s == NULL)
		die("SSL_new server");
	SSL_set_bio(s, sb, sb);
	SSL_set_accept_state(s);
	server += thread_cpu_s() - t0;

	int done = 0;
	for (int i = 0; i < FLOOR_STEPS_MAX && done != 3; i++) {
		if (!(done & 1) && SSL_do_handshake(c) == 1)
			done |= 1;
		t0 = thread_cpu_s();
		if (!(done & 2) && SSL_do_handshake(s) == 1)
			done |= 2;
		server += thread_cpu_s() - t0;
	}
	if (done != 3)
		die("handshake did not finish");
	t0 = thread_cpu_s();
	if (SSL_write_ex(s, FLOOR_GREETING, sizeof(FLOOR_GREETING) - 1, &n) != 1)
		die("server write");
	server += thread_cpu_s() - t0;
	if (SSL_read_ex(c, buf, sizeof(buf), &n) != 1)
		die("client read");
	*resumed_r = SSL_session_reused(c);
	SSL_SESSION_free(*session_r);
	*session_r = SSL_get1_session(c);
	/* The client closes with close_notify (a client that drops the
	 * connection without it cannot resume: OpenSSL marks the session
	 * bad); the server reads it and answers with its own. */
	(void)SSL_shutdown(c);

	t0 = thread_cpu_s();
	(void)SSL_read_ex(s, buf, sizeof(buf), &n);
	(void)SSL_shutdown(s);
	SSL_free(s);
	server += thread_cpu_s() - t0;
	SSL_free(c);
	return server;
}

/* CPU milliseconds per call of what a full handshake must do anyway. */
static double sign_ms(EVP_PKEY *key, int n)
{
	unsigned char sig[1024], msg[130] = { 0 };
	size_t len;
	double t0 = thread_cpu_s();

	for (int i = 0; i < n; i++) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pc = NULL;
		len = sizeof(sig);
		if (m == NULL ||
		    EVP_DigestSignInit(m, &pc, EVP_sha256(), NULL, key) != 1 ||
		    (EVP_PKEY_is_a(key, "RSA") &&
		     EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1) ||
		    EVP_DigestSign(m, sig, &len, msg, sizeof(msg)) != 1)
			die("sign");
		EVP_MD_CTX_free(m);
	}
	return (thread_cpu_s() - t0) * 1000 / n;
}

static double x25519_ms(int n)
{
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	unsigned char secret[64];
	size_t len;
	double t0 = thread_cpu_s();

	for (int i = 0; i < n; i++) {
		EVP_PKEY *mine = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
		EVP_PKEY_CTX *d = EVP_PKEY_CTX_new(mine, NULL);
		len = sizeof(secret);
		if (mine == NULL || d == NULL || EVP_PKEY_derive_init(d) != 1 ||
		    EVP_PKEY_derive_set_peer(d, peer) != 1 ||
		    EVP_PKEY_derive(d, secret, &len) != 1)
			die("x25519");
		EVP_PKEY_CTX_free(d);
		EVP_PKEY_free(mine);
	}
	EVP_PKEY_free(peer);
	return (thread_cpu_s() - t0) * 1000 / n;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "rsa:2048";
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	EVP_PKEY *key = make_key(kind);

	if (key == NULL || n < 10 || n > FLOOR_N_MAX) {
		fprintf(stderr, "usage: tls_floor [rsa:2048|rsa:4096|ecdsa] "
			"[N: 10..%d]\n", FLOOR_N_MAX);
		return 2;
	}
	X509 *cert = self_signed(key);
	SSL_CTX *sc = server_ctx(key, cert), *cc = client_ctx(cert);
	double sig = sign_ms(key, n / 4 + 10), kex = x25519_ms(n / 4 + 10);

	for (int resume = 0; resume <= 1; resume++) {
		SSL_SESSION *session = NULL;
		int resumed = 0, r;
		double total = 0;
		/* Warm-up: first fetches and caches are not per connection. */
		for (int i = 0; i < 20; i++)
			(void)one_handshake(sc, cc, &session, &r);
		for (int i = 0; i < n; i++) {
			if (!resume) {
				SSL_SESSION_free(session);
				session = NULL;
			}
			total += one_handshake(sc, cc, &session, &r);
			resumed += r;
		}
		SSL_SESSION_free(session);
		double per = total * 1000 / n;
		/* A full handshake signs once and makes one X25519 exchange; a
		 * resumed TLS 1.3 one (psk_dhe_ke) makes the exchange only. */
		double prims = resume ? kex : sig + kex;
		printf("{\"key\": \"%s\", \"handshake\": \"%s\", \"n\": %d, "
		       "\"resumed\": %.3f, \"server_cpu_ms\": %.4f, "
		       "\"sign_ms\": %.4f, \"x25519_ms\": %.4f, "
		       "\"around_ms\": %.4f, \"openssl\": \"%s\"}\n",
		       kind, resume ? "resumed" : "full", n, (double)resumed / n,
		       per, sig, kex, per - prims, OpenSSL_version(OPENSSL_VERSION));
	}
	SSL_CTX_free(sc);
	SSL_CTX_free(cc);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}
