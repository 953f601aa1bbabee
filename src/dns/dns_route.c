/* dns_route.c — the next hop for a domain: its MX, then the addresses of
 * every MX host and, where DANE can apply, their TLSA records, all hosts at
 * once; DANE per host and what delivery does with the result (RFC 5321 5.1,
 * RFC 7505, RFC 7672 2.1.1 and 2.2). */
#include "dns/dns_private.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

struct route_host_lookup {
	struct dns_route_lookup *route;
	size_t idx;
	struct dns_lookup *addrs, *tlsa;
};

struct dns_route_lookup {
	struct dns_resolver *res;
	struct dns_route *out;
	unsigned flags;
	dns_callback_t *callback;
	void *context;
	struct dns_lookup *mx;
	struct route_host_lookup host[DNS_MX_HOSTS_MAX];
	size_t pending;                  /* lookups running */
	bool completing;
};

static void route_step_done(struct dns_route_lookup *rl)
{
	if (--rl->pending > 0)
		return;
	rl->completing = true;
	rl->callback(rl->context);
	free(rl);
}

/* RFC 7672 2.2: DANE needs secure addresses (2.2.2) and a secure TLSA
 * RRset; a TLSA lookup that fails makes the host unusable (2.1.1). */
static enum dns_dane host_dane(const struct dns_route_host *h)
{
	const struct dns_answer *t = &h->tlsa.answer;

	if (!h->tlsa_asked || !dns_addrs_secure(&h->addrs))
		return DNS_DANE_NONE;
	if (dns_status_temporary(t->status))
		return DNS_DANE_FAILED;
	if (t->status != DNS_OK || t->security != DNS_SEC_SECURE)
		return DNS_DANE_NONE;
	return dns_tlsa_n_usable(&h->tlsa) > 0 ? DNS_DANE_USABLE
					       : DNS_DANE_UNUSABLE;
}

static void host_tlsa_done(void *context)
{
	struct route_host_lookup *hl = context;
	struct dns_route_host *h = &hl->route->out->host[hl->idx];

	hl->tlsa = NULL;
	h->dane = host_dane(h);
	route_step_done(hl->route);
}

static void host_addrs_done(void *context)
{
	struct route_host_lookup *hl = context;
	struct dns_route_lookup *rl = hl->route;
	struct dns_route *out = rl->out;
	struct dns_route_host *h = &out->host[hl->idx];
	const char *error;

	hl->addrs = NULL;
	if (dns_addrs_status(&h->addrs) == DNS_OK &&
	    (dns_addrs_secure(&h->addrs) || (rl->flags & DNS_ROUTE_TLSA_ALWAYS))) {
		h->tlsa_asked = true;
		hl->tlsa = dns_lookup_tlsa(rl->res, h->mx.host, out->port, &h->tlsa,
					   host_tlsa_done, hl, &error);
		if (hl->tlsa != NULL) {
			rl->pending++;
		} else {
			dns_answer_set(&h->tlsa.answer, DNS_TEMPFAIL,
				       DNS_SEC_INSECURE, -1, error);
			h->dane = host_dane(h);
		}
	}
	route_step_done(rl);
}

static void route_mx_done(void *context)
{
	struct dns_route_lookup *rl = context;
	struct dns_route *out = rl->out;
	const char *error;

	rl->mx = NULL;
	if (!out->mx.null_mx)
		out->n_hosts = out->mx.n;
	for (size_t i = 0; i < out->n_hosts; i++) {
		struct route_host_lookup *hl = &rl->host[i];
		struct dns_route_host *h = &out->host[i];
		h->mx = out->mx.mx[i];
		hl->route = rl;
		hl->idx = i;
		hl->addrs = dns_lookup_addrs(rl->res, h->mx.host, &h->addrs,
					     host_addrs_done, hl, &error);
		if (hl->addrs != NULL) {
			rl->pending++;
		} else {
			dns_answer_set(&h->addrs.a, DNS_TEMPFAIL, DNS_SEC_INSECURE,
				       -1, error);
			h->addrs.aaaa = h->addrs.a;
		}
	}
	route_step_done(rl);
}

/* DNS_ROUTE_NO_MX: the domain stands as its own and only MX host, and
 * its address lookup starts now (the callback never runs from here). */
static struct dns_route_lookup *route_no_mx(struct dns_route_lookup *rl,
					    const char **error_r)
{
	struct dns_route *out = rl->out;
	struct route_host_lookup *hl = &rl->host[0];

	dns_answer_set(&out->mx.answer, DNS_OK, DNS_SEC_INSECURE, 0, NULL);
	out->mx.n = out->n_hosts = 1;
	out->mx.mx[0].preference = 0;
	strlcpy_sp(out->mx.mx[0].host, out->domain, sizeof(out->mx.mx[0].host));
	out->host[0].mx = out->mx.mx[0];
	hl->route = rl;
	hl->idx = 0;
	hl->addrs = dns_lookup_addrs(rl->res, out->domain, &out->host[0].addrs,
				     host_addrs_done, hl, error_r);
	if (hl->addrs == NULL) {
		free(rl);
		return NULL;
	}
	rl->pending = 1;
	return rl;
}

struct dns_route_lookup *dns_lookup_route(struct dns_resolver *res,
					  const char *domain, uint16_t port,
					  unsigned flags, struct dns_route *out,
					  dns_callback_t *callback,
					  void *context, const char **error_r)
{
	struct dns_route_lookup *rl;

	memset(out, 0, sizeof(*out));
	if (!dns_name_normalize(domain, out->domain)) {
		*error_r = errfmt("'%s' is not a valid domain name",
				  log_value(domain));
		return NULL;
	}
	out->port = port;
	rl = xcalloc(1, sizeof(*rl));
	rl->res = res;
	rl->out = out;
	rl->flags = flags;
	rl->callback = callback;
	rl->context = context;
	if (flags & DNS_ROUTE_NO_MX)
		return route_no_mx(rl, error_r);
	rl->mx = dns_lookup_mx(res, out->domain, &out->mx, route_mx_done, rl,
			       error_r);
	if (rl->mx == NULL) {
		free(rl);
		return NULL;
	}
	rl->pending = 1;
	return rl;
}

void dns_route_cancel(struct dns_route_lookup **lookup)
{
	struct dns_route_lookup *rl = *lookup;

	*lookup = NULL;
	if (rl == NULL || rl->completing)
		return;
	dns_lookup_cancel(&rl->mx);
	for (size_t i = 0; i < DNS_MX_HOSTS_MAX; i++) {
		dns_lookup_cancel(&rl->host[i].addrs);
		dns_lookup_cancel(&rl->host[i].tlsa);
	}
	dns_route_clear(rl->out);
	free(rl);
}

void dns_route_clear(struct dns_route *route)
{
	for (size_t i = 0; i < DNS_MX_HOSTS_MAX; i++)
		dns_tlsa_result_clear(&route->host[i].tlsa);
}

bool dns_route_host_usable(const struct dns_route_host *h)
{
	return dns_addrs_status(&h->addrs) == DNS_OK &&
	       h->dane != DNS_DANE_FAILED;
}

/* Why no host of an MX list that resolved can be used: a temporary
 * reason (the first) wins over a permanent one. */
static enum dns_verdict no_host_verdict(const struct dns_route *r,
					const char **why_r)
{
	for (size_t i = 0; i < r->n_hosts; i++) {
		const struct dns_route_host *h = &r->host[i];
		enum dns_status st = dns_addrs_status(&h->addrs);
		if (dns_status_temporary(st)) {
			const struct dns_answer *a = dns_status_temporary(
				h->addrs.aaaa.status) ? &h->addrs.aaaa : &h->addrs.a;
			*why_r = errfmt("no MX host usable now: %s: address "
					"lookup failed (%s)", h->mx.host, a->detail);
			return DNS_VERDICT_DEFER;
		}
		if (h->dane == DNS_DANE_FAILED) {
			*why_r = errfmt("no MX host usable now: %s: TLSA lookup "
					"failed (%s), DANE forbids trying the host "
					"without it", h->mx.host, h->tlsa.answer.detail);
			return DNS_VERDICT_DEFER;
		}
	}
	if (r->mx.implicit)
		*why_r = errfmt("%s has no MX and no address (RFC 5321 5.1)",
				r->domain);
	else
		*why_r = errfmt("no MX host of %s has an address", r->domain);
	return DNS_VERDICT_BOUNCE;
}

enum dns_verdict dns_route_verdict(const struct dns_route *r,
				   const char **why_r)
{
	const struct dns_answer *a = &r->mx.answer;
	size_t usable = 0;

	switch (a->status) {
	case DNS_NXDOMAIN:
		*why_r = errfmt("the domain does not exist (NXDOMAIN, %s)",
				dns_security_name(a->security));
		return DNS_VERDICT_BOUNCE;
	case DNS_TEMPFAIL:
		*why_r = errfmt("MX lookup failed (%s)", a->detail);
		return DNS_VERDICT_DEFER;
	case DNS_BOGUS:
		*why_r = errfmt("MX answer is bogus (%s)", a->detail);
		return DNS_VERDICT_DEFER;
	case DNS_OK:
	case DNS_NODATA:
		break;
	}
	if (r->mx.null_mx) {
		*why_r = errfmt("%s accepts no mail (null MX, RFC 7505)", r->domain);
		return DNS_VERDICT_BOUNCE;
	}
	if (r->n_hosts == 0) {
		*why_r = errfmt("no usable MX record (%zu malformed)",
				r->mx.n_dropped);
		return DNS_VERDICT_DEFER;
	}
	for (size_t i = 0; i < r->n_hosts; i++)
		usable += dns_route_host_usable(&r->host[i]);
	if (usable == 0)
		return no_host_verdict(r, why_r);
	*why_r = errfmt("%zu of %zu MX hosts usable", usable, r->n_hosts);
	return DNS_VERDICT_DELIVER;
}
