/* shm.c — anonymous shared mappings and robust process-shared locks. */
#include "net/shm.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void *shm_map(size_t size, bool dump, const char **error_r)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*error_r = errfmt("shared memory: %s", strerror(errno));
		return NULL;
	}
	if (!dump)
		(void)madvise(p, size, MADV_DONTDUMP);
	return p;
}

void shm_unmap(void *p, size_t size)
{
	if (p != NULL)
		munmap(p, size);
}

void shm_lock_init(struct shm_lock *lock)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&lock->mutex, &attr);
	pthread_mutexattr_destroy(&attr);
}

bool shm_lock(struct shm_lock *lock)
{
	if (pthread_mutex_lock(&lock->mutex) != EOWNERDEAD)
		return true;
	/* The holder died: the mutex is ours, usable again once marked
	 * consistent; what it guards is the caller's to check. */
	pthread_mutex_consistent(&lock->mutex);
	return false;
}

void shm_unlock(struct shm_lock *lock)
{
	pthread_mutex_unlock(&lock->mutex);
}
