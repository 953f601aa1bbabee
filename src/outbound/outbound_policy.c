/* outbound_policy.c — what TLS a host gets, with Postfix's meanings of the
 * levels (smtp_tls_security_level) and RFC 7672 for dane:
 *   none     no STARTTLS
 *   may      STARTTLS when offered, the certificate not checked; a failed
 *            handshake is tried again in plaintext
 *   encrypt  TLS required, the certificate not checked
 *   dane     secure usable TLSA records: TLS required and a record must
 *            match (DANE-EE, DANE-TA); secure TLSA without a usable
 *            record: encrypt (RFC 7672 2.2); no secure TLSA: may; a TLSA
 *            lookup that failed: the host is not tried (RFC 7672 2.1.1)
 *   verify   TLS required, a chain to a trusted CA naming the MX host
 * A required TLS that fails is a temporary failure, never plaintext. */
#include "outbound/outbound_private.h"

void outbound_policy(enum outbound_tls level, const struct dns_route_host *h,
		     bool auth, struct ohost_policy *out)
{
	out->usable = true;
	out->why = NULL;
	out->auth = TLS_CLIENT_AUTH_NONE;
	/* AUTH goes inside TLS only: a login raises none and may. */
	if (auth && (level == OUTBOUND_TLS_NONE || level == OUTBOUND_TLS_MAY))
		level = OUTBOUND_TLS_ENCRYPT;
	out->level = outbound_tls_name(level);
	switch (level) {
	case OUTBOUND_TLS_NONE:
		out->tls = SMTPC_TLS_NONE;
		return;
	case OUTBOUND_TLS_MAY:
		out->tls = SMTPC_TLS_MAY;
		return;
	case OUTBOUND_TLS_ENCRYPT:
		out->tls = SMTPC_TLS_REQUIRE;
		return;
	case OUTBOUND_TLS_VERIFY:
		out->tls = SMTPC_TLS_REQUIRE;
		out->auth = TLS_CLIENT_AUTH_VERIFY;
		return;
	case OUTBOUND_TLS_DANE:
		break;
	}
	switch (h != NULL ? h->dane : DNS_DANE_NONE) {
	case DNS_DANE_USABLE:
		out->tls = SMTPC_TLS_REQUIRE;
		out->auth = TLS_CLIENT_AUTH_DANE;
		return;
	case DNS_DANE_UNUSABLE:
		out->tls = SMTPC_TLS_REQUIRE;
		out->level = "dane (no usable TLSA record: encrypt)";
		return;
	case DNS_DANE_FAILED:
		out->usable = false;
		out->why = "its TLSA lookup failed; DANE forbids trying it without";
		out->tls = SMTPC_TLS_REQUIRE;
		return;
	case DNS_DANE_NONE:
		out->tls = auth ? SMTPC_TLS_REQUIRE : SMTPC_TLS_MAY;
		out->level = auth ? "dane (no TLSA record: encrypt, for AUTH)" :
				    "dane (no secure TLSA record: may)";
		return;
	}
}
