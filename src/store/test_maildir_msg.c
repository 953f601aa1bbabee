/* test_maildir_msg.c — append, copy, move, expunge, open; concurrent
 * sessions (threads and a process); the POP3 lock; new file names. */
#include "store/test_store_util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static char *read_msg(struct maildir_folder *f, struct maildir_msg *m)
{
	int fd;
	const char *error;
	char buf[4096];

	if (maildir_msg_open(f, m, &fd, &error) < 0)
		fail_msg("open: %s", error);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return xstrdup(buf);
}

static void test_append_uids(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	const char *error;
	uint32_t uid;
	static const char msg[] = "Subject: hi\n\nline\n";

	assert_int_equal(maildir_append(f, msg, strlen(msg),
					MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT,
					1500000000, &uid, &error), 0);
	assert_int_equal(uid, 1);
	assert_int_equal(count_files(fx->root, "tmp"), 0);
	assert_int_equal(count_files(fx->root, "cur"), 1);

	/* Streaming append. */
	struct maildir_append *ctx;
	int fd;
	assert_int_equal(maildir_append_begin(f, &ctx, &fd, &error), 0);
	assert_int_equal(count_files(fx->root, "tmp"), 1);
	assert_int_equal(write(fd, "Subject: s\r\n\r\n", 14), 14);
	assert_int_equal(write(fd, "body\r\n", 6), 6);
	assert_int_equal(maildir_append_commit(&ctx, 0, 0, 0, NULL, &uid, &error), 0);
	assert_null(ctx);
	assert_int_equal(uid, 2);
	/* An aborted one leaves nothing. */
	assert_int_equal(maildir_append_begin(f, &ctx, &fd, &error), 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	maildir_append_abort(&ctx);
	assert_null(ctx);
	assert_int_equal(count_files(fx->root, "tmp"), 0);

	struct maildir_snapshot *s = test_sync(f);
	assert_int_equal(s->count, 2);
	struct maildir_msg *m = &s->msgs[0];
	assert_int_equal(m->uid, 1);
	assert_int_equal(m->flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT);
	assert_int_equal(m->size, strlen(msg));
	assert_int_equal(m->vsize, strlen(msg) + 3);
	assert_int_equal(m->internal_date, 1500000000);
	/* Appended: \Recent for the first sync, which takes it. */
	assert_true(m->recent);
	assert_int_equal(s->recent_count, 2);
	/* The Maildir name: <time>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>:2,DS */
	char *want = xasprintf(",S=%zu,W=%zu:2,DS", strlen(msg), strlen(msg) + 3);
	assert_non_null(strstr(m->filename, want));
	free(want);
	char *path = xasprintf("%s/cur/%s", fx->root, m->filename);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtime, 1500000000);
	free(path);
	char *text = read_msg(f, m);
	assert_string_equal(text, msg);
	free(text);
	assert_int_equal(s->msgs[1].size, 20);
	assert_int_equal(s->msgs[1].vsize, 20);
	assert_true(s->msgs[1].internal_date >= time(NULL) - 60);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

static void test_open_follows_renames(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	const char *error;
	int fd;

	test_append(f, "Subject: o\n\nopen me\n", 0);
	struct maildir_snapshot *s = test_sync(f);
	struct maildir_msg *m = &s->msgs[0];
	char *from = xasprintf("%s/cur/%s", fx->root, m->filename);
	char *to = xasprintf("%s/cur/%s:2,RS", fx->root, m->basename);
	assert_int_equal(rename(from, to), 0);  /* mutt marked it read */
	char *text = read_msg(f, m);
	assert_string_equal(text, "Subject: o\n\nopen me\n");
	free(text);
	assert_string_equal(to + strlen(fx->root) + 5, m->filename);
	assert_int_equal(unlink(to), 0);
	errno = 0;
	assert_int_equal(maildir_msg_open(f, m, &fd, &error), -1);
	assert_int_equal(errno, ENOENT);
	free(from);
	free(to);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
}

static void test_copy_move_expunge(void **state)
{
	struct fixture *fx = *state;
	struct maildir_folder *in = test_open(fx->root, "INBOX");
	struct maildir_folder *sent = test_open(fx->root, "Sent");
	const char *error;
	uint32_t uids[3];

	test_append(sent, "Subject: already\n\nthere\n", 0);
	test_append(in, "Subject: 1\n\none\n", MAILDIR_FLAG_SEEN);
	test_append(in, "Subject: 2\n\ntwo\n", MAILDIR_FLAG_FLAGGED);
	test_append(in, "Subject: 3\n\nthree\n", 0);
	struct maildir_snapshot *s = test_sync(in);
	/* A keyword letter, set by Dovecot, stays behind on copy. */
	char *from = xasprintf("%s/cur/%s", fx->root, s->msgs[0].filename);
	char *to = xasprintf("%s/cur/%s:2,Sb", fx->root, s->msgs[0].basename);
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);

	struct maildir_msg *pick[2] = { &s->msgs[0], &s->msgs[1] };
	assert_int_equal(maildir_copy(in, pick, 2, sent, uids, &error), 0);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 3);
	assert_int_equal(count_files(maildir_folder_path(sent), "tmp"), 0);
	struct maildir_snapshot *d = test_sync(sent);
	assert_int_equal(d->count, 3);
	assert_int_equal(d->msgs[1].uid, 2);
	assert_int_equal(d->msgs[1].flags, MAILDIR_FLAG_SEEN);
	assert_non_null(strstr(d->msgs[1].filename, ":2,S"));
	assert_null(strstr(d->msgs[1].filename, "b"));
	assert_int_equal(d->msgs[2].flags, MAILDIR_FLAG_FLAGGED);
	assert_int_equal(d->msgs[1].internal_date, s->msgs[0].internal_date);
	assert_int_equal(d->msgs[2].vsize, s->msgs[1].vsize);
	/* A hard link: the same file. */
	char *a = xasprintf("%s/cur/%s", fx->root, s->msgs[1].filename);
	char *b = xasprintf("%s/cur/%s", maildir_folder_path(sent), d->msgs[2].filename);
	struct stat sa, sb;
	assert_int_equal(stat(a, &sa), 0);
	assert_int_equal(stat(b, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
	free(a);
	free(b);
	char *text = read_msg(sent, &d->msgs[2]);
	assert_string_equal(text, "Subject: 2\n\ntwo\n");
	free(text);
	maildir_snapshot_free(&d);

	/* Copying a message gone meanwhile: nothing arrives. */
	struct maildir_msg *gone = &s->msgs[2];
	char *path = xasprintf("%s/cur/%s", fx->root, gone->filename);
	assert_int_equal(unlink(path), 0);
	free(path);
	struct maildir_msg *pick2[2] = { &s->msgs[1], gone };
	errno = 0;
	assert_int_equal(maildir_copy(in, pick2, 2, sent, uids, &error), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_files(maildir_folder_path(sent), "cur"), 3);
	assert_int_equal(count_files(maildir_folder_path(sent), "tmp"), 0);

	/* Move: new UIDs there, gone here. */
	struct maildir_msg *one = &s->msgs[0];
	assert_int_equal(maildir_move(in, &one, 1, sent, uids, &error), 0);
	assert_int_equal(uids[0], 4);
	maildir_snapshot_free(&s);
	s = test_sync(in);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->msgs[0].uid, 2);
	d = test_sync(sent);
	assert_int_equal(d->count, 4);
	assert_int_equal(d->msgs[3].uid, 4);

	/* Expunge, including a message already gone. */
	struct maildir_msg *ex[2] = { &d->msgs[0], &d->msgs[3] };
	path = xasprintf("%s/cur/%s", maildir_folder_path(sent), d->msgs[3].filename);
	assert_int_equal(unlink(path), 0);
	free(path);
	assert_int_equal(maildir_expunge(sent, ex, 2, &error), 0);
	maildir_snapshot_free(&d);
	d = test_sync(sent);
	assert_int_equal(d->count, 2);
	assert_int_equal(d->msgs[0].uid, 2);
	assert_int_equal(d->msgs[1].uid, 3);
	assert_int_equal(d->uidnext, 5);
	assert_int_equal(count_files(maildir_folder_path(sent), "cur"), 2);
	maildir_snapshot_free(&d);
	maildir_snapshot_free(&s);
	maildir_folder_close(&in);
	maildir_folder_close(&sent);
}

/* ---- concurrency --------------------------------------------------------- */

#define CONC_THREADS 3
#define CONC_SECONDS 1.0
#define CONC_MAX_UIDS 100000

struct conc {
	const char *root;
	pthread_mutex_t mutex;
	uint32_t *uids;         /* every UID an append returned */
	size_t n_uids;
	size_t delivered;       /* files written straight into new/ */
	bool failed;
	char why[256];
};

static void conc_fail(struct conc *c, const char *why)
{
	pthread_mutex_lock(&c->mutex);
	if (!c->failed)
		strlcpy_sp(c->why, why, sizeof(c->why));
	c->failed = true;
	pthread_mutex_unlock(&c->mutex);
}

/* A session: append, sync, check the snapshot ascends and holds all of
 * its own UIDs. */
static void *session_thread(void *arg)
{
	struct conc *c = arg;
	struct maildir_folder *f = NULL;
	const char *error;
	uint32_t mine[4096];
	size_t n = 0;
	double end = now_s() + CONC_SECONDS;

	if (maildir_folder_open(c->root, "INBOX", &f, &error) < 0) {
		conc_fail(c, error);
		return NULL;
	}
	while (now_s() < end && n < N_ELEMENTS(mine) && !c->failed) {
		if (maildir_append(f, "Subject: c\n\nx\n", 14, 0, 0, &mine[n],
				   &error) < 0) {
			conc_fail(c, error);
			break;
		}
		n++;
		struct maildir_snapshot *s;
		if (maildir_sync(f, &s, &error) < 0) {
			conc_fail(c, error);
			break;
		}
		for (size_t i = 1; i < s->count; i++) {
			if (s->msgs[i].uid <= s->msgs[i - 1].uid)
				conc_fail(c, "snapshot not ascending");
		}
		for (size_t i = 0; i < n; i++) {
			if (maildir_snapshot_find(s, mine[i]) == NULL)
				conc_fail(c, "own UID missing from a snapshot");
		}
		maildir_snapshot_free(&s);
	}
	pthread_mutex_lock(&c->mutex);
	for (size_t i = 0; i < n && c->n_uids < CONC_MAX_UIDS; i++)
		c->uids[c->n_uids++] = mine[i];
	pthread_mutex_unlock(&c->mutex);
	maildir_folder_close(&f);
	return NULL;
}

/* The lead's delivery: tmp/, then new/, no lock. */
static void *delivery_thread(void *arg)
{
	struct conc *c = arg;
	double end = now_s() + CONC_SECONDS;
	size_t n = 0;

	while (now_s() < end && !c->failed) {
		char name[MAILDIR_BASENAME_SIZE];
		assert_int_equal(maildir_new_basename(name, sizeof(name), 14), 0);
		char *tmp = xasprintf("%s/tmp/%s", c->root, name);
		char *dst = xasprintf("%s/new/%s", c->root, name);
		test_write(tmp, "Subject: d\n\nx\n");
		if (rename(tmp, dst) < 0)
			conc_fail(c, "delivery rename");
		free(tmp);
		free(dst);
		n++;
		struct timespec pause = { 0, 2 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	pthread_mutex_lock(&c->mutex);
	c->delivered += n;
	pthread_mutex_unlock(&c->mutex);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* A second process appending at the same time: writes its UIDs to fd. */
static void child_appender(const char *root, int fd)
{
	struct maildir_folder *f = NULL;
	const char *error;
	double end = now_s() + CONC_SECONDS;
	uint32_t uid;

	if (maildir_folder_open(root, "INBOX", &f, &error) < 0)
		_exit(2);
	while (now_s() < end) {
		if (maildir_append(f, "Subject: p\n\nx\n", 14, 0, 0, &uid, &error) < 0)
			_exit(3);
		if (write(fd, &uid, sizeof(uid)) != sizeof(uid))
			_exit(4);
	}
	maildir_folder_close(&f);
	_exit(0);
}

static void test_concurrent_sessions(void **state)
{
	struct fixture *fx = *state;
	struct conc c = { .root = fx->root };
	pthread_t threads[CONC_THREADS + 1];
	int pipefd[2];

	c.uids = xcalloc(CONC_MAX_UIDS, sizeof(*c.uids));
	pthread_mutex_init(&c.mutex, NULL);
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();  /* before any thread exists */
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		child_appender(fx->root, pipefd[1]);
	}
	close(pipefd[1]);
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, session_thread, &c), 0);
	assert_int_equal(pthread_create(&threads[CONC_THREADS], NULL,
					delivery_thread, &c), 0);
	uint32_t uid;
	size_t from_child = 0;
	while (read(pipefd[0], &uid, sizeof(uid)) == sizeof(uid)) {
		pthread_mutex_lock(&c.mutex);
		if (c.n_uids < CONC_MAX_UIDS)
			c.uids[c.n_uids++] = uid;
		pthread_mutex_unlock(&c.mutex);
		from_child++;
	}
	close(pipefd[0]);
	for (int i = 0; i <= CONC_THREADS; i++)
		pthread_join(threads[i], NULL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (c.failed)
		fail_msg("%s", c.why);

	/* No UID handed out twice, and every message has exactly one. */
	qsort(c.uids, c.n_uids, sizeof(*c.uids), cmp_u32);
	for (size_t i = 1; i < c.n_uids; i++)
		assert_true(c.uids[i] > c.uids[i - 1]);
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	struct maildir_snapshot *s = test_sync(f);
	print_message("%zu appends (%zu by another process), %zu deliveries\n",
		      c.n_uids, from_child, c.delivered);
	assert_true(from_child > 0);
	assert_true(c.n_uids > CONC_THREADS);
	assert_int_equal(s->count, c.n_uids + c.delivered);
	assert_int_equal(count_files(fx->root, "cur"), s->count);
	for (size_t i = 0; i < c.n_uids; i++)
		assert_non_null(maildir_snapshot_find(s, c.uids[i]));
	assert_int_equal(s->uidnext, s->msgs[s->count - 1].uid + 1);
	assert_int_equal(s->uidnext, s->count + 1);  /* none lost or skipped */
	maildir_snapshot_free(&s);
	/* Re-reading the uidlist from scratch agrees. */
	maildir_folder_close(&f);
	f = test_open(fx->root, "INBOX");
	s = test_sync(f);
	assert_int_equal(s->count, c.n_uids + c.delivered);
	maildir_snapshot_free(&s);
	maildir_folder_close(&f);
	pthread_mutex_destroy(&c.mutex);
	free(c.uids);
}

/* ---- POP3 lock --------------------------------------------------------- */

struct lock_try {
	const char *root;
	int ret, err;
};

static void *try_lock_thread(void *arg)
{
	struct lock_try *t = arg;
	const char *error;
	int fd = -1;
	t->ret = maildir_session_lock(t->root, &fd, &error);
	t->err = errno;
	maildir_session_unlock(&fd);
	return NULL;
}

static int lock_from_thread(const char *root, int *err_r)
{
	struct lock_try t = { .root = root };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, try_lock_thread, &t), 0);
	pthread_join(th, NULL);
	*err_r = t.err;
	return t.ret;
}

static void test_pop3_lock(void **state)
{
	struct fixture *fx = *state;
	const char *error;
	int fd = -1, fd2 = -1, err;

	assert_int_equal(maildir_session_lock(fx->root, &fd, &error), 0);
	assert_true(fd >= 0);
	/* Same thread, second session: refused. */
	errno = 0;
	assert_int_equal(maildir_session_lock(fx->root, &fd2, &error), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_string_equal(error, "mailbox is in use by another session");
	/* Another thread: refused. */
	assert_int_equal(lock_from_thread(fx->root, &err), -1);
	assert_int_equal(err, EWOULDBLOCK);
	/* Another process: refused. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int cfd = -1;
		const char *e;
		_exit(maildir_session_lock(fx->root, &cfd, &e) == -1 &&
		      errno == EWOULDBLOCK ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Other mailbox operations are not blocked by it. */
	struct maildir_folder *f = test_open(fx->root, "INBOX");
	test_append(f, "Subject: x\n\ny\n", 0);
	maildir_folder_close(&f);

	maildir_session_unlock(&fd);
	assert_int_equal(fd, -1);
	assert_int_equal(lock_from_thread(fx->root, &err), 0);
	assert_int_equal(maildir_session_lock(fx->root, &fd, &error), 0);
	maildir_session_unlock(&fd);
	maildir_session_unlock(&fd);  /* twice is harmless */
}

static void test_new_basename(void **state)
{
	char a[MAILDIR_BASENAME_SIZE], b[MAILDIR_BASENAME_SIZE], tiny[16];
	char want[64];

	assert_int_equal(maildir_new_basename(a, sizeof(a), 1234), 0);
	assert_int_equal(maildir_new_basename(b, sizeof(b), 1234), 0);
	assert_string_not_equal(a, b);
	snprintf(want, sizeof(want), "P%ldQ", (long)getpid());
	assert_non_null(strstr(a, want));
	assert_non_null(strstr(a, ".M"));
	assert_int_equal(strcmp(a + strlen(a) - 7, ",S=1234"), 0);
	assert_null(strchr(a, '/'));
	assert_null(strchr(a, ':'));
	char *dot;
	long long secs = strtoll(a, &dot, 10);
	assert_true(*dot == '.' && secs > 1000000000 && secs <= (long long)time(NULL));
	assert_int_equal(maildir_new_basename(tiny, sizeof(tiny), 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_uids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_follows_renames, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_move_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_sessions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pop3_lock, setup, teardown),
		cmocka_unit_test(test_new_basename),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
