/* deliver.h — durable delivery of one received message into Maildirs.
 *
 * The SMTP server writes message data into a spool file under
 * data_dir/spool/ as it arrives (from pool threads, never the event loop),
 * then commits: fsync the spool file, hard-link it into every recipient's
 * Maildir new/ under a unique name but the last, and rename it into the
 * last one's (copy + fsync + rename when a link or a rename is not
 * possible), and fsync each new/ folder. Renaming, not unlinking, the
 * spool file frees no inode per message: on ext4 without a journal every
 * inode freed in the last minutes makes each later create scan past it
 * (recently_deleted()). As in Maildir's own tmp/ to new/ step, the folder
 * the name leaves is not synced: a journaling file system commits a rename
 * whole with new/'s fsync. Only after a successful commit may the server
 * say 250. A commit
 * that fails for one recipient takes back the names already made, so a
 * retry never duplicates.
 * Every function here blocks on the disk: call from pool threads only. */
#ifndef SEALPOST_DELIVER_H
#define SEALPOST_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DELIVER_SPOOL_DIR "spool"
/* Most recipients of one message (config max_recipients is capped below). */
#define DELIVER_MAX_RECIPIENTS 10000

struct spool {
	int fd;
	char *path;
	uint64_t size;         /* bytes written so far */
	/* Made by spool_open: the commit may rename it into a Maildir. A
	 * spool set up around another file (the outbound queue's message,
	 * which later attempts still read) is only ever linked or copied. */
	bool owned;
	bool moved;            /* renamed into a Maildir: path names nothing */
};

/* Create an empty spool file in data_dir/spool. */
int spool_open(const char *data_dir, struct spool *sp, const char **error_r);
int spool_write(struct spool *sp, const void *data, size_t len,
		const char **error_r);
/* Close and remove the spool file (after commit or on abort); only close
 * it when the commit moved it into a Maildir. */
void spool_discard(struct spool *sp);

/* Deliver the spool into the Maildir of each address (normalised, local,
 * existing accounts). A missing Maildir is created. A batch of one. */
int deliver_commit(struct spool *sp, const char *data_dir,
		   char *const *addresses, size_t n_addresses,
		   const char **error_r);

/* ---- group commit ------------------------------------------------------
 * Messages that end at about the same time share their syncs: one
 * committer takes a batch of written spool files, syncs them all at once
 * (concurrent fsyncs from helper threads, which the device serves with
 * shared cache flushes), links each into its recipients' new/ folders,
 * then syncs each folder once for the whole batch. A message is durable,
 * and may be acknowledged, only when the batch returns with its result 0.
 * Batches may be committed from several threads at once. */

/* Files of a message made elsewhere than in Maildirs (the outbound queue,
 * queue/queue.h), by an item's place_extra. */
#define DELIVER_EXTRA_NAMES 2
struct deliver_extra {
	int fd;                                 /* synced with the folders; -1: none */
	const char *names[DELIVER_EXTRA_NAMES]; /* their folders synced; NULL: none */
};

struct deliver_item {
	struct spool *sp;               /* written; discarded by the caller */
	char *const *addresses;
	size_t n_addresses;
	/* Optional: called in phase 2, once the spool is synced, to make the
	 * message's other files; returns 0 with *extra filled, or -1 with
	 * *error_r (the item fails). extra->fd is synced and the folders of
	 * extra->names are synced with the batch's folders; when the item
	 * fails after that, the caller removes those files. */
	int (*place_extra)(struct deliver_item *item, void *arg,
			   struct deliver_extra *extra, const char **error_r);
	void *extra_arg;
	struct deliver_extra extra;     /* internal */
	bool extra_placed;              /* internal */
	int result;                     /* in: 0; out: 0 durable, -1 failed */
	int err;                        /* errno of the failure (ENOSPC ...) */
	char error[200];                /* why, when result is -1 */
	char **placed;                  /* internal */
	size_t n_placed;                /* internal */
};

/* Commit the items whose result is 0: fsync their spool files, link each
 * into its recipients' new/ (and make its extra files), fsync each
 * distinct folder once (with the extra files), then set each result. A message that fails (its sync, a link, or the fsync of one
 * of its folders) has its links taken back, so a retry never duplicates;
 * the others are durable. */
void deliver_commit_batch(struct deliver_item *items, size_t n,
			  const char *data_dir);

/* Remove spool files left by a crash (nothing in them was acknowledged). */
void spool_cleanup(const char *data_dir);

#endif
