/* cli_check_config.c — sealpost check-config: the config, every pair it
 * names and which of them serves each configured name, and the passwd
 * file, each problem on one line. */
#include "cli/cli_cert.h"
#include "outbound/outbound.h"
#include "dns/dns.h"
#include "net/tls.h"
#include "lib/util.h"
#include "auth/passwd.h"
#include "lib/fsutil.h"
#include "pki/pki_set.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static void print_finding(const struct pki_finding *f, void *context)
{
	int *problems = context;
	if (f->severity == PKI_ERROR) {
		cli_fail("%s: %s", f->file, f->text);
		(*problems)++;
	} else if (f->severity == PKI_WARNING) {
		fprintf(stderr, "sealpost: warning: %s: %s\n", f->file, f->text);
	}
}

/* Every pair the server would serve (`certificate` and [sni]): loadable,
 * matching and sound; and the set as a whole (one pair per key type in a
 * list; configured names no pair covers are warnings). *set_r is the set
 * for the summary. */
static int certificate_problems(const struct config *cfg,
				struct pki_set **set_r)
{
	int problems = 0;

	pki_set_load(cfg, time(NULL), print_finding, &problems, set_r);
	pki_set_check(*set_r, print_finding, &problems);
	return problems;
}

static void print_passwd_problem(const char *problem, void *context)
{
	int *problems = context;
	cli_fail("%s", problem);
	(*problems)++;
}

/* Every line of data_dir/passwd must be usable (a refused scheme or a
 * malformed line locks that user out). */
static int passwd_problems(const struct config *cfg)
{
	char *path = fs_join(cfg->data_dir, PASSWD_FILE_NAME);
	int problems = 0;
	const char *error;
	struct passwd_db *db = passwd_db_new(path, print_passwd_problem, &problems);

	if (passwd_db_refresh(db, &error) < 0) {
		cli_fail("%s", error);
		problems++;
	}
	passwd_db_free(&db);
	free(path);
	return problems;
}

/* What outbound delivery needs at start: the resolver and its trust
 * anchor, the CAs of ca_file, and relayhost credentials that only their
 * owner may read. */
static int outbound_problems(const struct config *cfg)
{
	struct dns_resolver_settings set;
	struct dns_resolver *res = NULL;
	struct tls_client_spec spec = { .min_version = cfg->tls_min_version,
					.ca_file = cfg->outbound_ca_file };
	struct tls_ctx *ctx = NULL;
	struct event_base *base = event_base_new();
	char *user, *pass;
	const char *error;
	int problems = 0;

	dns_settings_from_config(cfg, &set);
	if (base == NULL || dns_resolver_create(base, &set, &res, &error) < 0) {
		cli_fail("%s: [outbound]: %s", cfg->path ? cfg->path : "(defaults)",
			 base == NULL ? "no event base" : error);
		problems++;
	}
	dns_resolver_free(&res);
	if (base != NULL)
		event_base_free(base);
	if (tls_client_ctx_new(&spec, &ctx, &error) < 0) {
		cli_fail("%s: ca_file: %s", cfg->path ? cfg->path : "(defaults)", error);
		problems++;
	}
	tls_ctx_unref(&ctx);
	if (cfg->relay_auth_file == NULL)
		return problems;
	if (outbound_auth_read(cfg->relay_auth_file, &user, &pass, &error) < 0) {
		cli_fail("%s", error);
		return problems + 1;
	}
	OPENSSL_cleanse(pass, strlen(pass));
	free(user);
	free(pass);
	return problems;
}

/* Problems that do not stop parsing but would stop or hobble the server.
 * Each is printed as one "sealpost: FILE: ..." line; returns their count. */
static int semantic_problems(const struct config *cfg, struct pki_set **set_r)
{
	const char *file = cfg->path ? cfg->path : "(defaults)";
	int problems = 0;
	struct stat st;

	if (cfg->n_domains == 0) {
		cli_fail("%s: domains: no local domain is set", file);
		problems++;
	}
	if (stat(cfg->data_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		cli_fail("%s: data_dir: %s is not a folder", file, cfg->data_dir);
		problems++;
	}
	if (stat(cfg->certs_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		cli_fail("%s: certs_dir: %s is not a folder", file, cfg->certs_dir);
		problems++;
	}
	if (config_any_listen(cfg))
		problems += certificate_problems(cfg, set_r);
	problems += passwd_problems(cfg);
	problems += outbound_problems(cfg);
	return problems;
}

/* "mail, mail-ec" (errfmt() text). */
static const char *pair_list(char *const *pairs, size_t n)
{
	struct buf b = { 0 };
	const char *text;

	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i > 0 ? ", " : "", pairs[i]);
	text = errfmt("%s", b.data);
	buf_free(&b);
	return text;
}

static void print_summary(const struct config *cfg, const struct pki_set *set)
{
	printf("%s: ok\n", cfg->path);
	printf("hostname    %s\n", cfg->hostname);
	for (size_t i = 0; i < cfg->n_domains; i++)
		printf("domain      %s\n", cfg->domains[i]);
	printf("data_dir    %s\n", cfg->data_dir);
	printf("certs_dir   %s\n", cfg->certs_dir);
	printf("certificate %s\n", pair_list(cfg->certificates,
					     cfg->n_certificates));
	for (size_t i = 0; i < cfg->n_sni; i++)
		printf("sni         %s = %s\n", cfg->sni[i].host,
		       pair_list(cfg->sni[i].pairs, cfg->sni[i].n_pairs));
	for (int s = 0; s < SERVICE_COUNT; s++) {
		for (size_t i = 0; i < cfg->n_listen[s]; i++)
			printf("listen      %-10s %s\n", service_infos[s].name,
			       cfg->listen[s][i].text);
	}
	printf("outbound    tls %s, ", outbound_tls_name(cfg->outbound_tls));
	if (cfg->relay_host == NULL)
		printf("to the MX hosts on port %llu\n",
		       (unsigned long long)cfg->outbound_port);
	else
		printf("relayhost %s%s%s:%llu%s\n", cfg->relay_mx ? "" : "[",
		       cfg->relay_host, cfg->relay_mx ? "" : "]",
		       (unsigned long long)cfg->relay_port,
		       cfg->relay_auth_file != NULL ? " with AUTH" : "");
	for (size_t i = 0; i < cfg->n_tls_policy; i++)
		printf("tls_policy  %s = %s\n", cfg->tls_policy[i].domain,
		       outbound_tls_name(cfg->tls_policy[i].level));
	if (set != NULL)
		cli_print_serving(set);
}

int cmd_check_config(const struct cli_command *cmd, struct cli_args *args)
{
	struct pki_set *set = NULL;
	struct config *cfg;
	int problems;

	if (cli_load_config(args, true, &cfg) < 0)
		return CLI_FAIL;
	problems = semantic_problems(cfg, &set);
	if (problems == 0)
		print_summary(cfg, set);
	pki_set_free(&set);
	config_free(&cfg);
	return problems == 0 ? CLI_OK : CLI_FAIL;
}
