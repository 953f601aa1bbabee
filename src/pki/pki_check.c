/* pki_check.c — judge a pair: key, dates, chain, purpose, host names.
 *
 * Each check reports through the caller's pki_finding_fn, so `cert check`
 * prints the findings and the server logs them at start-up. Host matching
 * follows RFC 6125 6.4 on top of OpenSSL's parsed subjectAltName. */
#include "pki/pki_private.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* NIST SP 800-57: signatures below 112 bits of security (SHA-1, MD5,
 * RSA-1024) are refused by OpenSSL at security level 2. */
#define PKI_SIGNATURE_MIN_BITS 112

struct check {
	const struct pki_pair *pair;
	time_t now;
	pki_finding_fn *fn;
	void *context;
	unsigned errors;
};

static void vreport(struct check *c, enum pki_severity severity,
		    enum pki_expiry expiry, const char *tag, const char *file,
		    const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
static void report(struct check *c, enum pki_severity severity,
		   const char *tag, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void report_expiry(struct check *c, enum pki_severity severity,
			  enum pki_expiry expiry, const char *tag,
			  const char *file, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void vreport(struct check *c, enum pki_severity severity,
		    enum pki_expiry expiry, const char *tag, const char *file,
		    const char *fmt, va_list ap)
{
	char *text = xvasprintf(fmt, ap);
	struct pki_finding f = {
		.severity = severity, .tag = tag, .file = file, .text = text,
		.expiry = expiry,
	};

	if (severity == PKI_ERROR)
		c->errors++;
	c->fn(&f, c->context);
	free(text);
}

static void report(struct check *c, enum pki_severity severity,
		   const char *tag, const char *file, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, severity, PKI_EXPIRY_NONE, tag, file, fmt, ap);
	va_end(ap);
}

static void report_expiry(struct check *c, enum pki_severity severity,
			  enum pki_expiry expiry, const char *tag,
			  const char *file, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, severity, expiry, tag, file, fmt, ap);
	va_end(ap);
}

/* ---- key ------------------------------------------------------------- */

static void check_key(struct check *c)
{
	const struct pki_pair *p = c->pair;
	const char *error;

	if (pki_key_supported(p->key, &error) < 0)
		report(c, PKI_ERROR, "unsupported key", p->key_path, "%s", error);
	if (pki_key_matches(p->key, p->cert))
		report(c, PKI_OK, "ok", p->key_path,
		       "key (%s) matches the certificate", pki_key_describe(p->key));
	else
		report(c, PKI_ERROR, "key mismatch", p->key_path,
		       "key does not match certificate %s", p->crt_path);
}

/* ---- dates ----------------------------------------------------------- */

/* "1 day", "12 days" (errfmt() text). */
static const char *days_text(long days)
{
	return errfmt("%ld day%s", days, days == 1 || days == -1 ? "" : "s");
}

/* what: "certificate" for the leaf, "intermediate 'X'" in the chain. */
static void check_dates(struct check *c, X509 *cert, const char *what, bool leaf)
{
	const ASN1_TIME *nb = X509_get0_notBefore(cert);
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	const char *file = c->pair->crt_path;
	long left = pki_days_until(na, c->now);
	enum pki_expiry step = pki_cert_expiry(cert, c->now);

	if (X509_cmp_time(nb, &c->now) > 0) {
		report(c, PKI_ERROR, "not yet valid", file,
		       "%s is not valid before %s (in %s)", what,
		       pki_time_text(nb), days_text(pki_days_until(nb, c->now)));
	} else if (step == PKI_EXPIRY_EXPIRED) {
		report_expiry(c, PKI_ERROR, step, "expired", file,
			      "%s expired on %s (%s ago)", what,
			      pki_time_text(na), days_text(-left));
	} else if (step != PKI_EXPIRY_NONE) {
		report_expiry(c, PKI_WARNING, step, "expires soon", file,
			      "%s expires on %s (%s left)", what,
			      pki_time_text(na), days_text(left));
	} else if (leaf) {
		report(c, PKI_OK, "ok", file, "valid until %s (%s left)",
		       pki_time_text(na), days_text(left));
	}
	ERR_clear_error();
}

/* ---- chain ----------------------------------------------------------- */

static bool issued_by(X509 *cert, X509 *issuer)
{
	bool ok = X509_check_issued(issuer, cert) == X509_V_OK;
	ERR_clear_error();
	return ok;
}

/* The issuer of cert in the system trust store (new reference) or NULL. */
static X509 *trusted_issuer(X509 *cert)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *issuer = NULL;

	if (store != NULL && ctx != NULL &&
	    X509_STORE_set_default_paths(store) &&
	    X509_STORE_CTX_init(ctx, store, cert, NULL) &&
	    X509_STORE_CTX_get1_issuer(&issuer, ctx, cert) != 1)
		issuer = NULL;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return issuer;
}

/* Is the issuer of cert anywhere in the chain? */
static bool chain_has_issuer(STACK_OF(X509) *chain, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(chain); i++) {
		if (issued_by(cert, sk_X509_value(chain, i)))
			return true;
	}
	return false;
}

/* Each certificate must be issued (and signed) by the next one. */
static bool check_links(struct check *c)
{
	STACK_OF(X509) *chain = c->pair->chain;
	const char *file = c->pair->crt_path;
	X509 *prev = c->pair->cert;
	bool ok = true;

	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *cur = sk_X509_value(chain, i);
		char *a = pki_name_oneline(X509_get_subject_name(cur));
		char *b = pki_name_oneline(X509_get_subject_name(prev));

		if (X509_cmp(prev, cur) == 0) {
			ok = false;
			report(c, PKI_ERROR, "chain out of order", file,
			       "chain out of order: '%s' appears twice in a row", a);
		} else if (!issued_by(prev, cur)) {
			ok = false;
			if (chain_has_issuer(chain, prev))
				report(c, PKI_ERROR, "chain out of order", file,
				       "chain out of order: '%s' follows '%s' but "
				       "did not issue it (expected the leaf, then "
				       "each certificate's issuer)", a, b);
			else
				report(c, PKI_ERROR, "chain incomplete", file,
				       "chain incomplete: the issuer of '%s' is "
				       "missing (found '%s' instead)", b, a);
		} else if (X509_verify(prev, X509_get0_pubkey(cur)) != 1) {
			ok = false;
			report(c, PKI_ERROR, "bad signature", file,
			       "the signature of '%s' does not verify with the "
			       "key of '%s'", b, a);
		}
		free(a);
		free(b);
		prev = cur;
	}
	ERR_clear_error();
	return ok;
}

/* Where the chain ends: self-signed, a trusted root, or unknown. */
static void check_chain_end(struct check *c, bool links_ok)
{
	STACK_OF(X509) *chain = c->pair->chain;
	int n = sk_X509_num(chain);
	X509 *last = n > 0 ? sk_X509_value(chain, n - 1) : c->pair->cert;
	const char *file = c->pair->crt_path;
	char *name = pki_name_oneline(X509_get_subject_name(last));
	char *issuer_name = pki_name_oneline(X509_get_issuer_name(last));
	X509 *root;

	if (pki_cert_self_signed(last)) {
		if (n == 0)
			report(c, PKI_OK, "ok", file, "self-signed: nothing to "
			       "chain (clients must be told to trust it)");
		else
			report(c, PKI_WARNING, "root in chain", file,
			       "the chain ends with the self-signed root '%s': "
			       "clients ignore it, leave it out", name);
	} else if ((root = trusted_issuer(last)) != NULL) {
		if (links_ok)
			report(c, PKI_OK, "ok", file, "chain complete and in order "
			       "(%d intermediate%s), ends at trusted root '%s'",
			       n, n == 1 ? "" : "s", issuer_name);
		X509_free(root);
	} else {
		report(c, PKI_WARNING, "unknown issuer", file,
		       "issuer '%s' of '%s' is neither in the file nor in the "
		       "system trust store (an intermediate may be missing, or "
		       "clients must be told to trust it)", issuer_name, name);
		if (links_ok && n > 0)
			report(c, PKI_OK, "ok", file, "chain in order (%d "
			       "intermediate%s)", n, n == 1 ? "" : "s");
	}
	free(name);
	free(issuer_name);
}

static void check_chain(struct check *c)
{
	STACK_OF(X509) *chain = c->pair->chain;

	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *cert = sk_X509_value(chain, i);
		char *name = pki_name_oneline(X509_get_subject_name(cert));
		char *what = xasprintf("intermediate '%s'", name);
		check_dates(c, cert, what, false);
		free(what);
		free(name);
	}
	check_chain_end(c, check_links(c));
}

/* ---- purpose and signatures ------------------------------------------ */

static void check_purpose(struct check *c)
{
	X509 *leaf = c->pair->cert;
	int mdnid = 0, pknid = 0, secbits = -1;
	uint32_t flags = 0;

	if (X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0) != 1)
		report(c, PKI_ERROR, "not for TLS servers", c->pair->crt_path,
		       "keyUsage or extendedKeyUsage does not allow a TLS server "
		       "(expected serverAuth)");
	else
		report(c, PKI_OK, "ok", c->pair->crt_path,
		       "usable for TLS servers");
	if (!pki_cert_self_signed(leaf) &&
	    X509_get_signature_info(leaf, &mdnid, &pknid, &secbits, &flags) &&
	    secbits >= 0 && secbits < PKI_SIGNATURE_MIN_BITS)
		report(c, PKI_ERROR, "weak signature", c->pair->crt_path,
		       "signed with %s, which is too weak (%d bits of security, "
		       "at least %d needed)", OBJ_nid2sn(mdnid), secbits,
		       PKI_SIGNATURE_MIN_BITS);
	ERR_clear_error();
}

static void check_host(struct check *c, const char *host)
{
	const char *matched;
	char *names;

	if (pki_cert_covers_host(c->pair->cert, host, &matched)) {
		report(c, PKI_OK, "ok", c->pair->crt_path, "covers %s (%s)",
		       host, matched);
		return;
	}
	names = pki_cert_sans(c->pair->cert);
	report(c, PKI_ERROR, "host not covered", c->pair->crt_path,
	       "does not cover host %s (names: %s)", host,
	       *names != '\0' ? names : "none");
	free(names);
}

unsigned pki_pair_check(const struct pki_pair *pair, const char *host,
			time_t now, pki_finding_fn *fn, void *context)
{
	struct check c = { pair, now, fn, context, 0 };

	check_key(&c);
	check_dates(&c, pair->cert, "certificate", true);
	check_chain(&c);
	check_purpose(&c);
	if (host != NULL)
		check_host(&c, host);
	return c.errors;
}

/* ---- RFC 6125 host names --------------------------------------------- */

bool pki_host_match(const char *pattern, const char *host)
{
	size_t plen = strlen(pattern), hlen = strlen(host);
	const char *dot;

	/* An absolute name "mail.example.com." is the same name. */
	if (plen > 0 && pattern[plen - 1] == '.')
		plen--;
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (plen == 0 || hlen == 0 || memchr(host, '*', hlen) != NULL)
		return false;
	if (pattern[0] != '*')
		return memchr(pattern, '*', plen) == NULL && plen == hlen &&
			strncasecmp(pattern, host, plen) == 0;
	/* 6.4.3: the wildcard is the whole left-most label and matches
	 * exactly one label; "*.com" (one label under it) matches nothing. */
	if (plen < 4 || pattern[1] != '.' ||
	    memchr(pattern + 1, '*', plen - 1) != NULL ||
	    memchr(pattern + 2, '.', plen - 2) == NULL)
		return false;
	dot = memchr(host, '.', hlen);
	if (dot == NULL || dot == host)
		return false;
	return (size_t)(host + hlen - dot) == plen - 1 &&
		strncasecmp(dot, pattern + 1, plen - 1) == 0;
}

/* host as IP address bytes; *len_r 4 or 16, 0 when host is a name. */
static void parse_ip(const char *host, unsigned char addr[16], size_t *len_r)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(host);

	*len_r = 0;
	if (inet_pton(AF_INET, host, addr) == 1) {
		*len_r = 4;
		return;
	}
	if (len > 2 && len < sizeof(buf) && host[0] == '[' && host[len - 1] == ']') {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, addr) == 1)
		*len_r = 16;
}

/* Match host against the SANs; *have_dns_r tells whether any DNS-ID exists. */
static bool match_sans(X509 *cert, const char *host, const unsigned char *ip,
		       size_t iplen, bool *have_dns_r, const char **matched_r)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool found = false;

	*have_dns_r = false;
	for (int i = 0; !found && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *data;
		int len;

		if (gn->type == GEN_IPADD && iplen > 0) {
			data = ASN1_STRING_get0_data(gn->d.ip);
			len = ASN1_STRING_length(gn->d.ip);
			found = (size_t)len == iplen && memcmp(data, ip, iplen) == 0;
			if (found)
				*matched_r = errfmt("IP:%s", host);
		} else if (gn->type == GEN_DNS) {
			data = ASN1_STRING_get0_data(gn->d.dNSName);
			len = ASN1_STRING_length(gn->d.dNSName);
			*have_dns_r = true;
			/* An embedded NUL is an attack, never a name. */
			if (iplen > 0 || memchr(data, '\0', (size_t)len) != NULL)
				continue;
			char *pattern = xstrndup((const char *)data, (size_t)len);
			found = pki_host_match(pattern, host);
			if (found)
				*matched_r = errfmt("DNS:%s", pattern);
			free(pattern);
		}
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return found;
}

/* 6.4.4: the CN only when the certificate has no DNS-ID at all. */
static bool match_cn(X509 *cert, const char *host, const char **matched_r)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	bool found = false;

	for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	     !found && i >= 0;
	     i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
						      X509_NAME_get_entry(name, i)));
		if (len > 0 && memchr(utf8, '\0', (size_t)len) == NULL) {
			found = pki_host_match((const char *)utf8, host);
			if (found)
				*matched_r = errfmt("CN=%s", utf8);
		}
		OPENSSL_free(utf8);
	}
	ERR_clear_error();
	return found;
}

bool pki_cert_covers_host(X509 *cert, const char *host, const char **matched_r)
{
	unsigned char ip[16];
	size_t iplen;
	bool have_dns;
	const char *matched = NULL;
	bool found;

	parse_ip(host, ip, &iplen);
	found = match_sans(cert, host, ip, iplen, &have_dns, &matched) ||
		(iplen == 0 && !have_dns && match_cn(cert, host, &matched));
	if (found && matched_r != NULL)
		*matched_r = matched;
	return found;
}

/* ---- configured names ------------------------------------------------ */

bool pki_name_eq(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);

	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* Append one SAN to names when it is a DNS-ID or an IP address. */
static void add_san(char ***names, size_t *n, const GENERAL_NAME *gn,
		    bool *have_dns)
{
	const ASN1_STRING *s;
	char text[INET6_ADDRSTRLEN];
	char *name = NULL;

	if (gn->type == GEN_DNS) {
		s = gn->d.dNSName;
		*have_dns = true;
		/* An embedded NUL is an attack, never a name. */
		if (memchr(ASN1_STRING_get0_data(s), '\0',
			   (size_t)ASN1_STRING_length(s)) == NULL) {
			name = xstrndup((const char *)ASN1_STRING_get0_data(s),
					(size_t)ASN1_STRING_length(s));
			str_lower(name);
		}
	} else if (gn->type == GEN_IPADD) {
		s = gn->d.ip;
		if ((ASN1_STRING_length(s) == 4 || ASN1_STRING_length(s) == 16) &&
		    inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
			      ASN1_STRING_get0_data(s), text, sizeof(text)) != NULL)
			name = xstrdup(text);
	}
	if (name == NULL)
		return;
	*names = xrealloc(*names, (*n + 2) * sizeof(**names));
	(*names)[(*n)++] = name;
	(*names)[*n] = NULL;
}

/* pki_cert_names(); *from_cn_r: the name is the CN (no DNS-ID). */
static char **cert_names(X509 *cert, bool *from_cn_r)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	const X509_NAME *subject = X509_get_subject_name(cert);
	char **names = xcalloc(1, sizeof(*names));
	bool have_dns = false;
	size_t n = 0;
	int idx;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++)
		add_san(&names, &n, sk_GENERAL_NAME_value(gens, i), &have_dns);
	GENERAL_NAMES_free(gens);
	idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	*from_cn_r = !have_dns;
	if (!have_dns && idx >= 0) {
		/* 6.4.4: the CN only when there is no DNS-ID at all. */
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
						      X509_NAME_get_entry(subject, idx)));
		if (len > 0 && memchr(utf8, '\0', (size_t)len) == NULL) {
			names = xrealloc(names, (n + 2) * sizeof(*names));
			names[n] = xstrndup((const char *)utf8, (size_t)len);
			str_lower(names[n++]);
			names[n] = NULL;
		}
		OPENSSL_free(utf8);
	}
	ERR_clear_error();
	return names;
}

char **pki_cert_names(X509 *cert)
{
	bool from_cn;
	return cert_names(cert, &from_cn);
}

bool pki_cert_covers_name(X509 *cert, const char *name, const char **matched_r)
{
	char **names;
	bool found = false, from_cn;

	if (strncmp(name, "*.", 2) != 0)
		return pki_cert_covers_host(cert, name, matched_r);
	names = cert_names(cert, &from_cn);
	for (size_t i = 0; !found && names[i] != NULL; i++) {
		found = pki_name_eq(names[i], name);
		if (found && matched_r != NULL)
			*matched_r = errfmt("%s%s", from_cn ? "CN=" : "DNS:",
					    names[i]);
	}
	strv_free(&names);
	return found;
}
