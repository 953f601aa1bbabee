/* test_auth_cache.c — the credential cache: hits only after a success,
 * changes and removals of users count at once, a wrong password costs the
 * full hash, the TTL, sharing across fork. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_cache.h"
#include "auth/passwd.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#define BOB "bob@example.test"

struct fixture {
	char *dir, *path;
	struct passwd_db *db;
	struct auth_cache *cache;
};

/* A yescrypt hash of password; cost 0 is libcrypt's default (what `user
 * add` makes), 1 the cheapest. New string. */
static char *yescrypt(const char *password, unsigned long cost)
{
	char *setting = crypt_gensalt_ra("$y$", cost, NULL, 0);
	struct crypt_data *data = calloc(1, sizeof(*data));
	assert_non_null(setting);
	char *out = crypt_rn(password, setting, data, sizeof(*data));
	assert_non_null(out);
	char *hash = xstrdup(out);
	free(setting);
	free(data);
	return hash;
}

/* The passwd file holds BOB with password (NULL: no BOB). */
static void set_bob(struct fixture *f, const char *password, unsigned long cost)
{
	const char *error;
	char *text;

	if (password != NULL) {
		char *hash = yescrypt(password, cost);
		text = xasprintf("amy@example.test:{CRYPT}$6$abc$IdWKNKTJEb8LxY7CGg8"
				 "YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHY"
				 "RLr/TsVArtr91iR1\n" BOB ":{CRYPT}%s\n", hash);
		free(hash);
	} else {
		text = xstrdup("# nobody\n");
	}
	assert_int_equal(fs_write_atomic(f->path, text, strlen(text), 0600, &error), 0);
	free(text);
}

static struct fixture *fixture_new(unsigned ttl)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/sealpost-authcache-XXXXXX";
	const char *error;

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->path = fs_join(f->dir, "passwd");
	f->db = passwd_db_new(f->path, NULL, NULL);
	assert_int_equal(auth_cache_new(ttl, &f->cache, &error), 0);
	return f;
}

static void fixture_free(struct fixture *f)
{
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	passwd_db_free(&f->db);
	auth_cache_free(&f->cache);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->path);
	free(f->dir);
	free(f);
}

/* Verify through the cache: the verdict, and whether the cache gave it. */
static bool login(struct fixture *f, const char *user, const char *pw,
		  bool *cached_r)
{
	bool cached = true;
	bool ok = passwd_db_verify_cached(f->db, f->cache, user, pw, strlen(pw),
					  &cached);
	if (cached_r != NULL)
		*cached_r = cached;
	return ok;
}

static double seconds_of_login(struct fixture *f, const char *user,
			       const char *pw, bool expect)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(login(f, user, pw, NULL), expect);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
}

static void test_hit_only_after_success(void **state)
{
	struct fixture *f = fixture_new(3600);
	bool cached;

	set_bob(f, "right", 1);
	/* A failure is never stored. */
	assert_false(login(f, BOB, "wrong", &cached));
	assert_false(cached);
	assert_int_equal(auth_cache_count(f->cache), 0);
	/* The first success hashes and is stored; the next is a hit. */
	assert_true(login(f, BOB, "right", &cached));
	assert_false(cached);
	assert_int_equal(auth_cache_count(f->cache), 1);
	assert_true(login(f, BOB, "right", &cached));
	assert_true(cached);
	/* Case does not make another account. */
	assert_true(login(f, "BOB@Example.TEST", "right", &cached));
	assert_true(cached);
	/* Wrong passwords of a cached user fail, through the full hash, and
	 * leave the entry for the right one. */
	assert_false(login(f, BOB, "Right", &cached));
	assert_false(cached);
	assert_false(login(f, BOB, "right ", &cached));
	assert_false(login(f, BOB, "", &cached));
	assert_true(login(f, BOB, "right", &cached));
	assert_true(cached);
	assert_int_equal(auth_cache_count(f->cache), 1);
	fixture_free(f);
}

static void test_password_change_and_removal_count_at_once(void **state)
{
	struct fixture *f = fixture_new(3600);
	bool cached;

	set_bob(f, "old", 1);
	assert_true(login(f, BOB, "old", NULL));
	assert_true(login(f, BOB, "old", &cached));
	assert_true(cached);
	/* `user passwd`: the old password is refused at once. */
	set_bob(f, "new", 1);
	assert_false(login(f, BOB, "old", &cached));
	assert_false(cached);
	assert_int_equal(auth_cache_count(f->cache), 0);
	assert_true(login(f, BOB, "new", &cached));
	assert_false(cached);
	assert_true(login(f, BOB, "new", &cached));
	assert_true(cached);
	/* The same password hashed again (a new salt) is a new line too. */
	set_bob(f, "new", 1);
	assert_true(login(f, BOB, "new", &cached));
	assert_false(cached);
	/* `user del`: refused, and the entry is gone. */
	set_bob(f, NULL, 1);
	assert_false(login(f, BOB, "new", &cached));
	assert_false(cached);
	assert_int_equal(auth_cache_count(f->cache), 0);
	/* Added again with the same password: hashed afresh. */
	set_bob(f, "new", 1);
	assert_true(login(f, BOB, "new", &cached));
	assert_false(cached);
	fixture_free(f);
}

/* A cached user with a wrong password answers no faster than an uncached
 * one: both cost a full hash at the default cost. Only the right password
 * of a cached user is quick. */
static void test_wrong_password_costs_the_full_hash(void **state)
{
	struct fixture *f = fixture_new(3600);
	double uncached_wrong = 1e9, cached_wrong = 1e9, cached_right = 1e9;

	set_bob(f, "right", 0);
	for (int i = 0; i < 3; i++) {
		double t = seconds_of_login(f, BOB, "wrong", false);
		uncached_wrong = t < uncached_wrong ? t : uncached_wrong;
	}
	assert_true(login(f, BOB, "right", NULL));
	for (int i = 0; i < 3; i++) {
		double t = seconds_of_login(f, BOB, "wrong", false);
		cached_wrong = t < cached_wrong ? t : cached_wrong;
		t = seconds_of_login(f, BOB, "right", true);
		cached_right = t < cached_right ? t : cached_right;
	}
	if (cached_wrong < uncached_wrong * 0.7 || cached_right > uncached_wrong * 0.1)
		fail_msg("uncached wrong %.2f ms, cached wrong %.2f ms, cached "
			 "right %.2f ms", uncached_wrong * 1e3, cached_wrong * 1e3,
			 cached_right * 1e3);
	fixture_free(f);
}

static void test_ttl(void **state)
{
	struct fixture *f = fixture_new(1);
	bool cached;

	set_bob(f, "right", 1);
	assert_true(login(f, BOB, "right", NULL));
	assert_true(login(f, BOB, "right", &cached));
	assert_true(cached);
	usleep(1100 * 1000);
	assert_int_equal(auth_cache_count(f->cache), 0);
	assert_true(login(f, BOB, "right", &cached));
	assert_false(cached);
	fixture_free(f);
}

static void test_ttl_zero_is_off(void **state)
{
	struct auth_cache *cache = (struct auth_cache *)1;
	const char *error;
	assert_int_equal(auth_cache_new(0, &cache, &error), 0);
	assert_null(cache);
	assert_false(auth_cache_lookup(NULL, BOB, "$y$x", "pw", 2));
	auth_cache_store(NULL, BOB, "$y$x", "pw", 2);
	assert_int_equal(auth_cache_count(NULL), 0);
}

/* Made before fork, the cache is the workers' common table: a login
 * verified in one process is a hit in another. */
static void test_shared_across_fork(void **state)
{
	struct fixture *f = fixture_new(3600);
	bool cached;
	int status;

	set_bob(f, "right", 1);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(login(f, BOB, "right", &cached) && !cached ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(login(f, BOB, "right", &cached));
	assert_true(cached);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_only_after_success),
		cmocka_unit_test(test_password_change_and_removal_count_at_once),
		cmocka_unit_test(test_wrong_password_costs_the_full_hash),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_ttl_zero_is_off),
		cmocka_unit_test(test_shared_across_fork),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
