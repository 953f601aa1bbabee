/* test_imap_fetch_attr.c — FETCH items, macros, sections, partials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch_attr.h"
#include "imap/imap_parser.h"

/* Parse "x FETCH 1 <atts>" and the attributes. */
static int parse(const char *atts, struct imap_fetch_attrs *attrs, const char **error)
{
	struct imap_parser *p = imap_parser_new(1000);
	char *line = xasprintf("x FETCH 1 %s", atts);
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_COMPLETE);
	const struct imap_command *cmd = imap_parser_command(p);
	int ret = imap_fetch_attrs_parse(cmd->args + 1, cmd->n_args - 1, attrs, error);
	free(line);
	imap_parser_free(&p);
	return ret;
}

static void assert_names(const char *atts, const char *expected)
{
	struct imap_fetch_attrs attrs;
	const char *error;
	struct buf b = { 0 };

	assert_int_equal(parse(atts, &attrs, &error), 0);
	buf_append(&b, "", 0);
	for (size_t i = 0; i < attrs.count; i++)
		buf_printf(&b, "%s%s", i ? " " : "", attrs.items[i].name);
	assert_string_equal(b.data, expected);
	buf_free(&b);
	imap_fetch_attrs_free(&attrs);
}

static void assert_invalid(const char *atts, const char *reason)
{
	struct imap_fetch_attrs attrs;
	const char *error;
	assert_int_equal(parse(atts, &attrs, &error), -1);
	assert_string_equal(error, reason);
}

static void test_macros(void **state)
{
	assert_names("FAST", "FLAGS INTERNALDATE RFC822.SIZE");
	assert_names("all", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	assert_names("FULL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY");
	assert_names("uid", "UID");
	assert_names("(FLAGS rfc822.size Envelope BODYSTRUCTURE body internaldate)",
		     "FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY INTERNALDATE");
}

/* RFC 3516: BINARY[part]<partial>, BINARY.PEEK, BINARY.SIZE; part numbers
 * only; BINARY sets \Seen, the others do not. */
static void test_binary(void **state)
{
	struct imap_fetch_attrs attrs;
	const char *error;

	assert_names("(BINARY[1] binary.peek[1.2]<0.100> BINARY.SIZE[3] BINARY[])",
		     "BINARY[1] BINARY[1.2]<0> BINARY.SIZE[3] BINARY[]");
	assert_int_equal(parse("(BINARY.PEEK[1] BINARY.SIZE[1])", &attrs, &error), 0);
	assert_int_equal(attrs.items[0].kind, IMAP_FETCH_BINARY);
	assert_true(attrs.items[0].peek);
	assert_int_equal(attrs.items[1].kind, IMAP_FETCH_BINARY_SIZE);
	assert_false(attrs.sets_seen);
	imap_fetch_attrs_free(&attrs);
	assert_int_equal(parse("BINARY[2]<5.6>", &attrs, &error), 0);
	assert_true(attrs.sets_seen);
	assert_int_equal(attrs.items[0].partial_offset, 5);
	assert_int_equal(attrs.items[0].partial_size, 6);
	assert_int_equal(attrs.items[0].section.part[0], 2);
	imap_fetch_attrs_free(&attrs);
	assert_invalid("BINARY[1.HEADER]", "Invalid BINARY section");
	assert_invalid("BINARY[TEXT]", "Invalid BINARY section");
	assert_invalid("BINARY[1", "Invalid BINARY section");
	assert_invalid("BINARY.SIZE[1]<0.5>", "Invalid partial range");
	assert_invalid("BINARY[1]<5>", "Invalid partial range");
}

static void test_sections(void **state)
{
	struct imap_fetch_attrs attrs;
	const char *error;

	assert_int_equal(parse("(UID BODY.PEEK[HEADER.FIELDS (From \"To\" Subject)]<0.2048> "
			       "RFC822.HEADER)", &attrs, &error), 0);
	assert_int_equal(attrs.count, 3);
	assert_false(attrs.sets_seen);
	const struct imap_fetch_item *it = &attrs.items[1];
	assert_int_equal(it->kind, IMAP_FETCH_SECTION);
	assert_true(it->peek);
	assert_true(it->partial);
	assert_int_equal(it->partial_offset, 0);
	assert_int_equal(it->partial_size, 2048);
	assert_int_equal(it->section.text, MIME_SECTION_HEADER_FIELDS);
	assert_int_equal(it->section.n_fields, 3);
	assert_string_equal(it->section.fields[1], "To");
	assert_string_equal(it->name, "BODY[HEADER.FIELDS (From To Subject)]<0>");
	assert_int_equal(attrs.items[2].section.text, MIME_SECTION_HEADER);
	assert_true(attrs.items[2].peek);
	imap_fetch_attrs_free(&attrs);

	assert_int_equal(parse("(body[1.2.3.mime] BODY[]<5.10> RFC822.TEXT rfc822)",
			       &attrs, &error), 0);
	assert_true(attrs.sets_seen);
	assert_int_equal(attrs.items[0].section.n_part, 3);
	assert_int_equal(attrs.items[0].section.part[2], 3);
	assert_int_equal(attrs.items[0].section.text, MIME_SECTION_MIME);
	assert_string_equal(attrs.items[0].name, "BODY[1.2.3.MIME]");
	assert_string_equal(attrs.items[1].name, "BODY[]<5>");
	assert_int_equal(attrs.items[1].partial_size, 10);
	assert_string_equal(attrs.items[2].name, "RFC822.TEXT");
	assert_int_equal(attrs.items[2].section.text, MIME_SECTION_TEXT);
	assert_string_equal(attrs.items[3].name, "RFC822");
	assert_int_equal(attrs.items[3].section.text, MIME_SECTION_ALL);
	imap_fetch_attrs_free(&attrs);

	assert_names("BODY.PEEK[2.HEADER.FIELDS.NOT (X-Spam \"X-50%\")]",
		     "BODY[2.HEADER.FIELDS.NOT (X-Spam \"X-50%\")]");
	assert_names("body[text]", "BODY[TEXT]");
	assert_names("BODY[4.1]", "BODY[4.1]");
}

static void test_invalid(void **state)
{
	assert_invalid("BODY[MIME]", "Invalid section");
	assert_invalid("BODY[1.]", "Invalid section");
	assert_invalid("BODY[0]", "Invalid section");
	assert_invalid("BODY[1.0]", "Invalid section");
	assert_invalid("BODY[HEADER.FIELDS]", "Invalid section");
	assert_invalid("BODY[HEADER.FIELDS ()]", "Invalid section");
	assert_invalid("BODY[HEADER.FIELDS (a:b)]", "Invalid section");
	assert_invalid("BODY[HEADER.FIELDS (\"Odd Name\")]", "Invalid section");
	assert_invalid("BODY[HEADER.FIELDS (a b]", "Invalid section");
	assert_invalid("BODY[HEADERS]", "Invalid section");
	assert_invalid("BODY[TEXT.MIME]", "Invalid section");
	assert_invalid("BODY[4294967296]", "Invalid section");
	assert_invalid("BODY[TEXT]<1.0>", "Invalid partial range");
	assert_invalid("BODY[]<1>", "Invalid partial range");
	assert_invalid("BODY[]<1.2>x", "Invalid partial range");
	assert_invalid("BODY[]x", "Invalid partial range");
	assert_invalid("BODY[]<4294967296.1>", "Invalid partial range");
	assert_invalid("FOO", "Invalid fetch attribute");
	assert_invalid("BODY.PEEK", "Invalid fetch attribute");
	assert_invalid("(ALL)", "Invalid fetch attribute");
	assert_invalid("(FLAGS \"UID\")", "Invalid fetch attribute");
	assert_invalid("(FLAGS (UID))", "Invalid fetch attribute");
	assert_invalid("()", "Empty fetch attribute list");
	assert_invalid("FLAGS UID", "Unexpected arguments after fetch attributes");

	struct buf b = { 0 };
	buf_append(&b, "(", 1);
	for (int i = 0; i <= IMAP_FETCH_ITEMS_MAX; i++)
		buf_append(&b, " UID" + (i == 0), i == 0 ? 3 : 4);
	buf_append(&b, ")", 1);
	assert_invalid(b.data, "Too many fetch attributes");
	buf_free(&b);
}

static void test_section_parse(void **state)
{
	struct mime_section sec;
	const char *error;
	struct buf b = { 0 };

	assert_int_equal(imap_section_parse("", 0, &sec, &error), 0);
	assert_int_equal(sec.text, MIME_SECTION_ALL);
	assert_int_equal(sec.n_part, 0);
	const char *s = "3.HEADER.FIELDS (Received \"X-A\\\"B\")";
	assert_int_equal(imap_section_parse(s, strlen(s), &sec, &error), 0);
	assert_int_equal(sec.part[0], 3);
	assert_string_equal(sec.fields[1], "X-A\"B");
	imap_section_append(&b, &sec);
	assert_string_equal(b.data, "3.HEADER.FIELDS (Received \"X-A\\\"B\")");
	mime_section_free(&sec);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_section_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
