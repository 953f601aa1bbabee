/* cli_tls.c — sealpost tls check: the live self-check of a running server.
 *
 * For every address of every configured service it connects as a client
 * (STARTTLS first on the explicit ports), once per key type of the default
 * pairs and once per [sni] name and key type, and compares what is served
 * with the pair in certs_dir: a stale process still serving an old
 * certificate is caught, and so is a broken pair in certs_dir waiting for
 * the next restart (the pairs are judged as the server judges them). One
 * line per handshake; exit 1 on any mismatch, failed handshake or broken
 * pair. */
#include "cli/cli_cert.h"
#include "net/tls.h"
#include "pki/pki_set.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Seconds for the connection, each exchange and the handshake. */
#define TLS_CHECK_TIMEOUT_SECS 10
/* Longest reply line read in a STARTTLS exchange (RFC 5321 4.5.3.1.5). */
#define TLS_CHECK_LINE_MAX 1024

struct check {
	const struct config *cfg;
	const struct pki_set *set;
	unsigned problems;
};

/* ---- the plaintext part ------------------------------------------------ */

/* One reply line into buf (CRLF stripped); -1 on EOF, error or timeout. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n') {
			while (n > 0 && buf[n - 1] == '\r')
				n--;
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

/* SMTP multi-line replies: the last line has a space after the code. */
static bool smtp_reply(int fd, const char *code)
{
	char line[TLS_CHECK_LINE_MAX];
	do {
		if (read_line(fd, line, sizeof(line)) < 0 || strncmp(line, code, 3) != 0)
			return false;
	} while (line[3] == '-');
	return true;
}

static bool say(int fd, const char *text)
{
	size_t len = strlen(text);
	return write(fd, text, len) == (ssize_t)len;
}

/* The exchange before the handshake on an explicit-TLS port. */
static bool starttls(int fd, enum proto proto, const char *helo)
{
	char line[TLS_CHECK_LINE_MAX];

	switch (proto) {
	case PROTO_SMTP:
		return smtp_reply(fd, "220") && say(fd, errfmt("EHLO %s\r\n", helo)) &&
		       smtp_reply(fd, "250") && say(fd, "STARTTLS\r\n") &&
		       smtp_reply(fd, "220");
	case PROTO_POP3:
		return read_line(fd, line, sizeof(line)) == 0 &&
		       strncmp(line, "+OK", 3) == 0 && say(fd, "STLS\r\n") &&
		       read_line(fd, line, sizeof(line)) == 0 &&
		       strncmp(line, "+OK", 3) == 0;
	case PROTO_IMAP:
		if (read_line(fd, line, sizeof(line)) < 0 || strncmp(line, "* OK", 4) != 0 ||
		    !say(fd, "t1 STARTTLS\r\n"))
			return false;
		while (read_line(fd, line, sizeof(line)) == 0) {
			if (strncmp(line, "t1 ", 3) == 0)
				return strncmp(line, "t1 OK", 5) == 0;
		}
		return false;
	case PROTO_COUNT:
		break;
	}
	return false;
}

/* A listen address to connect to: a wildcard address means loopback. */
static int connect_to(const struct listen_addr *la, const char **error_r)
{
	struct sockaddr_storage ss = la->ss;
	struct timeval tv = { TLS_CHECK_TIMEOUT_SECS, 0 };

	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&ss, la->len) == 0)
			return fd;
	}
	*error_r = errfmt("connect: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- judging what was served ------------------------------------------- */

/* The pair of group g with key type key, or NULL. */
static const struct pki_pair *pair_of(const struct pki_set *set, size_t g,
				      enum tls_probe_key key)
{
	for (size_t e = 0; e < set->groups[g].n_entries; e++) {
		const struct pki_pair *p = set->entries[set->groups[g].entries[e]].pair;
		if (p == NULL)
			continue;
		bool rsa = EVP_PKEY_get_base_id(p->key) == EVP_PKEY_RSA;
		if (key == TLS_PROBE_ANY || (key == TLS_PROBE_RSA) == rsa)
			return p;
	}
	return NULL;
}

/* Is the served chain the stored one (leaf and intermediates)? */
static bool same_chain(const struct tls_probe *probe, const struct pki_pair *p)
{
	int n = p->chain != NULL ? sk_X509_num(p->chain) : 0;

	if (X509_cmp(probe->chain[0], p->cert) != 0 || probe->n_chain != (size_t)n + 1)
		return false;
	for (int i = 0; i < n; i++) {
		if (X509_cmp(probe->chain[i + 1], sk_X509_value(p->chain, i)) != 0)
			return false;
	}
	return true;
}

static void describe_served(const struct tls_probe *probe, char *out, size_t size)
{
	char cn[128] = "?";
	X509_NAME_get_text_by_NID(X509_get_subject_name(probe->chain[0]),
				  NID_commonName, cn, sizeof(cn));
	snprintf(out, size, "CN=%s until %s", cn,
		 pki_time_text(X509_get0_notAfter(probe->chain[0])));
}

static void probe_one(struct check *c, enum service svc, const struct listen_addr *la,
		      const char *sni, size_t group, enum tls_probe_key key)
{
	const struct pki_pair *want = pair_of(c->set, group, key);
	const char *kt = key == TLS_PROBE_RSA ? "rsa" : "ecdsa", *error = NULL;
	struct tls_probe probe;
	char served[256];
	int fd;

	if (want == NULL)
		return;
	printf("%-10s %-22s sni=%-20s %-5s ", service_infos[svc].name, la->text,
	       sni ? sni : "-", kt);
	fd = connect_to(la, &error);
	if (fd >= 0 && !service_infos[svc].implicit_tls &&
	    !starttls(fd, service_infos[svc].proto, c->cfg->hostname))
		error = "STARTTLS refused or no answer";
	if (fd >= 0 && error == NULL &&
	    tls_probe_handshake(fd, sni, key, TLS_CHECK_TIMEOUT_SECS, &probe, &error) == 0) {
		describe_served(&probe, served, sizeof(served));
		long left = pki_days_until(X509_get0_notAfter(probe.chain[0]), time(NULL));
		if (same_chain(&probe, want)) {
			char **names = pki_cert_names(probe.chain[0]);
			printf("%s %s chain=%zu pair=%s ok (%ld days left) names=",
			       probe.version, probe.cipher, probe.n_chain, want->name, left);
			for (size_t i = 0; names[i] != NULL; i++)
				printf("%s%s", i ? "," : "", names[i]);
			printf("\n");
			strv_free(&names);
		} else {
			printf("%s %s MISMATCH\n", probe.version, probe.cipher);
			cli_fail("%s %s: serves %s, not %s (stale: the running server has "
				 "not taken the stored pair; sealpost reload)",
				 service_infos[svc].name, la->text, served, want->crt_path);
			c->problems++;
		}
		tls_probe_free(&probe);
	} else {
		printf("FAILED\n");
		cli_fail("%s %s: %s", service_infos[svc].name, la->text, error);
		c->problems++;
	}
	if (fd >= 0)
		close(fd);
}

/* A name to send for an [sni] entry: a wildcard stands for one label. */
static const char *sni_probe_name(const char *host)
{
	return host[0] == '*' ? errfmt("tls-check%s", host + 1) : host;
}

static void check_address(struct check *c, enum service svc, const struct listen_addr *la)
{
	static const enum tls_probe_key keys[] = { TLS_PROBE_RSA, TLS_PROBE_ECDSA };

	for (size_t k = 0; k < N_ELEMENTS(keys); k++)
		probe_one(c, svc, la, NULL, 0, keys[k]);
	for (size_t i = 0; i < c->set->n_sni; i++) {
		char *name = xstrdup(sni_probe_name(c->set->sni[i].host));
		for (size_t k = 0; k < N_ELEMENTS(keys); k++)
			probe_one(c, svc, la, name, c->set->sni[i].group, keys[k]);
		free(name);
	}
}

/* The stored pairs, judged as the server judges them. */
static void print_problem(const struct pki_finding *f, void *context)
{
	struct check *c = context;

	if (f->severity == PKI_ERROR) {
		cli_fail("%s: %s", f->file, f->text);
		c->problems++;
	} else if (f->severity == PKI_WARNING) {
		fprintf(stderr, "sealpost: warning: %s: %s\n", f->file, f->text);
	}
}

int cmd_tls_check(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;
	struct pki_set *set;
	struct check c = { 0 };

	if (cli_load_config(args, true, &cfg) < 0)
		return CLI_FAIL;
	c.cfg = cfg;
	pki_set_load(cfg, time(NULL), print_problem, &c, &set);
	c.set = set;
	for (size_t i = 0; i < set->n_entries; i++) {
		const struct pki_pair *p = set->entries[i].pair;
		if (p != NULL)
			printf("stored     %-22s %s, %ld days left\n", p->name,
			       pki_key_describe(p->key),
			       pki_days_until(X509_get0_notAfter(p->cert), time(NULL)));
	}
	for (int s = 0; s < SERVICE_COUNT; s++) {
		for (size_t i = 0; i < cfg->n_listen[s]; i++)
			check_address(&c, (enum service)s, &cfg->listen[s][i]);
	}
	if (!config_any_listen(cfg))
		cli_fail("%s: [listen]: no service is listed; nothing to check", cfg->path);
	if (c.problems == 0 && config_any_listen(cfg))
		printf("tls check: ok\n");
	pki_set_free(&set);
	int rc = c.problems == 0 && config_any_listen(cfg) ? CLI_OK : CLI_FAIL;
	config_free(&cfg);
	return rc;
}
