/* tls_set.h — the certificates a worker serves, as the master hands them
 * over: every pair of the configured set (pki_set.h) with its chain, the
 * groups served together, the [sni] names, the TLS policy and the session
 * ticket keys. The private keys never travel this way: the worker makes a
 * remote key for each pair (keyd.h) from its certificate. */
#ifndef SEALPOST_TLS_SET_H
#define SEALPOST_TLS_SET_H

#include <stddef.h>

#include "conf/config.h"
#include "lib/util.h"
#include "net/tls.h"

struct pki_set;

/* Key holder: the pairs of set (certificates only), their groups and the
 * [sni] names, for the workers. */
void tls_set_encode_pairs(const struct pki_set *set, struct buf *out);
/* Master: the IPC_TLS_SET payload: the policy, the ticket keys
 * (TLS_TICKET_KEYS_SIZE bytes) and the pairs from the key holder. */
void tls_set_message(int min_version, const unsigned char *tickets,
		     const struct buf *pairs, struct buf *out);

/* Worker: a server context from an IPC_TLS_SET payload, every key remote
 * over keyd_fd. */
int tls_set_decode(const void *payload, size_t len, int keyd_fd,
		   struct tls_ctx **ctx_r, const char **error_r);

/* Master: fresh random ticket keys in the current slot, the old current
 * one moved to previous (TLS_TICKET_KEYS_SIZE bytes, in place). */
void tls_set_rotate_tickets(unsigned char *tickets);

#endif
