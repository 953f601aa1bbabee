/* util.c — allocation, strings and error-text helpers. */
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
	fputs("sealpost: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		oom();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *p;
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

const char *errfmt(const char *fmt, ...)
{
	static _Thread_local char ring[ERRFMT_RING][ERRFMT_MAX];
	static _Thread_local unsigned next;
	char *dst = ring[next++ % ERRFMT_RING];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, ERRFMT_MAX, fmt, ap);
	va_end(ap);
	return dst;
}

size_t strlcpy_sp(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *str_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

bool str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool str_has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix_ci(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

void str_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

void str_sanitize(char *dst, size_t size, const char *src, size_t srclen)
{
	size_t j = 0;
	if (size == 0)
		return;
	for (size_t i = 0; i < srclen && j + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[j] = '\0';
}

bool dns_name_valid(const char *name)
{
	size_t label = 0;

	if (*name == '\0' || strlen(name) > DNS_NAME_MAX)
		return false;
	for (const char *p = name; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > DNS_LABEL_MAX || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		if (label == 0 && *p == '-')
			return false;
		label++;
	}
}

int sp_vprint_error(const char *fmt, va_list ap)
{
	char line[ERRFMT_MAX + 64];
	int n = snprintf(line, sizeof(line), "sealpost: ");
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
	return 1;
}

int sp_print_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sp_vprint_error(fmt, ap);
	va_end(ap);
	return 1;
}

bool str_to_u64(const char *s, uint64_t max, uint64_t *value_r)
{
	uint64_t v = 0;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*value_r = v;
	return true;
}

bool str_to_size(const char *s, uint64_t max, uint64_t *value_r)
{
	size_t len = strlen(s);
	unsigned shift = 0;
	char digits[32];
	uint64_t v;

	if (len > 0 && (s[len - 1] == 'B' || s[len - 1] == 'b'))
		len--;                          /* "1GB", "100b" */
	if (len > 0) {
		switch (s[len - 1]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		default: break;
		}
		if (shift > 0)
			len--;
	}
	if (len == 0 || len >= sizeof(digits))
		return false;
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (!str_to_u64(digits, max >> shift, &v))
		return false;
	*value_r = v << shift;
	return true;
}

char **strv_split_commas(const char *s, size_t *count_r)
{
	char *copy = xstrdup(s), *save = NULL;
	char **v = xcalloc(1, sizeof(*v));
	size_t n = 0;

	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = str_trim(tok);
		if (*tok == '\0')
			continue;
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = xstrdup(tok);
		v[n] = NULL;
	}
	free(copy);
	if (count_r != NULL)
		*count_r = n;
	return v;
}

void strv_free(char ***vp)
{
	if (*vp == NULL)
		return;
	for (char **p = *vp; *p != NULL; p++)
		free(*p);
	x_free(vp);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_append(b, s, strlen(s));
	free(s);
}

void buf_free(struct buf *b)
{
	x_free(&b->data);
	b->len = b->cap = 0;
}
