/* imap_binary.c — BINARY sections: which bytes, and decoding them (see
 * imap_binary.h). */
#include "imap/imap_binary.h"
#include "mail/mime_decode.h"
#include "lib/fsutil.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

enum imap_binary_kind imap_binary_part(const struct mime_part *root,
				       const struct mime_section *sec,
				       const struct mime_part **part_r)
{
	const struct mime_part *part = mime_section_part(root, sec);

	*part_r = part;
	if (part == NULL)
		return IMAP_BINARY_NIL;
	/* BINARY[] is the message itself; multiparts and messages are not
	 * encoded (RFC 2045 6.4) */
	if (sec->n_part == 0 ||
	    (part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) != 0)
		return IMAP_BINARY_IDENTITY;
	switch (mime_part_encoding(part)) {
	case MIME_ENC_7BIT:
	case MIME_ENC_8BIT:
	case MIME_ENC_BINARY:
		return IMAP_BINARY_IDENTITY;
	case MIME_ENC_BASE64:
	case MIME_ENC_QP:
		return IMAP_BINARY_DECODE;
	case MIME_ENC_OTHER:
		break;
	}
	return IMAP_BINARY_UNKNOWN_CTE;
}

struct decode_ctx {
	struct imap_binary_data *out;
	bool keep;
	const char *spool_dir;
	bool failed;
	const char *error;
};

/* Memory up to the cap, then everything into a scratch file. */
static void spill(struct decode_ctx *dc)
{
	struct imap_binary_data *out = dc->out;

	out->fd = fs_tmpfile(dc->spool_dir, &dc->error);
	if (out->fd < 0 || fs_write_all(out->fd, out->mem.data, out->mem.len) < 0) {
		if (out->fd >= 0)
			dc->error = errfmt("scratch file: %s", strerror(errno));
		dc->failed = true;
		return;
	}
	out->mem.len = 0;
}

static void sink(void *ctx, const char *data, size_t len)
{
	struct decode_ctx *dc = ctx;
	struct imap_binary_data *out = dc->out;

	out->size += len;
	out->has_nul |= memchr(data, '\0', len) != NULL;
	if (!dc->keep || dc->failed)
		return;
	if (out->fd < 0 && out->mem.len + len > IMAP_BINARY_INLINE_MAX)
		spill(dc);
	if (dc->failed)
		return;
	if (out->fd < 0) {
		buf_append(&out->mem, data, len);
	} else if (fs_write_all(out->fd, data, len) < 0) {
		dc->error = errfmt("scratch file: %s", strerror(errno));
		dc->failed = true;
	}
}

int imap_binary_decode(const struct mime_reader *r, const struct mime_part *part,
		       bool keep, const char *spool_dir,
		       struct imap_binary_data *out_r, const char **error_r)
{
	struct decode_ctx dc = { out_r, keep, spool_dir, false, NULL };
	struct mime_text_decoder *dec = mime_transfer_decoder_new(
		mime_part_encoding(part), sink, &dc);
	char *chunk = xmalloc(MIME_READ_CHUNK);
	uint64_t pos = 0;

	memset(out_r, 0, sizeof(*out_r));
	out_r->fd = -1;
	while (pos < part->body_size && !dc.failed) {
		uint64_t left = part->body_size - pos;
		size_t want = left < MIME_READ_CHUNK ? (size_t)left : MIME_READ_CHUNK;
		ssize_t n = mime_read_full(r, chunk, want, part->body_offset + pos,
					   &dc.error);
		if (n <= 0) {
			dc.failed = true;
			if (n == 0)
				dc.error = "message file shorter than its structure";
			break;
		}
		mime_text_decoder_feed(dec, chunk, (size_t)n);
		pos += (size_t)n;
	}
	if (!dc.failed)
		mime_text_decoder_finish(dec);
	mime_text_decoder_free(&dec);
	free(chunk);
	if (dc.failed) {
		*error_r = dc.error;
		imap_binary_data_free(out_r);
		return -1;
	}
	return 0;
}

void imap_binary_data_free(struct imap_binary_data *data)
{
	buf_free(&data->mem);
	if (data->fd >= 0)
		close(data->fd);
	data->fd = -1;
}
