/* mime_decode.h — content decoding for SEARCH and display: transfer
 * encodings (RFC 2045 6), encoded-words (RFC 2047) and charsets.
 *
 * Design. Everything produces UTF-8. Charset conversion uses glibc iconv
 * (always present on Debian, gconv modules ship with libc6), so every
 * charset glibc knows is supported: UTF-8, US-ASCII, ISO-8859-*, Windows-125x,
 * KOI8-R/U, GB2312/GBK/GB18030, Big5, Shift_JIS, EUC-JP/KR, ISO-2022-JP,
 * UTF-16/32 and more. Fast paths without iconv: US-ASCII/UTF-8 (passed
 * through) and ISO-8859-1. With an unknown charset, header words are kept
 * when they are valid UTF-8 and read as ISO-8859-1 otherwise, and bodies are
 * passed through; bytes invalid in a known charset become U+FFFD.
 *
 * The body decoder is streaming: feed it chunks of any size (a base64
 * quantum, a "=XX" escape or a multibyte character may straddle chunks) and
 * it calls the sink with decoded UTF-8 chunks, holding at most a few bytes
 * between calls. */
#ifndef SEALPOST_MIME_DECODE_H
#define SEALPOST_MIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

/* Longest charset name we pass to iconv (IANA names are under 40). */
#define MIME_CHARSET_NAME_MAX 64

enum mime_encoding {
	MIME_ENC_7BIT,
	MIME_ENC_8BIT,
	MIME_ENC_BINARY,
	MIME_ENC_BASE64,
	MIME_ENC_QP,
	MIME_ENC_OTHER,         /* x-uuencode etc.: searched as-is */
};

/* Content-Transfer-Encoding token (any case) to enum; NULL is 7bit. */
enum mime_encoding mime_encoding_parse(const char *token);

/* Append s (a header value, possibly folded) decoded: encoded-words
 * (=?charset?B|Q?text?=) converted to UTF-8, whitespace between adjacent
 * encoded-words dropped, CR/LF of folding removed. */
void mime_decode_header_append(struct buf *out, const char *s, size_t len);
/* Append len bytes in charset converted to UTF-8. */
void mime_charset_append(struct buf *out, const char *charset,
			 const char *data, size_t len);

typedef void mime_text_sink(void *ctx, const char *data, size_t len);
struct mime_text_decoder;

/* Decoder for a body in transfer encoding enc and charset (NULL: US-ASCII),
 * calling sink(ctx, utf8, len). Free with mime_text_decoder_free. */
struct mime_text_decoder *mime_text_decoder_new(enum mime_encoding enc,
						const char *charset,
						mime_text_sink *sink, void *ctx);
/* Transfer decoding alone (IMAP BINARY, RFC 3516): the bytes the
 * encoding stands for, no charset conversion. The same decoder type. */
struct mime_text_decoder *mime_transfer_decoder_new(enum mime_encoding enc,
						    mime_text_sink *sink, void *ctx);
void mime_text_decoder_feed(struct mime_text_decoder *d, const char *data, size_t len);
/* Flush what is held back (an incomplete escape or character). */
void mime_text_decoder_finish(struct mime_text_decoder *d);
void mime_text_decoder_free(struct mime_text_decoder **dp);

#endif
