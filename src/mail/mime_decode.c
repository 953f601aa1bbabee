/* mime_decode.c — transfer decoding, encoded-words and charset conversion. */
#include "mail/mime_decode.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest encoded-word we decode (RFC 2047 2 says 75; real mail is sloppy). */
#define ENCODED_WORD_MAX 1024
/* Bytes of an incomplete multibyte character kept between chunks. */
#define CARRY_MAX 16
/* Staging buffer for decoded bytes and converted output. */
#define STAGE_SIZE 4096

static const char replacement[] = "\xEF\xBF\xBD";  /* U+FFFD */

enum mime_encoding mime_encoding_parse(const char *token)
{
	static const struct {
		const char *name;
		enum mime_encoding enc;
	} names[] = {
		{ "7bit", MIME_ENC_7BIT }, { "8bit", MIME_ENC_8BIT },
		{ "binary", MIME_ENC_BINARY }, { "base64", MIME_ENC_BASE64 },
		{ "quoted-printable", MIME_ENC_QP },
	};
	if (token == NULL)
		return MIME_ENC_7BIT;
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		if (strcasecmp(token, names[i].name) == 0)
			return names[i].enc;
	}
	return MIME_ENC_OTHER;
}

/* ---- charset conversion ----------------------------------------------- */

enum conv_kind { CONV_PASS, CONV_LATIN1, CONV_ICONV };

struct charset_conv {
	enum conv_kind kind;
	iconv_t cd;
	char carry[CARRY_MAX];
	size_t n_carry;
	mime_text_sink *sink;
	void *ctx;
};

static bool charset_name_ok(const char *cs)
{
	size_t n = strlen(cs);
	if (n == 0 || n > MIME_CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)cs[i]) && strchr("-_.:+", cs[i]) == NULL)
			return false;
	}
	return true;
}

/* Set up conversion from charset; false when the charset is unknown (the
 * converter then passes bytes through). */
static bool conv_init(struct charset_conv *c, const char *charset,
		      mime_text_sink *sink, void *ctx)
{
	static const char *const pass[] = {
		"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968",
	};
	static const char *const latin1[] = {
		"iso-8859-1", "iso8859-1", "latin1", "iso_8859-1", "l1",
	};
	memset(c, 0, sizeof(*c));
	c->sink = sink;
	c->ctx = ctx;
	c->kind = CONV_PASS;
	if (charset == NULL)
		return true;
	for (size_t i = 0; i < N_ELEMENTS(pass); i++) {
		if (strcasecmp(charset, pass[i]) == 0)
			return true;
	}
	for (size_t i = 0; i < N_ELEMENTS(latin1); i++) {
		if (strcasecmp(charset, latin1[i]) == 0) {
			c->kind = CONV_LATIN1;
			return true;
		}
	}
	if (!charset_name_ok(charset))
		return false;
	c->cd = iconv_open("UTF-8", charset);
	if (c->cd == (iconv_t)-1)
		return false;
	c->kind = CONV_ICONV;
	return true;
}

static void conv_deinit(struct charset_conv *c)
{
	if (c->kind == CONV_ICONV)
		iconv_close(c->cd);
	c->kind = CONV_PASS;
}

static void latin1_to_utf8(struct charset_conv *c, const char *in, size_t len)
{
	char out[STAGE_SIZE];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (n + 2 > sizeof(out)) {
			c->sink(c->ctx, out, n);
			n = 0;
		}
		if (ch < 0x80) {
			out[n++] = (char)ch;
		} else {
			out[n++] = (char)(0xC0 | (ch >> 6));
			out[n++] = (char)(0x80 | (ch & 0x3F));
		}
	}
	if (n > 0)
		c->sink(c->ctx, out, n);
}

static void iconv_run(struct charset_conv *c, const char *in, size_t inleft)
{
	char out[STAGE_SIZE];
	char *inp = (char *)in;

	while (inleft > 0) {
		char *op = out;
		size_t outleft = sizeof(out);
		size_t r = iconv(c->cd, &inp, &inleft, &op, &outleft);
		int err = errno;
		if (op > out)
			c->sink(c->ctx, out, (size_t)(op - out));
		if (r != (size_t)-1)
			break;
		if (err == E2BIG)
			continue;
		if (err == EINVAL && inleft <= CARRY_MAX) {
			memcpy(c->carry, inp, inleft);
			c->n_carry = inleft;
			return;
		}
		/* EILSEQ (or anything else): replace one byte and go on. */
		c->sink(c->ctx, replacement, 3);
		inp++;
		inleft--;
	}
}

static void conv_feed(struct charset_conv *c, const char *data, size_t len)
{
	if (len == 0)
		return;
	switch (c->kind) {
	case CONV_PASS:
		c->sink(c->ctx, data, len);
		return;
	case CONV_LATIN1:
		latin1_to_utf8(c, data, len);
		return;
	case CONV_ICONV:
		break;
	}
	if (c->n_carry == 0) {
		iconv_run(c, data, len);
		return;
	}
	char *tmp = xmalloc(c->n_carry + len);
	memcpy(tmp, c->carry, c->n_carry);
	memcpy(tmp + c->n_carry, data, len);
	size_t n = c->n_carry + len;
	c->n_carry = 0;
	iconv_run(c, tmp, n);
	free(tmp);
}

static void conv_finish(struct charset_conv *c)
{
	if (c->kind != CONV_ICONV)
		return;
	if (c->n_carry > 0)
		c->sink(c->ctx, replacement, 3);
	c->n_carry = 0;
	iconv(c->cd, NULL, NULL, NULL, NULL);
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return false;
		i += n + 1;
	}
	return true;
}

static void buf_sink(void *ctx, const char *data, size_t len)
{
	buf_append(ctx, data, len);
}

void mime_charset_append(struct buf *out, const char *charset,
			 const char *data, size_t len)
{
	struct charset_conv c;

	if (!conv_init(&c, charset, buf_sink, out) &&
	    !utf8_valid((const unsigned char *)data, len))
		c.kind = CONV_LATIN1;
	conv_feed(&c, data, len);
	conv_finish(&c);
	conv_deinit(&c);
}

/* ---- transfer decoding ------------------------------------------------ */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

enum qp_state { QP_TEXT, QP_EQ, QP_EQ_HEX, QP_EQ_CR, QP_EQ_WS };

struct mime_text_decoder {
	enum mime_encoding enc;
	struct charset_conv conv;
	uint32_t b64_acc;
	unsigned b64_bits;
	enum qp_state qp;
	char qp_hex;
	char stage[STAGE_SIZE];
	size_t n_stage;
};

static void stage_put(struct mime_text_decoder *d, char c)
{
	if (d->n_stage == sizeof(d->stage)) {
		conv_feed(&d->conv, d->stage, d->n_stage);
		d->n_stage = 0;
	}
	d->stage[d->n_stage++] = c;
}

static void stage_flush(struct mime_text_decoder *d)
{
	conv_feed(&d->conv, d->stage, d->n_stage);
	d->n_stage = 0;
}

struct mime_text_decoder *mime_text_decoder_new(enum mime_encoding enc,
						const char *charset,
						mime_text_sink *sink, void *ctx)
{
	struct mime_text_decoder *d = xcalloc(1, sizeof(*d));
	d->enc = enc;
	conv_init(&d->conv, charset, sink, ctx);
	return d;
}

struct mime_text_decoder *mime_transfer_decoder_new(enum mime_encoding enc,
						    mime_text_sink *sink, void *ctx)
{
	/* no charset: conv_init() passes the bytes through */
	return mime_text_decoder_new(enc, NULL, sink, ctx);
}

static void b64_feed(struct mime_text_decoder *d, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(data[i]);
		if (v < 0) {
			if (data[i] == '=')     /* padding ends a quantum */
				d->b64_bits = 0;
			continue;
		}
		d->b64_acc = (d->b64_acc << 6) | (uint32_t)v;
		d->b64_bits += 6;
		if (d->b64_bits >= 8) {
			d->b64_bits -= 8;
			stage_put(d, (char)((d->b64_acc >> d->b64_bits) & 0xFF));
		}
	}
}

/* One quoted-printable byte; returns false when c must be looked at again
 * in the QP_TEXT state (a broken escape is kept literally). */
static bool qp_byte(struct mime_text_decoder *d, char c)
{
	switch (d->qp) {
	case QP_TEXT:
		if (c == '=')
			d->qp = QP_EQ;
		else
			stage_put(d, c);
		return true;
	case QP_EQ:
		if (hex_value(c) >= 0) {
			d->qp_hex = c;
			d->qp = QP_EQ_HEX;
		} else if (c == '\r') {
			d->qp = QP_EQ_CR;
		} else if (c == '\n') {
			d->qp = QP_TEXT;        /* soft line break, bare LF */
		} else if (c == ' ' || c == '\t') {
			d->qp = QP_EQ_WS;
		} else {
			stage_put(d, '=');
			d->qp = QP_TEXT;
			return false;
		}
		return true;
	case QP_EQ_HEX:
		d->qp = QP_TEXT;
		if (hex_value(c) < 0) {
			stage_put(d, '=');
			stage_put(d, d->qp_hex);
			return false;
		}
		stage_put(d, (char)(hex_value(d->qp_hex) * 16 + hex_value(c)));
		return true;
	case QP_EQ_WS:
		if (c == ' ' || c == '\t')
			return true;
		if (c == '\r') {
			d->qp = QP_EQ_CR;
			return true;
		}
		d->qp = QP_TEXT;
		return c == '\n';
	case QP_EQ_CR:
		d->qp = QP_TEXT;
		return c == '\n';
	}
	return true;
}

void mime_text_decoder_feed(struct mime_text_decoder *d, const char *data, size_t len)
{
	switch (d->enc) {
	case MIME_ENC_BASE64:
		b64_feed(d, data, len);
		break;
	case MIME_ENC_QP:
		for (size_t i = 0; i < len; i++) {
			if (!qp_byte(d, data[i]))
				qp_byte(d, data[i]);
		}
		break;
	default:
		stage_flush(d);
		conv_feed(&d->conv, data, len);
		return;
	}
	stage_flush(d);
}

void mime_text_decoder_finish(struct mime_text_decoder *d)
{
	if (d->enc == MIME_ENC_QP) {
		if (d->qp == QP_EQ || d->qp == QP_EQ_HEX)
			stage_put(d, '=');
		if (d->qp == QP_EQ_HEX)
			stage_put(d, d->qp_hex);
		d->qp = QP_TEXT;
	}
	stage_flush(d);
	conv_finish(&d->conv);
}

void mime_text_decoder_free(struct mime_text_decoder **dp)
{
	if (*dp == NULL)
		return;
	conv_deinit(&(*dp)->conv);
	x_free(dp);
}

/* ---- RFC 2047 encoded-words ------------------------------------------- */

struct encoded_word {
	char charset[MIME_CHARSET_NAME_MAX + 1];
	char enc;               /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t total_len;       /* bytes from "=?" through "?=" */
};

/* Parse "=?charset[*lang]?B|Q?text?=" at s. */
static bool encoded_word_parse(const char *s, size_t len, struct encoded_word *w)
{
	size_t i = 2, cs_start = 2, cs_len;

	if (len < 8 || s[0] != '=' || s[1] != '?')
		return false;
	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t')
		i++;
	if (i + 3 >= len || s[i] != '?' || s[i + 2] != '?')
		return false;
	cs_len = i - cs_start;
	const char *star = memchr(s + cs_start, '*', cs_len);
	if (star != NULL)                       /* RFC 2231 5 language */
		cs_len = (size_t)(star - (s + cs_start));
	if (cs_len == 0 || cs_len > MIME_CHARSET_NAME_MAX)
		return false;
	memcpy(w->charset, s + cs_start, cs_len);
	w->charset[cs_len] = '\0';
	w->enc = (char)toupper((unsigned char)s[i + 1]);
	if (w->enc != 'B' && w->enc != 'Q')
		return false;
	size_t t = i + 3;
	for (size_t j = t; j + 1 < len && j < ENCODED_WORD_MAX; j++) {
		if (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')
			return false;
		if (s[j] == '?' && s[j + 1] == '=') {
			w->text = s + t;
			w->text_len = j - t;
			w->total_len = j + 2;
			return true;
		}
	}
	return false;
}

static void word_decode(const struct encoded_word *w, struct buf *bytes)
{
	if (w->enc == 'Q') {
		for (size_t i = 0; i < w->text_len; i++) {
			char c = w->text[i];
			if (c == '_') {
				c = ' ';
			} else if (c == '=' && i + 2 < w->text_len &&
				   hex_value(w->text[i + 1]) >= 0 &&
				   hex_value(w->text[i + 2]) >= 0) {
				c = (char)(hex_value(w->text[i + 1]) * 16 +
					   hex_value(w->text[i + 2]));
				i += 2;
			}
			buf_append(bytes, &c, 1);
		}
		return;
	}
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < w->text_len; i++) {
		int v = b64_value(w->text[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			char c = (char)((acc >> bits) & 0xFF);
			buf_append(bytes, &c, 1);
		}
	}
}

/* Decoded bytes of adjacent encoded-words in one charset are converted
 * together: a multibyte character may be split across two words. */
struct word_run {
	char charset[MIME_CHARSET_NAME_MAX + 1];
	struct buf bytes;
};

static void run_flush(struct word_run *run, struct buf *out)
{
	if (run->bytes.len > 0)
		mime_charset_append(out, run->charset, run->bytes.data, run->bytes.len);
	run->bytes.len = 0;
	run->charset[0] = '\0';
}

void mime_decode_header_append(struct buf *out, const char *s, size_t len)
{
	struct word_run run = { .charset = "" };
	size_t i = 0, ws_start = 0;
	bool after_word = false;

	while (i < len) {
		struct encoded_word w;
		char c = s[i];
		if (c == '\r' || c == '\n') {
			i++;
			continue;
		}
		if ((c == ' ' || c == '\t') && after_word) {
			i++;
			continue;       /* held back until we know what follows */
		}
		if (c == '=' && encoded_word_parse(s + i, len - i, &w)) {
			if (strcasecmp(run.charset, w.charset) != 0) {
				run_flush(&run, out);
				memcpy(run.charset, w.charset, sizeof(run.charset));
			}
			word_decode(&w, &run.bytes);
			i += w.total_len;
			ws_start = i;
			after_word = true;
			continue;
		}
		run_flush(&run, out);
		if (after_word) {
			/* not followed by a word: keep the whitespace */
			for (size_t k = ws_start; k < i; k++) {
				if (s[k] == ' ' || s[k] == '\t')
					buf_append(out, &s[k], 1);
			}
			after_word = false;
		}
		buf_append(out, &c, 1);
		i++;
	}
	run_flush(&run, out);
	if (after_word) {
		for (size_t k = ws_start; k < len; k++) {
			if (s[k] == ' ' || s[k] == '\t')
				buf_append(out, &s[k], 1);
		}
	}
	buf_free(&run.bytes);
	if (out->data == NULL)
		buf_append(out, "", 0);
}
