/* jobs.h — blocking work (disk writes, fsync, password hashing) off the
 * event loop.
 *
 * A job's work() runs on a pool thread and must touch only what the job
 * owns; its done() runs afterwards on the event-loop thread, where it may
 * use sessions and reply to clients. The submitter keeps whatever done()
 * needs alive until done() has run (sessions hold a reference per job). */
#ifndef SEALPOST_JOBS_H
#define SEALPOST_JOBS_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

/* Pool threads per worker process: enough to overlap fsyncs of several
 * deliveries and a few password checks. */
#define JOBS_THREADS 4

struct job {
	void (*work)(struct job *job);   /* pool thread */
	void (*done)(struct job *job);   /* event-loop thread */
	struct job *next;                /* internal */
};

int jobs_init(struct event_base *base, unsigned threads, const char **error_r);
/* Queue job; ownership stays with the caller, who must not touch it until
 * done() is called. */
void jobs_submit(struct job *job);
/* Jobs queued or running. */
size_t jobs_in_flight(void);
/* ---- batches ------------------------------------------------------------
 * Group commit: items submitted to a batcher are worked on together. At
 * most JOBS_BATCH_INFLIGHT batches run at once; while they do, new items
 * wait and form the next one, so the busier the server, the larger the
 * batches (one fsync of a folder then serves many messages), and a lone
 * item on a quiet server starts at once. Loop thread only. */

/* Most items one batch takes; the rest wait for the next. */
#define JOBS_BATCH_MAX 256
/* Batches of one batcher running at once: the next one fills while the
 * disk works on these. */
#define JOBS_BATCH_INFLIGHT 2

struct job_batcher;

struct job_batch {                        /* internal */
	struct job job;
	struct job_batcher *batcher;
	struct job *items[JOBS_BATCH_MAX];
	size_t n_items;
	bool running;
};

struct job_batcher {
	/* Pool thread: one whole batch (items[i]->work is not used). */
	void (*work)(struct job_batcher *b, struct job **items, size_t n);
	/* Then each item's done() runs on the loop, in submission order. */
	struct job *waiting, *waiting_tail;          /* internal */
	struct job_batch batches[JOBS_BATCH_INFLIGHT]; /* internal */
};

/* Add item to b's next batch; item->done() runs once its batch is done.
 * Ownership as with jobs_submit(). */
void jobs_batch_submit(struct job_batcher *b, struct job *item);

/* Finish queued jobs, stop the threads. done() of finished jobs is still
 * delivered if the loop runs again; normally called once the loop ended. */
void jobs_deinit(void);

#endif
