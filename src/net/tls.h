/* tls.h — TLS for every protocol.
 *
 * The only module that includes <openssl/ssl.h>. A tls_ctx holds the policy
 * (TLS 1.2+, forward-secret AEAD suites, server preference, tickets) and the
 * certificate pairs it serves: several per name (RSA beside ECDSA), a group
 * per SNI name. A renewed ctx is swapped in while connections made under
 * the old one finish: connections keep a reference to the ctx they were
 * made with (tls_ctx_ref/unref). */
#ifndef SEALPOST_TLS_H
#define SEALPOST_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>
#include <openssl/evp.h>

struct tls_ctx;
struct tls_conn;

enum tls_io {
	TLS_IO_OK,
	TLS_IO_WANT_READ,
	TLS_IO_WANT_WRITE,
	TLS_IO_EOF,        /* peer closed (close_notify or TCP EOF) */
	TLS_IO_ERROR,      /* protocol or system error: drop the connection */
};

/* One certificate pair to serve. key may be a remote key (its signatures
 * made by the key-holding process, server/keyd.h). The ctx takes its own
 * references; the caller keeps its objects. */
struct tls_pair {
	X509 *cert;
	STACK_OF(X509) *chain;     /* intermediates, issuer first; may be NULL */
	EVP_PKEY *key;
};

/* The pairs served together for one name: an RSA and an ECDSA pair side by
 * side, OpenSSL choosing by the signature algorithms the client offers. */
struct tls_group {
	const struct tls_pair *pairs;
	size_t n_pairs;
};

/* Session ticket keys (RFC 5077 4): a 16-byte name, a 32-byte AES-256 key
 * and a 32-byte HMAC-SHA256 key. Tickets are made with the current key;
 * those of the previous key are still accepted (and renewed), so a
 * rotation never costs a full handshake. */
#define TLS_TICKET_KEY_SIZE 80
#define TLS_TICKET_KEYS_SIZE (2 * TLS_TICKET_KEY_SIZE)   /* current, previous */

/* The group serving a client's server name (RFC 6066 3): an index into
 * groups, or -1 for the default (groups[0]). Called during handshakes. */
typedef int tls_sni_select_fn(const char *host, void *arg);

struct tls_server_spec {
	int min_version;                 /* 0x0303 TLS 1.2 or 0x0304 TLS 1.3 */
	const struct tls_group *groups;  /* [0]: no SNI or an unknown name */
	size_t n_groups;
	tls_sni_select_fn *sni_select;   /* NULL: every client gets groups[0] */
	void *sni_arg;                   /* owned by the ctx when sni_free set */
	void (*sni_free)(void *arg);
	/* TLS_TICKET_KEYS_SIZE bytes (current, then previous; a previous key
	 * of zeros is unused), the same in every worker; NULL: keys made by
	 * OpenSSL in this process. */
	const unsigned char *ticket_keys;
};

/* A server context for spec: the policy (TLS 1.2+, forward-secret AEAD
 * suites, server preference), one SSL_CTX per group, SNI, tickets. */
int tls_server_ctx_new(const struct tls_server_spec *spec,
		       struct tls_ctx **ctx_r, const char **error_r);
/* New ticket keys for every SSL_CTX of ctx (a rotation). */
void tls_ctx_set_ticket_keys(struct tls_ctx *ctx,
			     const unsigned char keys[TLS_TICKET_KEYS_SIZE]);
/* ---- probing a server (sealpost tls check) ---------------------------- */

/* The key type a probe offers signature algorithms for. */
enum tls_probe_key {
	TLS_PROBE_ANY,
	TLS_PROBE_RSA,
	TLS_PROBE_ECDSA,
};

/* Certificates a probe keeps of the served chain. */
#define TLS_PROBE_CHAIN_MAX 10

struct tls_probe {
	char version[16];                    /* "TLSv1.3" */
	char cipher[64];
	X509 *chain[TLS_PROBE_CHAIN_MAX];    /* leaf first; owned */
	size_t n_chain;
};

/* A client handshake on the connected, blocking socket fd (after any
 * STARTTLS exchange), sending sni (may be NULL) and offering only the
 * signature algorithms of key; no verification (the caller judges the
 * chain). timeout_secs bounds each read and write. */
int tls_probe_handshake(int fd, const char *sni, enum tls_probe_key key,
			unsigned timeout_secs, struct tls_probe *probe_r,
			const char **error_r);
void tls_probe_free(struct tls_probe *probe);

struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);
void tls_ctx_unref(struct tls_ctx **ctx);

/* A TLS connection over the non-blocking socket fd, accepting. */
struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx, int fd);
void tls_conn_free(struct tls_conn **tc);

enum tls_io tls_handshake(struct tls_conn *tc, const char **error_r);
/* Read up to len decrypted bytes; *n_r is set when TLS_IO_OK. */
enum tls_io tls_read(struct tls_conn *tc, void *buf, size_t len, size_t *n_r,
		     const char **error_r);
/* Write up to len bytes; *n_r is set when TLS_IO_OK (may be partial). */
enum tls_io tls_write(struct tls_conn *tc, const void *buf, size_t len,
		      size_t *n_r, const char **error_r);
/* Decrypted or buffered record bytes that raise no socket event. */
bool tls_has_pending(struct tls_conn *tc);
/* Send close_notify once; never waits for the peer's. */
void tls_shutdown(struct tls_conn *tc);

const char *tls_conn_version(struct tls_conn *tc);   /* "TLSv1.3" */
const char *tls_conn_cipher(struct tls_conn *tc);    /* "TLS_AES_256_GCM_SHA384" */
int tls_conn_cipher_bits(struct tls_conn *tc);
bool tls_conn_resumed(struct tls_conn *tc);

/* ---- the client side (outbound SMTP) ------------------------------------
 * One client context per process: the same protocol policy as the server
 * (TLS 1.2+, forward-secret AEAD suites), the trust store for PKIX checks
 * (the system's CAs or ca_file) and OpenSSL's DANE support. What a
 * connection checks is chosen per connection (tls_client_params). */
struct tls_client_spec {
	int min_version;                 /* 0x0303 TLS 1.2 or 0x0304 TLS 1.3 */
	const char *ca_file;             /* PEM CAs; NULL: the system's */
};
int tls_client_ctx_new(const struct tls_client_spec *spec,
		       struct tls_ctx **ctx_r, const char **error_r);

/* A TLSA record for OpenSSL's DANE verifier (RFC 6698 2.1). */
struct tls_tlsa {
	unsigned char usage, selector, mtype;
	const unsigned char *data;
	size_t len;
};

/* What a client connection requires of the server's certificate. */
enum tls_client_auth {
	TLS_CLIENT_AUTH_NONE,    /* nothing: any certificate (opportunistic) */
	TLS_CLIENT_AUTH_VERIFY,  /* PKIX: a chain to a trusted CA, and host */
	TLS_CLIENT_AUTH_DANE,    /* a match of the TLSA records (RFC 7672) */
};

struct tls_client_params {
	const char *sni;         /* server name sent (RFC 6066 3); NULL: none */
	enum tls_client_auth auth;
	const char *host;        /* VERIFY: the name (or address) checked;
				  * DANE: the TLSA base domain (the MX host) */
	const char *domain;      /* DANE: the next-hop domain, also accepted
				  * in DANE-TA chains (RFC 7672 3.2.2); NULL */
	const struct tls_tlsa *tlsa;   /* DANE: the records (copied) */
	size_t n_tlsa;
};

/* A TLS connection over the non-blocking socket fd, connecting. NULL with
 * *error_r when params cannot be applied (e.g. no usable TLSA record). A
 * required check that fails fails the handshake, whose error says why. */
struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, int fd,
				     const struct tls_client_params *p,
				     const char **error_r);

/* What authenticated the server after a client handshake. */
enum tls_peer_auth {
	TLS_PEER_ANONYMOUS,      /* encrypted, the certificate not checked */
	TLS_PEER_VERIFIED,       /* PKIX chain and name verified */
	TLS_PEER_DANE,           /* a TLSA record matched */
};
enum tls_peer_auth tls_conn_peer_auth(struct tls_conn *tc);
const char *tls_peer_auth_name(enum tls_peer_auth auth);   /* "dane" */

#endif
