/* auth_cache.c — the shared table of verified credentials. */
#include "auth/auth_cache.h"
#include "auth/passwd.h"
#include "net/shm.h"
#include "lib/util.h"
#include "store/mailbox.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MAC_LEN 32                 /* HMAC-SHA256 */
#define KEY_LEN 32
/* What one MAC input can hold: a tag, the address, the crypt hash and the
 * password with NUL separators. */
#define MAC_INPUT_MAX (1 + ADDRESS_MAX + 1 + CRYPT_OUTPUT_SIZE + 1 + \
		       PASSWD_PASSWORD_MAX)

struct entry {
	unsigned char account[MAC_LEN];
	unsigned char hash_id[MAC_LEN];
	unsigned char verifier[MAC_LEN];
	int64_t stored_ms;            /* 0: free */
};

struct shared {
	struct shm_lock lock;
	unsigned char key[KEY_LEN];
	struct entry entries[AUTH_CACHE_BUCKETS * AUTH_CACHE_SLOTS];
};

struct auth_cache {
	struct shared *sh;            /* shared mapping */
	int64_t ttl_ms;
};

/* The MACs of one login, computed before the lock is taken. */
struct macs {
	unsigned char account[MAC_LEN];
	unsigned char hash_id[MAC_LEN];
	unsigned char verifier[MAC_LEN];
};

static struct auth_cache *server_cache;

static int64_t now_ms(void)
{
	struct timespec ts;
	/* Monotonic and the same for every process of the machine. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int auth_cache_new(unsigned ttl_secs, struct auth_cache **cache_r,
		   const char **error_r)
{
	*cache_r = NULL;
	if (ttl_secs == 0)
		return 0;
	struct shared *sh = shm_map(sizeof(*sh), false, error_r);
	if (sh == NULL)
		return -1;
	if (RAND_bytes(sh->key, sizeof(sh->key)) != 1) {
		shm_unmap(sh, sizeof(*sh));
		*error_r = "credential cache: no random bytes";
		return -1;
	}
	shm_lock_init(&sh->lock);
	struct auth_cache *cache = xcalloc(1, sizeof(*cache));
	cache->sh = sh;
	cache->ttl_ms = (int64_t)ttl_secs * 1000;
	*cache_r = cache;
	return 0;
}

void auth_cache_free(struct auth_cache **cachep)
{
	struct auth_cache *cache = *cachep;
	if (cache == NULL)
		return;
	OPENSSL_cleanse(cache->sh->key, sizeof(cache->sh->key));
	shm_unmap(cache->sh, sizeof(*cache->sh));
	x_free(cachep);
}

int auth_cache_init(unsigned ttl_secs, const char **error_r)
{
	auth_cache_free(&server_cache);
	return auth_cache_new(ttl_secs, &server_cache, error_r);
}

struct auth_cache *auth_cache_server(void)
{
	return server_cache;
}

/* HMAC(key, tag a [NUL b [NUL c]]) into out. */
static void mac(const struct auth_cache *cache, char tag, const char *a,
		const char *b, const char *c, size_t c_len,
		unsigned char out[MAC_LEN])
{
	unsigned char in[MAC_INPUT_MAX + 1];
	size_t n = 0, a_len = strlen(a), b_len = b != NULL ? strlen(b) : 0;
	unsigned int out_len = MAC_LEN;

	if (a_len > ADDRESS_MAX || b_len > CRYPT_OUTPUT_SIZE ||
	    c_len > PASSWD_PASSWORD_MAX)
		abort();    /* the callers' limits make this impossible */
	in[n++] = (unsigned char)tag;
	memcpy(in + n, a, a_len);
	n += a_len;
	if (b != NULL) {
		in[n++] = '\0';
		memcpy(in + n, b, b_len);
		n += b_len;
	}
	if (c != NULL) {
		in[n++] = '\0';
		memcpy(in + n, c, c_len);
		n += c_len;
	}
	if (HMAC(EVP_sha256(), cache->sh->key, KEY_LEN, in, n, out, &out_len) == NULL)
		abort();    /* out of memory in OpenSSL */
	OPENSSL_cleanse(in, n);
}

static void macs_make(const struct auth_cache *cache, const char *address,
		      const char *hash, const char *password, size_t len,
		      struct macs *m)
{
	mac(cache, 'a', address, NULL, NULL, 0, m->account);
	mac(cache, 'h', address, hash, NULL, 0, m->hash_id);
	mac(cache, 'v', address, hash, password, len, m->verifier);
}

static struct entry *bucket_of(struct auth_cache *cache,
			       const unsigned char account[MAC_LEN])
{
	uint32_t h = (uint32_t)account[0] << 24 | (uint32_t)account[1] << 16 |
		     (uint32_t)account[2] << 8 | account[3];
	return &cache->sh->entries[(h % AUTH_CACHE_BUCKETS) * AUTH_CACHE_SLOTS];
}

/* Lock; a holder that died may have left an entry half-written: start
 * afresh (it is only a cache). */
static void cache_lock(struct auth_cache *cache)
{
	if (!shm_lock(&cache->sh->lock))
		memset(cache->sh->entries, 0, sizeof(cache->sh->entries));
}

static void entry_clear(struct entry *e)
{
	OPENSSL_cleanse(e, sizeof(*e));
}

/* The live entry of account in its bucket (expired ones are cleared on
 * the way). Locked. */
static struct entry *find(struct auth_cache *cache,
			  const unsigned char account[MAC_LEN], int64_t now)
{
	struct entry *b = bucket_of(cache, account);

	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++) {
		if (b[i].stored_ms != 0 && now - b[i].stored_ms >= cache->ttl_ms)
			entry_clear(&b[i]);
		if (b[i].stored_ms != 0 &&
		    CRYPTO_memcmp(b[i].account, account, MAC_LEN) == 0)
			return &b[i];
	}
	return NULL;
}

bool auth_cache_lookup(struct auth_cache *cache, const char *address,
		       const char *hash, const char *password, size_t len)
{
	struct macs m;
	bool hit = false;

	if (cache == NULL)
		return false;
	macs_make(cache, address, hash, password, len, &m);
	cache_lock(cache);
	struct entry *e = find(cache, m.account, now_ms());
	if (e != NULL) {
		if (CRYPTO_memcmp(e->hash_id, m.hash_id, MAC_LEN) != 0)
			entry_clear(e);     /* the passwd line changed */
		else
			hit = CRYPTO_memcmp(e->verifier, m.verifier, MAC_LEN) == 0;
	}
	shm_unlock(&cache->sh->lock);
	OPENSSL_cleanse(&m, sizeof(m));
	return hit;
}

void auth_cache_store(struct auth_cache *cache, const char *address,
		      const char *hash, const char *password, size_t len)
{
	struct macs m;
	int64_t now = now_ms();

	if (cache == NULL)
		return;
	macs_make(cache, address, hash, password, len, &m);
	cache_lock(cache);
	struct entry *e = find(cache, m.account, now);
	if (e == NULL) {
		/* A free slot, else the oldest entry of the bucket. */
		struct entry *b = bucket_of(cache, m.account);
		e = &b[0];
		for (size_t i = 1; i < AUTH_CACHE_SLOTS && e->stored_ms != 0; i++) {
			if (b[i].stored_ms < e->stored_ms)
				e = &b[i];
		}
	}
	memcpy(e->account, m.account, MAC_LEN);
	memcpy(e->hash_id, m.hash_id, MAC_LEN);
	memcpy(e->verifier, m.verifier, MAC_LEN);
	e->stored_ms = now > 0 ? now : 1;
	shm_unlock(&cache->sh->lock);
	OPENSSL_cleanse(&m, sizeof(m));
}

void auth_cache_forget(struct auth_cache *cache, const char *address)
{
	unsigned char account[MAC_LEN];

	if (cache == NULL || strlen(address) > ADDRESS_MAX)
		return;
	mac(cache, 'a', address, NULL, NULL, 0, account);
	cache_lock(cache);
	struct entry *e = find(cache, account, now_ms());
	if (e != NULL)
		entry_clear(e);
	shm_unlock(&cache->sh->lock);
}

size_t auth_cache_count(struct auth_cache *cache)
{
	size_t n = 0;
	int64_t now = now_ms();

	if (cache == NULL)
		return 0;
	cache_lock(cache);
	for (size_t i = 0; i < N_ELEMENTS(cache->sh->entries); i++) {
		const struct entry *e = &cache->sh->entries[i];
		n += e->stored_ms != 0 && now - e->stored_ms < cache->ttl_ms;
	}
	shm_unlock(&cache->sh->lock);
	return n;
}
