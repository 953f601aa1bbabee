/* text_match.c — UTF-8 case folding and a streaming KMP matcher. */
#include "mail/text_match.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct text_matcher {
	char *needle;           /* folded */
	size_t len;
	size_t *fail;           /* KMP failure function */
	size_t state;           /* bytes of needle matched */
	bool matched;
	char pending[4];        /* start of a split UTF-8 sequence */
	size_t n_pending;
};

/* Simple case folding of one code point (see the header for coverage). */
static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x130)
		return 'i';
	if (c >= 0x100 && c <= 0x137)
		return c | 1;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return (c & 1) ? c + 1 : c;
	if (c >= 0x14A && c <= 0x177)
		return c | 1;
	if (c == 0x178)
		return 0xFF;
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
		return c + 32;
	if (c == 0x3C2)
		return 0x3C3;
	if (c == 0x386)
		return 0x3AC;
	if (c >= 0x388 && c <= 0x38A)
		return c + 37;
	if (c == 0x38C)
		return 0x3CC;
	if (c == 0x38E || c == 0x38F)
		return c + 63;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF))
		return c | 1;
	if (c >= 0x531 && c <= 0x556)
		return c + 48;
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c + 32;
	return c;
}

/* Length of the UTF-8 sequence starting with byte c (1 for invalid). */
static size_t seq_len(unsigned char c)
{
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	return 1;
}

/* Fold one complete sequence s[0..n) into out (at most 4 bytes); returns
 * the output length. Invalid sequences are copied. */
static size_t fold_seq(const unsigned char *s, size_t n, char *out)
{
	uint32_t cp;

	if (n == 1) {
		out[0] = (char)(s[0] >= 'A' && s[0] <= 'Z' ? s[0] + 32 : s[0]);
		return 1;
	}
	cp = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			memcpy(out, s, n);
			return n;
		}
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	uint32_t f = fold_cp(cp);
	if (f == cp) {
		memcpy(out, s, n);
		return n;
	}
	if (f < 0x80) {
		out[0] = (char)f;
		return 1;
	}
	if (f < 0x800) {
		out[0] = (char)(0xC0 | (f >> 6));
		out[1] = (char)(0x80 | (f & 0x3F));
		return 2;
	}
	out[0] = (char)(0xE0 | (f >> 12));
	out[1] = (char)(0x80 | ((f >> 6) & 0x3F));
	out[2] = (char)(0x80 | (f & 0x3F));
	return 3;
}

void text_fold_append(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char tmp[4];
	size_t i = 0;

	while (i < len) {
		size_t n = seq_len(u[i]);
		if (i + n > len)
			n = 1;
		size_t k = fold_seq(u + i, n, tmp);
		buf_append(out, tmp, k);
		i += n;
	}
	if (out->data == NULL)
		buf_append(out, "", 0);
}

struct text_matcher *text_matcher_new(const char *needle, size_t len)
{
	struct text_matcher *m = xcalloc(1, sizeof(*m));
	struct buf folded = { 0 };

	text_fold_append(&folded, needle, len);
	m->needle = folded.data;
	m->len = folded.len;
	m->fail = xcalloc(m->len + 1, sizeof(*m->fail));
	for (size_t i = 1, k = 0; i < m->len; i++) {
		while (k > 0 && m->needle[i] != m->needle[k])
			k = m->fail[k - 1];
		if (m->needle[i] == m->needle[k])
			k++;
		m->fail[i] = k;
	}
	m->matched = m->len == 0;
	return m;
}

void text_matcher_reset(struct text_matcher *m)
{
	m->state = 0;
	m->n_pending = 0;
	m->matched = m->len == 0;
}

static void match_bytes(struct text_matcher *m, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !m->matched; i++) {
		while (m->state > 0 && s[i] != m->needle[m->state])
			m->state = m->fail[m->state - 1];
		if (s[i] == m->needle[m->state])
			m->state++;
		if (m->state == m->len)
			m->matched = true;
	}
}

bool text_matcher_feed(struct text_matcher *m, const char *data, size_t len)
{
	const unsigned char *u = (const unsigned char *)data;
	char tmp[4];
	size_t i = 0;

	while (i < len && !m->matched) {
		if (m->n_pending > 0) {
			size_t need = seq_len((unsigned char)m->pending[0]);
			m->pending[m->n_pending++] = data[i++];
			if (m->n_pending < need)
				continue;
			size_t k = fold_seq((unsigned char *)m->pending, need, tmp);
			match_bytes(m, tmp, k);
			m->n_pending = 0;
			continue;
		}
		size_t n = seq_len(u[i]);
		if (i + n > len) {
			memcpy(m->pending, data + i, len - i);
			m->n_pending = len - i;
			break;
		}
		size_t k = fold_seq(u + i, n, tmp);
		match_bytes(m, tmp, k);
		i += n;
	}
	return m->matched;
}

bool text_matcher_matched(const struct text_matcher *m)
{
	return m->matched;
}

void text_matcher_free(struct text_matcher **mp)
{
	if (*mp == NULL)
		return;
	free((*mp)->needle);
	free((*mp)->fail);
	x_free(mp);
}

bool text_contains(const char *haystack, size_t hlen, const char *needle, size_t nlen)
{
	struct text_matcher *m = text_matcher_new(needle, nlen);
	bool found = text_matcher_feed(m, haystack, hlen);
	text_matcher_free(&m);
	return found;
}
