/* iptable.c — shared counters in an anonymous shared mapping. */
#include "net/iptable.h"
#include "lib/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define KEY_LEN 16

struct slot {
	unsigned char kind;              /* 0: free */
	unsigned char key[KEY_LEN];
	unsigned conns;
	unsigned fails;
	time_t last_fail;
	time_t last_used;
};

struct table {
	pthread_mutex_t lock;
	unsigned long max_total, max_per_ip;
	unsigned long total;
	struct slot slots[IPTABLE_BUCKETS][IPTABLE_SLOTS];
};

static struct table *table;

int iptable_init(unsigned long max_total, unsigned long max_per_ip,
		 const char **error_r)
{
	pthread_mutexattr_t attr;
	void *p = mmap(NULL, sizeof(struct table), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		*error_r = errfmt("shared memory: %s", strerror(errno));
		return -1;
	}
	table = p;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&table->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	table->max_total = max_total;
	table->max_per_ip = max_per_ip;
	return 0;
}

static void lock(void)
{
	/* A worker that died holding the lock left counters, not damage. */
	if (pthread_mutex_lock(&table->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&table->lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&table->lock);
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

static bool slot_idle(const struct slot *sl, time_t now)
{
	return sl->conns == 0 &&
	       (sl->fails == 0 || now - sl->last_fail > IPTABLE_FAIL_WINDOW_SECS);
}

/* The slot of (kind, key), created if create; NULL when none. Locked. */
static struct slot *find(unsigned char kind, const unsigned char key[KEY_LEN],
			 bool create)
{
	uint32_t h = 2166136261u;             /* FNV-1a */
	time_t now = time(NULL);
	struct slot *victim = NULL;

	h = (h ^ kind) * 16777619u;
	for (int i = 0; i < KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	struct slot *bucket = table->slots[h % IPTABLE_BUCKETS];
	for (int i = 0; i < IPTABLE_SLOTS; i++) {
		struct slot *sl = &bucket[i];
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
	if (!create || victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->kind = kind;
	memcpy(victim->key, key, KEY_LEN);
	victim->last_used = now;
	return victim;
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
	struct slot *sl = find(IPTABLE_ADDR, key, true);
	if (table->total >= table->max_total) {
		*reason_r = "too many connections";
		ok = false;
	} else if (sl != NULL && sl->conns >= table->max_per_ip) {
		*reason_r = "too many connections from this address";
		ok = false;
	} else {
		table->total++;
		if (sl != NULL)
			sl->conns++;
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
	struct slot *sl = find(IPTABLE_ADDR, key, false);
	if (sl != NULL && sl->conns > 0)
		sl->conns--;
	if (table->total > 0)
		table->total--;
	unlock();
}

unsigned long iptable_conn_total(void)
{
	unsigned long n;
	if (table == NULL)
		return 0;
	lock();
	n = table->total;
	unlock();
	return n;
}

static unsigned recent_fails(const struct slot *sl, time_t now)
{
	if (sl == NULL || now - sl->last_fail > IPTABLE_FAIL_WINDOW_SECS)
		return 0;
	return sl->fails;
}

unsigned iptable_failures(const struct sockaddr_storage *peer,
			  const char *account)
{
	unsigned char akey[KEY_LEN], ukey[KEY_LEN];
	time_t now = time(NULL);
	unsigned n = 0, m = 0;

	if (table == NULL)
		return 0;
	addr_key(peer, akey);
	if (account != NULL)
		account_key(account, ukey);
	lock();
	n = recent_fails(find(IPTABLE_ADDR, akey, false), now);
	if (account != NULL)
		m = recent_fails(find(IPTABLE_ACCOUNT, ukey, false), now);
	unlock();
	return n > m ? n : m;
}

static void bump(struct slot *sl, time_t now)
{
	if (sl == NULL)
		return;
	if (now - sl->last_fail > IPTABLE_FAIL_WINDOW_SECS)
		sl->fails = 0;
	sl->fails++;
	sl->last_fail = now;
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
	bump(find(IPTABLE_ADDR, akey, true), now);
	if (account != NULL)
		bump(find(IPTABLE_ACCOUNT, ukey, true), now);
	unlock();
}

void iptable_success(const struct sockaddr_storage *peer, const char *account)
{
	unsigned char akey[KEY_LEN];
	if (table == NULL)
		return;
	addr_key(peer, akey);
	lock();
	struct slot *sl = find(IPTABLE_ADDR, akey, false);
	if (sl != NULL)
		sl->fails = 0;
	unlock();
	(void)account; /* the account's own count decays: a success from one
			* address must not wipe failures guessed from others */
}
