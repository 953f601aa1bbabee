/* test_imap_thread.c — RFC 5256 THREAD=ORDEREDSUBJECT and THREAD=REFERENCES
 * (every step of section 4: references, dummies, pruning, subject merging,
 * loops, duplicate identifiers, deep chains) and SORT ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_thread.h"

struct spec {
	const char *subject, *msgid, *references, *in_reply_to, *from;
	long date;                      /* sent date, seconds */
};

/* Messages 1..n from specs, as imap_sort_collect would fill them. */
static struct imap_sort_msg *build(const struct spec *specs, size_t n)
{
	struct imap_sort_msg *msgs = xcalloc(n, sizeof(*msgs));
	for (size_t i = 0; i < n; i++) {
		const struct spec *s = &specs[i];
		struct imap_sort_fields f = { 0 };
		char date[64];
		struct tm tm;
		time_t t = 1700000000 + s->date;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		f.subject = s->subject;
		f.subject_len = s->subject ? strlen(s->subject) : 0;
		f.date = date;
		f.date_len = strlen(date);
		f.msgid = s->msgid;
		f.msgid_len = s->msgid ? strlen(s->msgid) : 0;
		f.references = s->references;
		f.references_len = s->references ? strlen(s->references) : 0;
		f.in_reply_to = s->in_reply_to;
		f.in_reply_to_len = s->in_reply_to ? strlen(s->in_reply_to) : 0;
		f.from = s->from;
		f.from_len = s->from ? strlen(s->from) : 0;
		msgs[i].seq = (uint32_t)(i + 1);
		msgs[i].uid = (uint32_t)(i + 101);
		msgs[i].arrival = 1600000000 + (time_t)(n - i);   /* reversed */
		imap_sort_fill(&msgs[i], IMAP_SORT_NEED_SUBJECT | IMAP_SORT_NEED_DATE |
			       IMAP_SORT_NEED_REFS | IMAP_SORT_NEED_FROM, &f);
	}
	return msgs;
}

static void check_thread(enum imap_thread_algorithm alg, const struct spec *specs,
			 size_t n, const char *want)
{
	struct imap_sort_msg *msgs = build(specs, n);
	struct buf out = { 0 };
	buf_append(&out, "", 0);
	imap_thread_run(alg, msgs, n, false, &out);
	assert_string_equal(out.data, want);
	buf_free(&out);
	imap_sort_msgs_free(&msgs, n);
}

static void test_orderedsubject(void **state)
{
	static const struct spec s[] = {
		{ "Hello", NULL, NULL, NULL, NULL, 1 },
		{ "Re: Hello", NULL, NULL, NULL, NULL, 3 },
		{ "Other", NULL, NULL, NULL, NULL, 2 },
		{ "RE: hello", NULL, NULL, NULL, NULL, 4 },
		{ "Fwd: Other", NULL, NULL, NULL, NULL, 5 },
		{ "Third", NULL, NULL, NULL, NULL, 6 },
		{ "[list] Re: Other", NULL, NULL, NULL, NULL, 7 },
		{ "Pair", NULL, NULL, NULL, NULL, 9 },
		{ "Re: Pair", NULL, NULL, NULL, NULL, 8 },
	};
	/* groups by base subject, children by date, threads by the date of
	 * their first message; one child continues the list */
	check_thread(IMAP_THREAD_ORDEREDSUBJECT, s, N_ELEMENTS(s),
		     "(1 (2)(4))(3 (5)(7))(6)(9 8)");
	check_thread(IMAP_THREAD_ORDEREDSUBJECT, s, 0, "");
}

static void test_references(void **state)
{
	static const struct spec s[] = {
		/* 1-4: one thread through References and In-Reply-To */
		{ "A", "<a@x>", NULL, NULL, NULL, 1 },
		{ "Re: A", "<b@x>", "<a@x>", NULL, NULL, 2 },
		{ "Re: A", "<c@x>", "<a@x> <b@x>", NULL, NULL, 3 },
		{ "Re: A", "<d@x>", NULL, "\"A\" <a@x>", NULL, 4 },
		/* 5-6: replies to a message not here: a dummy with two
		 * children stays at the top */
		{ "Lost", "<e@x>", "<zz@x>", NULL, NULL, 5 },
		{ "Re: Lost", "<f@x>", "<zz@x>", NULL, NULL, 6 },
		/* 7: one child of a dummy is promoted */
		{ "Alone", "<g@x>", "<yy@x>", NULL, NULL, 7 },
		/* 8-9: no references, merged by subject: the reply below */
		{ "Topic", "<h@x>", NULL, NULL, NULL, 8 },
		{ "Re: Topic", "<i@x>", NULL, NULL, NULL, 9 },
		/* 10-11: two non-replies with one subject: under a dummy */
		{ "Same", "<j@x>", NULL, NULL, NULL, 10 },
		{ "Same", "<k@x>", NULL, NULL, NULL, 11 },
		/* 12-13: a loop of references is never made */
		{ "L1", "<x@x>", "<y@x>", NULL, NULL, 12 },
		{ "L2", "<y@x>", "<x@x>", NULL, NULL, 13 },
		/* 14: a duplicate Message-ID is made unique */
		{ "Dup", "<a@x>", NULL, NULL, NULL, 14 },
		/* 15: no Message-ID at all */
		{ "None", NULL, "<c@x>", NULL, NULL, 15 },
	};
	check_thread(IMAP_THREAD_REFERENCES, s, N_ELEMENTS(s),
		     "(1 (2 3 15)(4))((5)(6))(7)(8 9)((10)(11))(13 12)(14)");
}

static void test_references_order(void **state)
{
	/* siblings and threads by sent date, not arrival or sequence;
	 * a top dummy is dated by its first child */
	static const struct spec s[] = {
		{ "Late", "<l@x>", NULL, NULL, NULL, 50 },
		{ "Re: Q", "<r2@x>", "<q@x>", NULL, NULL, 30 },
		{ "Re: Q", "<r1@x>", "<q@x>", NULL, NULL, 10 },
		{ "Root", "<p@x>", NULL, NULL, NULL, 20 },
		{ "Re: Root", "<p2@x>", "<p@x>", NULL, NULL, 40 },
		{ "Re: Root", "<p1@x>", "<p@x>", NULL, NULL, 25 },
	};
	check_thread(IMAP_THREAD_REFERENCES, s, N_ELEMENTS(s),
		     "((3)(2))(4 (6)(5))(1)");
}

static void test_references_dummy_subjects(void **state)
{
	/* a top dummy and a message with its subject: the message goes
	 * under the dummy (5.C); two dummies with one subject merge */
	static const struct spec s[] = {
		{ "Talk", "<t1@x>", "<gone@x>", NULL, NULL, 1 },
		{ "Re: Talk", "<t2@x>", "<gone@x>", NULL, NULL, 2 },
		{ "Re: Talk", "<t3@x>", NULL, NULL, NULL, 3 },
		{ "Talk", "<u1@x>", "<gone2@x>", NULL, NULL, 4 },
		{ "Talk", "<u2@x>", "<gone2@x>", NULL, NULL, 5 },
	};
	check_thread(IMAP_THREAD_REFERENCES, s, N_ELEMENTS(s),
		     "((1)(2)(3)(4)(5))");
}

static void test_deep_chain(void **state)
{
	size_t n = IMAP_THREAD_DEPTH_MAX + 5;
	struct spec *s = xcalloc(n, sizeof(*s));
	char **ids = xcalloc(n + 1, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		ids[i] = xasprintf("<m%zu@x>", i);
		s[i].subject = "Re: chain";
		s[i].msgid = ids[i];
		s[i].references = i > 0 ? ids[i - 1] : NULL;
		s[i].date = (long)i;
	}
	struct imap_sort_msg *msgs = build(s, n);
	struct buf out = { 0 };
	imap_thread_run(IMAP_THREAD_REFERENCES, msgs, n, true, &out);
	/* two threads under one dummy (same subject): the chain was cut */
	assert_true(strncmp(out.data, "((101 102 103", 13) == 0);
	char *cut = xasprintf(")(%zu ", (size_t)IMAP_THREAD_DEPTH_MAX + 101);
	assert_non_null(strstr(out.data, cut));
	free(cut);
	buf_free(&out);
	imap_sort_msgs_free(&msgs, n);
	strv_free(&ids);
	free(s);
}

static void test_sort(void **state)
{
	static const struct spec s[] = {
		{ "b", NULL, NULL, NULL, "Zed <zed@x>", 3 },
		{ "Re: A", NULL, NULL, NULL, "alice@x", 1 },
		{ "c", NULL, NULL, NULL, "Bob <BOB@x>", 2 },
		{ "a", NULL, NULL, NULL, NULL, 2 },
	};
	struct imap_sort_msg *msgs = build(s, 4);
	struct imap_parser *p = imap_parser_new(100);
	const char *line = "a SORT (SUBJECT REVERSE DATE) UTF-8 ALL";
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_COMPLETE);
	struct imap_sort_program prog;
	const char *error;
	assert_int_equal(imap_sort_parse(&imap_parser_command(p)->args[0], &prog, &error), 0);
	imap_sort_run(msgs, 4, &prog);
	/* "a" (4) and "Re: A" (2) share a base subject: later date first */
	assert_int_equal(msgs[0].seq, 4);
	assert_int_equal(msgs[1].seq, 2);
	assert_int_equal(msgs[2].seq, 1);
	assert_int_equal(msgs[3].seq, 3);
	/* FROM: addr-mailbox, ascii-casemap; missing sorts first */
	line = "a SORT (FROM) UTF-8 ALL";
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_COMPLETE);
	assert_int_equal(imap_sort_parse(&imap_parser_command(p)->args[0], &prog, &error), 0);
	imap_sort_run(msgs, 4, &prog);
	assert_int_equal(msgs[0].seq, 4);
	assert_int_equal(msgs[1].seq, 2);
	assert_int_equal(msgs[2].seq, 3);
	assert_int_equal(msgs[3].seq, 1);
	/* REVERSE ARRIVAL; DISPLAYFROM uses the name */
	line = "a SORT (REVERSE ARRIVAL) UTF-8 ALL";
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_COMPLETE);
	assert_int_equal(imap_sort_parse(&imap_parser_command(p)->args[0], &prog, &error), 0);
	imap_sort_run(msgs, 4, &prog);
	assert_int_equal(msgs[0].seq, 1);
	assert_int_equal(msgs[3].seq, 4);
	line = "a SORT (DISPLAYFROM) UTF-8 ALL";
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_COMPLETE);
	assert_int_equal(imap_sort_parse(&imap_parser_command(p)->args[0], &prog, &error), 0);
	imap_sort_run(msgs, 4, &prog);
	assert_int_equal(msgs[0].seq, 4);
	assert_int_equal(msgs[1].seq, 2);       /* alice@x */
	assert_int_equal(msgs[2].seq, 3);       /* Bob */
	assert_int_equal(msgs[3].seq, 1);       /* Zed */
	/* bad programs */
	const char *bad[] = { "a SORT () UTF-8 ALL", "a SORT (REVERSE) UTF-8 ALL",
			      "a SORT (FOO) UTF-8 ALL", "a SORT DATE UTF-8 ALL",
			      "a SORT (REVERSE REVERSE DATE) UTF-8 ALL" };
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		assert_int_equal(imap_parser_feed_line(p, bad[i], strlen(bad[i])),
				 IMAP_PARSE_COMPLETE);
		assert_int_equal(imap_sort_parse(&imap_parser_command(p)->args[0],
						 &prog, &error), -1);
	}
	imap_parser_free(&p);
	imap_sort_msgs_free(&msgs, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_references_order),
		cmocka_unit_test(test_references_dummy_subjects),
		cmocka_unit_test(test_deep_chain),
		cmocka_unit_test(test_sort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
