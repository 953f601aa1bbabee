/* test_passwd.c — schemes, parsing the passwd file, lookups, reloads, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "store/mailbox.h"

/* Made by other implementations, for the password "secret":
 * `openssl passwd -6 -salt abc secret`, `openssl passwd -5 -salt abc secret`
 * and Python's crypt.crypt('secret', '$2b$05$abcdefghijklmnopqrstuu'). */
#define OPENSSL_SHA512 "$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1"
#define OPENSSL_SHA256 "$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0"
/* `openssl passwd -6 -salt abc other1`: as long as OPENSSL_SHA512. */
#define OPENSSL_SHA512_OTHER "$6$abc$qheewNcXSxB9odRYuH.86X1Vfm.D2jvYTnfJCO7a6VfFER0KP1MAXVFdxgROxYmc1Hcx7cy.4nqPHl0lGE7ch1"
#define PYTHON_BCRYPT "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"

/* A cheap hash of password for the method prefix (tests need speed, not
 * strength). New string. */
static char *cheap_hash(const char *prefix, unsigned long cost,
			const char *password)
{
	char *setting = crypt_gensalt_ra(prefix, cost, NULL, 0);
	struct crypt_data *data = calloc(1, sizeof(*data));
	assert_non_null(setting);
	char *out = crypt_rn(password, setting, data, sizeof(*data));
	assert_non_null(out);
	char *hash = xstrdup(out);
	free(setting);
	free(data);
	return hash;
}

static char *tmp_dir(void)
{
	char tmpl[] = "/tmp/sealpost-passwd-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void write_file(const char *path, const char *text)
{
	const char *error;
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600, &error), 0);
}

static void rm_dir(char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(dir);
}

/* Collects the problems a db reports. */
struct problems {
	char *text[32];
	size_t count;
};

static void collect(const char *problem, void *context)
{
	struct problems *p = context;
	assert_true(p->count < N_ELEMENTS(p->text));
	p->text[p->count++] = xstrdup(problem);
}

static void problems_clear(struct problems *p)
{
	for (size_t i = 0; i < p->count; i++)
		free(p->text[i]);
	p->count = 0;
}

static bool verify(struct passwd_db *db, const char *address, const char *pw)
{
	return passwd_db_verify(db, address, pw, strlen(pw));
}

/* ---- schemes ------------------------------------------------------------- */

struct accepted_case {
	const char *prefix;       /* crypt method */
	unsigned long cost;
	const char *dovecot[3];   /* {SCHEME} prefixes it may carry */
};

static void test_accepted_schemes_verify(void **state)
{
	static const struct accepted_case cases[] = {
		{ "$y$", 1, { "{CRYPT}", "" } },
		{ "$gy$", 1, { "{CRYPT}", "" } },
		{ "$7$", 6, { "{CRYPT}" } },
		{ "$6$", 1000, { "{CRYPT}", "{SHA512-CRYPT}", "" } },
		{ "$5$", 1000, { "{crypt}", "{SHA256-CRYPT}", "" } },
		{ "$2b$", 4, { "{BLF-CRYPT}", "{CRYPT}", "" } },
		{ "$2y$", 4, { "{BLF-CRYPT}", "" } },
		{ "$2a$", 4, { "{blf-crypt}" } },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *hash = cheap_hash(cases[i].prefix, cases[i].cost, "pässword");
		for (size_t j = 0; j < 3 && cases[i].dovecot[j] != NULL; j++) {
			char *field = xasprintf("%s%s", cases[i].dovecot[j], hash);
			const char *parsed, *error = NULL;
			if (passwd_hash_parse(field, &parsed, &error) < 0)
				fail_msg("%s: %s", field, error);
			assert_string_equal(parsed, hash);
			free(field);
		}
		assert_true(passwd_hash_verify(hash, "pässword"));
		assert_false(passwd_hash_verify(hash, "password"));
		assert_false(passwd_hash_verify(hash, ""));
		free(hash);
	}
}

static void test_foreign_vectors(void **state)
{
	static const char *const vectors[] = {
		OPENSSL_SHA512, OPENSSL_SHA256, PYTHON_BCRYPT,
	};
	for (size_t i = 0; i < N_ELEMENTS(vectors); i++) {
		const char *hash, *error;
		assert_int_equal(passwd_hash_parse(vectors[i], &hash, &error), 0);
		assert_true(passwd_hash_verify(hash, "secret"));
		assert_false(passwd_hash_verify(hash, "Secret"));
		assert_false(passwd_hash_verify(hash, "secret "));
	}
}

static void test_new_hash_is_yescrypt(void **state)
{
	char *a, *b;
	const char *error, *parsed;

	assert_int_equal(passwd_hash_new("correct horse", &a, &error), 0);
	assert_int_equal(passwd_hash_new("correct horse", &b, &error), 0);
	assert_true(strncmp(a, "$y$", 3) == 0);
	assert_string_not_equal(a, b);            /* a fresh salt each time */
	assert_int_equal(passwd_hash_parse(a, &parsed, &error), 0);
	assert_true(passwd_hash_verify(a, "correct horse"));
	assert_true(passwd_hash_verify(b, "correct horse"));
	assert_false(passwd_hash_verify(a, "correct horsf"));
	free(a);
	free(b);
}

struct refused_case {
	const char *field;
	const char *error;
};

static void test_refused_schemes(void **state)
{
	static const struct refused_case cases[] = {
		{ "{PLAIN}secret", "password scheme {PLAIN} is refused (plain text or weak hash)" },
		{ "{CLEARTEXT}secret", "password scheme {CLEARTEXT} is refused (plain text or weak hash)" },
		{ "{plain-md5}5ebe2294ecd0e0f08eab7690d2a6ee69", "password scheme {plain-md5} is refused (plain text or weak hash)" },
		{ "{MD5}$1$abcdefgh$G//4keteveJp0qb8z2DxG/", "password scheme {MD5} is refused (plain text or weak hash)" },
		{ "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "password scheme {SHA} is refused (plain text or weak hash)" },
		{ "{SSHA}xxxx", "password scheme {SSHA} is refused (plain text or weak hash)" },
		{ "{SHA256.HEX}abcd", "password scheme {SHA256.HEX} is refused (plain text or weak hash)" },
		{ "{ARGON2ID}$argon2id$v=19$m=65536", "unsupported password scheme {ARGON2ID}" },
		{ "{X}abc", "unsupported password scheme {X}" },
		/* Found by fuzz_passwd: control bytes of the name reached the
		 * problem line (log, sealpost check-config) as they were. */
		{ "{A\r\x1b[2J\x7f}x", "unsupported password scheme {A?\?[2J?}" },
		{ "{SHA\x01}x", "unsupported password scheme {SHA?}" },
		{ "{0123456789abcdef0123456789abcdefXYZ}x",
		  "unsupported password scheme {0123456789abcdef0123456789abcdef...}" },
		{ "{PLAIN.b64\t}x",
		  "password scheme {PLAIN.b64?} is refused (plain text or weak hash)" },
		{ "{PLAIN", "password scheme has no closing '}'" },
		{ "$1$abcdefgh$G//4keteveJp0qb8z2DxG/", "password scheme MD5-CRYPT is refused (weak hash)" },
		{ "{CRYPT}$1$abcdefgh$G//4keteveJp0qb8z2DxG/", "password scheme MD5-CRYPT is refused (weak hash)" },
		{ "$2x$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", "password scheme bcrypt with the 8-bit bug ($2x$) is refused (weak hash)" },
		{ "abJnggxhB/yWI", "password is not a crypt hash (DES-CRYPT or plain text?); refused" },
		{ "{CRYPT}abJnggxhB/yWI", "password is not a crypt hash (DES-CRYPT or plain text?); refused" },
		{ "_J9..KqCSANt5HXx0dyk", "password scheme BSDi DES-CRYPT is refused (weak hash)" },
		{ "$9$abc$def", "unsupported crypt hash method '$9$'" },
		{ "$Secret-pass", "unsupported crypt hash method" },
		{ "{SHA512-CRYPT}" OPENSSL_SHA256, "{SHA512-CRYPT} password is not a $6$ hash" },
		{ "{BLF-CRYPT}" OPENSSL_SHA512, "{BLF-CRYPT} password is not a $2y$, $2b$ or $2a$ hash" },
		{ "$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp", "SHA512-CRYPT hash is malformed or truncated" },
		{ "$6$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1", "SHA512-CRYPT hash is malformed or truncated" },
		{ "$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH! ", "SHA256-CRYPT hash is malformed or truncated" },
		{ "{CRYPT}", "empty password" },
		{ "", "empty password" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *hash = NULL, *error = NULL;
		if (passwd_hash_parse(cases[i].field, &hash, &error) != -1)
			fail_msg("case %zu (%s) was accepted", i, cases[i].field);
		if (strcmp(error, cases[i].error) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, error, cases[i].error);
	}
}

/* ---- the file ------------------------------------------------------------ */

static void test_file_with_problems(void **state)
{
	char *dir = tmp_dir(), *path = fs_join(dir, "passwd");
	char *y = cheap_hash("$y$", 1, "ypass");
	struct problems p = { 0 };
	const char *error;
	char *text = xasprintf(
		"# users of example.test\n"                               /* 1 */
		"\n"                                                      /* 2 */
		"alice@example.test:{PLAIN}alicepw\n"                     /* 3 */
		"bob@example.test:{SHA512-CRYPT}" OPENSSL_SHA512 "::::::\n"  /* 4 */
		"   \t\n"                                                 /* 5 */
		"no colon here\n"                                         /* 6 */
		"not an address:{CRYPT}%s\n"                              /* 7 */
		"Carol@Example.TEST:{CRYPT}%s:1000:1000:Carol:/home/carol:/bin/sh:extra\r\n" /* 8 */
		"dave@example.test:\n"                                    /* 9 */
		"bob@example.test:{CRYPT}%s\n"                            /* 10 */
		"  # indented comment\n"                                  /* 11 */
		"erin@example.test:" PYTHON_BCRYPT,                       /* 12, no LF */
		y, y, y);

	write_file(path, text);
	struct passwd_db *db = passwd_db_new(path, collect, &p);
	assert_int_equal(passwd_db_refresh(db, &error), 0);
	assert_int_equal(p.count, 5);
	char *want[5];
	want[0] = xasprintf("%s:3: alice@example.test: password scheme {PLAIN} is "
			    "refused (plain text or weak hash); set a new password "
			    "with 'sealpost user passwd alice@example.test'", path);
	want[1] = xasprintf("%s:6: no password field (expected ADDRESS:{CRYPT}HASH)", path);
	want[2] = xasprintf("%s:7: 'not an address' is not a valid address", path);
	want[3] = xasprintf("%s:9: dave@example.test: empty password; set a new "
			    "password with 'sealpost user passwd dave@example.test'", path);
	want[4] = xasprintf("%s:10: bob@example.test is already defined on line 4; "
			    "this line is ignored", path);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(p.text[i], want[i]);
		free(want[i]);
	}
	/* Nothing leaks the refused plain-text password. */
	for (size_t i = 0; i < p.count; i++)
		assert_null(strstr(p.text[i], "alicepw"));

	/* The rest of the file works. */
	assert_int_equal(passwd_db_count(db), 3);
	assert_true(verify(db, "bob@example.test", "secret"));
	assert_false(verify(db, "bob@example.test", "ypass")); /* line 10 ignored */
	assert_true(verify(db, "carol@example.test", "ypass"));
	assert_true(verify(db, "CAROL@example.test", "ypass"));
	assert_true(verify(db, "erin@example.test", "secret"));
	assert_false(verify(db, "alice@example.test", "alicepw"));
	assert_false(passwd_db_exists(db, "alice@example.test"));
	assert_true(passwd_db_exists(db, "Erin@Example.Test"));
	char **list = passwd_db_addresses(db);
	assert_int_equal(strv_len(list), 3);
	assert_string_equal(list[0], "bob@example.test");
	assert_string_equal(list[1], "carol@example.test");
	assert_string_equal(list[2], "erin@example.test");
	strv_free(&list);

	/* Unchanged file: no reload, no second report. */
	assert_int_equal(passwd_db_refresh(db, &error), 0);
	assert_true(verify(db, "bob@example.test", "secret"));
	assert_int_equal(p.count, 5);

	problems_clear(&p);
	passwd_db_free(&db);
	assert_null(db);
	free(text);
	free(y);
	free(path);
	rm_dir(dir);
}

/* Dovecot's userdb_quota_rule extra fields: the user's own limits. */
static void test_quota_rules(void **state)
{
	char *dir = tmp_dir(), *path = fs_join(dir, "passwd");
	struct problems p = { 0 };
	struct passwd_quota q;
	const char *error;

	write_file(path,
		"a@example.test:" OPENSSL_SHA512 ":1000:1000::/home/a::userdb_quota_rule=*:storage=1G\n"
		"b@example.test:" OPENSSL_SHA512 ":::::: userdb_quota_rule=*:storage=10M "
		"userdb_quota_rule2=*:messages=50 userdb_quota_rule3=Trash:ignore\n"
		"c@example.test:" OPENSSL_SHA512 "\n"
		"d@example.test:" OPENSSL_SHA512 "::::::userdb_quota_rule=*:storage=+10%\n"
		"e@example.test:" OPENSSL_SHA512 "::::::userdb_mail=maildir:~/x\n");
	struct passwd_db *db = passwd_db_new(path, collect, &p);
	assert_int_equal(passwd_db_refresh(db, &error), 0);
	assert_true(passwd_db_quota(db, "A@example.test", &q));
	assert_true(q.has_bytes && q.bytes == 1073741824 && !q.has_messages);
	assert_true(passwd_db_quota(db, "b@example.test", &q));
	assert_true(q.bytes == 10485760 && q.has_messages && q.messages == 50);
	assert_false(passwd_db_quota(db, "c@example.test", &q));
	assert_false(passwd_db_quota(db, "e@example.test", &q));
	assert_false(passwd_db_quota(db, "nobody@example.test", &q));
	/* a rule we cannot honour: reported, the user keeps working */
	assert_false(passwd_db_quota(db, "d@example.test", &q));
	assert_true(passwd_db_exists(db, "d@example.test"));
	assert_int_equal(p.count, 1);
	char *want = xasprintf("%s:4: d@example.test: quota rule '*:storage=+10%%': "
			       "expected *:storage=SIZE and/or *:messages=N", path);
	assert_string_equal(p.text[0], want);
	free(want);
	problems_clear(&p);
	passwd_db_free(&db);
	free(path);
	rm_dir(dir);
}

static void test_unknown_user_and_bad_input(void **state)
{
	char *dir = tmp_dir(), *path = fs_join(dir, "passwd");
	char long_addr[ADDRESS_MAX + 40];
	const char *error;

	write_file(path, "bob@example.test:{CRYPT}" OPENSSL_SHA512 "\n");
	struct passwd_db *db = passwd_db_new(path, NULL, NULL);
	assert_int_equal(passwd_db_refresh(db, &error), 0);
	assert_false(verify(db, "nobody@example.test", "secret"));
	assert_false(verify(db, "", "secret"));
	assert_false(passwd_db_exists(db, "nobody@example.test"));
	assert_false(passwd_db_exists(db, "bob@example"));
	assert_true(verify(db, "bob@example.test", "secret"));
	/* Not NUL-terminated input: only password_len bytes count. */
	assert_true(passwd_db_verify(db, "bob@example.test", "secretXYZ", 6));
	/* A NUL byte inside never matches (crypt would stop at it). */
	assert_false(passwd_db_verify(db, "bob@example.test", "secret\0junk", 11));
	char big[PASSWD_PASSWORD_MAX + 2];
	memset(big, 'a', sizeof(big));
	assert_false(passwd_db_verify(db, "bob@example.test", big, sizeof(big)));
	/* Too long to be an address: never truncated into bob's. */
	memset(long_addr, 0, sizeof(long_addr));
	strcpy(long_addr, "bob@example.test");
	memset(long_addr + strlen(long_addr), ' ', ADDRESS_MAX + 10 - strlen(long_addr));
	assert_false(passwd_db_exists(db, long_addr));
	assert_false(verify(db, long_addr, "secret"));
	passwd_db_free(&db);
	free(path);
	rm_dir(dir);
}

/* The fastest of three runs: less noise from a busy machine. */
/* CPU time of this thread: what a hash costs, whatever else the machine
 * is doing (wall time flakes on a loaded machine). */
static double thread_cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double verify_time(struct passwd_db *db, const char *address)
{
	double best = 1e9;
	for (int i = 0; i < 3; i++) {
		double t = thread_cpu_seconds();
		(void)verify(db, address, "wrong password");
		t = thread_cpu_seconds() - t;
		if (t < best)
			best = t;
	}
	return best;
}

static void test_unknown_user_costs_the_same(void **state)
{
	char *dir = tmp_dir(), *path = fs_join(dir, "passwd");
	char *hash, *text;
	const char *error;

	/* A real user with the hash `user add` makes. */
	assert_int_equal(passwd_hash_new("pw", &hash, &error), 0);
	text = xasprintf("bob@example.test:{CRYPT}%s\n", hash);
	write_file(path, text);
	struct passwd_db *db = passwd_db_new(path, NULL, NULL);
	double known = verify_time(db, "bob@example.test");
	double unknown = verify_time(db, "nobody@example.test");
	/* Without the dummy hash an unknown user takes microseconds, not the
	 * milliseconds of a yescrypt run. */
	if (unknown < known * 0.5 || unknown > known * 2)
		fail_msg("known user %.2f ms, unknown %.2f ms", known * 1e3,
			 unknown * 1e3);
	passwd_db_free(&db);
	free(text);
	free(hash);
	free(path);
	rm_dir(dir);
}

static void test_change_detection(void **state)
{
	char *dir = tmp_dir(), *path = fs_join(dir, "passwd");
	struct problems p = { 0 };
	const char *error;

	/* No file yet: no users, not an error. */
	struct passwd_db *db = passwd_db_new(path, collect, &p);
	assert_int_equal(passwd_db_refresh(db, &error), 0);
	assert_int_equal(passwd_db_count(db), 0);
	assert_false(verify(db, "bob@example.test", "secret"));

	/* Created (by rename, as the CLI does): seen without a refresh call. */
	write_file(path, "bob@example.test:" OPENSSL_SHA512 "\n");
	assert_true(verify(db, "bob@example.test", "secret"));

	/* Rewritten in place with a hash of the same length (same size, same
	 * inode): the mtime tells. */
	FILE *fp = fopen(path, "r+");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, (long)strlen("bob@example.test:"), SEEK_SET), 0);
	assert_true(fputs(OPENSSL_SHA512_OTHER, fp) >= 0);
	fclose(fp);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	struct timespec times[2] = { st.st_atim, st.st_mtim };
	times[1].tv_nsec = (times[1].tv_nsec + 1) % 1000000000; /* surely differs */
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_true(verify(db, "bob@example.test", "other1"));
	assert_false(verify(db, "bob@example.test", "secret"));

	/* A user replaced by another one. */
	write_file(path, "carol@example.test:{SHA256-CRYPT}" OPENSSL_SHA256 "\n");
	assert_false(passwd_db_exists(db, "bob@example.test"));
	assert_true(verify(db, "carol@example.test", "secret"));

	/* Broken line added: reported once for the new version only. */
	write_file(path, "carol@example.test:{SHA256-CRYPT}" OPENSSL_SHA256 "\n"
		   "x@example.test:{PLAIN}x\n");
	assert_true(passwd_db_exists(db, "carol@example.test"));
	assert_int_equal(p.count, 1);
	assert_non_null(strstr(p.text[0], ":2: x@example.test: password scheme {PLAIN}"));
	assert_true(passwd_db_exists(db, "carol@example.test"));
	assert_int_equal(p.count, 1);

	/* Deleted: nobody left. */
	assert_int_equal(unlink(path), 0);
	assert_false(passwd_db_exists(db, "carol@example.test"));

	/* Unreadable (a folder in its place): the users loaded before stay,
	 * the error is returned, and reported once. */
	write_file(path, "carol@example.test:" OPENSSL_SHA256 "\n");
	assert_true(passwd_db_exists(db, "carol@example.test"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(passwd_db_refresh(db, &error), -1);
	assert_non_null(strstr(error, "not a regular file"));
	assert_true(passwd_db_exists(db, "carol@example.test"));
	assert_true(passwd_db_exists(db, "carol@example.test"));
	assert_int_equal(p.count, 2);
	assert_non_null(strstr(p.text[1], "not a regular file"));

	problems_clear(&p);
	passwd_db_free(&db);
	free(path);
	rm_dir(dir);
}

/* ---- threads ------------------------------------------------------------- */

#define VERIFY_THREADS 4
#define VERIFY_ROUNDS 60

struct thread_arg {
	struct passwd_db *db;
	int failures;
};

static void *verify_thread(void *context)
{
	struct thread_arg *arg = context;
	for (int i = 0; i < VERIFY_ROUNDS; i++) {
		/* Present in every version of the file. */
		if (!verify(arg->db, "bob@example.test", "secret"))
			arg->failures++;
		if (verify(arg->db, "bob@example.test", "wrong"))
			arg->failures++;
		/* Comes and goes with the versions. */
		(void)passwd_db_exists(arg->db, "dave@example.test");
	}
	return NULL;
}

static void test_threads_verify_while_reloading(void **state)
{
	char *dir = tmp_dir(), *path = fs_join(dir, "passwd");
	char *fast = cheap_hash("$5$", 1000, "secret");
	char *v1 = xasprintf("bob@example.test:%s\n", fast);
	char *v2 = xasprintf("# v2\ndave@example.test:%s\nbob@example.test:{CRYPT}%s\n",
			     fast, fast);
	struct thread_arg args[VERIFY_THREADS];
	pthread_t threads[VERIFY_THREADS];

	write_file(path, v1);
	struct passwd_db *db = passwd_db_new(path, NULL, NULL);
	for (int i = 0; i < VERIFY_THREADS; i++) {
		args[i] = (struct thread_arg){ .db = db };
		assert_int_equal(pthread_create(&threads[i], NULL, verify_thread,
						&args[i]), 0);
	}
	/* Rewrite the file while they verify. */
	for (int i = 0; i < 40; i++) {
		const char *error;
		write_file(path, i % 2 ? v1 : v2);
		assert_int_equal(passwd_db_refresh(db, &error), 0);
		usleep(1000);
	}
	for (int i = 0; i < VERIFY_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	/* The last version written is v1: dave is gone. */
	assert_false(passwd_db_exists(db, "dave@example.test"));
	passwd_db_free(&db);
	free(v1);
	free(v2);
	free(fast);
	free(path);
	rm_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_schemes_verify),
		cmocka_unit_test(test_foreign_vectors),
		cmocka_unit_test(test_new_hash_is_yescrypt),
		cmocka_unit_test(test_refused_schemes),
		cmocka_unit_test(test_file_with_problems),
		cmocka_unit_test(test_quota_rules),
		cmocka_unit_test(test_unknown_user_and_bad_input),
		cmocka_unit_test(test_unknown_user_costs_the_same),
		cmocka_unit_test(test_change_detection),
		cmocka_unit_test(test_threads_verify_while_reloading),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
