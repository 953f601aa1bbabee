/* iptable.c — shared counters in an anonymous shared mapping. */
#include "net/iptable.h"
#include "net/shm.h"
#include "lib/util.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

#define KEY_LEN 16
/* The bucket hash is keyed with this many random bytes made at start-up,
 * so nobody can compute names or addresses that crowd one bucket (which
 * would push a victim's counters out). */
#define SECRET_LEN 16

struct slot {
	unsigned char kind;              /* 0: free */
	unsigned char key[KEY_LEN];
	unsigned fails;
	time_t last_fail;
	time_t last_used;
	uint16_t conns[];                /* per worker process */
};

struct table {
	struct shm_lock lock;
	unsigned long max_total, max_per_ip;
	unsigned n_workers;
	size_t slot_size;
	unsigned char secret[SECRET_LEN];
	/* Failures that found no slot: counted together, so a full bucket
	 * fails closed (slower answers), never open. */
	unsigned overflow_fails;
	time_t overflow_last;
	unsigned long total[IPTABLE_WORKERS_MAX];
	unsigned char slots[];           /* BUCKETS x SLOTS x slot_size */
};

static struct table *table;
static unsigned my_worker;

int iptable_init(unsigned long max_total, unsigned long max_per_ip,
		 unsigned n_workers, const char **error_r)
{
	size_t slot_size = (sizeof(struct slot) + n_workers * sizeof(uint16_t) + 7) & ~(size_t)7;
	size_t size = sizeof(struct table) + (size_t)IPTABLE_BUCKETS * IPTABLE_SLOTS * slot_size;

	if (n_workers == 0 || n_workers > IPTABLE_WORKERS_MAX) {
		*error_r = "shared counters: bad worker count";
		return -1;
	}
	void *p = shm_map(size, true, error_r);
	if (p == NULL)
		return -1;
	table = p;
	shm_lock_init(&table->lock);
	table->max_total = max_total;
	table->max_per_ip = max_per_ip;
	table->n_workers = n_workers;
	table->slot_size = slot_size;
	if (RAND_bytes(table->secret, sizeof(table->secret)) != 1) {
		*error_r = "shared counters: no random bytes";
		return -1;
	}
	return 0;
}

void iptable_set_worker(unsigned index)
{
	my_worker = index;
}

static void lock(void)
{
	/* A worker that died holding the lock left counters, not damage. */
	(void)shm_lock(&table->lock);
}

static void unlock(void)
{
	shm_unlock(&table->lock);
}

static struct slot *slot_at(size_t bucket, size_t i)
{
	return (struct slot *)(table->slots +
			       (bucket * IPTABLE_SLOTS + i) * table->slot_size);
}

static unsigned long slot_conns(const struct slot *sl)
{
	unsigned long n = 0;
	for (unsigned w = 0; w < table->n_workers; w++)
		n += sl->conns[w];
	return n;
}

/* IPv4 as v4-mapped IPv6, so one client is one key either way. */
static void addr_key(const struct sockaddr_storage *ss, unsigned char key[KEY_LEN])
{
	memset(key, 0, KEY_LEN);
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, KEY_LEN);
	} else if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static void account_key(const char *account, unsigned char key[KEY_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char lower[320];

	strlcpy_sp(lower, account, sizeof(lower));
	str_lower(lower);
	EVP_Digest(lower, strlen(lower), md, &len, EVP_sha256(), NULL);
	memcpy(key, md, KEY_LEN);
}

static size_t bucket_of(unsigned char kind, const unsigned char key[KEY_LEN])
{
	unsigned char in[SECRET_LEN + 1 + KEY_LEN], md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	memcpy(in, table->secret, SECRET_LEN);
	in[SECRET_LEN] = kind;
	memcpy(in + SECRET_LEN + 1, key, KEY_LEN);
	EVP_Digest(in, sizeof(in), md, &len, EVP_sha256(), NULL);
	uint32_t h = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 |
		     (uint32_t)md[2] << 8 | md[3];
	return h % IPTABLE_BUCKETS;
}

static bool slot_idle(const struct slot *sl, time_t now)
{
	return slot_conns(sl) == 0 &&
	       (sl->fails == 0 || now - sl->last_fail > IPTABLE_FAIL_WINDOW_SECS);
}

/* The slot of (kind, key), created if create; NULL when none (and then
 * *full_r tells whether the bucket had no room). Locked. */
static struct slot *find(unsigned char kind, const unsigned char key[KEY_LEN],
			 bool create, bool *full_r)
{
	size_t bucket = bucket_of(kind, key);
	time_t now = time(NULL);
	struct slot *victim = NULL;

	for (size_t i = 0; i < IPTABLE_SLOTS; i++) {
		struct slot *sl = slot_at(bucket, i);
		if (sl->kind == kind && memcmp(sl->key, key, KEY_LEN) == 0) {
			sl->last_used = now;
			return sl;
		}
		if (sl->kind == 0 || slot_idle(sl, now)) {
			if (victim == NULL || (victim->kind != 0 &&
			    (sl->kind == 0 || sl->last_used < victim->last_used)))
				victim = sl;
		}
	}
	if (full_r != NULL)
		*full_r = victim == NULL;
	if (!create || victim == NULL)
		return NULL;
	memset(victim, 0, table->slot_size);
	victim->kind = kind;
	memcpy(victim->key, key, KEY_LEN);
	victim->last_used = now;
	return victim;
}

static unsigned long total_conns(void)
{
	unsigned long n = 0;
	for (unsigned w = 0; w < table->n_workers; w++)
		n += table->total[w];
	return n;
}

bool iptable_conn_acquire(const struct sockaddr_storage *peer,
			  const char **reason_r)
{
	unsigned char key[KEY_LEN];
	bool ok = true;

	if (table == NULL)
		return true;
	addr_key(peer, key);
	lock();
	struct slot *sl = find(IPTABLE_ADDR, key, true, NULL);
	if (total_conns() >= table->max_total) {
		*reason_r = "too many connections";
		ok = false;
	} else if (sl != NULL && slot_conns(sl) >= table->max_per_ip) {
		*reason_r = "too many connections from this address";
		ok = false;
	} else {
		table->total[my_worker]++;
		if (sl != NULL)
			sl->conns[my_worker]++;
	}
	unlock();
	return ok;
}

void iptable_conn_release(const struct sockaddr_storage *peer)
{
	unsigned char key[KEY_LEN];

	if (table == NULL)
		return;
	addr_key(peer, key);
	lock();
	struct slot *sl = find(IPTABLE_ADDR, key, false, NULL);
	if (sl != NULL && sl->conns[my_worker] > 0)
		sl->conns[my_worker]--;
	if (table->total[my_worker] > 0)
		table->total[my_worker]--;
	unlock();
}

void iptable_worker_gone(unsigned index)
{
	if (table == NULL || index >= table->n_workers)
		return;
	lock();
	for (size_t b = 0; b < IPTABLE_BUCKETS; b++) {
		for (size_t i = 0; i < IPTABLE_SLOTS; i++)
			slot_at(b, i)->conns[index] = 0;
	}
	table->total[index] = 0;
	unlock();
}

unsigned long iptable_conn_total(void)
{
	unsigned long n;
	if (table == NULL)
		return 0;
	lock();
	n = total_conns();
	unlock();
	return n;
}

static unsigned recent(unsigned fails, time_t last, time_t now)
{
	return now - last > IPTABLE_FAIL_WINDOW_SECS ? 0 : fails;
}

/* Recent failures of one key; a key without a slot in a full bucket gets
 * the overflow count. Locked. */
static unsigned key_failures(unsigned char kind, const unsigned char key[KEY_LEN],
			     time_t now)
{
	bool full = false;
	struct slot *sl = find(kind, key, false, &full);
	if (sl != NULL)
		return recent(sl->fails, sl->last_fail, now);
	return full ? recent(table->overflow_fails, table->overflow_last, now) : 0;
}

unsigned iptable_failures(const struct sockaddr_storage *peer,
			  const char *account)
{
	unsigned char akey[KEY_LEN], ukey[KEY_LEN];
	time_t now = time(NULL);
	unsigned n, m = 0;

	if (table == NULL)
		return 0;
	addr_key(peer, akey);
	if (account != NULL)
		account_key(account, ukey);
	lock();
	n = key_failures(IPTABLE_ADDR, akey, now);
	if (account != NULL)
		m = key_failures(IPTABLE_ACCOUNT, ukey, now);
	unlock();
	return n > m ? n : m;
}

static void bump(unsigned char kind, const unsigned char key[KEY_LEN], time_t now)
{
	struct slot *sl = find(kind, key, true, NULL);
	unsigned *fails = sl ? &sl->fails : &table->overflow_fails;
	time_t *last = sl ? &sl->last_fail : &table->overflow_last;

	if (now - *last > IPTABLE_FAIL_WINDOW_SECS)
		*fails = 0;
	(*fails)++;
	*last = now;
}

void iptable_fail(const struct sockaddr_storage *peer, const char *account)
{
	unsigned char akey[KEY_LEN], ukey[KEY_LEN];
	time_t now = time(NULL);

	if (table == NULL)
		return;
	addr_key(peer, akey);
	if (account != NULL)
		account_key(account, ukey);
	lock();
	bump(IPTABLE_ADDR, akey, now);
	if (account != NULL)
		bump(IPTABLE_ACCOUNT, ukey, now);
	unlock();
}

void iptable_success(const struct sockaddr_storage *peer, const char *account)
{
	unsigned char akey[KEY_LEN];
	if (table == NULL)
		return;
	addr_key(peer, akey);
	lock();
	struct slot *sl = find(IPTABLE_ADDR, akey, false, NULL);
	if (sl != NULL)
		sl->fails = 0;
	unlock();
	(void)account; /* the account's own count decays: a success from one
			* address must not wipe failures guessed from others */
}
