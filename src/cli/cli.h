/* cli.h — the command table and argument parsing shared by every command.
 *
 * A command is one row {words, handler, positional counts, options, usage}.
 * Options are declared as a comma-separated spec: "name" for a flag,
 * "name=" for an option taking a value. `-c FILE` is accepted by every
 * command. */
#ifndef SEALPOST_CLI_H
#define SEALPOST_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

#define CLI_MAX_POSITIONAL 4
#define CLI_MAX_OPTIONS 24

enum cli_exit {
	CLI_OK = 0,
	CLI_FAIL = 1,
	CLI_USAGE = 2,
};

struct cli_args {
	const char *config_path;            /* -c, or NULL */
	const char *pos[CLI_MAX_POSITIONAL];
	size_t n_pos;
	const char *opt_name[CLI_MAX_OPTIONS];
	const char *opt_value[CLI_MAX_OPTIONS]; /* "" for a flag */
	size_t n_opts;
};

struct cli_command;
typedef int cli_handler_t(const struct cli_command *cmd, struct cli_args *args);

struct cli_command {
	const char *words;        /* "cert import" */
	cli_handler_t *handler;
	size_t min_pos, max_pos;  /* positional argument counts */
	const char *options;      /* "key=,force,..." */
	const char *usage;        /* the arguments, for the usage line */
};

/* The value of option name, NULL when absent ("" for a present flag). */
const char *cli_opt(const struct cli_args *args, const char *name);
bool cli_flag(const struct cli_args *args, const char *name);

/* Print "sealpost: <msg>" on stderr; returns CLI_FAIL for tail calls. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the usage line of cmd on stderr; returns CLI_USAGE. */
int cli_usage(const struct cli_command *cmd, const char *problem);

/* Load the config the command names (-c, $SEALPOST_CONF, default). With
 * must_exist false a missing file gives the defaults. Prints the error and
 * returns -1 on failure. */
int cli_load_config(const struct cli_args *args, bool must_exist,
		    struct config **cfg_r);

int cli_main(int argc, char **argv);

/* Send one command line to the running server's control socket; print
 * the answer's lines ("ok ...", "warning ...", "error ...") until "done
 * N". Returns CLI_OK for "done 0". */
int cli_control_command(const struct config *cfg, const char *command);

/* Handlers, one file per command group (cli_<group>.c). */
cli_handler_t cmd_serve, cmd_check_config, cmd_reload;
cli_handler_t cmd_tls_check;     /* cli_tls.c */
cli_handler_t cmd_user_add;       /* cli_user.c */
cli_handler_t cmd_user_passwd;
cli_handler_t cmd_user_del;
cli_handler_t cmd_user_list;
cli_handler_t cmd_user_test;
cli_handler_t cmd_cert_create;   /* cli_cert.c */
cli_handler_t cmd_cert_import;
cli_handler_t cmd_cert_list;
cli_handler_t cmd_cert_show;
cli_handler_t cmd_cert_check;
cli_handler_t cmd_cert_tlsa;     /* cli_cert_dane.c */
cli_handler_t cmd_dns;          /* cli_dns.c */
cli_handler_t cmd_queue_list;   /* cli_queue.c */
cli_handler_t cmd_queue_show;
cli_handler_t cmd_queue_flush;
cli_handler_t cmd_queue_delete;

#endif
