/* smtp_addr.c — RFC 5321 4.1.2 paths and MAIL parameters. */
#include "smtp/smtp.h"
#include "lib/util.h"

#include <ctype.h>
#include <string.h>

/* RFC 5322 3.2.3 atext, plus UTF-8 octets when SMTPUTF8 (RFC 6531 3.3). */
static bool is_atext(unsigned char c)
{
	/* (strchr finds the terminating NUL too: c must not be 0) */
	return isalnum(c) || c >= 0x80 ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_ldh(unsigned char c)
{
	return isalnum(c) || c == '-' || c >= 0x80;
}

/* Domain = sub-domain *("." sub-domain); returns its length, 0 if none. */
static size_t scan_domain(const char *s)
{
	size_t i = 0;
	for (;;) {
		size_t start = i;
		if (!isalnum((unsigned char)s[i]) && (unsigned char)s[i] < 0x80)
			return 0;
		while (is_ldh((unsigned char)s[i]))
			i++;
		if (s[i - 1] == '-' || i - start > 63)
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* address-literal = "[" ... "]": checked loosely (no control bytes). */
static size_t scan_literal(const char *s)
{
	size_t i = 1;
	if (s[0] != '[')
		return 0;
	while (s[i] != ']' && s[i] != '\0') {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '[' || c == '\\' || c >= 0x7f)
			return 0;
		i++;
	}
	return s[i] == ']' && i > 1 ? i + 1 : 0;
}

/* scan_local() result for a local part over ADDRESS_LOCAL_MAX. */
#define LOCAL_TOO_LONG ((size_t)-1)

/* Local-part = Dot-string / Quoted-string. Writes the unquoted form. */
static size_t scan_local(const char *s, char *local, size_t size, bool *quoted_r)
{
	size_t i = 0, j = 0;

	*quoted_r = s[0] == '"';
	if (*quoted_r) {
		for (i = 1; s[i] != '"'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				c = (unsigned char)s[++i];
				if (c < 32 || c > 126)
					return 0;
			} else if (c < 32 || c == 127 || c == '\0') {
				return 0;
			}
			if (j + 1 >= size)
				return LOCAL_TOO_LONG;
			local[j++] = (char)c;
		}
		local[j] = '\0';
		return i + 1;
	}
	for (;;) {
		size_t start = i;
		while (is_atext((unsigned char)s[i])) {
			if (j + 1 >= size)
				return LOCAL_TOO_LONG;
			local[j++] = s[i++];
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
		size_t n = scan_domain(q + 1);
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
	n = *p == '[' ? scan_literal(p) : scan_domain(p);
	if (n == 0 || n > ADDRESS_DOMAIN_MAX) {
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
