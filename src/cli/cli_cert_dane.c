/* cli_cert_dane.c — sealpost cert tlsa NAME [--host H] [--port P]
 * [--next KEYFILE]: the DANE TLSA records of a pair, ready to paste into a
 * zone file.
 *
 * Printed: "3 1 1" for the served key (DANE-EE), "2 1 1" for the CA that
 * issued the certificate when the chain holds it (DANE-TA), and, with
 * --next, "3 1 1" for the key the next certificate will have, so that both
 * records are published before the switch (RFC 7671 8.1). Comments start
 * with ';', so the whole output can go into a zone file. */
#include "cli/cli_cert.h"

#include <stdio.h>
#include <string.h>

/* RFC 7672: a sending MTA looks up the TLSA records of an MX host at
 * _25._tcp.<MX host name>. */
#define TLSA_PORT_DEFAULT 25
#define TLSA_PORT_MAX 65535

struct tlsa_opts {
	const char *host;
	unsigned port;
	const char *next;   /* --next KEYFILE, or NULL */
};

static int parse_tlsa_opts(const struct cli_command *cmd,
			   const struct cli_args *args, const struct config *cfg,
			   struct tlsa_opts *o)
{
	const char *port = cli_opt(args, "port");
	uint64_t n = TLSA_PORT_DEFAULT;

	o->host = cli_opt(args, "host");
	o->next = cli_opt(args, "next");
	if (o->host == NULL && cfg->path != NULL)
		o->host = cfg->hostname;
	if (o->host == NULL)
		return cli_usage(cmd, "--host HOST is required when no config "
				 "file names the hostname");
	/* The TLSA base domain is a host name, never an address. */
	if (!pki_dns_name_valid(o->host, false) || pki_ip_valid(o->host))
		return cli_cert_option_error(cmd, errfmt(
			"host '%s': expected the host name clients connect to, "
			"such as mail.example.org", o->host));
	if (port != NULL && (!str_to_u64(port, TLSA_PORT_MAX, &n) || n == 0))
		return cli_cert_option_error(cmd, errfmt(
			"port '%s': expected 1 to %d", port, TLSA_PORT_MAX));
	o->port = (unsigned)n;
	return CLI_OK;
}

static int print_record(const char *owner, enum pki_tlsa_usage usage,
			const char *hex)
{
	printf("%s IN TLSA %d %d %d %s\n", owner, usage, PKI_TLSA_SELECTOR_SPKI,
	       PKI_TLSA_MATCH_SHA256, hex);
	return CLI_OK;
}

/* 2 1 1 for the CA that issued the leaf, or a comment why there is none. */
static int print_issuer(const struct pki_pair *pair, const char *owner)
{
	X509 *issuer = pki_pair_issuer(pair);
	char hex[PKI_SHA256_HEX_LEN + 1];
	const char *error;
	char *name;

	if (issuer == NULL) {
		printf("; no 2 1 1 record: %s\n", pki_cert_self_signed(pair->cert) ?
		       "the certificate is self-signed" :
		       errfmt("the issuer of the certificate is not in %s",
			      pair->crt_path));
		return CLI_OK;
	}
	if (pki_cert_spki_sha256(issuer, hex, &error) < 0)
		return cli_fail("%s: %s", pair->crt_path, error);
	name = pki_name_oneline(X509_get_subject_name(issuer));
	printf("; DANE-TA: the CA that issued it, '%s'\n", name);
	free(name);
	return print_record(owner, PKI_TLSA_DANE_TA, hex);
}

static int print_next(const struct pki_pair *pair, const char *owner,
		      const char *path)
{
	char hex[PKI_SHA256_HEX_LEN + 1];
	const char *error;
	EVP_PKEY *key;
	char *type;
	int ret;

	if (pki_public_key_read(path, &key, &error) < 0)
		return cli_fail("%s", error);
	if (pki_key_matches(key, pair->cert)) {
		EVP_PKEY_free(key);
		fflush(stdout);
		fprintf(stderr, "sealpost: warning: %s: this is the key %s serves "
			"already; its record is above\n", path, pair->name);
		return CLI_OK;
	}
	ret = pki_spki_sha256(key, hex, &error) < 0 ?
		cli_fail("%s: %s", path, error) : CLI_OK;
	type = xstrdup(pki_key_describe(key));
	EVP_PKEY_free(key);
	if (ret == CLI_OK) {
		printf("; the next key, %s (%s): publish both 3 1 1 records now, "
		       "switch after two TTLs, then remove the old one\n", path,
		       type);
		ret = print_record(owner, PKI_TLSA_DANE_EE, hex);
	}
	free(type);
	return ret;
}

static int print_tlsa(const struct pki_pair *pair, const struct tlsa_opts *o)
{
	char *owner = pki_tlsa_owner(o->host, o->port);
	char hex[PKI_SHA256_HEX_LEN + 1];
	const char *error;
	int ret;

	if (pki_cert_spki_sha256(pair->cert, hex, &error) < 0) {
		free(owner);
		return cli_fail("%s: %s", pair->crt_path, error);
	}
	printf("; DANE-EE: the key of pair %s (%s, certificate valid until %s)\n",
	       pair->name, pki_key_describe(pair->key),
	       pki_time_text(X509_get0_notAfter(pair->cert)));
	ret = print_record(owner, PKI_TLSA_DANE_EE, hex);
	if (ret == CLI_OK)
		ret = print_issuer(pair, owner);
	if (ret == CLI_OK && o->next != NULL)
		ret = print_next(pair, owner, o->next);
	free(owner);
	return ret;
}

int cmd_cert_tlsa(const struct cli_command *cmd, struct cli_args *args)
{
	struct tlsa_opts o = { NULL, 0, NULL };
	struct pki_pair *pair;
	struct config *cfg;
	const char *error;
	int ret;

	if (!pki_name_valid(args->pos[0]))
		return cli_cert_name_error(cmd, args->pos[0]);
	if (cli_cert_config(args, &cfg) < 0)
		return CLI_FAIL;
	ret = parse_tlsa_opts(cmd, args, cfg, &o);
	if (ret == CLI_OK &&
	    pki_pair_load(cfg->certs_dir, args->pos[0], &pair, &error) < 0)
		ret = cli_fail("%s", error);
	if (ret == CLI_OK) {
		ret = print_tlsa(pair, &o);
		pki_pair_free(&pair);
	}
	config_free(&cfg);
	return ret;
}
