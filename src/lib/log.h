/* log.h — one line per event on stderr.
 *
 * Line format: "<time> sealpost[<pid>]: <level> <text>", where text for a
 * session event is "<session id> <proto> <event> key=value ...". Values that
 * come from peers must be passed through log_value() or str_sanitize(). */
#ifndef SEALPOST_LOG_H
#define SEALPOST_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_level_parse(const char *name, enum log_level *level_r);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_LEVEL_DEBUG) \
	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

/* Peer-supplied text made safe for a quoted log value: control bytes
 * become '?', '"' and '\\' are escaped, at most LOG_VALUE_MAX bytes are
 * kept. Returned in errfmt()'s per-thread ring (see util.h). */
#define LOG_VALUE_MAX 256
const char *log_value(const char *s);

/* 8 hex digits identifying a session in every line it logs. */
#define LOG_SESSION_ID_LEN 8
void log_new_session_id(char id_r[LOG_SESSION_ID_LEN + 1]);

#endif
