/* pki_store.c — the certs folder: pair writes that survive a crash,
 * recovery, listing, and loading a pair for the server.
 *
 * A pair is NAME.key + NAME.crt (+ NAME.csr from `cert create`). Two renames
 * cannot be atomic together, so a pair is written in two phases, under an
 * exclusive flock() on the folder (writers, recovery and readers all take it):
 *
 *   phase 1  write .NAME.key.new, fsync it, fsync the folder;
 *            write .NAME.csr.new (create only), fsync it;
 *            write .NAME.crt.new, fsync it, fsync the folder.
 *   phase 2  rename .NAME.key.new -> NAME.key, fsync the folder;
 *            rename .NAME.csr.new -> NAME.csr;
 *            rename .NAME.crt.new -> NAME.crt, fsync the folder.
 *
 * The folder fsyncs order the steps on disk, so after a crash the leftovers
 * say exactly where it stopped:
 *
 *   .NAME.key.new present     phase 2 has not begun: the old pair (or none)
 *                             is intact. Roll back: delete .NAME.crt.new,
 *                             fsync the folder, then .NAME.csr.new and
 *                             .NAME.key.new (crt first, so that a crash
 *                             during the roll-back never leaves a lone
 *                             .crt.new that would read as a commit).
 *   .NAME.crt.new without     phase 2 had renamed the key: the new key is in
 *   .NAME.key.new             place and its certificate complete (phase 1
 *                             ended with an fsync). Roll forward: rename
 *                             .NAME.csr.new if there, then .NAME.crt.new.
 *   .NAME.csr.new alone       only a roll-back can leave it: delete it.
 *
 * Every open of the folder (pki_pair_read/load, list, import, create) runs
 * this recovery first. Hidden files are never pairs. */
#include "pki/pki_private.h"
#include "lib/fsutil.h"
#include "lib/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

/* The folder may be shared with the server's group; keys stay 0600. */
#define STORE_DIR_MODE 0750
#define STORE_KEY_MODE 0600
#define STORE_PUBLIC_MODE 0644
#define STORE_TEMP_SUFFIX ".new"

/* The files of a pair in commit order: the certificate is renamed last. */
enum store_file {
	STORE_KEY,
	STORE_CSR,
	STORE_CRT,
	STORE_FILE_COUNT
};
static const char *const store_suffix[STORE_FILE_COUNT] = { "key", "csr", "crt" };

bool pki_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > PKI_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

static char *final_path(const char *dir, const char *name, enum store_file f)
{
	char *base = xasprintf("%s.%s", name, store_suffix[f]);
	char *path = fs_join(dir, base);
	free(base);
	return path;
}

static char *temp_path(const char *dir, const char *name, enum store_file f)
{
	char *base = xasprintf(".%s.%s" STORE_TEMP_SUFFIX, name, store_suffix[f]);
	char *path = fs_join(dir, base);
	free(base);
	return path;
}

/* ---- locking --------------------------------------------------------- */

/* Open and flock the folder. *fd_r is -1 when it does not exist and
 * may_be_missing. */
static int store_lock(const char *dir, bool may_be_missing, int *fd_r,
		      const char **error_r)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*fd_r = -1;
	if (fd < 0 && errno == ENOENT && may_be_missing)
		return 0;
	if (fd < 0) {
		*error_r = errfmt("%s: %s", dir, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			*error_r = errfmt("%s: cannot lock the folder: %s", dir,
					  strerror(errno));
			close(fd);
			return -1;
		}
	}
	*fd_r = fd;
	return 0;
}

static void store_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);   /* releases the flock */
	*fd = -1;
}

/* ---- recovery -------------------------------------------------------- */

static int unlink_if_there(const char *path, const char **error_r)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int rename_if_there(const char *from, const char *to,
			   const char **error_r)
{
	if (rename(from, to) < 0 && errno != ENOENT) {
		*error_r = errfmt("%s: %s", to, strerror(errno));
		return -1;
	}
	return 0;
}

/* Delete the temporary files of name, certificate first (see above). */
static int roll_back(const char *dir, const char *name, const char **error_r)
{
	char *crt = temp_path(dir, name, STORE_CRT);
	char *csr = temp_path(dir, name, STORE_CSR);
	char *key = temp_path(dir, name, STORE_KEY);
	int ret = unlink_if_there(crt, error_r) < 0 ||
		fs_fsync_dir(dir, error_r) < 0 ||
		unlink_if_there(csr, error_r) < 0 ||
		unlink_if_there(key, error_r) < 0 ||
		fs_fsync_dir(dir, error_r) < 0 ? -1 : 0;

	free(crt);
	free(csr);
	free(key);
	return ret;
}

/* Finish phase 2 from its first step, or from wherever it stopped. */
static int roll_forward(const char *dir, const char *name, const char **error_r)
{
	int ret = 0;

	for (int f = 0; f < STORE_FILE_COUNT && ret == 0; f++) {
		char *tmp = temp_path(dir, name, (enum store_file)f);
		char *dst = final_path(dir, name, (enum store_file)f);
		ret = rename_if_there(tmp, dst, error_r);
		if (ret == 0 && f == STORE_KEY)
			ret = fs_fsync_dir(dir, error_r);
		free(tmp);
		free(dst);
	}
	return ret == 0 ? fs_fsync_dir(dir, error_r) : -1;
}

static int recover_pair(const char *dir, const char *name, const char **error_r)
{
	char *key = temp_path(dir, name, STORE_KEY);
	char *crt = temp_path(dir, name, STORE_CRT);
	bool forward = !fs_exists(key) && fs_exists(crt);
	int ret;

	free(key);
	free(crt);
	if (forward) {
		log_warn("%s: completing the interrupted write of pair %s",
			 dir, name);
		ret = roll_forward(dir, name, error_r);
	} else {
		log_warn("%s: removing the leftovers of an interrupted write of "
			 "pair %s", dir, name);
		ret = roll_back(dir, name, error_r);
	}
	return ret;
}

/* "mail" from ".mail.crt.new" (new string), NULL for any other name. */
static char *temp_file_pair(const char *file)
{
	size_t len = strlen(file), slen = strlen(STORE_TEMP_SUFFIX);

	if (file[0] != '.' || len <= 1 + 4 + slen ||
	    strcmp(file + len - slen, STORE_TEMP_SUFFIX) != 0)
		return NULL;
	for (int f = 0; f < STORE_FILE_COUNT; f++) {
		size_t stem = len - slen - 4;   /* before ".crt.new" */
		if (file[stem] == '.' &&
		    strncmp(file + stem + 1, store_suffix[f], 3) == 0) {
			char *name = xstrndup(file + 1, stem - 1);
			if (pki_name_valid(name))
				return name;
			free(name);
			return NULL;
		}
	}
	return NULL;
}

/* Recover every interrupted pair write in dir; the caller holds the lock. */
static int recover_locked(const char *dir, const char **error_r)
{
	DIR *d = opendir(dir);
	char **names = xcalloc(1, sizeof(*names));
	size_t n = 0;
	struct dirent *de;
	int ret = 0;

	if (d == NULL) {
		*error_r = errfmt("%s: %s", dir, strerror(errno));
		free(names);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char *name = temp_file_pair(de->d_name);
		bool seen = false;
		for (size_t i = 0; name != NULL && i < n; i++)
			seen = seen || strcmp(names[i], name) == 0;
		if (name == NULL || seen) {
			free(name);
			continue;
		}
		names = xrealloc(names, (n + 2) * sizeof(*names));
		names[n++] = name;
		names[n] = NULL;
	}
	closedir(d);
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = recover_pair(dir, names[i], error_r);
	strv_free(&names);
	return ret;
}

int pki_store_recover(const char *certs_dir, const char **error_r)
{
	int fd, ret;

	if (store_lock(certs_dir, true, &fd, error_r) < 0)
		return -1;
	if (fd < 0)
		return 0;
	ret = recover_locked(certs_dir, error_r);
	store_unlock(&fd);
	return ret;
}

/* ---- writing --------------------------------------------------------- */

static int check_free_locked(const char *dir, const char *name, bool with_csr,
			     const char **error_r)
{
	for (int f = 0; f < STORE_FILE_COUNT; f++) {
		char *path;
		bool exists;

		if (f == STORE_CSR && !with_csr)
			continue;
		path = final_path(dir, name, (enum store_file)f);
		exists = fs_exists(path);
		if (exists)
			*error_r = errfmt("%s already exists (use --force to "
					  "replace it)", path);
		free(path);
		if (exists)
			return -1;
	}
	return 0;
}

int pki_store_check_free(const char *certs_dir, const char *name,
			 bool with_csr, const char **error_r)
{
	return check_free_locked(certs_dir, name, with_csr, error_r);
}

/* Phase 1: every .new file written and durable, the certificate last. */
static int write_temps(const char *dir, const char *name,
		       struct buf data[STORE_FILE_COUNT], const char **error_r)
{
	for (int f = 0; f < STORE_FILE_COUNT; f++) {
		char *tmp;
		int ret;

		if (data[f].data == NULL)
			continue;
		tmp = temp_path(dir, name, (enum store_file)f);
		ret = fs_write_new(tmp, data[f].data, data[f].len,
				   f == STORE_KEY ? STORE_KEY_MODE :
				   STORE_PUBLIC_MODE, error_r);
		free(tmp);
		if (ret < 0 || (f != STORE_CSR && fs_fsync_dir(dir, error_r) < 0))
			return -1;
	}
	return 0;
}

/* Encode what pki_store_save writes; nothing touches the disk yet. */
static int encode_pair(const struct pki_pair *pair, X509_REQ *csr,
		       struct buf data[STORE_FILE_COUNT], const char **error_r)
{
	if (pki_key_to_pem(pair->key, &data[STORE_KEY], error_r) < 0 ||
	    pki_cert_to_pem(pair->cert, &data[STORE_CRT], error_r) < 0)
		return -1;
	for (int i = 0; i < sk_X509_num(pair->chain); i++) {
		if (pki_cert_to_pem(sk_X509_value(pair->chain, i),
				    &data[STORE_CRT], error_r) < 0)
			return -1;
	}
	if (csr != NULL && pki_csr_to_pem(csr, &data[STORE_CSR], error_r) < 0)
		return -1;
	return 0;
}

static int save_locked(const char *dir, const char *name, bool with_csr,
		       bool force, struct buf data[STORE_FILE_COUNT],
		       const char **error_r)
{
	const char *ignored;

	if (recover_locked(dir, error_r) < 0)
		return -1;
	if (!force && check_free_locked(dir, name, with_csr, error_r) < 0)
		return -1;
	if (write_temps(dir, name, data, error_r) < 0) {
		roll_back(dir, name, &ignored);
		return -1;
	}
	if (roll_forward(dir, name, error_r) < 0) {
		/* Phase 2 stopped: the next open of the folder finishes it
		 * (or rolls back when even the key was not renamed). */
		recover_pair(dir, name, &ignored);
		return -1;
	}
	return 0;
}

int pki_store_save(const char *certs_dir, struct pki_pair *pair,
		   X509_REQ *csr, bool force, const char **error_r)
{
	struct buf data[STORE_FILE_COUNT] = { { 0 } };
	int fd = -1, ret = -1;

	if (!pki_name_valid(pair->name)) {
		*error_r = errfmt("'%s' cannot be a certificate name (expected "
				  "letters, digits, '.', '-', '_')", pair->name);
		return -1;
	}
	if (encode_pair(pair, csr, data, error_r) < 0 ||
	    fs_mkdir_p(certs_dir, STORE_DIR_MODE, error_r) < 0 ||
	    store_lock(certs_dir, false, &fd, error_r) < 0)
		goto out;
	ret = save_locked(certs_dir, pair->name, csr != NULL, force, data,
			  error_r);
	store_unlock(&fd);
	if (ret == 0) {
		free(pair->crt_path);
		free(pair->key_path);
		pair->crt_path = final_path(certs_dir, pair->name, STORE_CRT);
		pair->key_path = final_path(certs_dir, pair->name, STORE_KEY);
	}
out:
	for (int f = 0; f < STORE_FILE_COUNT; f++) {
		if (data[f].data != NULL)
			OPENSSL_cleanse(data[f].data, data[f].len);
		buf_free(&data[f]);
	}
	return ret;
}

/* ---- listing --------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
	const struct pki_store_entry *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* Note dir/file in the entries when it is NAME.crt or NAME.key. */
static void list_add(const char *dir, const char *file,
		     struct pki_store_entry **entries, size_t *n)
{
	size_t len = strlen(file);
	char *name, *path;
	struct stat st;
	bool crt;
	size_t i;

	if (file[0] == '.' || len < 5 ||
	    (strcmp(file + len - 4, ".crt") != 0 &&
	     strcmp(file + len - 4, ".key") != 0))
		return;
	crt = file[len - 3] == 'c';
	name = xstrndup(file, len - 4);
	path = fs_join(dir, file);
	if (!pki_name_valid(name) || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(name);
		free(path);
		return;
	}
	free(path);
	for (i = 0; i < *n && strcmp((*entries)[i].name, name) != 0; i++)
		;
	if (i == *n) {
		*entries = xrealloc(*entries, (*n + 1) * sizeof(**entries));
		(*entries)[(*n)++] = (struct pki_store_entry){ .name = name };
	} else {
		free(name);
	}
	if (crt)
		(*entries)[i].has_crt = true;
	else
		(*entries)[i].has_key = true;
}

int pki_store_list(const char *certs_dir, struct pki_store_entry **entries_r,
		   size_t *count_r, const char **error_r)
{
	struct pki_store_entry *entries = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if (store_lock(certs_dir, false, &fd, error_r) < 0)
		return -1;
	if (recover_locked(certs_dir, error_r) < 0) {
		store_unlock(&fd);
		return -1;
	}
	if ((d = opendir(certs_dir)) == NULL) {
		*error_r = errfmt("%s: %s", certs_dir, strerror(errno));
		store_unlock(&fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		list_add(certs_dir, de->d_name, &entries, &n);
	closedir(d);
	store_unlock(&fd);
	if (n > 0)
		qsort(entries, n, sizeof(*entries), entry_cmp);
	*entries_r = entries;
	*count_r = n;
	return 0;
}

void pki_store_list_free(struct pki_store_entry **entries, size_t count)
{
	for (size_t i = 0; *entries != NULL && i < count; i++)
		free((*entries)[i].name);
	x_free(entries);
}

/* ---- loading --------------------------------------------------------- */

struct pki_pair *pki_pair_new(const char *name)
{
	struct pki_pair *pair = xcalloc(1, sizeof(*pair));
	pair->name = xstrdup(name);
	pair->chain = sk_X509_new_null();
	return pair;
}

void pki_pair_free(struct pki_pair **pair)
{
	struct pki_pair *p = *pair;

	if (p == NULL)
		return;
	free(p->name);
	free(p->crt_path);
	free(p->key_path);
	X509_free(p->cert);
	sk_X509_pop_free(p->chain, X509_free);
	EVP_PKEY_free(p->key);
	x_free(pair);
}

/* NAME.crt: the leaf first, then its chain. */
static int read_crt(struct pki_pair *pair, const char **error_r)
{
	struct pki_parse_opts opts = { .want_certs = true };
	struct pki_bundle b;

	if (pki_bundle_read(pair->crt_path, &opts, &b, error_r) < 0)
		return -1;
	if (sk_X509_num(b.certs) == 0) {
		*error_r = errfmt("%s: no certificate found (expected PEM "
				  "certificates, the leaf first)", pair->crt_path);
		pki_bundle_free(&b);
		return -1;
	}
	pair->cert = sk_X509_shift(b.certs);
	sk_X509_pop_free(pair->chain, X509_free);
	pair->chain = b.certs;
	b.certs = NULL;
	pki_bundle_free(&b);
	return 0;
}

static int read_key(struct pki_pair *pair, const char **error_r)
{
	struct pki_parse_opts opts = {
		.want_keys = true,
		.encrypted_hint = "an unencrypted key in the certs folder: "
			"import it with --passphrase-file",
	};
	struct pki_bundle b;
	struct stat st;

	/* A key others may read is a key others may have read: refused, as
	 * sshd refuses such a host key. Group access is allowed (Debian's
	 * ssl-cert group shares keys with 0640). */
	if (stat(pair->key_path, &st) == 0 && (st.st_mode & S_IRWXO) != 0) {
		*error_r = errfmt("%s: readable by others (mode %04o): chmod o-rwx "
				  "it (a key must stay secret)", pair->key_path,
				  (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (pki_bundle_read(pair->key_path, &opts, &b, error_r) < 0)
		return -1;
	if (b.n_keys != 1) {
		*error_r = b.n_keys == 0 ?
			errfmt("%s: no private key found (expected a PEM private "
			       "key)", pair->key_path) :
			errfmt("%s: holds %u private keys (expected one)",
			       pair->key_path, b.n_keys);
		pki_bundle_free(&b);
		return -1;
	}
	pair->key = b.key;
	b.key = NULL;
	pki_bundle_free(&b);
	return 0;
}

int pki_pair_read(const char *certs_dir, const char *name,
		  struct pki_pair **pair_r, const char **error_r)
{
	struct pki_pair *pair;
	int fd, ret;

	if (!pki_name_valid(name)) {
		*error_r = errfmt("'%s' is not a certificate name (expected "
				  "letters, digits, '.', '-', '_')", name);
		return -1;
	}
	if (store_lock(certs_dir, true, &fd, error_r) < 0)
		return -1;
	pair = pki_pair_new(name);
	pair->crt_path = final_path(certs_dir, name, STORE_CRT);
	pair->key_path = final_path(certs_dir, name, STORE_KEY);
	ret = (fd >= 0 && recover_locked(certs_dir, error_r) < 0) ||
		read_crt(pair, error_r) < 0 || read_key(pair, error_r) < 0 ? -1 : 0;
	store_unlock(&fd);
	if (ret < 0) {
		pki_pair_free(&pair);
		return -1;
	}
	*pair_r = pair;
	return 0;
}

int pki_pair_load(const char *certs_dir, const char *name,
		  struct pki_pair **pair_r, const char **error_r)
{
	struct pki_pair *pair;

	if (pki_pair_read(certs_dir, name, &pair, error_r) < 0)
		return -1;
	if (pki_key_supported(pair->key, error_r) < 0) {
		*error_r = errfmt("%s: %s", pair->key_path, *error_r);
		pki_pair_free(&pair);
		return -1;
	}
	if (!pki_key_matches(pair->key, pair->cert)) {
		*error_r = errfmt("%s: key does not match certificate %s",
				  pair->key_path, pair->crt_path);
		pki_pair_free(&pair);
		return -1;
	}
	*pair_r = pair;
	return 0;
}
