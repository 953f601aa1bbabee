/* pki_cert.c — `cert create` input validation, the CSR and self-signed
 * certificate, and inspection of certificates (names, dates, digests). */
#include "pki/pki_private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets. */
#define EMAIL_MAX 254
/* RFC 5280 appendix A.1 upper bounds, in characters. */
#define UB_COMMON_NAME 64
#define UB_ORGANIZATION_NAME 64
#define UB_ORGANIZATIONAL_UNIT_NAME 64
#define UB_LOCALITY_NAME 128
#define UB_STATE_NAME 128
#define UB_EMAILADDRESS_LENGTH 255
/* CA/Browser Forum BR 7.1: serials of at least 64 random bits; we use 128. */
#define SERIAL_BYTES 16

/* ---- validation ------------------------------------------------------ */

bool pki_dns_name_valid(const char *name, bool allow_wildcard)
{
	if (allow_wildcard && strncmp(name, "*.", 2) == 0) {
		name += 2;
		if (strchr(name, '.') == NULL)
			return false;   /* "*.com": too wide */
	}
	return dns_name_valid(name);
}

bool pki_ip_valid(const char *text)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, text, addr) == 1 ||
		inet_pton(AF_INET6, text, addr) == 1;
}

/* Characters of a UTF-8 string (continuation bytes not counted). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static bool email_valid(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || strlen(s) > EMAIL_MAX)
		return false;
	for (const char *p = s; p < at; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == ',' ||
		    *p == '@' || *p == '<' || *p == '>')
			return false;
	}
	return pki_dns_name_valid(at + 1, false);
}

int pki_check_cn(const char *cn, const char **error_r)
{
	if (utf8_chars(cn) > UB_COMMON_NAME) {
		*error_r = errfmt("cn '%s': at most %d characters (RFC 5280)",
				  cn, UB_COMMON_NAME);
		return -1;
	}
	if (!pki_dns_name_valid(cn, true) && !pki_ip_valid(cn)) {
		*error_r = errfmt("cn '%s': expected a host name such as "
				  "mail.example.com, a wildcard such as "
				  "*.example.com, or an IP address", cn);
		return -1;
	}
	return 0;
}

int pki_parse_san(const char *entry, char **san_r, const char **error_r)
{
	const char *colon = strchr(entry, ':');
	size_t plen = colon != NULL ? (size_t)(colon - entry) : 0;
	const char *value = colon != NULL ? colon + 1 : "";

	if (plen == 3 && strncasecmp(entry, "DNS", 3) == 0 &&
	    pki_dns_name_valid(value, true)) {
		*san_r = xasprintf("DNS:%s", value);
		str_lower(*san_r + 4);
		return 0;
	}
	if (plen == 2 && strncasecmp(entry, "IP", 2) == 0 && pki_ip_valid(value)) {
		*san_r = xasprintf("IP:%s", value);
		return 0;
	}
	if (plen == 5 && strncasecmp(entry, "email", 5) == 0 &&
	    email_valid(value)) {
		*san_r = xasprintf("email:%s", value);
		return 0;
	}
	*error_r = errfmt("san '%s': expected DNS:HOST (or DNS:*.DOMAIN), "
			  "IP:ADDRESS or email:ADDRESS", entry);
	return -1;
}

/* One optional subject field: no control characters, at most max chars. */
static int check_field(const char *option, const char *value, size_t max,
		       const char **error_r)
{
	if (value == NULL)
		return 0;
	if (*value == '\0' || has_control(value) || utf8_chars(value) > max) {
		*error_r = errfmt("%s '%s': expected 1 to %zu characters of text",
				  option, value, max);
		return -1;
	}
	return 0;
}

int pki_check_request(const struct pki_cert_request *req, const char **error_r)
{
	const char *c = req->country;

	if (check_field("org", req->org, UB_ORGANIZATION_NAME, error_r) < 0 ||
	    check_field("unit", req->unit, UB_ORGANIZATIONAL_UNIT_NAME, error_r) < 0 ||
	    check_field("locality", req->locality, UB_LOCALITY_NAME, error_r) < 0 ||
	    check_field("state", req->state, UB_STATE_NAME, error_r) < 0)
		return -1;
	/* RFC 5280: ub-country-name-alpha-length 2, an ISO 3166 code. */
	if (c != NULL && (strlen(c) != 2 || !isalpha((unsigned char)c[0]) ||
			  !isalpha((unsigned char)c[1]))) {
		*error_r = errfmt("country '%s': expected exactly 2 letters "
				  "(an ISO 3166 code such as DE or US)", c);
		return -1;
	}
	if (req->email != NULL && (!email_valid(req->email) ||
				   strlen(req->email) > UB_EMAILADDRESS_LENGTH)) {
		*error_r = errfmt("email '%s': expected an address such as "
				  "postmaster@example.com", req->email);
		return -1;
	}
	if (req->days < 1 || req->days > PKI_DAYS_MAX) {
		*error_r = errfmt("days '%u': expected 1 to %d", req->days,
				  PKI_DAYS_MAX);
		return -1;
	}
	return 0;
}

/* ---- creation -------------------------------------------------------- */

static int add_entry(X509_NAME *name, const char *field, const char *value)
{
	if (value == NULL)
		return 1;
	return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
					  (const unsigned char *)value, -1, -1, 0);
}

static X509_NAME *build_subject(const struct pki_cert_request *req,
				const char **error_r)
{
	X509_NAME *name = X509_NAME_new();
	char country[3] = "";

	if (req->country != NULL) {
		country[0] = (char)toupper((unsigned char)req->country[0]);
		country[1] = (char)toupper((unsigned char)req->country[1]);
	}
	if (name == NULL ||
	    !add_entry(name, "C", req->country != NULL ? country : NULL) ||
	    !add_entry(name, "ST", req->state) ||
	    !add_entry(name, "L", req->locality) ||
	    !add_entry(name, "O", req->org) ||
	    !add_entry(name, "OU", req->unit) ||
	    !add_entry(name, "CN", req->cn) ||
	    !add_entry(name, "emailAddress", req->email)) {
		*error_r = errfmt("subject: %s (expected UTF-8 text)",
				  pki_ossl_error());
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

/* One "DNS:x" / "IP:y" / "email:z" entry as a GENERAL_NAME. */
static GENERAL_NAME *general_name(const char *san)
{
	const char *colon = strchr(san, ':');
	int type = san[0] == 'D' ? GEN_DNS : san[0] == 'I' ? GEN_IPADD : GEN_EMAIL;
	const char *value = colon != NULL ? colon + 1 : "";
	GENERAL_NAME *gn;
	ASN1_STRING *str;

	if (colon == NULL || (gn = GENERAL_NAME_new()) == NULL)
		return NULL;
	if (type == GEN_IPADD) {
		str = a2i_IPADDRESS(value);
	} else {
		str = ASN1_IA5STRING_new();
		if (str != NULL && !ASN1_STRING_set(str, value, -1)) {
			ASN1_STRING_free(str);
			str = NULL;
		}
	}
	if (str == NULL) {
		GENERAL_NAME_free(gn);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, type, str);
	return gn;
}

/* SAN = the CN, then every --san not already there. */
static GENERAL_NAMES *build_sans(const struct pki_cert_request *req)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	char **all = xcalloc(strv_len(req->sans) + 2, sizeof(*all));
	size_t n = 0;
	bool ok = gens != NULL;

	all[n++] = xasprintf("%s:%s", pki_ip_valid(req->cn) ? "IP" : "DNS",
			     req->cn);
	for (size_t i = 0; req->sans != NULL && req->sans[i] != NULL; i++) {
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup = dup || str_ieq(all[j], req->sans[i]);
		if (!dup)
			all[n++] = xstrdup(req->sans[i]);
	}
	for (size_t i = 0; ok && i < n; i++) {
		GENERAL_NAME *gn = general_name(all[i]);
		ok = gn != NULL && sk_GENERAL_NAME_push(gens, gn) > 0;
		if (!ok)
			GENERAL_NAME_free(gn);
	}
	strv_free(&all);
	if (!ok) {
		GENERAL_NAMES_free(gens);
		return NULL;
	}
	return gens;
}

/* Add extension nid with the given config value (fixed strings only). */
static int add_conf_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static int set_random_serial(X509 *cert)
{
	unsigned char bytes[SERIAL_BYTES];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return 0;
	bytes[0] |= 0x80;   /* always exactly 128 bits long, and never 0 */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok;
}

static X509_REQ *build_csr(EVP_PKEY *key, X509_NAME *subject,
			   GENERAL_NAMES *sans)
{
	X509_REQ *csr = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
	int ok = csr != NULL && exts != NULL && ext != NULL &&
		sk_X509_EXTENSION_push(exts, ext) > 0;

	if (!ok)
		X509_EXTENSION_free(ext);
	ok = ok && X509_REQ_set_version(csr, X509_REQ_VERSION_1) &&
		X509_REQ_set_subject_name(csr, subject) &&
		X509_REQ_set_pubkey(csr, key) &&
		X509_REQ_add_extensions(csr, exts) &&
		X509_REQ_sign(csr, key, EVP_sha256()) > 0;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (!ok) {
		X509_REQ_free(csr);
		return NULL;
	}
	return csr;
}

static X509 *build_cert(EVP_PKEY *key, X509_NAME *subject, GENERAL_NAMES *sans,
			unsigned days)
{
	X509 *cert = X509_new();
	X509V3_CTX ctx;
	bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
	int ok = cert != NULL && X509_set_version(cert, X509_VERSION_3) &&
		set_random_serial(cert) &&
		X509_set_subject_name(cert, subject) &&
		X509_set_issuer_name(cert, subject) &&
		X509_gmtime_adj(X509_getm_notBefore(cert), 0) != NULL &&
		X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL) != NULL &&
		X509_set_pubkey(cert, key);

	if (ok) {
		X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
		ok = add_conf_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
			add_conf_ext(cert, &ctx, NID_key_usage, rsa ?
				     "critical,digitalSignature,keyEncipherment" :
				     "critical,digitalSignature") &&
			add_conf_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") &&
			add_conf_ext(cert, &ctx, NID_subject_key_identifier, "hash") &&
			add_conf_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") &&
			X509_add1_ext_i2d(cert, NID_subject_alt_name, sans, 0,
					  X509V3_ADD_DEFAULT) == 1 &&
			X509_sign(cert, key, EVP_sha256()) > 0;
	}
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int pki_cert_create(EVP_PKEY *key, const struct pki_cert_request *req,
		    X509_REQ **csr_r, X509 **cert_r, const char **error_r)
{
	X509_NAME *subject = build_subject(req, error_r);
	GENERAL_NAMES *sans = NULL;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;

	if (subject == NULL)
		return -1;
	sans = build_sans(req);
	if (sans == NULL || (csr = build_csr(key, subject, sans)) == NULL ||
	    (cert = build_cert(key, subject, sans, req->days)) == NULL) {
		*error_r = errfmt("cannot build the certificate: %s",
				  pki_ossl_error());
		goto fail;
	}
	/* Our own output must verify before anything is written. */
	if (X509_REQ_verify(csr, key) != 1 || X509_verify(cert, key) != 1) {
		*error_r = errfmt("the new certificate does not verify: %s",
				  pki_ossl_error());
		goto fail;
	}
	X509_NAME_free(subject);
	GENERAL_NAMES_free(sans);
	*csr_r = csr;
	*cert_r = cert;
	return 0;
fail:
	X509_NAME_free(subject);
	GENERAL_NAMES_free(sans);
	X509_REQ_free(csr);
	X509_free(cert);
	return -1;
}

/* ---- inspection ------------------------------------------------------ */

char *pki_name_oneline(const X509_NAME *name)
{
	const unsigned long flags = (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) |
		XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *text;
	long len;

	if (bio == NULL || X509_NAME_print_ex(bio, name, 0, flags) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		return xstrdup("(unprintable name)");
	}
	len = BIO_get_mem_data(bio, &data);
	text = xmalloc((size_t)len + 1);
	str_sanitize(text, (size_t)len + 1, data, (size_t)len);
	BIO_free(bio);
	return len > 0 ? text : (free(text), xstrdup("(empty name)"));
}

char *pki_cert_cn(X509 *cert)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int len;
	char *text;

	if (idx < 0)
		return pki_name_oneline(name);
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
					  X509_NAME_get_entry(name, idx)));
	if (len < 0) {
		ERR_clear_error();
		return pki_name_oneline(name);
	}
	text = xmalloc((size_t)len + 1);
	str_sanitize(text, (size_t)len + 1, (const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return text;
}

/* One GENERAL_NAME as "DNS:x", "IP:y", ... appended to b. */
static void append_general_name(struct buf *b, const GENERAL_NAME *gn)
{
	char text[INET6_ADDRSTRLEN], clean[DNS_NAME_MAX + 1];
	const ASN1_STRING *s;

	switch (gn->type) {
	case GEN_DNS:
	case GEN_EMAIL:
	case GEN_URI:
		s = gn->d.ia5;
		str_sanitize(clean, sizeof(clean), (const char *)ASN1_STRING_get0_data(s),
			     (size_t)ASN1_STRING_length(s));
		buf_printf(b, "%s:%s", gn->type == GEN_DNS ? "DNS" :
			   gn->type == GEN_EMAIL ? "email" : "URI", clean);
		return;
	case GEN_IPADD:
		s = gn->d.ip;
		if (ASN1_STRING_length(s) == 4 || ASN1_STRING_length(s) == 16) {
			inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
				  ASN1_STRING_get0_data(s), text, sizeof(text));
			buf_printf(b, "IP:%s", text);
			return;
		}
		buf_printf(b, "IP:(invalid)");
		return;
	default:
		buf_printf(b, "(other name)");
		return;
	}
}

char *pki_cert_sans(X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	struct buf b = { 0 };

	buf_append(&b, "", 0);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if (i > 0)
			buf_append(&b, ", ", 2);
		append_general_name(&b, sk_GENERAL_NAME_value(gens, i));
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return b.data;
}

void pki_cert_fingerprint(X509 *cert, char out[PKI_FINGERPRINT_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (!X509_digest(cert, EVP_sha256(), md, &n))
		n = 0;
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(out + i * 3, 4, "%02X%s", md[i], i + 1 < n ? ":" : "");
}

char *pki_cert_serial(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	char *text = xstrdup(hex != NULL ? hex : "?");

	OPENSSL_free(hex);
	BN_free(bn);
	return text;
}

bool pki_cert_self_signed(X509 *cert)
{
	int ret = X509_self_signed(cert, 1);
	ERR_clear_error();
	return ret == 1;
}

const char *pki_time_text(const ASN1_TIME *t)
{
	struct tm tm;
	char text[32];

	if (!ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return "(invalid time)";
	}
	strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return errfmt("%s", text);
}

long pki_days_until(const ASN1_TIME *t, time_t now)
{
	ASN1_TIME *from = ASN1_TIME_set(NULL, now);
	int day = 0, sec = 0;

	if (from == NULL || !ASN1_TIME_diff(&day, &sec, from, t))
		day = sec = 0;
	ASN1_TIME_free(from);
	/* Rounded up: a certificate made now for 365 days has 365 left. */
	return sec > 0 ? (long)day + 1 : day;
}
