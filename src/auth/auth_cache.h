/* auth_cache.h — verified credentials, remembered for a while (like
 * Dovecot's auth_cache), so a client that logs in again and again does not
 * pay a yescrypt run (tens of ms of CPU) every time.
 *
 * Only successful verifications are kept, and never the password: an entry
 * holds three HMAC-SHA256 values under a random key made when the cache is
 * (RAND_bytes; never written anywhere, kept out of core dumps):
 *   account   HMAC(key, "a" address)               which user (and bucket)
 *   hash_id   HMAC(key, "h" address NUL crypthash) which passwd line
 *   verifier  HMAC(key, "v" address NUL crypthash NUL password)
 * A login hits when the account's entry is younger than the TTL, hash_id
 * matches the user's current passwd line and verifier matches the
 * password given. A changed line (new password, new scheme) or a removed
 * user drops the entry at the next lookup: the passwd database re-reads
 * the file before every verification, so a change counts at once. Failed
 * verifications are never stored; a miss (unknown entry or wrong password)
 * goes on to the full hash, so a wrong password costs the same as without
 * the cache (passwd.c).
 *
 * The table lives in shared memory made by the master before it forks
 * (net/shm.h), so every worker shares it; its robust lock is held only to
 * copy or compare 112 bytes, never while hashing. A worker that dies holding
 * it leaves a lock the next user takes over, and the table is wiped then.
 *
 * The trade-off: while an entry lives, someone who can read the server's
 * memory (root, a compromised worker) can test guesses of that password at
 * HMAC speed rather than yescrypt speed. auth_cache_ttl = 0 turns the cache
 * off. Without auth_cache_init() (the CLI, unit tests that do not ask)
 * every call is a no-op miss. */
#ifndef SEALPOST_AUTH_CACHE_H
#define SEALPOST_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>

/* Buckets x slots: the most accounts remembered at once (about 1 MiB of
 * shared memory, touched only as it fills). */
#define AUTH_CACHE_BUCKETS 2048
#define AUTH_CACHE_SLOTS 4

struct auth_cache;

/* A cache whose entries live ttl_secs (0: *cache_r = NULL, no cache). In the
 * master before fork, so that the workers share it. */
int auth_cache_new(unsigned ttl_secs, struct auth_cache **cache_r,
		   const char **error_r);
void auth_cache_free(struct auth_cache **cache);

/* The cache of the server: made by auth_cache_init() in the master, NULL
 * when off. */
int auth_cache_init(unsigned ttl_secs, const char **error_r);
struct auth_cache *auth_cache_server(void);

/* Does (address, hash, password) match a live entry? hash is the crypt
 * string of address's current passwd line. An entry of address made for
 * another hash is dropped. cache may be NULL (a miss). */
bool auth_cache_lookup(struct auth_cache *cache, const char *address,
		       const char *hash, const char *password, size_t len);
/* Remember a verification that succeeded just now. */
void auth_cache_store(struct auth_cache *cache, const char *address,
		      const char *hash, const char *password, size_t len);
/* Drop address's entry (the user is gone). */
void auth_cache_forget(struct auth_cache *cache, const char *address);
/* Entries held (tests, figures). */
size_t auth_cache_count(struct auth_cache *cache);

#endif
