/* tls.h — TLS for every protocol, server side now, client side later.
 *
 * The only module that includes <openssl/ssl.h>. A tls_ctx holds the policy
 * (TLS 1.2+, forward-secret AEAD suites, server preference, tickets) and the
 * certificate pair it serves. Designed so that later a ctx can hold several
 * pairs (RSA beside ECDSA, one per SNI name) and a renewed ctx can be swapped
 * in while connections made under the old one finish: connections keep a
 * reference to the ctx they were made with (tls_ctx_ref/unref). */
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

/* A server context serving cert (+ chain, issuer first) with key. The ctx
 * takes its own references; the caller keeps its objects. min_version is
 * 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3). */
int tls_server_ctx_new(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
		       int min_version, struct tls_ctx **ctx_r,
		       const char **error_r);
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

#endif
