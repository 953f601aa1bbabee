/* cli_password.h — reading a password for a command, never from argv.
 *
 * From --password-file F (its first line), else from stdin: the first line
 * when stdin is a pipe or file, or typed at a prompt without echo when
 * stdin is a terminal. CR/LF are stripped; an empty password is refused. */
#ifndef SEALPOST_CLI_PASSWORD_H
#define SEALPOST_CLI_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/passwd.h"

struct cli_password {
	char text[PASSWD_PASSWORD_MAX + 2]; /* room to see one byte too many */
	size_t len;
};

/* Read the password into pw. file: the --password-file value or NULL.
 * prompt: what to ask on a terminal; confirm: ask a second time and
 * require the same answer. Prints the problem ("sealpost: ...") and
 * returns -1 on failure; pw is wiped either way on failure. */
int cli_password_read(const char *file, const char *prompt, bool confirm,
		      struct cli_password *pw);

/* Wipe pw (OPENSSL_cleanse). */
void cli_password_clear(struct cli_password *pw);

#endif
