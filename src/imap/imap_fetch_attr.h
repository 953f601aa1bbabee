/* imap_fetch_attr.h — FETCH data items (RFC 3501 6.4.5, 9 "fetch-att").
 *
 * Design. The command parser hands over the fetch attributes as one atom or
 * a list of atoms; a BODY[...] atom carries its whole section, including a
 * HEADER.FIELDS list, because the tokenizer keeps "[...]" inside one atom.
 * This module turns them into items: macros are expanded (ALL, FAST, FULL),
 * RFC822, RFC822.HEADER and RFC822.TEXT become sections, and each item gets
 * the name its response uses ("BODY[1.MIME]<0>", "RFC822.HEADER";
 * BODY.PEEK answers as BODY). Header field names are echoed as the client
 * wrote them. The session resolves sections with mime_section_resolve().
 * BINARY[part]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516) take part
 * numbers only; BINARY.PEEK answers as BINARY. */
#ifndef SEALPOST_IMAP_FETCH_ATTR_H
#define SEALPOST_IMAP_FETCH_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "imap/mime_section.h"

/* Items in one FETCH (a client asking for more is broken or hostile). */
#define IMAP_FETCH_ITEMS_MAX 256

enum imap_fetch_kind {
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_UID,
	IMAP_FETCH_BODY,                /* non-extensible BODYSTRUCTURE */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_SECTION,             /* BODY[..], BODY.PEEK[..], RFC822[.x] */
	IMAP_FETCH_MODSEQ,              /* RFC 7162 3.1.4.2 */
	IMAP_FETCH_BINARY,              /* BINARY[..], BINARY.PEEK[..] (RFC 3516) */
	IMAP_FETCH_BINARY_SIZE,         /* BINARY.SIZE[..] */
};

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	struct mime_section section;    /* SECTION */
	bool peek;                      /* does not set \Seen */
	bool partial;                   /* <offset.size> given */
	uint32_t partial_offset, partial_size;
	char *name;                     /* item name in the response */
};

struct imap_fetch_attrs {
	struct imap_fetch_item *items;
	size_t count;
	bool sets_seen;                 /* an item sets \Seen (RFC 3501 6.4.5) */
};

/* Parse the fetch attributes (the arguments after the sequence set). */
int imap_fetch_attrs_parse(const struct imap_arg *args, size_t n_args,
			   struct imap_fetch_attrs *attrs_r, const char **error_r);
void imap_fetch_attrs_free(struct imap_fetch_attrs *attrs);
/* Parse a section-spec, the text between "[" and "]" ("1.2.HEADER.FIELDS
 * (From To)"); free with mime_section_free. */
int imap_section_parse(const char *spec, size_t len, struct mime_section *sec_r,
		       const char **error_r);
/* Append the canonical form of a section-spec (upper-case keywords). */
void imap_section_append(struct buf *out, const struct mime_section *sec);

#endif
