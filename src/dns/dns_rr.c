/* dns_rr.c — records from their wire format into results: MX (order, null
 * MX, implicit MX), A/AAAA, TLSA; the names and predicates of results. */
#include "dns/dns_private.h"

#include <arpa/inet.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* RFC 6698 2.1.3: matching types and their digest lengths. */
#define TLSA_SHA256_LEN 32
#define TLSA_SHA512_LEN 64

bool dns_name_normalize(const char *name, char out[DNS_NAME_MAX + 1])
{
	size_t len = strlen(name);

	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	memcpy(out, name, len);
	out[len] = '\0';
	str_lower(out);
	return dns_name_valid(out);
}

void dns_answer_set(struct dns_answer *a, enum dns_status status,
		    enum dns_security sec, int rcode, const char *detail)
{
	a->status = status;
	a->security = sec;
	a->rcode = rcode;
	strlcpy_sp(a->detail, detail != NULL ? detail : "", sizeof(a->detail));
}

/* ---- MX ---------------------------------------------------------------- */

struct mx_sort {
	struct dns_mx mx;
	uint32_t shuffle;   /* random: the order among equal preferences */
};

static int mx_cmp(const void *a, const void *b)
{
	const struct mx_sort *x = a, *y = b;

	if (x->mx.preference != y->mx.preference)
		return x->mx.preference < y->mx.preference ? -1 : 1;
	if (x->shuffle != y->shuffle)
		return x->shuffle < y->shuffle ? -1 : 1;
	return 0;
}

/* One MX rdata: 16-bit preference, then the exchange as an uncompressed
 * domain name (RFC 1035 3.3.9). host_r is "." for the root (null MX). */
static bool mx_rdata(const unsigned char *p, int len, struct dns_mx *mx_r,
		     bool *root_r)
{
	char name[NS_MAXDNAME];

	if (len < 3)
		return false;
	int used = dn_expand(p, p + len, p + 2, name, sizeof(name));
	if (used != len - 2)
		return false;
	mx_r->preference = (uint16_t)(p[0] << 8 | p[1]);
	*root_r = strcmp(name, ".") == 0 || name[0] == '\0';
	if (*root_r) {
		strlcpy_sp(mx_r->host, ".", sizeof(mx_r->host));
		return true;
	}
	return dns_name_normalize(name, mx_r->host);
}

static bool mx_seen(const struct dns_mx_result *r, const char *host)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->mx[i].host, host) == 0)
			return true;
	}
	return false;
}

/* RFC 7505 3: a null MX is one record, preference 0, exchange ".". A "."
 * among other records is not a null MX; it names no host and is dropped. */
static void mx_take(struct mx_sort *v, size_t n, size_t n_root,
		    struct dns_mx_result *r)
{
	if (n == 1 && n_root == 1 && v[0].mx.preference == 0) {
		r->null_mx = true;
		return;
	}
	qsort(v, n, sizeof(*v), mx_cmp);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].mx.host, ".") == 0 || mx_seen(r, v[i].mx.host) ||
		    r->n == DNS_MX_HOSTS_MAX) {
			r->n_dropped++;
			continue;
		}
		r->mx[r->n++] = v[i].mx;
	}
}

void dns_mx_parse(const char *domain, const struct dns_rdata *rd,
		  struct dns_mx_result *r)
{
	size_t count = 0, n = 0, n_root = 0;
	struct mx_sort *v;

	r->n = r->n_dropped = 0;
	r->null_mx = r->implicit = false;
	if (r->answer.status == DNS_NODATA) {
		/* RFC 5321 5.1: no MX, the domain itself is the host. */
		r->implicit = true;
		r->mx[0].preference = 0;
		strlcpy_sp(r->mx[0].host, domain, sizeof(r->mx[0].host));
		r->n = 1;
		return;
	}
	if (r->answer.status != DNS_OK || rd->data == NULL)
		return;
	while (rd->data[count] != NULL)
		count++;
	v = xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		bool root;
		if (!mx_rdata((const unsigned char *)rd->data[i], rd->len[i],
			      &v[n].mx, &root)) {
			r->n_dropped++;
			continue;
		}
		v[n++].shuffle = arc4random();
		n_root += root;
	}
	mx_take(v, n, n_root, r);
	free(v);
}

/* ---- A and AAAA -------------------------------------------------------- */

void dns_addrs_parse(int family, const struct dns_rdata *rd, bool secure,
		     struct dns_addrs_result *r)
{
	size_t want = family == AF_INET6 ? sizeof(struct in6_addr)
					 : sizeof(struct in_addr);
	size_t kept = 0;

	for (size_t i = 0; rd->data != NULL && rd->data[i] != NULL; i++) {
		if ((size_t)rd->len[i] != want || kept == DNS_ADDRS_MAX ||
		    r->n == N_ELEMENTS(r->addr)) {
			r->n_dropped++;
			continue;
		}
		struct dns_addr *a = &r->addr[r->n++];
		memset(a, 0, sizeof(*a));
		a->family = family;
		a->secure = secure;
		memcpy(&a->u, rd->data[i], want);
		kept++;
	}
}

enum dns_status dns_addrs_status(const struct dns_addrs_result *r)
{
	enum dns_status a = r->a.status, b = r->aaaa.status;

	if (r->n > 0)
		return DNS_OK;
	if (a == DNS_BOGUS || b == DNS_BOGUS)
		return DNS_BOGUS;
	if (a == DNS_TEMPFAIL || b == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	if (a == DNS_NXDOMAIN && b == DNS_NXDOMAIN)
		return DNS_NXDOMAIN;
	/* Records that were all malformed count as none. */
	return DNS_NODATA;
}

bool dns_addrs_secure(const struct dns_addrs_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!r->addr[i].secure)
			return false;
	}
	return r->n > 0;
}

const char *dns_addr_str(const struct dns_addr *addr, char *buf, size_t size)
{
	if (inet_ntop(addr->family, &addr->u, buf, (socklen_t)size) == NULL)
		strlcpy_sp(buf, "?", size);
	return buf;
}

/* ---- TLSA -------------------------------------------------------------- */

void dns_tlsa_parse(const struct dns_rdata *rd, struct dns_tlsa_result *r)
{
	for (size_t i = 0; rd->data != NULL && rd->data[i] != NULL; i++) {
		const uint8_t *p = (const uint8_t *)rd->data[i];
		/* RFC 6698 2.1: usage, selector, matching type, then data. */
		if (rd->len[i] < 4 || r->n == DNS_TLSA_MAX) {
			r->n_dropped++;
			continue;
		}
		struct dns_tlsa *t = &r->rr[r->n++];
		t->usage = p[0];
		t->selector = p[1];
		t->mtype = p[2];
		t->len = (size_t)rd->len[i] - 3;
		t->data = xmalloc(t->len);
		memcpy(t->data, p + 3, t->len);
	}
}

bool dns_tlsa_usable(const struct dns_tlsa *rr, const char **why_r)
{
	const char *why = NULL;

	if (rr->usage == 0 || rr->usage == 1)
		why = "PKIX usage, not for SMTP (RFC 7672 3.1.3)";
	else if (rr->usage != 2 && rr->usage != 3)
		why = "unknown certificate usage";
	else if (rr->selector > 1)
		why = "unknown selector";
	else if (rr->mtype > 2)
		why = "unknown matching type";
	else if ((rr->mtype == 1 && rr->len != TLSA_SHA256_LEN) ||
		 (rr->mtype == 2 && rr->len != TLSA_SHA512_LEN))
		why = "digest of the wrong length";
	if (why_r != NULL)
		*why_r = why;
	return why == NULL;
}

size_t dns_tlsa_n_usable(const struct dns_tlsa_result *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += dns_tlsa_usable(&r->rr[i], NULL);
	return n;
}

void dns_tlsa_result_clear(struct dns_tlsa_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		x_free(&r->rr[i].data);
	r->n = 0;
}

/* ---- names ------------------------------------------------------------- */

const char *dns_status_name(enum dns_status status)
{
	switch (status) {
	case DNS_OK: return "ok";
	case DNS_NODATA: return "no data";
	case DNS_NXDOMAIN: return "NXDOMAIN";
	case DNS_TEMPFAIL: return "temporary failure";
	case DNS_BOGUS: return "bogus";
	}
	return "?";
}

const char *dns_security_name(enum dns_security sec)
{
	switch (sec) {
	case DNS_SEC_INSECURE: return "insecure";
	case DNS_SEC_SECURE: return "secure";
	case DNS_SEC_BOGUS: return "bogus";
	}
	return "?";
}

bool dns_status_temporary(enum dns_status status)
{
	return status == DNS_TEMPFAIL || status == DNS_BOGUS;
}

const char *dns_dane_name(enum dns_dane dane)
{
	switch (dane) {
	case DNS_DANE_NONE: return "none";
	case DNS_DANE_USABLE: return "usable";
	case DNS_DANE_UNUSABLE: return "unusable";
	case DNS_DANE_FAILED: return "failed";
	}
	return "?";
}
