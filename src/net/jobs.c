/* jobs.c — a fixed thread pool with completions delivered through an
 * eventfd into the event loop. */
#include "net/jobs.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stddef.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct job_queue {
	struct job *head, *tail;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_queue todo, finished;
	pthread_t threads[64];
	unsigned n_threads;
	bool stopping;
	size_t in_flight;          /* loop thread only */
	int efd;
	struct event *ev;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
	   .efd = -1 };

static void queue_push(struct job_queue *q, struct job *job)
{
	job->next = NULL;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
}

static void queue_push_head(struct job_queue *q, struct job *job)
{
	job->next = q->head;
	q->head = job;
	if (q->tail == NULL)
		q->tail = job;
}

static struct job *queue_take_all(struct job_queue *q)
{
	struct job *head = q->head;
	q->head = q->tail = NULL;
	return head;
}

static void *worker_main(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&pool.lock);
		while (pool.todo.head == NULL && !pool.stopping)
			pthread_cond_wait(&pool.wake, &pool.lock);
		struct job *job = pool.todo.head;
		if (job == NULL) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		pool.todo.head = job->next;
		if (pool.todo.head == NULL)
			pool.todo.tail = NULL;
		pthread_mutex_unlock(&pool.lock);

		job->work(job);

		pthread_mutex_lock(&pool.lock);
		queue_push(&pool.finished, job);
		pthread_mutex_unlock(&pool.lock);
		uint64_t one = 1;
		ssize_t ignored = write(pool.efd, &one, sizeof(one));
		(void)ignored;
	}
}

static void completions_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t count;
	ssize_t ignored = read(fd, &count, sizeof(count));
	(void)ignored;

	pthread_mutex_lock(&pool.lock);
	struct job *job = queue_take_all(&pool.finished);
	pthread_mutex_unlock(&pool.lock);
	while (job != NULL) {
		struct job *next = job->next;
		pool.in_flight--;
		job->done(job);
		job = next;
	}
}

int jobs_init(struct event_base *base, unsigned threads, const char **error_r)
{
	if (threads == 0 || threads > N_ELEMENTS(pool.threads))
		threads = JOBS_THREADS;
	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0) {
		*error_r = errfmt("eventfd: %s", strerror(errno));
		return -1;
	}
	pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, completions_cb, NULL);
	event_add(pool.ev, NULL);
	pool.stopping = false;
	/* Signals belong to the loop thread: pool threads block them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < threads; i++) {
		int err = pthread_create(&pool.threads[i], NULL, worker_main, NULL);
		if (err == 0)   /* named for top -H, ps -L and perf */
			(void)pthread_setname_np(pool.threads[i], "sealpost-pool");
		if (err != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			*error_r = errfmt("pthread_create: %s", strerror(err));
			jobs_deinit();
			return -1;
		}
		pool.n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void jobs_submit(struct job *job)
{
	pool.in_flight++;
	pthread_mutex_lock(&pool.lock);
	queue_push(&pool.todo, job);
	pthread_cond_signal(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
}

static void batch_done(struct job *job);

static void batch_work(struct job *job)
{
	struct job_batch *batch = (struct job_batch *)job;
	batch->batcher->work(batch->batcher, batch->items, batch->n_items);
}

/* Start batches of the waiting items while a slot is free. */
static void batch_start(struct job_batcher *b)
{
	for (size_t s = 0; s < JOBS_BATCH_INFLIGHT && b->waiting != NULL; s++) {
		struct job_batch *batch = &b->batches[s];
		if (batch->running)
			continue;
		batch->n_items = 0;
		while (b->waiting != NULL && batch->n_items < JOBS_BATCH_MAX) {
			struct job *item = b->waiting;
			b->waiting = item->next;
			batch->items[batch->n_items++] = item;
		}
		if (b->waiting == NULL)
			b->waiting_tail = NULL;
		batch->batcher = b;
		batch->running = true;
		batch->job.work = batch_work;
		batch->job.done = batch_done;
		/* Ahead of other work: every item of the batch waits for it. */
		pool.in_flight++;
		pthread_mutex_lock(&pool.lock);
		queue_push_head(&pool.todo, &batch->job);
		pthread_cond_signal(&pool.wake);
		pthread_mutex_unlock(&pool.lock);
	}
}

static void batch_done(struct job *job)
{
	struct job_batch *batch = (struct job_batch *)job;
	struct job *done[JOBS_BATCH_MAX];
	size_t n = batch->n_items;

	memcpy(done, batch->items, n * sizeof(*done));
	batch->running = false;
	batch->n_items = 0;
	/* The next batch goes to the disk before this one's items are
	 * answered: the disk is not idle while items wait. */
	batch_start(batch->batcher);
	for (size_t i = 0; i < n; i++) {
		pool.in_flight--;
		done[i]->done(done[i]);
	}
}

void jobs_batch_submit(struct job_batcher *b, struct job *item)
{
	pool.in_flight++;
	item->next = NULL;
	if (b->waiting_tail != NULL)
		b->waiting_tail->next = item;
	else
		b->waiting = item;
	b->waiting_tail = item;
	batch_start(b);
}

size_t jobs_in_flight(void)
{
	return pool.in_flight;
}

void jobs_deinit(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.n_threads = 0;
	if (pool.ev != NULL)
		event_free(pool.ev);
	pool.ev = NULL;
	if (pool.efd >= 0)
		close(pool.efd);
	pool.efd = -1;
}
