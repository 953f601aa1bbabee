/* cli_dns.c — sealpost dns DOMAIN: the next hop as outbound delivery sees
 * it. The MX hosts in order with their addresses and TLSA records, each
 * answer marked secure or insecure, DANE per host, and what delivery would
 * do (deliver, defer, bounce). Uses the config's [outbound] resolver and
 * trust_anchor. Like delivery, it asks for TLSA records only where the
 * addresses are secure; --all-tlsa asks everywhere, to show them. */
#include "cli/cli.h"
#include "dns/dns.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

/* --timeout bounds, seconds per query. */
#define CLI_DNS_TIMEOUT_MAX 300
/* The SMTP port whose TLSA records are shown (RFC 7672 3: _25._tcp). */
#define CLI_DNS_PORT_DEFAULT 25
/* Hex digits of a Full(0) TLSA record shown before "...". */
#define CLI_DNS_HEX_SHOWN 64

struct dns_cli {
	struct event_base *base;
	struct dns_route route;
};

static void route_done(void *context)
{
	struct dns_cli *c = context;
	event_base_loopbreak(c->base);
}

/* An answer without records: "none (no data) secure", "failed: ...". */
static void print_no_records(const char *type, const struct dns_answer *a)
{
	const char *sec = dns_security_name(a->security);

	switch (a->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		printf("    %-4s none (no data) %s\n", type, sec);
		break;
	case DNS_NXDOMAIN:
		printf("    %-4s none (NXDOMAIN) %s\n", type, sec);
		break;
	case DNS_TEMPFAIL:
		printf("    %-4s failed (%s)\n", type, a->detail);
		break;
	case DNS_BOGUS:
		printf("    %-4s bogus (%s)\n", type, a->detail);
		break;
	}
}

static void print_addrs(const struct dns_addrs_result *r)
{
	char text[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < r->n; i++) {
		const struct dns_addr *a = &r->addr[i];
		printf("    %-4s %s %s\n", a->family == AF_INET6 ? "AAAA" : "A",
		       dns_addr_str(a, text, sizeof(text)),
		       a->secure ? "secure" : "insecure");
	}
	print_no_records("AAAA", &r->aaaa);
	print_no_records("A", &r->a);
}

static void print_tlsa_rr(const struct dns_tlsa_result *t, const struct dns_tlsa *rr)
{
	size_t shown = rr->len * 2 > CLI_DNS_HEX_SHOWN && rr->mtype == 0 ?
		       CLI_DNS_HEX_SHOWN / 2 : rr->len;
	const char *why;

	printf("    TLSA %s %u %u %u ", t->name, rr->usage, rr->selector, rr->mtype);
	for (size_t i = 0; i < shown; i++)
		printf("%02x", rr->data[i]);
	if (shown < rr->len)
		printf("... (%zu bytes)", rr->len);
	printf(" %s", dns_security_name(t->answer.security));
	if (!dns_tlsa_usable(rr, &why))
		printf(" (unusable: %s)", why);
	printf("\n");
}

static void print_tlsa(const struct dns_route_host *h)
{
	if (!h->tlsa_asked) {
		printf("    TLSA not looked up: %s\n",
		       dns_addrs_status(&h->addrs) != DNS_OK ? "no address" :
		       "the addresses are insecure (RFC 7672 2.2.2)");
		return;
	}
	for (size_t i = 0; i < h->tlsa.n; i++)
		print_tlsa_rr(&h->tlsa, &h->tlsa.rr[i]);
	print_no_records("TLSA", &h->tlsa.answer);
}

static void print_dane(const struct dns_route_host *h)
{
	switch (h->dane) {
	case DNS_DANE_USABLE:
		printf("    DANE usable: %zu of %zu TLSA records\n",
		       dns_tlsa_n_usable(&h->tlsa), h->tlsa.n);
		break;
	case DNS_DANE_UNUSABLE:
		printf("    DANE unusable: no usable TLSA record; TLS required, "
		       "without authentication (RFC 7672 2.2)\n");
		break;
	case DNS_DANE_FAILED:
		printf("    DANE failed: the TLSA lookup failed; this host is "
		       "not tried (RFC 7672 2.1.1)\n");
		break;
	case DNS_DANE_NONE:
		printf("    DANE none: TLS as without DANE\n");
		break;
	}
}

static void print_hosts(const struct dns_route *r)
{
	const char *sec = dns_security_name(r->mx.answer.security);

	for (size_t i = 0; i < r->n_hosts; i++) {
		const struct dns_route_host *h = &r->host[i];
		printf("  %u %s%s %s\n", h->mx.preference, h->mx.host,
		       r->mx.implicit ? " (implicit MX, RFC 5321 5.1)" : "", sec);
		print_addrs(&h->addrs);
		print_tlsa(h);
		print_dane(h);
	}
	if (r->mx.n_dropped > 0)
		printf("  (%zu MX records left out: over %d, duplicate or "
		       "malformed)\n", r->mx.n_dropped, DNS_MX_HOSTS_MAX);
}

static const char *host_tls_note(const struct dns_route_host *h)
{
	switch (h->dane) {
	case DNS_DANE_USABLE: return " (DANE)";
	case DNS_DANE_UNUSABLE: return " (TLS required, DANE unusable)";
	default: return "";
	}
}

static void print_verdict(const struct dns_route *r, enum dns_verdict v,
			  const char *why)
{
	size_t n = 0;

	if (v != DNS_VERDICT_DELIVER) {
		printf("outbound: %s: %s\n", v == DNS_VERDICT_BOUNCE ? "bounce" :
		       "defer", why);
		return;
	}
	printf("outbound: deliver to");
	for (size_t i = 0; i < r->n_hosts; i++) {
		const struct dns_route_host *h = &r->host[i];
		if (!dns_route_host_usable(h))
			continue;
		printf("%s %s%s", n++ == 0 ? "" : ", then", h->mx.host,
		       host_tls_note(h));
	}
	printf("\n");
}

/* The first line: whether answers are validated, and why not. */
static void print_dnssec(const struct dns_resolver *res)
{
	const char *detail, *anchor = dns_resolver_trust_anchor(res);

	switch (dns_resolver_dnssec(res, &detail)) {
	case DNS_DNSSEC_OFF:
		printf("dnssec: off (no trust anchor: install dns-root-data or "
		       "set [outbound] trust_anchor)\n");
		return;
	case DNS_DNSSEC_CHECKING:
	case DNS_DNSSEC_ON:
		printf("dnssec: on, trust anchor %s%s%s\n", anchor,
		       detail[0] != '\0' ? "; " : "", detail);
		return;
	case DNS_DNSSEC_STRIPPED:
		printf("dnssec: off: the resolver passes no DNSSEC (%s); set "
		       "[outbound] resolver to one that does, or dnssec = "
		       "require\n", detail);
		return;
	case DNS_DNSSEC_STRIPPED_REQUIRED:
		printf("dnssec: on, trust anchor %s, but the resolver passes no "
		       "DNSSEC (%s): signed domains are bogus ([outbound] dnssec "
		       "= require)\n", anchor, detail);
		return;
	}
}

/* The whole route; 0 when the MX lookup answered. */
static int print_route(const struct dns_route *r, const struct dns_resolver *res)
{
	const char *why, *detail;
	enum dns_verdict v = dns_route_verdict(r, &why);
	const struct dns_answer *a = &r->mx.answer;

	if (a->status != DNS_OK && a->status != DNS_NODATA) {
		if (a->status == DNS_BOGUS &&
		    dns_resolver_dnssec(res, &detail) == DNS_DNSSEC_STRIPPED_REQUIRED)
			return cli_fail("%s: %s: mail would be deferred (the "
					"resolver passes no DNSSEC: %s)", r->domain,
					why, detail);
		return cli_fail("%s: %s: mail would %s", r->domain, why,
				v == DNS_VERDICT_BOUNCE ? "bounce" : "be deferred");
	}
	print_dnssec(res);
	printf("%s MX %s\n", r->domain, dns_security_name(a->security));
	if (r->mx.null_mx)
		printf("  null MX (RFC 7505)\n");
	print_hosts(r);
	print_verdict(r, v, why);
	return CLI_OK;
}

static int parse_options(const struct cli_command *cmd, struct cli_args *args,
			 struct dns_resolver_settings *set, uint16_t *port_r)
{
	const char *timeout = cli_opt(args, "timeout"), *port = cli_opt(args, "port");
	uint64_t v;

	if (timeout != NULL) {
		if (!str_to_u64(timeout, CLI_DNS_TIMEOUT_MAX, &v) || v == 0)
			return cli_usage(cmd, errfmt("--timeout: '%s' must be 1 to "
						     "%d seconds", timeout,
						     CLI_DNS_TIMEOUT_MAX));
		set->timeout_ms = (unsigned)v * 1000;
	}
	*port_r = CLI_DNS_PORT_DEFAULT;
	if (port != NULL) {
		if (!str_to_u64(port, 65535, &v) || v == 0)
			return cli_usage(cmd, errfmt("--port: '%s' must be 1..65535",
						     port));
		*port_r = (uint16_t)v;
	}
	return CLI_OK;
}

/* A host name, with or without the trailing dot. */
static bool domain_valid(const char *arg)
{
	char name[DNS_NAME_MAX + 2];
	size_t len = strlen(arg);

	if (len == 0 || len > DNS_NAME_MAX + 1)
		return false;
	memcpy(name, arg, len + 1);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	return dns_name_valid(name);
}

int cmd_dns(const struct cli_command *cmd, struct cli_args *args)
{
	struct dns_resolver_settings set;
	struct dns_resolver *res = NULL;
	struct dns_route_lookup *lookup;
	struct dns_cli c = { 0 };
	struct config *cfg;
	const char *error;
	uint16_t port;
	int ret = CLI_FAIL;

	if (!domain_valid(args->pos[0]))
		return cli_usage(cmd, errfmt("'%s' is not a valid domain name",
					     log_value(args->pos[0])));
	if (cli_load_config(args, false, &cfg) < 0)
		return CLI_FAIL;
	dns_settings_from_config(cfg, &set);
	if (parse_options(cmd, args, &set, &port) != CLI_OK) {
		config_free(&cfg);
		return CLI_USAGE;
	}
	/* libunbound's own complaints (a server that refuses, ...) are the
	 * server's log matter; this command says what it found. */
	log_set_level(LOG_LEVEL_ERROR);
	c.base = event_base_new();
	if (c.base == NULL) {
		cli_fail("dns: cannot create an event base");
		goto out;
	}
	if (dns_resolver_create(c.base, &set, &res, &error) < 0) {
		cli_fail("%s", error);
		goto out;
	}
	lookup = dns_lookup_route(res, args->pos[0], port,
				  cli_flag(args, "all-tlsa") ?
				  DNS_ROUTE_TLSA_ALWAYS : 0,
				  &c.route, route_done, &c, &error);
	if (lookup == NULL) {
		cli_fail("%s", error);
		goto out;
	}
	event_base_dispatch(c.base);
	/* The answer can come before the check of the resolver's DNSSEC,
	 * which the first line reports. */
	while (dns_resolver_dnssec(res, NULL) == DNS_DNSSEC_CHECKING)
		event_base_loop(c.base, EVLOOP_ONCE);
	ret = print_route(&c.route, res);
	dns_route_clear(&c.route);
out:
	dns_resolver_free(&res);
	if (c.base != NULL)
		event_base_free(c.base);
	config_free(&cfg);
	return ret;
}
