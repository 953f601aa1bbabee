/* util.h — allocation, strings and error-text helpers used everywhere. */
#ifndef SEALPOST_UTIL_H
#define SEALPOST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that never returns NULL: out of memory aborts the process. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Free *pp and set the caller's pointer to NULL. */
#define x_free(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* Error text for `const char **error_r` parameters. The returned string
 * lives in a small per-thread ring of buffers: it stays valid until
 * ERRFMT_RING more errfmt() calls on the same thread, which is long enough to
 * pass it up a call chain and print it. Copy it to keep it longer. */
#define ERRFMT_RING 8
#define ERRFMT_MAX 1024
const char *errfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strings */
size_t strlcpy_sp(char *dst, const char *src, size_t size);
char *str_trim(char *s);                       /* in place; returns s moved past blanks */
bool str_ieq(const char *a, const char *b);
bool str_has_prefix_ci(const char *s, const char *prefix);
bool str_has_suffix_ci(const char *s, const char *suffix);
void str_lower(char *s);
/* Copy src into dst (size bytes) replacing CR, LF and NUL-free control bytes
 * with '?', so peer-provided text can be interpolated into a reply or a log. */
void str_sanitize(char *dst, size_t size, const char *src, size_t srclen);
/* A host or domain name (RFC 1035 2.3.1, RFC 1123 2.1): dot-separated
 * labels of 1..DNS_LABEL_MAX letters, digits and inner hyphens,
 * DNS_NAME_MAX octets in all. */
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 253
bool dns_name_valid(const char *name);

/* Print one "sealpost: <message>" line on stderr; returns 1 (the failure
 * exit status) for tail calls. */
int sp_print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int sp_vprint_error(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Parse a non-negative decimal integer that fits max; false on any junk. */
bool str_to_u64(const char *s, uint64_t max, uint64_t *value_r);

/* A size: a decimal number, optionally with K, M, G or T (1024-based, as
 * Dovecot reads quota sizes) and an optional trailing B: "1G", "512M",
 * "100000", "10KB". false on junk or beyond max. */
bool str_to_size(const char *s, uint64_t max, uint64_t *value_r);

/* Split "a, b ,c" on commas into trimmed, non-empty, newly allocated strings.
 * The array is NULL-terminated; free with strv_free(). */
char **strv_split_commas(const char *s, size_t *count_r);
void strv_free(char ***vp);
size_t strv_len(char *const *v);

/* A growable byte buffer. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_append(struct buf *b, const void *data, size_t len);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

#endif
