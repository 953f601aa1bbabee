/* test_pki_store.c — the certs folder: pair writes, --force, listing, and
 * crash recovery from every intermediate state of the two-phase write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "lib/log.h"

#include "pki/test_pki_util.h"

/* Two pairs: "old" (what the folder holds) and "new" (being written). */
static EVP_PKEY *old_key, *new_key;
static X509 *old_crt, *new_crt;
static struct buf old_key_pem, old_crt_pem, new_key_pem, new_crt_pem, csr_pem;

static int setup(void **state)
{
	log_set_level(LOG_LEVEL_ERROR);   /* recovery warns on every repair */
	old_key = t_ec_key();
	new_key = t_ec_key();
	old_crt = t_cert(old_key, "old.example.test", false, NULL, NULL, -1, 90, NULL);
	new_crt = t_cert(new_key, "new.example.test", false, NULL, NULL, -1, 90, NULL);
	t_key(&old_key_pem, old_key, T_PKCS8);
	t_key(&new_key_pem, new_key, T_PKCS8);
	t_pem_cert(&old_crt_pem, old_crt);
	t_pem_cert(&new_crt_pem, new_crt);
	buf_printf(&csr_pem, "-----BEGIN CERTIFICATE REQUEST-----\n"
		   "-----END CERTIFICATE REQUEST-----\n");
	return 0;
}

static int teardown(void **state)
{
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
	X509_free(old_crt);
	X509_free(new_crt);
	buf_free(&old_key_pem);
	buf_free(&new_key_pem);
	buf_free(&old_crt_pem);
	buf_free(&new_crt_pem);
	buf_free(&csr_pem);
	return 0;
}

static void put(const char *dir, const char *name, const struct buf *b)
{
	free(t_write(dir, name, b->data, b->len));
}

/* Names of dir's files, sorted, joined by spaces. */
static char *listing(const char *dir)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);
	struct buf b = { 0 };

	assert_true(n >= 0);
	buf_append(&b, "", 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") != 0 &&
		    strcmp(list[i]->d_name, "..") != 0)
			buf_printf(&b, "%s%s", b.len > 0 ? " " : "", list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return b.data;
}

static void assert_listing(const char *dir, const char *expected)
{
	char *got = listing(dir);
	assert_string_equal(got, expected);
	free(got);
}

/* The pair "mail" loads, matches, and is the old or the new one. */
static void assert_pair(const char *dir, X509 *crt, EVP_PKEY *key)
{
	struct pki_pair *pair;
	const char *error = NULL;

	if (pki_pair_load(dir, "mail", &pair, &error) < 0)
		fail_msg("load: %s", error);
	assert_int_equal(X509_cmp(pair->cert, crt), 0);
	assert_int_equal(EVP_PKEY_eq(pair->key, key), 1);
	pki_pair_free(&pair);
}

static struct pki_pair *new_pair(const char *name, EVP_PKEY *key, X509 *crt)
{
	struct pki_pair *pair = pki_pair_new(name);
	EVP_PKEY_up_ref(key);
	X509_up_ref(crt);
	pair->key = key;
	pair->cert = crt;
	return pair;
}

static void test_save_load_force(void **state)
{
	char *dir = t_tmpdir(), *sub = fs_join(dir, "certs");
	struct pki_pair *pair = new_pair("mail", old_key, old_crt);
	const char *error;
	struct stat st;
	char *path;

	/* The folder is created on the first write. */
	assert_int_equal(pki_store_save(sub, pair, NULL, false, &error), 0);
	assert_string_equal(pair->key_path, errfmt("%s/mail.key", sub));
	assert_listing(sub, "mail.crt mail.key");
	path = fs_join(sub, "mail.key");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(path);
	assert_pair(sub, old_crt, old_key);
	pki_pair_free(&pair);
	/* An existing name needs force. */
	pair = new_pair("mail", new_key, new_crt);
	assert_int_equal(pki_store_save(sub, pair, NULL, false, &error), -1);
	assert_string_equal(error, errfmt("%s/mail.key already exists (use --force "
					  "to replace it)", sub));
	assert_pair(sub, old_crt, old_key);
	assert_int_equal(pki_store_save(sub, pair, NULL, true, &error), 0);
	assert_pair(sub, new_crt, new_key);
	assert_listing(sub, "mail.crt mail.key");
	pki_pair_free(&pair);
	/* Names that could escape the folder or hide are refused. */
	pair = new_pair("../x", new_key, new_crt);
	assert_int_equal(pki_store_save(sub, pair, NULL, true, &error), -1);
	pki_pair_free(&pair);
	free(sub);
	t_rmdir(&dir);
}

static void test_load_errors(void **state)
{
	char *dir = t_tmpdir();
	struct pki_pair *pair;
	const char *error;

	assert_int_equal(pki_pair_load(dir, "mail", &pair, &error), -1);
	assert_string_equal(error, errfmt("%s/mail.crt: No such file or directory", dir));
	put(dir, "mail.crt", &old_crt_pem);
	put(dir, "mail.key", &new_key_pem);
	assert_int_equal(pki_pair_load(dir, "mail", &pair, &error), -1);
	assert_string_equal(error, errfmt("%s/mail.key: key does not match "
					  "certificate %s/mail.crt", dir, dir));
	/* A key others may read is refused before it is even parsed; the
	 * group may read it (Debian's ssl-cert). */
	char *key_path = fs_join(dir, "mail.key");
	assert_int_equal(chmod(key_path, 0644), 0);
	assert_int_equal(pki_pair_read(dir, "mail", &pair, &error), -1);
	assert_string_equal(error, errfmt("%s: readable by others (mode 0644): "
					  "chmod o-rwx it (a key must stay secret)",
					  key_path));
	assert_int_equal(chmod(key_path, 0640), 0);
	assert_int_equal(pki_pair_read(dir, "mail", &pair, &error), 0);
	pki_pair_free(&pair);
	assert_int_equal(chmod(key_path, 0600), 0);
	free(key_path);
	/* pki_pair_read leaves the judging to pki_pair_check. */
	assert_int_equal(pki_pair_read(dir, "mail", &pair, &error), 0);
	pki_pair_free(&pair);
	put(dir, "mail.key", &old_crt_pem);
	assert_int_equal(pki_pair_load(dir, "mail", &pair, &error), -1);
	assert_string_equal(error, errfmt("%s/mail.key: no private key found "
					  "(expected a PEM private key)", dir));
	assert_int_equal(pki_pair_load(dir, ".hidden", &pair, &error), -1);
	t_rmdir(&dir);
}

/* ---- recovery: each state a crash can leave ------------------------- */

enum state_file { OLD_PAIR = 1, KEY_NEW = 2, CSR_NEW = 4, CRT_NEW = 8,
		  KEY_RENAMED = 16 };

/* Build the folder as a crash would leave it. */
static char *crash_state(unsigned what)
{
	char *dir = t_tmpdir();

	if (what & OLD_PAIR) {
		put(dir, "mail.key", &old_key_pem);
		put(dir, "mail.crt", &old_crt_pem);
	}
	if (what & KEY_RENAMED)
		put(dir, "mail.key", &new_key_pem);
	if (what & KEY_NEW)
		put(dir, ".mail.key.new", &new_key_pem);
	if (what & CSR_NEW)
		put(dir, ".mail.csr.new", &csr_pem);
	if (what & CRT_NEW)
		put(dir, ".mail.crt.new", &new_crt_pem);
	return dir;
}

static void recover(const char *dir)
{
	const char *error = NULL;
	if (pki_store_recover(dir, &error) < 0)
		fail_msg("recover: %s", error);
}

static void test_recover_phase1(void **state)
{
	/* Crashed while writing the temporary files: roll back to the old
	 * pair, whatever was written so far. */
	const unsigned states[] = { KEY_NEW, KEY_NEW | CSR_NEW,
				    KEY_NEW | CSR_NEW | CRT_NEW, KEY_NEW | CRT_NEW };

	for (size_t i = 0; i < N_ELEMENTS(states); i++) {
		char *dir = crash_state(OLD_PAIR | states[i]);
		recover(dir);
		assert_listing(dir, "mail.crt mail.key");
		assert_pair(dir, old_crt, old_key);
		t_rmdir(&dir);
		/* A first write: nothing at all afterwards. */
		dir = crash_state(states[i]);
		recover(dir);
		assert_listing(dir, "");
		t_rmdir(&dir);
	}
}

static void test_recover_phase2(void **state)
{
	char *dir;

	/* The key was renamed, the certificate not yet: roll forward. */
	dir = crash_state(OLD_PAIR | KEY_RENAMED | CRT_NEW);
	recover(dir);
	assert_listing(dir, "mail.crt mail.key");
	assert_pair(dir, new_crt, new_key);
	t_rmdir(&dir);
	/* The same with a CSR still waiting (cert create). */
	dir = crash_state(OLD_PAIR | KEY_RENAMED | CSR_NEW | CRT_NEW);
	recover(dir);
	assert_listing(dir, "mail.crt mail.csr mail.key");
	assert_pair(dir, new_crt, new_key);
	t_rmdir(&dir);
	/* A first write: no old certificate at all. */
	dir = crash_state(KEY_RENAMED | CRT_NEW);
	recover(dir);
	assert_listing(dir, "mail.crt mail.key");
	assert_pair(dir, new_crt, new_key);
	t_rmdir(&dir);
	/* Only a roll-back can leave a lone CSR: delete it. */
	dir = crash_state(OLD_PAIR | CSR_NEW);
	recover(dir);
	assert_listing(dir, "mail.crt mail.key");
	assert_pair(dir, old_crt, old_key);
	t_rmdir(&dir);
}

/* Every open of the folder recovers first; unrelated files stay. */
static void test_recover_on_open(void **state)
{
	struct pki_store_entry *entries;
	struct pki_pair *pair;
	size_t n;
	const char *error;
	char *dir;

	dir = crash_state(OLD_PAIR | KEY_RENAMED | CRT_NEW);
	put(dir, ".keep", &csr_pem);
	put(dir, ".mail.crt.tmp", &csr_pem);
	put(dir, ".x y.crt.new", &csr_pem);
	assert_int_equal(pki_pair_load(dir, "mail", &pair, &error), 0);
	assert_int_equal(X509_cmp(pair->cert, new_crt), 0);
	pki_pair_free(&pair);
	assert_listing(dir, ".keep .mail.crt.tmp .x y.crt.new mail.crt mail.key");
	t_rmdir(&dir);

	dir = crash_state(OLD_PAIR | KEY_NEW | CRT_NEW);
	assert_int_equal(pki_store_list(dir, &entries, &n, &error), 0);
	assert_int_equal(n, 1);
	pki_store_list_free(&entries, n);
	assert_listing(dir, "mail.crt mail.key");
	t_rmdir(&dir);

	/* A save recovers another pair's leftovers before writing. */
	dir = crash_state(KEY_RENAMED | CRT_NEW);
	pair = new_pair("other", old_key, old_crt);
	assert_int_equal(pki_store_save(dir, pair, NULL, false, &error), 0);
	pki_pair_free(&pair);
	assert_listing(dir, "mail.crt mail.key other.crt other.key");
	t_rmdir(&dir);
}

static void test_list(void **state)
{
	char *dir = t_tmpdir(), *sub;
	struct pki_store_entry *entries;
	size_t n;
	const char *error;

	put(dir, "mail.crt", &old_crt_pem);
	put(dir, "mail.key", &old_key_pem);
	put(dir, "mail.csr", &csr_pem);
	put(dir, "half.crt", &old_crt_pem);
	put(dir, "lonely.key", &old_key_pem);
	put(dir, ".hidden.crt", &old_crt_pem);
	put(dir, ".hidden.key", &old_key_pem);
	put(dir, "README", &csr_pem);
	put(dir, "notes.txt", &csr_pem);
	sub = fs_join(dir, "sub.crt");
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);
	assert_int_equal(pki_store_list(dir, &entries, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_string_equal(entries[0].name, "half");
	assert_true(entries[0].has_crt && !entries[0].has_key);
	assert_string_equal(entries[1].name, "lonely");
	assert_true(!entries[1].has_crt && entries[1].has_key);
	assert_string_equal(entries[2].name, "mail");
	assert_true(entries[2].has_crt && entries[2].has_key);
	pki_store_list_free(&entries, n);
	assert_null(entries);
	sub = fs_join(dir, "missing");
	assert_int_equal(pki_store_list(sub, &entries, &n, &error), -1);
	assert_string_equal(error, errfmt("%s: No such file or directory", sub));
	free(sub);
	t_rmdir(&dir);
}

static void test_name_valid(void **state)
{
	assert_true(pki_name_valid("mail"));
	assert_true(pki_name_valid("mail.example.com"));
	assert_true(pki_name_valid("mail_2024-rsa"));
	assert_false(pki_name_valid(""));
	assert_false(pki_name_valid(".mail"));
	assert_false(pki_name_valid("a/b"));
	assert_false(pki_name_valid(".."));
	assert_false(pki_name_valid("my cert"));
	assert_false(pki_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_load_force),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_recover_phase1),
		cmocka_unit_test(test_recover_phase2),
		cmocka_unit_test(test_recover_on_open),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_name_valid),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
