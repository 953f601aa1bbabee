/* smtp_data.c — DATA: end-of-data detection and dot-unstuffing, spooling
 * in chunks on pool threads, and the durable commit before 250.
 *
 * The spool file is made by the first job that writes to it: a message
 * that fits one chunk (most do) costs one trip off the loop, its commit
 * batch, which writes the file, checks quotas, syncs and links. */
#include "smtp/smtp.h"
#include "auth/auth.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Input decoded per step; the output buffer takes the worst expansion. */
#define SMTP_DECODE_STEP 16384

struct smtp_data {
	enum smtp_dot_state dot;
	struct evbuffer *pending;   /* decoded, not yet handed to a job */
	uint64_t size;              /* decoded message bytes */
	bool too_big;
	bool ended;                 /* saw <CRLF>.<CRLF> */
	bool job_running;           /* a spool job owns `spool` */
	bool held;                  /* the data ended: no command is taken
				       until the commit has answered */
	bool failed;                /* a spool write failed */
	int err;                    /* ...with this errno */
	uint64_t return_path_len;   /* not sent by a relay (RFC 5321 4.4) */
	char error[200];
	struct spool spool;
	char id[LOG_SESSION_ID_LEN + 12];
};

enum spool_op { SPOOL_WRITE, SPOOL_COMMIT, SPOOL_DISCARD };

struct spool_job {
	struct session_job job;     /* job.job alone for a detached discard */
	enum spool_op op;
	struct smtp_session *ss;    /* NULL for a detached discard */
	struct smtp_data *data;
	struct evbuffer *buf;       /* bytes to write (owned by the job) */
	char **rcpts;               /* SPOOL_COMMIT: copies */
	size_t n_rcpts;
	struct smtp_outbound *out;  /* SPOOL_COMMIT: other domains (queued) */
	bool refuse;                /* SPOOL_COMMIT of a refused message */
	bool over_quota;            /* SPOOL_COMMIT: a mailbox is full */
	int result;
	int err;                    /* errno of a failure */
	char error[200];
};

/* What one input byte did to the decoder. */
enum dot_step {
	DOT_STEP_TAKEN,     /* consumed */
	DOT_STEP_AGAIN,     /* state changed; the byte is looked at again */
	DOT_STEP_END,       /* consumed, and it ended the data */
};

/* A dot at the start of a line: dot-stuffing is undone (RFC 5321 4.5.2),
 * whichever line end came before. Only <CRLF>.<CRLF> ends the data: a
 * lone dot line that began after a bare LF or ends with one is kept as a
 * line "." (the smuggling forms <LF>.<LF>, <LF>.<CRLF>, <CRLF>.<LF>). */
static enum dot_step dot_after_dot(enum smtp_dot_state *st, unsigned char c,
				   unsigned char *out, size_t *o)
{
	bool after_lf = *st == SMTP_DOT_LF_DOT || *st == SMTP_DOT_LF_DOT_CR;

	switch (*st) {
	case SMTP_DOT_DOT:
	case SMTP_DOT_LF_DOT:
		if (c == '\r') {
			*st = after_lf ? SMTP_DOT_LF_DOT_CR : SMTP_DOT_DOT_CR;
			return DOT_STEP_TAKEN;
		}
		if (c == '\n') {
			memcpy(out + *o, ".\r\n", 3);
			*o += 3;
			*st = SMTP_DOT_LF_LINE_START;
			return DOT_STEP_TAKEN;
		}
		*st = SMTP_DOT_MID_LINE;            /* the leading dot goes */
		return DOT_STEP_AGAIN;
	case SMTP_DOT_DOT_CR:
	case SMTP_DOT_LF_DOT_CR:
		if (c == '\n' && !after_lf) {
			*st = SMTP_DOT_LINE_START;
			return DOT_STEP_END;
		}
		if (c == '\n') {
			memcpy(out + *o, ".\r\n", 3);
			*o += 3;
			*st = SMTP_DOT_LINE_START;
			return DOT_STEP_TAKEN;
		}
		*st = SMTP_DOT_CR;                  /* ".<CR>x": the dot goes */
		return DOT_STEP_AGAIN;
	default:
		abort();                            /* not a dot state */
	}
}

static enum dot_step dot_step(enum smtp_dot_state *st, unsigned char c,
			      unsigned char *out, size_t *o)
{
	switch (*st) {
	case SMTP_DOT_LINE_START:
	case SMTP_DOT_LF_LINE_START:
		if (c == '.')
			*st = *st == SMTP_DOT_LINE_START ? SMTP_DOT_DOT : SMTP_DOT_LF_DOT;
		else
			*st = SMTP_DOT_MID_LINE;
		return c == '.' ? DOT_STEP_TAKEN : DOT_STEP_AGAIN;
	case SMTP_DOT_MID_LINE:
		if (c == '\r') {
			*st = SMTP_DOT_CR;
		} else if (c == '\n') {
			/* A bare LF ends a line too; it is stored as CRLF. */
			out[(*o)++] = '\r';
			out[(*o)++] = '\n';
			*st = SMTP_DOT_LF_LINE_START;
		} else {
			out[(*o)++] = c;
		}
		return DOT_STEP_TAKEN;
	case SMTP_DOT_CR:
		out[(*o)++] = '\r';
		if (c == '\n') {
			out[(*o)++] = '\n';
			*st = SMTP_DOT_LINE_START;
		} else if (c != '\r') {
			out[(*o)++] = c;            /* a bare CR is kept */
			*st = SMTP_DOT_MID_LINE;
		}                                   /* "\r\r": this one waits */
		return DOT_STEP_TAKEN;
	default:
		return dot_after_dot(st, c, out, o);
	}
}

bool smtp_dot_decode(enum smtp_dot_state *state, const unsigned char *in,
		     size_t len, size_t *consumed_r, unsigned char *out,
		     size_t out_cap, size_t *out_len_r)
{
	enum smtp_dot_state st = *state;
	size_t i = 0, o = 0;
	bool end = false;

	while (!end && i < len && o + SMTP_DOT_EXPANSION <= out_cap) {
		switch (dot_step(&st, in[i], out, &o)) {
		case DOT_STEP_END:
			end = true;
			/* fall through */
		case DOT_STEP_TAKEN:
			i++;
			break;
		case DOT_STEP_AGAIN:
			break;
		}
	}
	*state = st;
	*consumed_r = i;
	*out_len_r = o;
	return end;
}

/* ---- jobs -------------------------------------------------------------- */

/* Does the message fit every recipient's quota? All or none get it, as
 * one reply answers for all. A usage that cannot be read does not stop
 * delivery (the log says why). */
static bool quota_allows(const struct spool_job *sj, uint64_t size)
{
	const char *error;
	bool ok = true;

	for (size_t i = 0; i < sj->n_rcpts && ok; i++) {
		if (auth_quota_check(sj->rcpts[i], size, 1, &ok, &error) < 0) {
			log_warn("quota of %s: %s", sj->rcpts[i], error);
			ok = true;
		}
	}
	return ok;
}

static void spool_job_work(struct session_job *job)
{
	struct spool_job *sj = (struct spool_job *)job;
	struct spool *sp = &sj->data->spool;
	const char *error = NULL;

	sj->result = 0;
	switch (sj->op) {
	case SPOOL_WRITE:
	case SPOOL_COMMIT:
		/* The first write makes the file (a refused message has none). */
		if (sp->path == NULL && !sj->refuse) {
			sj->result = spool_open(config->data_dir, sp, &error);
			sj->err = errno;
		}
		while (sj->result == 0 && evbuffer_get_length(sj->buf) > 0) {
			struct evbuffer_iovec v;
			evbuffer_peek(sj->buf, -1, NULL, &v, 1);
			sj->result = spool_write(sp, v.iov_base, v.iov_len, &error);
			sj->err = errno;
			evbuffer_drain(sj->buf, v.iov_len);
		}
		if (sj->result == 0 && sj->op == SPOOL_COMMIT && !sj->refuse)
			sj->over_quota = !quota_allows(sj, sp->size);
		/* The data is written, not synced: the group committer (whose
		 * batch runs this for a commit) syncs it with its batch and
		 * queues it for other domains. */
		if (sj->op == SPOOL_COMMIT &&
		    (sj->result < 0 || sj->refuse || sj->over_quota))
			spool_discard(sp);
		break;
	case SPOOL_DISCARD:
		spool_discard(sp);
		break;
	}
	if (error != NULL)
		strlcpy_sp(sj->error, error, sizeof(sj->error));
}

static void spool_job_free(struct spool_job *sj)
{
	if (sj->buf != NULL)
		evbuffer_free(sj->buf);
	for (size_t i = 0; i < sj->n_rcpts; i++)
		free(sj->rcpts[i]);
	free(sj->rcpts);
	smtp_outbound_free(&sj->out);
	free(sj);
}

static void spool_job_done(struct session_job *job, bool live);

static struct spool_job *spool_job_new(struct smtp_session *ss, enum spool_op op)
{
	struct spool_job *sj = xcalloc(1, sizeof(*sj));
	sj->job.work = spool_job_work;
	sj->job.done = spool_job_done;
	sj->op = op;
	sj->ss = ss;
	sj->data = ss->data;
	return sj;
}

static void data_free(struct smtp_data **datap)
{
	struct smtp_data *data = *datap;
	if (data == NULL)
		return;
	evbuffer_free(data->pending);
	x_free(datap);
}

static void discard_work(struct job *job)
{
	spool_job_work((struct session_job *)job);
}

static void discard_done(struct job *job)
{
	struct spool_job *sj = (struct spool_job *)job;
	data_free(&sj->data);
	spool_job_free(sj);
}

/* Close and remove a spool with no session waiting for it: a plain job,
 * the session being gone. */
static void discard_detached(struct smtp_data *data)
{
	struct spool_job *sj = xcalloc(1, sizeof(*sj));
	sj->job.job.work = discard_work;
	sj->job.job.done = discard_done;
	sj->op = SPOOL_DISCARD;
	sj->data = data;
	jobs_submit(&sj->job.job);
}

void smtp_data_free(struct smtp_session *ss)
{
	struct smtp_data *data = ss->data;
	if (data == NULL)
		return;
	ss->data = NULL;
	if (data->spool.path != NULL && !data->job_running)
		discard_detached(data);   /* frees data when done */
	else
		data_free(&data);
}

/* ---- group commit -------------------------------------------------------
 * A message at its end joins the worker's committer (net/jobs.h batches)
 * with its last bytes: a batch writes each message's last bytes (making
 * its spool file if no chunk came before) and checks its recipients'
 * quotas, syncs the spool files of its messages together, links them into
 * their recipients' new/ (and into the outbound queue for other domains,
 * smtp_relay.c) and syncs each folder once (store/deliver.h); then each
 * session gets its 250, or its 451/452 if its part failed. */

/* In the batch: the item's last bytes written and its quotas checked;
 * false (its spool gone, why in sj) when it is not to be committed. */
static bool commit_prepare(struct spool_job *sj, struct deliver_item *di)
{
	spool_job_work(&sj->job);
	if (sj->result == 0 && !sj->over_quota)
		return true;
	di->err = sj->err;
	strlcpy_sp(di->error, sj->error, sizeof(di->error));
	return false;
}

static void commit_batch_work(struct job_batcher *b, struct job **items, size_t n)
{
	struct deliver_item *di = xcalloc(n, sizeof(*di));

	for (size_t i = 0; i < n; i++) {
		struct spool_job *sj = (struct spool_job *)items[i];
		di[i].sp = &sj->data->spool;
		di[i].addresses = sj->rcpts;
		di[i].n_addresses = sj->n_rcpts;
		di[i].result = commit_prepare(sj, &di[i]) ? 0 : -1;
		if (sj->out != NULL)
			smtp_outbound_stage(sj->out, &di[i], config->data_dir);
	}
	deliver_commit_batch(di, n, config->data_dir);
	for (size_t i = 0; i < n; i++) {
		struct spool_job *sj = (struct spool_job *)items[i];
		const char *error = NULL;
		if (sj->out != NULL &&
		    smtp_outbound_staged(sj->out, di[i].result, &error) < 0 &&
		    di[i].result == 0) {
			/* durable, but not shown to the queue process */
			di[i].result = -1;
			di[i].err = errno;
			strlcpy_sp(di[i].error, error, sizeof(di[i].error));
		}
		sj->result = di[i].result;
		sj->err = di[i].err;
		strlcpy_sp(sj->error, di[i].error, sizeof(sj->error));
		spool_discard(&sj->data->spool);
	}
	free(di);
}

static struct job_batcher committer = { .work = commit_batch_work };

static void release_hold(struct smtp_session *ss);
static void data_finish(struct smtp_session *ss, struct spool_job *sj);

static void commit_item_done(struct job *job)
{
	struct spool_job *sj = (struct spool_job *)job;
	struct smtp_session *ss = sj->ss;

	sj->data->job_running = false;
	if (session_live(&ss->s)) {
		data_finish(ss, sj);
	} else {
		/* All the data came, so the message is committed all the same
		 * (a client that retries sends it twice: RFC 1047's duplicate,
		 * which SMTP cannot avoid); the log must say so. */
		if (sj->result == 0)
			session_log(&ss->s, LOG_LEVEL_INFO, "delivered id=%s size=%llu "
				    "(the client left before the reply)", sj->data->id,
				    (unsigned long long)sj->data->size);
		release_hold(ss);
	}
	spool_job_free(sj);
	session_unref(&ss->s);
}

/* sj (a SPOOL_COMMIT with the message's last bytes) joins the next batch.
 * Takes sj. */
static void commit_join(struct spool_job *sj)
{
	sj->job.job.done = commit_item_done;
	session_ref(&sj->ss->s);
	jobs_batch_submit(&committer, &sj->job.job);
}

/* ---- the session side -------------------------------------------------- */

static void add_trace_headers(struct smtp_session *ss, struct smtp_data *data)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	const char *with;
	bool tls = session_is_tls(&ss->s), auth = ss->auth_user != NULL;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* RFC 3848 / RFC 6531 "with" protocol types. */
	if (ss->params.smtputf8)
		with = tls ? (auth ? "UTF8SMTPSA" : "UTF8SMTPS") :
			     (auth ? "UTF8SMTPA" : "UTF8SMTP");
	else if (ss->esmtp)
		with = tls ? (auth ? "ESMTPSA" : "ESMTPS") : (auth ? "ESMTPA" : "ESMTP");
	else
		with = "SMTP";
	evbuffer_add_printf(data->pending, "Return-Path: <%s>\r\n",
			    ss->from.null_path ? "" : ss->from.address);
	data->return_path_len = evbuffer_get_length(data->pending);
	evbuffer_add_printf(data->pending, "Received: from %s ([%s])\r\n"
			    "\tby %s (sealpost) with %s id %s\r\n",
			    ss->helo, ss->s.peer, config->hostname, with, data->id);
	if (tls)
		evbuffer_add_printf(data->pending,
				    "\t(using %s with cipher %s (%d/%d bits))\r\n",
				    session_tls_version(&ss->s),
				    session_tls_cipher(&ss->s),
				    session_tls_bits(&ss->s), session_tls_bits(&ss->s));
	if (ss->n_rcpts + ss->n_remote == 1)
		evbuffer_add_printf(data->pending, "\tfor <%s>; %s\r\n",
				    ss->n_rcpts ? ss->rcpts[0] : ss->remote[0], date);
	else
		evbuffer_add_printf(data->pending, "\t; %s\r\n", date);
}

void smtp_data_begin(struct smtp_session *ss)
{
	struct smtp_data *data = xcalloc(1, sizeof(*data));

	data->pending = evbuffer_new();
	data->dot = SMTP_DOT_LINE_START;
	data->spool.fd = -1;
	snprintf(data->id, sizeof(data->id), "%s.%u", ss->s.id, ++ss->messages);
	ss->data = data;
	add_trace_headers(ss, data);
	smtp_enter_state(ss, SMTP_STATE_DATA);
	session_set_raw(&ss->s, true);
	smtp_reply(ss, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* Hand pending bytes to a write job when worth it (or at the end). */
static void spool_flush(struct smtp_session *ss, bool final)
{
	struct smtp_data *data = ss->data;

	if (data->job_running)
		return;
	if (final) {
		struct spool_job *sj = spool_job_new(ss, SPOOL_COMMIT);
		sj->buf = evbuffer_new();
		sj->refuse = data->too_big || data->failed;
		if (sj->refuse)
			evbuffer_drain(data->pending, evbuffer_get_length(data->pending));
		evbuffer_add_buffer(sj->buf, data->pending);
		sj->rcpts = xcalloc(ss->n_rcpts, sizeof(char *));
		for (size_t i = 0; i < ss->n_rcpts; i++)
			sj->rcpts[i] = xstrdup(ss->rcpts[i]);
		sj->n_rcpts = ss->n_rcpts;
		sj->out = smtp_outbound_take(ss, data->return_path_len);
		data->job_running = true;
		/* In the background of the hold taken at the end of the data:
		 * a refused message only has its spool removed; the others are
		 * written and committed by the committer's next batch. */
		if (sj->refuse)
			session_job_start(&ss->s, &sj->job, SESSION_JOB_BACKGROUND);
		else
			commit_join(sj);
		return;
	}
	if (evbuffer_get_length(data->pending) < SMTP_SPOOL_CHUNK || data->failed)
		return;
	struct spool_job *sj = spool_job_new(ss, SPOOL_WRITE);
	sj->buf = evbuffer_new();
	evbuffer_add_buffer(sj->buf, data->pending);
	data->job_running = true;
	session_job_start(&ss->s, &sj->job, SESSION_JOB_BACKGROUND);
}

/* The hold of the end of the data ends (answered, or nobody to answer). */
static void release_hold(struct smtp_session *ss)
{
	if (ss->data != NULL && ss->data->held) {
		ss->data->held = false;
		session_resume(&ss->s);
	}
}

/* The message is in (or refused): reply, end the transaction. */
static void data_finish(struct smtp_session *ss, struct spool_job *sj)
{
	struct smtp_data *data = ss->data;

	if (data->too_big) {
		smtp_reply(ss, 552, "5.3.4", "Error: message exceeds fixed limit "
			   "of %llu bytes", (unsigned long long)config->max_message_size);
	} else if (sj->over_quota) {
		smtp_reply(ss, 452, "4.2.2", "Error: a recipient's mailbox is full; "
			   "try again later");
	} else if (data->failed || sj->result < 0) {
		int err = data->failed ? data->err : sj->err;
		session_log(&ss->s, LOG_LEVEL_ERROR, "delivery failed id=%s error=\"%s\"",
			    data->id, data->failed ? data->error : sj->error);
		/* RFC 5321 4.2.2 452, RFC 3463 X.3.1: mail system full. */
		if (err == ENOSPC || err == EDQUOT)
			smtp_reply(ss, 452, "4.3.1", "Error: insufficient system storage");
		else
			smtp_reply(ss, 451, "4.3.0", "Error: local delivery failed; "
				   "try again later");
	} else {
		struct buf to = { 0 };
		for (size_t i = 0; i < ss->n_rcpts; i++)
			buf_printf(&to, "%s<%s>", i ? "," : "", ss->rcpts[i]);
		if (ss->n_rcpts > 0)
			session_log(&ss->s, LOG_LEVEL_INFO, "delivered id=%s from=<%s> "
				    "to=%s size=%llu", data->id,
				    ss->from.null_path ? "" : ss->from.address,
				    to.data, (unsigned long long)data->size);
		if (sj->out != NULL)
			smtp_outbound_log(ss, sj->out, data->id, data->size);
		buf_free(&to);
		smtp_reply(ss, 250, "2.0.0", "Ok: queued as %s", data->id);
	}
	release_hold(ss);
	data_free(&ss->data);
	smtp_reset_transaction(ss);
}

static void spool_job_done(struct session_job *job, bool live)
{
	struct spool_job *sj = (struct spool_job *)job;
	struct smtp_session *ss = sj->ss;
	struct smtp_data *data = sj->data;

	data->job_running = false;
	if (sj->result < 0 && sj->op != SPOOL_COMMIT && !data->failed) {
		data->failed = true;
		data->err = sj->err;
		strlcpy_sp(data->error, sj->error, sizeof(data->error));
	}
	if (!live) {
		/* Client gone: nobody gets an answer; drop the spool (a
		 * commit that waited for this write will never run). */
		release_hold(ss);
		if (sj->op != SPOOL_COMMIT)
			smtp_data_free(ss);
	} else if (sj->op == SPOOL_COMMIT) {
		data_finish(ss, sj);
	} else if (data->ended) {
		spool_flush(ss, true);
	} else {
		session_kick(&ss->s);               /* we may have held back input */
	}
	spool_job_free(sj);
}

void smtp_data_input(struct smtp_session *ss, struct evbuffer *in)
{
	struct smtp_data *data = ss->data;
	unsigned char out[SMTP_DECODE_STEP * SMTP_DOT_EXPANSION];

	while (evbuffer_get_length(in) > 0 && !data->ended) {
		/* A refused message is read to its end and dropped: what waits
		 * for the disk goes too (no write job would take it, and a full
		 * buffer would stop the input for good). */
		if (data->failed || data->too_big)
			evbuffer_drain(data->pending, evbuffer_get_length(data->pending));
		spool_flush(ss, false);
		/* Flow control: stop taking input while the disk is behind;
		 * the write job's completion kicks us again. */
		if (evbuffer_get_length(data->pending) >= SMTP_DATA_BUFFER_MAX)
			return;
		struct evbuffer_iovec v;
		evbuffer_peek(in, SMTP_DECODE_STEP, NULL, &v, 1);
		size_t n = v.iov_len < SMTP_DECODE_STEP ? v.iov_len : SMTP_DECODE_STEP;
		size_t used, produced;
		data->ended = smtp_dot_decode(&data->dot, v.iov_base, n, &used, out,
					      sizeof(out), &produced);
		evbuffer_drain(in, used);
		data->size += produced;
		if (data->size > config->max_message_size)
			data->too_big = true;
		if (!data->too_big && !data->failed)
			evbuffer_add(data->pending, out, produced);
	}
	if (!data->ended)
		return;
	/* Commands pipelined after the data wait until the commit answers. */
	session_set_raw(&ss->s, false);
	session_suspend(&ss->s);
	data->held = true;
	spool_flush(ss, true);
}
