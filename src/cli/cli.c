/* cli.c — command table, dispatch and option parsing. */
#include "cli/cli.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_command commands[] = {
	{ "serve", cmd_serve, 0, 0, "", "[-c FILE]" },
	{ "check-config", cmd_check_config, 0, 0, "", "[-c FILE]" },
	{ "reload", cmd_reload, 0, 0, "", "[-c FILE]" },
	{ "tls check", cmd_tls_check, 0, 0, "", "[-c FILE]" },
	{ "cert create", cmd_cert_create, 1, 1,
	  "cn=,san=,type=,bits=,days=,org=,unit=,locality=,state=,country=,"
	  "email=,force,dir=",
	  "NAME --cn HOST [--san DNS:x,IP:y,...] [--type rsa|ecdsa (default rsa)]\n"
	  "                       [--bits 2048|4096 (default 4096)] [--days N (default 365)]\n"
	  "                       [--org O] [--unit OU] [--locality L] [--state ST]\n"
	  "                       [--country CC] [--email E] [--force] [--dir DIR]" },
	{ "cert import", cmd_cert_import, 1, 1,
	  "key=,name=,passphrase-file=,force,dir=",
	  "CERTFILE [--key KEYFILE] [--name NAME] [--passphrase-file F]\n"
	  "                       [--force] [--dir DIR]" },
	{ "cert list", cmd_cert_list, 0, 0, "dir=", "[--dir DIR]" },
	{ "cert show", cmd_cert_show, 1, 1, "host=,dir=", "NAME [--host HOST] [--dir DIR]" },
	{ "cert check", cmd_cert_check, 1, 1, "host=,dir=", "NAME [--host HOST] [--dir DIR]" },
	{ "cert tlsa", cmd_cert_tlsa, 1, 1, "host=,port=,next=,dir=",
	  "NAME [--host HOST (default: hostname)] [--port P (default 25)]\n"
	  "                       [--next KEYFILE] [--dir DIR]" },
	{ "user add", cmd_user_add, 1, 1, "password-file=",
	  "ADDRESS [--password-file F]   (else first line of stdin)" },
	{ "user passwd", cmd_user_passwd, 1, 1, "password-file=",
	  "ADDRESS [--password-file F]" },
	{ "user del", cmd_user_del, 1, 1, "", "ADDRESS" },
	{ "user list", cmd_user_list, 0, 0, "", "[-c FILE]" },
	{ "user test", cmd_user_test, 1, 1, "password-file=",
	  "ADDRESS [--password-file F]" },
	{ "dns", cmd_dns, 1, 1, "port=,timeout=,all-tlsa",
	  "DOMAIN [--port N (default 25)] [--timeout SECONDS] [--all-tlsa]" },
	{ "queue list", cmd_queue_list, 0, 0, "", "[-c FILE]" },
	{ "queue show", cmd_queue_show, 1, 1, "", "ID" },
	{ "queue flush", cmd_queue_flush, 0, 1, "", "[ID]   (on the running server)" },
	{ "queue delete", cmd_queue_delete, 1, 1, "", "ID" },
};

const char *cli_opt(const struct cli_args *args, const char *name)
{
	for (size_t i = 0; i < args->n_opts; i++) {
		if (strcmp(args->opt_name[i], name) == 0)
			return args->opt_value[i];
	}
	return NULL;
}

bool cli_flag(const struct cli_args *args, const char *name)
{
	return cli_opt(args, name) != NULL;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sp_vprint_error(fmt, ap);
	va_end(ap);
	return CLI_FAIL;
}

int cli_usage(const struct cli_command *cmd, const char *problem)
{
	if (problem != NULL)
		fprintf(stderr, "sealpost: %s\n", problem);
	fprintf(stderr, "usage: sealpost %s %s\n", cmd->words, cmd->usage);
	return CLI_USAGE;
}

static void print_all_usage(FILE *fp)
{
	fputs("usage:\n", fp);
	for (size_t i = 0; i < N_ELEMENTS(commands); i++)
		fprintf(fp, "  sealpost %s %s\n", commands[i].words, commands[i].usage);
	fputs("Every command takes -c FILE (default " CONFIG_DEFAULT_PATH
	      ", or $" CONFIG_ENV ").\n", fp);
}

/* Look name up in the spec "a=,b,c="; *takes_value_r tells "a=" from "b". */
static bool spec_has(const char *spec, const char *name, size_t namelen,
		     bool *takes_value_r)
{
	const char *p = spec;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool value = len > 0 && p[len - 1] == '=';
		size_t nlen = value ? len - 1 : len;
		if (nlen == namelen && strncmp(p, name, namelen) == 0) {
			*takes_value_r = value;
			return true;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

static int add_option(const struct cli_command *cmd, struct cli_args *args,
		      const char *name, const char *value)
{
	if (cli_opt(args, name) != NULL) {
		fprintf(stderr, "sealpost: --%s given twice\n", name);
		return cli_usage(cmd, NULL);
	}
	if (args->n_opts == CLI_MAX_OPTIONS)
		return cli_usage(cmd, "too many options");
	args->opt_name[args->n_opts] = name;
	args->opt_value[args->n_opts++] = value;
	return CLI_OK;
}

/* Parse argv (after the command words) into args. Returns CLI_OK or CLI_USAGE
 * after printing the problem. Option names point into argv or a static
 * copy owned by `names`. */
static int parse_args(const struct cli_command *cmd, int argc, char **argv,
		      struct cli_args *args, char **names)
{
	bool only_pos = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			if (args->n_pos == cmd->max_pos)
				return cli_usage(cmd, errfmt("unexpected argument '%s'", a));
			args->pos[args->n_pos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 == argc)
				return cli_usage(cmd, "-c needs a FILE");
			args->config_path = argv[++i];
			continue;
		}
		if (a[1] != '-')
			return cli_usage(cmd, errfmt("unknown option '%s'", a));
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
		bool takes_value;
		if (!spec_has(cmd->options, name, namelen, &takes_value))
			return cli_usage(cmd, errfmt("unknown option '--%.*s'",
						     (int)namelen, name));
		names[args->n_opts] = xstrndup(name, namelen);
		const char *value = "";
		if (takes_value) {
			if (eq != NULL)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else
				return cli_usage(cmd, errfmt("--%s needs a value",
							     names[args->n_opts]));
		} else if (eq != NULL) {
			return cli_usage(cmd, errfmt("--%s takes no value",
						     names[args->n_opts]));
		}
		if (add_option(cmd, args, names[args->n_opts], value) != CLI_OK)
			return CLI_USAGE;
	}
	if (args->n_pos < cmd->min_pos)
		return cli_usage(cmd, "missing argument");
	return CLI_OK;
}

int cli_load_config(const struct cli_args *args, bool must_exist,
		    struct config **cfg_r)
{
	const char *path = config_default_path(args->config_path);
	const char *error;

	/* A file named explicitly must exist. */
	if (args->config_path != NULL || getenv(CONFIG_ENV) != NULL)
		must_exist = true;
	if (config_load(path, must_exist, cfg_r, &error) < 0) {
		cli_fail("%s", error);
		return -1;
	}
	return 0;
}

/* The command whose words match the longest prefix of argv. */
static const struct cli_command *find_command(int argc, char **argv,
					      int *nwords_r)
{
	for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
		char words[64];
		int n = 0;
		strlcpy_sp(words, commands[i].words, sizeof(words));
		bool match = true;
		for (char *save = NULL, *w = strtok_r(words, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save), n++) {
			if (n >= argc || strcmp(argv[n], w) != 0) {
				match = false;
				break;
			}
		}
		if (match) {
			*nwords_r = n;
			return &commands[i];
		}
	}
	return NULL;
}

int cli_main(int argc, char **argv)
{
	struct cli_args args = { 0 };
	char *names[CLI_MAX_OPTIONS] = { 0 };
	const struct cli_command *cmd;
	int nwords, ret;

	/* Accept -c FILE before the command too: "sealpost -c f serve". */
	argc--, argv++;
	while (argc >= 2 && (strcmp(argv[0], "-c") == 0 ||
			     strcmp(argv[0], "--config") == 0)) {
		args.config_path = argv[1];
		argc -= 2, argv += 2;
	}
	if (argc == 0) {
		print_all_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0) {
		print_all_usage(stdout);
		return CLI_OK;
	}
	cmd = find_command(argc, argv, &nwords);
	if (cmd == NULL) {
		fprintf(stderr, "sealpost: unknown command '%s'\n", argv[0]);
		print_all_usage(stderr);
		return CLI_USAGE;
	}
	ret = parse_args(cmd, argc - nwords, argv + nwords, &args, names);
	if (ret == CLI_OK)
		ret = cmd->handler(cmd, &args);
	for (size_t i = 0; i < CLI_MAX_OPTIONS; i++)
		free(names[i]);
	fflush(stdout);
	return ret;
}
