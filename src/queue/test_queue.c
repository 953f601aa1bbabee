/* test_queue.c — the queue's envelope text and files: format and parse,
 * records and their order, a torn last record, the commit beside local
 * delivery, appends, compaction, removal, crash left-overs; DSN text and
 * RFC 3463 status codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_dsn.h"
#include "store/deliver.h"
#include "store/mailbox.h"
#include "lib/fsutil.h"
#include "lib/util.h"

static struct queue_env *sample(void)
{
	static char *rcpts[] = { "a@example.org", "\"b c\"@example.net",
				 "d@EXAMPLE.org", "e@example.com", "f@example.com" };
	struct queue_env *env = xcalloc(1, sizeof(*env));

	strlcpy_sp(env->id, "675f0c3a9b1e44d2", sizeof(env->id));
	env->sender = xstrdup("bob@example.test");
	env->created = 1734282298;
	env->size = 1234;
	env->offset = 34;
	env->flags = QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8;
	env->n_rcpts = N_ELEMENTS(rcpts);
	env->rcpts = xcalloc(env->n_rcpts, sizeof(*env->rcpts));
	for (size_t i = 0; i < env->n_rcpts; i++)
		env->rcpts[i].address = xstrdup(rcpts[i]);
	return env;
}

static struct queue_env *parse(const struct buf *b, size_t *used_r)
{
	struct queue_env *env;
	const char *error = NULL;
	size_t used;

	assert_int_equal(queue_env_parse(b->data, b->len, &env, &used, &error), 0);
	if (used_r != NULL)
		*used_r = used;
	return env;
}

static void test_format_parse(void **state)
{
	struct queue_env *env = sample(), *back;
	struct buf b = { 0 };
	size_t used;

	queue_env_format(env, &b);
	back = parse(&b, &used);
	assert_int_equal(used, b.len);
	assert_string_equal(back->id, env->id);
	assert_string_equal(back->sender, "bob@example.test");
	assert_int_equal(back->created, env->created);
	assert_int_equal(back->size, 1234);
	assert_int_equal(back->offset, 34);
	assert_int_equal(back->flags, QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8);
	assert_int_equal(back->n_rcpts, 5);
	assert_string_equal(back->rcpts[1].address, "\"b c\"@example.net");
	assert_string_equal(back->rcpts[1].domain, "example.net");
	assert_int_equal(back->rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(back->log_len, 0);
	queue_env_free(&back);
	/* the null sender */
	free(env->sender);
	env->sender = xstrdup("");
	b.len = 0;
	queue_env_format(env, &b);
	back = parse(&b, NULL);
	assert_string_equal(back->sender, "");
	queue_env_free(&back);
	queue_env_free(&env);
	buf_free(&b);
}

static void test_records(void **state)
{
	struct queue_env *env = sample(), *back;
	struct buf b = { 0 }, list = { 0 };
	size_t some[] = { 0, 2, 3, 4 }, one = 1, two[] = { 3, 4 };

	queue_rcpt_list_format(&list, some, 4);
	assert_string_equal(list.data, "0,2-4");
	queue_env_format(env, &b);
	size_t header = b.len;
	queue_record_result(&b, 100, QUEUE_RCPT_DEFERRED, some, 4,
			    "mx.example.org[192.0.2.1]:25", NULL,
			    "451 4.7.1 Greylisted\r\nInjected: line");
	queue_record_next(&b, 101, 1, 400);
	queue_record_result(&b, 500, QUEUE_RCPT_DELIVERED, &one, 1,
			    "mx.example.net[192.0.2.2]:25",
			    "TLSv1.3/TLS_AES_128_GCM_SHA256/dane", "250 2.0.0 Ok");
	queue_record_result(&b, 501, QUEUE_RCPT_BOUNCED, two, 2, "mx.example.com[192.0.2.3]:25",
			    "", "550 5.1.1 no such user");
	queue_record_dsn(&b, 502, two, 1, "675f0c3aaaaaaaaa");
	assert_null(memchr(b.data + header, '\r', b.len - header));
	back = parse(&b, NULL);
	assert_int_equal(back->log_len, b.len - header);
	assert_int_equal(back->attempts, 1);
	assert_int_equal(back->next_attempt, 400);
	assert_int_equal(back->rcpts[0].state, QUEUE_RCPT_DEFERRED);
	assert_string_equal(back->rcpts[0].reply, "451 4.7.1 Greylisted??Injected: line");
	assert_string_equal(back->rcpts[0].relay, "mx.example.org[192.0.2.1]:25");
	assert_string_equal(back->rcpts[0].tls, "");
	assert_int_equal(back->rcpts[1].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(back->rcpts[1].when, 500);
	assert_string_equal(back->rcpts[1].tls, "TLSv1.3/TLS_AES_128_GCM_SHA256/dane");
	assert_int_equal(back->rcpts[2].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(back->rcpts[3].state, QUEUE_RCPT_BOUNCED);
	assert_true(back->rcpts[3].dsn_made);
	assert_int_equal(back->rcpts[4].state, QUEUE_RCPT_BOUNCED);
	assert_false(back->rcpts[4].dsn_made);
	/* a later record wins; a malformed or out-of-range one is skipped */
	assert_false(queue_env_apply(back, "R 600 delivered 9 - - x", 23));
	assert_false(queue_env_apply(back, "R x delivered 0 - - x", 21));
	assert_false(queue_env_apply(back, "Q 600 0", 7));
	assert_false(queue_env_apply(back, "N 600", 5));     /* found by fuzz_queue */
	assert_false(queue_env_apply(back, "N 600 1", 7));
	assert_false(queue_env_apply(back, "R 600", 5));
	assert_false(queue_env_apply(back, "D 600", 5));
	assert_false(queue_env_apply(back, "", 0));
	assert_true(queue_env_apply(back, "R 600 delivered 0 - - 250 ok", 28));
	assert_int_equal(back->rcpts[0].state, QUEUE_RCPT_DELIVERED);
	queue_env_free(&back);
	queue_env_free(&env);
	buf_free(&b);
	buf_free(&list);
}

static void test_torn_and_bad(void **state)
{
	struct queue_env *env = sample(), *back;
	struct buf b = { 0 };
	const char *error = NULL;
	size_t used, one = 1;

	queue_env_format(env, &b);
	queue_record_result(&b, 500, QUEUE_RCPT_DELIVERED, &one, 1, NULL, NULL, "250 ok");
	size_t whole = b.len;
	buf_printf(&b, "R 501 bounced 0 - - 550 cut sh");   /* no LF: torn */
	back = parse(&b, &used);
	assert_int_equal(used, whole);
	assert_int_equal(back->rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(back->rcpts[1].state, QUEUE_RCPT_DELIVERED);
	queue_env_free(&back);
	/* an envelope cut before its "." is no envelope */
	assert_int_equal(queue_env_parse(b.data, 40, &back, &used, &error), -1);
	assert_string_equal(error, "the envelope is incomplete");
	assert_int_equal(queue_env_parse("hello\n", 6, &back, &used, &error), -1);
	assert_string_equal(error, "not a sealpost queue file");
	assert_int_equal(queue_env_parse("", 0, &back, &used, &error), -1);
	const char *no_rcpt = "sealpost-queue 1\nid 675f0c3a9b1e44d2\n.\n";
	assert_int_equal(queue_env_parse(no_rcpt, strlen(no_rcpt), &back, &used,
					 &error), -1);
	assert_string_equal(error, "the envelope lacks its id, sender, time or recipients");
	const char *junk = "sealpost-queue 1\nfoo bar\n.\n";
	assert_int_equal(queue_env_parse(junk, strlen(junk), &back, &used, &error), -1);
	assert_string_equal(error, "bad envelope line 'foo'");
	/* a count limit, not just a size limit */
	struct buf many = { 0 };
	buf_printf(&many, "sealpost-queue 1\nid 675f0c3a9b1e44d2\n");
	for (int i = 0; i <= QUEUE_RCPTS_MAX; i++)
		buf_printf(&many, "rcpt r%d@example.org\n", i);
	buf_printf(&many, ".\n");
	assert_int_equal(queue_env_parse(many.data, many.len, &back, &used, &error), -1);
	assert_string_equal(error, "more than 10000 recipients");
	buf_free(&many);
	queue_env_free(&env);
	buf_free(&b);
}

static void test_ids(void **state)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];

	queue_new_id(a);
	queue_new_id(b);
	assert_true(queue_id_valid(a));
	assert_string_not_equal(a, b);
	assert_false(queue_id_valid("675f0c3a9b1e44d"));
	assert_false(queue_id_valid("675f0c3a9b1e44dG"));
	assert_false(queue_id_valid("../../../etc/pas"));
	assert_false(queue_id_valid("675F0C3A9B1E44D2"));
}

/* ---- files ------------------------------------------------------------------ */

static char *make_data_dir(void)
{
	char tmpl[] = "/tmp/sealpost-queue-XXXXXX";
	const char *error;

	assert_non_null(mkdtemp(tmpl));
	char *dir = xstrdup(tmpl);
	char *spool = fs_join(dir, DELIVER_SPOOL_DIR);
	assert_int_equal(fs_mkdir_p(spool, 0700, &error), 0);
	assert_int_equal(queue_prepare(dir, false, 0, 0, &error), 0);
	free(spool);
	return dir;
}

static void remove_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_commit_load_append_remove(void **state)
{
	char *dir = make_data_dir();
	struct spool sp;
	const char *error, *rp = "Return-Path: <bob@example.test>\r\n";
	const char *data = "Subject: x\r\n\r\nhello\r\n";
	char *remote[] = { "a@example.org", "b@example.net" };
	char *local[] = { "carol@example.test" };
	char id[QUEUE_ID_LEN + 1];
	struct queue_submission qs = { .sender = "bob@example.test", .flags = QUEUE_F_8BITMIME,
				       .offset = strlen(rp), .rcpts = remote, .n_rcpts = 2,
				       .local = local, .n_local = 1 };

	assert_int_equal(spool_open(dir, &sp, &error), 0);
	assert_int_equal(spool_write(&sp, rp, strlen(rp), &error), 0);
	assert_int_equal(spool_write(&sp, data, strlen(data), &error), 0);
	assert_int_equal(queue_commit(&sp, dir, &qs, id, &error), 0);
	spool_discard(&sp);
	/* the local copy, and the queue's (the same bytes, Return-Path and all) */
	char *maildir = mailbox_path(dir, "carol@example.test");
	char *newdir = fs_join(maildir, "new"), *msg = queue_path(dir, id, "msg");
	assert_int_equal(count_files(newdir), 1);
	char *text;
	size_t len;
	assert_int_equal(fs_read_file(msg, 4096, &text, &len, &error), 0);
	assert_int_equal(len, strlen(rp) + strlen(data));
	assert_memory_equal(text, rp, strlen(rp));
	free(text);
	char *tmpdir = fs_join(dir, QUEUE_TMP_DIR);
	assert_int_equal(count_files(tmpdir), 0);

	struct queue_env *env;
	int fd;
	assert_int_equal(queue_env_load(dir, id, &env, &fd, &error), 0);
	assert_int_equal(env->size, strlen(data));
	assert_int_equal(env->offset, strlen(rp));
	assert_int_equal(env->n_rcpts, 2);
	struct buf b = { 0 };
	size_t zero = 0;
	queue_record_result(&b, 10, QUEUE_RCPT_DELIVERED, &zero, 1, "mx[1.2.3.4]:25",
			    NULL, "250 ok");
	assert_int_equal(queue_env_append(fd, b.data, b.len, true, &error), 0);
	/* a torn record left by a crash is cut before the next append */
	assert_int_equal(write(fd, "R 11 bounced 1 - - 5", 20), 20);
	close(fd);
	queue_env_free(&env);
	assert_int_equal(queue_env_load(dir, id, &env, &fd, &error), 0);
	assert_int_equal(env->rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(env->rcpts[1].state, QUEUE_RCPT_PENDING);
	b.len = 0;
	size_t one = 1;
	queue_record_result(&b, 12, QUEUE_RCPT_DEFERRED, &one, 1, NULL, NULL, "451 later");
	assert_int_equal(queue_env_append(fd, b.data, b.len, false, &error), 0);
	queue_env_free(&env);
	assert_int_equal(queue_env_load(dir, id, &env, NULL, &error), 0);
	assert_int_equal(env->rcpts[1].state, QUEUE_RCPT_DEFERRED);
	assert_string_equal(env->rcpts[1].reply, "451 later");
	/* compaction keeps the state, drops the history */
	env->attempts = 3;
	env->next_attempt = 99;
	assert_int_equal(queue_env_rewrite(dir, env, &fd, &error), 0);
	queue_env_free(&env);
	assert_int_equal(queue_env_load(dir, id, &env, NULL, &error), 0);
	assert_int_equal(env->rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(env->rcpts[1].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(env->attempts, 3);
	assert_int_equal(env->next_attempt, 99);
	queue_env_free(&env);
	close(fd);

	char **ids;
	size_t n;
	assert_int_equal(queue_list_ids(dir, &ids, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	strv_free(&ids);
	assert_int_equal(queue_remove(dir, id, true, &error), 0);
	assert_int_equal(queue_remove(dir, id, true, &error), 0);   /* gone: fine */
	assert_int_equal(queue_env_load(dir, id, &env, NULL, &error), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(fs_exists(msg));
	buf_free(&b);
	free(tmpdir);
	free(msg);
	free(newdir);
	free(maildir);
	remove_tree(dir);
	free(dir);
}

static void test_leftovers_removed(void **state)
{
	char *dir = make_data_dir();
	const char *error;
	char *orphan = queue_path(dir, "675f0c3a9b1e44d2", "msg");
	char *tmp = xasprintf("%s/" QUEUE_TMP_DIR "/675f0c3a9b1e44d3.env", dir);
	char id[QUEUE_ID_LEN + 1];
	char *rcpt[] = { "a@example.org" };

	assert_int_equal(queue_create(dir, "Return-Path: <>\r\nx\r\n", 20, 17, "",
				      QUEUE_F_DSN, rcpt, 1, id, &error), 0);
	assert_int_equal(fs_write_new(orphan, "x", 1, 0600, &error), 0);
	assert_int_equal(fs_write_new(tmp, "x", 1, 0600, &error), 0);
	/* a commit cut short after its envelope was whole: queued */
	char *env_path = queue_path(dir, id, "env"), *new_path = queue_path(dir, id, "new");
	assert_int_equal(rename(env_path, new_path), 0);
	/* one cut before: removed, with its message */
	char *cut = queue_path(dir, "675f0c3a9b1e44d4", "new");
	char *cut_msg = queue_path(dir, "675f0c3a9b1e44d4", "msg");
	assert_int_equal(fs_write_new(cut, "sealpost-queue 1\nid 675f", 25, 0600, &error), 0);
	assert_int_equal(fs_write_new(cut_msg, "x", 1, 0600, &error), 0);
	/* a whole envelope whose message is not whole (cut, or never made):
	 * nothing was acknowledged; removed with it */
	char id2[QUEUE_ID_LEN + 1], id3[QUEUE_ID_LEN + 1];
	assert_int_equal(queue_create(dir, "Return-Path: <>\r\nx\r\n", 20, 17, "",
				      QUEUE_F_DSN, rcpt, 1, id2, &error), 0);
	assert_int_equal(queue_create(dir, "Return-Path: <>\r\nx\r\n", 20, 17, "",
				      QUEUE_F_DSN, rcpt, 1, id3, &error), 0);
	char *env2 = queue_path(dir, id2, "env"), *new2 = queue_path(dir, id2, "new");
	char *msg2 = queue_path(dir, id2, "msg");
	char *env3 = queue_path(dir, id3, "env"), *new3 = queue_path(dir, id3, "new");
	char *msg3 = queue_path(dir, id3, "msg");
	assert_int_equal(rename(env2, new2), 0);
	assert_int_equal(truncate(msg2, 10), 0);
	assert_int_equal(rename(env3, new3), 0);
	assert_int_equal(unlink(msg3), 0);
	assert_int_equal(queue_prepare(dir, false, 0, 0, &error), 0);
	assert_false(fs_exists(new2) || fs_exists(env2) || fs_exists(msg2));
	assert_false(fs_exists(new3) || fs_exists(env3));
	free(env2); free(new2); free(msg2);
	free(env3); free(new3); free(msg3);
	assert_false(fs_exists(orphan));
	assert_false(fs_exists(tmp));
	assert_true(fs_exists(env_path));
	assert_false(fs_exists(new_path));
	assert_false(fs_exists(cut));
	assert_false(fs_exists(cut_msg));
	free(env_path);
	free(new_path);
	free(cut);
	free(cut_msg);
	struct queue_env *env;
	assert_int_equal(queue_env_load(dir, id, &env, NULL, &error), 0);
	assert_int_equal(env->flags, QUEUE_F_DSN);
	assert_int_equal(env->size, 3);
	queue_env_free(&env);
	free(orphan);
	free(tmp);
	remove_tree(dir);
	free(dir);
}

/* ---- DSNs ----------------------------------------------------------------------- */

static void test_reply_status(void **state)
{
	static const struct {
		const char *reply, *status;
	} cases[] = {
		{ "550 5.1.1 <x@y>: no such user", "5.1.1" },
		{ "451-4.7.1 greylisted 451 4.7.1 more", "4.7.1" },
		{ "552 5.3.4", "5.3.4" },
		{ "550 no code here", "5.0.0" },
		{ "550 4.1.1 a code of another class", "5.0.0" },
		{ "421 4.4.2 timeout", "4.4.2" },
		{ "delivery time expired", "5.0.0" },
		{ "554 5.7.12345 too long", "5.0.0" },
	};
	char out[QUEUE_STATUS_SIZE];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		queue_reply_status(cases[i].reply, out);
		assert_string_equal(out, cases[i].status);
	}
}

static void test_dsn_text(void **state)
{
	const char *orig = "Subject: hello\r\nFrom: <bob@example.test>\r\n\r\nsecret body\r\n";
	struct queue_dsn_rcpt rcpts[] = {
		{ "a@example.org", "5.1.1", "mx.example.org",
		  "550 5.1.1 <a@example.org>: no such user", 1734282300 },
		{ "b@example.net", "5.1.10", NULL,
		  "556 5.1.10 example.net accepts no mail (null MX, RFC 7505)", 1734282301 },
	};
	struct queue_dsn dsn = { .reporting_mta = "mail.example.test",
				 .queue_id = "675f0c3a9b1e44d2", .dsn_id = "675f0c3a9b1e44d2",
				 .sender = "bob@example.test", .arrival = 1734282298,
				 .now = 1734282302, .rcpts = rcpts, .n = 2,
				 .message = orig, .message_len = strlen(orig) };
	struct buf b = { 0 };
	uint64_t offset;

	queue_dsn_build(&dsn, &b, &offset);
	buf_append(&b, "", 1);
	assert_int_equal(offset, strlen("Return-Path: <>\r\n"));
	assert_true(strncmp(b.data, "Return-Path: <>\r\nFrom: Mail Delivery System "
			    "<MAILER-DAEMON@mail.example.test>\r\nTo: <bob@example.test>\r\n",
			    100) == 0);
	assert_non_null(strstr(b.data, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(b.data, "Content-Type: multipart/report; "
			       "report-type=delivery-status;\r\n"));
	assert_non_null(strstr(b.data, "Date: Sun, 15 Dec 2024 17:05:02 +0000\r\n"));
	assert_non_null(strstr(b.data, "\r\nReporting-MTA: dns; mail.example.test\r\n"));
	assert_non_null(strstr(b.data, "Arrival-Date: Sun, 15 Dec 2024 17:04:58 +0000\r\n"));
	assert_non_null(strstr(b.data, "\r\nFinal-Recipient: rfc822; a@example.org\r\n"
			       "Action: failed\r\nStatus: 5.1.1\r\n"
			       "Remote-MTA: dns; mx.example.org\r\n"
			       "Diagnostic-Code: smtp; 550 5.1.1 <a@example.org>: no such user\r\n"));
	assert_non_null(strstr(b.data, "Final-Recipient: rfc822; b@example.net\r\n"
			       "Action: failed\r\nStatus: 5.1.10\r\n"
			       "Diagnostic-Code: X-Sealpost; 556 5.1.10"));
	assert_non_null(strstr(b.data, "Content-Type: text/rfc822-headers\r\n\r\n"
			       "Subject: hello\r\nFrom: <bob@example.test>\r\n\r\n--"));
	assert_null(strstr(b.data, "secret body"));
	/* every line ends in CRLF */
	for (char *p = strchr(b.data, '\n'); p != NULL; p = strchr(p + 1, '\n'))
		assert_int_equal(p[-1], '\r');
	buf_free(&b);
}

/* Staged in a group commit batch (store/deliver.h) beside a local-only
 * message and one that left the batch: only the staged one is queued;
 * when the queue cannot take it, its local copy is taken back too. */
static void write_spool(const char *dir, struct spool *sp, const char *data)
{
	const char *error;

	assert_int_equal(spool_open(dir, sp, &error), 0);
	assert_int_equal(spool_write(sp, data, strlen(data), &error), 0);
}

static void test_staged_in_a_batch(void **state)
{
	char *dir = make_data_dir();
	const char *error = NULL;
	char *remote[] = { "a@example.org" };
	char *local[] = { "carol@example.test" };
	struct spool sp[3];
	struct deliver_item items[3];
	struct queue_submission qs[3];
	struct queue_stage st[3];
	char id[3][QUEUE_ID_LEN + 1];
	char *qdir = fs_join(dir, QUEUE_DIR);
	char *maildir = mailbox_path(dir, "carol@example.test");
	char *newdir = fs_join(maildir, "new");

	for (int i = 0; i < 3; i++) {
		write_spool(dir, &sp[i], "Subject: batch\r\n\r\nhello\r\n");
		items[i] = (struct deliver_item){ .sp = &sp[i], .addresses = local,
						  .n_addresses = 1 };
		qs[i] = (struct queue_submission){ .sender = "bob@example.test",
						   .rcpts = remote, .n_rcpts = 1,
						   .local = local, .n_local = 1 };
	}
	items[2].result = -1;           /* its session went away */
	queue_stage_init(&st[0], &items[0], dir, &qs[0]);
	queue_stage_init(&st[2], &items[2], dir, &qs[2]);
	deliver_commit_batch(items, 3, dir);
	assert_int_equal(items[0].result, 0);
	assert_int_equal(items[1].result, 0);
	assert_int_equal(queue_stage_end(&st[0], items[0].result, id[0], &error), 0);
	assert_int_equal(queue_stage_end(&st[2], items[2].result, id[2], &error), -1);
	assert_int_equal(count_files(newdir), 2);
	assert_int_equal(count_files(qdir), 3);         /* tmp/, .env, .msg */
	char *env = queue_path(dir, id[0], "env"), *msg = queue_path(dir, id[0], "msg");
	struct stat a, b;
	assert_int_equal(stat(env, &a), 0);
	assert_int_equal(stat(msg, &b), 0);
	assert_int_equal(b.st_size, strlen("Subject: batch\r\n\r\nhello\r\n"));
	for (int i = 0; i < 3; i++)
		spool_discard(&sp[i]);

	/* the queue folder gone: the staged message fails whole */
	remove_tree(qdir);
	write_spool(dir, &sp[0], "Subject: again\r\n\r\n");
	items[0] = (struct deliver_item){ .sp = &sp[0], .addresses = local, .n_addresses = 1 };
	queue_stage_init(&st[0], &items[0], dir, &qs[0]);
	deliver_commit_batch(items, 1, dir);
	assert_int_equal(items[0].result, -1);
	assert_non_null(strstr(items[0].error, "queue"));
	assert_int_equal(queue_stage_end(&st[0], items[0].result, id[0], &error), -1);
	assert_int_equal(count_files(newdir), 2);       /* no new local copy */
	spool_discard(&sp[0]);
	free(env);
	free(msg);
	free(qdir);
	free(newdir);
	free(maildir);
	remove_tree(dir);
	free(dir);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_torn_and_bad),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_commit_load_append_remove),
		cmocka_unit_test(test_staged_in_a_batch),
		cmocka_unit_test(test_leftovers_removed),
		cmocka_unit_test(test_reply_status),
		cmocka_unit_test(test_dsn_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
