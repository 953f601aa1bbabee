/* passwd_scheme.c — password schemes: which are accepted, hashing, checking.
 *
 * Every accepted scheme is a crypt(3) hash that Debian's libxcrypt verifies;
 * all verification goes through crypt_rn() (thread-safe, caller's buffer),
 * never crypt(). */
#include "auth/passwd.h"
#include "lib/util.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PASSWD_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
	       "libcrypt must be able to hash the longest password we accept");

/* The prefix we ask libcrypt for when hashing a new password. */
#define PASSWD_NEW_PREFIX "$y$"
/* Longest "$id$" method name quoted in an error (libxcrypt's are <= 4). */
#define CRYPT_ID_SHOWN_MAX 4
/* Longest {SCHEME} name quoted in an error (Dovecot's are <= 20, with an
 * encoding suffix such as ".B64"); longer names are cut and end in "...". */
#define SCHEME_SHOWN_MAX 32

/* A crypt method we verify. hash_len is the length of the part after the
 * last '$' (the hash, or salt and hash for bcrypt), so a truncated line is
 * caught when the file is loaded rather than failing every login. */
struct crypt_method {
	const char *prefix;
	const char *name;
	size_t hash_len;
};

static const struct crypt_method crypt_methods[] = {
	{ "$y$", "yescrypt", 43 },
	{ "$gy$", "gost-yescrypt", 43 },
	{ "$7$", "scrypt", 43 },
	{ "$6$", "SHA512-CRYPT", 86 },
	{ "$5$", "SHA256-CRYPT", 43 },
	{ "$2b$", "BLF-CRYPT", 53 },
	{ "$2y$", "BLF-CRYPT", 53 },
	/* libxcrypt's $2a$ is the corrected bcrypt; only $2x$ has the 8-bit bug. */
	{ "$2a$", "BLF-CRYPT", 53 },
};

/* Crypt prefixes libcrypt knows but we refuse: broken or too cheap to
 * resist offline guessing. */
static const struct crypt_method weak_crypt_methods[] = {
	{ "$1$", "MD5-CRYPT", 0 },
	{ "$2x$", "bcrypt with the 8-bit bug ($2x$)", 0 },
	{ "$3$", "NT-HASH", 0 },
	{ "$md5", "Sun MD5-CRYPT", 0 },
	{ "$sha1", "SHA1-CRYPT", 0 },
	{ "_", "BSDi DES-CRYPT", 0 },
};

/* Dovecot {SCHEME} names we accept, and the crypt prefix each implies
 * (NULL: any accepted crypt hash). */
struct dovecot_scheme {
	const char *name;
	const char *prefixes[3];
	const char *expected;    /* for the error when the hash does not fit */
};

static const struct dovecot_scheme accepted_schemes[] = {
	{ "CRYPT", { NULL }, "" },
	{ "SHA512-CRYPT", { "$6$" }, "$6$" },
	{ "SHA256-CRYPT", { "$5$" }, "$5$" },
	{ "BLF-CRYPT", { "$2y$", "$2b$", "$2a$" }, "$2y$, $2b$ or $2a$" },
};

/* Dovecot schemes that store the password in plain text or behind a fast,
 * unsalted or broken hash. */
static const char *const weak_schemes[] = {
	"PLAIN", "CLEARTEXT", "CLEAR", "PLAIN-TRUNC", "PLAIN-MD4", "PLAIN-MD5",
	"LDAP-MD5", "MD5", "MD5-CRYPT", "SMD5", "SHA", "SSHA", "SHA1", "SHA256",
	"SSHA256", "SHA512", "SSHA512", "CRAM-MD5", "HMAC-MD5", "DIGEST-MD5",
	"LANMAN", "NTLM", "RPA", "OTP", "SKEY", "DES-CRYPT",
};

static const struct crypt_method *method_find(const struct crypt_method *tab,
					      size_t n, const char *hash)
{
	for (size_t i = 0; i < n; i++) {
		if (strncmp(hash, tab[i].prefix, strlen(tab[i].prefix)) == 0)
			return &tab[i];
	}
	return NULL;
}

static bool is_crypt64(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '/'))
			return false;
	}
	return true;
}

/* Check a bare crypt hash: an accepted method, well formed, and verifiable
 * by this libcrypt. */
static int crypt_hash_check(const char *hash, const char **error_r)
{
	const struct crypt_method *m, *weak;
	const char *last = strrchr(hash, '$');

	weak = method_find(weak_crypt_methods, N_ELEMENTS(weak_crypt_methods), hash);
	if (weak != NULL) {
		*error_r = errfmt("password scheme %s is refused (weak hash)",
				  weak->name);
		return -1;
	}
	m = method_find(crypt_methods, N_ELEMENTS(crypt_methods), hash);
	if (m == NULL && hash[0] == '$') {
		/* Name the method only when it looks like one ("$id$"): the
		 * field could be a plain-text password, which is never echoed. */
		size_t id = strspn(hash + 1, "abcdefghijklmnopqrstuvwxyz0123456789");
		if (id >= 1 && id <= CRYPT_ID_SHOWN_MAX && hash[id + 1] == '$')
			*error_r = errfmt("unsupported crypt hash method '%.*s'",
					  (int)id + 2, hash);
		else
			*error_r = "unsupported crypt hash method";
		return -1;
	}
	if (m == NULL) {
		*error_r = "password is not a crypt hash (DES-CRYPT or plain text?); "
			   "refused";
		return -1;
	}
	/* The prefix's own '$' is not enough: a salt or cost must follow. */
	if (last - hash < (ptrdiff_t)strlen(m->prefix) ||
	    strlen(last + 1) != m->hash_len || !is_crypt64(last + 1, m->hash_len)) {
		*error_r = errfmt("%s hash is malformed or truncated", m->name);
		return -1;
	}
	int ok = crypt_checksalt(hash);
	if (ok == CRYPT_SALT_INVALID || ok == CRYPT_SALT_METHOD_DISABLED) {
		*error_r = errfmt("%s hash cannot be verified by this system's "
				  "libcrypt", m->name);
		return -1;
	}
	return 0;
}

static bool scheme_is_weak(const char *name, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(weak_schemes); i++) {
		if (strlen(weak_schemes[i]) == len &&
		    strncasecmp(weak_schemes[i], name, len) == 0)
			return true;
	}
	return false;
}

static const struct dovecot_scheme *scheme_find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(accepted_schemes); i++) {
		if (strlen(accepted_schemes[i].name) == len &&
		    strncasecmp(accepted_schemes[i].name, name, len) == 0)
			return &accepted_schemes[i];
	}
	return NULL;
}

static bool scheme_allows(const struct dovecot_scheme *s, const char *hash)
{
	if (s->prefixes[0] == NULL)
		return true;
	for (size_t i = 0; i < N_ELEMENTS(s->prefixes) && s->prefixes[i]; i++) {
		if (strncmp(hash, s->prefixes[i], strlen(s->prefixes[i])) == 0)
			return true;
	}
	return false;
}

int passwd_hash_parse(const char *field, const char **hash_r,
		      const char **error_r)
{
	const char *hash = field;

	if (field[0] == '{') {
		const char *end = strchr(field, '}');
		if (end == NULL) {
			*error_r = "password scheme has no closing '}'";
			return -1;
		}
		const char *name = field + 1;
		size_t len = (size_t)(end - name);
		/* "{SHA256.HEX}": the part after '.' only names an encoding. */
		size_t base = strcspn(name, ".}");
		const struct dovecot_scheme *s = scheme_find(name, len);
		/* The name goes into a log line: no control bytes, bounded. */
		char shown[SCHEME_SHOWN_MAX + 1];
		str_sanitize(shown, sizeof(shown), name, len);
		const char *cut = len > SCHEME_SHOWN_MAX ? "..." : "";
		if (s == NULL && scheme_is_weak(name, base)) {
			*error_r = errfmt("password scheme {%s%s} is refused "
					  "(plain text or weak hash)", shown, cut);
			return -1;
		}
		if (s == NULL) {
			*error_r = errfmt("unsupported password scheme {%s%s}",
					  shown, cut);
			return -1;
		}
		hash = end + 1;
		if (!scheme_allows(s, hash)) {
			*error_r = errfmt("{%s} password is not a %s hash",
					  s->name, s->expected);
			return -1;
		}
	}
	if (hash[0] == '\0') {
		*error_r = "empty password";
		return -1;
	}
	if (crypt_hash_check(hash, error_r) < 0)
		return -1;
	*hash_r = hash;
	return 0;
}

int passwd_hash_new(const char *password, char **hash_r, const char **error_r)
{
	struct crypt_data *data;
	char *setting, *out;

	setting = crypt_gensalt_ra(PASSWD_NEW_PREFIX, 0, NULL, 0);
	if (setting == NULL) {
		*error_r = errfmt("crypt_gensalt(%s): %s", PASSWD_NEW_PREFIX,
				  strerror(errno));
		return -1;
	}
	data = xcalloc(1, sizeof(*data));
	out = crypt_rn(password, setting, data, sizeof(*data));
	int ret = -1;
	if (out == NULL || out[0] == '*') {
		*error_r = errfmt("crypt(%s): %s", PASSWD_NEW_PREFIX,
				  strerror(errno));
	} else {
		*hash_r = xstrdup(out);
		ret = 0;
	}
	OPENSSL_cleanse(data, sizeof(*data));
	free(data);
	free(setting);
	return ret;
}

bool passwd_hash_verify(const char *hash, const char *password)
{
	/* 32 KiB: on the heap, as verification runs on worker threads. */
	struct crypt_data *data = xcalloc(1, sizeof(*data));
	const char *out = crypt_rn(password, hash, data, sizeof(*data));
	size_t len = strlen(hash);
	bool ok = false;

	/* Only the lengths of our own stored hash and libcrypt's output (fixed
	 * per method) leak through timing; the bytes compare in constant time. */
	if (out != NULL && out[0] != '*' && strlen(out) == len)
		ok = CRYPTO_memcmp(out, hash, len) == 0;
	OPENSSL_cleanse(data, sizeof(*data));
	free(data);
	return ok;
}
