/* dns.h — asynchronous, DNSSEC-validating DNS lookups for outbound mail.
 *
 * Built on libunbound. A struct dns_resolver wraps one ub_ctx whose
 * resolving and validation run on libunbound's own background thread; the
 * answers come back through a pipe (ub_fd()) watched by an event on the
 * caller's libevent base, and ub_process() runs the callbacks there. So:
 *  - every callback runs on the loop thread, from event dispatch, never
 *    from inside the call that started the lookup;
 *  - create the resolver in the process that uses it (in each worker,
 *    after fork): libunbound's thread does not survive fork();
 *  - nothing here blocks the loop, except dns_resolver_create(), which
 *    reads the trust anchor and /etc/resolv.conf once.
 *
 * Results go into storage the caller provides (struct dns_*_result); it
 * must stay valid until the callback has run or the lookup was cancelled,
 * and is only complete when the callback runs. A lookup handle is valid
 * until its callback starts: the callback forgets it, and a session that
 * closes first cancels it (dns_lookup_cancel(): no callback afterwards).
 *
 * Every answer says what the DNS said (enum dns_status: data, no data, no
 * such name, temporary failure) and whether DNSSEC proved it
 * (enum dns_security). A bogus answer (validation failed) is a failure,
 * never data: its records are not reported.
 *
 * Names are ASCII host names (LDH labels, RFC 1123 2.1; IDNs as A-labels),
 * with or without the trailing dot; results carry them in lower case,
 * without the dot. */
#ifndef SEALPOST_DNS_H
#define SEALPOST_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct config;
struct event_base;

/* A lookup that gets no answer within this time is a temporary failure.
 * No RFC gives a number; libunbound's own retries over several servers fit
 * well inside it, and a mail queue simply tries again later (RFC 5321
 * 4.5.4.1). */
#define DNS_QUERY_TIMEOUT_MS 30000
/* MX hosts kept per domain, lowest preference first. RFC 5321 5.1 asks the
 * client to try more than one; Postfix tries 5 addresses per message. */
#define DNS_MX_HOSTS_MAX 10
/* Addresses kept per host and family (RFC 5321 5.1: the client tries the
 * addresses of a multihomed host in turn). */
#define DNS_ADDRS_MAX 8
/* TLSA records kept per host (RFC 7672 3.1: an MX host needs a few, for a
 * key rollover; the rest are counted as dropped). */
#define DNS_TLSA_MAX 16
/* Longest explanation kept with an answer (why_bogus, the RCODE...). */
#define DNS_DETAIL_MAX 200
/* The Debian root key (package dns-root-data): the trust anchor when the
 * config names none. */
#define DNS_ROOT_ANCHOR_FILE "/usr/share/dns/root.key"

enum dns_status {
	DNS_OK,        /* records in the answer */
	DNS_NODATA,    /* the name exists, without records of this type */
	DNS_NXDOMAIN,  /* the name does not exist (RCODE 3): permanent */
	DNS_TEMPFAIL,  /* SERVFAIL, REFUSED, timeout, no server: try later */
	DNS_BOGUS,     /* DNSSEC validation failed: a failure like TEMPFAIL */
};

enum dns_security {
	DNS_SEC_INSECURE, /* no chain of trust covers the name (unsigned zone),
			   * or no answer at all */
	DNS_SEC_SECURE,   /* validated from the trust anchor; a secure NODATA
			   * or NXDOMAIN is a proven denial */
	DNS_SEC_BOGUS,    /* validation failed */
};

/* What the DNS said for one query. */
struct dns_answer {
	enum dns_status status;
	enum dns_security security;
	int rcode;            /* 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...;
			       * -1: no answer (timeout, resolver error) */
	char detail[DNS_DETAIL_MAX + 1]; /* why it failed ("SERVFAIL", "no
			       * answer within 30 s", libunbound's reason
			       * for a bogus answer); "" for an answer */
};

struct dns_mx {
	uint16_t preference;
	char host[DNS_NAME_MAX + 1];
};

struct dns_mx_result {
	struct dns_answer answer;
	bool null_mx;        /* RFC 7505: the domain accepts no mail */
	bool implicit;       /* no MX (NODATA): the domain itself with
			      * preference 0 is mx[0] (RFC 5321 5.1) */
	size_t n;
	struct dns_mx mx[DNS_MX_HOSTS_MAX]; /* by preference; equal
			      * preferences in random order (RFC 5321 5.1) */
	size_t n_dropped;    /* over DNS_MX_HOSTS_MAX, duplicates, malformed */
};

struct dns_addr {
	int family;          /* AF_INET6 or AF_INET */
	bool secure;         /* from a DNSSEC-secure answer */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

/* A and AAAA of one host, asked at the same time. */
struct dns_addrs_result {
	struct dns_answer aaaa, a;
	size_t n;
	struct dns_addr addr[2 * DNS_ADDRS_MAX]; /* IPv6 first, then IPv4,
			      * each in the order of the answer */
	size_t n_dropped;    /* over DNS_ADDRS_MAX or malformed */
};

/* A TLSA record (RFC 6698 2.1). */
struct dns_tlsa {
	uint8_t usage, selector, mtype;
	size_t len;
	uint8_t *data;       /* owned by the result (dns_tlsa_result_clear) */
};

struct dns_tlsa_result {
	struct dns_answer answer;
	char name[DNS_NAME_MAX + 16]; /* the name asked: _25._tcp.HOST */
	size_t n;
	struct dns_tlsa rr[DNS_TLSA_MAX];
	size_t n_dropped;    /* over DNS_TLSA_MAX, or without data */
};

/* ---- the resolver ------------------------------------------------------ */

struct dns_resolver;

struct dns_resolver_settings {
	const char *forwarder;    /* "ADDRESS:PORT" or "[IPv6]:PORT" (as the
				   * config's resolver); NULL: the servers
				   * of /etc/resolv.conf */
	const char *trust_anchor; /* file of DS or DNSKEY records; NULL:
				   * DNS_ROOT_ANCHOR_FILE, and no validation
				   * when that is missing */
	unsigned timeout_ms;      /* 0: DNS_QUERY_TIMEOUT_MS */
	bool dnssec_require;      /* keep validating when the resolver
				   * passes no DNSSEC (see enum dns_dnssec) */
};

/* The settings of the config's [outbound] section. */
void dns_settings_from_config(const struct config *cfg,
			      struct dns_resolver_settings *set_r);

/* A resolver whose callbacks run on base. Reads the trust anchor and
 * resolv.conf now, so a bad file is reported here. */
int dns_resolver_create(struct event_base *base,
			const struct dns_resolver_settings *set,
			struct dns_resolver **res_r, const char **error_r);
/* Cancel every lookup still running (no callbacks) and free the resolver.
 * Never from inside a dns callback. */
void dns_resolver_free(struct dns_resolver **res);
/* The trust anchor file in use; NULL: DNSSEC off (everything insecure). */
const char *dns_resolver_trust_anchor(const struct dns_resolver *res);

/* Validation needs a resolver that passes DNSSEC records on (the DO bit);
 * one that strips them makes every signed answer bogus, and mail to every
 * signed domain would wait in the queue for nothing. So a resolver with a
 * trust anchor checks its server at once: it asks for the root's DNSKEY
 * (". DNSKEY", validated). Lookups run meanwhile; one that comes back
 * bogus before the check has answered is held until it has, then either
 * reported or, when validation went off, asked again. */
enum dns_dnssec {
	DNS_DNSSEC_OFF,       /* no trust anchor: everything insecure */
	DNS_DNSSEC_CHECKING,  /* the check has not answered yet */
	DNS_DNSSEC_ON,        /* validating: the root key was secure, or the
			       * check could not tell (detail says why) */
	DNS_DNSSEC_STRIPPED,  /* the root key was bogus: the server passes no
			       * DNSSEC; validation is off (everything
			       * insecure, DANE never applies) */
	DNS_DNSSEC_STRIPPED_REQUIRED, /* the same with dnssec_require:
			       * validation stays on, signed answers are
			       * bogus (their mail is deferred) */
};
/* DNS_DNSSEC_CHECKING ends within DNS_DNSSEC_CHECK_MS (or the resolver's
 * timeout when shorter): then the check counts as unanswered. */
#define DNS_DNSSEC_CHECK_MS 5000
/* The state; detail_r (may be NULL) gets what the check found ("" when it
 * has nothing to add). */
enum dns_dnssec dns_resolver_dnssec(const struct dns_resolver *res,
				    const char **detail_r);
/* Lookups started and not yet finished or cancelled. */
size_t dns_resolver_pending(const struct dns_resolver *res);

/* ---- single lookups ---------------------------------------------------- */

typedef void dns_callback_t(void *context);
struct dns_lookup;

/* Each returns a handle, or NULL with *error_r (an invalid name, a
 * resolver failure) and no callback. */
struct dns_lookup *dns_lookup_mx(struct dns_resolver *res, const char *domain,
				 struct dns_mx_result *out,
				 dns_callback_t *callback, void *context,
				 const char **error_r);
struct dns_lookup *dns_lookup_addrs(struct dns_resolver *res, const char *host,
				    struct dns_addrs_result *out,
				    dns_callback_t *callback, void *context,
				    const char **error_r);
/* The TLSA records of _PORT._tcp.HOST (RFC 6698 3). */
struct dns_lookup *dns_lookup_tlsa(struct dns_resolver *res, const char *host,
				   uint16_t port, struct dns_tlsa_result *out,
				   dns_callback_t *callback, void *context,
				   const char **error_r);
/* Stop the lookup: its callback will not run. Sets *lookup to NULL; a
 * no-op for NULL. Safe inside any dns callback. */
void dns_lookup_cancel(struct dns_lookup **lookup);

/* ---- results ----------------------------------------------------------- */

const char *dns_status_name(enum dns_status status);     /* "NXDOMAIN" */
const char *dns_security_name(enum dns_security sec);    /* "secure" */
/* A failure worth retrying later (TEMPFAIL, BOGUS). */
bool dns_status_temporary(enum dns_status status);

/* The combined outcome of A and AAAA: OK when there is an address, else
 * the failure that matters (a temporary one before NODATA, NXDOMAIN only
 * when both say so). */
enum dns_status dns_addrs_status(const struct dns_addrs_result *r);
/* There are addresses, all from DNSSEC-secure answers (RFC 7672 2.2.2: only
 * then do TLSA records apply). */
bool dns_addrs_secure(const struct dns_addrs_result *r);
/* "192.0.2.1" or "2001:db8::1" into buf (INET6_ADDRSTRLEN). */
const char *dns_addr_str(const struct dns_addr *addr, char *buf, size_t size);

/* RFC 7672 3.1: DANE-TA(2) or DANE-EE(3), Cert(0) or SPKI(1), Full(0),
 * SHA2-256(1) or SHA2-512(2) with a digest of the right length. PKIX-TA(0)
 * and PKIX-EE(1) are unusable for SMTP (RFC 7672 3.1.3). *why_r says why
 * not. */
bool dns_tlsa_usable(const struct dns_tlsa *rr, const char **why_r);
size_t dns_tlsa_n_usable(const struct dns_tlsa_result *r);
void dns_tlsa_result_clear(struct dns_tlsa_result *r);

/* ---- the route to a domain: MX, then addresses and TLSA of each host ---- */

/* What DANE means for one MX host (RFC 7672 2.2). */
enum dns_dane {
	DNS_DANE_NONE,     /* no secure TLSA records (insecure addresses or
			    * TLSA, or a secure denial): TLS as without DANE */
	DNS_DANE_USABLE,   /* secure TLSA with usable records: the server's
			    * certificate must match one of them */
	DNS_DANE_UNUSABLE, /* secure TLSA, none usable: TLS is still required,
			    * without authentication */
	DNS_DANE_FAILED,   /* the TLSA lookup failed (SERVFAIL, bogus,
			    * timeout): the host must not be used */
};

struct dns_route_host {
	struct dns_mx mx;
	struct dns_addrs_result addrs;
	bool tlsa_asked;
	struct dns_tlsa_result tlsa;
	enum dns_dane dane;
};

struct dns_route {
	char domain[DNS_NAME_MAX + 1];
	uint16_t port;
	struct dns_mx_result mx;
	size_t n_hosts;                          /* = mx.n, 0 on failure */
	struct dns_route_host host[DNS_MX_HOSTS_MAX];
};

enum dns_route_flags {
	/* Ask for TLSA even where DANE cannot apply (insecure addresses),
	 * to show it (sealpost dns). The verdict is the same. */
	DNS_ROUTE_TLSA_ALWAYS = 1 << 0,
	/* The domain is the one host, without an MX lookup (a relayhost
	 * written "[host]:port", as in Postfix). */
	DNS_ROUTE_NO_MX = 1 << 1,
};

/* MX of domain, then the addresses of every MX host and, where those are
 * DNSSEC-secure, the TLSA records of _PORT._tcp.HOST (RFC 7672 2.2.2), all
 * hosts at once. The callback runs when everything has an answer. Free
 * out's TLSA data with dns_route_clear(), also after a cancel. */
struct dns_route_lookup;
struct dns_route_lookup *dns_lookup_route(struct dns_resolver *res,
					  const char *domain, uint16_t port,
					  unsigned flags, struct dns_route *out,
					  dns_callback_t *callback,
					  void *context, const char **error_r);
void dns_route_cancel(struct dns_route_lookup **lookup);
void dns_route_clear(struct dns_route *route);

enum dns_verdict {
	DNS_VERDICT_DELIVER, /* at least one host can be tried */
	DNS_VERDICT_DEFER,   /* a temporary failure: try again later */
	DNS_VERDICT_BOUNCE,  /* the domain takes no mail: null MX, NXDOMAIN,
			      * no MX host with an address */
};

/* What outbound delivery with TLS policy `dane` does with this route, and
 * why (a static string or errfmt()'s ring). */
enum dns_verdict dns_route_verdict(const struct dns_route *route,
				   const char **why_r);
/* The host may be tried: it has addresses and DANE did not fail. */
bool dns_route_host_usable(const struct dns_route_host *host);
const char *dns_dane_name(enum dns_dane dane);

#endif
