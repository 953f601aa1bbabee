/* pki_key.c — private keys: generate, decode every accepted encoding,
 * encode as PKCS#8 PEM, judge the type, and read passphrases.
 *
 * Decoding never prompts: an encrypted key without a passphrase is an error
 * naming --passphrase-file. */
#include "pki/pki_private.h"
#include "lib/fsutil.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

/* Largest passphrase file read: the first line is used, so a little more
 * than one line of PKI_PASSPHRASE_MAX is plenty. */
#define PKI_PASSPHRASE_FILE_MAX 4096

const char *pki_ossl_error(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	const char *text = errfmt("%s", reason != NULL ? reason : "unknown error");

	ERR_clear_error();
	return text;
}

/* ---- generation ------------------------------------------------------ */

struct keygen_progress {
	pki_progress_fn *fn;
	void *context;
};

static int keygen_cb(EVP_PKEY_CTX *ctx)
{
	struct keygen_progress *p = EVP_PKEY_CTX_get_app_data(ctx);
	if (p != NULL && p->fn != NULL)
		p->fn(p->context);
	return 1;
}

int pki_key_generate(enum pki_key_type type, unsigned bits,
		     pki_progress_fn *progress, void *context,
		     EVP_PKEY **key_r, const char **error_r)
{
	struct keygen_progress p = { progress, context };
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	int ok;

	if (type == PKI_KEY_ECDSA) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) > 0 &&
			EVP_PKEY_CTX_set_group_name(ctx, "P-256") > 0;
	} else {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) > 0 &&
			EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) > 0;
	}
	if (ok) {
		EVP_PKEY_CTX_set_app_data(ctx, &p);
		EVP_PKEY_CTX_set_cb(ctx, keygen_cb);
		ok = EVP_PKEY_generate(ctx, &key) > 0;
	}
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		*error_r = errfmt("key generation failed: %s", pki_ossl_error());
		return -1;
	}
	*key_r = key;
	return 0;
}

/* ---- type ------------------------------------------------------------ */

/* OpenSSL's group names of the curves a TLS server can use, and ours. */
static const struct {
	const char *group;
	const char *name;
} ec_curves[] = {
	{ "prime256v1", "P-256" },
	{ "secp384r1", "P-384" },
	{ "secp521r1", "P-521" },
};

/* "P-256" for a supported curve, else OpenSSL's group name or "unknown". */
static const char *ec_curve_name(const EVP_PKEY *key, bool *supported_r)
{
	char group[64];
	size_t len;

	*supported_r = false;
	if (!EVP_PKEY_get_group_name(key, group, sizeof(group), &len))
		return "unknown curve";
	for (size_t i = 0; i < N_ELEMENTS(ec_curves); i++) {
		if (strcmp(group, ec_curves[i].group) == 0) {
			*supported_r = true;
			return ec_curves[i].name;
		}
	}
	return errfmt("%s", group);
}

const char *pki_key_describe(const EVP_PKEY *key)
{
	bool supported;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		return errfmt("RSA %d", EVP_PKEY_get_bits(key));
	case EVP_PKEY_EC:
		return errfmt("ECDSA %s", ec_curve_name(key, &supported));
	default: {
		const char *name = EVP_PKEY_get0_type_name(key);
		return errfmt("%s", name != NULL ? name : "unknown");
	}
	}
}

int pki_key_supported(const EVP_PKEY *key, const char **error_r)
{
	static const char supported_text[] =
		"supported: RSA of 2048 bits or more, ECDSA P-256, P-384, P-521";
	bool curve_ok;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) >= PKI_RSA_BITS_MIN)
			return 0;
		*error_r = errfmt("RSA key of %d bits is too small (%s)",
				  EVP_PKEY_get_bits(key), supported_text);
		return -1;
	case EVP_PKEY_EC: {
		const char *curve = ec_curve_name(key, &curve_ok);
		if (curve_ok)
			return 0;
		*error_r = errfmt("unsupported ECDSA curve %s (%s)", curve,
				  supported_text);
		return -1;
	}
	default:
		*error_r = errfmt("unsupported key type %s (%s)",
				  pki_key_describe(key), supported_text);
		return -1;
	}
}

bool pki_key_matches(const EVP_PKEY *key, X509 *cert)
{
	const EVP_PKEY *pub = X509_get0_pubkey(cert);
	bool match = pub != NULL && EVP_PKEY_eq(pub, key) == 1;

	ERR_clear_error();
	return match;
}

/* ---- encoding -------------------------------------------------------- */

/* Move what bio holds to the end of out. */
static void bio_drain(BIO *bio, struct buf *out)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	if (len > 0)
		buf_append(out, data, (size_t)len);
}

int pki_key_to_pem(EVP_PKEY *key, struct buf *out, const char **error_r)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL &&
		PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) > 0;

	if (ok)
		bio_drain(bio, out);
	else
		*error_r = errfmt("cannot encode the key: %s", pki_ossl_error());
	BIO_free(bio);
	return ok ? 0 : -1;
}

int pki_cert_to_pem(X509 *cert, struct buf *out, const char **error_r)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL && PEM_write_bio_X509(bio, cert) > 0;

	if (ok)
		bio_drain(bio, out);
	else
		*error_r = errfmt("cannot encode a certificate: %s", pki_ossl_error());
	BIO_free(bio);
	return ok ? 0 : -1;
}

int pki_csr_to_pem(X509_REQ *csr, struct buf *out, const char **error_r)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL && PEM_write_bio_X509_REQ(bio, csr) > 0;

	if (ok)
		bio_drain(bio, out);
	else
		*error_r = errfmt("cannot encode the request: %s", pki_ossl_error());
	BIO_free(bio);
	return ok ? 0 : -1;
}

/* ---- decoding -------------------------------------------------------- */

const char *pki_error_encrypted(const char *path,
				const struct pki_parse_opts *opts)
{
	return errfmt("%s: private key is encrypted (expected %s)", path,
		      opts->encrypted_hint != NULL ? opts->encrypted_hint :
		      "its passphrase in --passphrase-file FILE");
}

const char *pki_error_wrong_passphrase(const char *path,
				       const struct pki_parse_opts *opts)
{
	return errfmt("%s: wrong passphrase (from %s): cannot decrypt the "
		      "private key", path,
		      opts->passphrase_path != NULL ? opts->passphrase_path :
		      "--passphrase-file");
}

/* Decrypt an encrypted PKCS#8 (X509_SIG) into a key. */
static int decode_encrypted_pkcs8(const char *path, X509_SIG *sig,
				  const struct pki_parse_opts *opts,
				  EVP_PKEY **key_r, const char **error_r)
{
	PKCS8_PRIV_KEY_INFO *p8;

	if (opts->passphrase == NULL) {
		*error_r = pki_error_encrypted(path, opts);
		return -1;
	}
	p8 = PKCS8_decrypt(sig, opts->passphrase, (int)strlen(opts->passphrase));
	*key_r = p8 != NULL ? EVP_PKCS82PKEY(p8) : NULL;
	PKCS8_PRIV_KEY_INFO_free(p8);
	ERR_clear_error();
	if (*key_r == NULL) {
		*error_r = pki_error_wrong_passphrase(path, opts);
		return -1;
	}
	return 0;
}

/* Parse der as X509_SIG, requiring every byte to be used. */
static X509_SIG *d2i_sig_whole(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	X509_SIG *sig = d2i_X509_SIG(NULL, &p, len);
	if (sig != NULL && p != der + len) {
		X509_SIG_free(sig);
		sig = NULL;
	}
	return sig;
}

static EVP_PKEY *d2i_pkcs8_whole(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
	EVP_PKEY *key = NULL;

	if (p8 != NULL && p == der + len)
		key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return key;
}

/* A "traditional" key: PKCS#1 RSAPrivateKey or SEC1 ECPrivateKey. */
static EVP_PKEY *d2i_traditional_whole(int type, const unsigned char *der,
				       long len)
{
	const unsigned char *p = der;
	EVP_PKEY *key = d2i_PrivateKey(type, NULL, &p, len);
	if (key != NULL && p != der + len) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

int pki_key_decode_der(const char *path, const unsigned char *der, long len,
		       const struct pki_parse_opts *opts, EVP_PKEY **key_r,
		       const char **error_r)
{
	X509_SIG *sig = d2i_sig_whole(der, len);
	EVP_PKEY *key;

	if (sig != NULL && !opts->want_keys) {
		/* A key, but not wanted here: no need for its passphrase. */
		X509_SIG_free(sig);
		*key_r = NULL;
		return 1;
	}
	if (sig != NULL) {
		int ret = decode_encrypted_pkcs8(path, sig, opts, key_r, error_r);
		X509_SIG_free(sig);
		return ret < 0 ? -1 : 1;
	}
	key = d2i_pkcs8_whole(der, len);
	if (key == NULL)
		key = d2i_traditional_whole(EVP_PKEY_RSA, der, len);
	if (key == NULL)
		key = d2i_traditional_whole(EVP_PKEY_EC, der, len);
	ERR_clear_error();
	*key_r = key;
	return key != NULL ? 1 : 0;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	int len = (int)strlen(pass);

	if (len > size)
		return -1;
	memcpy(buf, pass, (size_t)len);
	return len;
}

/* Legacy PEM encryption (Proc-Type: 4,ENCRYPTED + DEK-Info): decrypt der in
 * place. Returns 1 when it was encrypted, 0 when not, -1 on error. */
static int decrypt_legacy_pem(const char *path, char *header,
			      unsigned char *der, long *len,
			      const struct pki_parse_opts *opts,
			      const char **error_r)
{
	EVP_CIPHER_INFO cipher;

	if (header == NULL || *header == '\0')
		return 0;
	if (!PEM_get_EVP_CIPHER_INFO(header, &cipher)) {
		*error_r = errfmt("%s: unsupported PEM encryption header (%s)",
				  path, pki_ossl_error());
		return -1;
	}
	if (cipher.cipher == NULL)
		return 0;
	if (opts->passphrase == NULL) {
		*error_r = pki_error_encrypted(path, opts);
		return -1;
	}
	if (!PEM_do_header(&cipher, der, len, pem_pass_cb,
			   (void *)opts->passphrase)) {
		ERR_clear_error();
		*error_r = pki_error_wrong_passphrase(path, opts);
		return -1;
	}
	return 1;
}

int pki_key_decode_pem(const char *path, const char *type, char *header,
		       unsigned char *der, long len,
		       const struct pki_parse_opts *opts, EVP_PKEY **key_r,
		       const char **error_r)
{
	EVP_PKEY *key = NULL;
	int encrypted;

	if (strcmp(type, "ENCRYPTED PRIVATE KEY") == 0) {
		X509_SIG *sig = d2i_sig_whole(der, len);
		int ret;
		if (sig == NULL) {
			*error_r = errfmt("%s: the encrypted private key is corrupt "
					  "(expected PKCS#8)", path);
			return -1;
		}
		ret = decode_encrypted_pkcs8(path, sig, opts, key_r, error_r);
		X509_SIG_free(sig);
		return ret;
	}
	encrypted = decrypt_legacy_pem(path, header, der, &len, opts, error_r);
	if (encrypted < 0)
		return -1;
	if (strcmp(type, "PRIVATE KEY") == 0)
		key = d2i_pkcs8_whole(der, len);
	else if (strcmp(type, "RSA PRIVATE KEY") == 0)
		key = d2i_traditional_whole(EVP_PKEY_RSA, der, len);
	else if (strcmp(type, "EC PRIVATE KEY") == 0)
		key = d2i_traditional_whole(EVP_PKEY_EC, der, len);
	ERR_clear_error();
	if (key == NULL) {
		*error_r = encrypted > 0 ? pki_error_wrong_passphrase(path, opts) :
			errfmt("%s: the %s block is corrupt (expected a DER "
			       "private key inside)", path, type);
		return -1;
	}
	*key_r = key;
	return 0;
}

/* ---- passphrases ----------------------------------------------------- */

int pki_passphrase_read(const char *path, char **pass_r, const char **error_r)
{
	char *data;
	size_t len, line;

	if (fs_read_file(path, PKI_PASSPHRASE_FILE_MAX, &data, &len, error_r) < 0)
		return -1;
	line = strcspn(data, "\n");
	if (line > 0 && data[line - 1] == '\r')
		line--;
	if (line == 0 || line > PKI_PASSPHRASE_MAX) {
		*error_r = line == 0 ?
			errfmt("%s: the first line is empty (expected the "
			       "passphrase)", path) :
			errfmt("%s: the passphrase is longer than %d bytes",
			       path, PKI_PASSPHRASE_MAX);
		OPENSSL_cleanse(data, len);
		free(data);
		return -1;
	}
	*pass_r = xstrndup(data, line);
	OPENSSL_cleanse(data, len);
	free(data);
	return 0;
}

void pki_passphrase_free(char **pass)
{
	if (*pass == NULL)
		return;
	OPENSSL_cleanse(*pass, strlen(*pass));
	x_free(pass);
}
