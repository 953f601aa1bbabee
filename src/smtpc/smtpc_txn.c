/* smtpc_txn.c — one mail transaction: MAIL, RCPT, DATA (grouped when the
 * server offers PIPELINING, RFC 2920 3.1, one by one otherwise), the
 * message read from its file by pool jobs and dot-stuffed (RFC 5321
 * 4.5.2), the final reply. */
#include "smtpc/smtpc_private.h"
#include "net/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void push(struct smtpc *c, enum smtpc_cmd cmd)
{
	assert(c->n_pending < SMTPC_PENDING_MAX);
	c->pending[c->n_pending++] = cmd;
}

static void send_mail(struct smtpc *c)
{
	const struct smtpc_txn *t = c->txn;
	char params[SMTPC_MAIL_PARAMS_MAX] = "";
	size_t n = 0;

	/* RFC 1870 6, RFC 6152 3, RFC 6531 3.4: only what the server offers. */
	if (c->ext & SMTPC_EXT_SIZE)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%" PRIu64,
				      t->size);
	if (t->body_8bit && (c->ext & SMTPC_EXT_8BITMIME))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if (t->smtputf8 && (c->ext & SMTPC_EXT_SMTPUTF8))
		snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	smtpc_command(c, "MAIL FROM:<%s>%s", t->from, params);
	push(c, SMTPC_CMD_MAIL);
}

static void send_rcpt(struct smtpc *c)
{
	smtpc_command(c, "RCPT TO:<%s>", c->txn->rcpts[c->rcpt_sent++]);
	push(c, SMTPC_CMD_RCPT);
}

/* RFC 5321 4.5.3.2.4: the reply to DATA is waited for 2 minutes, not the
 * 5 of MAIL and RCPT: the timeout changes once it is the next reply. */
static void expect_next(struct smtpc *c)
{
	if (c->n_pending > 0 && c->pending[0] == SMTPC_CMD_DATA && c->conn != NULL)
		conn_set_timeout(c->conn, SMTPC_DATA_INIT_SECS);
}

static void send_data(struct smtpc *c)
{
	smtpc_command(c, "DATA");
	push(c, SMTPC_CMD_DATA);
	expect_next(c);
}

void smtpc_send(struct smtpc *c, struct smtpc_txn *t)
{
	assert(smtpc_usable(c));
	assert(t->n_rcpts > 0 && t->n_rcpts <= SMTPC_RCPTS_MAX);
	c->txn = t;
	t->rcpt = xcalloc(t->n_rcpts, sizeof(*t->rcpt));
	memset(&t->mail, 0, sizeof(t->mail));
	memset(&t->data, 0, sizeof(t->data));
	t->session_failed = false;
	c->n_pending = 0;
	c->rcpt_sent = c->rcpt_replied = c->rcpts_ok = 0;
	c->mail_ok = c->data_refused = false;
	smtpc_enter_state(c, SMTPC_STATE_TXN);
	/* RFC 5321 4.1.1.5: a transaction left open by the last one ends. */
	if (c->need_rset) {
		smtpc_command(c, "RSET");
		push(c, SMTPC_CMD_RSET);
		c->need_rset = false;
	}
	send_mail(c);
	if (c->ext & SMTPC_EXT_PIPELINING) {
		while (c->rcpt_sent < t->n_rcpts)
			send_rcpt(c);
		send_data(c);
	}
}

static void finish(struct smtpc *c)
{
	struct smtpc_txn *t = c->txn;

	c->txn = NULL;
	c->n_pending = 0;
	smtpc_enter_state(c, SMTPC_STATE_READY);
	c->cb->txn_done(c->ctx, c, t);
}

void smtpc_txn_abort(struct smtpc *c, const char *text)
{
	struct smtpc_txn *t = c->txn;

	/* A read job may still use the caller's fd: report when it is back. */
	if (c->reading)
		return;
	c->txn = NULL;
	t->session_failed = true;
	t->data.code = 0;
	strlcpy_sp(t->data.text, text, sizeof(t->data.text));
	c->cb->txn_done(c->ctx, c, t);
}

/* ---- the message ---------------------------------------------------------- */

static void read_next(struct smtpc *c);

static void read_work(struct job *job)
{
	struct smtpc_read *r = (struct smtpc_read *)job;
	size_t have = 0;

	r->err = 0;
	while (have < r->want) {
		ssize_t n = pread(r->fd, r->buf + have, r->want - have,
				  (off_t)(r->offset + have));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0 ? errno : 0;
			break;
		}
		have += (size_t)n;
	}
	r->got = (ssize_t)have;
}

static void read_done(struct job *job)
{
	struct smtpc_read *r = (struct smtpc_read *)job;
	struct smtpc *c = r->c;

	c->reading = false;
	if (c->ending) {
		if (c->txn != NULL)
			smtpc_txn_abort(c, c->end.text);
		smtpc_closed_later(c);
		return;
	}
	if ((size_t)r->got < r->want) {
		/* No dot goes out: the server gets no message. */
		smtpc_fail(c, SMTPC_STAGE_SESSION, false,
			   errfmt("cannot read the queued message: %s",
				  r->err != 0 ? strerror(r->err) : "it is shorter than its envelope says"));
		return;
	}
	unsigned char *out = xmalloc(3 * r->want + 2);
	size_t n = fstream_transform(&c->dot, FSTREAM_DOTSTUFF | FSTREAM_CRLF,
				     r->buf, r->want, out);
	conn_write(c->conn, out, n);
	free(out);
	c->data_offset += r->want;
	c->data_left -= r->want;
	if (c->data_left == 0 || conn_output_len(c->conn) < SMTPC_OUTPUT_HIGH)
		read_next(c);
}

/* Read the next chunk, or end the data with the dot. */
static void read_next(struct smtpc *c)
{
	struct smtpc_read *r;

	if (c->data_left == 0) {
		/* RFC 5321 4.1.1.4: the data ends with CRLF.CRLF. */
		if (c->dot.line_start)
			conn_write(c->conn, ".\r\n", 3);
		else
			conn_write(c->conn, "\r\n.\r\n", 5);
		push(c, SMTPC_CMD_DOT);
		smtpc_enter_state(c, SMTPC_STATE_DOT);
		return;
	}
	if (c->read == NULL)
		c->read = xmalloc(sizeof(*c->read));
	r = c->read;
	r->job.work = read_work;
	r->job.done = read_done;
	r->c = c;
	r->fd = c->txn->fd;
	r->offset = c->data_offset;
	r->want = c->data_left < SMTPC_DATA_CHUNK ? (size_t)c->data_left : SMTPC_DATA_CHUNK;
	c->reading = true;
	jobs_submit(&r->job);
}

void smtpc_txn_drained(struct smtpc *c)
{
	if (!c->reading && !c->ending)
		read_next(c);
}

static void start_data(struct smtpc *c)
{
	smtpc_enter_state(c, SMTPC_STATE_DATA);
	c->data_offset = c->txn->offset;
	c->data_left = c->txn->size;
	fstream_state_init(&c->dot, -1);
	read_next(c);
}

/* ---- replies ------------------------------------------------------------------ */

static void on_rcpt(struct smtpc *c, const struct smtpc_reply *r)
{
	struct smtpc_txn *t = c->txn;

	t->rcpt[c->rcpt_replied++] = *r;
	if (r->code / 100 == 2)
		c->rcpts_ok++;
	if (c->ext & SMTPC_EXT_PIPELINING)
		return;
	if (c->rcpt_replied < t->n_rcpts) {
		send_rcpt(c);
	} else if (c->rcpts_ok > 0) {
		send_data(c);
	} else {
		c->need_rset = true;
		finish(c);
	}
}

static void on_data(struct smtpc *c, const struct smtpc_reply *r)
{
	if (r->code != 354) {
		c->txn->data = *r;
		c->need_rset = c->mail_ok;
		finish(c);
		return;
	}
	if (c->mail_ok && c->rcpts_ok > 0) {
		start_data(c);
		return;
	}
	/* RFC 2920 3.1: DATA accepted with no recipient: an empty message,
	 * ended at once, delivered to nobody. */
	c->data_refused = true;
	conn_write(c->conn, ".\r\n", 3);
	push(c, SMTPC_CMD_DOT);
	smtpc_enter_state(c, SMTPC_STATE_DOT);
}

void smtpc_txn_reply(struct smtpc *c, const struct smtpc_reply *r)
{
	struct smtpc_txn *t = c->txn;

	if (t == NULL || c->n_pending == 0) {
		smtpc_fail(c, SMTPC_STAGE_SESSION, false,
			   errfmt("unexpected reply: %s", r->text));
		return;
	}
	enum smtpc_cmd cmd = c->pending[0];
	memmove(c->pending, c->pending + 1, --c->n_pending * sizeof(c->pending[0]));
	expect_next(c);
	switch (cmd) {
	case SMTPC_CMD_RSET:
		return;
	case SMTPC_CMD_MAIL:
		t->mail = *r;
		c->mail_ok = r->code / 100 == 2;
		if (c->ext & SMTPC_EXT_PIPELINING)
			return;
		if (c->mail_ok)
			send_rcpt(c);
		else
			finish(c);
		return;
	case SMTPC_CMD_RCPT:
		on_rcpt(c, r);
		return;
	case SMTPC_CMD_DATA:
		on_data(c, r);
		return;
	case SMTPC_CMD_DOT:
		if (c->data_refused)
			c->need_rset = true;
		else
			t->data = *r;
		finish(c);
		return;
	}
}
