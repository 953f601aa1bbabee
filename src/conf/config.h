/* config.h — the sealpost.conf settings (INI, parsed by libinih).
 *
 * Every setting is one row of the option table in config.c. Relative paths
 * are resolved against the folder of the config file. Once loaded the config
 * is read-only; the server reaches it through the `config` global. */
#ifndef SEALPOST_CONFIG_H
#define SEALPOST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "lib/util.h"

#define CONFIG_DEFAULT_PATH "/etc/sealpost/sealpost.conf"
#define CONFIG_ENV "SEALPOST_CONF"
/* Longest line of the config file (libinih's INI_MAX_LINE less the NUL);
 * longer ones are an error. Long lists continue on indented lines. */
#define CONFIG_LINE_MAX 199
/* Addresses one service may listen on. */
#define CONFIG_LISTEN_MAX 16
/* Pairs one `certificate` list (or one [sni] entry) may name: one RSA and
 * one ECDSA pair for the same names. A TLS context serves one certificate
 * per key type (RFC 8446 4.4.2.2: the client's signature_algorithms pick
 * among them), and RSA and ECDSA are the types a TLS server can use
 * (pki_key_supported). */
#define CONFIG_CERTIFICATES_MAX 2
/* [sni] entries. RFC 6066 3 sends one host name per handshake; the server
 * looks it up among these, so the list stays small. */
#define CONFIG_SNI_MAX 256
/* A pair name: [A-Za-z0-9._-], no leading '.', at most this long (the
 * same rule as PKI_NAME_MAX in pki/pki.h). */
#define CONFIG_PAIR_NAME_MAX 64
/* Options of the table in config.c (config_line() keeps a line for each). */
#define CONFIG_OPTIONS_MAX 64
/* [tls_policy] entries: one per destination domain that needs its own TLS
 * level (Postfix's smtp_tls_policy_maps); the list is searched per
 * delivery, so it stays small. */
#define CONFIG_TLS_POLICY_MAX 1024

enum proto {
	PROTO_SMTP,
	PROTO_POP3,
	PROTO_IMAP,
	PROTO_COUNT
};

enum service {
	SERVICE_SMTP,
	SERVICE_SUBMISSION,
	SERVICE_POP3,
	SERVICE_IMAP,
	SERVICE_SMTPS,
	SERVICE_POP3S,
	SERVICE_IMAPS,
	SERVICE_COUNT
};

struct service_info {
	const char *name;
	enum proto proto;
	bool implicit_tls;   /* TLS from the first byte (RFC 8314) */
	bool auth_required;  /* SMTP: AUTH before MAIL */
};
extern const struct service_info service_infos[SERVICE_COUNT];
const char *proto_name(enum proto proto);

/* Outbound TLS levels, with Postfix's meanings (smtp_tls_security_level). */
enum outbound_tls {
	OUTBOUND_TLS_NONE,     /* never STARTTLS */
	OUTBOUND_TLS_MAY,      /* STARTTLS when offered, no authentication */
	OUTBOUND_TLS_ENCRYPT,  /* TLS required, no authentication */
	OUTBOUND_TLS_DANE,     /* RFC 7672 where TLSA records are secure, else may */
	OUTBOUND_TLS_VERIFY,   /* TLS required, CA-verified MX host name */
};
const char *outbound_tls_name(enum outbound_tls level);   /* "dane" */
bool outbound_tls_parse(const char *name, enum outbound_tls *level_r);

/* One [tls_policy] line: `example.org = verify`. */
struct config_tls_policy {
	char *domain;        /* lower case */
	enum outbound_tls level;
	unsigned line;
};

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];       /* as written, normalised: "127.0.0.1:25", "[::1]:25" */
};

/* One [sni] line: `host = pair[, pair]`. */
struct config_sni {
	char *host;          /* lower case: "mail.example.org" or "*.example.org" */
	char **pairs;        /* NULL-terminated, 1..CONFIG_CERTIFICATES_MAX names */
	size_t n_pairs;
	unsigned line;       /* where it is set in the config file */
};

struct config {
	char *path;          /* absolute path of the file loaded (NULL: none) */
	char *dir;           /* its folder, base of relative paths */

	char *hostname;
	char **domains;      /* lower case, NULL-terminated */
	size_t n_domains;
	char *data_dir;
	char *certs_dir;
	char *certificate;   /* the default pair: the first of certificates */
	char **certificates; /* `certificate`, NULL-terminated; served together */
	size_t n_certificates;
	struct config_sni *sni; /* [sni], in file order; hosts are unique */
	size_t n_sni;
	char *user;
	enum log_level log_level;
	uint64_t workers;    /* 0: one per CPU core */
	uint64_t auth_cache_ttl;  /* seconds a verified login is kept; 0: off */

	struct listen_addr listen[SERVICE_COUNT][CONFIG_LISTEN_MAX];
	size_t n_listen[SERVICE_COUNT];

	int tls_min_version; /* TLS1_2_VERSION or TLS1_3_VERSION numbers */
	uint64_t ticket_rotation;  /* seconds between ticket key rotations */

	uint64_t max_message_size;
	uint64_t max_recipients;
	uint64_t max_connections;
	uint64_t max_connections_per_ip;
	uint64_t smtp_timeout;
	uint64_t pop3_timeout;
	uint64_t imap_timeout;
	uint64_t auth_max_failures;
	uint64_t login_timeout;      /* seconds to log in (port 25: to send MAIL) */
	uint64_t data_min_rate;      /* bytes/s of DATA and literals; 0: no check */
	uint64_t data_rate_window;   /* seconds the rate is averaged over */
	uint64_t data_rate_grace;    /* seconds before the first window */
	uint64_t quota;          /* bytes per mailbox, 0: none */
	uint64_t quota_messages; /* messages per mailbox, 0: none */

	unsigned option_line[CONFIG_OPTIONS_MAX]; /* see config_line() */
	/* [outbound]: how outbound mail finds its next hop (src/dns/). */
	char *outbound_resolver;     /* "ADDRESS:PORT" of a DNS server, normalised
				      * as in [listen]; NULL: /etc/resolv.conf */
	char *outbound_trust_anchor; /* DNSSEC trust anchor file (absolute);
				      * NULL: the Debian root key */
	bool outbound_dnssec_require; /* dnssec = require: validation stays
				      * on when the resolver passes no DNSSEC
				      * (auto: it goes off, with a warning) */
	/* [outbound]: how it is sent (src/outbound/, src/smtpc/). */
	enum outbound_tls outbound_tls;
	uint64_t outbound_port;      /* remote SMTP port for MX delivery */
	char *relay_host;            /* relayhost: host name or address
				      * literal (without brackets); NULL: MX */
	uint64_t relay_port;
	bool relay_mx;               /* relayhost without [...]: its MX */
	char *relay_auth_file;       /* relayhost_auth: "user:password" file */
	char *outbound_ca_file;      /* ca_file for the verify level */
	uint64_t queue_lifetime;     /* seconds, then bounce */
	uint64_t retry_min, retry_max;   /* seconds between attempts */
	uint64_t outbound_max_connections;
	uint64_t outbound_max_per_destination;
	struct config_tls_policy *tls_policy;   /* [tls_policy], file order */
	size_t n_tls_policy;
};

/* The loaded config of the running process. */
extern const struct config *config;

/* Where the config file is: -c argument, else $SEALPOST_CONF, else the
 * default path. */
const char *config_default_path(const char *cli_path);

/* Load and validate path. On error *error_r is one line naming
 * "FILE:LINE: problem" and nothing is returned. With must_exist false a
 * missing file yields the defaults (relative paths against the cwd). */
int config_load(const char *path, bool must_exist, struct config **config_r,
		const char **error_r);
/* The defaults alone, relative paths resolved against base_dir. */
struct config *config_defaults(const char *base_dir);
void config_free(struct config **cfg);

/* A reload: the settings that cannot change while the server runs
 * ([listen], user, data_dir, workers, [outbound] resolver and trust_anchor)
 * are taken from old into next; their
 * names, where next wanted something else, are appended to changed
 * ("[listen], user"). */
void config_carry_fixed(struct config *next, const struct config *old,
			struct buf *changed);

/* The line of the config file that sets section/name ("" for the top of
 * the file), 0 when it is not set there (a default). */
unsigned config_line(const struct config *cfg, const char *section,
		     const char *name);

bool config_is_local_domain(const struct config *cfg, const char *domain);
/* The TLS level for mail to domain: its [tls_policy] line, else
 * [outbound] tls. */
enum outbound_tls config_tls_level(const struct config *cfg, const char *domain);
bool config_any_listen(const struct config *cfg);

/* Resolve a path from the command line against the cwd (new string). */
char *config_abs_path(const char *path);

#endif
