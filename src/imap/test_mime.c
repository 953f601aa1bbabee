/* test_mime.c — MIME structure parser, ENVELOPE/BODY/BODYSTRUCTURE on the
 * corpus in tests/corpus/mime/, section resolution, the cache format, limits,
 * a 50 MB message read through a generating reader, read errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/imap_fetch_attr.h"
#include "imap/mime_section.h"
#include "imap/mime_render.h"
#include "lib/fsutil.h"

#define CORPUS "tests/corpus/mime/"

static char *slurp(const char *path, size_t *len_r)
{
	char *data;
	const char *error;
	size_t len;
	if (fs_read_file(path, 1024 * 1024, &data, &len, &error) < 0)
		fail_msg("%s", error);
	if (len_r != NULL)
		*len_r = len;
	return data;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

struct msg {
	char *data;
	size_t len;
	struct mime_mem mem;
	struct mime_reader r;
	struct mime_part *root;
};

static void msg_init(struct msg *m, const char *data, size_t len)
{
	const char *error;
	m->data = xmalloc(len + 1);
	memcpy(m->data, data, len);
	m->data[len] = '\0';
	m->len = len;
	mime_reader_mem(&m->r, &m->mem, m->data, m->len);
	assert_int_equal(mime_parse(&m->r, &m->root, &error), 0);
}

static void msg_load(struct msg *m, const char *name)
{
	char *path = xasprintf(CORPUS "%s.eml", name);
	size_t len;
	char *data = slurp(path, &len);
	msg_init(m, data, len);
	free(data);
	free(path);
}

static void msg_free(struct msg *m)
{
	mime_part_free(&m->root);
	free(m->data);
}

/* The bytes BODY[spec]<partial> would send, or "NIL". */
static char *section(const struct msg *m, const char *spec, bool partial,
		     uint64_t offset, uint64_t size)
{
	struct mime_section sec;
	struct mime_body_result res;
	const char *error;
	struct buf b = { 0 };

	assert_int_equal(imap_section_parse(spec, strlen(spec), &sec, &error), 0);
	assert_int_equal(mime_section_resolve(m->root, &m->r, &sec, partial, offset,
					      size, &res, &error), 0);
	buf_str(&b, "");
	if (res.nil)
		buf_str(&b, "NIL");
	uint64_t total = 0;
	for (size_t i = 0; i < res.n_segs; i++) {
		const struct mime_segment *s = &res.segs[i];
		if (s->data != NULL) {
			buf_append(&b, s->data, s->size);
		} else {
			assert_true(s->offset + s->size <= m->len);
			buf_append(&b, m->data + s->offset, s->size);
		}
		total += s->size;
	}
	assert_int_equal(total, res.size);
	mime_body_result_free(&res);
	mime_section_free(&sec);
	return b.data;
}

static void assert_section(const struct msg *m, const char *spec, const char *expected)
{
	char *got = section(m, spec, false, 0, 0);
	assert_string_equal(got, expected);
	free(got);
}

static char *render(const struct mime_part *root, const struct mime_reader *r, int what)
{
	struct buf b = { 0 };
	const char *error;
	if (what == 2)
		assert_int_equal(mime_render_envelope(root, r, &b, &error), 0);
	else
		assert_int_equal(mime_render_bodystructure(root, r, what == 0, &b, &error), 0);
	buf_str(&b, "");
	return b.data;
}

/* ---- the corpus --------------------------------------------------------------- */

/* Every part lies inside its parent's body, header before body. */
static void assert_nested(const struct mime_part *part)
{
	assert_int_equal(part->body_offset, part->hdr_offset + part->hdr_size);
	for (const struct mime_part *c = part->children; c != NULL; c = c->next) {
		assert_true(c->hdr_offset >= part->body_offset);
		assert_true(c->body_offset + c->body_size <=
			    part->body_offset + part->body_size);
		assert_nested(c);
	}
}

static const char *const corpus[] = {
	"plain", "alternative", "mixed_attach", "nested_rfc822", "signed",
	"encoded_headers", "missing_boundary", "unterminated", "lf_only",
	"deep_nesting", "huge_header", "digest", "rfc2231",
};

static void check_corpus_answers(const char *name, const struct mime_part *root,
			   const struct mime_reader *r)
{
	static const char *const ext[] = { "bodystructure", "body", "envelope" };
	for (int what = 0; what < 3; what++) {
		char *path = xasprintf(CORPUS "%s.%s", name, ext[what]);
		size_t len;
		char *expected = slurp(path, &len);
		char *got = render(root, r, what);
		if (strlen(got) != len || memcmp(got, expected, len) != 0)
			fail_msg("%s:\n got  %s\n want %s", path, got, expected);
		free(got);
		free(expected);
		free(path);
	}
}

static void test_corpus(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(corpus); i++) {
		struct msg m;
		msg_load(&m, corpus[i]);
		assert_nested(m.root);
		check_corpus_answers(corpus[i], m.root, &m.r);

		/* the cache form restores the same tree */
		struct buf ser = { 0 }, ser2 = { 0 };
		struct mime_part *copy;
		const char *error;
		mime_serialize(m.root, &ser);
		assert_int_equal(mime_deserialize(ser.data, ser.len, &copy, &error), 0);
		mime_serialize(copy, &ser2);
		assert_int_equal(ser.len, ser2.len);
		assert_memory_equal(ser.data, ser2.data, ser.len);
		check_corpus_answers(corpus[i], copy, &m.r);
		assert_int_equal(mime_part_count(copy), mime_part_count(m.root));
		mime_part_free(&copy);
		buf_free(&ser);
		buf_free(&ser2);
		msg_free(&m);
	}
}

static void test_fd_reader(void **state)
{
	int fd = open(CORPUS "mixed_attach.eml", O_RDONLY);
	struct mime_reader r;
	struct mime_part *root;
	const char *error;

	assert_true(fd >= 0);
	mime_reader_fd(&r, fd);
	assert_int_equal(mime_parse(&r, &root, &error), 0);
	check_corpus_answers("mixed_attach", root, &r);
	assert_int_equal(mime_part_count(root), 4);
	const struct mime_part *pdf = mime_part_child(root, 2);
	assert_string_equal(pdf->subtype, "pdf");
	assert_int_equal(mime_part_encoding(pdf), MIME_ENC_BASE64);
	assert_string_equal(mime_part_param(pdf, "NAME"), "invoice-42.pdf");
	assert_null(mime_part_child(root, 4));
	assert_null(mime_part_child(root, 0));
	mime_part_free(&root);
	close(fd);
}

static void test_flags(void **state)
{
	struct msg m;

	msg_load(&m, "lf_only");
	assert_true(m.root->flags & MIME_PART_BARE_LF);
	msg_free(&m);
	msg_load(&m, "plain");
	assert_false(m.root->flags & (MIME_PART_BARE_LF | MIME_PART_HAS_NUL |
				      MIME_PART_TRUNCATED));
	msg_free(&m);
	msg_load(&m, "unterminated");
	assert_true(m.root->flags & MIME_PART_UNTERMINATED);
	msg_free(&m);
	msg_load(&m, "deep_nesting");
	const struct mime_part *p = m.root;
	unsigned depth = 0;
	while (p->children != NULL) {
		p = p->children;
		depth++;
	}
	assert_int_equal(depth, MIME_DEPTH_MAX);
	assert_true(p->flags & MIME_PART_TRUNCATED);
	msg_free(&m);

	static const char nul[] = "Subject: x\r\n\r\na\0b\r\n";
	msg_init(&m, nul, sizeof(nul) - 1);
	assert_true(m.root->flags & MIME_PART_HAS_NUL);
	assert_int_equal(m.root->body_size, 5);
	msg_free(&m);
}

/* ---- sections ------------------------------------------------------------------ */

/* The file bytes from the first occurrence of start to the end of the first
 * occurrence of end after it. */
static char *between(const struct msg *m, const char *start, const char *end)
{
	const char *a = strstr(m->data, start);
	assert_non_null(a);
	const char *b = strstr(a, end);
	assert_non_null(b);
	return xstrndup(a, (size_t)(b + strlen(end) - a));
}

static void test_sections_nested(void **state)
{
	struct msg m;
	msg_load(&m, "nested_rfc822");

	char *all = section(&m, "", false, 0, 0);
	assert_string_equal(all, m.data);
	free(all);
	char *hdr = between(&m, "Date: Fri", "\r\n\r\n");
	assert_section(&m, "HEADER", hdr);
	assert_section(&m, "TEXT", m.data + strlen(hdr));
	free(hdr);

	assert_section(&m, "1", "See the forwarded message below.\r\n");
	assert_section(&m, "1.MIME", "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	assert_section(&m, "1.HEADER", "");
	assert_section(&m, "1.1", "NIL");
	assert_section(&m, "2.MIME",
		       "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n");
	char *inner = between(&m, "Date: Wed", "--inner--\r\n");
	assert_section(&m, "2", inner);
	free(inner);
	inner = between(&m, "Date: Wed", "\r\n\r\n");
	assert_section(&m, "2.HEADER", inner);
	free(inner);
	inner = between(&m, "--inner\r\n", "--inner--\r\n");
	assert_section(&m, "2.TEXT", inner);
	free(inner);
	assert_section(&m, "2.HEADER.FIELDS (Subject FROM)",
		       "From: \"Newsletter\" <news@shop.example.com>\r\n"
		       "Subject: Your order has shipped\r\n\r\n");
	assert_section(&m, "2.1", "Your order has shipped.");
	assert_section(&m, "2.2", "<p>Your order has shipped.</p>");
	assert_section(&m, "2.1.MIME", "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	assert_section(&m, "2.3", "NIL");
	assert_section(&m, "2.1.1", "NIL");
	assert_section(&m, "3", "NIL");
	assert_section(&m, "3.MIME", "NIL");

	char *got = section(&m, "1", true, 4, 3);
	assert_string_equal(got, "the");
	free(got);
	got = section(&m, "1", true, 30, 100);
	assert_string_equal(got, "w.\r\n");
	free(got);
	got = section(&m, "1", true, 100, 5);
	assert_string_equal(got, "");
	free(got);
	msg_free(&m);
}

static void test_sections_single(void **state)
{
	struct msg m;
	msg_load(&m, "plain");
	char *body = xstrdup(strstr(m.data, "\r\n\r\n") + 4);

	assert_section(&m, "1", body);
	assert_section(&m, "TEXT", body);
	assert_section(&m, "2", "NIL");
	assert_section(&m, "1.1", "NIL");
	char *hdr = xstrndup(m.data, strlen(m.data) - strlen(body));
	assert_section(&m, "1.MIME", hdr);
	assert_section(&m, "HEADER", hdr);
	free(hdr);
	free(body);

	assert_section(&m, "HEADER.FIELDS (SUBJECT)", "Subject: Quarterly report\r\n\r\n");
	assert_section(&m, "HEADER.FIELDS (X-Absent)", "\r\n");
	assert_section(&m, "HEADER.FIELDS (received)",
		       "Received: from mx.example.org (mx.example.org [192.0.2.7])\r\n"
		       "\tby mail.example.test with ESMTPS id 4F2A1\r\n"
		       "\tfor <bob@example.test>; Tue, 14 May 2024 09:12:44 +0200\r\n\r\n");
	assert_section(&m, "HEADER.FIELDS.NOT (Received Return-Path Message-ID "
		       "MIME-Version Content-Type Content-Transfer-Encoding)",
		       "Date: Tue, 14 May 2024 09:12:40 +0200\r\n"
		       "From: Alice Example <alice@example.org>\r\n"
		       "To: Bob <bob@example.test>, carol@example.test\r\n"
		       "Cc: \"Dave, the Reviewer\" <dave@example.net>\r\n"
		       "Subject: Quarterly report\r\n\r\n");
	/* a partial range running into the generated blank line */
	char *got = section(&m, "HEADER.FIELDS (Subject)", true, 20, 10);
	assert_string_equal(got, "eport\r\n\r\n");
	free(got);
	msg_free(&m);
}

static void test_sections_odd(void **state)
{
	struct msg m;

	msg_load(&m, "digest");
	assert_section(&m, "1", "From: ann@example.org\r\nSubject: first post\r\n\r\n"
		       "Hello list.\r\n");
	assert_section(&m, "1.HEADER", "From: ann@example.org\r\nSubject: first post\r\n\r\n");
	assert_section(&m, "1.TEXT", "Hello list.\r\n");
	assert_section(&m, "1.1", "Hello list.\r\n");
	assert_section(&m, "1.MIME", "\r\n");
	assert_section(&m, "2.HEADER.FIELDS (subject)", "Subject: second post\r\n\r\n");
	msg_free(&m);

	static const char top[] = "Content-Type: message/rfc822\r\n\r\n"
		"Subject: in\r\n\r\nbody\r\n";
	msg_init(&m, top, sizeof(top) - 1);
	assert_section(&m, "1", "Subject: in\r\n\r\nbody\r\n");
	assert_section(&m, "1.HEADER", "Subject: in\r\n\r\n");
	assert_section(&m, "1.1", "body\r\n");
	assert_section(&m, "HEADER", "Content-Type: message/rfc822\r\n\r\n");
	msg_free(&m);

	/* a header without its line end or a body */
	static const char bare[] = "Subject: x\r\nX-Long: a\r\n b";
	msg_init(&m, bare, sizeof(bare) - 1);
	assert_section(&m, "HEADER.FIELDS (Subject)", "Subject: x\r\n\r\n");
	assert_section(&m, "HEADER.FIELDS (X-Long)", "X-Long: a\r\n b\r\n\r\n");
	assert_section(&m, "TEXT", "");
	msg_free(&m);

	msg_load(&m, "missing_boundary");
	assert_section(&m, "1", "NIL");
	msg_free(&m);

	/* the blank line ending an encapsulated header right before a
	 * delimiter stays in the header (found by fuzz_mime) */
	static const char empty_body[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n--b--\r\n";
	msg_init(&m, empty_body, sizeof(empty_body) - 1);
	assert_section(&m, "1", "Subject: x\r\n\r\n");
	assert_section(&m, "1.HEADER", "Subject: x\r\n\r\n");
	assert_section(&m, "1.TEXT", "");
	const struct mime_part *msg = m.root->children->children;
	assert_int_equal(msg->hdr_offset + msg->hdr_size,
			 m.root->children->body_offset + m.root->children->body_size);
	assert_nested(m.root);
	msg_free(&m);

	/* an empty part cut off by an outer delimiter (found by fuzz_mime) */
	static const char cut[] = "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
		"--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n--o--\r\n";
	msg_init(&m, cut, sizeof(cut) - 1);
	assert_nested(m.root);
	assert_int_equal(m.root->children->n_children, 1);
	assert_section(&m, "1.1", "");
	assert_section(&m, "1.1.MIME", "");
	msg_free(&m);

	/* a message/rfc822 part whose encapsulated message is empty */
	static const char no_msg[] = "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
		"--o\r\nContent-Type: message/rfc822\r\n\r\n--o--\r\n";
	msg_init(&m, no_msg, sizeof(no_msg) - 1);
	assert_nested(m.root);
	assert_section(&m, "1", "");
	assert_section(&m, "1.MIME", "Content-Type: message/rfc822\r\n\r\n");
	msg_free(&m);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_part_limit(void **state)
{
	struct buf b = { 0 };
	struct msg m;

	buf_str(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < MIME_PARTS_MAX + 500; i++)
		buf_str(&b, "--b\r\n\r\nx\r\n");
	buf_str(&b, "--b--\r\n");
	msg_init(&m, b.data, b.len);
	assert_int_equal(mime_part_count(m.root), MIME_PARTS_MAX);
	assert_true(m.root->flags & MIME_PART_TRUNCATED);
	char *bs = render(m.root, &m.r, 0);
	assert_non_null(strstr(bs, "\"mixed\" (\"boundary\" \"b\")"));
	free(bs);
	msg_free(&m);
	buf_free(&b);
}

static void test_field_and_string_limits(void **state)
{
	struct buf b = { 0 };
	struct msg m;

	/* one Content-Type field longer than MIME_FIELD_MAX */
	buf_str(&b, "Content-Type: text/plain; charset=utf-8; x-pad=\"");
	for (int i = 0; i < MIME_FIELD_MAX; i++)
		buf_str(&b, "A");
	buf_str(&b, "\"; name=late\r\n\r\nbody\r\n");
	msg_init(&m, b.data, b.len);
	assert_true(m.root->flags & MIME_PART_TRUNCATED);
	assert_string_equal(mime_part_param(m.root, "charset"), "utf-8");
	assert_int_equal(strlen(mime_part_param(m.root, "x-pad")), MIME_VALUE_MAX);
	assert_null(mime_part_param(m.root, "name"));
	assert_int_equal(m.root->body_size, 6);
	msg_free(&m);

	/* the tree's string budget: later descriptions are dropped */
	b.len = 0;
	buf_str(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < 1000; i++) {
		buf_str(&b, "--b\r\nContent-Description: ");
		for (int j = 0; j < MIME_VALUE_MAX; j++)
			buf_str(&b, "d");
		buf_str(&b, "\r\n\r\nx\r\n");
	}
	msg_init(&m, b.data, b.len);
	unsigned with = 0, without = 0;
	for (const struct mime_part *c = m.root->children; c != NULL; c = c->next) {
		if (c->description != NULL)
			with++;
		else
			without++;
		assert_string_equal(c->type, "text");
	}
	assert_true(with > 0 && without > 0);
	assert_true((size_t)with * MIME_VALUE_MAX <= MIME_STRINGS_MAX);
	msg_free(&m);

	/* a header block beyond MIME_HEADER_BLOCK_MAX: ENVELOPE ignores the
	 * rest, the structure parser still sees every Content-* field */
	b.len = 0;
	while (b.len < MIME_HEADER_BLOCK_MAX + 1000)
		buf_str(&b, "X-Pad: 0123456789012345678901234567890123456789\r\n");
	buf_str(&b, "Subject: late\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
		   "--z\r\n\r\nx\r\n--z--\r\n");
	msg_init(&m, b.data, b.len);
	assert_true(m.root->flags & MIME_PART_MULTIPART);
	assert_int_equal(m.root->n_children, 1);
	char *env = render(m.root, &m.r, 2);
	assert_string_equal(env, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	free(env);
	msg_free(&m);
	buf_free(&b);
}

/* A message generated on the fly from repeated pieces: nothing of it is
 * ever held in memory by the test. */
struct piece {
	const char *s;
	uint64_t repeat;
};

struct gen {
	const struct piece *pieces;
	size_t n;
	uint64_t size;
	size_t max_request;
	unsigned calls;
};

static ssize_t gen_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct gen *g = ctx;
	char *out = buf;
	size_t done = 0;
	uint64_t base = 0;

	g->calls++;
	if (len > g->max_request)
		g->max_request = len;
	for (size_t i = 0; i < g->n && done < len; i++) {
		uint64_t plen = strlen(g->pieces[i].s);
		uint64_t total = plen * g->pieces[i].repeat;
		while (done < len && offset + done < base + total) {
			uint64_t rel = offset + done - base;
			out[done++] = g->pieces[i].s[rel % plen];
		}
		base += total;
	}
	return (ssize_t)done;
}

static void test_big_message(void **state)
{
	static const char line[] =
		"The quick brown fox jumps over the lazy dog, again and again. 0123\r\n";
	static const char b64[] =
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
	const uint64_t n_text = 380000, n_b64 = 360000;
	const struct piece pieces[] = {
		{ "From: big@example.org\r\nSubject: big\r\n"
		  "Content-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n"
		  "--BIG\r\nContent-Type: text/plain\r\n\r\n", 1 },
		{ line, n_text },
		{ "--BIG\r\nContent-Type: application/octet-stream\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\n", 1 },
		{ b64, n_b64 },
		{ "--BIG--\r\n", 1 },
	};
	struct gen g = { pieces, N_ELEMENTS(pieces), 0, 0, 0 };
	struct mime_reader r = { gen_read, &g };
	struct mime_part *root;
	const char *error;

	for (size_t i = 0; i < g.n; i++)
		g.size += strlen(pieces[i].s) * pieces[i].repeat;
	assert_true(g.size > 50 * 1000 * 1000);
	assert_int_equal(mime_parse(&r, &root, &error), 0);
	assert_true(g.max_request <= MIME_READ_CHUNK);
	assert_int_equal(root->n_children, 2);
	assert_int_equal(root->body_offset + root->body_size, g.size);
	const struct mime_part *text = mime_part_child(root, 1);
	const struct mime_part *bin = mime_part_child(root, 2);
	assert_int_equal(text->body_size, n_text * (sizeof(line) - 1) - 2);
	assert_int_equal(text->body_lines, n_text - 1);
	assert_int_equal(bin->body_size, n_b64 * (sizeof(b64) - 1) - 2);
	assert_int_equal(bin->body_offset + bin->body_size + 2 + 9, g.size);
	mime_part_free(&root);
}

static ssize_t failing_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct msg *m = ctx;
	if (offset >= 100) {
		errno = EIO;
		return -1;
	}
	size_t n = len < 100 - offset ? len : (size_t)(100 - offset);
	if (n > m->len - offset)
		n = m->len - offset;
	memcpy(buf, m->data + offset, n);
	return (ssize_t)n;
}

static void test_read_errors(void **state)
{
	struct msg m;
	struct mime_part *root;
	const char *error;
	struct buf b = { 0 };

	msg_load(&m, "plain");
	struct mime_reader bad = { failing_read, &m };
	assert_int_equal(mime_parse(&bad, &root, &error), -1);
	assert_string_equal(error, "read: Input/output error");
	assert_int_equal(mime_render_envelope(m.root, &bad, &b, &error), -1);

	struct mime_section sec;
	struct mime_body_result res;
	const char *spec = "HEADER.FIELDS (Subject)";
	assert_int_equal(imap_section_parse(spec, strlen(spec), &sec, &error), 0);
	assert_int_equal(mime_section_resolve(m.root, &bad, &sec, false, 0, 0, &res,
					      &error), -1);
	mime_section_free(&sec);
	buf_free(&b);
	msg_free(&m);
}

/* ---- the cache format --------------------------------------------------------- */

static void test_corrupt_cache(void **state)
{
	struct msg m;
	struct buf ser = { 0 };
	struct mime_part *copy;
	const char *error;

	msg_load(&m, "nested_rfc822");
	mime_serialize(m.root, &ser);
	for (size_t len = 0; len < ser.len; len++) {
		assert_int_equal(mime_deserialize(ser.data, len, &copy, &error), -1);
		assert_non_null(error);
	}
	char *tmp = xmalloc(ser.len + 1);
	memcpy(tmp, ser.data, ser.len);
	tmp[ser.len] = 0;
	assert_int_equal(mime_deserialize(tmp, ser.len + 1, &copy, &error), -1);
	assert_string_equal(error, "MIME cache: corrupt entry");
	tmp[0] = 2;
	assert_int_equal(mime_deserialize(tmp, ser.len, &copy, &error), -1);
	assert_string_equal(error, "MIME cache: unknown version");
	/* every single-byte corruption is refused or yields a usable tree */
	for (size_t i = 1; i < ser.len; i++) {
		memcpy(tmp, ser.data, ser.len);
		tmp[i] ^= 0x5a;
		if (mime_deserialize(tmp, ser.len, &copy, &error) == 0) {
			char *bs = render(copy, &m.r, 0);
			free(bs);
			mime_part_free(&copy);
		}
	}
	free(tmp);
	buf_free(&ser);
	msg_free(&m);
}

/* ---- header fields -------------------------------------------------------------- */

static void test_headers(void **state)
{
	static const char hdr[] = "Subject: a\r\n b\r\nno colon line\r\n"
		"Subject : second\r\nX-Empty:\r\n\tcontinued\r\n\r\nBody: not a header\r\n";
	struct mime_headers h;
	size_t iter = 0;

	mime_headers_parse(&h, hdr, sizeof(hdr) - 1);
	assert_int_equal(h.count, 3);
	const struct mime_header_field *f = mime_headers_find(&h, "subject", &iter);
	assert_non_null(f);
	char *v = mime_header_unfold(f->value, f->value_len);
	assert_string_equal(v, "a b");
	free(v);
	f = mime_headers_find(&h, "SUBJECT", &iter);
	assert_non_null(f);
	assert_int_equal(f->value_len, 7);
	assert_null(mime_headers_find(&h, "Subject", &iter));
	iter = 0;
	f = mime_headers_find(&h, "x-empty", &iter);
	v = mime_header_unfold(f->value, f->value_len);
	assert_string_equal(v, "continued");
	free(v);
	iter = 0;
	assert_null(mime_headers_find(&h, "Body", &iter));
	v = mime_headers_get_decoded(&h, "subject");
	assert_string_equal(v, "a b");
	free(v);
	assert_null(mime_headers_get_decoded(&h, "From"));
	mime_headers_free(&h);

	struct msg m;
	const char *error;
	msg_load(&m, "encoded_headers");
	assert_int_equal(mime_headers_read(&m.r, m.root->hdr_offset, m.root->hdr_size,
					   &h, &error), 0);
	v = mime_headers_get_decoded(&h, "Subject");
	assert_string_equal(v, "Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen \xe2\x80\x93 Caf\xc3\xa9");
	free(v);
	v = mime_headers_get_decoded(&h, "From");
	assert_string_equal(v, "J\xc3\xb6rg M\xc3\xbcller <joerg@example.de>");
	free(v);
	mime_headers_free(&h);
	msg_free(&m);
}

static void assert_ctype(const char *value, const char *expected)
{
	struct mime_content ct;
	struct buf b = { 0 };
	if (!mime_content_type_parse(value, strlen(value), &ct)) {
		assert_null(expected);
		return;
	}
	assert_non_null(expected);
	buf_printf(&b, "%s/%s", ct.type, ct.subtype);
	for (size_t i = 0; i < ct.n_params; i++)
		buf_printf(&b, ";%s=%s", ct.params[i].name, ct.params[i].value);
	assert_string_equal(b.data, expected);
	buf_free(&b);
	mime_content_free(&ct);
}

static void test_content_type(void **state)
{
	assert_ctype("text/plain", "text/plain");
	assert_ctype(" TEXT / HTML ; CHARSET=\"utf-8\" (comment)", "TEXT/HTML;CHARSET=utf-8");
	assert_ctype("text; charset=utf-8", "text/plain;charset=utf-8");
	assert_ctype("multipart/mixed; boundary=----=_Part_1_2.3", 
		     "multipart/mixed;boundary=----=_Part_1_2.3");
	assert_ctype("application/x; name=foo bar.pdf; x=1",
		     "application/x;name=foo bar.pdf;x=1");
	assert_ctype("a/b; novalue; =x; c=\"q\\\"d\"; c=dup", "a/b;c=q\"d");
	assert_ctype("a/b; n*1=\"two\"; n*0=\"one\"; n*2*=%20three",
		     "a/b;n*=onetwo%20three");
	assert_ctype("a/b; t*=us-ascii'en'x%20y", "a/b;t*=us-ascii'en'x%20y");
	assert_ctype("a/b;\r\n boundary=\"x\r\n y\"", "a/b;boundary=x y");
	assert_ctype("/plain", NULL);
	assert_ctype("image", NULL);
	assert_ctype("", NULL);
	assert_ctype("(only a comment)", NULL);

	struct mime_content cd;
	const char *v = "attachment; filename=\"a.txt\"; size=10";
	assert_true(mime_disposition_parse(v, strlen(v), &cd));
	assert_string_equal(cd.type, "attachment");
	assert_null(cd.subtype);
	assert_string_equal(mime_param_get(cd.params, cd.n_params, "FILENAME"), "a.txt");
	mime_content_free(&cd);

	char *tok = mime_token_parse(" base64 (comment)", 17);
	assert_string_equal(tok, "base64");
	free(tok);
	assert_null(mime_token_parse("?invalid", 8));
	assert_null(mime_token_parse("7bit junk", 9));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_fd_reader),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_sections_nested),
		cmocka_unit_test(test_sections_single),
		cmocka_unit_test(test_sections_odd),
		cmocka_unit_test(test_part_limit),
		cmocka_unit_test(test_field_and_string_limits),
		cmocka_unit_test(test_big_message),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_corrupt_cache),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_content_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
