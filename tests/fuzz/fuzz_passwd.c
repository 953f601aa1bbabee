/* fuzz_passwd.c — the passwd file (data_dir/passwd) on arbitrary bytes, read
 * the way the server reads it (passwd_db) and edited the way the CLI edits
 * it (passwd_edit), through real files in a private folder under /dev/shm.
 *
 * Checked beyond "no crash":
 * - the server side: every line that is not a comment gives exactly one
 *   user or one problem; problems are single lines without control bytes,
 *   "FILE:LINE: ...", in line order, naming a line that is not a comment;
 *   users are valid lower-case addresses, sorted, unique, found by lookup
 *   in any case;
 * - the CLI side agrees: it sees every user the server sees, and every user
 *   a problem line advises to give a new password; rewriting
 *   without a change gives back the bytes read (a missing final LF added);
 *   a new hash for a user makes the server accept its password and leaves
 *   the set of users as it was; deleting a user removes it and no one else;
 *   adding it back restores the set. */
#include <crypt.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "store/mailbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PASSWORD "fuzz password"
/* SHA256-CRYPT at its minimum cost, so checking a login stays cheap. */
#define FUZZ_SETTING "$5$rounds=1000$fuzzsalt"

struct problems {
	char **v;
	size_t n;
};

static char *dir, *path, *hash;
static struct passwd_db *db;
static struct problems problems;

static void problem_cb(const char *problem, void *context)
{
	struct problems *p = context;
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = xstrdup(problem);
}

static void problems_clear(struct problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

static int remove_entry(const char *fpath, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	return remove(fpath);
}

static void cleanup(void)
{
	passwd_db_free(&db);
	if (dir != NULL)
		nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A check failed: say which, remove the folder, stop (libFuzzer keeps the
 * input). */
static void fail(const char *what)
{
	fprintf(stderr, "fuzz_passwd: %s\n", what);
	cleanup();
	abort();
}

static void setup(void)
{
	char tmpl[] = "/dev/shm/sealpost-fuzz-passwd-XXXXXX";
	struct crypt_data cd = { 0 };

	if (mkdtemp(tmpl) == NULL)
		fail("mkdtemp failed");
	dir = xstrdup(tmpl);
	path = fs_join(dir, PASSWD_FILE_NAME);
	const char *h = crypt_r(FUZZ_PASSWORD, FUZZ_SETTING, &cd);
	if (h == NULL || h[0] == '*')
		fail("crypt_r failed");
	hash = xstrdup(h);
	db = passwd_db_new(path, problem_cb, &problems);
	atexit(cleanup);
}

/* Replace the file by data (a new inode, so the server re-reads it). */
static void put_file(const uint8_t *data, size_t size)
{
	char *tmp = fs_join(dir, "passwd.new");
	FILE *f = fopen(tmp, "we");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0 ||
	    rename(tmp, path) != 0)
		fail("cannot write the passwd file");
	free(tmp);
}

static void reload(void)
{
	const char *error;
	problems_clear(&problems);
	if (passwd_db_refresh(db, &error) < 0)
		fail("passwd_db_refresh failed");
}

/* Lines that are neither blank nor '#' comments, in order (1-based); the
 * '\r's that end a line are not part of it. */
static size_t count_lines(const uint8_t *data, size_t size, bool *is_entry,
			  size_t max)
{
	size_t n = 0, lineno = 0, start = 0;
	for (size_t i = 0; i <= size && start < size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		size_t end = i;
		while (end > start && data[end - 1] == '\r')
			end--;
		size_t k = start;
		while (k < end && (data[k] == ' ' || data[k] == '\t'))
			k++;
		bool entry = k < end && data[k] != '#';
		if (++lineno < max)
			is_entry[lineno] = entry;
		n += entry;
		start = i + 1;
	}
	return n;
}

static void check_problems(const bool *is_entry, size_t max)
{
	size_t plen = strlen(path);
	unsigned long prev = 0;

	for (size_t i = 0; i < problems.n; i++) {
		const char *p = problems.v[i];
		char *end;
		for (const char *c = p; *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				fprintf(stderr, "control byte in problem: %s\n", p);
				fail("control byte in a problem");
			}
		}
		if (strncmp(p, path, plen) != 0 || p[plen] != ':')
			fail("problem does not start with FILE:");
		unsigned long line = strtoul(p + plen + 1, &end, 10);
		if (end[0] != ':' || end[1] != ' ' || line < prev || line == 0 ||
		    (line < max && !is_entry[line]))
			fail("problem line number out of order or on a comment");
		prev = line;
	}
}

static void check_users(char **users)
{
	char upper[ADDRESS_MAX + 1];

	for (size_t i = 0; users[i] != NULL; i++) {
		const char *u = users[i];
		if (!mailbox_address_valid(u) || (i > 0 && strcmp(users[i - 1], u) >= 0))
			fail("user not a valid address or not sorted and unique");
		size_t k = 0;
		for (; u[k] != '\0'; k++) {
			if (u[k] >= 'A' && u[k] <= 'Z')
				fail("user not in lower case");
			upper[k] = u[k] >= 'a' && u[k] <= 'z' ? (char)(u[k] - 32) : u[k];
		}
		upper[k] = '\0';
		if (!passwd_db_exists(db, u) || !passwd_db_exists(db, upper))
			fail("user not found by lookup");
	}
}

/* Are a and b the same list, but for skip (NULL: none) missing from b? */
static bool same_users(char **a, char **b, const char *skip)
{
	size_t j = 0;
	for (size_t i = 0; a[i] != NULL; i++) {
		if (skip != NULL && strcmp(a[i], skip) == 0)
			continue;
		if (b[j] == NULL || strcmp(a[i], b[j]) != 0)
			return false;
		j++;
	}
	return b[j] == NULL;
}

static struct passwd_edit *edit_begin(void)
{
	struct passwd_edit *edit;
	const char *error;
	if (passwd_edit_begin(path, NULL, &edit, &error) < 0)
		fail("passwd_edit_begin failed");
	return edit;
}

static void edit_commit(struct passwd_edit **edit)
{
	const char *error;
	if (passwd_edit_commit(*edit, &error) < 0)
		fail("passwd_edit_commit failed");
	passwd_edit_free(edit);
	reload();
}

/* An edit that changes nothing writes back what it read. */
static void check_rewrite(const uint8_t *data, size_t size, char **users)
{
	struct passwd_edit *edit = edit_begin();
	char *back;
	size_t len;
	const char *error;

	for (size_t i = 0; users[i] != NULL; i++) {
		if (!passwd_edit_has(edit, users[i]))
			fail("the CLI does not see a user the server sees");
	}
	/* A problem that ends "set a new password with 'sealpost user passwd
	 * X'" names a user that command finds. (An address has no blank or
	 * quote, so text that merely contains those words is told apart.) */
	static const char advice[] = "; set a new password with 'sealpost user passwd ";
	for (size_t i = 0; i < problems.n; i++) {
		const char *a = NULL;   /* the last: the line may quote it too */
		for (const char *q = problems.v[i]; (q = strstr(q, advice)) != NULL; q++)
			a = q;
		if (a == NULL)
			continue;
		char *user = xstrdup(a + strlen(advice));
		size_t ulen = strlen(user);
		if (ulen > 1 && user[ulen - 1] == '\'' &&
		    strcspn(user, " '") == ulen - 1) {
			user[ulen - 1] = '\0';
			if (!passwd_edit_has(edit, user))
				fail("the advised 'sealpost user passwd' finds no such user");
		}
		free(user);
	}
	edit_commit(&edit);
	if (fs_read_file(path, PASSWD_FILE_MAX, &back, &len, &error) < 0)
		fail("cannot read the rewritten file");
	bool add_lf = size > 0 && data[size - 1] != '\n';
	if (len != size + add_lf || memcmp(back, data, size) != 0 ||
	    (add_lf && back[size] != '\n'))
		fail("an edit without change altered the file");
	free(back);
}

/* New hash, delete, add back: each seen by the server as it should be. */
static void check_edits(char **users)
{
	const char *error, *user = users[0];
	struct passwd_edit *edit = edit_begin();
	char **now;

	if (passwd_edit_set_hash(edit, user, hash, &error) < 0)
		fail("set_hash failed");
	edit_commit(&edit);
	now = passwd_db_addresses(db);
	if (!same_users(users, now, NULL) ||
	    !passwd_db_verify(db, user, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD)))
		fail("a new hash changed the users or does not verify");
	strv_free(&now);

	edit = edit_begin();
	if (passwd_edit_delete(edit, user, &error) < 0)
		fail("delete failed");
	edit_commit(&edit);
	now = passwd_db_addresses(db);
	if (!same_users(users, now, user) || passwd_db_exists(db, user))
		fail("delete removed other users or not this one");
	strv_free(&now);

	edit = edit_begin();
	if (passwd_edit_has(edit, user) ||
	    passwd_edit_add(edit, user, hash, &error) < 0)
		fail("cannot add the deleted user back");
	edit_commit(&edit);
	now = passwd_db_addresses(db);
	if (!same_users(users, now, NULL))
		fail("adding the user back did not restore the users");
	strv_free(&now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { LINES_TRACKED = 4096 };
	static bool is_entry[LINES_TRACKED];

	if (db == NULL)
		setup();
	put_file(data, size);
	reload();
	memset(is_entry, 0, sizeof(is_entry));
	size_t entries = count_lines(data, size, is_entry, LINES_TRACKED);
	char **users = passwd_db_addresses(db);
	size_t n_users = strv_len(users);
	if (n_users + problems.n != entries || passwd_db_count(db) != n_users) {
		fprintf(stderr, "%zu lines, %zu users, %zu problems:\n", entries,
			n_users, problems.n);
		for (size_t i = 0; i < problems.n; i++)
			fprintf(stderr, "  %s\n", problems.v[i]);
		fail("not one user or one problem per line");
	}
	check_problems(is_entry, LINES_TRACKED);
	check_users(users);
	check_rewrite(data, size, users);
	if (n_users > 0)
		check_edits(users);
	strv_free(&users);
	problems_clear(&problems);
	return 0;
}
