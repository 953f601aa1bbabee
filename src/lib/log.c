/* log.c — timestamped single-line events on stderr. */
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static enum log_level current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

bool log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < N_ELEMENTS(level_names); i++) {
		if (str_ieq(name, level_names[i])) {
			*level_r = (enum log_level)i;
			return true;
		}
	}
	if (str_ieq(name, "warn")) {
		*level_r = LOG_LEVEL_WARN;
		return true;
	}
	return false;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if (level > current_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03dZ sealpost[%d]: %s: ", stamp,
		     (int)(tv.tv_usec / 1000), (int)getpid(), level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One event, one line: a stray newline never splits an entry. */
	for (char *p = line + n; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	/* One write(2) per line: lines from several processes never interleave. */
	size_t len = strlen(line);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t ignored = write(STDERR_FILENO, line, len);
	(void)ignored;
}

const char *log_value(const char *s)
{
	char out[LOG_VALUE_MAX * 2 + 1];
	size_t j = 0;

	for (size_t i = 0; s[i] != '\0' && i < LOG_VALUE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			out[j++] = '\\';
		out[j++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[j] = '\0';
	return errfmt("%s", out);
}

void log_new_session_id(char id_r[LOG_SESSION_ID_LEN + 1])
{
	unsigned char r[LOG_SESSION_ID_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	for (size_t i = 0; i < sizeof(r); i++) {
		id_r[2 * i] = hex[r[i] >> 4];
		id_r[2 * i + 1] = hex[r[i] & 0xf];
	}
	id_r[LOG_SESSION_ID_LEN] = '\0';
}
