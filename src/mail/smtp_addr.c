/* smtp_addr.c — RFC 5321 address syntax (smtp_addr.h). */
#include "mail/smtp_addr.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <string.h>

/* An address literal's text between the brackets: "IPv6:" and the
 * longest IPv6 text (INET6_ADDRSTRLEN - 1 = 45) fit. */
#define SMTP_LITERAL_TEXT_MAX 50

/* The length of the UTF-8 sequence at s, whose first octet is not ASCII;
 * 0 when it is not valid UTF-8 (RFC 3629 4: no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncation). */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return n;
}

static bool is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 3.2.3 atext (ASCII; UTF-8 is taken by the caller). */
static bool is_atext(unsigned char c)
{
	/* (strchr finds the terminating NUL too: c must not be 0) */
	return is_let_dig(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* One label at p: its length (0 if none, or invalid UTF-8 in it). */
static size_t scan_label(const unsigned char *p, unsigned flags)
{
	size_t i = 0;

	for (;;) {
		if (is_let_dig(p[i]) || p[i] == '-' ||
		    (p[i] == '_' && (flags & SMTP_DOMAIN_UNDERSCORE))) {
			i++;
		} else if (p[i] >= 0x80) {
			size_t n = utf8_seq(p + i);
			if (n == 0)
				return 0;
			i += n;
		} else {
			break;
		}
	}
	if (i == 0 || i > SMTP_LABEL_MAX || p[0] == '-' || p[i - 1] == '-')
		return 0;
	return i;
}

size_t smtp_domain_scan(const char *s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	for (;;) {
		size_t n = scan_label(p + i, flags);
		if (n == 0)
			return 0;
		i += n;
		if (p[i] != '.')
			return i;
		i++;
	}
}

/* IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT, 0..255. */
static bool ipv4_parse(const char *s, unsigned char addr[4])
{
	for (int part = 0; part < 4; part++) {
		unsigned value = 0;
		size_t digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 3) {
			value = value * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || value > 255)
			return false;
		addr[part] = (unsigned char)value;
		if (*s != (part < 3 ? '.' : '\0'))
			return false;
		s++;
	}
	return true;
}

size_t smtp_literal_scan(const char *s, struct smtp_literal *lit_r,
			 const char **error_r)
{
	char text[SMTP_LITERAL_TEXT_MAX + 1];
	size_t n;

	memset(lit_r, 0, sizeof(*lit_r));
	if (s[0] != '[') {
		*error_r = "not an address literal";
		return 0;
	}
	n = strcspn(s + 1, "]");
	if (s[1 + n] != ']') {
		*error_r = "address literal without ']'";
		return 0;
	}
	if (n > SMTP_LITERAL_TEXT_MAX) {
		*error_r = "address literal too long";
		return 0;
	}
	memcpy(text, s + 1, n);
	text[n] = '\0';
	if (str_has_prefix_ci(text, "IPv6:")) {
		lit_r->family = SMTP_LITERAL_IPV6;
		if (inet_pton(AF_INET6, text + 5, lit_r->addr) != 1) {
			*error_r = "bad IPv6 address literal";
			return 0;
		}
	} else if (strchr(text, ':') != NULL) {
		*error_r = "address literal tag not supported (only IPv6:)";
		return 0;
	} else {
		lit_r->family = SMTP_LITERAL_IPV4;
		if (!ipv4_parse(text, lit_r->addr)) {
			*error_r = "bad IPv4 address literal";
			return 0;
		}
	}
	return n + 2;
}

bool smtp_helo_valid(const char *arg, const char **error_r)
{
	struct smtp_literal lit;
	size_t len = strlen(arg), n;

	if (len == 0 || len > SMTP_HELO_MAX) {
		*error_r = len == 0 ? "no host name" : "host name too long";
		return false;
	}
	if (arg[0] == '[') {
		if ((n = smtp_literal_scan(arg, &lit, error_r)) == 0)
			return false;
	} else {
		*error_r = "invalid name";
		if ((n = smtp_domain_scan(arg, SMTP_DOMAIN_UNDERSCORE)) == 0)
			return false;
	}
	if (n != len) {
		*error_r = "invalid name";
		return false;
	}
	return true;
}

/* scan_local() result for a local part over ADDRESS_LOCAL_MAX. */
#define LOCAL_TOO_LONG ((size_t)-1)

/* Copy one character at s (ASCII or a UTF-8 sequence) to local[*j],
 * which holds size octets with the NUL. Returns its octets; 0 for
 * invalid UTF-8, LOCAL_TOO_LONG when it does not fit. */
static size_t take_char(const char *s, char *local, size_t size, size_t *j)
{
	size_t n = (unsigned char)*s < 0x80 ? 1 : utf8_seq((const unsigned char *)s);

	if (n == 0)
		return 0;
	if (*j + n >= size)
		return LOCAL_TOO_LONG;
	memcpy(local + *j, s, n);
	*j += n;
	return n;
}

/* Quoted-string (RFC 5321 4.1.2, RFC 6531 3.3). Writes the unquoted form. */
static size_t scan_quoted(const char *s, char *local, size_t size)
{
	size_t i = 1, j = 0;

	for (; s[i] != '"'; ) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			c = (unsigned char)s[++i];
			if (c < 32 || c > 126)
				return 0;
		} else if (c < 32 || c == 127) {
			return 0;
		}
		size_t n = take_char(s + i, local, size, &j);
		if (n == 0 || n == LOCAL_TOO_LONG)
			return n;
		i += n;
	}
	local[j] = '\0';
	return i + 1;
}

/* Local-part = Dot-string / Quoted-string. Writes the unquoted form. */
static size_t scan_local(const char *s, char *local, size_t size, bool *quoted_r)
{
	size_t i = 0, j = 0;

	*quoted_r = s[0] == '"';
	if (*quoted_r)
		return scan_quoted(s, local, size);
	for (;;) {
		size_t start = i;
		while (is_atext((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80) {
			size_t n = take_char(s + i, local, size, &j);
			if (n == 0 || n == LOCAL_TOO_LONG)
				return n;
			i += n;
		}
		if (i == start)
			return 0;
		if (s[i] != '.')
			break;
		if (j + 1 >= size)
			return LOCAL_TOO_LONG;
		local[j++] = s[i++];
	}
	local[j] = '\0';
	return i;
}

/* Skip an A-d-l source route ("@a,@b:"), obsolete but to be accepted
 * (RFC 5321 4.1.2, C.). */
static const char *skip_source_route(const char *p)
{
	const char *q = p;
	while (*q == '@') {
		size_t n = smtp_domain_scan(q + 1, 0);
		if (n == 0)
			return p;
		q += 1 + n;
		if (*q == ',') {
			q++;
			continue;
		}
		return *q == ':' ? q + 1 : p;
	}
	return p;
}

static bool has_8bit(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), starting at p
 * and ending at the closing '>'; returns the position of the '>' or NULL.
 * <Postmaster> alone (RFC 5321 4.5.1) leaves the domain empty. */
static const char *parse_mailbox(const char *p, struct smtp_path *path_r,
				 const char **error_r)
{
	size_t n = scan_local(p, path_r->local, sizeof(path_r->local),
			      &path_r->quoted);
	if (n == LOCAL_TOO_LONG || n == 0) {
		*error_r = n ? "local part longer than 64 octets" : "bad local part";
		return NULL;
	}
	p += n;
	if (*p == '>' && !path_r->quoted && str_ieq(path_r->local, "postmaster"))
		return p;
	if (*p++ != '@') {
		*error_r = "address needs a domain (local@domain)";
		return NULL;
	}
	path_r->literal = *p == '[';
	if (path_r->literal)
		n = smtp_literal_scan(p, &path_r->addr, error_r);
	else if ((n = smtp_domain_scan(p, 0)) == 0)
		*error_r = "bad domain";
	if (n == 0)
		return NULL;
	if (n > ADDRESS_DOMAIN_MAX) {
		*error_r = "bad domain";
		return NULL;
	}
	memcpy(path_r->domain, p, n);
	path_r->domain[n] = '\0';
	str_lower(path_r->domain);
	p += n;
	if (*p != '>') {
		*error_r = "junk after the address";
		return NULL;
	}
	return p;
}

int smtp_parse_path(const char *s, bool allow_null, struct smtp_path *path_r,
		    const char **rest_r, const char **error_r)
{
	const char *p = s, *start, *mailbox, *end;

	memset(path_r, 0, sizeof(*path_r));
	while (*p == ' ')               /* "MAIL FROM: <a@b>" is common */
		p++;
	if (*p != '<') {
		*error_r = "address must be in angle brackets <...>";
		return -1;
	}
	start = p;
	mailbox = skip_source_route(p + 1);
	if (*mailbox == '>') {
		if (!allow_null || mailbox != start + 1) {
			*error_r = "empty address";
			return -1;
		}
		path_r->null_path = true;
		end = mailbox;
	} else {
		if ((end = parse_mailbox(mailbox, path_r, error_r)) == NULL)
			return -1;
		if ((size_t)(end + 1 - start) > SMTP_PATH_MAX) {
			*error_r = "address is too long";
			return -1;
		}
		/* As given (quotes included, source route dropped): what goes
		 * into Return-Path. */
		memcpy(path_r->address, mailbox, (size_t)(end - mailbox));
		path_r->address[end - mailbox] = '\0';
		path_r->utf8 = has_8bit(path_r->address);
	}
	p = end + 1;
	if (*p != '\0' && *p != ' ') {
		*error_r = "junk after the address";
		return -1;
	}
	while (*p == ' ')
		p++;
	*rest_r = p;
	return 0;
}

static int param_size(const char *value, struct smtp_mail_params *params_r,
		      const char **error_r)
{
	/* RFC 1870: size-value = 1*20DIGIT */
	if (value == NULL || strlen(value) > 20 ||
	    !str_to_u64(value, UINT64_MAX, &params_r->size)) {
		*error_r = "bad SIZE value";
		return -1;
	}
	return 0;
}

int smtp_parse_mail_params(const char *s, struct smtp_mail_params *params_r,
			   int *code_r, const char **error_r)
{
	char *copy = xstrdup(s), *save = NULL;
	int ret = 0;

	memset(params_r, 0, sizeof(*params_r));
	*code_r = 501;
	for (char *tok = strtok_r(copy, " ", &save); tok != NULL && ret == 0;
	     tok = strtok_r(NULL, " ", &save)) {
		char *value = strchr(tok, '=');
		if (value != NULL)
			*value++ = '\0';
		if (str_ieq(tok, "SIZE")) {
			ret = param_size(value, params_r, error_r);
		} else if (str_ieq(tok, "BODY")) {
			if (value != NULL && str_ieq(value, "8BITMIME"))
				params_r->body_8bit = true;
			else if (value == NULL || !str_ieq(value, "7BIT")) {
				*error_r = "BODY must be 7BIT or 8BITMIME";
				ret = -1;
			}
		} else if (str_ieq(tok, "SMTPUTF8") && value == NULL) {
			params_r->smtputf8 = true;
		} else if (str_ieq(tok, "AUTH") && value != NULL) {
			/* RFC 4954 5: accepted; we do not relay the identity. */
		} else {
			*error_r = "unsupported MAIL parameter";
			*code_r = 555;
			ret = -1;
		}
	}
	free(copy);
	return ret;
}
