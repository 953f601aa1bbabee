/* pki_import.c — read certificates and keys in every format `cert import`
 * accepts, pick the leaf by its key, and order the chain.
 *
 * Input: PEM text (any number of blocks in any order, with a UTF-8 BOM, CRLF
 * line ends, blank lines and text such as "Bag Attributes" around blocks),
 * or one DER object: certificate, PKCS#7 bundle, PKCS#12 (.p12/.pfx), or a
 * private key (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1). All decoding is
 * OpenSSL's; this file only decides what to call and what to say. */
#include "pki/pki_private.h"
#include "lib/fsutil.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

static const char utf8_bom[] = "\xef\xbb\xbf";

/* File name extensions the pair name drops ("bobscert.crt" -> "bobscert"). */
static const char *const cert_extensions[] = {
	".crt", ".cer", ".cert", ".der", ".pem", ".p12", ".pfx", ".p7b", ".p7c",
};

void pki_bundle_free(struct pki_bundle *b)
{
	sk_X509_pop_free(b->certs, X509_free);
	EVP_PKEY_free(b->key);
	memset(b, 0, sizeof(*b));
}

static void bundle_add_cert(struct pki_bundle *b, X509 *cert)
{
	if (!sk_X509_push(b->certs, cert))
		X509_free(cert);
}

/* Take ownership of key: the first one is kept, the rest only counted. */
static void bundle_add_key(struct pki_bundle *b, EVP_PKEY *key)
{
	if (b->n_keys++ == 0)
		b->key = key;
	else
		EVP_PKEY_free(key);
}

static void bundle_add_certs(struct pki_bundle *b, STACK_OF(X509) *certs)
{
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *cert = sk_X509_value(certs, i);
		if (X509_up_ref(cert))
			bundle_add_cert(b, cert);
	}
}

/* ---- PKCS#7 and PKCS#12 ---------------------------------------------- */

static int add_pkcs7(const char *path, const unsigned char *der, long len,
		     struct pki_bundle *b, const char **error_r)
{
	const unsigned char *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, len);

	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL) {
		PKCS7_free(p7);
		*error_r = errfmt("%s: the PKCS#7 data is corrupt (expected a "
				  "certificate bundle)", path);
		return -1;
	}
	bundle_add_certs(b, p7->d.sign->cert);
	PKCS7_free(p7);
	return 0;
}

/* The MAC proves the passphrase before anything is decrypted. */
static int pkcs12_check_mac(const char *path, PKCS12 *p12,
			    const struct pki_parse_opts *opts, const char **error_r)
{
	int ok;

	if (!PKCS12_mac_present(p12))
		return 0;
	if (opts->passphrase == NULL) {
		ok = PKCS12_verify_mac(p12, NULL, 0) || PKCS12_verify_mac(p12, "", 0);
		ERR_clear_error();
		if (!ok) {
			*error_r = errfmt("%s: the PKCS#12 file is protected by a "
					  "passphrase (expected --passphrase-file "
					  "FILE)", path);
			return -1;
		}
		return 0;
	}
	ok = PKCS12_verify_mac(p12, opts->passphrase, -1);
	ERR_clear_error();
	if (!ok) {
		*error_r = pki_error_wrong_passphrase(path, opts);
		return -1;
	}
	return 0;
}

/* PKCS12_parse(); files made with `openssl pkcs12 -legacy` (RC2-40) need
 * OpenSSL's legacy provider, loaded only for them and only for this call. */
static int pkcs12_parse_any(PKCS12 *p12, const char *pass, EVP_PKEY **key_r,
			    X509 **cert_r, STACK_OF(X509) **ca_r)
{
	OSSL_PROVIDER *legacy;
	int ok;

	if (PKCS12_parse(p12, pass, key_r, cert_r, ca_r))
		return 1;
	legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
	if (legacy == NULL)
		return 0;
	ERR_clear_error();
	ok = PKCS12_parse(p12, pass, key_r, cert_r, ca_r);
	OSSL_PROVIDER_unload(legacy);
	return ok;
}

/* Returns 1 when der was PKCS#12 and is now in b, 0 when it is not
 * PKCS#12, -1 on an error. */
static int add_pkcs12(const char *path, const unsigned char *der, long len,
		      const struct pki_parse_opts *opts, struct pki_bundle *b,
		      const char **error_r)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, len);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;

	if (p12 == NULL || p != der + len) {
		PKCS12_free(p12);
		ERR_clear_error();
		return 0;
	}
	if (pkcs12_check_mac(path, p12, opts, error_r) < 0) {
		PKCS12_free(p12);
		return -1;
	}
	bool ok = pkcs12_parse_any(p12, opts->passphrase, &key, &cert, &ca);
	if (!ok && opts->passphrase != NULL && !PKCS12_mac_present(p12)) {
		/* No MAC, nothing to check a passphrase against: OpenSSL 3.0's
		 * PKCS12_parse() refuses any passphrase then ("mac verify
		 * failure"), yet an unprotected file reads without one. */
		ERR_clear_error();
		ok = pkcs12_parse_any(p12, NULL, &key, &cert, &ca);
	}
	if (!ok) {
		*error_r = errfmt("%s: cannot decode the PKCS#12 file: %s", path,
				  pki_ossl_error());
		PKCS12_free(p12);
		return -1;
	}
	PKCS12_free(p12);
	if (cert != NULL)
		bundle_add_cert(b, cert);
	bundle_add_certs(b, ca);
	sk_X509_pop_free(ca, X509_free);
	if (key != NULL && opts->want_keys)
		bundle_add_key(b, key);
	else
		EVP_PKEY_free(key);
	return 1;
}

/* ---- DER ------------------------------------------------------------- */

static X509 *d2i_x509_whole(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, len);
	if (cert != NULL && p != der + len) {
		X509_free(cert);
		cert = NULL;
	}
	return cert;
}

static bool is_pkcs7(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, len);
	bool ok = p7 != NULL && p == der + len;
	PKCS7_free(p7);
	return ok;
}

/* One DER object: certificate, PKCS#12, PKCS#7 or private key. */
static int parse_der(const char *path, const unsigned char *der, long len,
		     const struct pki_parse_opts *opts, struct pki_bundle *b,
		     const char **error_r)
{
	X509 *cert = d2i_x509_whole(der, len);
	EVP_PKEY *key = NULL;
	int ret;

	if (cert != NULL) {
		if (opts->want_certs)
			bundle_add_cert(b, cert);
		else
			X509_free(cert);
		return 0;
	}
	ret = add_pkcs12(path, der, len, opts, b, error_r);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (is_pkcs7(der, len))
		return opts->want_certs ? add_pkcs7(path, der, len, b, error_r) : 0;
	ret = pki_key_decode_der(path, der, len, opts, &key, error_r);
	if (ret < 0)
		return -1;
	if (ret > 0) {
		if (opts->want_keys && key != NULL)
			bundle_add_key(b, key);
		else
			EVP_PKEY_free(key);
		return 0;
	}
	ERR_clear_error();
	*error_r = errfmt("%s: unrecognised or truncated data (expected a PEM "
			  "or DER certificate or private key, or PKCS#12)", path);
	return -1;
}

/* ---- PEM ------------------------------------------------------------- */

static bool is_cert_label(const char *type)
{
	return strcmp(type, "CERTIFICATE") == 0 ||
		strcmp(type, "X509 CERTIFICATE") == 0 ||
		strcmp(type, "TRUSTED CERTIFICATE") == 0;
}

static bool is_key_label(const char *type)
{
	return strcmp(type, "PRIVATE KEY") == 0 ||
		strcmp(type, "ENCRYPTED PRIVATE KEY") == 0 ||
		strcmp(type, "RSA PRIVATE KEY") == 0 ||
		strcmp(type, "EC PRIVATE KEY") == 0;
}

/* Longest BEGIN label quoted in an error; the file's own text, so made
 * printable too. */
#define PEM_LABEL_SHOWN_MAX 64

/* A key block whose type we know and refuse. */
static const char *refused_key_label(const char *type)
{
	char shown[PEM_LABEL_SHOWN_MAX + 1];

	if (strcmp(type, "DSA PRIVATE KEY") == 0)
		return "unsupported key type DSA";
	if (strcmp(type, "OPENSSH PRIVATE KEY") == 0)
		return "OpenSSH key format is not supported (convert it with "
			"ssh-keygen -p -m PEM)";
	if (strcmp(type, "ANY PRIVATE KEY") == 0 ||
	    strstr(type, "PRIVATE KEY") != NULL) {
		str_sanitize(shown, sizeof(shown), type, strlen(type));
		return errfmt("unsupported key block '%s%s'", shown,
			      strlen(type) > PEM_LABEL_SHOWN_MAX ? "..." : "");
	}
	return NULL;
}

static int pem_block_cert(const char *path, const char *type, int n,
			  const unsigned char *der, long len,
			  struct pki_bundle *b, const char **error_r)
{
	const unsigned char *p = der;
	X509 *cert = strcmp(type, "TRUSTED CERTIFICATE") == 0 ?
		d2i_X509_AUX(NULL, &p, len) : d2i_X509(NULL, &p, len);

	if (cert == NULL) {
		ERR_clear_error();
		*error_r = errfmt("%s: PEM block %d (%s) is corrupt (expected a "
				  "DER certificate inside)", path, n, type);
		return -1;
	}
	bundle_add_cert(b, cert);
	return 0;
}

/* Dispatch block n of the PEM text on its BEGIN label. */
static int pem_block(const char *path, int n, const char *type, char *header,
		     unsigned char *der, long len,
		     const struct pki_parse_opts *opts, struct pki_bundle *b,
		     const char **error_r)
{
	const char *refused;
	EVP_PKEY *key = NULL;

	if (is_cert_label(type))
		return opts->want_certs ?
			pem_block_cert(path, type, n, der, len, b, error_r) : 0;
	if (strcmp(type, "PKCS7") == 0)
		return opts->want_certs ? add_pkcs7(path, der, len, b, error_r) : 0;
	if (strstr(type, "CERTIFICATE REQUEST") != NULL) {
		b->saw_csr = true;
		return 0;
	}
	if (!opts->want_keys)
		return 0;
	if (is_key_label(type)) {
		if (pki_key_decode_pem(path, type, header, der, len, opts, &key,
				       error_r) < 0)
			return -1;
		bundle_add_key(b, key);
		return 0;
	}
	if ((refused = refused_key_label(type)) != NULL) {
		*error_r = errfmt("%s: %s (supported: RSA of 2048 bits or more, "
				  "ECDSA P-256, P-384, P-521)", path, refused);
		return -1;
	}
	return 0;   /* parameters, CRLs, public keys: not ours to judge */
}

/* Where a line of PEM text is, for clean_pem_text(). */
enum pem_where {
	PEM_OUTSIDE,     /* text around blocks: kept as it is */
	PEM_HEADERS,     /* after BEGIN: "Proc-Type:" / "DEK-Info:" lines */
	PEM_BODY,        /* base64 */
};

/* Append the line [p, p + len) to out, then LF. */
static void put_line(struct buf *out, const char *p, size_t len)
{
	buf_append(out, p, len);
	buf_append(out, "\n", 1);
}

static bool has_prefix(const char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(p, prefix, n) == 0;
}

/* Decide what one line becomes; returns the next state. */
static enum pem_where pem_line(struct buf *out, const char *p, size_t len,
			       enum pem_where where, bool *had_header)
{
	if (has_prefix(p, len, "-----BEGIN ")) {
		put_line(out, p, len);
		*had_header = false;
		return PEM_HEADERS;
	}
	if (where == PEM_OUTSIDE || has_prefix(p, len, "-----END ")) {
		put_line(out, p, len);
		return PEM_OUTSIDE;
	}
	if (len == 0)
		return where;          /* a blank line inside a block */
	if (where == PEM_HEADERS && memchr(p, ':', len) != NULL) {
		put_line(out, p, len);
		*had_header = true;
		return PEM_HEADERS;
	}
	if (where == PEM_HEADERS && *had_header)
		buf_append(out, "\n", 1);   /* exactly one after the headers */
	put_line(out, p, len);
	return PEM_BODY;
}

/* The PEM text as OpenSSL's reader wants it: LF line ends (CRLF and lone
 * CR converted), no trailing blanks, no blank lines inside a block except
 * the one after encryption headers. Base64 is left to OpenSSL. */
static void clean_pem_text(const unsigned char *text, size_t len,
			   struct buf *out)
{
	enum pem_where where = PEM_OUTSIDE;
	bool had_header = false;
	size_t i = 0;

	buf_append(out, "", 0);
	while (i < len) {
		size_t start = i, end;
		while (i < len && text[i] != '\n' && text[i] != '\r')
			i++;
		end = i;
		if (i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
			i++;
		if (i < len)
			i++;
		while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'))
			end--;
		where = pem_line(out, (const char *)text + start, end - start, where,
				 &had_header);
	}
}

static int parse_pem(const char *path, const unsigned char *data, size_t len,
		     const struct pki_parse_opts *opts, struct pki_bundle *b,
		     const char **error_r)
{
	struct buf text = { 0 };
	BIO *bio;
	int ret = 0;

	clean_pem_text(data, len, &text);
	bio = BIO_new_mem_buf(text.data, (int)text.len);

	for (int n = 1; ret == 0; n++) {
		char *type = NULL, *header = NULL;
		unsigned char *der = NULL;
		long derlen = 0;

		if (!PEM_read_bio(bio, &type, &header, &der, &derlen)) {
			unsigned long e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
			    ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
				*error_r = errfmt("%s: PEM block %d is truncated or "
						  "corrupt (%s)", path, n,
						  pki_ossl_error());
				ret = -1;
			}
			ERR_clear_error();
			break;
		}
		ret = pem_block(path, n, type, header, der, derlen, opts, b,
				error_r);
		OPENSSL_cleanse(der, (size_t)derlen);
		OPENSSL_free(type);
		OPENSSL_free(header);
		OPENSSL_free(der);
	}
	BIO_free(bio);
	OPENSSL_cleanse(text.data, text.len);
	buf_free(&text);
	return ret;
}

/* ---- files ----------------------------------------------------------- */

static bool looks_like_pem(const unsigned char *data, size_t len)
{
	return memmem(data, len, "-----BEGIN ", 11) != NULL;
}

int pki_bundle_parse(const char *path, const unsigned char *data, size_t len,
		     const struct pki_parse_opts *opts, struct pki_bundle *b,
		     const char **error_r)
{
	memset(b, 0, sizeof(*b));
	b->certs = sk_X509_new_null();
	if (len >= 3 && memcmp(data, utf8_bom, 3) == 0) {
		data += 3;
		len -= 3;
	}
	if (len == 0) {
		*error_r = errfmt("%s: the file is empty (expected a certificate "
				  "or key)", path);
		return -1;
	}
	if (looks_like_pem(data, len))
		return parse_pem(path, data, len, opts, b, error_r);
	if (len > LONG_MAX) {
		*error_r = errfmt("%s: too large", path);
		return -1;
	}
	return parse_der(path, data, (long)len, opts, b, error_r);
}

int pki_bundle_read(const char *path, const struct pki_parse_opts *opts,
		    struct pki_bundle *b, const char **error_r)
{
	char *data;
	size_t len;
	int ret;

	memset(b, 0, sizeof(*b));
	if (fs_read_file(path, PKI_FILE_MAX, &data, &len, error_r) < 0)
		return -1;
	ret = pki_bundle_parse(path, (const unsigned char *)data, len, opts, b,
			       error_r);
	OPENSSL_cleanse(data, len);
	free(data);
	if (ret < 0)
		pki_bundle_free(b);
	return ret;
}

/* ---- leaf and chain -------------------------------------------------- */

static bool stack_has(STACK_OF(X509) *sk, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(sk); i++) {
		if (X509_cmp(sk_X509_value(sk, i), cert) == 0)
			return true;
	}
	return false;
}

/* The certificate of pool that issued cert, not already in used. */
static X509 *find_issuer(X509 *cert, STACK_OF(X509) *pool, STACK_OF(X509) *used)
{
	for (int i = 0; i < sk_X509_num(pool); i++) {
		X509 *cand = sk_X509_value(pool, i);
		if (X509_cmp(cand, cert) != 0 && !stack_has(used, cand) &&
		    X509_check_issued(cand, cert) == X509_V_OK)
			return cand;
	}
	return NULL;
}

void pki_chain_build(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **chain_r,
		     X509 **root_r, STACK_OF(X509) **unused_r)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	STACK_OF(X509) *used = sk_X509_new_null();
	STACK_OF(X509) *unused = sk_X509_new_null();
	X509 *cur = leaf, *root = NULL;

	sk_X509_push(used, leaf);
	while (!pki_cert_self_signed(cur)) {
		X509 *issuer = find_issuer(cur, pool, used);
		if (issuer == NULL)
			break;
		sk_X509_push(used, issuer);
		if (pki_cert_self_signed(issuer)) {
			root = issuer;
			break;
		}
		if (X509_up_ref(issuer) && !sk_X509_push(chain, issuer))
			X509_free(issuer);
		cur = issuer;
	}
	for (int i = 0; i < sk_X509_num(pool); i++) {
		X509 *cert = sk_X509_value(pool, i);
		if (!stack_has(used, cert) && !stack_has(unused, cert) &&
		    X509_up_ref(cert) && !sk_X509_push(unused, cert))
			X509_free(cert);
	}
	ERR_clear_error();
	sk_X509_free(used);
	*chain_r = chain;
	*root_r = root;
	*unused_r = unused;
}

/* The first certificate whose public key is key's (a CA certificate only
 * when nothing else matches). NULL when none does. */
static X509 *find_leaf(STACK_OF(X509) *certs, const EVP_PKEY *key)
{
	X509 *ca_match = NULL;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *cert = sk_X509_value(certs, i);
		if (!pki_key_matches(key, cert))
			continue;
		if (X509_check_ca(cert) == 0)
			return cert;
		if (ca_match == NULL)
			ca_match = cert;
	}
	return ca_match;
}

/* ---- import ---------------------------------------------------------- */

static void add_warning(char ***warnings, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_warning(char ***warnings, const char *fmt, ...)
{
	size_t n = strv_len(*warnings);
	va_list ap;

	*warnings = xrealloc(*warnings, (n + 2) * sizeof(**warnings));
	va_start(ap, fmt);
	(*warnings)[n] = xvasprintf(fmt, ap);
	va_end(ap);
	(*warnings)[n + 1] = NULL;
}

/* Notes on the chosen leaf and chain for the user. */
static void chain_warnings(const struct pki_import_input *in, X509 *leaf,
			   X509 *root, STACK_OF(X509) *unused, char ***warnings)
{
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	const ASN1_TIME *nb = X509_get0_notBefore(leaf);
	time_t now = time(NULL);
	char *name;

	if (root != NULL) {
		name = pki_name_oneline(X509_get_subject_name(root));
		add_warning(warnings, "%s: self-signed root '%s' left out of the "
			    "served chain (clients must already trust it)",
			    in->cert_path, name);
		free(name);
	}
	for (int i = 0; i < sk_X509_num(unused); i++) {
		name = pki_name_oneline(X509_get_subject_name(sk_X509_value(unused, i)));
		add_warning(warnings, "%s: certificate '%s' is not in the leaf's "
			    "chain and was left out", in->cert_path, name);
		free(name);
	}
	if (X509_cmp_time(na, &now) < 0)
		add_warning(warnings, "%s: the certificate expired on %s",
			    in->cert_path, pki_time_text(na));
	else if (X509_cmp_time(nb, &now) > 0)
		add_warning(warnings, "%s: the certificate is not valid before %s",
			    in->cert_path, pki_time_text(nb));
}

/* The key: from --key when given, else from CERTFILE's bundle. */
static int import_key(const struct pki_import_input *in,
		      struct pki_bundle *certs, EVP_PKEY **key_r,
		      const char **key_path_r, const char **error_r)
{
	struct pki_parse_opts opts = {
		.want_keys = true, .passphrase = in->passphrase,
		.passphrase_path = in->passphrase_path,
	};
	struct pki_bundle kb;
	const char *path = in->key_path != NULL ? in->key_path : in->cert_path;

	if (in->key_path == NULL) {
		kb = *certs;   /* borrow: only the key moves */
		certs->key = NULL;
	} else if (pki_bundle_read(in->key_path, &opts, &kb, error_r) < 0) {
		return -1;
	}
	if (kb.n_keys != 1) {
		*error_r = kb.n_keys == 0 ? (in->key_path == NULL ?
			errfmt("%s: no private key found (expected one in this "
			       "file, or --key KEYFILE)", path) :
			errfmt("%s: no private key found (expected a PEM or DER "
			       "private key, or PKCS#12)", path)) :
			errfmt("%s: holds %u private keys (expected one)", path,
			       kb.n_keys);
		goto fail;
	}
	if (pki_key_supported(kb.key, error_r) < 0) {
		*error_r = errfmt("%s: %s", path, *error_r);
		goto fail;
	}
	*key_r = kb.key;
	kb.key = NULL;
	*key_path_r = path;
	if (in->key_path != NULL)
		pki_bundle_free(&kb);
	return 0;
fail:
	if (in->key_path != NULL)
		pki_bundle_free(&kb);
	else
		EVP_PKEY_free(kb.key);
	return -1;
}

static int import_certs(const struct pki_import_input *in,
			struct pki_bundle *b, const char **error_r)
{
	struct pki_parse_opts opts = {
		.want_certs = true, .want_keys = in->key_path == NULL,
		.passphrase = in->passphrase,
		.passphrase_path = in->passphrase_path,
	};

	if (pki_bundle_read(in->cert_path, &opts, b, error_r) < 0)
		return -1;
	if (sk_X509_num(b->certs) == 0) {
		*error_r = b->saw_csr ?
			errfmt("%s: holds a certificate request, not a "
			       "certificate (expected the certificate your CA "
			       "issued for it)", in->cert_path) :
			errfmt("%s: no certificate found (expected a PEM or DER "
			       "certificate, PKCS#7 or PKCS#12)", in->cert_path);
		pki_bundle_free(b);
		return -1;
	}
	return 0;
}

int pki_import(const struct pki_import_input *in, struct pki_pair **pair_r,
	       char ***warnings_r, const char **error_r)
{
	struct pki_bundle b;
	struct pki_pair *pair = NULL;
	EVP_PKEY *key = NULL;
	const char *key_path;
	STACK_OF(X509) *unused = NULL;
	X509 *leaf, *root;
	char **warnings = xcalloc(1, sizeof(*warnings));

	if (import_certs(in, &b, error_r) < 0) {
		strv_free(&warnings);
		return -1;
	}
	if (import_key(in, &b, &key, &key_path, error_r) < 0)
		goto fail;
	leaf = find_leaf(b.certs, key);
	if (leaf == NULL) {
		*error_r = sk_X509_num(b.certs) == 1 ?
			errfmt("%s: key does not match certificate %s", key_path,
			       in->cert_path) :
			errfmt("%s: key matches none of the %d certificates in %s",
			       key_path, sk_X509_num(b.certs), in->cert_path);
		goto fail;
	}
	pair = pki_pair_new("");
	pair->key = key;
	key = NULL;
	X509_up_ref(leaf);
	pair->cert = leaf;
	sk_X509_free(pair->chain);
	pki_chain_build(leaf, b.certs, &pair->chain, &root, &unused);
	chain_warnings(in, leaf, root, unused, &warnings);
	sk_X509_pop_free(unused, X509_free);
	pki_bundle_free(&b);
	*pair_r = pair;
	*warnings_r = warnings;
	return 0;
fail:
	EVP_PKEY_free(key);
	pki_bundle_free(&b);
	strv_free(&warnings);
	return -1;
}

char *pki_import_default_name(const char *cert_path, const char **error_r)
{
	const char *base = strrchr(cert_path, '/');
	char *name = xstrdup(base != NULL ? base + 1 : cert_path);
	size_t len = strlen(name);

	for (size_t i = 0; i < N_ELEMENTS(cert_extensions); i++) {
		size_t elen = strlen(cert_extensions[i]);
		if (len > elen && str_has_suffix_ci(name, cert_extensions[i])) {
			name[len - elen] = '\0';
			break;
		}
	}
	if (!pki_name_valid(name)) {
		*error_r = errfmt("%s: '%s' cannot be a certificate name (expected "
				  "letters, digits, '.', '-', '_'; give --name NAME)",
				  cert_path, name);
		free(name);
		return NULL;
	}
	return name;
}
