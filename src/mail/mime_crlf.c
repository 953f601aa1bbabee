/* mime_crlf.c — the CRLF form of an LF-only message (see mime_crlf.h). */
#include "mail/mime_crlf.h"

#include <string.h>

void mime_crlf_init(struct mime_crlf *c, const struct mime_reader *file)
{
	memset(c, 0, sizeof(*c));
	c->file = file;
	c->cap = 16;
	c->marks = xcalloc(c->cap, sizeof(*c->marks));
	c->n_marks = 1;                 /* {0, 0} */
	c->chunk = xmalloc(MIME_CRLF_READ_CHUNK);
}

void mime_crlf_free(struct mime_crlf *c)
{
	x_free(&c->marks);
	x_free(&c->chunk);
	c->n_marks = c->cap = 0;
}

/* A mark at a valid point past the last one by at least the step. */
static void add_mark(struct mime_crlf *c, uint64_t phys, uint64_t virt)
{
	const struct mime_crlf_mark *last = &c->marks[c->n_marks - 1];

	if (phys <= last->phys || phys - last->phys < MIME_CRLF_MARK_STEP)
		return;
	if (c->n_marks == c->cap) {
		c->cap *= 2;
		c->marks = xrealloc(c->marks, c->cap * sizeof(*c->marks));
	}
	c->marks[c->n_marks].phys = phys;
	c->marks[c->n_marks].virt = virt;
	c->n_marks++;
}

/* The known point closest before CRLF-form offset v. */
static struct mime_crlf_mark best_start(const struct mime_crlf *c, uint64_t v)
{
	size_t lo = 0, hi = c->n_marks;

	while (hi - lo > 1) {           /* marks[lo].virt <= v always */
		size_t mid = lo + (hi - lo) / 2;
		if (c->marks[mid].virt <= v)
			lo = mid;
		else
			hi = mid;
	}
	struct mime_crlf_mark m = c->marks[lo];
	if (c->cursor.virt <= v && c->cursor.virt > m.virt)
		m = c->cursor;
	return m;
}

struct walk_out {
	uint64_t skip;          /* output bytes to drop first */
	char *out;
	size_t len, produced;
};

/* One output byte; false when the output is full. */
static bool put(struct walk_out *w, char ch)
{
	if (w->skip > 0) {
		w->skip--;
		return true;
	}
	if (w->produced == w->len)
		return false;
	w->out[w->produced++] = ch;
	return true;
}

/* Convert the file from point p into w, placing marks on the way. Stops
 * when w is full or at the end of the file; the cursor is left at the last
 * valid point reached. */
static int walk(struct mime_crlf *c, struct mime_crlf_mark p, struct walk_out *w,
		const char **error_r)
{
	struct mime_crlf_mark valid = p;
	bool prev_cr = false;

	for (;;) {
		ssize_t n = mime_read_full(c->file, c->chunk, MIME_CRLF_READ_CHUNK,
					   p.phys, error_r);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			char b = c->chunk[i];
			if (!prev_cr) {
				valid = p;
				add_mark(c, p.phys, p.virt);
			}
			bool bare_lf = b == '\n' && !prev_cr;
			if ((bare_lf && !put(w, '\r')) || !put(w, b))
				goto stop;
			p.phys++;
			p.virt += bare_lf ? 2 : 1;
			prev_cr = b == '\r';
		}
	}
	if (!prev_cr)
		valid = p;                      /* the end of the file */
stop:
	c->cursor = valid;
	return 0;
}

static ssize_t crlf_read_at(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct mime_crlf *c = ctx;
	struct mime_crlf_mark start = best_start(c, offset);
	struct walk_out w = { offset - start.virt, buf, len, 0 };
	const char *error;

	if (walk(c, start, &w, &error) < 0)
		return -1;              /* errno is the reader's */
	return (ssize_t)w.produced;
}

void mime_crlf_reader(struct mime_crlf *c, struct mime_reader *r_r)
{
	r_r->read_at = crlf_read_at;
	r_r->ctx = c;
}

int mime_crlf_locate(struct mime_crlf *c, uint64_t v, uint64_t *phys_r,
		     uint64_t *skip_r, const char **error_r)
{
	struct mime_crlf_mark start = best_start(c, v);

	if (v - start.virt > MIME_CRLF_MARK_STEP) {
		/* Walk there once: the marks on the way stay. */
		struct walk_out w = { v - start.virt, NULL, 0, 0 };
		if (walk(c, start, &w, error_r) < 0)
			return -1;
		start = best_start(c, v);
	}
	*phys_r = start.phys;
	*skip_r = v - start.virt;
	return 0;
}

static void put_u64(struct buf *out, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	buf_append(out, b, 8);
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void mime_crlf_serialize(const struct mime_crlf *c, struct buf *out)
{
	put_u64(out, c->n_marks);
	for (size_t i = 0; i < c->n_marks; i++) {
		put_u64(out, c->marks[i].phys);
		put_u64(out, c->marks[i].virt);
	}
}

int mime_crlf_deserialize(struct mime_crlf *c, const void *data, size_t len,
			  const char **error_r)
{
	const unsigned char *p = data;
	uint64_t n;

	if (len < 8 || (n = get_u64(p)) == 0 || (len - 8) / 16 != n ||
	    (len - 8) % 16 != 0)
		goto bad;
	struct mime_crlf_mark *marks = xcalloc((size_t)n, sizeof(*marks));
	for (size_t i = 0; i < n; i++) {
		marks[i].phys = get_u64(p + 8 + 16 * i);
		marks[i].virt = get_u64(p + 16 + 16 * i);
		/* ascending, and every added byte is one bare LF at most */
		bool ok = i == 0 ? marks[0].phys == 0 && marks[0].virt == 0 :
			marks[i].phys > marks[i - 1].phys &&
			marks[i].virt - marks[i - 1].virt >= marks[i].phys - marks[i - 1].phys &&
			marks[i].virt - marks[i - 1].virt <= 2 * (marks[i].phys - marks[i - 1].phys);
		if (i > 0 && marks[i].virt < marks[i - 1].virt)
			ok = false;
		if (!ok) {
			free(marks);
			goto bad;
		}
	}
	free(c->marks);
	c->marks = marks;
	c->n_marks = c->cap = (size_t)n;
	memset(&c->cursor, 0, sizeof(c->cursor));
	return 0;
bad:
	*error_r = "corrupt CRLF map";
	return -1;
}
