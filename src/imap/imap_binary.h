/* imap_binary.h — BINARY (RFC 3516): FETCH BINARY[section]<partial>,
 * BINARY.PEEK and BINARY.SIZE, a part's content with its
 * Content-Transfer-Encoding undone.
 *
 * Design. A BINARY section names a part by number only (RFC 3516 4.1).
 * Parts in 7bit, 8bit or binary, multiparts and messages, and the whole
 * message (BINARY[]), are sent as they are, like BODY[]. Base64 and
 * quoted-printable parts are decoded with the mail library's streaming
 * decoder (mail/mime_decode.h, transfer decoding only, no charset
 * conversion) while the part is read in chunks: into memory up to
 * IMAP_BINARY_INLINE_MAX, past that into a scratch file without a name
 * in the folder's tmp/ (lib/fsutil.h fs_tmpfile), which the FETCH then
 * streams like any message file. BINARY.SIZE decodes without keeping
 * anything. Any other encoding is [UNKNOWN-CTE]. Decoded data holding a
 * NUL is sent as a literal8 ("~{n}", RFC 3516 4.3). */
#ifndef SEALPOST_IMAP_BINARY_H
#define SEALPOST_IMAP_BINARY_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/mime_section.h"
#include "lib/util.h"

/* Decoded bytes held in memory; more go to a scratch file. */
#define IMAP_BINARY_INLINE_MAX (64 * 1024)

enum imap_binary_kind {
	IMAP_BINARY_NIL,                /* no such part */
	IMAP_BINARY_IDENTITY,           /* sent as stored (BODY[section]) */
	IMAP_BINARY_DECODE,             /* base64 or quoted-printable */
	IMAP_BINARY_UNKNOWN_CTE,        /* an encoding we cannot undo */
};

/* What BINARY[sec] of the message is; *part_r is its part (DECODE). */
enum imap_binary_kind imap_binary_part(const struct mime_part *root,
				       const struct mime_section *sec,
				       const struct mime_part **part_r);

/* A decoded part: in mem, or (fd >= 0) in a scratch file of size bytes. */
struct imap_binary_data {
	struct buf mem;
	int fd;
	uint64_t size;
	bool has_nul;
};

/* Decode part (read through r, the CRLF form). With keep false only the
 * size and has_nul are found. spool_dir is where a scratch file may go.
 * -1 with *error_r when reading or writing fails. */
int imap_binary_decode(const struct mime_reader *r, const struct mime_part *part,
		       bool keep, const char *spool_dir,
		       struct imap_binary_data *out_r, const char **error_r);
void imap_binary_data_free(struct imap_binary_data *data);

#endif
