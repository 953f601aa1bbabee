/* test_mime_address.c — RFC 5322 address lists for ENVELOPE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mime_address.h"
#include "lib/util.h"

/* Parse and render as "name|route|mailbox|host;..." with "-" for NULL. */
static char *render(const char *value)
{
	size_t n;
	struct mime_address *list = mime_address_parse(value, strlen(value), &n);
	struct buf b = { 0 };
	buf_append(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s|%s|%s|%s;",
			   list[i].name ? list[i].name : "-",
			   list[i].route ? list[i].route : "-",
			   list[i].mailbox ? list[i].mailbox : "-",
			   list[i].host ? list[i].host : "-");
	}
	mime_addresses_free(&list, n);
	return b.data;
}

static void assert_addrs(const char *value, const char *expected)
{
	char *got = render(value);
	assert_string_equal(got, expected);
	free(got);
}

static void test_forms(void **state)
{
	assert_addrs("Alice Example <alice@example.org>",
		     "Alice Example|-|alice|example.org;");
	assert_addrs("\"Dave, the Reviewer\" <dave@example.net>",
		     "Dave, the Reviewer|-|dave|example.net;");
	assert_addrs("bob@example.test (Bob Smith)", "Bob Smith|-|bob|example.test;");
	assert_addrs(" a@b ,c@d", "-|-|a|b;-|-|c|d;");
	assert_addrs("John Q. Public <jqp@example.com>",
		     "John Q. Public|-|jqp|example.com;");
	assert_addrs("=?ISO-8859-1?Q?J=F6rg?= <j@example.de>",
		     "=?ISO-8859-1?Q?J=F6rg?=|-|j|example.de;");
	assert_addrs("\"a \\\"q\\\" b\" <x@y>", "a \"q\" b|-|x|y;");
	assert_addrs("<@relay1.example,@relay2.example:user@host.example>",
		     "-|@relay1.example,@relay2.example|user|host.example;");
	assert_addrs("\"john doe\"@example.com", "-|-|\"john doe\"|example.com;");
	assert_addrs("john . doe @ example . com", "-|-|john.doe|example.com;");
	assert_addrs("user@[192.0.2.1]", "-|-|user|[192.0.2.1];");
	assert_addrs("root", "-|-|root|;");
	assert_addrs("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
		     "Pete|-|pete|silly.test;");
	assert_addrs("<>", "-|-||;");
	assert_addrs("", "");
	assert_addrs("  \r\n ", "");
}

/* RFC 5322 3.2.2: CFWS (comments, folding) may stand between the tokens of
 * an address; comments inside it never become its name. */
static void test_cfws(void **state)
{
	assert_addrs("<user-from (comment)@ (comment) domain.org>",
		     "-|-|user-from|domain.org;");
	assert_addrs("user-from (comment)@ (comment) domain.org",
		     "-|-|user-from|domain.org;");
	assert_addrs("user-from\r\n (comment)@\r\n\t(comment)\r\n domain.org",
		     "-|-|user-from|domain.org;");
	assert_addrs("Name\r\n <a (x) . b@ (y) example (z) . org>",
		     "Name|-|a.b|example.org;");
	/* the comment after the whole address still names it */
	assert_addrs("a (inner)@b.example (Outer Name)", "Outer Name|-|a|b.example;");
	assert_addrs("a@b (c (nested) d)", "c (nested) d|-|a|b;");
}

static void test_normalize(void **state)
{
	const char *v = "=?utf-8?q?J=C3=B6rg?= <j (c)@ (c) example.de>, "
			"plain@example.org (Plain), undisclosed:;";
	char *t = mime_address_text(v, strlen(v));
	assert_string_equal(t, "J\xc3\xb6rg <j@example.de>, Plain <plain@example.org>, "
			    "undisclosed:;");
	free(t);
	t = mime_address_text("", 0);
	assert_string_equal(t, "");
	free(t);
}

static void test_groups(void **state)
{
	assert_addrs("undisclosed-recipients:;",
		     "-|-|undisclosed-recipients|-;-|-|-|-;");
	assert_addrs("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, solo@z",
		     "-|-|A Group|-;Ed Jones|-|c|a.test;-|-|joe|where.test;"
		     "John|-|jdoe|one.test;-|-|-|-;-|-|solo|z;");
	/* an unterminated group still ends */
	assert_addrs("team: a@x", "-|-|team|-;-|-|a|x;-|-|-|-;");
}

static void test_junk(void **state)
{
	char *got = render("<<>>, ,,; @@ foo@bar, >x<, \"unterminated");
	assert_non_null(strstr(got, "|foo|bar;"));
	free(got);
	got = render("a@b@c, (unterminated comment");
	assert_non_null(got);
	free(got);
}

static void test_limit(void **state)
{
	struct buf b = { 0 };
	size_t n;

	buf_append(&b, "g:", 2);
	for (int i = 0; i < 1500; i++)
		buf_printf(&b, "u%d@example.org,", i);
	buf_append(&b, ";", 1);
	struct mime_address *list = mime_address_parse(b.data, b.len, &n);
	/* capped, and the group end marker is still there */
	assert_int_equal(n, MIME_ADDRESSES_MAX + 1);
	assert_null(list[n - 1].mailbox);
	assert_null(list[n - 1].host);
	assert_string_equal(list[0].mailbox, "g");
	mime_addresses_free(&list, n);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_cfws),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
