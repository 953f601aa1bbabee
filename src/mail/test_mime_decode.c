/* test_mime_decode.c — encoded-words, charsets, streaming transfer decoding
 * and case-insensitive UTF-8 matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mail/mime_decode.h"
#include "mail/mime_header.h"
#include "mail/text_match.h"

static void assert_decoded(const char *in, const char *expected)
{
	char *out = mime_header_decode(in, strlen(in));
	assert_string_equal(out, expected);
	free(out);
}

static void test_encoded_words(void **state)
{
	assert_decoded("=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n =?UTF-8?Q?_=E2=80=93_Caf=C3=A9?=",
		       "Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen \xe2\x80\x93 Caf\xc3\xa9");
	assert_decoded("=?ISO-8859-1?Q?J=F6rg_M=FCller?=", "J\xc3\xb6rg M\xc3\xbcller");
	assert_decoded("a =?utf-8?q?b?= c", "a b c");
	assert_decoded("=?utf-8?q?a?=  \t =?utf-8?q?b?=", "ab");
	assert_decoded("=?utf-8?b?YQ==?= x", "a x");
	assert_decoded("plain text", "plain text");
	assert_decoded("  folded\r\n  value  ", "folded  value");
	/* a character split across two words of one charset */
	assert_decoded("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "\xc3\xa9");
	/* charsets through iconv; RFC 2231 language suffix */
	assert_decoded("=?windows-1252?q?=80_5?=", "\xe2\x82\xac 5");
	assert_decoded("=?KOI8-R?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	assert_decoded("=?utf-8*en?q?hi?=", "hi");
	/* unknown charset: valid UTF-8 kept, else read as Latin-1 */
	assert_decoded("=?x-unknown?q?caf=E9?=", "caf\xc3\xa9");
	assert_decoded("=?x-unknown?q?caf=C3=A9?=", "caf\xc3\xa9");
	/* malformed words stay as they are */
	assert_decoded("=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
	assert_decoded("=?utf-8?q?no end", "=?utf-8?q?no end");
	assert_decoded("=??q?a?=", "=??q?a?=");
	assert_decoded("=?utf-8?q?a b?=", "=?utf-8?q?a b?=");
	/* invalid bytes in a converted charset become U+FFFD; UTF-8 is
	 * passed through as it is */
	assert_decoded("=?Shift_JIS?q?a=FFb?=", "a\xef\xbf\xbd" "b");
	assert_decoded("=?utf-8?q?a=FFb?=", "a\xff" "b");
}

struct sink {
	struct buf out;
};

static void sink_fn(void *ctx, const char *data, size_t len)
{
	buf_append(&((struct sink *)ctx)->out, data, len);
}

/* Decode in one go and byte by byte; both must give expected. */
static void assert_stream(enum mime_encoding enc, const char *charset,
			  const char *in, size_t len, const char *expected)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct sink s = { { 0 } };
		struct mime_text_decoder *d = mime_text_decoder_new(enc, charset, sink_fn, &s);
		if (bytewise) {
			for (size_t i = 0; i < len; i++)
				mime_text_decoder_feed(d, in + i, 1);
		} else {
			mime_text_decoder_feed(d, in, len);
		}
		mime_text_decoder_finish(d);
		mime_text_decoder_free(&d);
		buf_append(&s.out, "", 0);
		assert_string_equal(s.out.data, expected);
		buf_free(&s.out);
	}
}

static void test_streaming(void **state)
{
	const char *b64 = "R3LDvMOfZSBh\r\ndXMgTcO8bmNo\r\nZW4=\r\n";
	assert_stream(MIME_ENC_BASE64, "utf-8", b64, strlen(b64),
		      "Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen");
	const char *qp = "sch=F6ne Gr=FC=DFe =\r\naus M=FCnchen=\n!=3D =G1 =\r\n";
	assert_stream(MIME_ENC_QP, "iso-8859-1", qp, strlen(qp),
		      "sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen!= =G1 ");
	const char *qp_end = "abc=";
	assert_stream(MIME_ENC_QP, NULL, qp_end, strlen(qp_end), "abc=");
	const char *qp_ws = "soft =  \r\nbreak";
	assert_stream(MIME_ENC_QP, NULL, qp_ws, strlen(qp_ws), "soft break");
	/* Shift_JIS and stateful ISO-2022-JP, split at every byte */
	const char *sjis = "\x93\xfa\x96\x7b\x8c\xea";
	assert_stream(MIME_ENC_8BIT, "Shift_JIS", sjis, strlen(sjis),
		      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	const char *jis = "\x1b$BF|K\\8l\x1b(B!";
	assert_stream(MIME_ENC_7BIT, "ISO-2022-JP", jis, strlen(jis),
		      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e!");
	/* a truncated multibyte character at the end becomes U+FFFD */
	assert_stream(MIME_ENC_8BIT, "Shift_JIS", "ab\x93", 3, "ab\xef\xbf\xbd");
	assert_stream(MIME_ENC_BINARY, "us-ascii", "raw\x80", 4, "raw\x80");
	assert_int_equal(mime_encoding_parse("Base64"), MIME_ENC_BASE64);
	assert_int_equal(mime_encoding_parse("QUOTED-PRINTABLE"), MIME_ENC_QP);
	assert_int_equal(mime_encoding_parse(NULL), MIME_ENC_7BIT);
	assert_int_equal(mime_encoding_parse("x-uuencode"), MIME_ENC_OTHER);
}

static void test_match(void **state)
{
	assert_true(text_contains("Quarterly REPORT", 16, "report", 6));
	const char *upper = "Gr\xc3\x9c\xc3\x9f" "E AUS M\xc3\x9cNCHEN";
	assert_true(text_contains(upper, strlen(upper), "m\xc3\xbcnchen", 8));
	assert_false(text_contains(upper, strlen(upper) - 1, "m\xc3\xbcnchen", 8));
	assert_true(text_contains("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", 12,
				  "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 12));
	assert_true(text_contains("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", 10,
				  "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1", 10));
	assert_true(text_contains("\xc4\xb0stanbul", 9, "istanbul", 8));
	assert_true(text_contains("xaaab", 5, "aab", 3));
	assert_true(text_contains("anything", 8, "", 0));
	assert_false(text_contains("report", 6, "reports", 7));
	assert_false(text_contains("caf\xc3\xa9", 5, "cafe", 4));
	assert_true(text_contains("raw \xff\xfe bytes", 12, "\xff\xfe B", 4));

	/* chunks split inside characters and inside the needle */
	struct text_matcher *m = text_matcher_new("m\xc3\xbcnchen", 8);
	const char *hay = "aus M\xc3\x9cNCHEN!";
	bool found = false;
	for (size_t i = 0; hay[i] != '\0'; i++)
		found = text_matcher_feed(m, hay + i, 1);
	assert_true(found);
	text_matcher_reset(m);
	assert_false(text_matcher_matched(m));
	assert_false(text_matcher_feed(m, "M\xc3", 2));
	assert_false(text_matcher_feed(m, "\xbc", 1));
	assert_true(text_matcher_feed(m, "nchen", 5));
	text_matcher_free(&m);

	struct buf b = { 0 };
	const char *mixed = "ABC \xc3\x80\xc3\x9e \xc5\xb8 \xd0\x81";
	text_fold_append(&b, mixed, strlen(mixed));
	assert_string_equal(b.data, "abc \xc3\xa0\xc3\xbe \xc3\xbf \xd1\x91");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
