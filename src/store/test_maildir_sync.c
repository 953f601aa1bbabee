/* test_maildir_sync.c — UIDs, sync, change checks, flags, and Maildirs
 * written by other programs. */
#include "store/maildir_private.h"
#include "store/test_store_util.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/time.h>
#include <time.h>

/* Set atime and mtime of dir/sub/name (or dir/sub when name is NULL). */
static void set_time(const char *dir, const char *sub, const char *name,
		     time_t when)
{
	char *path = name == NULL ? xasprintf("%s/%s", dir, sub) :
		xasprintf("%s/%s/%s", dir, sub, name);
	struct timespec ts[2] = { { when, 0 }, { when, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(path);
}

static void test_uids_stable(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");

	/* Delivered by hand; the oldest gets the first UID. */
	test_put(fx->root, "new", "1700000300.M3P1.host", "Subject: c\n\nc\n");
	test_put(fx->root, "new", "1700000100.M1P1.host", "Subject: a\n\na\n");
	test_put(fx->root, "new", "1700000200.M2P1.host", "Subject: b\n\nb\n");
	set_time(fx->root, "new", "1700000100.M1P1.host", 1700000100);
	set_time(fx->root, "new", "1700000200.M2P1.host", 1700000200);
	set_time(fx->root, "new", "1700000300.M3P1.host", 1700000300);

	struct maildir_snapshot *s1 = test_sync(f);
	assert_int_equal(s1->count, 3);
	assert_int_equal(s1->recent_count, 3);
	assert_int_equal(s1->uidnext, 4);
	assert_true(s1->uidvalidity > 0);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(s1->msgs[i].uid, i + 1);
		assert_true(s1->msgs[i].recent);
		assert_int_equal(s1->msgs[i].internal_date, 1700000100 + 100 * i);
	}
	assert_string_equal(s1->msgs[0].basename, "1700000100.M1P1.host");
	assert_string_equal(s1->msgs[0].filename, "1700000100.M1P1.host:2,");
	assert_true(test_exists(fx->root, "cur", "1700000100.M1P1.host:2,"));
	assert_false(test_exists(fx->root, "new", "1700000100.M1P1.host"));

	/* The uidlist on disk. */
	char *path = xasprintf("%s/sealpost-uidlist", fx->root);
	char *text = test_read(path), *want = xasprintf(
		"sealpost-uidlist 2 V%" PRIu32 " N4 G1 R4 M2 X1\n"
		"1 S14 W17 T1700000100 M2 F :1700000100.M1P1.host\n"
		"2 S14 W17 T1700000200 M2 F :1700000200.M2P1.host\n"
		"3 S14 W17 T1700000300 M2 F :1700000300.M3P1.host\n", s1->uidvalidity);
	assert_string_equal(text, want);
	free(text);
	free(want);
	free(path);

	/* Again, and from a fresh handle: same UIDs, nothing recent. */
	for (int round = 0; round < 2; round++) {
		struct maildir_snapshot *s2 = test_sync(f);
		assert_int_equal(s2->uidvalidity, s1->uidvalidity);
		assert_int_equal(s2->count, 3);
		assert_int_equal(s2->recent_count, 0);
		for (size_t i = 0; i < 3; i++) {
			assert_int_equal(s2->msgs[i].uid, s1->msgs[i].uid);
			assert_string_equal(s2->msgs[i].basename, s1->msgs[i].basename);
			assert_false(s2->msgs[i].recent);
		}
		maildir_snapshot_free(&s2);
		maildir_folder_close(&f);
		f = test_open(fx->root, "INBOX");
	}
	assert_non_null(maildir_snapshot_find(s1, 2));
	assert_string_equal(maildir_snapshot_find(s1, 2)->basename,
			    "1700000200.M2P1.host");
	assert_null(maildir_snapshot_find(s1, 4));
	assert_null(maildir_snapshot_find(s1, 0));
	maildir_snapshot_free(&s1);
	maildir_folder_close(&f);
}

static void test_two_sessions(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *a = test_open(fx->root, "INBOX");
	struct maildir_folder *b = test_open(fx->root, "INBOX");
	struct maildir_snapshot *sa, *sb;
	const char *error;

	uint32_t u1 = test_append(a, "Subject: 1\n\n1\n", 0);
	uint32_t u2 = test_append(b, "Subject: 2\n\n2\n", 0);
	assert_int_equal(u1, 1);
	assert_int_equal(u2, 2);
	sa = test_sync(a);
	assert_int_equal(sa->count, 2);
	maildir_snapshot_free(&sa);

	/* A delivery that b's sync picks up: a sees the same UID, not recent. */
	test_put(fx->root, "new", "1700000000.M9P9.host,S=14", "Subject: 3\n\n3\n");
	sb = test_sync(b);
	assert_int_equal(sb->count, 3);
	assert_int_equal(sb->msgs[2].uid, 3);
	assert_true(sb->msgs[2].recent);
	sa = test_sync(a);
	assert_int_equal(sa->count, 3);
	assert_int_equal(sa->msgs[2].uid, 3);
	assert_false(sa->msgs[2].recent);
	assert_int_equal(sa->uidvalidity, sb->uidvalidity);

	/* a expunges UID 2; b's next sync no longer has it. */
	struct maildir_msg *m2 = maildir_snapshot_find(sa, 2);
	assert_int_equal(maildir_expunge(a, &m2, 1, &error), 0);
	maildir_snapshot_free(&sb);
	sb = test_sync(b);
	assert_int_equal(sb->count, 2);
	assert_int_equal(sb->msgs[0].uid, 1);
	assert_int_equal(sb->msgs[1].uid, 3);
	assert_int_equal(sb->uidnext, 4);
	maildir_snapshot_free(&sb);

	/* Expunged by another program: gone for both. */
	char *path = xasprintf("%s/cur/%s", fx->root, sa->msgs[0].filename);
	assert_int_equal(unlink(path), 0);
	free(path);
	sb = test_sync(b);
	assert_int_equal(sb->count, 1);
	assert_int_equal(sb->msgs[0].uid, 3);
	maildir_snapshot_free(&sb);
	maildir_snapshot_free(&sa);
	sa = test_sync(a);
	assert_int_equal(sa->count, 1);
	assert_int_equal(test_append(b, "Subject: 4\n\n4\n", 0), 4);
	maildir_snapshot_free(&sa);
	maildir_folder_close(&a);
	maildir_folder_close(&b);
}

static struct maildir_msg *by_basename(struct maildir_snapshot *s,
				       const char *basename)
{
	for (size_t i = 0; i < s->count; i++) {
		if (strcmp(s->msgs[i].basename, basename) == 0)
			return &s->msgs[i];
	}
	fail_msg("no message %s", basename);
	return NULL;
}

static void test_foreign_maildir(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	/* As mutt, Dovecot, Courier or a procmail delivery leave them. */
	test_put(fx->root, "cur", "1600000000.M1P2.host,S=12,W=13:2,FS",
		 "Subject:\n\nx\n");  /* 12 bytes; W=13 is wrong but plausible */
	test_put(fx->root, "cur", "1600000001.M2P2.host:2,RSa",
		 "Subject: k\r\n\r\nbody\r\n");
	test_put(fx->root, "cur", "1600000002.123_4.host", "Subject: p\n\nplain\n");
	test_put(fx->root, "cur", "1600000003.P99Q1.host:2,", "A: b\n\n");
	test_put(fx->root, "cur", "1600000004.x.host:2,STxyz", "A: b\n\nc\n");
	test_put(fx->root, "cur", "1600000005.y.host:1,experimental", "A: b\n\n");
	test_put(fx->root, "new", "1600000006.M6P6.host", "Subject: n\n\nnew\n");
	test_put(fx->root, "new", "1600000007.M7P7.host:2,S", "A: b\n\n");
	test_put(fx->root, "cur", ".hidden", "not a message");
	test_put(fx->root, "tmp", "1600000008.M8.host", "being written");
	char *sub = xasprintf("%s/cur/subdir", fx->root);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);
	/* A symlink is never a message (it could point anywhere). */
	sub = xasprintf("%s/cur/1600000009.evil.host:2,S", fx->root);
	assert_int_equal(symlink("/etc/passwd", sub), 0);
	free(sub);
	sub = xasprintf("%s/new/1600000010.evil.host", fx->root);
	assert_int_equal(symlink("/etc/passwd", sub), 0);
	free(sub);
	static const char *const dated[] = {
		"1600000000.M1P2.host,S=12,W=13:2,FS",
		"1600000001.M2P2.host:2,RSa", "1600000002.123_4.host",
		"1600000003.P99Q1.host:2,", "1600000004.x.host:2,STxyz",
		"1600000005.y.host:1,experimental",
	};
	for (size_t i = 0; i < N_ELEMENTS(dated); i++)
		set_time(fx->root, "cur", dated[i], 1600000000 + (time_t)i);

	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->count, 8);
	struct maildir_msg *m = by_basename(s, "1600000000.M1P2.host,S=12,W=13");
	assert_int_equal(m->flags, MAILDIR_FLAG_FLAGGED | MAILDIR_FLAG_SEEN);
	assert_int_equal(m->size, 12);
	assert_int_equal(m->vsize, 13);  /* a plausible W= is believed */
	assert_int_equal(m->internal_date, 1600000000);
	m = by_basename(s, "1600000001.M2P2.host");
	assert_int_equal(m->flags, MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_SEEN);
	assert_int_equal(m->size, 20);
	assert_int_equal(m->vsize, 20);  /* CRLF already */
	m = by_basename(s, "1600000002.123_4.host");
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->size, 18);
	assert_int_equal(m->vsize, 21);  /* 3 bare LFs */
	assert_string_equal(m->filename, "1600000002.123_4.host");
	m = by_basename(s, "1600000004.x.host");
	assert_int_equal(m->flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DELETED);
	m = by_basename(s, "1600000005.y.host");
	assert_int_equal(m->flags, 0);
	m = by_basename(s, "1600000007.M7P7.host");
	assert_int_equal(m->flags, MAILDIR_FLAG_SEEN);
	assert_true(m->recent);
	assert_true(test_exists(fx->root, "cur", "1600000007.M7P7.host:2,S"));
	assert_true(test_exists(fx->root, "cur", "1600000006.M6P6.host:2,"));
	assert_true(by_basename(s, "1600000006.M6P6.host")->recent);
	/* Every message that got its UID now is \Recent, cur/'s too. */
	assert_int_equal(s->recent_count, 8);
	/* The oldest files got the first UIDs. */
	assert_int_equal(by_basename(s, "1600000000.M1P2.host,S=12,W=13")->uid, 1);
	assert_int_equal(by_basename(s, "1600000005.y.host")->uid, 6);

	/* Flag changes keep letters we do not know. */
	m = by_basename(s, "1600000001.M2P2.host");
	assert_int_equal(maildir_msg_set_flags(f, m, MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_FLAGGED, &error), 0);
	assert_string_equal(m->filename, "1600000001.M2P2.host:2,FRSa");
	m = by_basename(s, "1600000004.x.host");
	assert_int_equal(maildir_msg_set_flags(f, m, MAILDIR_FLAGS_REMOVE,
					       MAILDIR_FLAG_DELETED, &error), 0);
	assert_string_equal(m->filename, "1600000004.x.host:2,Sxyz");
	m = by_basename(s, "1600000002.123_4.host");
	assert_int_equal(maildir_msg_set_flags(f, m, MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_SEEN, &error), 0);
	assert_string_equal(m->filename, "1600000002.123_4.host:2,S");
	m = by_basename(s, "1600000005.y.host");
	assert_int_equal(maildir_msg_set_flags(f, m, MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_DRAFT, &error), 0);
	assert_string_equal(m->filename, "1600000005.y.host:2,D");
	assert_false(test_exists(fx->root, "cur", "1600000005.y.host:1,experimental"));
	assert_true(test_exists(fx->root, "new", "1600000010.evil.host"));
	/* The tmp/ file and the dot file are still there, untouched. */
	assert_true(test_exists(fx->root, "tmp", "1600000008.M8.host"));
	assert_true(test_exists(fx->root, "cur", ".hidden"));
	maildir_snapshot_free(&s);

	s = test_sync(f);
	assert_int_equal(s->count, 8);
	assert_int_equal(by_basename(s, "1600000001.M2P2.host")->flags,
			 MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_SEEN |
			 MAILDIR_FLAG_FLAGGED);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

static void test_flags(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	struct maildir_folder *a = test_open(fx->root, "INBOX");
	struct maildir_folder *b = test_open(fx->root, "INBOX");

	test_append(a, "Subject: f\n\nf\n", 0);
	struct maildir_snapshot *s = test_sync(a);
	struct maildir_msg *m = &s->msgs[0];
	char *base = xstrdup(m->basename);
	assert_string_equal(m->filename + strlen(base), ":2,");

	static const struct {
		enum maildir_flags_op op;
		unsigned flags;
		const char *info;
	} steps[] = {
		{ MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN, ":2,S" },
		{ MAILDIR_FLAGS_ADD, MAILDIR_FLAG_FLAGGED, ":2,FS" },
		{ MAILDIR_FLAGS_ADD, MAILDIR_FLAG_FLAGGED, ":2,FS" },
		{ MAILDIR_FLAGS_REMOVE, MAILDIR_FLAG_SEEN, ":2,F" },
		{ MAILDIR_FLAGS_REPLACE, MAILDIR_FLAG_DELETED | MAILDIR_FLAG_DRAFT |
		  MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_PASSED, ":2,DPRT" },
		{ MAILDIR_FLAGS_REPLACE, 0, ":2," },
		{ MAILDIR_FLAGS_ADD, MAILDIR_FLAGS_ALL, ":2,DFPRST" },
	};
	for (size_t i = 0; i < N_ELEMENTS(steps); i++) {
		assert_int_equal(maildir_msg_set_flags(a, m, steps[i].op,
						       steps[i].flags, &error), 0);
		char *want = xasprintf("%s%s", base, steps[i].info);
		assert_string_equal(m->filename, want);
		assert_true(test_exists(fx->root, "cur", want));
		assert_int_equal(m->flags, maildir_flags_from_filename(want));
		free(want);
	}
	/* The other session sees the change as the file's new name. */
	struct maildir_snapshot *sb = test_sync(b);
	assert_int_equal(sb->msgs[0].flags, MAILDIR_FLAGS_ALL);
	assert_int_equal(sb->msgs[0].uid, m->uid);

	/* Renamed by another program meanwhile: found again by basename,
	 * and the change applies to its current flags. */
	char *from = xasprintf("%s/cur/%s", fx->root, m->filename);
	char *to = xasprintf("%s/cur/%s:2,Fa", fx->root, base);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(maildir_msg_set_flags(a, m, MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_SEEN, &error), 0);
	char *want = xasprintf("%s:2,FSa", base);
	assert_string_equal(m->filename, want);
	free(want);
	/* b's stale name still works too. */
	assert_int_equal(maildir_msg_set_flags(b, &sb->msgs[0], MAILDIR_FLAGS_REMOVE,
					       MAILDIR_FLAG_FLAGGED, &error), 0);
	want = xasprintf("%s:2,Sa", base);
	assert_string_equal(sb->msgs[0].filename, want);
	free(want);

	/* Gone: ENOENT. */
	free(from);
	from = xasprintf("%s/cur/%s", fx->root, sb->msgs[0].filename);
	assert_int_equal(unlink(from), 0);
	errno = 0;
	assert_int_equal(maildir_msg_set_flags(a, m, MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_DRAFT, &error), -1);
	assert_int_equal(errno, ENOENT);
	free(from);
	free(to);
	free(base);
	maildir_snapshot_free(&s);
	maildir_snapshot_free(&sb);
	maildir_folder_close(&a);
	maildir_folder_close(&b);
}

static void test_dovecot_import(void **state)
{
	struct fixture *fx = *state;
	const char *dir;
	struct maildir_folder *f = test_open(fx->root, "Sent");
	dir = maildir_folder_path(f);

	test_put(dir, ".", "dovecot-uidlist",
		 "3 V1234567 N10 G3085f01b7f11094c501100008c4a11c1\n"
		 "3 :1600000000.A.host\n"
		 "7 W8 S6 :1600000001.B.host,S=6\n");
	test_put(dir, "cur", "1600000000.A.host:2,S", "A: b\n\n");
	test_put(dir, "cur", "1600000001.B.host,S=6:2,", "A: c\n\n");
	test_put(dir, "new", "1600000002.C.host", "A: d\n\n");
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->uidvalidity, 1234567);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->msgs[0].uid, 3);
	assert_int_equal(s->msgs[0].flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(s->msgs[1].uid, 7);
	assert_int_equal(s->msgs[2].uid, 10);
	assert_int_equal(s->uidnext, 11);
	maildir_snapshot_free(&s);
	assert_true(test_exists(dir, ".", "sealpost-uidlist"));
	/* Dovecot's file stays as it was; ours rules from now on. */
	test_put(dir, ".", "dovecot-uidlist", "3 V999 N2\n1 :1600000000.A.host\n");
	maildir_folder_close(&f);
	f = test_open(fx->root, "Sent");
	s = test_sync(f);
	assert_int_equal(s->uidvalidity, 1234567);
	assert_int_equal(s->msgs[0].uid, 3);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);

	/* Courier's / Dovecot 1.0's version 1 format. */
	f = test_open(fx->root, "Drafts");
	dir = maildir_folder_path(f);
	test_put(dir, ".", "dovecot-uidlist", "1 4242 5\n2 1600000000.D.host:2,S\n");
	test_put(dir, "cur", "1600000000.D.host:2,S", "A: b\n\n");
	s = test_sync(f);
	assert_int_equal(s->uidvalidity, 4242);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->msgs[0].uid, 2);
	assert_int_equal(s->uidnext, 5);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

static void test_change_check(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *a = test_open(fx->root, "INBOX");
	struct maildir_folder *b = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s;
	const char *error;
	time_t past = time(NULL) - 60;

	assert_true(maildir_folder_changed(a));  /* never synced */
	test_append(b, "Subject: 1\n\n1\n", 0);
	s = test_sync(a);
	maildir_snapshot_free(&s);
	/* Fresh stamps are not trusted (coarse file-system clocks). */
	assert_true(maildir_folder_changed(a));
	/* Old stamps are. */
	set_time(fx->root, "new", NULL, past);
	set_time(fx->root, "cur", NULL, past);
	set_time(fx->root, ".", "sealpost-uidlist", past);
	s = test_sync(a);
	assert_false(maildir_folder_changed(a));
	assert_false(maildir_folder_changed(a));

	/* A delivery into new/. */
	test_put(fx->root, "new", "1700000000.M1P1.host", "Subject: 2\n\n2\n");
	assert_true(maildir_folder_changed(a));
	maildir_snapshot_free(&s);
	s = test_sync(a);
	set_time(fx->root, "new", NULL, past);
	set_time(fx->root, "cur", NULL, past);
	set_time(fx->root, ".", "sealpost-uidlist", past);
	maildir_snapshot_free(&s);
	s = test_sync(a);
	assert_false(maildir_folder_changed(a));

	/* A flag change by another session. */
	struct maildir_snapshot *sb = test_sync(b);
	assert_int_equal(maildir_msg_set_flags(b, &sb->msgs[0], MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_SEEN, &error), 0);
	assert_true(maildir_folder_changed(a));
	maildir_snapshot_free(&s);
	maildir_snapshot_free(&sb);
	maildir_folder_close(&a);
	maildir_folder_close(&b);
}

static void test_tmp_cleanup(void **state)
{
	struct fixture *fx = *state;
	time_t old = time(NULL) - MAILDIR_TMP_STALE_SECS - 60;

	/* An APPEND of an old message dates its tmp/ file (atime and mtime)
	 * before the rename into cur/: its ctime says it is being written, so
	 * a sync in another session at that moment must leave it alone. */
	test_put(fx->root, "tmp", "dated", "APPEND with a date of 2001");
	test_put(fx->root, "tmp", "fresh", "being written");
	set_time(fx->root, "tmp", "dated", old);
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->count, 0);  /* tmp/ is never seen */
	assert_true(test_exists(fx->root, "tmp", "dated"));
	assert_true(test_exists(fx->root, "tmp", "fresh"));
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);

	/* A day later nothing is stale yet; 36 hours after its last change a
	 * crash leftover goes (ctime cannot be set back, so the clock is). */
	maildir_tmp_clean(fx->root, time(NULL) + 24 * 60 * 60);
	assert_true(test_exists(fx->root, "tmp", "dated"));
	assert_true(test_exists(fx->root, "tmp", "fresh"));
	maildir_tmp_clean(fx->root, time(NULL) + MAILDIR_TMP_STALE_SECS + 60);
	assert_false(test_exists(fx->root, "tmp", "dated"));
	assert_false(test_exists(fx->root, "tmp", "fresh"));
}

static void test_damaged_uidlist(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	char *path = xasprintf("%s/sealpost-uidlist", fx->root);

	test_append(f, "Subject: 1\n\n1\n", 0);
	test_append(f, "Subject: 2\n\n2\n", 0);
	struct maildir_snapshot *s = test_sync(f);
	uint32_t validity = s->uidvalidity;
	char *b1 = xstrdup(s->msgs[0].basename), *b2 = xstrdup(s->msgs[1].basename);
	maildir_snapshot_free(&s);

	/* A torn last line (crash mid-append) is ignored and rewritten. */
	char *text = xasprintf("sealpost-uidlist 1 V%" PRIu32 " N2\n"
			       "1 S14 W15 T5 :%s\n2 S1", validity, b1);
	test_write(path, text);
	free(text);
	s = test_sync(f);
	assert_int_equal(s->uidvalidity, validity);
	assert_int_equal(s->count, 2);
	assert_int_equal(s->msgs[0].uid, 1);
	assert_string_equal(s->msgs[1].basename, b2);
	assert_int_equal(s->msgs[1].uid, 2);
	maildir_snapshot_free(&s);
	text = test_read(path);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_non_null(strstr(text, b2));
	free(text);

	/* Garbage: new UIDVALIDITY, greater than the old one. */
	test_write(path, "sealpost-uidlist 1 V77 N3\n2 :x\n1 :y\n");
	s = test_sync(f);
	assert_true(s->uidvalidity > validity);
	assert_int_equal(s->count, 2);
	assert_int_equal(s->msgs[0].uid, 1);
	maildir_snapshot_free(&s);
	free(b1);
	free(b2);
	free(path);
	maildir_folder_close(&f);
}

static void test_uidvalidity_never_reused(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	uint32_t last = 0;

	/* Create, use, delete, recreate within one second: each incarnation
	 * gets a greater UIDVALIDITY. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(maildir_folder_create(fx->root, "X", &error), 0);
		struct maildir_folder *f = test_open(fx->root, "X");
		struct maildir_snapshot *s = test_sync(f);
		assert_true(s->uidvalidity > last);
		last = s->uidvalidity;
		maildir_snapshot_free(&s);
		maildir_folder_close(&f);
		assert_int_equal(maildir_folder_delete(fx->root, "X", &error), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uids_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_maildir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_uidlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uidvalidity_never_reused, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
