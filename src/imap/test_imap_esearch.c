/* test_imap_esearch.c — RETURN options (RFC 4731, 5182), the ESEARCH
 * response in list order (RFC 5267 for SORT), and what SAVE keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_esearch.h"

static struct imap_parser *parser;

/* The arguments of "a SEARCH <text>". */
static const struct imap_command *parse(const char *text)
{
	char *line = xasprintf("a SEARCH %s", text);
	assert_int_equal(imap_parser_feed_line(parser, line, strlen(line)),
			 IMAP_PARSE_COMPLETE);
	free(line);
	return imap_parser_command(parser);
}

static void test_parse(void **state)
{
	const struct imap_command *c;
	struct imap_esearch es;
	const char *error;
	size_t used;

	parser = imap_parser_new(1000);
	c = parse("FLAGGED");
	assert_int_equal(imap_esearch_parse(c->args, c->n_args, &es, &used, &error), 0);
	assert_false(es.given);
	assert_int_equal(used, 0);
	c = parse("RETURN () FLAGGED");
	assert_int_equal(imap_esearch_parse(c->args, c->n_args, &es, &used, &error), 0);
	assert_true(es.given);
	assert_int_equal(es.opts, IMAP_ESEARCH_ALL);
	assert_int_equal(used, 2);
	c = parse("return (min Max COUNT save) ALL");
	assert_int_equal(imap_esearch_parse(c->args, c->n_args, &es, &used, &error), 0);
	assert_int_equal(es.opts, IMAP_ESEARCH_MIN | IMAP_ESEARCH_MAX |
			 IMAP_ESEARCH_COUNT | IMAP_ESEARCH_SAVE);
	c = parse("RETURN (SAVE) ALL");
	assert_int_equal(imap_esearch_parse(c->args, c->n_args, &es, &used, &error), 0);
	assert_false(imap_esearch_answers(&es));
	c = parse("RETURN (PARTIAL) ALL");
	assert_int_equal(imap_esearch_parse(c->args, c->n_args, &es, &used, &error), -1);
	c = parse("RETURN MIN");
	assert_int_equal(imap_esearch_parse(c->args, c->n_args, &es, &used, &error), -1);
	imap_parser_free(&parser);
}

static void render(const struct imap_esearch *es, bool uid, const uint32_t *ids,
		   size_t n, const char *want)
{
	struct buf b = { 0 };
	imap_esearch_render(&b, "A1", uid, es, ids, n);
	buf_append(&b, "", 1);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void test_render(void **state)
{
	struct imap_esearch es = { true, IMAP_ESEARCH_MIN | IMAP_ESEARCH_MAX |
				   IMAP_ESEARCH_ALL | IMAP_ESEARCH_COUNT };
	const uint32_t asc[] = { 2, 10, 11, 12, 20 };
	const uint32_t sorted[] = { 5, 6, 7, 3, 4, 1 };
	const uint32_t top[] = { 4294967294u, 4294967295u };

	render(&es, false, asc, 5, "ESEARCH (TAG \"A1\") MIN 2 MAX 20 ALL 2,10:12,20 COUNT 5");
	render(&es, true, asc, 0, "ESEARCH (TAG \"A1\") UID COUNT 0");
	/* SORT order (RFC 5267): MIN/MAX are first/last, runs only ascend */
	render(&es, false, sorted, 6, "ESEARCH (TAG \"A1\") MIN 5 MAX 1 ALL 5:7,3:4,1 COUNT 6");
	es.opts = IMAP_ESEARCH_ALL;
	render(&es, true, top, 2, "ESEARCH (TAG \"A1\") UID ALL 4294967294:4294967295");
}

static void test_save(void **state)
{
	const uint32_t uids[] = { 3, 4, 9, 7 };
	struct imap_seqset saved = { 0 };
	struct imap_esearch es = { true, IMAP_ESEARCH_SAVE };
	struct buf b = { 0 };

	imap_esearch_save(&es, uids, 4, &saved);
	imap_seqset_append(&b, &saved);
	buf_append(&b, "", 1);
	assert_string_equal(b.data, "3:4,7,9");
	es.opts = IMAP_ESEARCH_SAVE | IMAP_ESEARCH_MIN | IMAP_ESEARCH_MAX;
	imap_esearch_save(&es, uids, 4, &saved);
	b.len = 0;
	imap_seqset_append(&b, &saved);
	buf_append(&b, "", 1);
	assert_string_equal(b.data, "3,7");
	es.opts = IMAP_ESEARCH_SAVE | IMAP_ESEARCH_MAX | IMAP_ESEARCH_COUNT;
	imap_esearch_save(&es, uids, 4, &saved);
	assert_int_equal(imap_seqset_count(&saved), 4);
	imap_esearch_save(&es, uids, 0, &saved);
	assert_int_equal(saved.count, 0);
	imap_seqset_free(&saved);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_save),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
