/* tls_set.c — the certificate set from the master to the workers.
 *
 * Payload (ipc.h encoding): u32 min_version, bytes ticket keys (the
 * master's), then the pairs as the key holder encodes them:
 *   str config path, str hostname,
 *   u32 n entries: str name, u32 n certs, n x bytes DER (leaf first)
 *   u32 n groups: u32 n, n x u32 entry
 *   u32 n sni: str host, u32 group, u32 line
 * An entry without a loaded pair travels with no certificates; a group
 * left without any pair serves nobody (its names get the default). */
#include "server/tls_set.h"
#include "server/ipc.h"
#include "server/keyd.h"
#include "pki/pki_set.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* Certificates of one chain a set may carry (leaf + intermediates). */
#define TLS_SET_CHAIN_MAX 16

static void put_cert(struct buf *b, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	ipc_put_bytes(b, der, len > 0 ? (size_t)len : 0);
	OPENSSL_free(der);
}

void tls_set_message(int min_version, const unsigned char *tickets,
		     const struct buf *pairs, struct buf *out)
{
	ipc_put_u32(out, (uint32_t)min_version);
	ipc_put_bytes(out, tickets, TLS_TICKET_KEYS_SIZE);
	buf_append(out, pairs->data, pairs->len);
}

void tls_set_encode_pairs(const struct pki_set *set, struct buf *out)
{
	ipc_put_str(out, set->config_path);
	ipc_put_str(out, set->hostname);
	ipc_put_u32(out, (uint32_t)set->n_entries);
	for (size_t i = 0; i < set->n_entries; i++) {
		const struct pki_pair *p = set->entries[i].pair;
		int n_chain = p != NULL && p->chain != NULL ? sk_X509_num(p->chain) : 0;
		ipc_put_str(out, set->entries[i].name);
		ipc_put_u32(out, p != NULL ? 1 + (uint32_t)n_chain : 0);
		if (p == NULL)
			continue;
		put_cert(out, p->cert);
		for (int c = 0; c < n_chain; c++)
			put_cert(out, sk_X509_value(p->chain, c));
	}
	ipc_put_u32(out, (uint32_t)set->n_groups);
	for (size_t g = 0; g < set->n_groups; g++) {
		ipc_put_u32(out, (uint32_t)set->groups[g].n_entries);
		for (size_t e = 0; e < set->groups[g].n_entries; e++)
			ipc_put_u32(out, (uint32_t)set->groups[g].entries[e]);
	}
	ipc_put_u32(out, (uint32_t)set->n_sni);
	for (size_t s = 0; s < set->n_sni; s++) {
		ipc_put_str(out, set->sni[s].host);
		ipc_put_u32(out, (uint32_t)set->sni[s].group);
		ipc_put_u32(out, set->sni[s].line);
	}
}

void tls_set_rotate_tickets(unsigned char *tickets)
{
	memmove(tickets + TLS_TICKET_KEY_SIZE, tickets, TLS_TICKET_KEY_SIZE);
	if (RAND_bytes(tickets, TLS_TICKET_KEY_SIZE) != 1)
		abort();   /* no randomness: nothing safe to do */
}

/* ---- worker side ------------------------------------------------------- */

static X509 *get_cert(struct ipc_cursor *c)
{
	size_t len;
	const unsigned char *der = ipc_get_bytes(c, &len);
	return der != NULL ? d2i_X509(NULL, &der, (long)len) : NULL;
}

/* One entry: the pair with a remote key, or NULL (not loaded). */
static struct pki_pair *get_pair(struct ipc_cursor *c, const char *name,
				 int keyd_fd, const char **error_r)
{
	uint32_t n = ipc_get_u32(c);
	struct pki_pair *pair;

	if (n == 0 || c->bad)
		return NULL;
	pair = pki_pair_new(name);
	pair->chain = sk_X509_new_null();
	for (uint32_t i = 0; i < n && i < TLS_SET_CHAIN_MAX; i++) {
		X509 *x = get_cert(c);
		if (x == NULL) {
			c->bad = true;
			break;
		}
		if (i == 0)
			pair->cert = x;
		else
			sk_X509_push(pair->chain, x);
	}
	if (!c->bad && pair->cert != NULL) {
		EVP_PKEY *pub = X509_get0_pubkey(pair->cert);
		pair->key = pub != NULL ? keyd_remote_key(pub, keyd_fd) : NULL;
	}
	if (c->bad || pair->cert == NULL || pair->key == NULL) {
		*error_r = errfmt("TLS set: pair %s: unusable certificate or key type",
				  name);
		pki_pair_free(&pair);
		c->bad = true;
	}
	return pair;
}

static int decode_set(struct ipc_cursor *c, int keyd_fd, struct pki_set **set_r,
		      const char **error_r)
{
	char *path = ipc_get_str(c), *hostname = ipc_get_str(c);
	struct pki_set *set = pki_set_new(path != NULL && *path ? path : NULL,
					  hostname, 0, 0);
	uint32_t n;

	free(path);
	free(hostname);
	n = ipc_get_u32(c);
	for (uint32_t i = 0; i < n && !c->bad; i++) {
		char *name = ipc_get_str(c);
		if (name == NULL)
			break;
		struct pki_pair *pair = get_pair(c, name, keyd_fd, error_r);
		if (!c->bad)
			pki_set_add_entry(set, name, pair, pair ? NULL : "not loaded",
					  "certificate", 0);
		free(name);
	}
	n = ipc_get_u32(c);
	for (uint32_t g = 0; g < n && !c->bad; g++) {
		size_t entries[PKI_GROUP_MAX];
		uint32_t k = ipc_get_u32(c);
		for (uint32_t e = 0; e < k && e < PKI_GROUP_MAX; e++) {
			entries[e] = ipc_get_u32(c);
			if (entries[e] >= set->n_entries)
				c->bad = true;
		}
		if (k == 0 || k > PKI_GROUP_MAX)
			c->bad = true;
		if (!c->bad)
			pki_set_add_group(set, entries, k);
	}
	n = ipc_get_u32(c);
	for (uint32_t s = 0; s < n && !c->bad; s++) {
		char *host = ipc_get_str(c);
		uint32_t group = ipc_get_u32(c), line = ipc_get_u32(c);
		if (host != NULL && group < set->n_groups)
			pki_set_add_sni(set, host, group, line);
		else
			c->bad = true;
		free(host);
	}
	if (c->bad || set->n_groups == 0) {
		if (*error_r == NULL)
			*error_r = "TLS set: damaged message";
		pki_set_free(&set);
		return -1;
	}
	*set_r = set;
	return 0;
}

/* The SNI callback: pki_set_select() over the worker's copy of the set. A
 * group without any loaded pair serves nobody: the default answers. */
static int select_group(const char *host, void *arg)
{
	const struct pki_set *set = arg;
	struct pki_selection sel;
	unsigned loaded = 0;

	pki_set_select(set, host, &sel);
	if (sel.group == 0)
		return -1;
	pki_group_covers(set, sel.group, "", &loaded);
	return loaded != 0 ? (int)sel.group : -1;
}

static void free_set(void *arg)
{
	struct pki_set *set = arg;
	pki_set_free(&set);
}

static int build_ctx(struct pki_set *set, int min_version,
		     const unsigned char *tickets, struct tls_ctx **ctx_r,
		     const char **error_r)
{
	struct tls_group *groups = xcalloc(set->n_groups, sizeof(*groups));
	struct tls_pair *pairs = xcalloc(set->n_groups * PKI_GROUP_MAX, sizeof(*pairs));
	struct tls_server_spec spec = {
		.min_version = min_version, .groups = groups,
		.n_groups = set->n_groups, .sni_select = select_group,
		.sni_arg = set, .sni_free = free_set, .ticket_keys = tickets,
	};

	for (size_t g = 0; g < set->n_groups; g++) {
		struct tls_pair *gp = pairs + g * PKI_GROUP_MAX;
		size_t n = 0;
		for (size_t e = 0; e < set->groups[g].n_entries; e++) {
			const struct pki_pair *p = set->entries[set->groups[g].entries[e]].pair;
			if (p == NULL)
				continue;
			gp[n].cert = p->cert;
			gp[n].chain = p->chain;
			gp[n++].key = p->key;
		}
		groups[g].pairs = gp;
		groups[g].n_pairs = n;
	}
	int ret = groups[0].n_pairs == 0 ? -1 : tls_server_ctx_new(&spec, ctx_r, error_r);
	if (groups[0].n_pairs == 0)
		*error_r = "TLS set: the default certificate is not loaded";
	free(groups);
	free(pairs);
	return ret;
}

int tls_set_decode(const void *payload, size_t len, int keyd_fd,
		   struct tls_ctx **ctx_r, const char **error_r)
{
	struct ipc_cursor c;
	struct pki_set *set = NULL;
	size_t tlen;

	*error_r = NULL;
	ipc_cursor_init(&c, payload, len);
	int min_version = (int)ipc_get_u32(&c);
	const unsigned char *tickets = ipc_get_bytes(&c, &tlen);
	if (c.bad || tlen != TLS_TICKET_KEYS_SIZE) {
		*error_r = "TLS set: damaged message";
		return -1;
	}
	if (decode_set(&c, keyd_fd, &set, error_r) < 0)
		return -1;
	if (build_ctx(set, min_version, tickets, ctx_r, error_r) < 0) {
		pki_set_free(&set);
		return -1;
	}
	return 0;   /* the ctx owns set now */
}
