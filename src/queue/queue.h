/* queue.h — the outbound mail queue on disk (data_dir/queue/).
 *
 * Layout:
 *   queue/<ID>.msg   the message: a hard link of the spool file the SMTP
 *                    server wrote (a copy when a link is impossible). Its
 *                    first `offset` bytes are the Return-Path line local
 *                    delivery keeps and a relay must not send (RFC 5321
 *                    4.4); the `size` bytes after them are sent.
 *   queue/<ID>.new   an envelope being committed: written, then it, the
 *                    message and the folder are fsync'd (one journal commit
 *                    on ext4: every name is made before the first fsync),
 *                    then it is renamed to .env. The queue process takes
 *                    .env files only, so it never sees a message before the
 *                    commit is durable. At start a whole .new file is taken
 *                    as queued (a crash may have hit after the SMTP 250),
 *                    a cut one is removed with its .msg.
 *   queue/<ID>.env   the envelope, then the delivery log: records appended
 *                    after it, one line each, by the queue process alone.
 *   queue/tmp/       envelopes being rewritten (queue_env_rewrite); left-
 *                    overs are removed at start, as are .msg files without
 *                    an .env
 *
 * The envelope (text, one item per line, ended by a line "."):
 *   sealpost-queue 1
 *   id 675f0c3a9b1e44d2
 *   created 1734282298
 *   sender bob@example.test        (empty for the null sender <>)
 *   size 1234
 *   offset 34
 *   flags 8bitmime smtputf8 dsn    (any of them; dsn: a bounce, never bounced)
 *   rcpt alice@example.org         (one line per recipient, numbered from 0)
 *   .
 * The records (the last one about a recipient gives its state):
 *   R <time> delivered|deferred|bounced <rcpts> <relay> <tls> <reply>
 *   N <time> <attempts> <next attempt time>
 *   D <time> <rcpts> <queue id of the DSN made for them, or ->
 * where <rcpts> is a list of recipient numbers ("0,3,5-9"), <relay>
 * "mx.example.org[192.0.2.1]:25" or "-", <tls> "TLSv1.3/TLS_AES_..../dane"
 * or "-", and <reply> the rest of the line (the remote's reply or our
 * reason, control bytes replaced). A line counts only when complete: a
 * record cut by a crash is ignored and cut off before the next append.
 *
 * Durability: queue_commit() fsyncs the envelope, the message and the
 * queue folder before it returns (the SMTP server says 250 after it). A
 * record is written (write(2), so a process crash cannot lose it) at
 * once, and fdatasync'd when the caller asks; removing a finished message
 * (unlink of .env, the commit point, then .msg) is made durable by an
 * fsync of the folder. Every function here blocks on the disk: pool
 * threads (net/jobs.h) or command-line tools only. */
#ifndef SEALPOST_QUEUE_H
#define SEALPOST_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/util.h"

struct spool;

#define QUEUE_DIR "queue"
#define QUEUE_TMP_DIR "queue/tmp"
/* A queue id: 8 hex digits of the arrival time, 8 random ones. */
#define QUEUE_ID_LEN 16
/* The largest envelope file read. Recipients are at most max_recipients
 * (10000, RFC 5321 4.5.3.1.8 asks for 100) of up to 320 bytes; records
 * beyond QUEUE_LOG_COMPACT bytes are folded into one per recipient
 * (queue_env_rewrite), so the log stays far below this. */
#define QUEUE_ENV_MAX (16u * 1024 * 1024)
/* Most recipients of one envelope: those of one message (deliver.h). */
#define QUEUE_RCPTS_MAX 10000
/* Log bytes after which the queue process rewrites an envelope with just
 * the current state of each recipient. */
#define QUEUE_LOG_COMPACT (64 * 1024)
/* Longest reply or reason kept per recipient (RFC 5321 4.5.3.1.5: a reply
 * line is 512 octets; the first line is what a DSN needs). */
#define QUEUE_REPLY_MAX 512
/* The relay text kept: "<host>[<address>]:<port>". */
#define QUEUE_RELAY_MAX (253 + 48)
/* "<TLS version>/<cipher>/<authentication>". */
#define QUEUE_TLS_MAX 128

enum queue_flags {
	QUEUE_F_8BITMIME = 1 << 0,   /* BODY=8BITMIME (RFC 6152) */
	QUEUE_F_SMTPUTF8 = 1 << 1,   /* SMTPUTF8 (RFC 6531) */
	QUEUE_F_DSN = 1 << 2,        /* a delivery status notification */
};

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING,    /* not tried yet */
	QUEUE_RCPT_DEFERRED,   /* tried, temporary failure: try again */
	QUEUE_RCPT_DELIVERED,  /* the remote said 250 (final) */
	QUEUE_RCPT_BOUNCED,    /* permanent failure or expired (final) */
};
const char *queue_rcpt_state_name(enum queue_rcpt_state st);

struct queue_rcpt {
	char *address;         /* local@domain, local part as given */
	const char *domain;    /* into address, lower case */
	enum queue_rcpt_state state;
	time_t when;           /* of the last record */
	char relay[QUEUE_RELAY_MAX + 1];   /* "" when none */
	char tls[QUEUE_TLS_MAX + 1];       /* "" when none */
	char reply[QUEUE_REPLY_MAX + 1];   /* the last reply or reason */
	bool dsn_made;         /* bounced, and reported to the sender */
};

struct queue_env {
	char id[QUEUE_ID_LEN + 1];
	char *sender;          /* "" for <> */
	time_t created;
	uint64_t size, offset;
	unsigned flags;        /* enum queue_flags */
	struct queue_rcpt *rcpts;
	size_t n_rcpts;
	unsigned attempts;
	time_t next_attempt;   /* 0: at once */
	size_t log_len;        /* bytes of records after the envelope */
};

/* ---- ids and paths ------------------------------------------------------ */

/* A new id (arrival time and randomness). */
void queue_new_id(char id_r[QUEUE_ID_LEN + 1]);
/* 16 lower-case hex digits: a name that is safe to put in a path. */
bool queue_id_valid(const char *id);
/* data_dir/queue/<id>.<ext> (new string). */
char *queue_path(const char *data_dir, const char *id, const char *ext);

/* queue/ and queue/tmp/ exist (mode 0700), owned by uid/gid when chown;
 * what a crash left is settled: whole .new envelopes queued, cut ones
 * removed, tmp/ files and .msg files without an .env removed. Call before
 * anything writes to the queue (the master at start). */
int queue_prepare(const char *data_dir, bool chown_dirs, uid_t uid, gid_t gid,
		  const char **error_r);

/* ---- the envelope text -------------------------------------------------- */

/* The envelope part of env (header lines and "."). */
void queue_env_format(const struct queue_env *env, struct buf *out);
/* Parse a whole envelope file (envelope and records); *env_r is new. The
 * length of the complete lines is *used_r: a torn last line is left out.
 * Errors name what is wrong. */
int queue_env_parse(const char *data, size_t len, struct queue_env **env_r,
		    size_t *used_r, const char **error_r);
void queue_env_free(struct queue_env **env);
/* Apply one record line (without its LF) to env; false when malformed. */
bool queue_env_apply(struct queue_env *env, const char *line, size_t len);

/* Records. rcpts lists recipient numbers; relay/tls may be NULL or "". */
void queue_record_result(struct buf *out, time_t when,
			 enum queue_rcpt_state state, const size_t *rcpts,
			 size_t n, const char *relay, const char *tls,
			 const char *reply);
void queue_record_next(struct buf *out, time_t when, unsigned attempts,
		       time_t next);
void queue_record_dsn(struct buf *out, time_t when, const size_t *rcpts,
		      size_t n, const char *dsn_id);
/* "0,3,5-9" for the sorted numbers. */
void queue_rcpt_list_format(struct buf *out, const size_t *rcpts, size_t n);

/* ---- files --------------------------------------------------------------- */

/* From the SMTP server, at the end of DATA (sp written, not yet synced):
 * queue sp for the remote recipients and deliver it to the local ones
 * (store/deliver.h), as one commit: the spool synced, then the local
 * copies linked, the envelope written as .new and the message linked into
 * the queue, then the envelope and every folder synced (at once) and the
 * envelope renamed to .env. On failure nothing is queued and no local copy
 * is left (but for a failure of the very last step, the rename, which the
 * caller logs). sender "" is <>. */
struct queue_submission {
	const char *sender;
	unsigned flags;
	uint64_t offset;              /* Return-Path bytes at the start of sp */
	char *const *rcpts;           /* remote recipients */
	size_t n_rcpts;
	char *const *local;           /* local accounts (normalised) */
	size_t n_local;
};
int queue_commit(struct spool *sp, const char *data_dir,
		 const struct queue_submission *qs, char id_r[QUEUE_ID_LEN + 1],
		 const char **error_r);

/* The same commit as one item of a batch that shares its syncs (the SMTP
 * server's group committer, store/deliver.h). queue_stage_init() gives
 * item (whose sp is set, with the written spool) the queue's part: once
 * the spool is synced, the envelope is written as .new and the message
 * linked in; the batch syncs the envelope and the queue folder with its
 * other folders. queue_stage_end() then, when the item's result is 0,
 * renames .new to .env (id_r: the queue id) and returns 0; otherwise, or
 * when the rename fails (-1, *error_r), it removes what was made. It frees
 * the stage, and must be called once for every init. qs stays valid until
 * then; its local recipients are the item's addresses. */
struct queue_stage {
	const char *data_dir;
	struct queue_env env;
	int fd;                       /* the .new envelope; -1 */
	char *newpath, *msgpath;      /* made by the batch; NULL */
};
struct deliver_item;
void queue_stage_init(struct queue_stage *st, struct deliver_item *item,
		      const char *data_dir, const struct queue_submission *qs);
int queue_stage_end(struct queue_stage *st, int result,
		    char id_r[QUEUE_ID_LEN + 1], const char **error_r);

/* Queue a message held in memory (a DSN): data of len bytes whose first
 * offset bytes are its Return-Path line. */
int queue_create(const char *data_dir, const void *data, size_t len,
		 uint64_t offset, const char *sender, unsigned flags,
		 char *const *rcpts, size_t n_rcpts, char id_r[QUEUE_ID_LEN + 1],
		 const char **error_r);

/* Read the envelope and log of id. With fd_r, the file stays open for
 * appending (*fd_r) and a torn last record is cut off first. */
int queue_env_load(const char *data_dir, const char *id, struct queue_env **env_r,
		   int *fd_r, const char **error_r);
/* Append records (whole lines) to an envelope opened by queue_env_load;
 * with sync, fdatasync it. */
int queue_env_append(int fd, const void *data, size_t len, bool sync,
		     const char **error_r);
/* Replace the envelope of env (its log folded into one record per
 * recipient) atomically; *fd_r is closed and replaced by the new file. */
int queue_env_rewrite(const char *data_dir, const struct queue_env *env,
		      int *fd_r, const char **error_r);
/* Take id out of the queue: .env (the commit) then .msg. With sync, the
 * folder is fsync'd. ENOENT is no error (gone already). */
int queue_remove(const char *data_dir, const char *id, bool sync,
		 const char **error_r);
/* fsync data_dir/queue. */
int queue_sync_dir(const char *data_dir, const char **error_r);
/* The ids of every envelope in the queue, sorted (strv). */
int queue_list_ids(const char *data_dir, char ***ids_r, size_t *n_r,
		   const char **error_r);

#endif
