/* sasl.h — SASL mechanisms PLAIN (RFC 4616) and LOGIN, framing-free.
 *
 * The same exchange serves SMTP AUTH (RFC 4954: "334 challenge"), POP3 AUTH
 * (RFC 5034: "+ challenge") and IMAP AUTHENTICATE (RFC 3501: "+ challenge");
 * each protocol adds its own framing around the base64 strings. */
#ifndef SEALPOST_SASL_H
#define SEALPOST_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/passwd.h"
#include "store/mailbox.h"

/* Longest base64 response accepted: PLAIN carries authzid, authcid and
 * password (RFC 4954 4 allows a 12288-octet line; we need far less). */
#define SASL_RESPONSE_MAX 4096

enum sasl_mech {
	SASL_MECH_PLAIN = 1 << 0,
	SASL_MECH_LOGIN = 1 << 1,
};

enum sasl_result {
	SASL_CONTINUE,   /* send *challenge_r (base64, may be ""), read a line */
	SASL_DONE,       /* user and password are in the exchange */
	SASL_FAIL,       /* *error_r says why (malformed, cancelled) */
};

struct sasl {
	enum sasl_mech mech;
	int step;
	char user[ADDRESS_MAX + 1];
	char password[PASSWD_PASSWORD_MAX + 1];
	size_t password_len;
	bool cancelled;
};

/* Is name one of the mechanisms in allowed (a mask)? */
bool sasl_mech_find(const char *name, unsigned allowed, enum sasl_mech *mech_r);

/* Start mech with the optional initial response (base64; "=" is an empty
 * one, RFC 4954 4). *sap is allocated here (a session holds one only
 * during an exchange: about 850 bytes an idle connection does not keep). */
enum sasl_result sasl_begin(struct sasl **sap, enum sasl_mech mech,
			    const char *initial, const char **challenge_r,
			    const char **error_r);
/* The client's next line. "*" cancels (SASL_FAIL, sa->cancelled). */
enum sasl_result sasl_step(struct sasl *sa, const char *line,
			   const char **challenge_r, const char **error_r);
/* Wipe the credentials and free *sap (NULL: nothing to do). */
void sasl_clear(struct sasl **sap);

/* Base64 decode into out (size bytes); -1 on bad input or overflow. */
int sasl_base64_decode(const char *in, unsigned char *out, size_t size,
		       size_t *len_r);

#endif
