/* smtp_addr.h — RFC 5321 address syntax, one parser for the SMTP server
 * and the outbound client: paths (4.1.2) and MAIL parameters, domains,
 * address literals (4.1.3), the EHLO/HELO argument (4.1.1.1).
 *
 * Pure functions on NUL-terminated text: no I/O, no allocation but in
 * smtp_parse_mail_params(), safe from any thread. Non-ASCII octets are
 * taken only as valid UTF-8 (RFC 6531 3.3: UTF-8 local parts and
 * U-labels); whether the transaction allows them (SMTPUTF8) is the
 * caller's check (struct smtp_path.utf8). */
#ifndef SEALPOST_SMTP_ADDR_H
#define SEALPOST_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/mailbox.h"

/* RFC 5321 4.5.3.1.3: path 256 octets including the angle brackets. */
#define SMTP_PATH_MAX 256
/* RFC 5321 4.1.1.1 / 4.5.3.1.2: the EHLO argument is a domain or literal. */
#define SMTP_HELO_MAX 255
/* RFC 5321 4.5.3.1.2 / RFC 1035 2.3.4: a label has at most 63 octets. */
#define SMTP_LABEL_MAX 63

enum smtp_literal_family {
	SMTP_LITERAL_IPV4 = 4,     /* [192.0.2.1] */
	SMTP_LITERAL_IPV6 = 6,     /* [IPv6:2001:db8::1] */
};

struct smtp_literal {
	enum smtp_literal_family family;
	unsigned char addr[16];    /* network order; IPv4 uses the first 4 */
};

/* The address literal at s, which starts with '[': its length with both
 * brackets, or 0 with *error_r when it is not a valid one. IPv4: four
 * decimal numbers 0..255 of at most 3 digits (Snum); IPv6: the tag
 * "IPv6:" (any case) and an address inet_pton(3) takes, the RFC 4291
 * forms. General literals (another tag) are refused: no other tag is
 * registered with IANA. */
size_t smtp_literal_scan(const char *s, struct smtp_literal *lit_r,
			 const char **error_r);

/* Options of smtp_domain_scan(). */
enum smtp_domain_flags {
	/* Take '_' in labels, as Postfix's valid_hostname() does: Windows
	 * machine names carry it into EHLO. Never for paths. */
	SMTP_DOMAIN_UNDERSCORE = 1 << 0,
};
/* The Domain at s: dot-separated labels of letters, digits and inner
 * hyphens, at most SMTP_LABEL_MAX octets each, U-labels as valid UTF-8.
 * Returns its length (it ends at the first octet that cannot continue
 * it), 0 when s does not start with one. */
size_t smtp_domain_scan(const char *s, unsigned flags);

/* The EHLO/HELO argument (already split off the command): a Domain
 * (with SMTP_DOMAIN_UNDERSCORE) or an address literal, at most
 * SMTP_HELO_MAX octets, nothing before or after it. */
bool smtp_helo_valid(const char *arg, const char **error_r);

struct smtp_path {
	char address[ADDRESS_MAX + 1];  /* local@domain as given, unquoted */
	char local[ADDRESS_LOCAL_MAX + 1];
	char domain[ADDRESS_DOMAIN_MAX + 1]; /* lower case */
	bool null_path;                 /* <> */
	bool utf8;                      /* has non-ASCII octets */
	bool quoted;                    /* local part was a quoted string */
	bool literal;                   /* domain is an address literal... */
	struct smtp_literal addr;       /* ...this one */
};

struct smtp_mail_params {
	uint64_t size;                  /* SIZE=, 0 if absent */
	bool body_8bit;                 /* BODY=8BITMIME */
	bool smtputf8;                  /* SMTPUTF8 */
};

/* Parse "<path> [params]" after "FROM:" / "TO:". The null path is allowed
 * only when allow_null. *rest_r points at the parameters. */
int smtp_parse_path(const char *s, bool allow_null, struct smtp_path *path_r,
		    const char **rest_r, const char **error_r);
/* MAIL FROM parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8);
 * on error *code_r is the reply code to use (501 or 555). */
int smtp_parse_mail_params(const char *s, struct smtp_mail_params *params_r,
			   int *code_r, const char **error_r);

#endif
