/* mutf7.c — IMAP modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8, strictly.
 *
 * Printable US-ASCII (0x20-0x7e) stands for itself, except '&' which is
 * written "&-". Everything else is UTF-16, in modified base64 (',' for '/',
 * no padding) between '&' and '-'. The decoder accepts only the encoding the
 * encoder makes, so every name has exactly one spelling on disk. */
#include "store/maildir.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Decode one UTF-8 sequence at s; its length, or 0 if it is invalid
 * (truncated, overlong, a surrogate, beyond U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp_r)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;  /* also stops at the NUL terminator */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

static void utf8_encode(struct buf *out, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

/* The base64 state of a shifted run in the encoder. */
struct b64_out {
	uint32_t bits;
	unsigned nbits;
};

static void b64_put16(struct buf *out, struct b64_out *st, uint32_t unit)
{
	st->bits = (st->bits << 16) | unit;
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		buf_append(out, &b64_chars[(st->bits >> st->nbits) & 0x3f], 1);
	}
	st->bits &= (1u << st->nbits) - 1;
}

static void b64_close(struct buf *out, struct b64_out *st)
{
	if (st->nbits > 0) {
		char c = b64_chars[(st->bits << (6 - st->nbits)) & 0x3f];
		buf_append(out, &c, 1);
	}
	buf_append(out, "-", 1);
	st->bits = st->nbits = 0;
}

int mutf7_from_utf8(const char *utf8, char **mutf7_r, const char **error_r)
{
	const unsigned char *s = (const unsigned char *)utf8;
	struct buf out = { 0 };
	struct b64_out st = { 0, 0 };
	bool shifted = false;

	buf_append(&out, "", 0);
	while (*s != '\0') {
		uint32_t cp;
		size_t len = utf8_decode(s, &cp);
		if (len == 0) {
			*error_r = errfmt("invalid UTF-8 at byte %zu",
					  (size_t)(s - (const unsigned char *)utf8));
			buf_free(&out);
			errno = EINVAL;
			return -1;
		}
		s += len;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted)
				b64_close(&out, &st);
			shifted = false;
			if (cp == '&') {
				buf_append(&out, "&-", 2);
			} else {
				char c = (char)cp;
				buf_append(&out, &c, 1);
			}
			continue;
		}
		if (!shifted)
			buf_append(&out, "&", 1);
		shifted = true;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			b64_put16(&out, &st, 0xd800 | (cp >> 10));
			b64_put16(&out, &st, 0xdc00 | (cp & 0x3ff));
		} else {
			b64_put16(&out, &st, cp);
		}
	}
	if (shifted)
		b64_close(&out, &st);
	*mutf7_r = out.data;
	return 0;
}

/* Decode the shifted run starting after '&' at *sp, up to and including its
 * '-'. Returns false on any non-canonical or invalid input. */
static bool decode_shift(const unsigned char **sp, struct buf *out,
			 const char **error_r)
{
	const unsigned char *s = *sp;
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0, units = 0;

	for (; *s != '-'; s++) {
		int v = b64_value(*s);
		if (v < 0) {
			*error_r = *s == '\0' ? "unterminated &-sequence" :
				"invalid character in &-sequence";
			return false;
		}
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t unit = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff) {
				*error_r = "unpaired UTF-16 surrogate";
				return false;
			}
			utf8_encode(out, 0x10000 + ((high - 0xd800) << 10) +
					 (unit - 0xdc00));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			*error_r = "unpaired UTF-16 surrogate";
			return false;
		} else if (unit == 0 || (unit >= 0x20 && unit <= 0x7e)) {
			*error_r = "NUL or printable ASCII inside &-sequence";
			return false;
		} else {
			utf8_encode(out, unit);
		}
	}
	if (units == 0 || high != 0 || nbits >= 6 || bits != 0) {
		*error_r = units == 0 ? "empty &-sequence" :
			high != 0 ? "unpaired UTF-16 surrogate" :
			"bad padding in &-sequence";
		return false;
	}
	*sp = s + 1;
	return true;
}

int mutf7_to_utf8(const char *mutf7, char **utf8_r, const char **error_r)
{
	const unsigned char *s = (const unsigned char *)mutf7;
	struct buf out = { 0 };
	bool after_shift = false;

	buf_append(&out, "", 0);
	while (*s != '\0') {
		if (*s < 0x20 || *s > 0x7e) {
			*error_r = "byte outside printable US-ASCII";
			goto fail;
		}
		if (*s != '&') {
			buf_append(&out, s++, 1);
			after_shift = false;
			continue;
		}
		if (s[1] == '-') {
			buf_append(&out, "&", 1);
			s += 2;
			after_shift = false;
			continue;
		}
		if (after_shift) {
			*error_r = "adjacent &-sequences";
			goto fail;
		}
		s++;
		if (!decode_shift(&s, &out, error_r))
			goto fail;
		after_shift = true;
	}
	*utf8_r = out.data;
	return 0;
fail:
	*error_r = errfmt("invalid modified UTF-7: %s", *error_r);
	buf_free(&out);
	errno = EINVAL;
	return -1;
}
