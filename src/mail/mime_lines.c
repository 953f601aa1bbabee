/* mime_lines.c — chunked line reader over a mime_reader. */
#include "mail/mime_lines.h"

#include <errno.h>
#include <string.h>

void mime_lines_init(struct mime_lines *lr, const struct mime_reader *r,
	     uint64_t offset, uint64_t limit)
{
	lr->r = r;
	lr->start = lr->end = 0;
	lr->buf_off = offset;
	lr->limit = limit;
	lr->eof = offset >= limit;
	lr->at_line_start = true;
}

/* Read more after the buffered bytes; false on a read error. */
static bool lr_fill(struct mime_lines *lr, const char **error_r)
{
	size_t avail = lr->end - lr->start;
	if (lr->start > 0) {
		memmove(lr->buf, lr->buf + lr->start, avail);
		lr->buf_off += lr->start;
		lr->start = 0;
		lr->end = avail;
	}
	uint64_t pos = lr->buf_off + lr->end;
	size_t want = sizeof(lr->buf) - lr->end;
	if (lr->limit - pos < want)
		want = (size_t)(lr->limit - pos);
	if (want == 0) {
		lr->eof = true;
		return true;
	}
	ssize_t got;
	do {
		got = lr->r->read_at(lr->r->ctx, lr->buf + lr->end, want, pos);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		*error_r = errfmt("read: %s", strerror(errno));
		return false;
	}
	if (got == 0 || (size_t)got > want)
		lr->eof = true;
	else
		lr->end += (size_t)got;
	return true;
}

int mime_lines_next(struct mime_lines *lr, struct mime_line *s, const char **error_r)
{
	for (;;) {
		size_t avail = lr->end - lr->start;
		const char *p = lr->buf + lr->start;
		const char *lf = memchr(p, '\n', avail);
		if (lf != NULL || lr->eof || avail == sizeof(lr->buf)) {
			if (avail == 0)
				return 0;
			size_t n = lf != NULL ? (size_t)(lf - p) + 1 : avail;
			s->data = p;
			s->len = n;
			s->offset = lr->buf_off + lr->start;
			s->line_start = lr->at_line_start;
			s->line_end = lf != NULL;
			lr->at_line_start = lf != NULL;
			lr->start += n;
			return 1;
		}
		if (!lr_fill(lr, error_r))
			return -1;
	}
}
