/* mime_address.h — RFC 5322 3.4 address lists (IMAP ENVELOPE and SEARCH use
 * them; the outbound path will parse DSNs and Received: with them).
 *
 * Design. A tolerant parser in the spirit of RFC 5322 4.4 (obsolete syntax)
 * producing the four fields of an RFC 3501 7.4.2 address structure:
 *   name     display name: quoted strings unquoted, words joined by one
 *            space, comments dropped, encoded-words left as they are (the
 *            client decodes them); a trailing comment names an address that
 *            has no display name ("user@host (Name)");
 *   route    obsolete source route "@a,@b", else NULL;
 *   mailbox  local part as written (a quoted local part keeps its quotes);
 *   host     domain ("" when the address has none).
 * A group "name: a, b;" becomes a start marker (mailbox = group name, host
 * NULL), its members, and an end marker (all four NULL), as RFC 3501 asks.
 * Junk between addresses is skipped, never fatal. */
#ifndef SEALPOST_MIME_ADDRESS_H
#define SEALPOST_MIME_ADDRESS_H

#include <stddef.h>

/* Addresses kept per header field; the rest are ignored (To: lists of
 * thousands exist in spam only, and the ENVELOPE would be megabytes). */
#define MIME_ADDRESSES_MAX 1000

struct mime_address {
	char *name;
	char *route;
	char *mailbox;
	char *host;
};

/* Parse an address-list header value (raw or unfolded). Returns a new array
 * of *count_r addresses (NULL when there are none); free with
 * mime_addresses_free. */
struct mime_address *mime_address_parse(const char *value, size_t len, size_t *count_r);
void mime_addresses_free(struct mime_address **list, size_t count);

/* The address list of a header value in one normal form, for matching
 * (IMAP SEARCH FROM/TO/CC/BCC, as Dovecot compares): every address as
 * "Name <local@host>" (the name RFC 2047-decoded to UTF-8) or "local@host",
 * comments and folding gone, joined by ", "; groups as "name:" ... ";".
 * New string. */
char *mime_address_text(const char *value, size_t len);

#endif
