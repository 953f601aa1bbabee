/* outbound_msg.c — the queue's messages in the queue process: read in
 * from the folder (at start, on inotify, on rescans), tried when due,
 * their recipients grouped into transactions per destination, the results
 * recorded, DSNs made, finished messages removed. Disk work runs in pool
 * jobs; while a job uses a message's envelope no other code changes it
 * (the message is `attempting` or has `busy` jobs). */
#include "outbound/outbound_private.h"
#include "queue/queue_dsn.h"
#include "auth/auth.h"
#include "store/deliver.h"
#include "store/mailbox.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the id table ---------------------------------------------------------- */

static size_t hash_id(const char *id)
{
	size_t h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h & (OUTBOUND_HASH_SIZE - 1);
}

struct omsg *omsg_find(struct outbound *ob, const char *id)
{
	for (struct omsg *m = ob->hash[hash_id(id)]; m != NULL; m = m->hash_next) {
		if (strcmp(m->env->id, id) == 0)
			return m;
	}
	return NULL;
}

static void omsg_insert(struct outbound *ob, struct omsg *m)
{
	size_t h = hash_id(m->env->id);

	m->hash_next = ob->hash[h];
	ob->hash[h] = m;
	m->next = ob->msgs;
	if (ob->msgs != NULL)
		ob->msgs->prev = m;
	ob->msgs = m;
	ob->n_msgs++;
}

static void omsg_free(struct outbound *ob, struct omsg *m)
{
	struct omsg **pp = &ob->hash[hash_id(m->env->id)];

	while (*pp != m)
		pp = &(*pp)->hash_next;
	*pp = m->hash_next;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		ob->msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	ob->n_msgs--;
	if (m->env_fd >= 0)
		close(m->env_fd);
	if (m->msg_fd >= 0)
		close(m->msg_fd);
	buf_free(&m->records);
	queue_env_free(&m->env);
	free(m);
}

static bool rcpt_final(const struct queue_rcpt *r)
{
	return r->state == QUEUE_RCPT_DELIVERED || r->state == QUEUE_RCPT_BOUNCED;
}

/* ---- the folder sync of removals, in groups ----------------------------------- */

struct dirsync_job {
	struct job job;
	struct outbound *ob;
	char *data_dir;
};

static void dirsync_work(struct job *job)
{
	struct dirsync_job *dj = (struct dirsync_job *)job;
	const char *error;

	if (queue_sync_dir(dj->data_dir, &error) < 0)
		log_error("queue: %s", error);
}

static void dirsync_start(struct outbound *ob);

static void dirsync_done(struct job *job)
{
	struct dirsync_job *dj = (struct dirsync_job *)job;
	struct outbound *ob = dj->ob;

	free(dj->data_dir);
	free(dj);
	ob->dirsync_running = false;
	if (ob->dirsync_again) {
		ob->dirsync_again = false;
		dirsync_start(ob);
	}
}

/* One fsync of the queue folder covers every removal made before it
 * starts; removals during it wait for the next one. */
static void dirsync_start(struct outbound *ob)
{
	if (ob->dirsync_running) {
		ob->dirsync_again = true;
		return;
	}
	struct dirsync_job *dj = xcalloc(1, sizeof(*dj));
	dj->job.work = dirsync_work;
	dj->job.done = dirsync_done;
	dj->ob = ob;
	dj->data_dir = xstrdup(ob->cfg->data_dir);
	ob->dirsync_running = true;
	jobs_submit(&dj->job);
}

/* ---- records -------------------------------------------------------------------- */

struct record_job {
	struct job job;
	struct outbound *ob;
	struct omsg *m;
	struct buf text;
	unsigned long covers;      /* m->produced when it was made */
	bool sync;
	int rc;
	char error[OUTBOUND_ERROR_MAX];
};

static void record_write(struct outbound *ob, struct omsg *m);
static void wrap_up(struct outbound *ob, struct omsg *m);
static void omsg_written(struct omsg *m, unsigned long covers);

static void record_work(struct job *job)
{
	struct record_job *rj = (struct record_job *)job;
	const char *error;

	rj->rc = queue_env_append(rj->m->env_fd, rj->text.data, rj->text.len,
				  rj->sync, &error);
	if (rj->rc < 0)
		strlcpy_sp(rj->error, error, sizeof(rj->error));
}

static void record_done(struct job *job)
{
	struct record_job *rj = (struct record_job *)job;
	struct omsg *m = rj->m;

	if (rj->rc < 0) {
		/* The results stay to be written (a full disk, say): back in
		 * front of the newer ones, written again at the next tick; a
		 * connection waiting for them does not go on meanwhile, and the
		 * message is not wrapped up. */
		log_error("queue: %s: %s; trying again", m->env->id, rj->error);
		buf_append(&rj->text, m->records.data, m->records.len);
		buf_free(&m->records);
		m->records = rj->text;
		m->record_retry = true;
		m->busy--;
		free(rj);
		return;
	}
	struct outbound *ob = rj->ob;
	unsigned long covers = rj->covers;

	m->busy--;
	buf_free(&rj->text);
	free(rj);
	omsg_written(m, covers);
	if (m->records.len > 0)
		record_write(ob, m);
	else if (m->wrap_pending && m->busy == 0) {
		m->wrap_pending = false;
		wrap_up(ob, m);
	}
}

/* Write the records waiting in m->records now, one job at a time per
 * message (records keep their order). Results of a finished transaction
 * whose message still has recipients to go are synced: a delivery
 * recorded is never repeated, even after a power loss. */
static void record_write(struct outbound *ob, struct omsg *m)
{
	if (m->busy > 0 || m->records.len == 0)
		return;
	struct record_job *rj = xcalloc(1, sizeof(*rj));
	rj->job.work = record_work;
	rj->job.done = record_done;
	rj->ob = ob;
	rj->m = m;
	rj->text = m->records;
	rj->covers = m->produced;
	rj->sync = true;
	memset(&m->records, 0, sizeof(m->records));
	m->busy++;
	jobs_submit(&rj->job);
}

void omsg_result(struct outbound *ob, struct omsg *m, const size_t *rcpts,
		 size_t n, enum queue_rcpt_state state, const char *relay,
		 const char *tls, const char *reply)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < n; i++) {
		struct queue_rcpt *r = &m->env->rcpts[rcpts[i]];
		r->state = state;
		r->when = now;
		strlcpy_sp(r->relay, relay != NULL ? relay : "", sizeof(r->relay));
		strlcpy_sp(r->tls, tls != NULL ? tls : "", sizeof(r->tls));
		strlcpy_sp(r->reply, reply, sizeof(r->reply));
		r->dsn_made = false;
		if (state == QUEUE_RCPT_BOUNCED)
			m->bounced_now = true;
	}
	queue_record_result(&m->records, now, state, rcpts, n, relay, tls, reply);
	m->produced++;
}

bool omsg_wait_written(struct omsg *m, struct oconn *c)
{
	if (m->written >= m->produced)
		return false;
	c->waiting_on = m;
	c->wait_for = m->produced;
	c->wait_next = m->waiters;
	m->waiters = c;
	return true;
}

void omsg_unwait(struct oconn *c)
{
	struct omsg *m = c->waiting_on;

	if (m == NULL)
		return;
	for (struct oconn **pp = &m->waiters; *pp != NULL; pp = &(*pp)->wait_next) {
		if (*pp == c) {
			*pp = c->wait_next;
			break;
		}
	}
	c->waiting_on = NULL;
}

/* Records up to covers are written: release the connections waiting. */
static void omsg_written(struct omsg *m, unsigned long covers)
{
	struct oconn **pp = &m->waiters;

	if (covers > m->written)
		m->written = covers;
	while (*pp != NULL) {
		struct oconn *c = *pp;
		if (c->wait_for > m->written) {
			pp = &c->wait_next;
			continue;
		}
		*pp = c->wait_next;
		c->waiting_on = NULL;
		oconn_written(c);
		pp = &m->waiters;      /* the list may have changed */
	}
}

/* ---- the end of an attempt ------------------------------------------------------ */

struct wrap_job {
	struct job job;
	struct outbound *ob;
	struct omsg *m;
	struct buf text;           /* records of the attempt not yet written */
	unsigned long covers;      /* m->produced when it was made */
	char *data_dir, *hostname;
	time_t next;
	bool done;                 /* every recipient final: remove it */
	bool dsn;                  /* bounced recipients to report */
	bool null_sender;          /* ...to nobody: <> or a DSN itself */
	char dsn_id[QUEUE_ID_LEN + 1];
	int rc;
	char error[OUTBOUND_ERROR_MAX];
};

/* The DSN for the bounced recipients not yet reported (pool thread). */
static int make_dsn(struct wrap_job *wj, const char **error_r)
{
	struct queue_env *env = wj->m->env;
	struct queue_dsn_rcpt *dr = xcalloc(env->n_rcpts, sizeof(*dr));
	char (*status)[QUEUE_STATUS_SIZE] = xcalloc(env->n_rcpts, sizeof(*status));
	char (*mta)[QUEUE_RELAY_MAX + 1] = xcalloc(env->n_rcpts, sizeof(*mta));
	size_t *idx = xcalloc(env->n_rcpts, sizeof(*idx)), n = 0;
	char *headers = xmalloc(QUEUE_DSN_HEADERS_MAX);
	ssize_t hlen = -1;
	struct buf out = { 0 };
	uint64_t offset;
	int rc = -1;

	if (wj->m->msg_fd >= 0)
		hlen = pread(wj->m->msg_fd, headers, QUEUE_DSN_HEADERS_MAX,
			     (off_t)env->offset);
	for (size_t i = 0; i < env->n_rcpts; i++) {
		struct queue_rcpt *r = &env->rcpts[i];
		if (r->state != QUEUE_RCPT_BOUNCED || r->dsn_made)
			continue;
		if (wj->m->expired)
			strlcpy_sp(status[n], "4.4.7", sizeof(status[n]));
		else
			queue_reply_status(r->reply, status[n]);
		strlcpy_sp(mta[n], r->relay, sizeof(mta[n]));
		mta[n][strcspn(mta[n], "[")] = '\0';
		/* A remote's reply starts with its code; our reasons do not. */
		bool remote = r->relay[0] != '\0' && r->reply[0] >= '2' && r->reply[0] <= '5';
		dr[n] = (struct queue_dsn_rcpt){ r->address, status[n],
						 remote ? mta[n] : NULL, r->reply, r->when };
		idx[n++] = i;
	}
	char *to = env->sender;
	struct queue_dsn dsn = {
		.reporting_mta = wj->hostname, .queue_id = env->id,
		.dsn_id = env->id, .sender = env->sender, .arrival = env->created,
		.now = time(NULL), .expired = wj->m->expired, .rcpts = dr, .n = n,
		.message = headers, .message_len = hlen > 0 ? (size_t)hlen : 0,
	};
	queue_dsn_build(&dsn, &out, &offset);
	if (queue_create(wj->data_dir, out.data, out.len, offset, "", QUEUE_F_DSN,
			 &to, 1, wj->dsn_id, error_r) == 0) {
		for (size_t i = 0; i < n; i++)
			env->rcpts[idx[i]].dsn_made = true;
		queue_record_dsn(&wj->text, time(NULL), idx, n, wj->dsn_id);
		rc = 0;
	}
	buf_free(&out);
	free(headers);
	free(idx);
	free(mta);
	free(status);
	free(dr);
	return rc;
}

/* Nobody to tell (<> or a DSN): the bounces are only logged. */
static void no_dsn(struct wrap_job *wj)
{
	struct queue_env *env = wj->m->env;
	size_t *idx = xcalloc(env->n_rcpts, sizeof(*idx)), n = 0;

	for (size_t i = 0; i < env->n_rcpts; i++) {
		if (env->rcpts[i].state == QUEUE_RCPT_BOUNCED && !env->rcpts[i].dsn_made) {
			env->rcpts[i].dsn_made = true;
			idx[n++] = i;
		}
	}
	if (n > 0)
		queue_record_dsn(&wj->text, time(NULL), idx, n, NULL);
	free(idx);
}

static void wrap_work(struct job *job)
{
	struct wrap_job *wj = (struct wrap_job *)job;
	struct omsg *m = wj->m;
	struct stat st;
	const char *error = NULL;
	bool gone = false;

	wj->rc = 0;
	/* Deleted behind our back (sealpost queue delete): nothing to do. */
	if (fstat(m->env_fd, &st) == 0 && st.st_nlink == 0)
		goto out;
	if (wj->dsn && !wj->null_sender && make_dsn(wj, &error) < 0) {
		wj->rc = -1;     /* tried again at the next attempt */
		strlcpy_sp(wj->error, error, sizeof(wj->error));
		wj->done = false;
	} else if (wj->dsn && wj->null_sender) {
		no_dsn(wj);
	}
	if (wj->done) {
		/* Unlinked now (a crash cannot bring it back); the folder sync
		 * that makes it durable comes in a group (dirsync). */
		if (queue_remove(wj->data_dir, m->env->id, false, &error) < 0) {
			wj->rc = -1;
			strlcpy_sp(wj->error, error, sizeof(wj->error));
		} else {
			gone = true;
		}
		goto out;
	}
	m->env->attempts++;
	m->env->next_attempt = wj->next;
	queue_record_next(&wj->text, time(NULL), m->env->attempts, wj->next);
	if (m->env->log_len + wj->text.len > QUEUE_LOG_COMPACT) {
		if (queue_env_rewrite(wj->data_dir, m->env, &m->env_fd, &error) == 0) {
			m->env->log_len = 0;
			goto out;
		}
		log_warn("queue: %s: %s", m->env->id, error);
	}
	if (queue_env_append(m->env_fd, wj->text.data, wj->text.len, true, &error) < 0) {
		wj->rc = -1;
		strlcpy_sp(wj->error, error, sizeof(wj->error));
	}
	m->env->log_len += wj->text.len;
out:
	/* The last close of an unlinked file frees it on the disk: here, not
	 * on the event loop (the message goes in wrap_done once removed). */
	if (m->msg_fd >= 0)
		close(m->msg_fd);
	m->msg_fd = -1;
	if (gone && m->env_fd >= 0) {
		close(m->env_fd);
		m->env_fd = -1;
	}
}

static void wrap_done(struct job *job)
{
	struct wrap_job *wj = (struct wrap_job *)job;
	struct outbound *ob = wj->ob;
	struct omsg *m = wj->m;

	m->busy--;
	m->attempting = false;
	omsg_written(m, wj->covers);   /* before m may go */
	if (wj->rc < 0)
		log_error("queue: %s: %s", m->env->id, wj->error);
	if (wj->dsn && wj->dsn_id[0] != '\0')
		log_info("queue: %s bounced: sender notified by DSN queue_id=%s",
			 m->env->id, wj->dsn_id);
	else if (wj->dsn && wj->null_sender)
		log_info("queue: %s bounced: no DSN (the sender is <>)", m->env->id);
	if (wj->done && wj->rc == 0)
		dirsync_start(ob);
	if ((wj->done && wj->rc == 0) || m->deleted) {
		log_info("queue: %s %s", m->env->id, m->deleted ? "deleted" : "done");
		omsg_free(ob, m);
	} else {
		m->removing = false;
	}
	buf_free(&wj->text);
	free(wj->data_dir);
	free(wj->hostname);
	free(wj);
}

/* When to try again: retry_min, doubling with each attempt, at most
 * retry_max, and not after the lifetime ends (then it bounces). */
static time_t next_attempt(const struct config *cfg, const struct queue_env *env,
			   time_t now)
{
	uint64_t delay = cfg->retry_min;

	for (unsigned i = 0; i < env->attempts && delay < cfg->retry_max; i++)
		delay *= 2;
	if (delay > cfg->retry_max)
		delay = cfg->retry_max;
	time_t next = now + (time_t)delay;
	time_t end = env->created + (time_t)cfg->queue_lifetime;
	return next > end && end > now ? end : next;
}

/* Every transaction of the attempt is over: record, report, remove. */
static void wrap_up(struct outbound *ob, struct omsg *m)
{
	struct wrap_job *wj = xcalloc(1, sizeof(*wj));
	bool all_final = true, dsn = false;

	for (size_t i = 0; i < m->env->n_rcpts; i++) {
		const struct queue_rcpt *r = &m->env->rcpts[i];
		all_final &= rcpt_final(r);
		dsn |= r->state == QUEUE_RCPT_BOUNCED && !r->dsn_made;
	}
	wj->job.work = wrap_work;
	wj->job.done = wrap_done;
	wj->ob = ob;
	wj->m = m;
	wj->text = m->records;
	wj->covers = m->produced;
	memset(&m->records, 0, sizeof(m->records));
	wj->data_dir = xstrdup(ob->cfg->data_dir);
	wj->hostname = xstrdup(ob->cfg->hostname);
	wj->done = all_final;
	m->removing = all_final;      /* our own unlink is no `queue delete` */
	wj->dsn = dsn;
	wj->null_sender = m->env->sender[0] == '\0' || (m->env->flags & QUEUE_F_DSN);
	wj->next = next_attempt(ob->cfg, m->env, time(NULL));
	m->busy++;
	jobs_submit(&wj->job);
}

void omsg_job_done(struct outbound *ob, struct omsg *m)
{
	if (--m->jobs > 0) {
		record_write(ob, m);
		return;
	}
	if (m->busy > 0) {
		/* A record job is still writing: the wrap-up follows it. */
		m->wrap_pending = true;
		return;
	}
	wrap_up(ob, m);
}

/* ---- local delivery (DSNs to local senders) ---------------------------------- */

struct local_job {
	struct job job;
	struct outbound *ob;
	struct omsg *m;
	char *data_dir, *path;
	size_t *rcpts, n;
	bool *ok;
	char error[OUTBOUND_ERROR_MAX];
};

static void local_work(struct job *job)
{
	struct local_job *lj = (struct local_job *)job;
	struct queue_env *env = lj->m->env;
	struct spool sp = { .fd = lj->m->msg_fd, .path = lj->path,
			    .size = env->offset + env->size };
	const char *error;

	for (size_t i = 0; i < lj->n; i++) {
		char address[ADDRESS_MAX + 1];
		char *list[1] = { address };
		mailbox_address_normalize(env->rcpts[lj->rcpts[i]].address, address,
					  sizeof(address));
		if (!mailbox_address_valid(address) || !auth_user_exists(address))
			continue;
		if (deliver_commit(&sp, lj->data_dir, list, 1, &error) < 0) {
			strlcpy_sp(lj->error, error, sizeof(lj->error));
			continue;
		}
		lj->ok[i] = true;
	}
}

static void local_done(struct job *job)
{
	struct local_job *lj = (struct local_job *)job;
	struct omsg *m = lj->m;

	for (size_t i = 0; i < lj->n; i++) {
		struct queue_rcpt *r = &m->env->rcpts[lj->rcpts[i]];
		const char *reply = lj->ok[i] ? "delivered to the mailbox" :
			lj->error[0] != '\0' ? lj->error : "550 5.1.1 user unknown";
		enum queue_rcpt_state st = lj->ok[i] ? QUEUE_RCPT_DELIVERED :
			lj->error[0] != '\0' ? QUEUE_RCPT_DEFERRED : QUEUE_RCPT_BOUNCED;
		log_info("queue: %s %s to=<%s> relay=local reply=\"%s\"", m->env->id,
			 queue_rcpt_state_name(st), log_value(r->address), log_value(reply));
		omsg_result(lj->ob, m, &lj->rcpts[i], 1, st, "local", NULL, reply);
	}
	free(lj->ok);
	free(lj->rcpts);
	free(lj->path);
	free(lj->data_dir);
	struct outbound *ob = lj->ob;
	free(lj);
	omsg_job_done(ob, m);
}

static void local_start(struct outbound *ob, struct omsg *m, size_t *rcpts, size_t n)
{
	struct local_job *lj = xcalloc(1, sizeof(*lj));

	lj->job.work = local_work;
	lj->job.done = local_done;
	lj->ob = ob;
	lj->m = m;
	lj->rcpts = rcpts;
	lj->n = n;
	lj->ok = xcalloc(n, sizeof(*lj->ok));
	lj->data_dir = xstrdup(ob->cfg->data_dir);
	lj->path = queue_path(ob->cfg->data_dir, m->env->id, "msg");
	jobs_submit(&lj->job);
}

/* ---- attempts -------------------------------------------------------------------- */

/* The destination of a recipient: the relayhost, or its domain. */
static const char *dest_key(const struct outbound *ob, const struct queue_rcpt *r)
{
	if (config_is_local_domain(ob->cfg, r->domain))
		return NULL;
	return ob->cfg->relay_host != NULL ? ob->cfg->relay_host : r->domain;
}

struct sort_ctx {
	const struct outbound *ob;
	const struct omsg *m;
};

static int cmp_rcpt_key(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct queue_rcpt *ra = &sc->m->env->rcpts[*(const size_t *)a];
	const struct queue_rcpt *rb = &sc->m->env->rcpts[*(const size_t *)b];
	const char *ka = dest_key(sc->ob, ra), *kb = dest_key(sc->ob, rb);
	int c = strcmp(ka != NULL ? ka : "", kb != NULL ? kb : "");

	if (c != 0)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The recipients still to go, in transactions per destination. */
static void dispatch(struct outbound *ob, struct omsg *m)
{
	struct queue_env *env = m->env;
	size_t *idx = xcalloc(env->n_rcpts, sizeof(*idx)), n = 0;

	for (size_t i = 0; i < env->n_rcpts; i++) {
		if (!rcpt_final(&env->rcpts[i]))
			idx[n++] = i;
	}
	struct sort_ctx sc = { ob, m };
	qsort_r(idx, n, sizeof(*idx), cmp_rcpt_key, &sc);
	m->jobs = 1;     /* held until every job is handed out */
	for (size_t i = 0; i < n; ) {
		const char *key = dest_key(ob, &env->rcpts[idx[i]]);
		size_t j = i + 1;
		while (j < n && j - i < SMTPC_RCPTS_MAX) {
			const char *k = dest_key(ob, &env->rcpts[idx[j]]);
			if ((k == NULL) != (key == NULL) || (k != NULL && strcmp(k, key) != 0))
				break;
			j++;
		}
		size_t *rcpts = xcalloc(j - i, sizeof(*rcpts));
		memcpy(rcpts, idx + i, (j - i) * sizeof(*rcpts));
		m->jobs++;
		if (key == NULL) {
			local_start(ob, m, rcpts, j - i);
		} else {
			struct ojob *job = xcalloc(1, sizeof(*job));
			job->msg = m;
			job->rcpts = rcpts;
			job->n = j - i;
			odest_add(ob, key, job);
		}
		i = j;
	}
	free(idx);
	omsg_job_done(ob, m);
}

struct attempt_job {
	struct job job;
	struct outbound *ob;
	struct omsg *m;
	char *path;
	int fd, err;
};

static void attempt_work(struct job *job)
{
	struct attempt_job *aj = (struct attempt_job *)job;

	aj->fd = open(aj->path, O_RDONLY | O_CLOEXEC);
	aj->err = aj->fd < 0 ? errno : 0;
}

static void attempt_done(struct job *job)
{
	struct attempt_job *aj = (struct attempt_job *)job;
	struct outbound *ob = aj->ob;
	struct omsg *m = aj->m;

	if (aj->fd >= 0) {
		m->msg_fd = aj->fd;
		dispatch(ob, m);
	} else {
		/* Gone (deleted) or unreadable: nothing is sent this time. */
		size_t *all = xcalloc(m->env->n_rcpts, sizeof(*all)), n = 0;
		for (size_t i = 0; i < m->env->n_rcpts; i++) {
			if (!rcpt_final(&m->env->rcpts[i]))
				all[n++] = i;
		}
		log_error("queue: %s: %s: %s", m->env->id, aj->path, strerror(aj->err));
		if (aj->err == ENOENT)
			m->deleted = true;
		omsg_result(ob, m, all, n, QUEUE_RCPT_DEFERRED, NULL, NULL,
			    errfmt("cannot read the queued message: %s", strerror(aj->err)));
		free(all);
		m->jobs = 1;
		omsg_job_done(ob, m);
	}
	free(aj->path);
	free(aj);
}

/* queue_lifetime is over: what is left bounces, without a last try. */
static void expire(struct outbound *ob, struct omsg *m)
{
	for (size_t i = 0; i < m->env->n_rcpts; i++) {
		struct queue_rcpt *r = &m->env->rcpts[i];
		if (rcpt_final(r))
			continue;
		char *reason = xasprintf("delivery time expired (queue_lifetime %" PRIu64
					 "s)%s%s", ob->cfg->queue_lifetime,
					 r->reply[0] != '\0' ? "; last reply: " : "",
					 r->reply);
		log_info("queue: %s bounced to=<%s> reason=\"%s\"", m->env->id,
			 log_value(r->address), log_value(reason));
		omsg_result(ob, m, &i, 1, QUEUE_RCPT_BOUNCED, r->relay, r->tls, reason);
		free(reason);
	}
	m->expired = true;
	m->jobs = 1;
	omsg_job_done(ob, m);
}

static void attempt_start(struct outbound *ob, struct omsg *m)
{
	time_t now = time(NULL);

	m->attempting = true;
	m->attempt_started = now;
	m->expired = false;
	m->bounced_now = false;
	if (now - m->env->created >= (time_t)ob->cfg->queue_lifetime) {
		expire(ob, m);
		return;
	}
	struct attempt_job *aj = xcalloc(1, sizeof(*aj));
	aj->job.work = attempt_work;
	aj->job.done = attempt_done;
	aj->ob = ob;
	aj->m = m;
	aj->path = queue_path(ob->cfg->data_dir, m->env->id, "msg");
	jobs_submit(&aj->job);
}

static bool due(const struct omsg *m, time_t now)
{
	return !m->attempting && !m->deleted && m->busy == 0 &&
	       m->env->next_attempt <= now;
}

/* ---- loading ---------------------------------------------------------------------- */

struct load_job {
	struct job job;
	struct outbound *ob;
	char id[QUEUE_ID_LEN + 1];
	char *data_dir;
	struct queue_env *env;
	int fd, rc, err;
	char error[OUTBOUND_ERROR_MAX];
};

static void load_more(struct outbound *ob);
static void load_id(struct outbound *ob, const char *id);

static void load_work(struct job *job)
{
	struct load_job *lj = (struct load_job *)job;
	const char *error;

	errno = 0;
	lj->rc = queue_env_load(lj->data_dir, lj->id, &lj->env, &lj->fd, &error);
	lj->err = errno;
	if (lj->rc < 0)
		strlcpy_sp(lj->error, error, sizeof(lj->error));
}

static void load_done(struct job *job)
{
	struct load_job *lj = (struct load_job *)job;
	struct outbound *ob = lj->ob;
	struct stat st;
	bool stale = false;

	ob->loading--;
	if (lj->rc < 0) {
		if (lj->err != ENOENT)
			log_warn("queue: %s", lj->error);
	} else if (omsg_find(ob, lj->id) != NULL || ob->stopping) {
		close(lj->fd);
		queue_env_free(&lj->env);
	} else if (fstat(lj->fd, &st) == 0 && st.st_nlink == 0) {
		/* Read before it went: done (and freed) meanwhile, or rewritten
		 * (the new one is looked at; gone, that is ENOENT). */
		close(lj->fd);
		queue_env_free(&lj->env);
		stale = true;
	} else {
		struct omsg *m = xcalloc(1, sizeof(*m));
		m->env = lj->env;
		m->env_fd = lj->fd;
		m->msg_fd = -1;
		omsg_insert(ob, m);
		log_debug("queue: %s loaded rcpts=%zu attempts=%u", m->env->id,
			  m->env->n_rcpts, m->env->attempts);
		if (due(m, time(NULL)))
			attempt_start(ob, m);
	}
	free(lj->data_dir);
	if (stale)
		load_id(ob, lj->id);      /* calls load_more */
	else
		load_more(ob);
	free(lj);
}

static void load_more(struct outbound *ob)
{
	while (ob->to_load_pos < ob->n_to_load && ob->loading < OUTBOUND_LOADS_MAX &&
	       !ob->stopping) {
		if (ob->n_msgs + ob->loading >= OUTBOUND_MESSAGES_MAX) {
			ob->rescan = true;     /* the rest waits on disk */
			ob->to_load_pos = ob->n_to_load;
			break;
		}
		const char *id = ob->to_load[ob->to_load_pos++];
		if (omsg_find(ob, id) != NULL)
			continue;
		struct load_job *lj = xcalloc(1, sizeof(*lj));
		lj->job.work = load_work;
		lj->job.done = load_done;
		lj->ob = ob;
		memcpy(lj->id, id, sizeof(lj->id));
		lj->data_dir = xstrdup(ob->cfg->data_dir);
		lj->fd = -1;
		ob->loading++;
		jobs_submit(&lj->job);
	}
	if (ob->to_load_pos == ob->n_to_load && ob->to_load != NULL) {
		for (size_t i = 0; i < ob->n_to_load; i++)
			free(ob->to_load[i]);
		x_free(&ob->to_load);
		ob->n_to_load = ob->to_load_pos = 0;
	}
}

static void load_id(struct outbound *ob, const char *id)
{
	ob->to_load = xrealloc(ob->to_load, (ob->n_to_load + 1) * sizeof(char *));
	ob->to_load[ob->n_to_load++] = xstrdup(id);
	load_more(ob);
}

struct scan_job {
	struct job job;
	struct outbound *ob;
	char *data_dir;
	char **ids;
	size_t n;
	int rc;
	char error[OUTBOUND_ERROR_MAX];
};

static void scan_work(struct job *job)
{
	struct scan_job *sj = (struct scan_job *)job;
	const char *error;

	sj->rc = queue_list_ids(sj->data_dir, &sj->ids, &sj->n, &error);
	if (sj->rc < 0)
		strlcpy_sp(sj->error, error, sizeof(sj->error));
}

static void scan_done(struct job *job)
{
	struct scan_job *sj = (struct scan_job *)job;
	struct outbound *ob = sj->ob;

	ob->scanning = false;
	if (sj->rc < 0)
		log_error("queue: %s", sj->error);
	for (size_t i = 0; i < sj->n; i++) {
		if (omsg_find(ob, sj->ids[i]) == NULL)
			load_id(ob, sj->ids[i]);
	}
	strv_free(&sj->ids);
	free(sj->data_dir);
	free(sj);
}

static void scan(struct outbound *ob)
{
	if (ob->scanning || ob->stopping)
		return;
	struct scan_job *sj = xcalloc(1, sizeof(*sj));
	sj->job.work = scan_work;
	sj->job.done = scan_done;
	sj->ob = ob;
	sj->data_dir = xstrdup(ob->cfg->data_dir);
	ob->scanning = true;
	ob->rescan = false;
	jobs_submit(&sj->job);
}

/* ---- inotify on the queue folder ------------------------------------------------ */

static void on_event(struct outbound *ob, const struct inotify_event *ev)
{
	char id[QUEUE_ID_LEN + 1];

	if (ev->mask & IN_Q_OVERFLOW) {
		scan(ob);
		return;
	}
	if (ev->len == 0 || strlen(ev->name) != QUEUE_ID_LEN + 4 ||
	    strcmp(ev->name + QUEUE_ID_LEN, ".env") != 0)
		return;
	memcpy(id, ev->name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	if (!queue_id_valid(id))
		return;
	struct omsg *m = omsg_find(ob, id);
	if ((ev->mask & IN_MOVED_TO) && m == NULL) {
		load_id(ob, id);
	} else if ((ev->mask & IN_DELETE) && m != NULL && !m->removing) {
		/* sealpost queue delete: whatever runs ends, nothing more. */
		m->deleted = true;
		if (!m->attempting && m->busy == 0) {
			log_info("queue: %s deleted", id);
			omsg_free(ob, m);
		}
	}
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct outbound *ob = arg;
	char buf[OUTBOUND_INOTIFY_BUF]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n; ) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			on_event(ob, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* ---- the public side of the messages ------------------------------------------- */

void outbound_msgs_tick(struct outbound *ob)
{
	time_t now = time(NULL);

	if (ob->stopping)
		return;
	for (struct omsg *m = ob->msgs, *next; m != NULL; m = next) {
		next = m->next;
		if (m->record_retry) {
			m->record_retry = false;
			record_write(ob, m);
		}
		if (due(m, now))
			attempt_start(ob, m);
	}
	ob->ticks++;
	/* Without inotify, the folder is looked at every few ticks. */
	if ((ob->rescan && ob->n_msgs < OUTBOUND_MESSAGES_MAX / 2) ||
	    (ob->inotify_fd < 0 && ob->ticks % OUTBOUND_POLL_TICKS == 0))
		scan(ob);
}

void outbound_msgs_start(struct outbound *ob)
{
	char *dir = fs_join(ob->cfg->data_dir, QUEUE_DIR);

	ob->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ob->inotify_fd >= 0 &&
	    inotify_add_watch(ob->inotify_fd, dir, IN_MOVED_TO | IN_DELETE) < 0) {
		close(ob->inotify_fd);
		ob->inotify_fd = -1;
	}
	if (ob->inotify_fd < 0) {
		log_warn("queue: no inotify on %s (%s): looking every %d s", dir,
			 strerror(errno), OUTBOUND_POLL_TICKS * OUTBOUND_TICK_MS / 1000);
	} else {
		ob->ev_inotify = event_new(ob->base, ob->inotify_fd, EV_READ | EV_PERSIST,
					   on_inotify, ob);
		event_add(ob->ev_inotify, NULL);
	}
	free(dir);
	scan(ob);
}

void outbound_flush(struct outbound *ob, const char *id)
{
	for (struct omsg *m = ob->msgs; m != NULL; m = m->next) {
		/* One being tried is tried already (and its envelope is the
		 * wrap-up job's until that is done). */
		if (!m->attempting && (id == NULL || strcmp(m->env->id, id) == 0))
			m->env->next_attempt = 0;
	}
	log_info("queue: flush %s", id != NULL ? id : "all");
	outbound_msgs_tick(ob);
}

void outbound_msgs_free(struct outbound *ob)
{
	while (ob->msgs != NULL)
		omsg_free(ob, ob->msgs);
	for (size_t i = 0; i < ob->n_to_load; i++)
		free(ob->to_load[i]);
	x_free(&ob->to_load);
	ob->n_to_load = ob->to_load_pos = 0;
	if (ob->ev_inotify != NULL)
		event_free(ob->ev_inotify);
	ob->ev_inotify = NULL;
	if (ob->inotify_fd >= 0)
		close(ob->inotify_fd);
	ob->inotify_fd = -1;
}
