/* tls.c — OpenSSL 3 policy and non-blocking record I/O. */
#include "net/tls.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Mozilla "intermediate" TLS 1.2 suites: ECDHE/DHE key exchange (forward
 * secrecy) with AEAD ciphers only. TLS 1.3 suites are all AEAD + FS. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:" \
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
/* Identifies our sessions in the server-side cache and in tickets. */
#define TLS_SESSION_ID_CONTEXT "sealpost"

struct tls_ctx {
	SSL_CTX **ssl_ctx;          /* one per group; [0] the default */
	size_t n_ssl_ctx;
	tls_sni_select_fn *sni_select;
	void *sni_arg;
	void (*sni_free)(void *arg);
	unsigned char tickets[TLS_TICKET_KEYS_SIZE];
	int refcount;
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx;
	bool shutdown_sent;
	bool client;                /* made by tls_conn_new_client */
	enum tls_client_auth auth;  /* client: what the handshake requires */
};

/* The first queued OpenSSL error as text, or the system error. */
static const char *ssl_error_text(int ssl_err)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (ssl_err == SSL_ERROR_SYSCALL && e == 0)
		return errno != 0 ? errfmt("%s", strerror(errno)) :
				    "connection closed during TLS";
	if (e == 0)
		return errfmt("TLS error %d", ssl_err);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	/* "error:0A000102:SSL routines::unsupported protocol": keep the
	 * reason, which is what an admin can act on. */
	const char *reason = strrchr(buf, ':');
	return errfmt("%s", reason != NULL ? reason + 1 : buf);
}

/* What servers and clients share: TLS 1.2+, forward-secret AEAD suites,
 * the groups, no renegotiation or compression, event-friendly modes. */
static int ctx_apply_protocol(SSL_CTX *c, int min_version, const char **error_r)
{
	/* Mail protocols end with QUIT/LOGOUT, so a TCP close without
	 * close_notify is an ordinary end, not a truncation attack. */
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			       SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_set_min_proto_version(c, min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(c, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(c, TLS_GROUPS) != 1 ||
	    SSL_CTX_set_dh_auto(c, 1) != 1) {
		*error_r = errfmt("TLS policy: %s", ssl_error_text(0));
		return -1;
	}
	/* Idle connections give their record buffers back (a few KiB each
	 * across thousands of connections); partial writes for event I/O. */
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS |
			    SSL_MODE_ENABLE_PARTIAL_WRITE |
			    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* One read per burst of records, not two per record (header, then
	 * body). What it reads beyond the current record stays in OpenSSL:
	 * conn.c drains it while SSL_has_pending(). */
	SSL_CTX_set_read_ahead(c, 1);
	return 0;
}

static int ctx_apply_policy(SSL_CTX *c, int min_version, const char **error_r)
{
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (ctx_apply_protocol(c, min_version, error_r) < 0)
		return -1;
	/* Resumption: stateless tickets (keys from the master, the same in
	 * every worker: on_ticket_key) plus the per-process session cache for
	 * clients without tickets. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(c, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
				       sizeof(TLS_SESSION_ID_CONTEXT) - 1);
	SSL_CTX_set_timeout(c, 3600);
	/* One TLS 1.3 ticket per handshake (OpenSSL sends two): mail clients
	 * hold one connection at a time, and each ticket costs the server an
	 * encryption and the client a record. */
	SSL_CTX_set_num_tickets(c, 1);
	return 0;
}

/* The tls_ctx an SSL_CTX belongs to (for the SNI and ticket callbacks). */
static int ctx_ex_index = -1;

static struct tls_ctx *owner_of(SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_ex_index);
}

/* RFC 6066 3: switch to the group serving the name the client asked for. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls_ctx *ctx = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (host == NULL || ctx->sni_select == NULL)
		return SSL_TLSEXT_ERR_OK;
	int i = ctx->sni_select(host, ctx->sni_arg);
	if (i > 0 && (size_t)i < ctx->n_ssl_ctx)
		SSL_set_SSL_CTX(ssl, ctx->ssl_ctx[i]);
	return SSL_TLSEXT_ERR_OK;
}

/* Ticket keys given by the master, the same in every worker: tickets made
 * by one worker resume in another, and a rotation keeps the previous key
 * for decryption only. Returns 1 (ok), 2 (ok, issue a new ticket: made
 * with the previous key, or TLS 1.3), 0 (unknown key: full handshake),
 * -1 (error). */
static int on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	static const unsigned char zero[16];
	struct tls_ctx *ctx = owner_of(ssl);
	const unsigned char *key = NULL;
	int ret = 1;

	if (ctx == NULL)
		return -1;
	if (enc) {
		key = ctx->tickets;
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
			return -1;
		memcpy(name, key, 16);
	} else {
		for (int i = 0; i < 2 && key == NULL; i++) {
			const unsigned char *k = ctx->tickets + i * TLS_TICKET_KEY_SIZE;
			if (memcmp(k, zero, 16) != 0 && memcmp(k, name, 16) == 0) {
				key = k;
				/* TLS 1.3 (RFC 8446 4.6.1): the server sends a new
				 * ticket after every resumption, and OpenSSL only
				 * makes one a client can use again when told to
				 * renew (the loadgen resumed every other time
				 * without it). TLS 1.2: renew a previous key's. */
				ret = i == 0 && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
			}
		}
		if (key == NULL)
			return 0;
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
						  (void *)(key + 48), 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, key + 16, iv, enc) != 1 ||
	    EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	return ret;
}

/* One SSL_CTX serving group g. */
static SSL_CTX *group_ctx(const struct tls_server_spec *spec,
			  const struct tls_group *g, struct tls_ctx *owner,
			  const char **error_r)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());

	if (c == NULL) {
		*error_r = errfmt("TLS: %s", ssl_error_text(0));
		return NULL;
	}
	if (ctx_apply_policy(c, spec->min_version, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < g->n_pairs; i++) {
		const struct tls_pair *p = &g->pairs[i];
		if (SSL_CTX_use_cert_and_key(c, p->cert, p->key, p->chain, 1) != 1 ||
		    SSL_CTX_check_private_key(c) != 1) {
			*error_r = errfmt("TLS: cannot use the certificate pair: %s",
					  ssl_error_text(0));
			goto fail;
		}
	}
	SSL_CTX_set_ex_data(c, ctx_ex_index, owner);
	if (spec->ticket_keys != NULL)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(c, on_ticket_key);
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

static void ctx_free(struct tls_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_ssl_ctx; i++)
		SSL_CTX_free(ctx->ssl_ctx[i]);
	free(ctx->ssl_ctx);
	if (ctx->sni_free != NULL)
		ctx->sni_free(ctx->sni_arg);
	OPENSSL_cleanse(ctx->tickets, sizeof(ctx->tickets));
	free(ctx);
}

int tls_server_ctx_new(const struct tls_server_spec *spec,
		       struct tls_ctx **ctx_r, const char **error_r)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));

	if (ctx_ex_index < 0)
		ctx_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx->refcount = 1;
	ctx->sni_select = spec->sni_select;
	ctx->sni_arg = spec->sni_arg;
	ctx->sni_free = spec->sni_free;
	if (spec->ticket_keys != NULL)
		memcpy(ctx->tickets, spec->ticket_keys, sizeof(ctx->tickets));
	if (spec->n_groups == 0) {
		*error_r = "TLS: no certificate pair to serve";
		goto fail;
	}
	ctx->ssl_ctx = xcalloc(spec->n_groups, sizeof(*ctx->ssl_ctx));
	for (size_t i = 0; i < spec->n_groups; i++) {
		ctx->ssl_ctx[i] = group_ctx(spec, &spec->groups[i], ctx, error_r);
		if (ctx->ssl_ctx[i] == NULL)
			goto fail;
		ctx->n_ssl_ctx++;
	}
	if (spec->sni_select != NULL) {
		SSL_CTX_set_tlsext_servername_callback(ctx->ssl_ctx[0], on_servername);
		SSL_CTX_set_tlsext_servername_arg(ctx->ssl_ctx[0], ctx);
	}
	*ctx_r = ctx;
	return 0;
fail:
	ctx->sni_free = NULL;   /* the caller still owns sni_arg */
	ctx_free(ctx);
	return -1;
}

void tls_ctx_set_ticket_keys(struct tls_ctx *ctx,
			     const unsigned char keys[TLS_TICKET_KEYS_SIZE])
{
	memcpy(ctx->tickets, keys, sizeof(ctx->tickets));
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx)
{
	ctx->refcount++;
	return ctx;
}

void tls_ctx_unref(struct tls_ctx **ctxp)
{
	struct tls_ctx *ctx = *ctxp;
	if (ctx == NULL)
		return;
	*ctxp = NULL;
	if (--ctx->refcount > 0)
		return;
	ctx_free(ctx);
}

struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx->ssl_ctx[0]);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(ssl);
	struct tls_conn *tc = xcalloc(1, sizeof(*tc));
	tc->ssl = ssl;
	tc->ctx = tls_ctx_ref(ctx);
	return tc;
}

void tls_conn_free(struct tls_conn **tcp)
{
	struct tls_conn *tc = *tcp;
	if (tc == NULL)
		return;
	SSL_free(tc->ssl);
	tls_ctx_unref(&tc->ctx);
	x_free(tcp);
}

static enum tls_io map_result(struct tls_conn *tc, int ret, const char **error_r)
{
	int err = SSL_get_error(tc->ssl, ret);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
			*error_r = "connection closed by peer";
			return TLS_IO_EOF;
		}
		/* fall through */
	default:
		*error_r = ssl_error_text(err);
		return TLS_IO_ERROR;
	}
}

enum tls_io tls_handshake(struct tls_conn *tc, const char **error_r)
{
	ERR_clear_error();
	errno = 0;
	int ret = SSL_do_handshake(tc->ssl);
	if (ret == 1)
		return TLS_IO_OK;
	enum tls_io io = map_result(tc, ret, error_r);
	long verify = tc->client ? SSL_get_verify_result(tc->ssl) : X509_V_OK;
	if (io == TLS_IO_ERROR && verify != X509_V_OK) {
		/* "certificate verify failed" says less than the reason. */
		*error_r = errfmt("certificate verification failed (%s): %s",
				  tc->auth == TLS_CLIENT_AUTH_DANE ? "DANE" : "PKIX",
				  X509_verify_cert_error_string(verify));
		return TLS_IO_ERROR;
	}
	if (io == TLS_IO_EOF) {
		/* A peer that goes away mid-handshake failed the handshake. */
		*error_r = "connection closed during the handshake";
		return TLS_IO_ERROR;
	}
	return io;
}

enum tls_io tls_read(struct tls_conn *tc, void *buf, size_t len, size_t *n_r,
		     const char **error_r)
{
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(tc->ssl, buf, len, n_r) == 1)
		return TLS_IO_OK;
	return map_result(tc, 0, error_r);
}

enum tls_io tls_write(struct tls_conn *tc, const void *buf, size_t len,
		      size_t *n_r, const char **error_r)
{
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(tc->ssl, buf, len, n_r) == 1)
		return TLS_IO_OK;
	return map_result(tc, 0, error_r);
}

bool tls_has_pending(struct tls_conn *tc)
{
	return SSL_pending(tc->ssl) > 0 || SSL_has_pending(tc->ssl) == 1;
}

void tls_shutdown(struct tls_conn *tc)
{
	if (tc->shutdown_sent || !SSL_is_init_finished(tc->ssl))
		return;
	tc->shutdown_sent = true;
	ERR_clear_error();
	(void)SSL_shutdown(tc->ssl);
	ERR_clear_error();
}

const char *tls_conn_version(struct tls_conn *tc)
{
	return SSL_get_version(tc->ssl);
}

const char *tls_conn_cipher(struct tls_conn *tc)
{
	return SSL_get_cipher_name(tc->ssl);
}

int tls_conn_cipher_bits(struct tls_conn *tc)
{
	return SSL_get_cipher_bits(tc->ssl, NULL);
}

bool tls_conn_resumed(struct tls_conn *tc)
{
	return SSL_session_reused(tc->ssl) == 1;
}

/* ---- the client side ---------------------------------------------------- */

int tls_client_ctx_new(const struct tls_client_spec *spec,
		       struct tls_ctx **ctx_r, const char **error_r)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (c == NULL) {
		*error_r = errfmt("TLS: %s", ssl_error_text(0));
		return -1;
	}
	if (ctx_apply_protocol(c, spec->min_version, error_r) < 0)
		goto fail;
	if (spec->ca_file != NULL ?
	    SSL_CTX_load_verify_locations(c, spec->ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(c) != 1) {
		*error_r = errfmt("TLS: %s: %s", spec->ca_file != NULL ?
				  spec->ca_file : "the system's CA certificates",
				  ssl_error_text(0));
		goto fail;
	}
	/* OpenSSL's DANE verifier (RFC 6698, RFC 7671): the TLSA records of
	 * a connection are matched by it, never by hand. */
	if (SSL_CTX_dane_enable(c) <= 0) {
		*error_r = errfmt("TLS: DANE: %s", ssl_error_text(0));
		goto fail;
	}
	/* A client keeps no sessions: each delivery is a fresh handshake. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->refcount = 1;
	ctx->ssl_ctx = xcalloc(1, sizeof(*ctx->ssl_ctx));
	ctx->ssl_ctx[0] = c;
	ctx->n_ssl_ctx = 1;
	*ctx_r = ctx;
	return 0;
fail:
	SSL_CTX_free(c);
	return -1;
}

/* RFC 7672 2.2 and 3: the TLSA records go to OpenSSL; DANE-EE(3) matches
 * are not name-checked (3.1.1), DANE-TA(2) chains are checked against
 * the MX host name (and the next-hop domain, 3.2.2). */
static int client_dane(SSL *ssl, const struct tls_client_params *p,
		       const char **error_r)
{
	size_t usable = 0;

	if (SSL_dane_enable(ssl, p->host) <= 0) {
		*error_r = errfmt("DANE: %s", ssl_error_text(0));
		return -1;
	}
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	if (p->domain != NULL && SSL_add1_host(ssl, p->domain) != 1) {
		*error_r = errfmt("DANE: %s", ssl_error_text(0));
		return -1;
	}
	for (size_t i = 0; i < p->n_tlsa; i++) {
		const struct tls_tlsa *t = &p->tlsa[i];
		int r = SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype,
					  t->data, t->len);
		if (r > 0)
			usable++;
		ERR_clear_error();   /* an unusable record is no error */
	}
	if (usable == 0) {
		*error_r = "DANE: none of the TLSA records is usable";
		return -1;
	}
	return 0;
}

static int client_verify(SSL *ssl, const struct tls_client_params *p,
			 const char **error_r)
{
	unsigned char ip[16];
	bool literal = inet_pton(AF_INET, p->host, ip) == 1 ||
		       inet_pton(AF_INET6, p->host, ip) == 1;

	/* RFC 6125: the name the certificate must hold, wildcards only as
	 * the whole left-most label. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if ((literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->host) :
		       SSL_set1_host(ssl, p->host)) != 1) {
		*error_r = errfmt("TLS: cannot check the name %s: %s", p->host,
				  ssl_error_text(0));
		return -1;
	}
	return 0;
}

struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, int fd,
				     const struct tls_client_params *p,
				     const char **error_r)
{
	SSL *ssl = SSL_new(ctx->ssl_ctx[0]);
	int rc = 0;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		*error_r = errfmt("TLS: cannot create a session: %s", ssl_error_text(0));
		SSL_free(ssl);
		return NULL;
	}
	if (p->sni != NULL && SSL_set_tlsext_host_name(ssl, p->sni) != 1) {
		*error_r = errfmt("TLS: SNI %s: %s", p->sni, ssl_error_text(0));
		rc = -1;
	}
	if (rc == 0 && p->auth == TLS_CLIENT_AUTH_DANE)
		rc = client_dane(ssl, p, error_r);
	else if (rc == 0 && p->auth == TLS_CLIENT_AUTH_VERIFY)
		rc = client_verify(ssl, p, error_r);
	if (rc < 0) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	/* A required check that fails ends the handshake with an alert. */
	SSL_set_verify(ssl, p->auth == TLS_CLIENT_AUTH_NONE ? SSL_VERIFY_NONE :
		       SSL_VERIFY_PEER, NULL);
	SSL_set_connect_state(ssl);
	struct tls_conn *tc = xcalloc(1, sizeof(*tc));
	tc->ssl = ssl;
	tc->ctx = tls_ctx_ref(ctx);
	tc->client = true;
	tc->auth = p->auth;
	return tc;
}

enum tls_peer_auth tls_conn_peer_auth(struct tls_conn *tc)
{
	if (!tc->client || tc->auth == TLS_CLIENT_AUTH_NONE ||
	    SSL_get_verify_result(tc->ssl) != X509_V_OK ||
	    SSL_get0_peer_certificate(tc->ssl) == NULL)
		return TLS_PEER_ANONYMOUS;
	if (tc->auth == TLS_CLIENT_AUTH_DANE)
		return SSL_get0_dane_authority(tc->ssl, NULL, NULL) >= 0 ?
		       TLS_PEER_DANE : TLS_PEER_ANONYMOUS;
	return TLS_PEER_VERIFIED;
}

const char *tls_peer_auth_name(enum tls_peer_auth auth)
{
	switch (auth) {
	case TLS_PEER_ANONYMOUS: return "anonymous";
	case TLS_PEER_VERIFIED: return "verified";
	case TLS_PEER_DANE: return "dane";
	}
	return "?";
}

/* ---- probing a server -------------------------------------------------- */

/* Signature algorithms offered per key type (RFC 8446 4.2.3 names). */
static const char *const probe_sigalgs[] = {
	[TLS_PROBE_ANY] = NULL,
	[TLS_PROBE_RSA] = "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:"
			  "rsa_pss_rsae_sha512:rsa_pkcs1_sha256:rsa_pkcs1_sha384:"
			  "rsa_pkcs1_sha512",
	[TLS_PROBE_ECDSA] = "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:"
			    "ecdsa_secp521r1_sha512",
};

int tls_probe_handshake(int fd, const char *sni, enum tls_probe_key key,
			unsigned timeout_secs, struct tls_probe *probe_r,
			const char **error_r)
{
	struct timeval tv = { timeout_secs, 0 };
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int ret = -1;

	memset(probe_r, 0, sizeof(*probe_r));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (c == NULL || SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    (probe_sigalgs[key] != NULL &&
	     SSL_CTX_set1_sigalgs_list(c, probe_sigalgs[key]) != 1) ||
	    (ssl = SSL_new(c)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    (sni != NULL && SSL_set_tlsext_host_name(ssl, sni) != 1)) {
		*error_r = errfmt("TLS: %s", ssl_error_text(0));
		goto out;
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_connect(ssl);
	if (r != 1) {
		*error_r = errfmt("TLS handshake: %s",
				  ssl_error_text(SSL_get_error(ssl, r)));
		goto out;
	}
	strlcpy_sp(probe_r->version, SSL_get_version(ssl), sizeof(probe_r->version));
	strlcpy_sp(probe_r->cipher, SSL_get_cipher_name(ssl), sizeof(probe_r->cipher));
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	for (int i = 0; chain != NULL && i < sk_X509_num(chain) &&
	     probe_r->n_chain < TLS_PROBE_CHAIN_MAX; i++) {
		X509 *x = sk_X509_value(chain, i);
		X509_up_ref(x);
		probe_r->chain[probe_r->n_chain++] = x;
	}
	if (probe_r->n_chain == 0) {
		*error_r = "TLS handshake: no certificate served";
		goto out;
	}
	(void)SSL_shutdown(ssl);
	ret = 0;
out:
	SSL_free(ssl);
	SSL_CTX_free(c);
	ERR_clear_error();
	return ret;
}

void tls_probe_free(struct tls_probe *probe)
{
	for (size_t i = 0; i < probe->n_chain; i++)
		X509_free(probe->chain[i]);
	probe->n_chain = 0;
}
