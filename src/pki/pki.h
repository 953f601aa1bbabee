/* pki.h — certificates and keys: create, import, store, load and check.
 *
 * The certs folder holds pairs: NAME.key (unencrypted PEM, mode 0600) and
 * NAME.crt (PEM: the leaf, then its chain, leaf's issuer first, never a
 * self-signed root). `sealpost cert ...` writes them; the server loads them
 * with pki_pair_load() and judges them with pki_pair_check().
 *
 * Files:  pki_key.c     key generation, decoding, encoding, passphrases
 *         pki_cert.c    subject/SAN validation, CSR + self-signed certificate,
 *                       inspection (names, dates, fingerprints)
 *         pki_import.c  every input format, leaf selection, chain ordering
 *         pki_store.c   the certs folder: locking, two-phase pair writes,
 *                       crash recovery, listing, pki_pair_load()
 *         pki_check.c   findings (dates, key, chain, purpose), RFC 6125 hosts
 *         pki_renew.c   a pair's life: the expiry schedule, validating a
 *                       replacement before it is swapped in
 *         pki_dane.c    DANE TLSA records (RFC 6698, RFC 7671)
 *         pki_set.c     the configured set: `certificate` and [sni]
 *                       (pki_set.h)
 *
 * A loaded pair is immutable and owns everything it points to, so a server can
 * hold several at once (RSA beside ECDSA, one per SNI name) and swap a renewed
 * one in by loading it anew and replacing its pointer. */
#ifndef SEALPOST_PKI_H
#define SEALPOST_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/util.h"

/* A pair name is a plain file base name: [A-Za-z0-9._-], no leading '.'
 * (hidden names are the store's temporary files), at most this long. */
#define PKI_NAME_MAX 64
/* Largest file import reads. A PEM bundle with a long chain is a few tens of
 * KiB and a PKCS#12 file about the same; anything bigger is not a cert file. */
#define PKI_FILE_MAX (1024 * 1024)
/* Longest passphrase read from --passphrase-file (PEM_BUFSIZE is 1024). */
#define PKI_PASSPHRASE_MAX 1023
/* Certificates expiring within this many days get a warning (the first
 * step of the expiry schedule, enum pki_expiry). */
#define PKI_EXPIRY_WARN_DAYS 30
/* `cert check` fails (exit 1) this close to expiry, for cron and
 * monitoring: two weeks leave time to renew by hand. */
#define PKI_EXPIRY_FAIL_DAYS 14
/* `cert create --days`: default one year, at most ten. */
#define PKI_DAYS_DEFAULT 365
#define PKI_DAYS_MAX 3650
/* RSA sizes `cert create` offers; smaller RSA keys are refused on import
 * (NIST SP 800-57: 2048 bits for 112-bit security, OpenSSL security level 2). */
#define PKI_RSA_BITS_DEFAULT 4096
#define PKI_RSA_BITS_MIN 2048
/* "AB:CD:..." of a SHA-256 digest: 32 bytes, 3 characters each. */
#define PKI_FINGERPRINT_LEN (32 * 3)

/* ---- pairs ---------------------------------------------------------- */

struct pki_pair {
	char *name;
	X509 *cert;              /* the leaf */
	STACK_OF(X509) *chain;   /* intermediates, leaf's issuer first; never a self-signed root */
	EVP_PKEY *key;
	char *crt_path;          /* where they came from (or go), for messages */
	char *key_path;
};

/* Load certs_dir/NAME.crt and NAME.key, check the key matches the leaf. */
int pki_pair_load(const char *certs_dir, const char *name,
		  struct pki_pair **pair_r, const char **error_r);
/* The same without judging the pair: only a missing, unreadable or
 * undecodable file fails. pki_pair_check() then reports the rest. */
int pki_pair_read(const char *certs_dir, const char *name,
		  struct pki_pair **pair_r, const char **error_r);
/* A new empty pair owning a copy of name. */
struct pki_pair *pki_pair_new(const char *name);
void pki_pair_free(struct pki_pair **pair);

/* true when name is usable as a pair name (see PKI_NAME_MAX). */
bool pki_name_valid(const char *name);

/* ---- checks (pki_check.c) ------------------------------------------- */

enum pki_severity {
	PKI_OK,          /* a check that passed, e.g. "key matches certificate" */
	PKI_WARNING,     /* works, but needs attention soon */
	PKI_ERROR,       /* clients will fail, or the pair cannot be served */
};

/* The expiry schedule: a served certificate gets a warning when 30, 14, 7,
 * 3 and 1 days are left (days rounded up, as pki_days_until), an error once
 * it has expired. Ordered: a later step is a larger value. */
enum pki_expiry {
	PKI_EXPIRY_NONE,      /* more than 30 days left */
	PKI_EXPIRY_30,
	PKI_EXPIRY_14,
	PKI_EXPIRY_7,
	PKI_EXPIRY_3,
	PKI_EXPIRY_1,
	PKI_EXPIRY_EXPIRED,
};

struct pki_finding {
	enum pki_severity severity;
	const char *tag;   /* short status word: "ok", "expired", "key mismatch" */
	const char *file;  /* the file it concerns (or "CONFIG:LINE") */
	const char *text;  /* one line, without the file name */
	enum pki_expiry expiry; /* date findings: the step reached, else NONE */
};
typedef void pki_finding_fn(const struct pki_finding *finding, void *context);

/* Judge pair at time now and report every finding through fn: key/cert
 * match and key type, validity of every certificate (error when expired or
 * not yet valid, warning within PKI_EXPIRY_WARN_DAYS, with the schedule
 * step in finding->expiry), chain order and
 * completeness (the chain's last issuer is looked up in the system trust
 * store), fitness for TLS servers, and when host is not NULL whether the
 * leaf covers it (RFC 6125). Returns the number of PKI_ERROR findings. */
unsigned pki_pair_check(const struct pki_pair *pair, const char *host,
			time_t now, pki_finding_fn *fn, void *context);

/* RFC 6125 6.4: does a presented DNS-ID pattern cover host? Case-insensitive;
 * a wildcard is only a whole left-most label ("*.example.com" covers
 * "a.example.com", not "example.com" nor "a.b.example.com") above at least
 * two labels. */
bool pki_host_match(const char *pattern, const char *host);
/* Does cert cover host (a DNS name, or an IP address against IP SANs)?
 * DNS SANs are used; the subject CN only when there are none (6.4.4). On a
 * match *matched_r (may be NULL) is the name that matched, errfmt() text. */
bool pki_cert_covers_host(X509 *cert, const char *host, const char **matched_r);
/* The same for a configured name, which may also be a wildcard: only the
 * same wildcard DNS-ID covers "*.example.org" (a certificate naming
 * a.example.org and b.example.org does not cover every name under it). */
bool pki_cert_covers_name(X509 *cert, const char *name, const char **matched_r);
/* The names cert is presented for (RFC 6125 6.4): its DNS-IDs in lower case
 * and IP addresses, or the CN when it has no DNS SAN. NULL-terminated, new
 * (strv_free). */
char **pki_cert_names(X509 *cert);

/* ---- a pair's life (pki_renew.c) ------------------------------------ */

/* The days a step stands for: 30, 14, 7, 3, 1; 0 for NONE and EXPIRED. */
unsigned pki_expiry_days(enum pki_expiry step);
/* The step cert has reached at now. */
enum pki_expiry pki_cert_expiry(X509 *cert, time_t now);
/* The step of the served chain: the leaf or an intermediate, whichever
 * expires first (*first_r, borrowed; may be NULL). */
enum pki_expiry pki_pair_expiry(const struct pki_pair *pair, time_t now,
				X509 **first_r);
/* For a server that logs each step once: when pair has reached a step later
 * than *logged, report it through fn (PKI_WARNING; PKI_ERROR once expired),
 * set *logged and return true. A step earlier than *logged (the pair was
 * renewed) resets *logged without a report. Start with PKI_EXPIRY_NONE. */
bool pki_expiry_due(const struct pki_pair *pair, time_t now,
		    enum pki_expiry *logged, pki_finding_fn *fn, void *context);

/* Judge next as the replacement of current (same name) before it is swapped
 * in: every check of pki_pair_check (key matches, dates valid, chain
 * ordered, usable for TLS servers ...), and warnings when next no longer
 * covers a name current covered or expires before it. Returns the number of
 * PKI_ERROR findings: only 0 allows the swap. */
unsigned pki_pair_validate(const struct pki_pair *current,
			   const struct pki_pair *next, time_t now,
			   pki_finding_fn *fn, void *context);
/* The same certificate, chain and key (nothing to replace). */
bool pki_pair_same(const struct pki_pair *a, const struct pki_pair *b);
/* A new pair sharing a's certificates and key (reference counted). */
struct pki_pair *pki_pair_dup(const struct pki_pair *pair);

/* ---- DANE (pki_dane.c) --------------------------------------------- */

/* RFC 6698 2.1: the record sealpost prints is selector 1 (the
 * SubjectPublicKeyInfo) with matching type 1 (its SHA-256), as RFC 7671 5.1
 * and RFC 7672 3.1 recommend; usage 3 (DANE-EE) for the server's key, 2
 * (DANE-TA) for the issuing CA. */
enum pki_tlsa_usage {
	PKI_TLSA_DANE_TA = 2,
	PKI_TLSA_DANE_EE = 3,
};
#define PKI_TLSA_SELECTOR_SPKI 1
#define PKI_TLSA_MATCH_SHA256 1
/* The hex of a SHA-256 digest. */
#define PKI_SHA256_HEX_LEN 64

/* SHA-256 of the DER SubjectPublicKeyInfo of key / of cert, in lower-case
 * hex: the data of a "x 1 1" TLSA record. */
int pki_spki_sha256(EVP_PKEY *key, char hex_r[PKI_SHA256_HEX_LEN + 1],
		    const char **error_r);
int pki_cert_spki_sha256(X509 *cert, char hex_r[PKI_SHA256_HEX_LEN + 1],
			 const char **error_r);
/* The certificate of pair's chain that issued the leaf (borrowed), or NULL
 * (self-signed, or the issuer is not in the file). */
X509 *pki_pair_issuer(const struct pki_pair *pair);
/* The owner name of a TLSA record: "_25._tcp.mail.example.org." (new). */
char *pki_tlsa_owner(const char *host, unsigned port);
/* The public key in path: a private key (unencrypted, any format import
 * reads) or a certificate, e.g. the key a renewal will use, whose record
 * is published before the switch. Refuses key types pki_key_supported()
 * refuses. *key_r is new. */
int pki_public_key_read(const char *path, EVP_PKEY **key_r,
			const char **error_r);

/* ---- keys (pki_key.c) ----------------------------------------------- */

enum pki_key_type {
	PKI_KEY_RSA,
	PKI_KEY_ECDSA,   /* P-256 when created; P-384 and P-521 accepted */
};

/* Called now and then while a key is generated, to show work is under way. */
typedef void pki_progress_fn(void *context);

/* Generate a key: RSA of bits (2048 or 4096) or ECDSA P-256 (bits ignored).
 * The new key is owned by the caller. */
int pki_key_generate(enum pki_key_type type, unsigned bits,
		     pki_progress_fn *progress, void *context,
		     EVP_PKEY **key_r, const char **error_r);
/* Refuse key types a TLS server cannot use: anything but RSA of at least
 * PKI_RSA_BITS_MIN bits and ECDSA on P-256/P-384/P-521. The error names the
 * type found and the supported ones. */
int pki_key_supported(const EVP_PKEY *key, const char **error_r);
/* "RSA 4096", "ECDSA P-256", "ED25519" (errfmt() text). */
const char *pki_key_describe(const EVP_PKEY *key);
/* true when key is the private half of cert's public key. */
bool pki_key_matches(const EVP_PKEY *key, X509 *cert);
/* Append key as unencrypted PKCS#8 PEM to out. */
int pki_key_to_pem(EVP_PKEY *key, struct buf *out, const char **error_r);
/* The passphrase of --passphrase-file: its first line without the line end.
 * *pass_r is owned by the caller; wipe and free it with pki_passphrase_free. */
int pki_passphrase_read(const char *path, char **pass_r, const char **error_r);
void pki_passphrase_free(char **pass);

/* ---- certificates (pki_cert.c) -------------------------------------- */

struct pki_cert_request {
	const char *cn;          /* host name, wildcard or IP address */
	const char *org, *unit, *locality, *state, *country, *email; /* or NULL */
	char **sans;             /* extra "DNS:x" "IP:y" "email:z", NULL-terminated, or NULL */
	unsigned days;
};

/* A host name per RFC 1123 (letters, digits, hyphens; labels of 1..63,
 * 253 in all), or with allow_wildcard also "*." and such a name of at least
 * two labels. */
bool pki_dns_name_valid(const char *name, bool allow_wildcard);
/* An IPv4 or IPv6 address literal. */
bool pki_ip_valid(const char *text);

/* Validation of `cert create` input. Errors start with the option's name
 * ("country 'USA': expected ...") and say what was expected. */
int pki_check_cn(const char *cn, const char **error_r);
/* Normalise one --san entry ("dns:Mail.Example.com" -> "DNS:mail.example.com").
 * *san_r is a new string. */
int pki_parse_san(const char *entry, char **san_r, const char **error_r);
/* The subject fields and days of req (cn and sans are checked above). */
int pki_check_request(const struct pki_cert_request *req, const char **error_r);

/* Build the CSR (subject + requested SANs) and the self-signed X.509 v3
 * certificate (CA:FALSE, keyUsage, serverAuth, SKI, SAN = CN + sans, SHA-256,
 * 128-bit random serial) for key. Both are owned by the caller. */
int pki_cert_create(EVP_PKEY *key, const struct pki_cert_request *req,
		    X509_REQ **csr_r, X509 **cert_r, const char **error_r);

/* Inspection. Strings returned are new (caller frees) unless noted. */
char *pki_name_oneline(const X509_NAME *name);       /* "CN=a, O=b" */
char *pki_cert_cn(X509 *cert);                       /* CN or the subject */
char *pki_cert_sans(X509 *cert);                     /* "DNS:a, IP:1.2.3.4" or "" */
void pki_cert_fingerprint(X509 *cert, char out[PKI_FINGERPRINT_LEN + 1]);
char *pki_cert_serial(X509 *cert);                   /* hex */
bool pki_cert_self_signed(X509 *cert);
/* "2026-01-31 12:00:00 UTC" of an ASN1_TIME (errfmt() text). */
const char *pki_time_text(const ASN1_TIME *t);
/* Days from now until t, rounded up; negative when t is past. */
long pki_days_until(const ASN1_TIME *t, time_t now);

/* ---- import (pki_import.c) ------------------------------------------ */

struct pki_import_input {
	const char *cert_path;        /* CERTFILE: certificates, maybe the key */
	const char *key_path;         /* --key, or NULL: the key is in CERTFILE */
	const char *passphrase;       /* from --passphrase-file, or NULL */
	const char *passphrase_path;  /* for messages */
};

/* Read everything the input names, find the leaf (the certificate whose
 * public key matches the key), order its chain leaf to root and leave a
 * self-signed root out. *pair_r (name NULL, owned by the caller) is ready to
 * store; *warnings_r is a NULL-terminated list of notes for the user (root
 * left out, unrelated certificates, expired...), free with strv_free. */
int pki_import(const struct pki_import_input *in, struct pki_pair **pair_r,
	       char ***warnings_r, const char **error_r);
/* The pair name CERTFILE implies: its base name without a known extension
 * (.crt .cer .der .pem .p12 .pfx .p7b .p7c). New string, or NULL with an
 * error when that is not a usable name. */
char *pki_import_default_name(const char *cert_path, const char **error_r);

/* Chain ordering: starting at leaf, repeatedly take the certificate in pool
 * that issued the last one. A self-signed issuer ends the chain and is
 * returned in *root_r (borrowed from pool, or NULL); certificates of pool
 * that are not in the chain go to *unused_r. The new stacks hold references
 * of their own. */
void pki_chain_build(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **chain_r,
		     X509 **root_r, STACK_OF(X509) **unused_r);

/* ---- the certs folder (pki_store.c) --------------------------------- */

struct pki_store_entry {
	char *name;
	bool has_crt, has_key;
};

/* Finish or roll back a pair write a crash interrupted (see pki_store.c).
 * A missing folder has nothing to recover. */
int pki_store_recover(const char *certs_dir, const char **error_r);
/* The pairs of the folder, sorted by name; hidden files are never pairs and
 * files other than *.crt / *.key are ignored. */
int pki_store_list(const char *certs_dir, struct pki_store_entry **entries_r,
		   size_t *count_r, const char **error_r);
void pki_store_list_free(struct pki_store_entry **entries, size_t count);
/* Error unless none of NAME.key, NAME.crt (and NAME.csr when with_csr)
 * exists in the folder; the error says to use --force. */
int pki_store_check_free(const char *certs_dir, const char *name,
			 bool with_csr, const char **error_r);
/* Store pair as NAME.key + NAME.crt (+ NAME.csr when csr is not NULL), whole
 * or not at all, creating the folder when needed. Existing files are only
 * replaced with force. Sets pair->crt_path/key_path. */
int pki_store_save(const char *certs_dir, struct pki_pair *pair,
		   X509_REQ *csr, bool force, const char **error_r);

#endif
