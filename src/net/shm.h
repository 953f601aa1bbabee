/* shm.h — memory shared by the master and its worker processes.
 *
 * An anonymous shared mapping made by the master before it forks the
 * workers: every worker sees the same bytes, and the mapping goes away with
 * the last process (nothing in /dev/shm to clean up after a crash). Users
 * guard what they keep there with a shm_lock: a process-shared, robust
 * mutex, so a worker that dies holding it (a crash, SIGKILL) never leaves it
 * held: the next locker gets it and is told the data may be half-updated.
 * Used by the shared counters (iptable.c) and the credential cache
 * (auth/auth_cache.c). */
#ifndef SEALPOST_SHM_H
#define SEALPOST_SHM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* size zeroed bytes shared with every process forked afterwards. dump:
 * false keeps the mapping out of core dumps (secrets). */
void *shm_map(size_t size, bool dump, const char **error_r);
void shm_unmap(void *p, size_t size);

struct shm_lock {
	pthread_mutex_t mutex;
};

/* In shared memory, before any other process can use it. */
void shm_lock_init(struct shm_lock *lock);
/* Take the lock. Returns false when its previous holder died holding it:
 * the caller owns the lock now and must repair (or wipe) what it guards. */
bool shm_lock(struct shm_lock *lock);
void shm_unlock(struct shm_lock *lock);

#endif
