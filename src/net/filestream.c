/* filestream.c — chunked, flow-controlled file output. */
#include "net/filestream.h"
#include "net/jobs.h"
#include "net/session.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

struct fstream {
	struct job job;
	struct session *s;
	int fd;
	struct fstream_opts opts;
	struct fstream_state st;
	uint64_t pos;               /* next file offset */
	uint64_t left;              /* file bytes still to read */
	unsigned char buf[FSTREAM_CHUNK];
	ssize_t got;                /* last read: bytes, or -1 */
	bool job_running;
	bool waiting_drain;
	fstream_done_cb *done;
	void *ctx;
};

void fstream_state_init(struct fstream_state *st, long body_lines)
{
	memset(st, 0, sizeof(*st));
	st->line_start = true;
	st->blank_line = true;
	st->body_lines = body_lines;
}

/* One completed line: the blank line ends the header, then count. */
static void end_line(struct fstream_state *st)
{
	if (st->body_lines >= 0) {
		if (st->in_body) {
			if (--st->body_lines <= 0)
				st->done = true;
		} else if (st->blank_line) {
			st->in_body = true;
			if (st->body_lines == 0)
				st->done = true;
		}
	}
	st->line_start = true;
	st->blank_line = true;
}

size_t fstream_transform(struct fstream_state *st, unsigned flags,
			 const unsigned char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len && !st->done; i++) {
		unsigned char c = in[i];
		if (c == '\n') {
			if (!st->prev_cr && (flags & FSTREAM_CRLF))
				out[o++] = '\r';
			out[o++] = '\n';
			st->prev_cr = false;
			end_line(st);
			continue;
		}
		if (st->line_start && c == '.' && (flags & FSTREAM_DOTSTUFF))
			out[o++] = '.';
		if (c != '\r')
			st->blank_line = false;
		else if (st->prev_cr)
			st->blank_line = false;   /* a bare CR is content */
		st->prev_cr = c == '\r';
		st->line_start = false;
		out[o++] = c;
	}
	return o;
}

static void read_work(struct job *job)
{
	struct fstream *fs = (struct fstream *)job;
	size_t want = fs->left < sizeof(fs->buf) ? (size_t)fs->left : sizeof(fs->buf);
	do {
		fs->got = pread(fs->fd, fs->buf, want, (off_t)fs->pos);
	} while (fs->got < 0 && errno == EINTR);
}

static void read_done(struct job *job);

static void next_read(struct fstream *fs)
{
	fs->job_running = true;
	fs->job.work = read_work;
	fs->job.done = read_done;
	jobs_submit(&fs->job);
}

static void finish(struct fstream *fs, bool ok)
{
	struct session *s = fs->s;

	if (ok && (fs->opts.flags & FSTREAM_DOTSTUFF)) {
		/* RFC 1939 3: the multi-line answer ends with CRLF.CRLF. */
		if (!fs->st.line_start)
			session_write(s, "\r\n", 2);
		session_write(s, ".\r\n", 3);
	}
	s->stream = NULL;
	close(fs->fd);
	if (!s->closing)
		fs->done(s, fs->ctx, ok);
	free(fs);
	session_resume(s);
}

/* Read more if the client keeps up, else wait for the queue to drain. */
static void pump(struct fstream *fs)
{
	if (fs->left == 0 || fs->st.done) {
		finish(fs, true);
		return;
	}
	if (session_output_len(fs->s) >= FSTREAM_OUTPUT_HIGH) {
		fs->waiting_drain = true;
		return;
	}
	next_read(fs);
}

static void read_done(struct job *job)
{
	struct fstream *fs = (struct fstream *)job;
	unsigned char out[FSTREAM_CHUNK * 3 + 2];

	fs->job_running = false;
	if (fs->s->closing) {
		finish(fs, false);
		return;
	}
	if (fs->got < 0) {
		session_log(fs->s, LOG_LEVEL_ERROR, "read error=\"%s\"", strerror(errno));
		finish(fs, false);
		return;
	}
	if (fs->got == 0)            /* the file is shorter than promised */
		fs->left = 0;
	fs->pos += (uint64_t)fs->got;
	fs->left -= fs->left == UINT64_MAX ? 0 : (uint64_t)fs->got;
	size_t n = fstream_transform(&fs->st, fs->opts.flags, fs->buf,
				     (size_t)fs->got, out);
	session_write(fs->s, out, n);
	pump(fs);
}

void fstream_start(struct session *s, int fd, const struct fstream_opts *opts,
		   fstream_done_cb *done, void *ctx)
{
	struct fstream *fs = xcalloc(1, sizeof(*fs));

	fs->s = s;
	fs->fd = fd;
	fs->opts = *opts;
	fs->pos = opts->offset;
	fs->left = opts->length;
	fs->done = done;
	fs->ctx = ctx;
	fstream_state_init(&fs->st, opts->body_lines);
	s->stream = fs;
	session_suspend(s);
	pump(fs);
}

void fstream_drained(struct session *s)
{
	struct fstream *fs = s->stream;
	if (fs != NULL && fs->waiting_drain && !fs->job_running) {
		fs->waiting_drain = false;
		pump(fs);
	}
}
