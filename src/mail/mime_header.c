/* mime_header.c — readers, header blocks and structured Content-* values. */
#include "mail/mime_header.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mail/mime_decode.h"

/* ---- readers ------------------------------------------------------------ */

static ssize_t fd_read_at(void *ctx, void *buf, size_t len, uint64_t offset)
{
	return pread((int)(intptr_t)ctx, buf, len, (off_t)offset);
}

void mime_reader_fd(struct mime_reader *r, int fd)
{
	r->read_at = fd_read_at;
	r->ctx = (void *)(intptr_t)fd;
}

static ssize_t mem_read_at(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct mime_mem *m = ctx;
	if (offset >= m->len)
		return 0;
	size_t n = m->len - (size_t)offset;
	if (n > len)
		n = len;
	memcpy(buf, m->data + offset, n);
	return (ssize_t)n;
}

void mime_reader_mem(struct mime_reader *r, struct mime_mem *mem,
		     const void *data, size_t len)
{
	mem->data = data;
	mem->len = len;
	r->read_at = mem_read_at;
	r->ctx = mem;
}

ssize_t mime_read_full(const struct mime_reader *r, void *buf, size_t len,
		       uint64_t offset, const char **error_r)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = r->read_at(r->ctx, (char *)buf + got, len - got,
				       offset + got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*error_r = errfmt("read: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* ---- header blocks ------------------------------------------------------- */

static void add_field(struct mime_headers *h, const char *line, size_t name_len,
		      const char *value, size_t value_len)
{
	if (h->count == MIME_HEADER_FIELDS_MAX) {
		h->truncated = true;
		return;
	}
	/* capacity is 8, then the next power of two */
	if (h->count == 0)
		h->fields = xmalloc(8 * sizeof(*h->fields));
	else if (h->count >= 8 && (h->count & (h->count - 1)) == 0)
		h->fields = xrealloc(h->fields, h->count * 2 * sizeof(*h->fields));
	struct mime_header_field *f = &h->fields[h->count++];
	while (name_len > 0 && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
		name_len--;                     /* obs-optional: "Subject :" */
	f->name = line;
	f->name_len = name_len;
	f->value = value;
	f->value_len = value_len;
}

/* End of the line starting at p: its LF, or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	return lf != NULL ? lf : end;
}

void mime_headers_parse(struct mime_headers *h, const char *data, size_t len)
{
	memset(h, 0, sizeof(*h));
	h->data = xmalloc(len + 1);
	memcpy(h->data, data, len);
	h->data[len] = '\0';
	h->len = len;

	const char *p = h->data, *end = h->data + len;
	while (p < end) {
		const char *first_end = line_end(p, end);
		if (first_end == p || (first_end == p + 1 && *p == '\r'))
			break;                          /* blank line */
		/* the field runs on over continuation lines */
		const char *f_end = first_end;
		const char *next = f_end < end ? f_end + 1 : end;
		while (next < end && (*next == ' ' || *next == '\t')) {
			f_end = line_end(next, end);
			next = f_end < end ? f_end + 1 : end;
		}
		if (f_end > p && f_end[-1] == '\r')
			f_end--;
		const char *colon = memchr(p, ':', (size_t)(first_end - p));
		if (colon != NULL && colon > p && *p != ' ' && *p != '\t' &&
		    colon < f_end)
			add_field(h, p, (size_t)(colon - p), colon + 1,
				  (size_t)(f_end - colon - 1));
		p = next;
	}
}

int mime_headers_read(const struct mime_reader *r, uint64_t offset, uint64_t size,
		      struct mime_headers *h_r, const char **error_r)
{
	bool truncated = size > MIME_HEADER_BLOCK_MAX;
	size_t len = truncated ? MIME_HEADER_BLOCK_MAX : (size_t)size;
	char *tmp = xmalloc(len + 1);
	ssize_t n = mime_read_full(r, tmp, len, offset, error_r);

	if (n < 0) {
		free(tmp);
		memset(h_r, 0, sizeof(*h_r));
		return -1;
	}
	mime_headers_parse(h_r, tmp, (size_t)n);
	h_r->truncated |= truncated;
	free(tmp);
	return 0;
}

void mime_headers_free(struct mime_headers *h)
{
	x_free(&h->data);
	x_free(&h->fields);
	h->count = h->len = 0;
}

const struct mime_header_field *mime_headers_find(const struct mime_headers *h,
						  const char *name, size_t *iter)
{
	size_t n = strlen(name);
	for (size_t i = *iter; i < h->count; i++) {
		const struct mime_header_field *f = &h->fields[i];
		if (f->name_len == n && strncasecmp(f->name, name, n) == 0) {
			*iter = i + 1;
			return f;
		}
	}
	*iter = h->count;
	return NULL;
}

char *mime_headers_get_decoded(const struct mime_headers *h, const char *name)
{
	size_t iter = 0;
	const struct mime_header_field *f = mime_headers_find(h, name, &iter);
	return f == NULL ? NULL : mime_header_decode(f->value, f->value_len);
}

char *mime_header_unfold(const char *value, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (value[i] != '\r' && value[i] != '\n')
			out[n++] = value[i];
	}
	size_t start = 0;
	while (start < n && (out[start] == ' ' || out[start] == '\t'))
		start++;
	while (n > start && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	memmove(out, out + start, n - start);
	out[n - start] = '\0';
	return out;
}

char *mime_header_decode(const char *value, size_t len)
{
	char *unfolded = mime_header_unfold(value, len);
	struct buf out = { 0 };
	mime_decode_header_append(&out, unfolded, strlen(unfolded));
	free(unfolded);
	return out.data;
}

/* ---- structured values (RFC 2045 5.1, RFC 2183, RFC 2231) ----------------- */

struct scan {
	const char *s;
	size_t len, pos;
};

static bool at_end(const struct scan *sc)
{
	return sc->pos >= sc->len;
}

static void skip_cfws(struct scan *sc)
{
	unsigned depth = 0;
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];
		if (depth > 0 && c == '\\') {
			sc->pos += 2;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return;
		sc->pos++;
	}
	if (sc->pos > sc->len)
		sc->pos = sc->len;
}

static bool token_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static char *scan_token(struct scan *sc)
{
	size_t start = sc->pos;
	while (sc->pos < sc->len && token_char((unsigned char)sc->s[sc->pos]))
		sc->pos++;
	return sc->pos > start ? xstrndup(sc->s + start, sc->pos - start) : NULL;
}

/* quoted-string at sc->pos == '"': quoted-pairs and folding removed. */
static char *scan_quoted(struct scan *sc)
{
	struct buf b = { 0 };
	buf_append(&b, "", 0);
	for (sc->pos++; sc->pos < sc->len; sc->pos++) {
		char c = sc->s[sc->pos];
		if (c == '"') {
			sc->pos++;
			return b.data;
		}
		if (c == '\\' && sc->pos + 1 < sc->len)
			c = sc->s[++sc->pos];
		else if (c == '\r' || c == '\n')
			continue;
		buf_append(&b, &c, 1);
	}
	return b.data;                  /* unterminated: keep what we have */
}

/* A parameter value: quoted-string or token; an unquoted value with junk
 * (e.g. an unquoted boundary holding "=") runs on to the next ";". */
static char *scan_value(struct scan *sc)
{
	if (!at_end(sc) && sc->s[sc->pos] == '"')
		return scan_quoted(sc);
	size_t start = sc->pos;
	char *tok = scan_token(sc);
	size_t after = sc->pos;
	while (after < sc->len && (sc->s[after] == ' ' || sc->s[after] == '\t'))
		after++;
	if (after >= sc->len || sc->s[after] == ';' || sc->s[after] == '(')
		return tok;
	free(tok);
	const char *semi = memchr(sc->s + start, ';', sc->len - start);
	size_t stop = semi != NULL ? (size_t)(semi - sc->s) : sc->len;
	sc->pos = stop;
	while (stop > start && (sc->s[stop - 1] == ' ' || sc->s[stop - 1] == '\t' ||
				sc->s[stop - 1] == '\r' || sc->s[stop - 1] == '\n'))
		stop--;
	return stop > start ? xstrndup(sc->s + start, stop - start) : NULL;
}

static void skip_to_semicolon(struct scan *sc)
{
	const char *semi = memchr(sc->s + sc->pos, ';', sc->len - sc->pos);
	sc->pos = semi != NULL ? (size_t)(semi - sc->s) : sc->len;
}

static void param_add(struct mime_content *ct, char *name, char *value)
{
	if (ct->n_params == MIME_PARAMS_MAX ||
	    mime_param_get(ct->params, ct->n_params, name) != NULL) {
		free(name);
		free(value);
		return;
	}
	ct->params = xrealloc(ct->params, (ct->n_params + 1) * sizeof(*ct->params));
	ct->params[ct->n_params].name = name;
	ct->params[ct->n_params].value = value;
	ct->n_params++;
}

/* "name*N" or "name*N*": the RFC 2231 section number and base length. */
static bool section_name(const char *name, size_t *base_len_r, unsigned *n_r,
			 bool *ext_r)
{
	const char *star = strchr(name, '*');
	if (star == NULL || star == name || star[1] < '0' || star[1] > '9')
		return false;
	const char *p = star + 1;
	unsigned n = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned)(*p - '0');
		if (n >= MIME_PARAM_SECTIONS_MAX)
			return false;
	}
	*ext_r = *p == '*';
	if (*p != '\0' && !(*p == '*' && p[1] == '\0'))
		return false;
	*base_len_r = (size_t)(star - name);
	*n_r = n;
	return true;
}

/* Join the sections of continued parameter base found in raw. */
static void join_sections(struct mime_content *ct, const struct mime_content *raw,
			  const char *base, size_t base_len)
{
	const char *sec[MIME_PARAM_SECTIONS_MAX] = { 0 };
	bool any_ext = false;
	struct buf v = { 0 };

	for (size_t i = 0; i < raw->n_params; i++) {
		size_t bl;
		unsigned n;
		bool ext;
		const char *name = raw->params[i].name;
		if (section_name(name, &bl, &n, &ext) && bl == base_len &&
		    strncasecmp(name, base, bl) == 0 && sec[n] == NULL) {
			sec[n] = raw->params[i].value;
			any_ext |= ext;
		}
	}
	buf_append(&v, "", 0);
	for (unsigned n = 0; n < MIME_PARAM_SECTIONS_MAX && sec[n] != NULL; n++)
		buf_append(&v, sec[n], strlen(sec[n]));
	char *name = xasprintf("%.*s%s", (int)base_len, base, any_ext ? "*" : "");
	param_add(ct, name, v.data);
}

static void params_merge(struct mime_content *ct, const struct mime_content *raw)
{
	for (size_t i = 0; i < raw->n_params; i++) {
		const char *name = raw->params[i].name;
		size_t bl;
		unsigned n;
		bool ext;
		if (!section_name(name, &bl, &n, &ext)) {
			param_add(ct, xstrdup(name), xstrdup(raw->params[i].value));
			continue;
		}
		/* the first section seen of a base triggers the join */
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++) {
			size_t bl2;
			unsigned n2;
			bool e2;
			seen = section_name(raw->params[j].name, &bl2, &n2, &e2) &&
				bl2 == bl && strncasecmp(raw->params[j].name, name, bl) == 0;
		}
		if (!seen)
			join_sections(ct, raw, name, bl);
	}
}

static void params_parse(struct scan *sc, struct mime_content *ct)
{
	struct mime_content raw = { 0 };

	for (;;) {
		skip_cfws(sc);
		if (at_end(sc))
			break;
		if (sc->s[sc->pos] != ';') {
			skip_to_semicolon(sc);
			continue;
		}
		sc->pos++;
		skip_cfws(sc);
		char *name = scan_token(sc);
		skip_cfws(sc);
		if (name == NULL || at_end(sc) || sc->s[sc->pos] != '=') {
			free(name);
			skip_to_semicolon(sc);
			continue;
		}
		sc->pos++;
		skip_cfws(sc);
		char *value = scan_value(sc);
		if (value == NULL || raw.n_params == MIME_PARAMS_MAX * 2) {
			free(name);
			free(value);
			continue;
		}
		raw.params = xrealloc(raw.params, (raw.n_params + 1) * sizeof(*raw.params));
		raw.params[raw.n_params].name = name;
		raw.params[raw.n_params].value = value;
		raw.n_params++;
	}
	params_merge(ct, &raw);
	mime_content_free(&raw);
}

bool mime_content_type_parse(const char *value, size_t len, struct mime_content *ct_r)
{
	struct scan sc = { value, len, 0 };

	memset(ct_r, 0, sizeof(*ct_r));
	skip_cfws(&sc);
	ct_r->type = scan_token(&sc);
	if (ct_r->type == NULL)
		return false;
	skip_cfws(&sc);
	if (!at_end(&sc) && sc.s[sc.pos] == '/') {
		sc.pos++;
		skip_cfws(&sc);
		ct_r->subtype = scan_token(&sc);
	} else if (strcasecmp(ct_r->type, "text") == 0) {
		ct_r->subtype = xstrdup("plain");
	}
	if (ct_r->subtype == NULL) {
		mime_content_free(ct_r);
		return false;
	}
	params_parse(&sc, ct_r);
	return true;
}

bool mime_disposition_parse(const char *value, size_t len, struct mime_content *cd_r)
{
	struct scan sc = { value, len, 0 };

	memset(cd_r, 0, sizeof(*cd_r));
	skip_cfws(&sc);
	cd_r->type = scan_token(&sc);
	if (cd_r->type == NULL)
		return false;
	params_parse(&sc, cd_r);
	return true;
}

void mime_content_free(struct mime_content *ct)
{
	for (size_t i = 0; i < ct->n_params; i++) {
		free(ct->params[i].name);
		free(ct->params[i].value);
	}
	x_free(&ct->params);
	x_free(&ct->type);
	x_free(&ct->subtype);
	ct->n_params = 0;
}

const char *mime_param_get(const struct mime_param *params, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	}
	return NULL;
}

char *mime_token_parse(const char *value, size_t len)
{
	struct scan sc = { value, len, 0 };
	skip_cfws(&sc);
	char *tok = scan_token(&sc);
	skip_cfws(&sc);
	if (tok != NULL && !at_end(&sc))
		x_free(&tok);
	return tok;
}
