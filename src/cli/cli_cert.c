/* cli_cert.c — sealpost cert create | import | list | show | check.
 *
 * Thin handlers: parse and validate options, call src/pki, print. Every
 * command takes --dir DIR, which overrides the config's certs_dir (the
 * config file is then optional). Bad option values are usage errors (2);
 * bad input files, existing pairs and failing checks exit 1, and so does
 * `cert check` within PKI_EXPIRY_FAIL_DAYS of expiry. */
#include "cli/cli_cert.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "pki/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often key generation prints a progress dot, in milliseconds. */
#define CERT_PROGRESS_MS 200

int cli_cert_config(const struct cli_args *args, struct config **cfg_r)
{
	const char *dir = cli_opt(args, "dir");

	if (cli_load_config(args, dir == NULL, cfg_r) < 0)
		return -1;
	if (dir != NULL) {
		free((*cfg_r)->certs_dir);
		(*cfg_r)->certs_dir = xstrdup(dir);
	}
	return 0;
}

/* The certs folder: --dir, else the config's certs_dir. New string, or NULL
 * after printing the error. */
static char *certs_dir(const struct cli_args *args)
{
	struct config *cfg;
	char *result;

	if (cli_cert_config(args, &cfg) < 0)
		return NULL;
	result = xstrdup(cfg->certs_dir);
	config_free(&cfg);
	return result;
}

int cli_cert_option_error(const struct cli_command *cmd, const char *text)
{
	return cli_usage(cmd, errfmt("--%s", text));
}

int cli_cert_name_error(const struct cli_command *cmd, const char *name)
{
	return cli_usage(cmd, errfmt("'%s' cannot be a certificate name "
				     "(expected letters, digits, '.', '-', '_', "
				     "at most %d)", name, PKI_NAME_MAX));
}

/* ---- create ---------------------------------------------------------- */

struct create_opts {
	enum pki_key_type type;
	unsigned bits;
	struct pki_cert_request req;
};

static int parse_key_opts(const struct cli_command *cmd,
			  const struct cli_args *args, struct create_opts *o)
{
	const char *type = cli_opt(args, "type"), *bits = cli_opt(args, "bits");

	o->type = PKI_KEY_RSA;
	o->bits = PKI_RSA_BITS_DEFAULT;
	if (type != NULL && str_ieq(type, "ecdsa")) {
		o->type = PKI_KEY_ECDSA;
		o->bits = 256;
		if (bits != NULL && strcmp(bits, "256") != 0)
			return cli_cert_option_error(cmd, errfmt(
				"bits '%s': ECDSA keys are P-256 (256 bits); "
				"--bits is for RSA", bits));
		return 0;
	}
	if (type != NULL && !str_ieq(type, "rsa"))
		return cli_cert_option_error(cmd, errfmt(
			"type '%s': expected rsa or ecdsa", type));
	if (bits != NULL) {
		if (strcmp(bits, "2048") != 0 && strcmp(bits, "4096") != 0)
			return cli_cert_option_error(cmd, errfmt(
				"bits '%s': expected 2048 or 4096", bits));
		o->bits = (unsigned)atoi(bits);
	}
	return 0;
}

/* --cn, --san, --days and the subject fields into o->req. o->req.sans is
 * allocated even on failure; free it with strv_free. */
static int parse_cert_opts(const struct cli_command *cmd,
			   const struct cli_args *args, struct create_opts *o)
{
	struct pki_cert_request *req = &o->req;
	const char *days = cli_opt(args, "days"), *san = cli_opt(args, "san");
	char **entries = strv_split_commas(san != NULL ? san : "", NULL);
	const char *error;
	uint64_t n = PKI_DAYS_DEFAULT;

	req->sans = xcalloc(strv_len(entries) + 1, sizeof(char *));
	for (size_t i = 0; entries[i] != NULL; i++) {
		if (pki_parse_san(entries[i], &req->sans[i], &error) < 0) {
			strv_free(&entries);
			return cli_cert_option_error(cmd, error);
		}
	}
	strv_free(&entries);
	req->cn = cli_opt(args, "cn");
	if (req->cn == NULL)
		return cli_usage(cmd, "--cn HOST is required");
	if (days != NULL && !str_to_u64(days, PKI_DAYS_MAX, &n))
		n = 0;   /* pki_check_request says what is expected */
	req->days = (unsigned)n;
	req->org = cli_opt(args, "org");
	req->unit = cli_opt(args, "unit");
	req->locality = cli_opt(args, "locality");
	req->state = cli_opt(args, "state");
	req->country = cli_opt(args, "country");
	req->email = cli_opt(args, "email");
	if (days != NULL && n == 0)
		return cli_cert_option_error(cmd, errfmt(
			"days '%s': expected 1 to %d", days, PKI_DAYS_MAX));
	if (pki_check_cn(req->cn, &error) < 0 ||
	    pki_check_request(req, &error) < 0)
		return cli_cert_option_error(cmd, error);
	return 0;
}

struct progress {
	struct timespec last;
};

/* A dot on stderr at most every CERT_PROGRESS_MS while a key is generated. */
static void progress_dot(void *context)
{
	struct progress *p = context;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000 +
	    (now.tv_nsec - p->last.tv_nsec) / 1000000 < CERT_PROGRESS_MS)
		return;
	p->last = now;
	fputc('.', stderr);
}

static int generate_key(const struct create_opts *o, EVP_PKEY **key_r)
{
	struct progress p;
	const char *error;

	if (o->type == PKI_KEY_RSA)
		fprintf(stderr, "generating RSA %u key%s", o->bits, o->bits > 2048 ?
			" (this takes a few seconds)" : "");
	else
		fputs("generating ECDSA P-256 key", stderr);
	clock_gettime(CLOCK_MONOTONIC, &p.last);
	if (pki_key_generate(o->type, o->bits, progress_dot, &p, key_r,
			     &error) < 0) {
		fputc('\n', stderr);
		return cli_fail("%s", error);
	}
	fputs(" done\n", stderr);
	return CLI_OK;
}

static void print_created(const struct pki_pair *pair, const char *csr_path)
{
	const ASN1_TIME *na = X509_get0_notAfter(pair->cert);
	char *subject = pki_name_oneline(X509_get_subject_name(pair->cert));
	char *sans = pki_cert_sans(pair->cert);
	char fp[PKI_FINGERPRINT_LEN + 1];

	pki_cert_fingerprint(pair->cert, fp);
	printf("created %s (%s, mode 0600)\n", pair->key_path,
	       pki_key_describe(pair->key));
	printf("created %s (the request to send to a certificate authority)\n",
	       csr_path);
	printf("created %s (self-signed, valid until %s)\n", pair->crt_path,
	       pki_time_text(na));
	printf("subject  %s\nnames    %s\nsha256   %s\n", subject, sans, fp);
	free(subject);
	free(sans);
}

static int create_pair(const char *dir, const char *name, bool force,
		       const struct create_opts *o)
{
	struct pki_pair *pair = pki_pair_new(name);
	X509_REQ *csr = NULL;
	const char *error;
	char *csr_file, *csr_path;
	int ret = CLI_FAIL;

	if (generate_key(o, &pair->key) != CLI_OK)
		goto out;
	if (pki_cert_create(pair->key, &o->req, &csr, &pair->cert, &error) < 0 ||
	    pki_store_save(dir, pair, csr, force, &error) < 0) {
		cli_fail("%s", error);
		goto out;
	}
	csr_file = xasprintf("%s.csr", name);
	csr_path = fs_join(dir, csr_file);
	print_created(pair, csr_path);
	free(csr_file);
	free(csr_path);
	ret = CLI_OK;
out:
	X509_REQ_free(csr);
	pki_pair_free(&pair);
	return ret;
}

int cmd_cert_create(const struct cli_command *cmd, struct cli_args *args)
{
	const char *name = args->pos[0], *error;
	bool force = cli_flag(args, "force");
	struct create_opts o = { 0 };
	char *dir = NULL;
	int ret;

	if (!pki_name_valid(name))
		return cli_cert_name_error(cmd, name);
	ret = parse_key_opts(cmd, args, &o);
	if (ret == CLI_OK)
		ret = parse_cert_opts(cmd, args, &o);
	if (ret == CLI_OK && (dir = certs_dir(args)) == NULL)
		ret = CLI_FAIL;
	/* Refuse before spending seconds on a key (checked again on write). */
	if (ret == CLI_OK && !force &&
	    pki_store_check_free(dir, name, true, &error) < 0)
		ret = cli_fail("%s", error);
	if (ret == CLI_OK)
		ret = create_pair(dir, name, force, &o);
	strv_free(&o.req.sans);
	free(dir);
	return ret;
}

/* ---- import ---------------------------------------------------------- */

static void print_imported(const struct pki_pair *pair)
{
	int n = sk_X509_num(pair->chain);
	char *subject = pki_name_oneline(X509_get_subject_name(pair->cert));
	char *issuer = pki_cert_self_signed(pair->cert) ? xstrdup("self-signed") :
		pki_name_oneline(X509_get_issuer_name(pair->cert));

	printf("imported %s (certificate + %d intermediate%s) and %s (%s)\n",
	       pair->crt_path, n, n == 1 ? "" : "s", pair->key_path,
	       pki_key_describe(pair->key));
	printf("subject  %s\nissuer   %s\nexpires  %s\n", subject, issuer,
	       pki_time_text(X509_get0_notAfter(pair->cert)));
	free(subject);
	free(issuer);
}

static int import_pair(const struct cli_args *args, const char *name,
		       const char *passphrase)
{
	struct pki_import_input in = {
		.cert_path = args->pos[0],
		.key_path = cli_opt(args, "key"),
		.passphrase = passphrase,
		.passphrase_path = cli_opt(args, "passphrase-file"),
	};
	struct pki_pair *pair = NULL;
	char **warnings = NULL, *dir = certs_dir(args);
	const char *error;
	int ret = CLI_FAIL;

	if (dir == NULL)
		return CLI_FAIL;
	if (pki_import(&in, &pair, &warnings, &error) < 0) {
		cli_fail("%s", error);
		goto out;
	}
	free(pair->name);
	pair->name = xstrdup(name);
	if (pki_store_save(dir, pair, NULL, cli_flag(args, "force"), &error) < 0) {
		cli_fail("%s", error);
		goto out;
	}
	for (size_t i = 0; warnings[i] != NULL; i++)
		fprintf(stderr, "sealpost: warning: %s\n", warnings[i]);
	fflush(stderr);
	print_imported(pair);
	ret = CLI_OK;
out:
	strv_free(&warnings);
	pki_pair_free(&pair);
	free(dir);
	return ret;
}

int cmd_cert_import(const struct cli_command *cmd, struct cli_args *args)
{
	const char *opt_name = cli_opt(args, "name");
	const char *pass_file = cli_opt(args, "passphrase-file");
	char *name = NULL, *pass = NULL;
	const char *error;
	int ret;

	if (opt_name != NULL && !pki_name_valid(opt_name))
		return cli_cert_name_error(cmd, opt_name);
	name = opt_name != NULL ? xstrdup(opt_name) :
		pki_import_default_name(args->pos[0], &error);
	if (name == NULL)
		return cli_fail("%s", error);
	if (pass_file != NULL && pki_passphrase_read(pass_file, &pass, &error) < 0) {
		free(name);
		return cli_fail("%s", error);
	}
	ret = import_pair(args, name, pass);
	pki_passphrase_free(&pass);
	free(name);
	return ret;
}

/* ---- findings -------------------------------------------------------- */

/* The worst finding of a pair and the expiry step, for list's status. */
struct worst {
	enum pki_severity severity;
	char tag[64];
	enum pki_expiry expiry;
};

static void worst_finding(const struct pki_finding *f, void *context)
{
	struct worst *w = context;
	if (f->severity > w->severity) {
		w->severity = f->severity;
		strlcpy_sp(w->tag, f->tag, sizeof(w->tag));
	}
	if (f->expiry > w->expiry)
		w->expiry = f->expiry;
}

/* list's STATUS: an error first (expired, key mismatch ...), then how soon
 * the pair expires, then a warning's tag, else "ok". */
static const char *status_text(const struct worst *w)
{
	if (w->severity == PKI_ERROR)
		return w->tag;
	if (w->expiry >= PKI_EXPIRY_14)
		return errfmt("expires within %d days", PKI_EXPIRY_FAIL_DAYS);
	if (w->expiry == PKI_EXPIRY_30)
		return errfmt("expires within %d days", PKI_EXPIRY_WARN_DAYS);
	return w->tag;
}

struct check_count {
	unsigned errors, warnings;
};

/* check: passed checks on stdout, problems on stderr. A certificate within
 * PKI_EXPIRY_FAIL_DAYS of expiry fails the check, for cron and monitoring. */
static void print_finding(const struct pki_finding *f, void *context)
{
	struct check_count *n = context;
	bool due = f->expiry >= PKI_EXPIRY_14 && f->expiry < PKI_EXPIRY_EXPIRED;

	if (f->severity == PKI_OK) {
		printf("ok       %s\n", f->text);
		return;
	}
	fflush(stdout);
	if (due) {
		n->errors++;
		fprintf(stderr, "sealpost: %s: %s; renew it (cert check fails "
			"within %d days of expiry)\n", f->file, f->text,
			PKI_EXPIRY_FAIL_DAYS);
	} else {
		if (f->severity == PKI_WARNING)
			n->warnings++;
		else
			n->errors++;
		fprintf(stderr, "sealpost: %s%s: %s\n", f->severity == PKI_WARNING ?
			"warning: " : "", f->file, f->text);
	}
	fflush(stderr);
}

/* show: every finding on stdout. */
static void show_finding(const struct pki_finding *f, void *context)
{
	static const char *const label[] = { "ok", "warning", "ERROR" };
	printf("check        %-8s %s\n", label[f->severity], f->text);
}

static int host_opt(const struct cli_command *cmd, const struct cli_args *args,
		    const char **host_r)
{
	const char *host = cli_opt(args, "host");

	if (host != NULL && !pki_dns_name_valid(host, false) && !pki_ip_valid(host))
		return cli_cert_option_error(cmd, errfmt(
			"host '%s': expected a host name or IP address", host));
	*host_r = host;
	return CLI_OK;
}

/* Read NAME of cfg's folder for show/check; prints the error. */
static int read_pair(const struct cli_command *cmd, const struct config *cfg,
		     const char *name, struct pki_pair **pair_r)
{
	const char *error;

	if (!pki_name_valid(name))
		return cli_cert_name_error(cmd, name);
	if (pki_pair_read(cfg->certs_dir, name, pair_r, &error) < 0)
		return cli_fail("%s", error);
	return CLI_OK;
}

/* With a config file: which configured names the pair serves, and who
 * serves --host. Loads the other pairs quietly: only this one is judged. */
static unsigned check_config_names(const struct config *cfg,
				   const struct pki_pair *pair, const char *host)
{
	struct pki_set *set;
	unsigned warnings;

	if (cfg->path == NULL)
		return 0;
	pki_set_load(cfg, time(NULL), NULL, NULL, &set);
	warnings = cli_check_serving(set, pair, host);
	pki_set_free(&set);
	return warnings;
}

int cmd_cert_check(const struct cli_command *cmd, struct cli_args *args)
{
	struct check_count n = { 0, 0 };
	struct pki_pair *pair;
	struct config *cfg;
	const char *host;
	int ret;

	if ((ret = host_opt(cmd, args, &host)) != CLI_OK)
		return ret;
	if (!pki_name_valid(args->pos[0]))
		return cli_cert_name_error(cmd, args->pos[0]);
	if (cli_cert_config(args, &cfg) < 0)
		return CLI_FAIL;
	if ((ret = read_pair(cmd, cfg, args->pos[0], &pair)) != CLI_OK) {
		config_free(&cfg);
		return ret;
	}
	pki_pair_check(pair, host, time(NULL), print_finding, &n);
	n.warnings += check_config_names(cfg, pair, host);
	if (n.errors == 0)
		printf("%s: ok%s\n", pair->name, n.warnings == 0 ? "" :
		       errfmt(", %u warning%s", n.warnings,
			      n.warnings == 1 ? "" : "s"));
	else
		printf("%s: %u error%s, %u warning%s\n", pair->name, n.errors,
		       n.errors == 1 ? "" : "s", n.warnings,
		       n.warnings == 1 ? "" : "s");
	pki_pair_free(&pair);
	config_free(&cfg);
	return n.errors == 0 ? CLI_OK : CLI_FAIL;
}

/* ---- show ------------------------------------------------------------ */

static void show_chain(const struct pki_pair *pair)
{
	int n = sk_X509_num(pair->chain);

	if (n == 0)
		printf("chain        none%s\n", pki_cert_self_signed(pair->cert) ?
		       " (self-signed)" : " (issued directly by a root)");
	for (int i = 0; i < n; i++) {
		X509 *cert = sk_X509_value(pair->chain, i);
		char *subject = pki_name_oneline(X509_get_subject_name(cert));
		char *issuer = pki_name_oneline(X509_get_issuer_name(cert));
		printf("chain %-6d %s (issuer %s, valid until %s)\n", i + 1,
		       subject, issuer, pki_time_text(X509_get0_notAfter(cert)));
		free(subject);
		free(issuer);
	}
}

static void show_pair(const struct pki_pair *pair, time_t now)
{
	X509 *cert = pair->cert;
	char *subject = pki_name_oneline(X509_get_subject_name(cert));
	char *issuer = pki_cert_self_signed(cert) ? xstrdup("self-signed") :
		pki_name_oneline(X509_get_issuer_name(cert));
	char *sans = pki_cert_sans(cert), *serial = pki_cert_serial(cert);
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	char fp[PKI_FINGERPRINT_LEN + 1];
	long left;

	pki_cert_fingerprint(cert, fp);
	printf("name         %s\n", pair->name);
	printf("files        %s, %s\n", pair->crt_path, pair->key_path);
	printf("subject      %s\n", subject);
	printf("names        %s\n", *sans != '\0' ? sans : "(none)");
	printf("issuer       %s\n", issuer);
	printf("key          %s, %s\n", pki_key_describe(pair->key),
	       pki_key_matches(pair->key, cert) ? "matches the certificate" :
	       "DOES NOT match the certificate");
	printf("valid from   %s\n", pki_time_text(X509_get0_notBefore(cert)));
	left = pki_days_until(na, now);
	printf("valid until  %s (%s)\n", pki_time_text(na), left >= 0 ?
	       errfmt("%ld days left", left) : errfmt("expired %ld days ago", -left));
	printf("serial       %s\n", serial);
	printf("sha256       %s\n", fp);
	show_chain(pair);
	free(subject);
	free(issuer);
	free(sans);
	free(serial);
}

int cmd_cert_show(const struct cli_command *cmd, struct cli_args *args)
{
	struct pki_pair *pair;
	struct config *cfg;
	const char *host;
	time_t now = time(NULL);
	int ret;

	if ((ret = host_opt(cmd, args, &host)) != CLI_OK)
		return ret;
	if (!pki_name_valid(args->pos[0]))
		return cli_cert_name_error(cmd, args->pos[0]);
	if (cli_cert_config(args, &cfg) < 0)
		return CLI_FAIL;
	ret = read_pair(cmd, cfg, args->pos[0], &pair);
	config_free(&cfg);
	if (ret != CLI_OK)
		return ret;
	show_pair(pair, now);
	pki_pair_check(pair, host, now, show_finding, NULL);
	pki_pair_free(&pair);
	return CLI_OK;
}

/* ---- list ------------------------------------------------------------ */

static void list_pair(const char *dir, const struct pki_store_entry *e,
		      time_t now)
{
	struct worst w = { PKI_OK, "ok", PKI_EXPIRY_NONE };
	struct pki_pair *pair;
	const char *error;
	char *cn;

	if (!e->has_crt || !e->has_key) {
		printf("%-16s %-30s %-12s %-10s %5s  incomplete (no %s.%s)\n",
		       e->name, "-", "-", "-", "-", e->name,
		       e->has_crt ? "key" : "crt");
		return;
	}
	if (pki_pair_read(dir, e->name, &pair, &error) < 0) {
		printf("%-16s %-30s %-12s %-10s %5s  unreadable\n", e->name, "-",
		       "-", "-", "-");
		fflush(stdout);
		fprintf(stderr, "sealpost: %s\n", error);
		return;
	}
	pki_pair_check(pair, NULL, now, worst_finding, &w);
	cn = pki_cert_cn(pair->cert);
	printf("%-16s %-30s %-12s %-10.10s %5ld  %s\n", pair->name, cn,
	       pki_key_describe(pair->key),
	       pki_time_text(X509_get0_notAfter(pair->cert)),
	       pki_days_until(X509_get0_notAfter(pair->cert), now),
	       status_text(&w));
	free(cn);
	pki_pair_free(&pair);
}

int cmd_cert_list(const struct cli_command *cmd, struct cli_args *args)
{
	struct pki_store_entry *entries;
	size_t n;
	const char *error;
	char *dir = certs_dir(args);
	time_t now = time(NULL);

	if (dir == NULL)
		return CLI_FAIL;
	if (pki_store_list(dir, &entries, &n, &error) < 0) {
		free(dir);
		return cli_fail("%s", error);
	}
	if (n == 0)
		printf("no certificates in %s\n", dir);
	else
		printf("%-16s %-30s %-12s %-10s %5s  %s\n", "NAME", "SUBJECT CN",
		       "KEY", "EXPIRES", "DAYS", "STATUS");
	for (size_t i = 0; i < n; i++)
		list_pair(dir, &entries[i], now);
	pki_store_list_free(&entries, n);
	free(dir);
	return CLI_OK;
}
