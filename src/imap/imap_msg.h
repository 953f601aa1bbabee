/* imap_msg.h — one message of the selected mailbox as FETCH and SEARCH read
 * it, inside their jobs (pool thread; see imap_mailbox.h "Threads").
 *
 * The message is read in its CRLF form (RFC 3501 2.3.4): a file with
 * LF-only lines goes through a CRLF map (mime_crlf.h), so sizes, offsets
 * and sections are those of the CRLF form either way. The MIME tree comes
 * from the session's cache when it is there; else the file is parsed and
 * the tree (with the CRLF map) cached. What is read depends on the need:
 * the whole tree (BODYSTRUCTURE, part numbers, body SEARCH), only the
 * header (ENVELOPE, HEADER, TEXT, header SEARCH: the file is read up to
 * the blank line), or nothing but the size (BODY[], RFC822). */
#ifndef SEALPOST_IMAP_MSG_H
#define SEALPOST_IMAP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_mailbox.h"
#include "imap/mime_section.h"
#include "mail/mime_crlf.h"
#include "net/filestream.h"

enum imap_msg_need {
	IMAP_MSG_NEED_NOTHING,  /* flags, dates, sizes: the view has them */
	IMAP_MSG_NEED_FILE,     /* the whole message as bytes */
	IMAP_MSG_NEED_HEADER,   /* where the header ends */
	IMAP_MSG_NEED_TREE,     /* the MIME structure */
};

struct imap_msg {
	int fd;
	uint64_t size;                  /* of the CRLF form */
	struct mime_reader file;        /* the file as stored */
	struct mime_reader reader;      /* its CRLF form */
	bool lf_only;                   /* read through crlf */
	struct mime_crlf crlf;
	struct mime_part *tree;         /* NEED_TREE (or cached) */
	struct mime_part head;          /* otherwise: a root with only the
					   header and body ranges set */
	const struct mime_part *root;   /* tree or &head */
	bool from_cache;                /* the tree came from the cache */
	bool parsed;                    /* the tree was parsed now */
};

/* Open view message m for need. ENOENT (errno) when it is expunged. */
int imap_msg_open(struct imap_mailbox *mb, struct imap_view_msg *m,
		  enum imap_msg_need need, struct imap_msg *msg_r,
		  const char **error_r);
void imap_msg_close(struct imap_msg *msg);

struct imap_search_key;

/* Does view message i match key? msg is opened for at least need and what
 * the key must read (imap_search_needs), and left open for the caller to
 * read more and close (imap_msg_close) when *opened_r; a message expunged
 * meanwhile matches nothing. -1 with *error_r when reading fails. */
int imap_msg_search(struct imap_mailbox *mb, size_t i,
		    const struct imap_search_key *key, enum imap_msg_need need,
		    struct imap_msg *msg, bool *opened_r, bool *match_r,
		    const char **error_r);

/* The file segments that send the bytes of res (CRLF form), appended to
 * *segs / *n (realloc'd). Data segments point into res. */
int imap_msg_segments(struct imap_msg *msg, const struct mime_body_result *res,
		      struct fstream_segment **segs, size_t *n, const char **error_r);

/* The root header's size in the message behind r (through the blank line,
 * or all of it when there is none), as mime_parse() would find it. */
int imap_msg_header_size(const struct mime_reader *r, uint64_t *size_r,
			 const char **error_r);

#endif
