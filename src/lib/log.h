/* log.h — one line per event on stderr.
 *
 * Line format: "<time> sealpost[<pid>]: <level> <text>", where text for a
 * session event is "<session id> <proto> <event> key=value ...". Values that
 * come from peers must be passed through log_value() or str_sanitize().
 *
 * In the server (after log_async_start()) a line is only copied into a
 * queue of LOG_QUEUE_MAX bytes; a thread of its own writes the queue to
 * stderr, so an event loop never waits for a slow or full stderr (a pipe
 * nobody reads, a stalled journal). When the queue is full, lines are
 * dropped and counted; once stderr takes lines again, one line says how
 * many: "log dropped lines=N reason=...". Elsewhere (the CLI, a child
 * before its own start) every line is one write(2). Thread-safe. */
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

/* Lines held for the writer thread: 256 KiB, a few thousand lines, rides
 * out a stall of seconds at full load before anything is dropped. */
#define LOG_QUEUE_MAX (256 * 1024)
/* How long log_flush() waits at the end of a process. */
#define LOG_FLUSH_MS 2000
/* Start the writer thread of this process (once per process: a forked
 * child starts its own; it takes no signals). */
int log_async_start(const char **error_r);
/* Wait until the queue is written, at most max_ms (stderr may be stuck). */
void log_flush(unsigned max_ms);

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
