/* sasl.c — PLAIN and LOGIN. */
#include "auth/sasl.h"
#include "lib/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

/* "Username:" and "Password:" in base64, as every LOGIN client expects. */
#define LOGIN_USER_CHALLENGE "VXNlcm5hbWU6"
#define LOGIN_PASS_CHALLENGE "UGFzc3dvcmQ6"

bool sasl_mech_find(const char *name, unsigned allowed, enum sasl_mech *mech_r)
{
	if (str_ieq(name, "PLAIN") && (allowed & SASL_MECH_PLAIN)) {
		*mech_r = SASL_MECH_PLAIN;
		return true;
	}
	if (str_ieq(name, "LOGIN") && (allowed & SASL_MECH_LOGIN)) {
		*mech_r = SASL_MECH_LOGIN;
		return true;
	}
	return false;
}

int sasl_base64_decode(const char *in, unsigned char *out, size_t size,
		       size_t *len_r)
{
	size_t inlen = strlen(in);
	int n1 = 0, n2 = 0;

	/* Base64 grows 3 bytes to 4; refuse before decoding if out is small. */
	if (inlen % 4 != 0 || inlen / 4 * 3 > size)
		return -1;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	if (ctx == NULL)
		return -1;
	EVP_DecodeInit(ctx);
	int rc = EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)in, (int)inlen);
	if (rc >= 0)
		rc = EVP_DecodeFinal(ctx, out + n1, &n2);
	EVP_ENCODE_CTX_free(ctx);
	if (rc < 0)
		return -1;
	*len_r = (size_t)(n1 + n2);
	return 0;
}

/* Decode a response; "=" is the empty response. */
static int decode_response(const char *line, unsigned char *out, size_t size,
			   size_t *len_r, const char **error_r)
{
	if (strlen(line) > SASL_RESPONSE_MAX) {
		*error_r = "response too long";
		return -1;
	}
	if (strcmp(line, "=") == 0 || *line == '\0') {
		*len_r = 0;
		return 0;
	}
	if (sasl_base64_decode(line, out, size, len_r) < 0) {
		*error_r = "invalid base64 data";
		return -1;
	}
	return 0;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. We act for authcid only: an
 * authzid must be absent or name the same user. */
static enum sasl_result plain_response(struct sasl *sa, const char *line,
				       const char **error_r)
{
	unsigned char buf[SASL_RESPONSE_MAX];
	size_t len;
	enum sasl_result ret = SASL_FAIL;

	if (decode_response(line, buf, sizeof(buf), &len, error_r) < 0)
		return SASL_FAIL;
	unsigned char *nul1 = memchr(buf, '\0', len);
	unsigned char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - buf)) : NULL;
	if (nul2 == NULL) {
		*error_r = "malformed PLAIN response";
		goto out;
	}
	size_t zlen = (size_t)(nul1 - buf), ulen = (size_t)(nul2 - nul1 - 1);
	size_t plen = len - (size_t)(nul2 + 1 - buf);
	if (ulen == 0 || ulen > ADDRESS_MAX || plen > PASSWD_PASSWORD_MAX) {
		*error_r = "malformed PLAIN response";
		goto out;
	}
	memcpy(sa->user, nul1 + 1, ulen);
	sa->user[ulen] = '\0';
	if (zlen > 0 && (zlen != ulen || strncasecmp((char *)buf, sa->user, ulen) != 0)) {
		*error_r = "authorization identity must be empty or the user";
		goto out;
	}
	memcpy(sa->password, nul2 + 1, plen);
	sa->password[plen] = '\0';
	sa->password_len = plen;
	ret = SASL_DONE;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

enum sasl_result sasl_begin(struct sasl **sap, enum sasl_mech mech,
			    const char *initial, const char **challenge_r,
			    const char **error_r)
{
	if (*sap == NULL)
		*sap = xcalloc(1, sizeof(**sap));
	struct sasl *sa = *sap;

	OPENSSL_cleanse(sa, sizeof(*sa));
	sa->mech = mech;
	if (initial == NULL) {
		*challenge_r = mech == SASL_MECH_PLAIN ? "" : LOGIN_USER_CHALLENGE;
		return SASL_CONTINUE;
	}
	return sasl_step(sa, initial, challenge_r, error_r);
}

enum sasl_result sasl_step(struct sasl *sa, const char *line,
			   const char **challenge_r, const char **error_r)
{
	unsigned char buf[SASL_RESPONSE_MAX];
	size_t len;

	if (strcmp(line, "*") == 0) {
		sa->cancelled = true;
		*error_r = "authentication cancelled";
		return SASL_FAIL;
	}
	if (sa->mech == SASL_MECH_PLAIN)
		return plain_response(sa, line, error_r);
	if (decode_response(line, buf, sizeof(buf), &len, error_r) < 0)
		return SASL_FAIL;
	if (sa->step++ == 0) {
		if (len == 0 || len > ADDRESS_MAX || memchr(buf, '\0', len)) {
			*error_r = "malformed user name";
			return SASL_FAIL;
		}
		memcpy(sa->user, buf, len);
		sa->user[len] = '\0';
		*challenge_r = LOGIN_PASS_CHALLENGE;
		return SASL_CONTINUE;
	}
	if (len > PASSWD_PASSWORD_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		*error_r = "password too long";
		return SASL_FAIL;
	}
	memcpy(sa->password, buf, len);
	sa->password[len] = '\0';
	sa->password_len = len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return SASL_DONE;
}

void sasl_clear(struct sasl **sap)
{
	if (*sap == NULL)
		return;
	OPENSSL_cleanse(*sap, sizeof(**sap));
	x_free(sap);
}
