/* config.c — option table, INI parsing through libinih, validation. */
#include "conf/config.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct config *config;

const struct service_info service_infos[SERVICE_COUNT] = {
	[SERVICE_SMTP] = { "smtp", PROTO_SMTP, false, false },
	[SERVICE_SUBMISSION] = { "submission", PROTO_SMTP, false, true },
	[SERVICE_POP3] = { "pop3", PROTO_POP3, false, false },
	[SERVICE_IMAP] = { "imap", PROTO_IMAP, false, false },
	[SERVICE_SMTPS] = { "smtps", PROTO_SMTP, true, true },
	[SERVICE_POP3S] = { "pop3s", PROTO_POP3, true, false },
	[SERVICE_IMAPS] = { "imaps", PROTO_IMAP, true, false },
};

const char *proto_name(enum proto proto)
{
	switch (proto) {
	case PROTO_SMTP: return "smtp";
	case PROTO_POP3: return "pop3";
	case PROTO_IMAP: return "imap";
	case PROTO_COUNT: break;
	}
	return "?";
}

enum conf_type {
	CONF_STRING,
	CONF_PATH,
	CONF_PAIRS,      /* a list of pair names (see CONFIG_PAIR_NAME_MAX) */
	CONF_SNI,        /* [sni]: any host name as the key, pairs as the value */
	CONF_UINT,
	CONF_SIZE,       /* bytes, with K/M/G/T (str_to_size) */
	CONF_DOMAINS,
	CONF_LISTEN,
	CONF_TLS_VERSION,
	CONF_LOG_LEVEL,
	CONF_OPT_PATH,   /* a path; empty: unset (NULL) */
	CONF_RESOLVER,   /* ADDRESS[:PORT] of a DNS server; empty: unset */
	CONF_DURATION,   /* seconds, or a number with s, m, h, d or w */
	CONF_OUTBOUND_TLS, /* none | may | encrypt | dane | verify */
	CONF_RELAYHOST,  /* [host]:port, host:port or host; empty: unset */
	CONF_TLS_POLICY, /* [tls_policy]: any domain as the key, a level */
	CONF_DNSSEC,     /* auto | require, into a bool (require) */
};

struct conf_option {
	const char *section;     /* "" for the top of the file */
	const char *name;        /* NULL: any key of the section */
	enum conf_type type;
	size_t offset;           /* into struct config */
	const char *def;         /* default, parsed like file input; NULL: unset */
	uint64_t min, max;       /* CONF_UINT bounds */
};

#define OPT(sec, key, type, field, def) \
	{ sec, key, type, offsetof(struct config, field), def, 0, 0 }
#define OPT_UINT(sec, key, field, def, lo, hi) \
	{ sec, key, CONF_UINT, offsetof(struct config, field), def, lo, hi }
#define OPT_SIZE(sec, key, field, def, lo, hi) \
	{ sec, key, CONF_SIZE, offsetof(struct config, field), def, lo, hi }
#define OPT_DUR(sec, key, field, def, lo, hi) \
	{ sec, key, CONF_DURATION, offsetof(struct config, field), def, lo, hi }

static const struct conf_option options[] = {
	OPT("", "hostname", CONF_STRING, hostname, NULL),
	OPT("", "domains", CONF_DOMAINS, domains, NULL),
	OPT("", "data_dir", CONF_PATH, data_dir, "data"),
	OPT("", "certs_dir", CONF_PATH, certs_dir, "certs"),
	OPT("", "certificate", CONF_PAIRS, certificates, "mail"),
	OPT("", "user", CONF_STRING, user, NULL),
	OPT("", "log_level", CONF_LOG_LEVEL, log_level, "info"),
	OPT_UINT("", "workers", workers, "0", 0, 64),
	{ "listen", "smtp", CONF_LISTEN, SERVICE_SMTP, NULL, 0, 0 },
	{ "listen", "submission", CONF_LISTEN, SERVICE_SUBMISSION, NULL, 0, 0 },
	{ "listen", "pop3", CONF_LISTEN, SERVICE_POP3, NULL, 0, 0 },
	{ "listen", "imap", CONF_LISTEN, SERVICE_IMAP, NULL, 0, 0 },
	{ "listen", "smtps", CONF_LISTEN, SERVICE_SMTPS, NULL, 0, 0 },
	{ "listen", "pop3s", CONF_LISTEN, SERVICE_POP3S, NULL, 0, 0 },
	{ "listen", "imaps", CONF_LISTEN, SERVICE_IMAPS, NULL, 0, 0 },
	OPT("tls", "min_version", CONF_TLS_VERSION, tls_min_version, "TLSv1.2"),
	/* Session ticket keys rotate this often (seconds); the previous key
	 * still resumes, so a stolen key opens at most two periods. */
	OPT_UINT("tls", "ticket_rotation", ticket_rotation, "43200", 1, 604800),
	{ "sni", NULL, CONF_SNI, 0, NULL, 0, 0 },
	/* RFC 1870 SIZE; 25 MiB like most providers. */
	OPT_UINT("limits", "max_message_size", max_message_size, "26214400",
		 1024, (uint64_t)1 << 31),
	/* RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted. */
	OPT_UINT("limits", "max_recipients", max_recipients, "100", 100, 10000),
	OPT_UINT("limits", "max_connections", max_connections, "10000", 1, 1000000),
	OPT_UINT("limits", "max_connections_per_ip", max_connections_per_ip,
		 "50", 1, 1000000),
	/* RFC 5321 4.5.3.2.7: server timeout of at least 5 minutes. */
	OPT_UINT("limits", "smtp_timeout", smtp_timeout, "300", 5, 86400),
	/* RFC 1939 3: autologout timer of at least 10 minutes. */
	OPT_UINT("limits", "pop3_timeout", pop3_timeout, "600", 5, 86400),
	/* RFC 3501 5.4: autologout timer of at least 30 minutes. */
	OPT_UINT("limits", "imap_timeout", imap_timeout, "1800", 5, 86400),
	OPT_UINT("limits", "auth_max_failures", auth_max_failures, "3", 1, 100),
	/* Per-mailbox limits (IMAP QUOTA, RFC 9208; Maildir++ maildirsize):
	 * 0 is none; a user's userdb_quota_rule in the passwd file wins. */
	OPT_SIZE("limits", "quota", quota, "0", 0, (uint64_t)1 << 50),
	OPT_UINT("limits", "quota_messages", quota_messages, "0", 0, 1000000000),
	OPT("outbound", "resolver", CONF_RESOLVER, outbound_resolver, NULL),
	OPT("outbound", "trust_anchor", CONF_OPT_PATH, outbound_trust_anchor, NULL),
	/* What a resolver that strips DNSSEC (checked at start, dns.h) does:
	 * auto turns validation off, require keeps it (signed domains
	 * defer). */
	OPT("outbound", "dnssec", CONF_DNSSEC, outbound_dnssec_require, "auto"),
	/* A connection must log in (port 25: send MAIL) within this time
	 * however busy it keeps the line: 3 minutes, like Dovecot's login
	 * processes; the TLS handshake and the login delays fit well inside. */
	OPT_UINT("limits", "login_timeout", login_timeout, "180", 5, 86400),
	/* DATA and IMAP literals must average this many bytes/s over each
	 * window once the grace is over (Apache mod_reqtimeout's MinRate
	 * idea): 256 B/s is an eighth of a poor 2G uplink, so slow mobile
	 * clients pass while a drip-feed is cut after grace + window. */
	OPT_UINT("limits", "data_min_rate", data_min_rate, "256", 0, (uint64_t)1 << 30),
	OPT_UINT("limits", "data_rate_window", data_rate_window, "60", 1, 3600),
	OPT_UINT("limits", "data_rate_grace", data_rate_grace, "30", 0, 3600),
	/* Seconds a verified login is remembered (auth/auth_cache.h); 0: off.
	 * At most a day. */
	OPT_UINT("", "auth_cache_ttl", auth_cache_ttl, "3600", 0, 86400),
	OPT("outbound", "tls", CONF_OUTBOUND_TLS, outbound_tls, "dane"),
	/* RFC 5321 4.5.4.1 / 2.3.5: SMTP relays on port 25. */
	OPT_UINT("outbound", "port", outbound_port, "25", 1, 65535),
	OPT("outbound", "relayhost", CONF_RELAYHOST, relay_host, NULL),
	OPT("outbound", "relayhost_auth", CONF_OPT_PATH, relay_auth_file, NULL),
	OPT("outbound", "ca_file", CONF_OPT_PATH, outbound_ca_file, NULL),
	/* RFC 5321 4.5.4.1: give up after 4-5 days (Postfix: 5d, at most
	 * 100d). */
	OPT_DUR("outbound", "queue_lifetime", queue_lifetime, "5d", 1, 100 * 86400),
	/* RFC 5321 4.5.4.1: at least 30 minutes between attempts is advised;
	 * Postfix starts at 5 minutes and doubles up to 4000 s. */
	OPT_DUR("outbound", "retry_min", retry_min, "5m", 1, 86400),
	OPT_DUR("outbound", "retry_max", retry_max, "4h", 1, 7 * 86400),
	/* Postfix default_process_limit and
	 * default_destination_concurrency_limit. */
	OPT_UINT("outbound", "max_connections", outbound_max_connections,
		 "100", 1, 10000),
	OPT_UINT("outbound", "max_connections_per_destination",
		 outbound_max_per_destination, "20", 1, 10000),
	{ "tls_policy", NULL, CONF_TLS_POLICY, 0, NULL, 0, 0 },
};
_Static_assert(N_ELEMENTS(options) <= CONFIG_OPTIONS_MAX,
	       "config.option_line needs a slot per option");

struct parse_ctx {
	struct config *cfg;
	const char *path;
	FILE *fp;
	unsigned line;
	bool continued;             /* current line starts with a blank */
	size_t last_idx;            /* option of the previous handler call */
	char *list_acc;             /* value so far of a continued list option */
	bool seen[N_ELEMENTS(options)];
	const char *error;          /* first error, "FILE:LINE: ..." */
};

static const struct conf_option *find_option(const char *section,
					     const char *name, size_t *idx_r)
{
	for (size_t i = 0; i < N_ELEMENTS(options); i++) {
		if (str_ieq(options[i].section, section) &&
		    (options[i].name == NULL || str_ieq(options[i].name, name))) {
			*idx_r = i;
			return &options[i];
		}
	}
	return NULL;
}

static bool known_section(const char *section)
{
	for (size_t i = 0; i < N_ELEMENTS(options); i++) {
		if (str_ieq(options[i].section, section))
			return true;
	}
	return false;
}

static int parse_listen_one(const char *spec, struct listen_addr *la,
			    const char **error_r)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	bool v6 = spec[0] == '[', ok;
	size_t hlen;

	if (v6) {
		const char *end = strchr(spec, ']');
		if (end == NULL || end[1] != ':') {
			*error_r = errfmt("'%s': expected [IPv6]:PORT", spec);
			return -1;
		}
		hlen = (size_t)(end - spec - 1);
		colon = end + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			*error_r = errfmt("'%s': expected ADDRESS:PORT", spec);
			return -1;
		}
		hlen = (size_t)(colon - spec);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = errfmt("'%s': expected ADDRESS:PORT", spec);
		return -1;
	}
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	port = colon + 1;
	uint64_t portnum;
	if (!str_to_u64(port, 65535, &portnum) || portnum == 0) {
		*error_r = errfmt("'%s': port must be 1..65535", port);
		return -1;
	}
	/* inet_pton, not getaddrinfo: "1.2.3" is a typo, not 1.2.0.3. */
	memset(&la->ss, 0, sizeof(la->ss));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&la->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)portnum);
		ok = inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1;
		la->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&la->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)portnum);
		ok = inet_pton(AF_INET, host, &sin->sin_addr) == 1;
		la->len = sizeof(*sin);
	}
	if (!ok && !v6 && strchr(host, ':') != NULL) {
		*error_r = errfmt("'%s': write IPv6 addresses as [ADDRESS]:PORT",
				  host);
		return -1;
	}
	if (!ok) {
		*error_r = errfmt("'%s': not a numeric %s address", host,
				  v6 ? "IPv6" : "IPv4");
		return -1;
	}
	snprintf(la->text, sizeof(la->text), v6 ? "[%s]:%u" : "%s:%u", host,
		 (unsigned)portnum);
	return 0;
}

static int parse_listen(struct config *cfg, enum service svc, const char *value,
			const char **error_r)
{
	size_t n;
	char **v = strv_split_commas(value, &n);
	int ret = 0;

	if (n > CONFIG_LISTEN_MAX) {
		*error_r = errfmt("at most %d addresses per service", CONFIG_LISTEN_MAX);
		ret = -1;
	}
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = parse_listen_one(v[i], &cfg->listen[svc][i], error_r);
	cfg->n_listen[svc] = ret == 0 ? n : 0;
	strv_free(&v);
	return ret;
}

static int parse_domains(struct config *cfg, const char *value,
			 const char **error_r)
{
	size_t n;
	char **v = strv_split_commas(value, &n);

	for (size_t i = 0; i < n; i++) {
		str_lower(v[i]);
		if (!dns_name_valid(v[i])) {
			*error_r = errfmt("'%s' is not a valid domain name", v[i]);
			strv_free(&v);
			return -1;
		}
	}
	strv_free(&cfg->domains);
	cfg->domains = v;
	cfg->n_domains = n;
	return 0;
}

/* One pair name of `certificate` or [sni]; what names the setting. */
static int check_pair_name(const char *what, const char *name,
			   const char **error_r)
{
	size_t len = strlen(name);

	if (len == 0 || name[0] == '.' || strchr(name, '/') != NULL) {
		*error_r = errfmt("%s: '%s' must be a plain file name (no '/', "
				  "no leading '.')", what, name);
		return -1;
	}
	if (len > CONFIG_PAIR_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz"
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
		*error_r = errfmt("%s: '%s' must be a pair name (letters, digits, "
				  "'.', '-', '_', at most %d)", what, name,
				  CONFIG_PAIR_NAME_MAX);
		return -1;
	}
	return 0;
}

/* "mail, mail-ec": 1..CONFIG_CERTIFICATES_MAX distinct pair names. */
static int parse_pairs(const char *what, const char *value, char ***pairs_r,
		       size_t *n_r, const char **error_r)
{
	size_t n;
	char **v = strv_split_commas(value, &n);
	int ret = 0;

	if (n == 0)
		ret = check_pair_name(what, "", error_r);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		ret = check_pair_name(what, v[i], error_r);
		for (size_t j = 0; ret == 0 && j < i; j++) {
			if (strcmp(v[i], v[j]) == 0) {
				*error_r = errfmt("%s: '%s' is listed twice",
						  what, v[i]);
				ret = -1;
			}
		}
	}
	if (ret == 0 && n > CONFIG_CERTIFICATES_MAX) {
		*error_r = errfmt("%s: at most %d pairs (one RSA and one ECDSA "
				  "pair for the same names)", what,
				  CONFIG_CERTIFICATES_MAX);
		ret = -1;
	}
	if (ret < 0) {
		strv_free(&v);
		return -1;
	}
	*pairs_r = v;
	*n_r = n;
	return 0;
}

static int set_certificates(struct config *cfg, const char *value,
			    const char **error_r)
{
	char **v;
	size_t n;

	if (parse_pairs("certificate", value, &v, &n, error_r) < 0)
		return -1;
	strv_free(&cfg->certificates);
	free(cfg->certificate);
	cfg->certificates = v;
	cfg->n_certificates = n;
	cfg->certificate = xstrdup(v[0]);
	return 0;
}

/* An [sni] key: a host name, or a wildcard in the one form RFC 6125 6.4.3
 * lets a certificate use, "*." and a name of at least two labels. IP
 * literals never arrive as SNI (RFC 6066 3). */
static int check_sni_host(const char *host, const char **error_r)
{
	unsigned char addr[16];
	const char *name = strncmp(host, "*.", 2) == 0 ? host + 2 : host;

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		*error_r = errfmt("[sni] '%s': clients never send an IP address "
				  "as SNI (RFC 6066 3); expected a host name",
				  host);
		return -1;
	}
	if (!dns_name_valid(name) || (name != host && strchr(name, '.') == NULL)) {
		*error_r = errfmt("[sni] '%s': expected a host name such as "
				  "mail.example.org, or a wildcard such as "
				  "*.example.org", host);
		return -1;
	}
	return 0;
}

/* `host = pair[, pair]` of [sni]. append: an indented line continues the
 * list of the entry just added. */
static int set_sni(struct config *cfg, const char *name, const char *value,
		   unsigned line, const char **error_r)
{
	char *host = xstrdup(name), *what;
	struct config_sni *e;
	char **v;
	size_t n;

	str_lower(host);
	for (size_t i = 0; i < cfg->n_sni; i++) {
		if (strcmp(cfg->sni[i].host, host) == 0) {
			*error_r = errfmt("[sni] '%s' is set twice (first on "
					  "line %u)", host, cfg->sni[i].line);
			free(host);
			return -1;
		}
	}
	what = xasprintf("[sni] %s", host);
	if (check_sni_host(host, error_r) < 0 ||
	    parse_pairs(what, value, &v, &n, error_r) < 0) {
		free(what);
		free(host);
		return -1;
	}
	free(what);
	if (cfg->n_sni == CONFIG_SNI_MAX) {
		*error_r = errfmt("[sni]: at most %d entries", CONFIG_SNI_MAX);
		strv_free(&v);
		free(host);
		return -1;
	}
	cfg->sni = xrealloc(cfg->sni, (cfg->n_sni + 1) * sizeof(*cfg->sni));
	e = &cfg->sni[cfg->n_sni++];
	*e = (struct config_sni){ host, v, n, line };
	return 0;
}

/* An indented line after an [sni] entry: more pairs for it. */
static int continue_sni(struct config *cfg, const char *value,
			const char **error_r)
{
	struct config_sni *e = &cfg->sni[cfg->n_sni - 1];
	char *list = xstrdup(""), *what = xasprintf("[sni] %s", e->host);
	char **v;
	size_t n;
	int ret;

	for (size_t i = 0; i < e->n_pairs; i++) {
		char *next = xasprintf("%s%s,", list, e->pairs[i]);
		free(list);
		list = next;
	}
	char *all = xasprintf("%s%s", list, value);
	ret = parse_pairs(what, all, &v, &n, error_r);
	if (ret == 0) {
		strv_free(&e->pairs);
		e->pairs = v;
		e->n_pairs = n;
	}
	free(all);
	free(list);
	free(what);
	return ret;
}

/* "ADDRESS:PORT", "[IPv6]:PORT", or an address alone for port 53 (RFC 1035
 * 4.2), stored in the normalised form of [listen]; empty unsets it. */
static int parse_resolver(char **field, const char *value, const char **error_r)
{
	struct listen_addr la;
	char *spec;
	bool bare_v4 = value[0] != '[' && strchr(value, ':') == NULL;
	bool bare_v6 = value[0] == '[' && value[strlen(value) - 1] == ']';

	x_free(field);
	if (*value == '\0')
		return 0;
	if (value[0] != '[' && strchr(value, ':') != strrchr(value, ':')) {
		*error_r = errfmt("resolver: '%s': write IPv6 addresses as "
				  "[ADDRESS]:PORT", value);
		return -1;
	}
	spec = bare_v4 || bare_v6 ? xasprintf("%s:53", value) : xstrdup(value);
	if (parse_listen_one(spec, &la, error_r) < 0) {
		*error_r = errfmt("resolver: %s", *error_r);
		free(spec);
		return -1;
	}
	free(spec);
	*field = xstrdup(la.text);
	return 0;
}

static const char *const tls_level_names[] = {
	[OUTBOUND_TLS_NONE] = "none",
	[OUTBOUND_TLS_MAY] = "may",
	[OUTBOUND_TLS_ENCRYPT] = "encrypt",
	[OUTBOUND_TLS_DANE] = "dane",
	[OUTBOUND_TLS_VERIFY] = "verify",
};

const char *outbound_tls_name(enum outbound_tls level)
{
	return (size_t)level < N_ELEMENTS(tls_level_names) ?
	       tls_level_names[level] : "?";
}

bool outbound_tls_parse(const char *name, enum outbound_tls *level_r)
{
	for (size_t i = 0; i < N_ELEMENTS(tls_level_names); i++) {
		if (str_ieq(tls_level_names[i], name)) {
			*level_r = (enum outbound_tls)i;
			return true;
		}
	}
	return false;
}

/* "300", "30s", "5m", "4h", "5d", "1w". */
static bool parse_duration(const char *value, uint64_t *secs_r)
{
	static const struct { char unit; uint64_t secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	char num[32];
	size_t len = strlen(value);
	uint64_t mult = 1, n;

	if (len == 0 || len >= sizeof(num))
		return false;
	memcpy(num, value, len + 1);
	for (size_t i = 0; i < N_ELEMENTS(units); i++) {
		if (num[len - 1] == units[i].unit) {
			mult = units[i].secs;
			num[--len] = '\0';
			break;
		}
	}
	if (!str_to_u64(num, UINT64_MAX / mult, &n))
		return false;
	*secs_r = n * mult;
	return true;
}

/* relayhost: "[host]:port" or "[address]:port" (no MX lookup), "host:port"
 * or "host" (the MX of host, as Postfix does); port 25 when absent. */
static int parse_relayhost(struct config *cfg, const char *value,
			   const char **error_r)
{
	char host[DNS_NAME_MAX + 1];
	const char *end, *port = NULL, *given = value;
	unsigned char addr[16];
	uint64_t portnum = 25;
	size_t len;

	x_free(&cfg->relay_host);
	if (*value == '\0')
		return 0;
	cfg->relay_mx = value[0] != '[';
	if (!cfg->relay_mx) {
		end = strchr(value, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			goto syntax;
		len = (size_t)(end - value - 1);
		value++;
		port = end[1] == ':' ? end + 2 : NULL;
	} else {
		end = strchr(value, ':');
		len = end != NULL ? (size_t)(end - value) : strlen(value);
		port = end != NULL ? end + 1 : NULL;
	}
	if (len == 0 || len >= sizeof(host))
		goto syntax;
	memcpy(host, value, len);
	host[len] = '\0';
	str_lower(host);
	if (port != NULL && (!str_to_u64(port, 65535, &portnum) || portnum == 0)) {
		*error_r = errfmt("relayhost: port '%s' must be 1..65535", port);
		return -1;
	}
	bool literal = inet_pton(AF_INET, host, addr) == 1 ||
		       inet_pton(AF_INET6, host, addr) == 1;
	if (literal ? cfg->relay_mx : !dns_name_valid(host))
		goto syntax;
	cfg->relay_host = xstrdup(host);
	cfg->relay_port = portnum;
	return 0;
syntax:
	*error_r = errfmt("relayhost: '%s': expected [host]:port, [address]:port, "
			  "host:port or host", given);
	return -1;
}

/* `domain = level` of [tls_policy]. */
static int set_tls_policy(struct config *cfg, const char *name,
			  const char *value, unsigned line, const char **error_r)
{
	enum outbound_tls level;
	char *domain = xstrdup(name);

	str_lower(domain);
	if (!dns_name_valid(domain)) {
		*error_r = errfmt("[tls_policy] '%s' is not a domain name", name);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_tls_policy; i++) {
		if (strcmp(cfg->tls_policy[i].domain, domain) == 0) {
			*error_r = errfmt("[tls_policy] '%s' is set twice (first on "
					  "line %u)", domain, cfg->tls_policy[i].line);
			goto fail;
		}
	}
	if (!outbound_tls_parse(value, &level)) {
		*error_r = errfmt("[tls_policy] %s: '%s' must be none, may, encrypt, "
				  "dane or verify", domain, value);
		goto fail;
	}
	if (cfg->n_tls_policy == CONFIG_TLS_POLICY_MAX) {
		*error_r = errfmt("[tls_policy]: at most %d entries",
				  CONFIG_TLS_POLICY_MAX);
		goto fail;
	}
	cfg->tls_policy = xrealloc(cfg->tls_policy,
				   (cfg->n_tls_policy + 1) * sizeof(*cfg->tls_policy));
	cfg->tls_policy[cfg->n_tls_policy++] =
		(struct config_tls_policy){ domain, level, line };
	return 0;
fail:
	free(domain);
	return -1;
}

static int set_option(struct config *cfg, const struct conf_option *opt,
		      const char *value, const char **error_r)
{
	void *field = (char *)cfg + opt->offset;
	uint64_t u;

	switch (opt->type) {
	case CONF_STRING:
		if (*value == '\0') {
			*error_r = errfmt("%s must not be empty", opt->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CONF_PAIRS:
		return set_certificates(cfg, value, error_r);
	case CONF_SNI:
		return -1;   /* set_sni(), which needs the key */
	case CONF_PATH:
		if (*value == '\0') {
			*error_r = errfmt("%s must not be empty", opt->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = fs_join(cfg->dir, value);
		return 0;
	case CONF_UINT:
		if (!str_to_u64(value, UINT64_MAX, &u) || u < opt->min || u > opt->max) {
			*error_r = errfmt("%s: '%s' must be a number from %llu to %llu",
					  opt->name, value, (unsigned long long)opt->min,
					  (unsigned long long)opt->max);
			return -1;
		}
		*(uint64_t *)field = u;
		return 0;
	case CONF_SIZE:
		if (!str_to_size(value, UINT64_MAX, &u) || u < opt->min || u > opt->max) {
			*error_r = errfmt("%s: '%s' must be a size such as 500M or 2G "
					  "(0 for none)", opt->name, value);
			return -1;
		}
		*(uint64_t *)field = u;
		return 0;
	case CONF_DOMAINS:
		return parse_domains(cfg, value, error_r);
	case CONF_LISTEN:
		if (parse_listen(cfg, (enum service)opt->offset, value, error_r) < 0) {
			*error_r = errfmt("listen %s: %s", opt->name, *error_r);
			return -1;
		}
		return 0;
	case CONF_TLS_VERSION:
		if (str_ieq(value, "TLSv1.2"))
			*(int *)field = 0x0303;
		else if (str_ieq(value, "TLSv1.3"))
			*(int *)field = 0x0304;
		else {
			*error_r = errfmt("min_version: '%s' must be TLSv1.2 or TLSv1.3",
					  value);
			return -1;
		}
		return 0;
	case CONF_OPT_PATH:
		x_free((char **)field);
		if (*value != '\0')
			*(char **)field = fs_join(cfg->dir, value);
		return 0;
	case CONF_RESOLVER:
		return parse_resolver((char **)field, value, error_r);
	case CONF_DURATION:
		if (!parse_duration(value, &u) || u < opt->min || u > opt->max) {
			*error_r = errfmt("%s: '%s' must be a duration from %llus to "
					  "%llus (a number of seconds, or with s, m, h, "
					  "d or w)", opt->name, value,
					  (unsigned long long)opt->min,
					  (unsigned long long)opt->max);
			return -1;
		}
		*(uint64_t *)field = u;
		return 0;
	case CONF_DNSSEC:
		if (!str_ieq(value, "auto") && !str_ieq(value, "require")) {
			*error_r = errfmt("dnssec: '%s' must be auto or require",
					  value);
			return -1;
		}
		*(bool *)field = str_ieq(value, "require");
		return 0;
	case CONF_OUTBOUND_TLS:
		if (!outbound_tls_parse(value, (enum outbound_tls *)field)) {
			*error_r = errfmt("tls: '%s' must be none, may, encrypt, dane "
					  "or verify", value);
			return -1;
		}
		return 0;
	case CONF_RELAYHOST:
		return parse_relayhost(cfg, value, error_r);
	case CONF_TLS_POLICY:
		return -1;   /* set_tls_policy(), which needs the key */
	case CONF_LOG_LEVEL:
		if (!log_level_parse(value, (enum log_level *)field)) {
			*error_r = errfmt("log_level: '%s' must be error, warning, "
					  "info or debug", value);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* libinih keeps ';' inline comments only; INTERFACE.md's example uses '#'
 * too. A '#' or ';' that starts the value or follows a blank begins a
 * comment. */
static void strip_inline_comment(char *value)
{
	for (char *p = value; *p != '\0'; p++) {
		if ((*p == '#' || *p == ';') &&
		    (p == value || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
}

/* Blanks around a value as libinih sees them (isspace: \f and \v too), so
 * that a value reads the same with a comment after it or without one. */
static char *trim_value(char *value)
{
	while (isspace((unsigned char)*value))
		value++;
	size_t n = strlen(value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		value[--n] = '\0';
	return value;
}

/* A line of [sni]: a new entry, or an indented line continuing the last. */
static int sni_handler(struct parse_ctx *ctx, size_t idx, const char *name,
		       const char *value)
{
	struct config *cfg = ctx->cfg;
	bool more = ctx->continued && idx == ctx->last_idx && cfg->n_sni > 0 &&
		str_ieq(cfg->sni[cfg->n_sni - 1].host, name);
	const char *error;
	int ret;

	ctx->last_idx = idx;
	ret = more ? continue_sni(cfg, value, &error) :
		set_sni(cfg, name, value, ctx->line, &error);
	if (ret < 0)
		ctx->error = errfmt("%s:%u: %s", ctx->path, ctx->line, error);
	return 1;
}

static int conf_ini_handler(void *user, const char *section, const char *name,
		       const char *value)
{
	struct parse_ctx *ctx = user;
	const struct conf_option *opt;
	char vbuf[CONFIG_LINE_MAX + 1];
	const char *error;
	size_t idx;

	if (ctx->error != NULL)
		return 1;
	if (!known_section(section)) {
		ctx->error = errfmt("%s:%u: unknown section [%s]", ctx->path,
				    ctx->line, section);
		return 1;
	}
	opt = find_option(section, name, &idx);
	if (opt == NULL) {
		ctx->error = errfmt("%s:%u: unknown setting '%s'%s%s%s", ctx->path,
				    ctx->line, name, *section ? " in [" : "",
				    section, *section ? "]" : "");
		return 1;
	}
	strlcpy_sp(vbuf, value, sizeof(vbuf));
	strip_inline_comment(vbuf);
	value = trim_value(vbuf);
	if (opt->type == CONF_SNI)
		return sni_handler(ctx, idx, name, value);
	if (opt->type == CONF_TLS_POLICY) {
		if (set_tls_policy(ctx->cfg, name, value, ctx->line, &error) < 0)
			ctx->error = errfmt("%s:%u: %s", ctx->path, ctx->line, error);
		ctx->last_idx = idx;
		return 1;
	}
	if (ctx->continued && ctx->seen[idx] && idx == ctx->last_idx) {
		/* An indented line continues a list: "domains = a,\n  b". */
		if (opt->type != CONF_DOMAINS && opt->type != CONF_LISTEN &&
		    opt->type != CONF_PAIRS) {
			ctx->error = errfmt("%s:%u: '%s' takes one value; "
					    "remove the indentation", ctx->path,
					    ctx->line, name);
			return 1;
		}
		char *acc = xasprintf("%s,%s", ctx->list_acc, value);
		free(ctx->list_acc);
		ctx->list_acc = acc;
		value = acc;
	} else if (ctx->seen[idx]) {
		ctx->error = errfmt("%s:%u: '%s' is set twice", ctx->path,
				    ctx->line, name);
		return 1;
	} else {
		free(ctx->list_acc);
		ctx->list_acc = xstrdup(value);
		ctx->cfg->option_line[idx] = ctx->line;
	}
	ctx->seen[idx] = true;
	ctx->last_idx = idx;
	if (set_option(ctx->cfg, opt, value, &error) < 0) {
		ctx->error = errfmt("%s:%u: %s", ctx->path, ctx->line, error);
		return 1;
	}
	return 1;
}

/* ini_reader: one line per call, so ctx->line is the line the handler sees.
 * libinih hands us a buffer of INI_MAX_LINE bytes: CONFIG_LINE_MAX bytes of
 * line (its LF or CRLF not counted) and the NUL. A longer line, or one that
 * holds a NUL byte, is refused rather than silently split or cut short. */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	size_t len = 0, cap = (size_t)num - 1;
	bool nul = false;
	int c, last = EOF;

	while ((c = getc(ctx->fp)) != EOF && c != '\n') {
		nul |= c == '\0';
		if (len < cap)
			str[len] = (char)c;
		len++;
		last = c;
	}
	if (c == EOF && len == 0)
		return NULL;
	ctx->line++;
	if (last == '\r')
		len--;          /* CRLF */
	bool too_long = len > CONFIG_LINE_MAX || len > cap;
	if ((nul || too_long) && ctx->error == NULL)
		ctx->error = nul ?
			errfmt("%s:%u: line holds a NUL byte", ctx->path, ctx->line) :
			errfmt("%s:%u: line is longer than %d bytes", ctx->path,
			       ctx->line, CONFIG_LINE_MAX);
	if (nul || too_long)
		len = 0;
	str[len] = '\0';
	ctx->continued = str[0] == ' ' || str[0] == '\t';
	return str;
}

static void apply_defaults(struct config *cfg)
{
	const char *error;
	char host[256];

	for (size_t i = 0; i < N_ELEMENTS(options); i++) {
		if (options[i].def != NULL &&
		    set_option(cfg, &options[i], options[i].def, &error) < 0)
			abort(); /* a bad default is our bug */
	}
	if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
		host[sizeof(host) - 1] = '\0';
		cfg->hostname = xstrdup(host);
	} else {
		cfg->hostname = xstrdup("localhost");
	}
	cfg->domains = xcalloc(1, sizeof(char *));
}

char *config_abs_path(const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return xstrdup(path);
	return fs_join(cwd, path);
}

struct config *config_defaults(const char *base_dir)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->dir = config_abs_path(base_dir);
	apply_defaults(cfg);
	return cfg;
}

static int validate(struct config *cfg, const char **error_r)
{
	if (!dns_name_valid(cfg->hostname)) {
		*error_r = errfmt("%s: hostname '%s' is not a valid host name",
				  cfg->path, cfg->hostname);
		return -1;
	}
	str_lower(cfg->hostname);
	if (cfg->retry_max < cfg->retry_min) {
		*error_r = errfmt("%s:%u: retry_max (%llus) is below retry_min (%llus)",
				  cfg->path, config_line(cfg, "outbound", "retry_max"),
				  (unsigned long long)cfg->retry_max,
				  (unsigned long long)cfg->retry_min);
		return -1;
	}
	if (cfg->relay_auth_file != NULL && cfg->relay_host == NULL) {
		*error_r = errfmt("%s:%u: relayhost_auth needs a relayhost", cfg->path,
				  config_line(cfg, "outbound", "relayhost_auth"));
		return -1;
	}
	return 0;
}

int config_load(const char *path, bool must_exist, struct config **config_r,
		const char **error_r)
{
	struct parse_ctx ctx = { .path = path };
	struct config *cfg;
	char *abs = config_abs_path(path);
	char *dir = fs_dirname(abs);
	int rc;

	ctx.fp = fopen(path, "re");
	if (ctx.fp == NULL) {
		if (!must_exist && errno == ENOENT) {
			*config_r = config_defaults(".");
			free(abs);
			free(dir);
			return 0;
		}
		*error_r = errfmt("%s: %s", path, strerror(errno));
		free(abs);
		free(dir);
		return -1;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = abs;
	cfg->dir = dir;
	ctx.cfg = cfg;
	apply_defaults(cfg);
	rc = ini_parse_stream(ini_read_line, &ctx, conf_ini_handler, &ctx);
	fclose(ctx.fp);
	free(ctx.list_acc);
	if (ctx.error == NULL && rc > 0)
		ctx.error = errfmt("%s:%d: syntax error (expected 'key = value' "
				   "or '[section]')", path, rc);
	else if (ctx.error == NULL && rc < 0)
		ctx.error = errfmt("%s: cannot parse", path);
	if (ctx.error == NULL)
		validate(cfg, &ctx.error);
	if (ctx.error != NULL) {
		*error_r = ctx.error;
		config_free(&cfg);
		return -1;
	}
	*config_r = cfg;
	return 0;
}

void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < N_ELEMENTS(options); i++) {
		const struct conf_option *o = &options[i];
		if (o->type == CONF_STRING || o->type == CONF_PATH ||
		    o->type == CONF_OPT_PATH || o->type == CONF_RESOLVER ||
		    o->type == CONF_RELAYHOST)
			free(*(char **)((char *)cfg + o->offset));
	}
	for (size_t i = 0; i < cfg->n_tls_policy; i++)
		free(cfg->tls_policy[i].domain);
	free(cfg->tls_policy);
	for (size_t i = 0; i < cfg->n_sni; i++) {
		free(cfg->sni[i].host);
		strv_free(&cfg->sni[i].pairs);
	}
	free(cfg->sni);
	free(cfg->certificate);
	strv_free(&cfg->certificates);
	strv_free(&cfg->domains);
	free(cfg->path);
	free(cfg->dir);
	x_free(cfgp);
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void carry_string(char **next, const char *old)
{
	free(*next);
	*next = old != NULL ? xstrdup(old) : NULL;
}

void config_carry_fixed(struct config *next, const struct config *old,
			struct buf *changed)
{
	bool listen_same = memcmp(next->n_listen, old->n_listen,
				  sizeof(old->n_listen)) == 0;
	for (int s = 0; s < SERVICE_COUNT && listen_same; s++) {
		for (size_t i = 0; i < old->n_listen[s] && listen_same; i++)
			listen_same = strcmp(next->listen[s][i].text,
					     old->listen[s][i].text) == 0;
	}
	if (!listen_same) {
		buf_printf(changed, "%s[listen]", changed->len ? ", " : "");
		memcpy(next->listen, old->listen, sizeof(old->listen));
		memcpy(next->n_listen, old->n_listen, sizeof(old->n_listen));
	}
	if (!str_same(next->user, old->user)) {
		buf_printf(changed, "%suser", changed->len ? ", " : "");
		carry_string(&next->user, old->user);
	}
	if (!str_same(next->data_dir, old->data_dir)) {
		buf_printf(changed, "%sdata_dir", changed->len ? ", " : "");
		carry_string(&next->data_dir, old->data_dir);
	}
	if (next->workers != old->workers) {
		buf_printf(changed, "%sworkers", changed->len ? ", " : "");
		next->workers = old->workers;
	}
	/* The queue process's resolver is made once (libunbound). */
	if (!str_same(next->outbound_resolver, old->outbound_resolver)) {
		buf_printf(changed, "%s[outbound] resolver", changed->len ? ", " : "");
		carry_string(&next->outbound_resolver, old->outbound_resolver);
	}
	if (!str_same(next->outbound_trust_anchor, old->outbound_trust_anchor)) {
		buf_printf(changed, "%s[outbound] trust_anchor", changed->len ? ", " : "");
		carry_string(&next->outbound_trust_anchor, old->outbound_trust_anchor);
	}
	if (next->outbound_dnssec_require != old->outbound_dnssec_require) {
		buf_printf(changed, "%s[outbound] dnssec", changed->len ? ", " : "");
		next->outbound_dnssec_require = old->outbound_dnssec_require;
	}
}

unsigned config_line(const struct config *cfg, const char *section,
		     const char *name)
{
	size_t idx;

	if (str_ieq(section, "tls_policy")) {
		for (size_t i = 0; i < cfg->n_tls_policy; i++) {
			if (str_ieq(cfg->tls_policy[i].domain, name))
				return cfg->tls_policy[i].line;
		}
		return 0;
	}
	if (str_ieq(section, "sni")) {
		for (size_t i = 0; i < cfg->n_sni; i++) {
			if (str_ieq(cfg->sni[i].host, name))
				return cfg->sni[i].line;
		}
		return 0;
	}
	return find_option(section, name, &idx) != NULL ?
		cfg->option_line[idx] : 0;
}

bool config_is_local_domain(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->n_domains; i++) {
		if (str_ieq(cfg->domains[i], domain))
			return true;
	}
	return false;
}

enum outbound_tls config_tls_level(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->n_tls_policy; i++) {
		if (str_ieq(cfg->tls_policy[i].domain, domain))
			return cfg->tls_policy[i].level;
	}
	return cfg->outbound_tls;
}

bool config_any_listen(const struct config *cfg)
{
	for (int s = 0; s < SERVICE_COUNT; s++) {
		if (cfg->n_listen[s] > 0)
			return true;
	}
	return false;
}

const char *config_default_path(const char *cli_path)
{
	const char *env = getenv(CONFIG_ENV);
	if (cli_path != NULL)
		return cli_path;
	if (env != NULL && *env != '\0')
		return env;
	return CONFIG_DEFAULT_PATH;
}
