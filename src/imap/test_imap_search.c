/* test_imap_search.c — SEARCH key parsing (every RFC 3501 key, CHARSET,
 * errors, limits) and evaluation on the corpus messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_util.h"
#include "lib/fsutil.h"

/* Parse "x SEARCH <keys>" into a key tree (or the failure). */
static enum imap_search_parse_result parse(const char *keys, struct imap_search_key **key,
					   const char **error)
{
	struct imap_parser *p = imap_parser_new(1000);
	char *line = xasprintf("x SEARCH %s", keys);
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_COMPLETE);
	const struct imap_command *cmd = imap_parser_command(p);
	enum imap_search_parse_result ret = imap_search_parse(cmd->args, cmd->n_args, key, error);
	free(line);
	imap_parser_free(&p);
	return ret;
}

static void assert_bad(const char *keys, const char *reason)
{
	struct imap_search_key *key;
	const char *error;
	assert_int_equal(parse(keys, &key, &error), IMAP_SEARCH_PARSE_BAD);
	assert_null(key);
	assert_string_equal(error, reason);
}

static void test_parse_all_keys(void **state)
{
	struct imap_search_key *key;
	const char *error;

	assert_int_equal(parse("ALL ANSWERED BCC x BEFORE 1-Feb-1994 BODY x CC x DELETED "
			       "DRAFT FLAGGED FROM x HEADER X-Foo y KEYWORD $a LARGER 10 "
			       "NEW NOT SEEN OLD ON 1-Feb-1994 OR SEEN DRAFT RECENT SEEN "
			       "SENTBEFORE 1-Feb-1994 SENTON \"1-Feb-1994\" SENTSINCE 1-Feb-1994 "
			       "SINCE 1-Feb-1994 SMALLER 100 SUBJECT \"a b\"", &key, &error),
			 IMAP_SEARCH_PARSE_OK);
	imap_search_free(&key);
	assert_int_equal(parse("TEXT x TO x UID 1:* UNANSWERED UNDELETED UNDRAFT "
			       "UNFLAGGED UNKEYWORD $b UNSEEN 1,2:3 (SEEN (FLAGGED)) all",
			       &key, &error), IMAP_SEARCH_PARSE_OK);
	assert_int_equal(key->type, IMAP_SEARCH_AND);
	assert_int_equal(key->n_children, 12);
	imap_search_free(&key);

	/* flag keys are desugared, cheap keys come first */
	assert_int_equal(parse("BODY x SUBJECT y UNSEEN", &key, &error), IMAP_SEARCH_PARSE_OK);
	assert_int_equal(key->children[0].type, IMAP_SEARCH_NOT);
	assert_int_equal(key->children[0].children[0].type, IMAP_SEARCH_FLAG);
	assert_int_equal(key->children[0].children[0].flag, IMAP_FLAG_SEEN);
	assert_int_equal(key->children[1].type, IMAP_SEARCH_HEADER);
	assert_string_equal(key->children[1].field, "Subject");
	assert_int_equal(key->children[2].type, IMAP_SEARCH_BODY);
	assert_int_equal(imap_search_needs(key),
			 IMAP_SEARCH_NEEDS_HEADER | IMAP_SEARCH_NEEDS_BODY);
	imap_search_free(&key);

	assert_int_equal(parse("FLAGGED 1:5", &key, &error), IMAP_SEARCH_PARSE_OK);
	assert_int_equal(imap_search_needs(key), 0);
	imap_search_free(&key);
	assert_int_equal(parse("SENTON 1-Feb-1994", &key, &error), IMAP_SEARCH_PARSE_OK);
	assert_int_equal(imap_search_needs(key), IMAP_SEARCH_NEEDS_HEADER);
	imap_search_free(&key);
}

static void test_parse_charset_and_errors(void **state)
{
	struct imap_search_key *key;
	const char *error;

	assert_int_equal(parse("CHARSET UTF-8 SUBJECT caf\xc3\xa9", &key, &error),
			 IMAP_SEARCH_PARSE_OK);
	imap_search_free(&key);
	assert_int_equal(parse("charset \"us-ascii\" ALL", &key, &error), IMAP_SEARCH_PARSE_OK);
	imap_search_free(&key);
	assert_int_equal(parse("CHARSET ISO-8859-1 ALL", &key, &error),
			 IMAP_SEARCH_PARSE_BADCHARSET);
	assert_null(key);

	assert_bad("CHARSET", "Missing charset");
	assert_bad("CHARSET UTF-8", "Missing search keys");
	assert_bad("FOO", "Unknown search key");
	assert_bad("SUBJECT", "Missing search key argument");
	assert_bad("OR SEEN", "Missing search key argument");
	assert_bad("NOT", "Missing search key argument");
	assert_bad("BEFORE 30-Feb-2024", "Invalid search date");
	assert_bad("SINCE yesterday", "Invalid search date");
	assert_bad("LARGER ten", "Invalid search number");
	assert_bad("SMALLER -1", "Invalid search number");
	assert_bad("UID 0", "Invalid UID set");
	assert_bad("1:x", "Invalid sequence set");
	assert_bad("()", "Missing search keys");
	assert_bad("HEADER \"Bad Name\" x", "Invalid header field name");
	assert_bad("HEADER \"\" x", "Invalid header field name");
	assert_bad("KEYWORD \\Seen", "Invalid keyword");
	assert_bad("SUBJECT (x)", "Invalid search string");
	assert_bad("NIL", "Invalid search key");
	assert_bad("\"ALL\"", "Invalid search key");

	struct buf b = { 0 };
	for (int i = 0; i <= IMAP_SEARCH_DEPTH_MAX; i++)
		buf_append(&b, "NOT ", 4);
	buf_append(&b, "ALL", 3);
	assert_bad(b.data, "Search keys nested too deeply");
	b.len = 0;
	for (int i = 0; i <= IMAP_SEARCH_KEYS_MAX; i++)
		buf_append(&b, "ALL ", 4);
	assert_bad(b.data, "Too many search keys");
	buf_free(&b);
}

/* ---- evaluation ------------------------------------------------------------------ */

struct loaded {
	char *data;
	size_t len;
	struct mime_mem mem;
	struct mime_reader r;
	struct mime_part *root;
	struct imap_search_msg msg;
};

static void load(struct loaded *l, const char *name)
{
	char *path = xasprintf("tests/corpus/mime/%s.eml", name);
	const char *error;
	assert_int_equal(fs_read_file(path, 1024 * 1024, &l->data, &l->len, &error), 0);
	mime_reader_mem(&l->r, &l->mem, l->data, l->len);
	assert_int_equal(mime_parse(&l->r, &l->root, &error), 0);
	memset(&l->msg, 0, sizeof(l->msg));
	l->msg.seq = 1;
	l->msg.uid = 1;
	l->msg.size = l->len;
	l->msg.mime = l->root;
	l->msg.reader = &l->r;
	free(path);
}

static void unload(struct loaded *l)
{
	mime_part_free(&l->root);
	free(l->data);
}

static bool matches(const struct imap_search_msg *msg, const char *keys)
{
	struct imap_search_key *key;
	const char *error;
	bool match;

	assert_int_equal(parse(keys, &key, &error), IMAP_SEARCH_PARSE_OK);
	imap_search_resolve(key, 5, 300);
	assert_int_equal(imap_search_match(key, msg, &match, &error), 0);
	imap_search_free(&key);
	return match;
}

static void test_eval_metadata(void **state)
{
	const char *kw[] = { "$Forwarded", "Project-X" };
	struct imap_search_msg msg = {
		.seq = 5, .uid = 300, .flags = IMAP_FLAG_SEEN | IMAP_FLAG_FLAGGED,
		.keywords = kw, .n_keywords = 2, .size = 2048,
	};
	time_t t;
	int tz;

	/* 14 May 2024 23:30 UTC, which is 15 May in the message's +0200 */
	assert_true(imap_datetime_parse("15-May-2024 01:30:00 +0200", &t, &tz));
	msg.internal_date = t;
	msg.internal_tz = tz;

	assert_true(matches(&msg, "ALL"));
	assert_true(matches(&msg, "SEEN FLAGGED UNANSWERED UNDELETED UNDRAFT"));
	assert_false(matches(&msg, "UNSEEN"));
	assert_false(matches(&msg, "NEW"));
	assert_true(matches(&msg, "OLD"));
	msg.flags |= IMAP_FLAG_RECENT;
	assert_true(matches(&msg, "RECENT"));
	assert_false(matches(&msg, "OLD"));
	assert_false(matches(&msg, "NEW"));
	msg.flags &= ~IMAP_FLAG_SEEN;
	assert_true(matches(&msg, "NEW"));
	assert_true(matches(&msg, "KEYWORD project-x UNKEYWORD $Junk"));
	assert_false(matches(&msg, "KEYWORD $Junk"));
	assert_true(matches(&msg, "ON 15-May-2024 SINCE 15-May-2024 BEFORE 16-May-2024"));
	assert_false(matches(&msg, "ON 14-May-2024"));
	assert_false(matches(&msg, "BEFORE 15-May-2024"));
	assert_true(matches(&msg, "LARGER 2047 SMALLER 2049"));
	assert_false(matches(&msg, "LARGER 2048"));
	assert_false(matches(&msg, "SMALLER 2048"));
	assert_true(matches(&msg, "*"));
	assert_true(matches(&msg, "2:*"));
	assert_false(matches(&msg, "1:4"));
	assert_true(matches(&msg, "UID 300"));
	assert_true(matches(&msg, "UID 500:*"));       /* "*" is 300 here */
	assert_false(matches(&msg, "UID 1:299"));
	assert_true(matches(&msg, "OR UID 1 (FLAGGED KEYWORD $Forwarded)"));
	assert_false(matches(&msg, "NOT OR FLAGGED DELETED"));
}

static void test_eval_headers(void **state)
{
	struct loaded l;
	load(&l, "plain");
	assert_true(matches(&l.msg, "FROM \"alice example\""));
	assert_true(matches(&l.msg, "FROM ALICE@EXAMPLE.ORG"));
	assert_true(matches(&l.msg, "TO carol CC \"the reviewer\""));
	assert_false(matches(&l.msg, "BCC bob"));
	assert_true(matches(&l.msg, "SUBJECT quarterly"));
	assert_true(matches(&l.msg, "HEADER Message-ID \"\""));
	assert_false(matches(&l.msg, "HEADER X-Absent \"\""));
	assert_true(matches(&l.msg, "HEADER received 4F2A1"));
	assert_true(matches(&l.msg, "SENTON 14-May-2024 SENTSINCE 14-May-2024 "
			    "SENTBEFORE 15-May-2024"));
	assert_false(matches(&l.msg, "SENTBEFORE 14-May-2024"));
	assert_true(matches(&l.msg, "BODY \"numbers look FINE\""));
	assert_false(matches(&l.msg, "BODY \"quarterly report is missing\""));
	assert_false(matches(&l.msg, "BODY alice@example.org"));
	assert_true(matches(&l.msg, "TEXT alice@example.org"));
	assert_true(matches(&l.msg, "TEXT \"subject: quarterly\""));
	unload(&l);

	load(&l, "encoded_headers");
	assert_true(matches(&l.msg, "CHARSET UTF-8 SUBJECT \"gr\xc3\xbc\xc3\x9f" "e aus\""));
	assert_true(matches(&l.msg, "SUBJECT \"m\xc3\xbcnchen \xe2\x80\x93 caf\xc3\xa9\""));
	assert_true(matches(&l.msg, "FROM \"J\xc3\x96RG M\xc3\x9cLLER\""));
	assert_true(matches(&l.msg, "TO bj\xc3\xb6rn"));
	unload(&l);
}

/* RFC 5322 CFWS inside an address: FROM user-from@domain.org matches
 * <user-from (comment)@ (comment) domain.org>, folded or not. */
static void test_eval_address_cfws(void **state)
{
	static const char text[] =
		"From: <user-from (comment)@ (comment) domain.org>\r\n"
		"To: Someone\r\n <to-user\r\n (c)@\r\n example.test>\r\n"
		"Subject: user-from (comment)@ x\r\n\r\nbody\r\n";
	struct loaded l;
	const char *error;

	memset(&l, 0, sizeof(l));
	mime_reader_mem(&l.r, &l.mem, text, sizeof(text) - 1);
	assert_int_equal(mime_parse(&l.r, &l.root, &error), 0);
	l.msg.seq = l.msg.uid = 1;
	l.msg.mime = l.root;
	l.msg.reader = &l.r;
	assert_true(matches(&l.msg, "FROM user-from@domain.org"));
	assert_true(matches(&l.msg, "FROM \"(comment)\""));     /* as written */
	assert_true(matches(&l.msg, "TO \"Someone <to-user@example.test>\""));
	assert_true(matches(&l.msg, "HEADER To to-user@example.test"));
	/* only address fields are normalised */
	assert_false(matches(&l.msg, "SUBJECT user-from@x"));
	assert_false(matches(&l.msg, "FROM user-from@domain.net"));
	mime_part_free(&l.root);
}

static void test_eval_bodies(void **state)
{
	struct loaded l;

	load(&l, "encoded_headers");    /* quoted-printable ISO-8859-1 */
	assert_true(matches(&l.msg, "BODY \"sch\xc3\xb6ne GR\xc3\x9c\xc3\x9f" "e\""));
	assert_true(matches(&l.msg, "BODY m\xc3\xbcnchen!"));
	assert_false(matches(&l.msg, "BODY =FC"));
	unload(&l);

	load(&l, "alternative");        /* quoted-printable UTF-8 */
	assert_true(matches(&l.msg, "BODY \"caf\xc3\xa9 team \xe2\x80\x93 thanks\""));
	assert_true(matches(&l.msg, "TEXT newsletter"));
	assert_false(matches(&l.msg, "BODY newsletter"));
	unload(&l);

	load(&l, "mixed_attach");       /* attachments are not searched */
	assert_true(matches(&l.msg, "BODY \"invoice attached\""));
	assert_false(matches(&l.msg, "BODY \"%PDF\""));
	unload(&l);

	load(&l, "nested_rfc822");      /* the forwarded message is body text */
	assert_true(matches(&l.msg, "BODY \"<p>your order\""));
	assert_true(matches(&l.msg, "BODY shop.example.com"));
	assert_false(matches(&l.msg, "SUBJECT newsletter"));
	unload(&l);

	load(&l, "lf_only");
	assert_true(matches(&l.msg, "BODY \"line two\" BODY third"));
	unload(&l);
}

static ssize_t failing_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	errno = EIO;
	return -1;
}

static void test_eval_read_error(void **state)
{
	struct loaded l;
	struct imap_search_key *key;
	const char *error;
	bool match = true;

	load(&l, "plain");
	struct mime_reader bad = { failing_read, NULL };
	l.msg.reader = &bad;
	assert_int_equal(parse("NOT SUBJECT x", &key, &error), IMAP_SEARCH_PARSE_OK);
	assert_int_equal(imap_search_match(key, &l.msg, &match, &error), -1);
	assert_string_equal(error, "read: Input/output error");
	imap_search_free(&key);
	assert_int_equal(parse("SEEN BODY x", &key, &error), IMAP_SEARCH_PARSE_OK);
	/* short-circuit: the flag fails first, nothing is read */
	assert_int_equal(imap_search_match(key, &l.msg, &match, &error), 0);
	assert_false(match);
	imap_search_free(&key);
	assert_int_equal(parse("BODY x", &key, &error), IMAP_SEARCH_PARSE_OK);
	assert_int_equal(imap_search_match(key, &l.msg, &match, &error), -1);
	imap_search_free(&key);
	unload(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_all_keys),
		cmocka_unit_test(test_parse_charset_and_errors),
		cmocka_unit_test(test_eval_metadata),
		cmocka_unit_test(test_eval_headers),
		cmocka_unit_test(test_eval_address_cfws),
		cmocka_unit_test(test_eval_bodies),
		cmocka_unit_test(test_eval_read_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
