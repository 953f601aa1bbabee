/* keyd.h — the key-holding process, and the workers' side of it.
 *
 * No network-facing process holds a private key (the Heartbleed class: a
 * memory disclosure in a worker must not leak it; OpenSMTPD's "ca"
 * process). The key holder is a child of the master, forked before any key
 * is read, that keeps its privileges, opens no socket to the world and owns
 * certs_dir: it loads the configured pairs (pki_set.h), validates a
 * replacement before it takes it, logs expiry warnings, and signs. Neither
 * the master nor a worker ever reads a private key, so none is left in the
 * memory the workers are forked from. Workers get only the certificates
 * (tls_set.h, relayed by the master); their keys are "remote keys" whose
 * private operations OpenSSL routes through key-method hooks (RSA_METHOD,
 * EC_KEY_METHOD) to the key holder over a socketpair of their own.
 *
 * A request names the key by its id (SHA-256 of the DER SubjectPublicKey-
 * Info) and is checked before anything is signed: only handshake
 * signatures, only of the sizes a handshake has:
 *   ECDSA      a digest of 20, 28, 32, 48 or 64 bytes;
 *   RSA PKCS#1 v1.5  a digest of the size its algorithm (nid) has;
 *   RSA PSS    the encoded block OpenSSL made (RSA_NO_PADDING private op):
 *              exactly the modulus size, ending in 0xbc, its top bits
 *              clear as EMSA-PSS requires (RFC 8017 9.1.1). This is the one
 *              raw operation: OpenSSL 3's RSA_METHOD hands over the padded
 *              block, not the digest. sealpost offers no RSA key exchange,
 *              so the key decrypts nothing sent to this server.
 * The key holder keeps the keys of the current set and of the one before
 * (a handshake that began before a reload finishes with its key).
 * Its channel to the master is request and answer, one at a time.
 *
 * Threads: the key holder serves each worker's channel in a thread of its
 * own (signatures of two workers run in parallel); the master channel
 * updates the key table under a lock. */
#ifndef SEALPOST_KEYD_H
#define SEALPOST_KEYD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "lib/util.h"

/* Bytes of a key id: SHA-256 of the public key's DER. */
#define KEYD_ID_SIZE 32
/* Largest operand or signature: an RSA-8192 block. */
#define KEYD_DATA_MAX 1024
/* A worker waits this long for a signature before failing the handshake. */
#define KEYD_TIMEOUT_MS 5000
/* Keys in one set (pairs of the config, each RSA and ECDSA). */
#define KEYD_KEYS_MAX 256

/* The id of key's public half. */
void keyd_key_id(EVP_PKEY *key, unsigned char id[KEYD_ID_SIZE]);

/* A load may take this long (reading and checking every pair). */
#define KEYD_LOAD_TIMEOUT_MS 60000

/* Master side. Fork the key holder; *pid_r its pid, *ctl_r the master's
 * end of its channel. The child never returns. */
int keyd_spawn(pid_t *pid_r, int *ctl_r, const char **error_r);

enum keyd_load_mode {
	/* Start: a pair that cannot be loaded is an error (*error_r names its
	 * file); findings are logged. */
	KEYD_LOAD_START,
	/* Reload: each replacement is validated; a refused one keeps the
	 * running pair. Fails only when the default cannot be served. */
	KEYD_LOAD_RELOAD,
};
/* Have the key holder load the pairs the config at config_path names;
 * *pairs_r gets the set for the workers (tls_set_encode_pairs), report
 * the outcome as lines "ok ...", "warning ...", "error ...". */
int keyd_load(int ctl, enum keyd_load_mode mode, const char *config_path,
	      struct buf *pairs_r, struct buf *report, const char **error_r);
/* Have the key holder log the expiry steps its pairs reached. */
void keyd_expiry(int ctl);
/* A channel for a new worker: the key holder gets one end, *worker_fd_r
 * is the other (for the worker). */
int keyd_new_channel(int ctl, int *worker_fd_r, const char **error_r);

/* Worker side. A key whose private operations go to the key holder over
 * fd: pub carries the public half (from the certificate). New reference;
 * NULL for a key type other than RSA and EC. */
EVP_PKEY *keyd_remote_key(EVP_PKEY *pub, int fd);

#endif
