/* cli_cert.h — what the certificate commands share: the certs folder, the
 * config they read it from, their option errors, and the configured set of
 * pairs that check-config and `cert check` describe (cli_certset.c). */
#ifndef SEALPOST_CLI_CERT_H
#define SEALPOST_CLI_CERT_H

#include "cli/cli.h"
#include "pki/pki_set.h"

/* The config of a cert command, with certs_dir replaced by --dir when given
 * (the config file is then optional: a missing one gives the defaults and
 * cfg->path NULL). Prints the error and returns -1 on failure. */
int cli_cert_config(const struct cli_args *args, struct config **cfg_r);

/* A usage error about an option: "sealpost: --<text>", then the usage. */
int cli_cert_option_error(const struct cli_command *cmd, const char *text);
/* A usage error for a NAME that cannot be a pair name. */
int cli_cert_name_error(const struct cli_command *cmd, const char *name);

/* ---- the configured set (cli_certset.c) ----------------------------- */

/* How a configured name is served, for a "serves" line:
 * "mail, mail-ec (hostname; default)" (errfmt() text). */
const char *cli_serving_text(const struct pki_set *set,
			     const struct pki_name_status *st);
/* One "serves      NAME -> PAIRS (HOW)" line per configured name. */
void cli_print_serving(const struct pki_set *set);
/* For `cert check NAME`: the configured names pair (read from the certs
 * folder as NAME) serves, one "serves   ..." line each, a warning for each
 * it does not cover, and for host (may be NULL) which pair serves it.
 * Returns the number of warnings printed. */
unsigned cli_check_serving(const struct pki_set *set,
			   const struct pki_pair *pair, const char *host);

#endif
