/* cli_password.c — read a password from a file, a pipe or the terminal.
 *
 * The password only ever lives in a struct cli_password: read() goes
 * straight into it (no stdio buffer keeps a copy) and it is wiped after
 * use. It is never printed, logged or echoed. */
#include "cli/cli_password.h"
#include "cli/cli.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal settings to put back if a signal ends us mid-prompt. */
static struct termios saved_termios;

static const int restore_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void restore_and_die(int sig)
{
	/* Both are async-signal-safe. */
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

void cli_password_clear(struct cli_password *pw)
{
	OPENSSL_cleanse(pw->text, sizeof(pw->text));
	pw->len = 0;
}

/* Read the first line of fd into pw, a byte at a time so nothing after it
 * is consumed. source names the input in errors. */
static int read_line(int fd, const char *source, struct cli_password *pw)
{
	pw->len = 0;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_fail("%s: %s", source, strerror(errno));
			return -1;
		}
		if (n == 0 || c == '\n')
			break;
		/* One byte over the limit may still be the '\r' of a CRLF. */
		if (pw->len == PASSWD_PASSWORD_MAX + 1) {
			cli_fail("%s: the password is longer than %d bytes",
				 source, PASSWD_PASSWORD_MAX);
			return -1;
		}
		pw->text[pw->len++] = c;
	}
	if (pw->len > 0 && pw->text[pw->len - 1] == '\r')
		pw->len--;
	pw->text[pw->len] = '\0';
	if (pw->len > PASSWD_PASSWORD_MAX) {
		cli_fail("%s: the password is longer than %d bytes", source,
			 PASSWD_PASSWORD_MAX);
		return -1;
	}
	if (memchr(pw->text, '\0', pw->len) != NULL) {
		cli_fail("%s: the password holds a NUL byte", source);
		return -1;
	}
	if (pw->len == 0) {
		cli_fail("%s: empty password refused", source);
		return -1;
	}
	return 0;
}

/* Prompt on the terminal (stdin) with echo off. */
static int read_tty(const char *prompt, struct cli_password *pw)
{
	struct sigaction sa, old[N_ELEMENTS(restore_signals)];
	struct termios quiet;
	int ret;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0) {
		cli_fail("stdin: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_die;
	for (size_t i = 0; i < N_ELEMENTS(restore_signals); i++)
		sigaction(restore_signals[i], &sa, &old[i]);
	quiet = saved_termios;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	/* Echo off first, then the prompt: nothing typed after the prompt
	 * shows (TCSAFLUSH drops what was typed ahead of it). */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		cli_fail("stdin: %s", strerror(errno));
		ret = -1;
	} else {
		fputs(prompt, stderr);
		fflush(stderr);
		ret = read_line(STDIN_FILENO, "terminal", pw);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
		/* The user's Enter was not echoed either. */
		fputc('\n', stderr);
	}
	for (size_t i = 0; i < N_ELEMENTS(restore_signals); i++)
		sigaction(restore_signals[i], &old[i], NULL);
	return ret;
}

static int read_tty_twice(const char *prompt, struct cli_password *pw)
{
	struct cli_password again;
	int ret = -1;

	if (read_tty(prompt, pw) < 0)
		return -1;
	if (read_tty("Retype the password: ", &again) == 0) {
		if (again.len == pw->len &&
		    CRYPTO_memcmp(again.text, pw->text, pw->len) == 0)
			ret = 0;
		else
			cli_fail("the passwords do not match");
	}
	cli_password_clear(&again);
	return ret;
}

int cli_password_read(const char *file, const char *prompt, bool confirm,
		      struct cli_password *pw)
{
	int ret;

	if (file != NULL) {
		int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			cli_fail("%s: %s", file, strerror(errno));
			return -1;
		}
		ret = read_line(fd, file, pw);
		close(fd);
	} else if (isatty(STDIN_FILENO)) {
		ret = confirm ? read_tty_twice(prompt, pw) : read_tty(prompt, pw);
	} else {
		ret = read_line(STDIN_FILENO, "stdin", pw);
	}
	if (ret < 0)
		cli_password_clear(pw);
	return ret;
}
