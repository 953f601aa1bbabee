/* mime_header.h — message access and header fields (RFC 5322 2.2, RFC 2045
 * 5/6, RFC 2183, RFC 2231).
 *
 * Design. A message is only ever read through a struct mime_reader, a
 * pread-like callback, so nothing here needs the whole message in memory.
 * A header block is read into memory up to MIME_HEADER_BLOCK_MAX bytes (the
 * rest is ignored) and indexed into fields whose values are kept raw (folded,
 * as in the message); helpers unfold or decode them on demand. Structured
 * values of Content-Type and Content-Disposition are parsed into a type,
 * subtype and parameters; RFC 2231 continuations (name*0, name*1*, ...) are
 * joined into one parameter ("name", or "name*" when any section is
 * charset-encoded, keeping the charset'lang'%XX form for the client). */
#ifndef SEALPOST_MIME_HEADER_H
#define SEALPOST_MIME_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/util.h"

/* Bytes of one header block held for ENVELOPE, HEADER.FIELDS and SEARCH;
 * beyond it fields are ignored. RFC 5322 sets no limit; real headers are a
 * few KiB, long Received chains some tens. */
#define MIME_HEADER_BLOCK_MAX (256 * 1024)
/* Fields indexed per header block (the rest are ignored). */
#define MIME_HEADER_FIELDS_MAX 2048
/* Parameters kept per Content-Type/Disposition (RFC 2045 sets no limit). */
#define MIME_PARAMS_MAX 32
/* Sections of one RFC 2231 continued parameter. */
#define MIME_PARAM_SECTIONS_MAX 64

/* Reads up to len bytes at offset; returns the count (0 at end), -1 on
 * error with errno set. */
struct mime_reader {
	ssize_t (*read_at)(void *ctx, void *buf, size_t len, uint64_t offset);
	void *ctx;
};

/* A reader over a file descriptor (pread); the fd stays the caller's. */
void mime_reader_fd(struct mime_reader *r, int fd);
/* A reader over memory; mem must outlive the reader. */
struct mime_mem {
	const char *data;
	size_t len;
};
void mime_reader_mem(struct mime_reader *r, struct mime_mem *mem,
		     const void *data, size_t len);
/* Read exactly len bytes at offset unless the end comes first; returns the
 * count or -1 with *error_r set. */
ssize_t mime_read_full(const struct mime_reader *r, void *buf, size_t len,
		       uint64_t offset, const char **error_r);

struct mime_header_field {
	const char *name;       /* not NUL-terminated */
	size_t name_len;
	const char *value;      /* raw: after the colon, folding kept, no CRLF */
	size_t value_len;
};

struct mime_headers {
	char *data;
	size_t len;
	struct mime_header_field *fields;
	size_t count;
	bool truncated;         /* a limit cut the block */
};

/* Read and index the header block at [offset, offset+size). */
int mime_headers_read(const struct mime_reader *r, uint64_t offset, uint64_t size,
		      struct mime_headers *h_r, const char **error_r);
/* Index a header block held in memory (copied). Stops at the blank line. */
void mime_headers_parse(struct mime_headers *h_r, const char *data, size_t len);
void mime_headers_free(struct mime_headers *h);
/* The next field named name (any case) after *iter (start with 0). */
const struct mime_header_field *mime_headers_find(const struct mime_headers *h,
						  const char *name, size_t *iter);

/* The first field named name, unfolded and RFC 2047-decoded to UTF-8 (new
 * string), or NULL when there is none. */
char *mime_headers_get_decoded(const struct mime_headers *h, const char *name);

/* The value without folding CR/LF and without surrounding whitespace (new
 * string). */
char *mime_header_unfold(const char *value, size_t len);
/* The value unfolded and RFC 2047-decoded to UTF-8 (new string). */
char *mime_header_decode(const char *value, size_t len);

struct mime_param {
	char *name;
	char *value;
};

/* A parsed Content-Type ("type/subtype; p=v") or Content-Disposition
 * ("type; p=v", subtype NULL). */
struct mime_content {
	char *type;
	char *subtype;
	struct mime_param *params;
	size_t n_params;
};

/* Parse a Content-Type value; false (and nothing allocated) when it has no
 * usable type/subtype. A bare "text" is read as text/plain. */
bool mime_content_type_parse(const char *value, size_t len, struct mime_content *ct_r);
/* Parse a Content-Disposition value; false when it has no type. */
bool mime_disposition_parse(const char *value, size_t len, struct mime_content *cd_r);
void mime_content_free(struct mime_content *ct);
/* The value of parameter name (any case), or NULL. */
const char *mime_param_get(const struct mime_param *params, size_t n, const char *name);
/* The first token of a value (e.g. Content-Transfer-Encoding), comments
 * skipped; NULL when there is none or junk follows (new string). */
char *mime_token_parse(const char *value, size_t len);

#endif
