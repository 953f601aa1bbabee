/* mime_render.h — FETCH ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 7.4.2).
 *
 * Design. Renderers append IMAP syntax to a struct buf, every string going
 * through imap_util's quoting (quoted when 7-bit and short, else a literal:
 * 8-bit header data is sent as a literal). ENVELOPE fields are the raw
 * header values, unfolded: encoded-words are left for the client to decode,
 * as RFC 3501 intends; Sender and Reply-To fall back to From when absent or
 * empty. BODYSTRUCTURE always carries the extension data (MD5, disposition,
 * language, location; multipart parameters) with NIL where absent; BODY is
 * the same without extension data. Strings from Content-Type keep the case
 * they had in the message; defaults are written like Dovecot writes them
 * ("text" "plain" ("charset" "us-ascii") ... "7bit"). */
#ifndef SEALPOST_MIME_RENDER_H
#define SEALPOST_MIME_RENDER_H

#include <stdbool.h>

#include "mail/mime.h"
#include "mail/mime_header.h"
#include "lib/util.h"

/* Append the ENVELOPE list built from a header block. */
void mime_envelope_append(struct buf *out, const struct mime_headers *h);
/* Append the ENVELOPE of msg (the root, or the child of a message/rfc822
 * part), reading its header through r. */
int mime_render_envelope(const struct mime_part *msg, const struct mime_reader *r,
			 struct buf *out, const char **error_r);
/* Append BODYSTRUCTURE (extended) or BODY (!extended) of the tree at root;
 * reads the headers of encapsulated messages through r for their ENVELOPE. */
int mime_render_bodystructure(const struct mime_part *root, const struct mime_reader *r,
			      bool extended, struct buf *out, const char **error_r);

#endif
