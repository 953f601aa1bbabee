/* fuzz_smtp.c — the SMTP command-line parsers and the DATA decoder.
 *
 * Input: first byte picks the target, the rest is the data. Properties
 * checked beyond "no crash": parsed addresses fit their limits, the DATA
 * decoder never outputs more than SMTP_DOT_EXPANSION x its input, and
 * decoding the same bytes in one piece or byte by byte gives the same
 * result. */
#include "smtp/smtp.h"
#include "auth/sasl.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_path(const char *s)
{
	struct smtp_path path;
	const char *rest, *error;
	if (smtp_parse_path(s, true, &path, &rest, &error) == 0) {
		if (strlen(path.address) > ADDRESS_MAX ||
		    strlen(path.local) > ADDRESS_LOCAL_MAX ||
		    strlen(path.domain) > ADDRESS_DOMAIN_MAX)
			abort();
		struct smtp_mail_params params;
		int code;
		(void)smtp_parse_mail_params(rest, &params, &code, &error);
	}
}

static size_t decode_all(const unsigned char *in, size_t len, size_t step,
			 unsigned char *out, bool *ended_r)
{
	enum smtp_dot_state st = SMTP_DOT_LINE_START;
	size_t pos = 0, o = 0;
	*ended_r = false;
	while (pos < len && !*ended_r) {
		size_t n = len - pos < step ? len - pos : step, used, produced;
		*ended_r = smtp_dot_decode(&st, in + pos, n, &used, out + o,
					   n * SMTP_DOT_EXPANSION, &produced);
		if (produced > used * SMTP_DOT_EXPANSION)
			abort();
		pos += used;
		o += produced;
	}
	return o;
}

static void fuzz_data(const unsigned char *in, size_t len)
{
	unsigned char *a = malloc(len * SMTP_DOT_EXPANSION + 1);
	unsigned char *b = malloc(len * SMTP_DOT_EXPANSION + 1);
	bool end_a, end_b;
	size_t na = decode_all(in, len, len ? len : 1, a, &end_a);
	size_t nb = decode_all(in, len, 1, b, &end_b);
	if (na != nb || end_a != end_b || memcmp(a, b, na) != 0)
		abort();
	free(a);
	free(b);
}

static void fuzz_sasl(const char *s)
{
	struct sasl *sa = NULL;
	const char *challenge, *error;
	enum sasl_mech mech = (s[0] & 1) ? SASL_MECH_PLAIN : SASL_MECH_LOGIN;
	if (sasl_begin(&sa, mech, s, &challenge, &error) == SASL_CONTINUE)
		(void)sasl_step(sa, s, &challenge, &error);
	if (strlen(sa->user) > ADDRESS_MAX || sa->password_len > PASSWD_PASSWORD_MAX)
		abort();
	sasl_clear(&sa);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size == 0)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0: fuzz_path(s); break;
	case 1: fuzz_data(data + 1, size - 1); break;
	case 2: fuzz_sasl(s); break;
	}
	free(s);
	return 0;
}
