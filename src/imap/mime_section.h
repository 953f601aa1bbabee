/* mime_section.h — IMAP body sections (RFC 3501 6.4.5) resolved against a
 * parsed message (mail/mime.h): which bytes BODY[1.2.HEADER.FIELDS (...)]<0.100>
 * means, as file ranges and generated data. */
#ifndef SEALPOST_MIME_SECTION_H
#define SEALPOST_MIME_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mime.h"

/* Numbers in one section part path ("1.2.3"). */
#define MIME_SECTION_PARTS_MAX (2 * MIME_DEPTH_MAX)
/* Header field names in one HEADER.FIELDS list. */
#define MIME_SECTION_FIELDS_MAX 256
/* Byte ranges one HEADER.FIELDS result may have before we stop selecting
 * (adjacent selected fields merge, so only pathological headers get near). */
#define MIME_SEGMENTS_MAX 4096

/* A section spec (RFC 3501 6.4.5) as parsed by imap_fetch_attr.h. */
enum mime_section_text {
	MIME_SECTION_ALL,               /* BODY[] / BODY[1.2] */
	MIME_SECTION_HEADER,
	MIME_SECTION_HEADER_FIELDS,
	MIME_SECTION_HEADER_FIELDS_NOT,
	MIME_SECTION_TEXT,
	MIME_SECTION_MIME,              /* only after a part number */
};

struct mime_section {
	uint32_t part[MIME_SECTION_PARTS_MAX];
	unsigned n_part;
	enum mime_section_text text;
	char **fields;                  /* HEADER.FIELDS[.NOT] names */
	size_t n_fields;
};

/* One piece of a section's bytes: a file range, or data when data != NULL. */
struct mime_segment {
	uint64_t offset;
	uint64_t size;
	const char *data;
};

struct mime_body_result {
	bool nil;                       /* no such part: send NIL */
	uint64_t size;                  /* octets to send (after <partial>) */
	struct mime_segment *segs;
	size_t n_segs;
};

/* Resolve sec against the tree; with partial, keep only size bytes from
 * offset (RFC 3501 6.4.5 <partial>). Reads header blocks through r for
 * HEADER.FIELDS. Fails only when reading fails. */
int mime_section_resolve(const struct mime_part *root, const struct mime_reader *r,
			 const struct mime_section *sec, bool partial,
			 uint64_t offset, uint64_t size,
			 struct mime_body_result *res_r, const char **error_r);
void mime_body_result_free(struct mime_body_result *res);
/* The part sec's part numbers name (the root for none), or NULL. */
const struct mime_part *mime_section_part(const struct mime_part *root,
					  const struct mime_section *sec);
void mime_section_free(struct mime_section *sec);

#endif
