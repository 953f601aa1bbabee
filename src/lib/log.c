/* log.c — timestamped single-line events on stderr, written by a thread
 * of their own in the server (log.h). */
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Longest line, with its LF: less than PIPE_BUF, so one write(2) of
 * whole lines is never split on a pipe. */
#define LOG_LINE_MAX 2048
_Static_assert(LOG_LINE_MAX <= PIPE_BUF, "a line fits one atomic pipe write");

static enum log_level current_level = LOG_LEVEL_INFO;

/* Lines waiting for the writer thread, at most LOG_QUEUE_MAX bytes in a
 * ring; a line that does not fit is dropped and counted. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* lines for the writer */
	pthread_cond_t idle;         /* the writer has written everything */
	char ring[LOG_QUEUE_MAX];
	size_t head, used;
	unsigned long dropped;       /* since the last note about it */
	bool writing;                /* a write(2) is under way */
	bool started;                /* the writer is in its loop */
	bool atfork_set;
} queue = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};
/* The process whose writer thread runs; lines of any other (a child
 * before its own log_async_start(), the CLI) are written directly. */
static _Atomic pid_t writer_pid;

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

/* One line with its time stamp and LF into line (size bytes); returns
 * its length. */
__attribute__((format(printf, 4, 0)))
static size_t log_vformat(char *line, size_t size, enum log_level level,
			  const char *fmt, va_list ap)
{
	char stamp[32];
	struct timeval tv;
	struct tm tm;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, size, "%s.%03dZ sealpost[%d]: %s: ", stamp,
		     (int)(tv.tv_usec / 1000), (int)getpid(), level_names[level]);
	vsnprintf(line + n, size - (size_t)n, fmt, ap);
	/* One event, one line: a stray newline never splits an entry. */
	for (char *p = line + n; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	size_t len = strlen(line);
	if (len > size - 2)
		len = size - 2;
	line[len++] = '\n';
	line[len] = '\0';
	return len;
}

__attribute__((format(printf, 4, 5)))
static size_t log_format(char *line, size_t size, enum log_level level,
			 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t len = log_vformat(line, size, level, fmt, ap);
	va_end(ap);
	return len;
}

/* write(2) all of buf, retrying after signals and short writes; gives
 * up on an error (there is nobody to tell). */
static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Add one line to the ring, or count it dropped. Locked. */
static void enqueue(const char *line, size_t len)
{
	if (queue.used + len > LOG_QUEUE_MAX) {
		queue.dropped++;
		return;
	}
	size_t tail = (queue.head + queue.used) % LOG_QUEUE_MAX;
	size_t first = len < LOG_QUEUE_MAX - tail ? len : LOG_QUEUE_MAX - tail;
	memcpy(queue.ring + tail, line, first);
	memcpy(queue.ring, line + first, len - first);
	/* Only a writer that has nothing to do sleeps on wake: one signal
	 * when the queue fills from empty, not one per line. */
	if (queue.used == 0 && !queue.writing)
		pthread_cond_signal(&queue.wake);
	queue.used += len;
}

/* Take whole lines, at most PIPE_BUF octets, off the ring into chunk (or
 * the note about dropped lines once the ring is empty). Locked. */
static size_t dequeue(char chunk[PIPE_BUF])
{
	size_t n = queue.used < PIPE_BUF ? queue.used : PIPE_BUF;

	if (n == 0) {
		char line[LOG_LINE_MAX];
		size_t len = log_format(line, sizeof(line), LOG_LEVEL_WARN,
					"log dropped lines=%lu reason=\"stderr not "
					"writable\"", queue.dropped);
		queue.dropped = 0;
		memcpy(chunk, line, len);
		return len;
	}
	for (size_t i = 0; i < n; i++)
		chunk[i] = queue.ring[(queue.head + i) % LOG_QUEUE_MAX];
	while (chunk[n - 1] != '\n')    /* lines are shorter than PIPE_BUF */
		n--;
	queue.head = (queue.head + n) % LOG_QUEUE_MAX;
	queue.used -= n;
	return n;
}

/* The writer waits this long after a wake-up for more lines to come. */
#define LOG_GATHER_US 2000

static void *writer_main(void *arg)
{
	char chunk[PIPE_BUF];

	pthread_mutex_lock(&queue.lock);
	queue.started = true;
	pthread_cond_broadcast(&queue.idle);
	for (;;) {
		while (queue.used == 0 && queue.dropped == 0)
			pthread_cond_wait(&queue.wake, &queue.lock);
		/* Let the lines of a busy moment gather (each connection logs a
		 * few): one wake-up and one write for many, not one each. */
		if (queue.used < PIPE_BUF / 2) {
			struct timespec nap = { 0, LOG_GATHER_US * 1000 };
			queue.writing = true;
			pthread_mutex_unlock(&queue.lock);
			nanosleep(&nap, NULL);
			pthread_mutex_lock(&queue.lock);
		}
		size_t n = dequeue(chunk);
		queue.writing = true;
		pthread_mutex_unlock(&queue.lock);
		/* One write(2) of whole lines up to PIPE_BUF: atomic on a pipe,
		 * so lines of several processes never interleave. */
		write_all(chunk, n);
		pthread_mutex_lock(&queue.lock);
		queue.writing = false;
		if (queue.used == 0 && queue.dropped == 0)
			pthread_cond_broadcast(&queue.idle);
	}
	return NULL;
}

/* fork(2) with the lock held by nobody; the child starts with an empty
 * queue (the parent's writer writes those lines) and no writer. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&queue.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&queue.lock);
}

static void atfork_child(void)
{
	queue.head = queue.used = 0;
	queue.dropped = 0;
	queue.writing = false;
	queue.started = false;
	/* The parent's writer may have been waiting on the condition
	 * variables: their copies count a waiter this process does not have
	 * (a signal would wait for it for ever). Start them afresh. */
	pthread_cond_init(&queue.wake, NULL);
	pthread_cond_init(&queue.idle, NULL);
	pthread_mutex_init(&queue.lock, NULL);
}

int log_async_start(const char **error_r)
{
	sigset_t all, old;
	pthread_t thread;
	int err;

	if (writer_pid == getpid())
		return 0;
	if (!queue.atfork_set) {
		if ((err = pthread_atfork(atfork_prepare, atfork_parent,
					  atfork_child)) != 0) {
			*error_r = errfmt("log writer: %s", strerror(err));
			return -1;
		}
		queue.atfork_set = true;
	}
	/* The writer takes no signal: the master waits for them with
	 * sigtimedwait() in its main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&thread, NULL, writer_main, NULL);
	if (err == 0)
		(void)pthread_setname_np(thread, "sealpost-log");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		*error_r = errfmt("log writer: %s", strerror(err));
		return -1;
	}
	pthread_detach(thread);
	/* Return only once the thread runs its loop: a fork(2) (the master
	 * forks workers) while a thread is still starting up can leave the
	 * child with a lock of the allocator held (seen with ASan). */
	pthread_mutex_lock(&queue.lock);
	while (!queue.started)
		pthread_cond_wait(&queue.idle, &queue.lock);
	pthread_mutex_unlock(&queue.lock);
	writer_pid = getpid();
	return 0;
}

void log_flush(unsigned max_ms)
{
	struct timespec until;

	if (writer_pid != getpid())
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += max_ms / 1000;
	until.tv_nsec += (long)(max_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&queue.lock);
	while (queue.used > 0 || queue.dropped > 0 || queue.writing) {
		if (pthread_cond_timedwait(&queue.idle, &queue.lock, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&queue.lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	size_t len = log_vformat(line, sizeof(line), level, fmt, ap);
	va_end(ap);
	if (writer_pid != getpid()) {
		/* One write(2) per line: lines from several processes never
		 * interleave. */
		write_all(line, len);
		return;
	}
	pthread_mutex_lock(&queue.lock);
	enqueue(line, len);
	pthread_mutex_unlock(&queue.lock);
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
