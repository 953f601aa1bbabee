/* filestream.c — chunked, flow-controlled file output. */
#include "net/filestream.h"
#include "net/jobs.h"
#include "net/session.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* One piece of the stream (see struct fstream_segment); the legacy single
 * range of fstream_start() counts file bytes and may end early. */
struct fseg {
	const unsigned char *data;  /* in fstream.data_copy, or NULL */
	int fd;                     /* its own file (closed at the end), or -1 */
	uint64_t offset;
	uint64_t in_left;           /* file bytes left; UINT64_MAX: to the end */
	uint64_t skip;              /* output bytes still to drop */
	uint64_t out_left;          /* output bytes left; UINT64_MAX: no limit */
	unsigned flags;
	long body_lines;
	bool exact;                 /* EOF before out_left is reached: error */
};

struct fstream {
	struct session_job job;     /* one read at a time */
	struct session *s;
	int fd;
	struct fseg *segs;
	size_t n_segs, cur;
	unsigned char *data_copy;   /* the bytes of every data segment */
	unsigned end_flags;         /* FSTREAM_DOTSTUFF: end with CRLF.CRLF */
	struct fstream_state st;
	uint64_t pos;               /* next file offset */
	unsigned char buf[FSTREAM_CHUNK];
	ssize_t got;                /* last read: bytes, or -1 */
	int read_errno;
	bool job_running;
	bool waiting_drain;
	bool always_done;           /* done() even when the session closed */
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

static void read_work(struct session_job *job)
{
	struct fstream *fs = (struct fstream *)job;
	const struct fseg *seg = &fs->segs[fs->cur];
	uint64_t want = sizeof(fs->buf);

	if (seg->in_left < want)
		want = seg->in_left;
	/* Each input byte gives at least one output byte: read no more than
	 * the segment can still use. */
	if (seg->out_left != UINT64_MAX && seg->skip + seg->out_left < want)
		want = seg->skip + seg->out_left;
	do {
		fs->got = pread(seg->fd >= 0 ? seg->fd : fs->fd, fs->buf, (size_t)want,
				(off_t)fs->pos);
	} while (fs->got < 0 && errno == EINTR);
	fs->read_errno = errno;
}

static void read_done(struct session_job *job, bool live);

static void next_read(struct fstream *fs)
{
	fs->job_running = true;
	fs->job.work = read_work;
	fs->job.done = read_done;
	/* In the background of the hold the whole stream keeps. */
	session_job_start(fs->s, &fs->job, SESSION_JOB_BACKGROUND);
}

static void finish(struct fstream *fs, bool ok)
{
	struct session *s = fs->s;

	if (ok && (fs->end_flags & FSTREAM_DOTSTUFF)) {
		/* RFC 1939 3: the multi-line answer ends with CRLF.CRLF. */
		if (!fs->st.line_start)
			session_write(s, "\r\n", 2);
		session_write(s, ".\r\n", 3);
	}
	s->stream = NULL;
	if (fs->fd >= 0)
		close(fs->fd);
	for (size_t i = 0; i < fs->n_segs; i++) {
		if (fs->segs[i].fd >= 0)
			close(fs->segs[i].fd);
	}
	if (!s->closing || fs->always_done)
		fs->done(s, fs->ctx, ok && !s->closing);
	free(fs->segs);
	free(fs->data_copy);
	free(fs);
	session_resume(s);
}

static bool seg_finished(const struct fstream *fs, const struct fseg *seg)
{
	return seg->in_left == 0 || seg->out_left == 0 || fs->st.done;
}

/* Make segment i the current one. */
static void seg_enter(struct fstream *fs, size_t i)
{
	fs->cur = i;
	if (i < fs->n_segs) {
		fs->pos = fs->segs[i].offset;
		fstream_state_init(&fs->st, fs->segs[i].body_lines);
	}
}

/* Send what is in memory, read more if the client keeps up, else wait for
 * the queue to drain. */
static void pump(struct fstream *fs)
{
	if (fs->s->closing) {
		finish(fs, false);
		return;
	}
	for (;;) {
		if (fs->cur == fs->n_segs) {
			finish(fs, true);
			return;
		}
		struct fseg *seg = &fs->segs[fs->cur];
		if (seg->data != NULL) {
			session_write(fs->s, seg->data, (size_t)seg->out_left);
			seg_enter(fs, fs->cur + 1);
			continue;
		}
		if (seg_finished(fs, seg)) {
			seg_enter(fs, fs->cur + 1);
			continue;
		}
		break;
	}
	if (session_output_len(fs->s) >= FSTREAM_OUTPUT_HIGH) {
		fs->waiting_drain = true;
		return;
	}
	next_read(fs);
}

/* Queue the transformed chunk, less the bytes to skip, up to out_left. */
static void emit(struct fstream *fs, struct fseg *seg, const unsigned char *out,
		 size_t n)
{
	size_t drop = seg->skip < n ? (size_t)seg->skip : n;
	seg->skip -= drop;
	out += drop;
	n -= drop;
	if (seg->out_left != UINT64_MAX) {
		if (n > seg->out_left)
			n = (size_t)seg->out_left;
		seg->out_left -= n;
	}
	session_write(fs->s, out, n);
}

static void read_done(struct session_job *job, bool live)
{
	struct fstream *fs = (struct fstream *)job;
	struct fseg *seg = &fs->segs[fs->cur];
	unsigned char out[FSTREAM_CHUNK * 3 + 2];

	fs->job_running = false;
	if (!live) {
		finish(fs, false);
		return;
	}
	if (fs->got < 0) {
		session_log(fs->s, LOG_LEVEL_ERROR, "read error=\"%s\"",
			    strerror(fs->read_errno));
		finish(fs, false);
		return;
	}
	if (fs->got == 0) {          /* the file is shorter than promised */
		if (seg->exact && seg->out_left > 0) {
			session_log(fs->s, LOG_LEVEL_ERROR, "read error=\"file "
				    "shorter than its message size\"");
			finish(fs, false);
			return;
		}
		seg->in_left = 0;
	}
	fs->pos += (uint64_t)fs->got;
	seg->in_left -= seg->in_left == UINT64_MAX ? 0 : (uint64_t)fs->got;
	size_t n = fstream_transform(&fs->st, seg->flags, fs->buf,
				     (size_t)fs->got, out);
	emit(fs, seg, out, n);
	pump(fs);
}

static struct fstream *fstream_new(struct session *s, int fd,
				   fstream_done_cb *done, void *ctx)
{
	struct fstream *fs = xcalloc(1, sizeof(*fs));

	fs->s = s;
	fs->fd = fd;
	fs->done = done;
	fs->ctx = ctx;
	return fs;
}

static void fstream_run(struct fstream *fs)
{
	fs->s->stream = fs;
	session_suspend(fs->s);
	seg_enter(fs, 0);
	pump(fs);
}

void fstream_start(struct session *s, int fd, const struct fstream_opts *opts,
		   fstream_done_cb *done, void *ctx)
{
	struct fstream *fs = fstream_new(s, fd, done, ctx);

	fs->segs = xcalloc(1, sizeof(*fs->segs));
	fs->n_segs = 1;
	fs->segs[0].fd = -1;
	fs->segs[0].offset = opts->offset;
	fs->segs[0].in_left = opts->length;
	fs->segs[0].out_left = UINT64_MAX;
	fs->segs[0].flags = opts->flags;
	fs->segs[0].body_lines = opts->body_lines;
	fs->end_flags = opts->flags & FSTREAM_DOTSTUFF;
	fstream_run(fs);
}

void fstream_start_segments(struct session *s, int fd,
			    const struct fstream_segment *segs, size_t n,
			    fstream_done_cb *done, void *ctx)
{
	struct fstream *fs = fstream_new(s, fd, done, ctx);
	size_t data_len = 0, pos = 0;

	for (size_t i = 0; i < n; i++)
		data_len += segs[i].data != NULL ? (size_t)segs[i].length : 0;
	fs->data_copy = xmalloc(data_len + 1);
	fs->segs = xcalloc(n + 1, sizeof(*fs->segs));
	fs->n_segs = n;
	fs->always_done = true;
	for (size_t i = 0; i < n; i++) {
		struct fseg *seg = &fs->segs[i];
		seg->fd = -1;
		if (segs[i].data != NULL) {
			memcpy(fs->data_copy + pos, segs[i].data, (size_t)segs[i].length);
			seg->data = fs->data_copy + pos;
			pos += (size_t)segs[i].length;
		} else {
			seg->fd = segs[i].fd;
		}
		seg->offset = segs[i].offset;
		seg->in_left = UINT64_MAX;
		seg->skip = segs[i].skip;
		seg->out_left = segs[i].length;
		seg->flags = segs[i].crlf ? FSTREAM_CRLF : 0;
		seg->body_lines = -1;
		seg->exact = true;
	}
	fstream_run(fs);
}

void fstream_drained(struct session *s)
{
	struct fstream *fs = s->stream;
	if (fs != NULL && fs->waiting_drain && !fs->job_running) {
		fs->waiting_drain = false;
		pump(fs);
	}
}
