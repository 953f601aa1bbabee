/* passwd.h — the users file data_dir/passwd: hashes, lookups, edits.
 *
 * One line per user in Dovecot's passwd-file format:
 *
 *     address:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]
 *
 * Blank lines and lines starting with '#' are comments. Fields after the
 * password are ignored when verifying and kept byte for byte on rewrite.
 * New hashes are yescrypt, written "{CRYPT}$y$...". A file brought from
 * Dovecot may also use {SHA512-CRYPT} ($6$), {SHA256-CRYPT} ($5$),
 * {BLF-CRYPT} ($2y$ $2b$ $2a$) or bare crypt hashes ($y$ $gy$ $7$ $6$ $5$
 * $2?$). Plain-text and weak schemes are refused line by line: a refused or
 * malformed line is reported as "FILE:LINE: problem" and every other user
 * stays usable.
 *
 * Three parts:
 *   passwd_scheme.c  classify a password field, make and check crypt hashes
 *   passwd.c         struct passwd_db: the file as the server reads it,
 *                    safe to use from several threads at once
 *   passwd_file.c    struct passwd_edit: locked, atomic rewrites (the CLI)
 */
#ifndef SEALPOST_PASSWD_H
#define SEALPOST_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PASSWD_FILE_NAME "passwd"
/* Updates lock data_dir/passwd.lock (flock), never the file itself: the
 * file is replaced by rename, so a lock on it would be lost with it. */
#define PASSWD_LOCK_SUFFIX ".lock"
/* Updates are written to data_dir/passwd.tmp, then renamed over passwd. */
#define PASSWD_TMP_SUFFIX ".tmp"

/* Longest password accepted, in bytes: libxcrypt hashes no longer
 * passphrase (CRYPT_MAX_PASSPHRASE_SIZE, 512 with the NUL; crypt_rn fails
 * with ERANGE beyond). Far above any passphrase a person types or a
 * generator makes; it also bounds what an unauthenticated client can make
 * us hash and the buffers holding it. (bcrypt reads only the first 72.) */
#define PASSWD_PASSWORD_MAX 511

/* Largest passwd file read: about 150 000 users at ~200 bytes a line. The
 * whole file is held in memory while it is parsed or edited. */
#define PASSWD_FILE_MAX (32u * 1024 * 1024)

/* ---- hashes (passwd_scheme.c) ------------------------------------------ */

/* Parse the password field of a passwd line ("{SCHEME}hash" or a bare crypt
 * hash). On success *hash_r points into field at the crypt hash. On failure
 * *error_r says why: a refused weak scheme, an unsupported one, or a
 * malformed hash. */
int passwd_hash_parse(const char *field, const char **hash_r,
		      const char **error_r);

/* Hash password with yescrypt at libcrypt's default cost. *hash_r is the
 * crypt string ("$y$..."), newly allocated, owned by the caller. */
int passwd_hash_new(const char *password, char **hash_r, const char **error_r);

/* Does password match the crypt hash? The result is compared in constant
 * time; the work buffers are wiped. Thread-safe (crypt_rn). */
bool passwd_hash_verify(const char *hash, const char *password);

/* ---- lookups (passwd.c) ------------------------------------------------- */

struct passwd_db;

/* Told of each problem in a newly loaded version of the file
 * ("FILE:LINE: ..."), and of a failure to read the file met by the refresh
 * that verify/exists/addresses do first (once per distinct error; an
 * explicit passwd_db_refresh() returns its error instead). Runs on the
 * thread that triggered the reload, one call at a time; it must not call
 * back into the passwd_db. */
typedef void passwd_problem_cb(const char *problem, void *context);

/* A database for the file at path; nothing is read yet. problem_cb may be
 * NULL. Makes the dummy hash unknown users are checked against (one
 * yescrypt run). */
struct passwd_db *passwd_db_new(const char *path, passwd_problem_cb *problem_cb,
				void *context);
void passwd_db_free(struct passwd_db **db);

/* Re-read the file if it changed (device, inode, size, mtime in ns): one
 * stat() otherwise. A missing file is an empty database. When the file
 * cannot be read, returns -1 and keeps the users loaded before. Problem
 * lines do not fail the refresh; they go to problem_cb. */
int passwd_db_refresh(struct passwd_db *db, const char **error_r);
/* Read the file again even if it looks the same (an edit in place that
 * kept its size within one tick of the clock); a failure is reported to
 * problem_cb as a lookup's is. */
int passwd_db_reload(struct passwd_db *db, const char **error_r);

/* True only if address is a user and password matches its hash. Refreshes
 * first, so users added, changed or removed by the CLI count at once. An
 * unknown address costs the same hashing work (a dummy yescrypt hash), so
 * the time taken does not tell which addresses exist. Addresses compare
 * case-insensitively. password need not be NUL-terminated; one longer than
 * PASSWD_PASSWORD_MAX or holding a NUL byte never matches. Thread-safe;
 * slow by design (tens of ms): call it off the event loop. */
bool passwd_db_verify(struct passwd_db *db, const char *address,
		      const char *password, size_t password_len);

/* passwd_db_verify() with a credential cache (auth_cache.h; NULL: none):
 * a login that matches a live entry is answered without hashing
 * (*cached_r true, when cached_r is not NULL); every other one hashes in
 * full, and a success is stored. A user whose line is gone is dropped from
 * the cache. */
struct auth_cache;
bool passwd_db_verify_cached(struct passwd_db *db, struct auth_cache *cache,
			     const char *address, const char *password,
			     size_t password_len, bool *cached_r);

/* Is address a user (with a usable hash)? Refreshes first; no hashing.
 * Thread-safe. */
bool passwd_db_exists(struct passwd_db *db, const char *address);

/* A user's own limits: Dovecot's extra fields "userdb_quota_rule=*:storage=1G"
 * (also "*:messages=N", "*:storage=1G:messages=N", userdb_quota_rule2 ...;
 * sizes take K M G T, 1024-based; rules for other folders are ignored). */
struct passwd_quota {
	bool has_bytes, has_messages;
	uint64_t bytes, messages;       /* 0: unlimited */
};

/* The quota rules of address; false when it has none (or no such user).
 * Refreshes first. Thread-safe. */
bool passwd_db_quota(struct passwd_db *db, const char *address,
		     struct passwd_quota *quota_r);

/* Is address a user of what is loaded now, and its quota rules? No refresh
 * and no disk: for a caller that knows the file unchanged since it was last
 * read (lib/file_watch.h). Thread-safe. */
bool passwd_db_lookup_loaded(struct passwd_db *db, const char *address,
			     struct passwd_quota *quota_r);

/* Number of users loaded (after a refresh). */
size_t passwd_db_count(struct passwd_db *db);

/* The users' addresses, lower case, sorted: a NULL-terminated array owned
 * by the caller (strv_free). Refreshes first. */
char **passwd_db_addresses(struct passwd_db *db);

/* ---- edits (passwd_file.c) ---------------------------------------------- */

/* Whom a newly written file belongs to. set false: the writing process
 * (and a rewrite keeps the old file's owner when we may chown). */
struct passwd_owner {
	bool set;
	uid_t uid;
	gid_t gid;
};

struct passwd_edit;

/* Lock path (flock on path.lock, opened here, so it also excludes other
 * threads) and read the current file. A missing file is empty. Holds the
 * lock until passwd_edit_free(). owner may be NULL; when set, the lock
 * file and the rewritten passwd file are chowned to it. */
int passwd_edit_begin(const char *path, const struct passwd_owner *owner,
		      struct passwd_edit **edit_r, const char **error_r);

/* Does any line (valid or not) name address? */
bool passwd_edit_has(const struct passwd_edit *edit, const char *address);

/* Append "address:{CRYPT}hash". Fails when a line names address already. */
int passwd_edit_add(struct passwd_edit *edit, const char *address,
		    const char *hash, const char **error_r);

/* Replace the password field of every line naming address with
 * "{CRYPT}hash", keeping the fields after it. Fails for an unknown user. */
int passwd_edit_set_hash(struct passwd_edit *edit, const char *address,
			 const char *hash, const char **error_r);

/* Remove every line naming address. Fails for an unknown user. */
int passwd_edit_delete(struct passwd_edit *edit, const char *address,
		       const char **error_r);

/* Write the edited file atomically (temp file, fsync, rename, fsync of the
 * folder). Mode: a new file 0600; a rewrite keeps the old mode less group
 * write and any world bits. Does not unlock. */
int passwd_edit_commit(struct passwd_edit *edit, const char **error_r);

/* Unlock and free; changes not committed are dropped. */
void passwd_edit_free(struct passwd_edit **edit);

#endif
