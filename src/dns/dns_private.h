/* dns_private.h — between the files of src/dns: turning libunbound's rdata
 * into results (dns_rr.c), for the resolver (dns_resolver.c). */
#ifndef SEALPOST_DNS_PRIVATE_H
#define SEALPOST_DNS_PRIVATE_H

#include "dns/dns.h"

/* DNS RR types (RFC 1035 3.2.2, RFC 3596, RFC 6698). */
#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_TLSA 52
#define DNS_TYPE_DNSKEY 48
#define DNS_CLASS_IN 1

/* name, lower-cased and without its trailing dot, into out; false when it
 * is no valid host name (RFC 1123 2.1). */
bool dns_name_normalize(const char *name, char out[DNS_NAME_MAX + 1]);

/* Records of one answer, as libunbound hands them over: rdata in wire
 * format, NULL-terminated data[] with the lengths in len[]. */
struct dns_rdata {
	char **data;
	int *len;
};

/* Fill r from the MX records of domain. r->answer is set already; with
 * NODATA, the implicit MX (RFC 5321 5.1). */
void dns_mx_parse(const char *domain, const struct dns_rdata *rd,
		  struct dns_mx_result *r);
/* Append the addresses of one family (AF_INET or AF_INET6). */
void dns_addrs_parse(int family, const struct dns_rdata *rd, bool secure,
		     struct dns_addrs_result *r);
/* Fill r's records (allocated) from TLSA rdata. */
void dns_tlsa_parse(const struct dns_rdata *rd, struct dns_tlsa_result *r);
/* Set every field of a (detail may be NULL). */
void dns_answer_set(struct dns_answer *a, enum dns_status status,
		    enum dns_security sec, int rcode, const char *detail);

#endif
