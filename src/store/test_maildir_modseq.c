/* test_maildir_modseq.c — the \Recent watermark and mod-sequences: who sees
 * \Recent (SELECT takes it, EXAMINE and STATUS only count it), which
 * changes raise a mod-sequence (appends, copies, stores, expunges, and
 * renames or deletions by other programs seen by a sync), conditional
 * stores (UNCHANGEDSINCE), the bounded log of expunges, reading version 1
 * and Dovecot lists, the handle's cached copy against other handles'
 * appends and compactions, and concurrency across handles and threads. */
#include "store/maildir_private.h"
#include "store/test_store_util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>

static struct maildir_snapshot *ro_sync(struct maildir_folder *f)
{
	struct maildir_snapshot *snap = NULL;
	const char *error = NULL;
	if (maildir_sync_readonly(f, &snap, &error) < 0)
		fail_msg("read-only sync: %s", error);
	return snap;
}

static struct maildir_status status_of(struct maildir_folder *f)
{
	struct maildir_status st;
	const char *error = NULL;
	if (maildir_status(f, &st, &error) < 0)
		fail_msg("status: %s", error);
	return st;
}

static size_t sync_recent(struct maildir_folder *f)
{
	struct maildir_snapshot *s = test_sync(f);
	size_t n = s->recent_count;
	maildir_snapshot_free(&s);
	return n;
}

static enum maildir_store_result store1(struct maildir_folder *f,
					struct maildir_msg *m,
					enum maildir_flags_op op, unsigned flags,
					bool conditional, uint64_t since)
{
	struct maildir_store st = { .op = op, .flags = flags,
				    .conditional = conditional,
				    .unchanged_since = since };
	enum maildir_store_result r;
	const char *error = NULL;
	if (maildir_msgs_store(f, &m, 1, &st, &r, &error) < 0)
		fail_msg("store: %s", error);
	return r;
}

static uint32_t *expunged_since(struct maildir_folder *f, uint64_t modseq,
				size_t *n_r, bool *complete_r)
{
	uint32_t *uids;
	const char *error = NULL;
	if (maildir_expunged_since(f, modseq, &uids, n_r, complete_r, &error) < 0)
		fail_msg("expunged_since: %s", error);
	return uids;
}

/* The uidlist file's text (new string). */
static char *uidlist_text(const char *dir)
{
	char *path = xasprintf("%s/sealpost-uidlist", dir);
	char *text = test_read(path);
	free(path);
	return text;
}

/* ---- \Recent ------------------------------------------------------------- */

static void test_recent_watermark(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *a = test_open(fx->root, "INBOX");
	struct maildir_folder *b = test_open(fx->root, "INBOX");
	const char *error = NULL;

	/* Appended: recent for STATUS and EXAMINE, which do not take it. */
	test_append(a, "Subject: 1\r\n\r\n1\r\n", 0);
	test_append(b, "Subject: 2\r\n\r\n2\r\n", 0);
	assert_int_equal(status_of(a).recent, 2);
	struct maildir_snapshot *s = ro_sync(b);
	assert_int_equal(s->recent_count, 2);
	assert_true(s->msgs[0].recent && s->msgs[1].recent);
	maildir_snapshot_free(&s);
	assert_int_equal(status_of(b).recent, 2);
	/* The first full sync takes both; nobody sees them recent again. */
	assert_int_equal(sync_recent(a), 2);
	assert_int_equal(sync_recent(b), 0);
	assert_int_equal(sync_recent(a), 0);
	assert_int_equal(status_of(b).recent, 0);

	/* a has the folder selected while b appends: a's next sync sees the
	 * new message recent and keeps it to itself. */
	test_append(b, "Subject: 3\r\n\r\n3\r\n", 0);
	s = test_sync(a);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->recent_count, 1);
	assert_true(s->msgs[2].recent);
	maildir_snapshot_free(&s);
	assert_int_equal(sync_recent(b), 0);

	/* Copied and moved messages are recent in their new folder. */
	assert_int_equal(maildir_folder_create(fx->root, "Archive", &error), 0);
	struct maildir_folder *arch = test_open(fx->root, "Archive");
	assert_int_equal(sync_recent(arch), 0);
	s = test_sync(a);
	uint32_t uids[2];
	struct maildir_msg *one = &s->msgs[0], *two = &s->msgs[1];
	assert_int_equal(maildir_copy(a, &one, 1, arch, uids, &error), 0);
	assert_int_equal(maildir_move(a, &two, 1, arch, uids + 1, &error), 0);
	maildir_snapshot_free(&s);
	assert_int_equal(status_of(arch).recent, 2);
	struct maildir_folder *other = test_open(fx->root, "Archive");
	s = test_sync(other);
	assert_int_equal(s->recent_count, 2);
	assert_int_equal(s->msgs[0].uid, uids[0]);
	maildir_snapshot_free(&s);
	assert_int_equal(sync_recent(arch), 0);
	/* A delivery into new/ too. */
	test_put(fx->root, "new", "1700000000.M1P1.host", "Subject: d\n\nd\n");
	assert_int_equal(status_of(b).recent, 1);
	assert_int_equal(sync_recent(b), 1);
	assert_int_equal(sync_recent(a), 0);
	maildir_folder_close(&other);
	maildir_folder_close(&arch);
	maildir_folder_close(&a);
	maildir_folder_close(&b);
}

/* ---- mod-sequences --------------------------------------------------------- */

static void test_modseq_rules(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	const char *error = NULL;

	struct maildir_snapshot *s = test_sync(f);
	uint64_t h0 = s->highest_modseq;
	assert_true(h0 >= 1);
	maildir_snapshot_free(&s);

	/* Each append is one change; a copy of two is one more. */
	test_append(f, "Subject: 1\r\n\r\n1\r\n", 0);
	test_append(f, "Subject: 2\r\n\r\n2\r\n", MAILDIR_FLAG_SEEN);
	s = test_sync(f);
	assert_int_equal(s->highest_modseq, h0 + 2);
	assert_int_equal(s->msgs[0].modseq, h0 + 1);
	assert_int_equal(s->msgs[1].modseq, h0 + 2);
	/* Taking \Recent is no change. */
	maildir_snapshot_free(&s);
	s = test_sync(f);
	assert_int_equal(s->highest_modseq, h0 + 2);

	/* A store: new mod-sequence; storing what is there already: none. */
	struct maildir_msg *m1 = &s->msgs[0], *m2 = &s->msgs[1];
	assert_int_equal(store1(f, m1, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_FLAGGED,
				false, 0), MAILDIR_STORE_CHANGED);
	assert_int_equal(m1->modseq, h0 + 3);
	assert_int_equal(m1->flags, MAILDIR_FLAG_FLAGGED);
	assert_int_equal(store1(f, m2, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN,
				false, 0), MAILDIR_STORE_UNCHANGED);
	assert_int_equal(m2->modseq, h0 + 2);
	assert_int_equal(store1(f, m2, MAILDIR_FLAGS_REMOVE, MAILDIR_FLAG_DRAFT,
				false, 0), MAILDIR_STORE_UNCHANGED);
	/* One store of two messages: one mod-sequence for both. */
	struct maildir_msg *both[2] = { m1, m2 };
	struct maildir_store st = { .op = MAILDIR_FLAGS_ADD,
				    .flags = MAILDIR_FLAG_ANSWERED };
	enum maildir_store_result res[2];
	assert_int_equal(maildir_msgs_store(f, both, 2, &st, res, &error), 0);
	assert_int_equal(res[0], MAILDIR_STORE_CHANGED);
	assert_int_equal(res[1], MAILDIR_STORE_CHANGED);
	assert_int_equal(m1->modseq, h0 + 4);
	assert_int_equal(m2->modseq, h0 + 4);
	/* Keywords count as flags. */
	assert_int_equal(maildir_msg_store(f, m2, MAILDIR_FLAGS_ADD, 0, 1u << 3,
					   &error), 0);
	assert_int_equal(m2->modseq, h0 + 5);
	maildir_snapshot_free(&s);

	/* A fresh handle reads the same. */
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	s = test_sync(g);
	assert_int_equal(s->highest_modseq, h0 + 5);
	assert_int_equal(s->msgs[0].modseq, h0 + 4);
	assert_int_equal(s->msgs[1].modseq, h0 + 5);
	assert_int_equal(s->msgs[1].keywords, 1u << 3);

	/* Another program renames a file (mutt setting \Seen): the next
	 * sync gives it a new mod-sequence; nothing else changes. */
	char *from = xasprintf("%s/cur/%s", fx->root, s->msgs[0].filename);
	char *to = xasprintf("%s/cur/%s:2,FRS", fx->root, s->msgs[0].basename);
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);
	maildir_snapshot_free(&s);
	s = test_sync(f);
	assert_int_equal(s->highest_modseq, h0 + 6);
	assert_int_equal(s->msgs[0].modseq, h0 + 6);
	assert_int_equal(s->msgs[0].flags, MAILDIR_FLAG_FLAGGED |
			 MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_SEEN);
	assert_int_equal(s->msgs[1].modseq, h0 + 5);
	maildir_snapshot_free(&s);
	s = test_sync(g);                     /* recorded once, for all */
	assert_int_equal(s->highest_modseq, h0 + 6);

	/* An expunge is a change too, and is logged with its UID. */
	uint32_t gone_uid = s->msgs[1].uid;
	struct maildir_msg *m = &s->msgs[1];
	assert_int_equal(maildir_expunge(g, &m, 1, &error), 0);
	maildir_snapshot_free(&s);
	s = test_sync(f);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->highest_modseq, h0 + 7);
	size_t n;
	bool complete;
	uint32_t *uids = expunged_since(f, h0 + 6, &n, &complete);
	assert_true(complete);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], gone_uid);
	free(uids);
	uids = expunged_since(f, h0 + 7, &n, &complete);
	assert_int_equal(n, 0);
	assert_true(complete);
	free(uids);

	/* Deleted by another program: seen by the next sync, logged. */
	char *path = xasprintf("%s/cur/%s", fx->root, s->msgs[0].filename);
	uint32_t uid0 = s->msgs[0].uid;
	assert_int_equal(unlink(path), 0);
	free(path);
	maildir_snapshot_free(&s);
	s = test_sync(g);
	assert_int_equal(s->count, 0);
	assert_int_equal(s->highest_modseq, h0 + 8);
	maildir_snapshot_free(&s);
	uids = expunged_since(f, h0, &n, &complete);
	assert_int_equal(n, 2);
	assert_int_equal(uids[0], uid0);
	assert_int_equal(uids[1], gone_uid);
	free(uids);
	assert_int_equal(status_of(f).highest_modseq, h0 + 8);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
}

static void test_unchanged_since(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_folder *g = test_open(fx->root, "INBOX");

	test_append(f, "Subject: 1\r\n\r\n1\r\n", 0);
	test_append(f, "Subject: 2\r\n\r\n2\r\n", 0);
	struct maildir_snapshot *s = test_sync(f);
	struct maildir_msg *m1 = &s->msgs[0], *m2 = &s->msgs[1];
	uint64_t known = s->highest_modseq;

	/* Unchanged since what the client knows: stored. */
	assert_int_equal(store1(f, m1, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN, true,
				known), MAILDIR_STORE_CHANGED);
	/* Now it has changed since: refused, nothing renamed. */
	assert_int_equal(store1(f, m1, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_FLAGGED,
				true, known), MAILDIR_STORE_MODIFIED);
	assert_int_equal(m1->flags, MAILDIR_FLAG_SEEN);
	/* UNCHANGEDSINCE 0 always fails (RFC 7162 3.1.3). */
	assert_int_equal(store1(f, m2, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN, true,
				0), MAILDIR_STORE_MODIFIED);
	/* Changed by another session since this snapshot: refused, and the
	 * snapshot's message shows what it is now. */
	struct maildir_snapshot *t = test_sync(g);
	assert_int_equal(store1(g, &t->msgs[1], MAILDIR_FLAGS_ADD,
				MAILDIR_FLAG_DELETED, false, 0), MAILDIR_STORE_CHANGED);
	assert_int_equal(store1(f, m2, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN, true,
				known), MAILDIR_STORE_MODIFIED);
	assert_int_equal(m2->flags, MAILDIR_FLAG_DELETED);
	assert_int_equal(m2->modseq, t->msgs[1].modseq);
	/* Renamed by another program, not yet synced: the store finds it,
	 * records that change, and refuses. */
	uint64_t before = m1->modseq;
	char *from = xasprintf("%s/cur/%s", fx->root, m1->filename);
	char *to = xasprintf("%s/cur/%s:2,RS", fx->root, m1->basename);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(store1(f, m1, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_DRAFT, true,
				before), MAILDIR_STORE_MODIFIED);
	assert_true(m1->modseq > before);
	assert_int_equal(m1->flags, MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_SEEN);
	/* With the new mod-sequence it goes through. */
	assert_int_equal(store1(f, m1, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_DRAFT, true,
				m1->modseq), MAILDIR_STORE_CHANGED);
	free(from);
	free(to);
	/* Expunged meanwhile: said so. */
	struct maildir_msg *gone = &t->msgs[1];
	const char *error = NULL;
	assert_int_equal(maildir_expunge(g, &gone, 1, &error), 0);
	assert_int_equal(store1(f, m2, MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN, false,
				0), MAILDIR_STORE_EXPUNGED);
	maildir_snapshot_free(&t);
	maildir_snapshot_free(&s);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
}

/* ---- the log of expunges ------------------------------------------------------ */

static void test_expunge_log_bounded(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	const size_t total = MAILDIR_EXPUNGED_MAX + 10;
	const char *error = NULL;
	char name[64];

	for (size_t i = 0; i < total; i++) {
		snprintf(name, sizeof(name), "1700000000.M%zuP1.host:2,", i);
		test_put(fx->root, "cur", name, "Subject: x\n\nx\n");
	}
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->count, total);
	uint64_t base = s->highest_modseq;
	/* Expunged in three operations: 5, then 5, then the rest. */
	struct maildir_msg **list = xcalloc(total, sizeof(*list));
	for (size_t i = 0; i < total; i++)
		list[i] = &s->msgs[i];
	assert_int_equal(maildir_expunge(f, list, 5, &error), 0);
	assert_int_equal(maildir_expunge(f, list + 5, 5, &error), 0);
	assert_int_equal(maildir_expunge(f, list + 10, total - 10, &error), 0);
	uint32_t first_kept = s->msgs[10].uid;
	free(list);
	maildir_snapshot_free(&s);

	/* The oldest ten are forgotten: asking from before them is
	 * incomplete, from the second operation on it is exact. */
	size_t n;
	bool complete;
	uint32_t *uids = expunged_since(f, base, &n, &complete);
	assert_false(complete);
	assert_int_equal(n, MAILDIR_EXPUNGED_MAX);
	assert_int_equal(uids[0], first_kept);
	free(uids);
	uids = expunged_since(f, base + 2, &n, &complete);
	assert_true(complete);
	assert_int_equal(n, MAILDIR_EXPUNGED_MAX);
	free(uids);
	/* A fresh handle, reading the (compacted) file, agrees. */
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	uids = expunged_since(g, base + 1, &n, &complete);
	assert_false(complete);
	assert_int_equal(n, MAILDIR_EXPUNGED_MAX);
	free(uids);
	uids = expunged_since(g, base + 2, &n, &complete);
	assert_true(complete);
	free(uids);
	s = test_sync(g);
	assert_int_equal(s->count, 0);
	assert_int_equal(s->highest_modseq, base + 3);
	maildir_snapshot_free(&s);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
}

/* ---- old lists ------------------------------------------------------------------ */

static void test_version1_upgrade(void **state)
{
	struct fixture *fx = *state;

	test_put(fx->root, "cur", "1600000001.A.host,S=14:2,S", "Subject: a\n\na\n");
	test_put(fx->root, "cur", "1600000002.B.host,S=14:2,", "Subject: b\n\nb\n");
	test_put(fx->root, "new", "1600000003.C.host,S=14", "Subject: c\n\nc\n");
	/* What an older sealpost wrote (C got its UID from EXAMINE). */
	test_put(fx->root, ".", "sealpost-uidlist",
		 "sealpost-uidlist 1 V4242 N9\n"
		 "3 S14 W17 T1600000001 :1600000001.A.host,S=14\n"
		 "5 S14 W17 T1600000002 :1600000002.B.host,S=14\n"
		 "7 S14 W17 T1600000003 :1600000003.C.host,S=14\n");
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_status st = status_of(f);
	assert_int_equal(st.uidvalidity, 4242);
	assert_int_equal(st.uidnext, 9);
	assert_int_equal(st.recent, 1);        /* still in new/ */
	assert_int_equal(st.highest_modseq, 1);

	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->uidvalidity, 4242);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->msgs[0].uid, 3);
	assert_int_equal(s->msgs[1].uid, 5);
	assert_int_equal(s->msgs[2].uid, 7);
	assert_int_equal(s->msgs[0].modseq, 1);
	assert_int_equal(s->recent_count, 1);
	assert_true(s->msgs[2].recent);
	maildir_snapshot_free(&s);
	/* Written in version 2 now. */
	char *text = uidlist_text(fx->root);
	assert_true(strncmp(text, "sealpost-uidlist 2 V4242 N9 ", 28) == 0);
	assert_non_null(strstr(text, "3 S14 W17 T1600000001 M1 FS :1600000001.A.host,S=14\n"));
	free(text);
	/* Changes go on from there. */
	s = test_sync(f);
	const char *error = NULL;
	assert_int_equal(maildir_msg_set_flags(f, &s->msgs[1], MAILDIR_FLAGS_ADD,
					       MAILDIR_FLAG_SEEN, &error), 0);
	assert_int_equal(s->msgs[1].modseq, 2);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

static void test_dovecot_modseq(void **state)
{
	struct fixture *fx = *state;

	test_put(fx->root, "cur", "1600000001.A.host:2,S", "Subject: a\n\na\n");
	test_put(fx->root, ".", "dovecot-uidlist",
		 "3 V777 N20 G0123\n15 :1600000001.A.host\n");
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->uidvalidity, 777);
	assert_int_equal(s->msgs[0].uid, 15);
	assert_int_equal(s->msgs[0].modseq, 1);
	assert_int_equal(s->uidnext, 20);
	assert_int_equal(s->recent_count, 0);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

/* ---- the handle's copy ------------------------------------------------------------ */

/* Snapshots agree on everything but recent and file names. */
static void assert_same(const struct maildir_snapshot *x,
			const struct maildir_snapshot *y)
{
	assert_int_equal(x->uidvalidity, y->uidvalidity);
	assert_int_equal(x->uidnext, y->uidnext);
	assert_int_equal(x->highest_modseq, y->highest_modseq);
	assert_int_equal(x->count, y->count);
	for (size_t i = 0; i < x->count; i++) {
		assert_int_equal(x->msgs[i].uid, y->msgs[i].uid);
		assert_int_equal(x->msgs[i].modseq, y->msgs[i].modseq);
		assert_int_equal(x->msgs[i].flags, y->msgs[i].flags);
		assert_string_equal(x->msgs[i].basename, y->msgs[i].basename);
	}
}

static void test_cache_and_compaction(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *a = test_open(fx->root, "INBOX");
	struct maildir_folder *b = test_open(fx->root, "INBOX");

	for (int i = 0; i < 4; i++)
		test_append(a, "Subject: x\r\n\r\nx\r\n", 0);
	struct maildir_snapshot *sa = test_sync(a), *sb = test_sync(b);
	assert_same(sa, sb);
	/* b appends records; a reads only those. */
	assert_int_equal(store1(b, &sb->msgs[0], MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN,
				false, 0), MAILDIR_STORE_CHANGED);
	char *t1 = uidlist_text(fx->root);
	assert_non_null(strstr(t1, "\n+1 M"));
	/* (Proof that a reads only the tail: a date changed in place in an
	 * old line, same length, is not seen by a, only by a full read.) */
	char *path = xasprintf("%s/sealpost-uidlist", fx->root);
	char *date = strstr(t1, "\n1 S");
	date = strstr(date, " T") + 2;
	char old_digit = *date;
	*date = old_digit == '9' ? '8' : '9';
	test_write(path, t1);
	maildir_snapshot_free(&sa);
	sa = test_sync(a);
	assert_int_equal(sa->msgs[0].flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(sa->msgs[0].modseq, sb->msgs[0].modseq);
	assert_int_equal(sa->msgs[0].internal_date, sb->msgs[0].internal_date);
	*date = old_digit;
	test_write(path, t1);

	/* Enough flag changes to compact the file: a notices the rewrite. */
	struct maildir_msg *m = &sb->msgs[1];
	for (int i = 0; i < 2 * MAILDIR_UIDLIST_COMPACT_SLACK; i++)
		store1(b, m, i % 2 ? MAILDIR_FLAGS_REMOVE : MAILDIR_FLAGS_ADD,
		       MAILDIR_FLAG_FLAGGED, false, 0);
	char *t2 = uidlist_text(fx->root);
	assert_true(strlen(t2) < strlen(t1) + 40 * MAILDIR_UIDLIST_COMPACT_SLACK);
	assert_true(strncmp(t1, t2, strcspn(t1, "\n")) != 0);   /* new G */
	maildir_snapshot_free(&sa);
	maildir_snapshot_free(&sb);
	sa = test_sync(a);
	sb = test_sync(b);
	assert_same(sa, sb);
	struct maildir_folder *c = test_open(fx->root, "INBOX");
	struct maildir_snapshot *sc = test_sync(c);
	assert_same(sa, sc);

	/* A torn last record (a crash mid-append) is ignored, and the next
	 * change rewrites the file. */
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "+2 M99999 FS", 12), 12);
	close(fd);
	maildir_snapshot_free(&sa);
	sa = test_sync(a);
	assert_same(sa, sc);
	assert_int_equal(store1(a, &sa->msgs[2], MAILDIR_FLAGS_ADD, MAILDIR_FLAG_SEEN,
				false, 0), MAILDIR_STORE_CHANGED);
	char *t3 = uidlist_text(fx->root);
	assert_null(strstr(t3, "M99999"));
	assert_int_equal(t3[strlen(t3) - 1], '\n');
	maildir_snapshot_free(&sc);
	sc = test_sync(c);
	assert_int_equal(sc->msgs[2].flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(sc->highest_modseq, sa->msgs[2].modseq);
	free(path);
	free(t1);
	free(t2);
	free(t3);
	maildir_snapshot_free(&sa);
	maildir_snapshot_free(&sb);
	maildir_snapshot_free(&sc);
	maildir_folder_close(&a);
	maildir_folder_close(&b);
	maildir_folder_close(&c);
}

/* ---- concurrency ------------------------------------------------------------------- */

#define CONC_THREADS 4
#define CONC_ROUNDS 60
#define CONC_MSGS 8

struct conc {
	const char *root;
	pthread_mutex_t mutex;
	uint64_t *changes;          /* mod-sequences handed to CHANGED stores */
	size_t n_changes;
	bool failed;
	char why[256];
};

static void conc_fail(struct conc *c, const char *what, const char *error)
{
	pthread_mutex_lock(&c->mutex);
	c->failed = true;
	snprintf(c->why, sizeof(c->why), "%s: %s", what, error);
	pthread_mutex_unlock(&c->mutex);
}

/* A session on its own handle: sync, store to a message, sometimes
 * conditionally, sometimes append or rename behind the store's back. */
static void *conc_thread(void *arg)
{
	struct conc *c = arg;
	struct maildir_folder *f = NULL;
	const char *error = NULL;
	unsigned seed = (unsigned)(uintptr_t)pthread_self();

	if (maildir_folder_open(c->root, "INBOX", &f, &error) < 0) {
		conc_fail(c, "open", error);
		return NULL;
	}
	for (int round = 0; round < CONC_ROUNDS && !c->failed; round++) {
		struct maildir_snapshot *s = NULL;
		if (maildir_sync(f, &s, &error) < 0) {
			conc_fail(c, "sync", error);
			break;
		}
		struct maildir_msg *m = &s->msgs[(size_t)rand_r(&seed) % s->count];
		struct maildir_store st = {
			.op = rand_r(&seed) % 2 ? MAILDIR_FLAGS_ADD : MAILDIR_FLAGS_REMOVE,
			.flags = 1u << (rand_r(&seed) % 5),
			.conditional = rand_r(&seed) % 2, .unchanged_since = m->modseq };
		enum maildir_store_result r;
		if (maildir_msgs_store(f, &m, 1, &st, &r, &error) < 0) {
			conc_fail(c, "store", error);
		} else if (r == MAILDIR_STORE_CHANGED) {
			pthread_mutex_lock(&c->mutex);
			c->changes[c->n_changes++] = m->modseq;
			pthread_mutex_unlock(&c->mutex);
		}
		maildir_snapshot_free(&s);
	}
	maildir_folder_close(&f);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_concurrent_handles(void **state)
{
	struct fixture *fx = *state;
	struct conc c = { .root = fx->root };
	pthread_t threads[CONC_THREADS];
	struct maildir_folder *f = test_open(fx->root, "INBOX");

	for (int i = 0; i < CONC_MSGS; i++)
		test_append(f, "Subject: c\r\n\r\nc\r\n", 0);
	struct maildir_snapshot *s = test_sync(f);
	uint64_t start = s->highest_modseq;
	maildir_snapshot_free(&s);
	c.changes = xcalloc(CONC_THREADS * CONC_ROUNDS, sizeof(*c.changes));
	pthread_mutex_init(&c.mutex, NULL);
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, conc_thread, &c), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(threads[i], NULL);
	if (c.failed)
		fail_msg("%s", c.why);

	/* Every store that changed something got its own mod-sequence, and
	 * they are exactly the new ones: none lost, none given twice. */
	assert_true(c.n_changes > 0);
	qsort(c.changes, c.n_changes, sizeof(*c.changes), cmp_u64);
	for (size_t i = 0; i < c.n_changes; i++)
		assert_int_equal(c.changes[i], start + 1 + i);
	s = test_sync(f);
	assert_int_equal(s->highest_modseq, start + c.n_changes);
	/* A fresh reader of the file agrees with this handle. */
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	struct maildir_snapshot *t = test_sync(g);
	assert_same(s, t);
	print_message("%zu changing stores of %d\n", c.n_changes,
		      CONC_THREADS * CONC_ROUNDS);
	maildir_snapshot_free(&s);
	maildir_snapshot_free(&t);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
	pthread_mutex_destroy(&c.mutex);
	free(c.changes);
}

/* Another Maildir program (mutt) renaming files while sessions sync and
 * store: every rename ends up recorded, no mod-sequence is given twice,
 * and every handle agrees with the files. */
struct renamer {
	const char *root;
	volatile bool stop;
	size_t renamed;
};

static void *renamer_thread(void *arg)
{
	struct renamer *r = arg;
	char *cur = xasprintf("%s/cur", r->root);
	unsigned seed = 7;

	while (!r->stop) {
		DIR *d = opendir(cur);
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.' || rand_r(&seed) % 4 != 0)
				continue;
			size_t base = strcspn(e->d_name, ":");
			char *from = xasprintf("%s/%s", cur, e->d_name);
			char *to = xasprintf("%s/%.*s:2,%s", cur, (int)base, e->d_name,
					     rand_r(&seed) % 2 ? "S" : "FS");
			if (strcmp(from, to) != 0 && rename(from, to) == 0)
				r->renamed++;
			free(from);
			free(to);
		}
		if (d != NULL)
			closedir(d);
		usleep(2000);
	}
	free(cur);
	return NULL;
}

static void test_concurrent_with_other_program(void **state)
{
	struct fixture *fx = *state;
	struct conc c = { .root = fx->root };
	struct renamer r = { .root = fx->root };
	pthread_t threads[CONC_THREADS], ren;
	struct maildir_folder *f = test_open(fx->root, "INBOX");

	for (int i = 0; i < CONC_MSGS; i++)
		test_append(f, "Subject: c\r\n\r\nc\r\n", 0);
	struct maildir_snapshot *s = test_sync(f);
	maildir_snapshot_free(&s);
	c.changes = xcalloc(CONC_THREADS * CONC_ROUNDS, sizeof(*c.changes));
	pthread_mutex_init(&c.mutex, NULL);
	assert_int_equal(pthread_create(&ren, NULL, renamer_thread, &r), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, conc_thread, &c), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(threads[i], NULL);
	r.stop = true;
	pthread_join(ren, NULL);
	if (c.failed)
		fail_msg("%s", c.why);

	/* Our stores' mod-sequences are all different. */
	qsort(c.changes, c.n_changes, sizeof(*c.changes), cmp_u64);
	for (size_t i = 1; i < c.n_changes; i++)
		assert_true(c.changes[i] > c.changes[i - 1]);
	/* The last renames are seen; the uidlist then says what the files
	 * say, and every handle agrees. */
	s = test_sync(f);
	assert_int_equal(s->count, CONC_MSGS);
	for (size_t i = 0; i < s->count; i++) {
		char *path = xasprintf("%s/cur/%s", fx->root, s->msgs[i].filename);
		assert_true(fs_exists(path));
		free(path);
		assert_true(s->msgs[i].modseq <= s->highest_modseq);
	}
	struct maildir_folder *g = test_open(fx->root, "INBOX");
	struct maildir_snapshot *t = test_sync(g);
	assert_same(s, t);
	for (size_t i = 0; i < t->count; i++) {         /* recorded as they are */
		assert_int_equal(g->ul->entries[i].flags, t->msgs[i].flags);
		assert_int_equal(f->ul->entries[i].flags, t->msgs[i].flags);
	}
	assert_true(s->highest_modseq >= c.n_changes);
	print_message("%zu renames by the other program, %zu changing stores\n",
		      r.renamed, c.n_changes);
	assert_true(r.renamed > 0);
	maildir_snapshot_free(&s);
	maildir_snapshot_free(&t);
	maildir_folder_close(&g);
	maildir_folder_close(&f);
	pthread_mutex_destroy(&c.mutex);
	free(c.changes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recent_watermark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modseq_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_log_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_version1_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_modseq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_and_compaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_handles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_with_other_program,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
