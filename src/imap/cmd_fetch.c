/* cmd_fetch.c — FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8, 7.4.2).
 *
 * The answer is built in batches by jobs: a job renders the next messages'
 * "* n FETCH (...)" responses into memory (small body sections are read
 * there too) until IMAP_FETCH_BATCH_BYTES, then the loop sends them and
 * starts the next job once the client has read most of it. A message with
 * a large body section ends its batch: its response continues as a list of
 * segments (text, then file ranges) streamed from the file in chunks
 * (net/filestream.h), so no large message is ever held in memory. BODY[]
 * and RFC822 (not .PEEK, not RFC822.HEADER) set \Seen in a read-write
 * mailbox (for the next messages of the set at once: one store, one
 * mod-sequence) and the response then carries the new FLAGS.
 *
 * CONDSTORE and QRESYNC (RFC 7162, imap_modseq.h): the MODSEQ item,
 * MODSEQ beside FLAGS once enabled, CHANGEDSINCE (only messages changed
 * since), and VANISHED (the expunged UIDs of the set first, as VANISHED
 * (EARLIER)); SELECT (QRESYNC ...) runs as such a UID FETCH. */
#include "imap/imap_binary.h"
#include "imap/imap_date.h"
#include "imap/imap_fetch_attr.h"
#include "imap/imap_mailbox.h"
#include "imap/imap_modseq.h"
#include "imap/imap_msg.h"
#include "imap/imap_util.h"
#include "imap/mime_render.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Body sections up to this size are read by the job and sent from memory;
 * larger ones are streamed from the file. */
#define IMAP_FETCH_INLINE_MAX (64 * 1024)
/* Response bytes one job builds before they are sent: bounds the memory a
 * session holds for a FETCH of many messages. */
#define IMAP_FETCH_BATCH_BYTES (256 * 1024)
/* Messages given \Seen by one store ahead of their responses: one fsync of
 * the uidlist for many, without marking far more than is being sent. */
#define IMAP_FETCH_SEEN_BATCH 64

/* A piece of the streamed part of a response: text in seg_data, or a range
 * of the message file. */
struct piece {
	bool is_text;
	struct fstream_segment seg;     /* text: offset into seg_data */
};

struct fetch {
	struct session_job job;         /* one batch at a time */
	struct imap_session *is;
	struct imap_fetch_attrs attrs;
	struct imap_seqset set;
	bool uid_cmd;                   /* UID FETCH */
	struct imap_fetch_mods mods;    /* CHANGEDSINCE, VANISHED */
	struct imap_seqset vanished_set;        /* UIDs VANISHED asks about */
	bool vanished_done;             /* VANISHED (EARLIER) was rendered */
	struct imap_qresync_params q;   /* SELECT (QRESYNC ...) */
	const char *ok_code;            /* the tagged OK */
	char ok_text[64];
	bool set_seen;
	bool *seen_now;                 /* per view message: \Seen set now */
	size_t seen_upto;               /* \Seen looked at up to here */
	bool has_binary;                /* a BINARY item (RFC 3516) */
	enum imap_msg_need need;
	size_t next;                    /* the view message to look at next */
	bool some_expunged;
	bool unknown_cte;               /* a BINARY part we cannot decode */
	bool failed;
	char error[256];
	size_t n_msgs, n_parsed, n_cached;      /* for the log line */
	uint64_t n_streamed;

	/* the batch of the job under way */
	struct buf text;                /* sent first */
	bool streaming;                 /* then this message's pieces: */
	int stream_fd;
	struct piece *pieces;
	size_t n_pieces;
	struct buf seg_data;
};

/* Close the scratch files of BINARY pieces not handed to a stream. */
static void drop_pieces(struct fetch *f)
{
	for (size_t i = 0; i < f->n_pieces; i++) {
		if (!f->pieces[i].is_text && f->pieces[i].seg.fd >= 0)
			close(f->pieces[i].seg.fd);
	}
	f->n_pieces = 0;
}

static void fetch_free(struct fetch *f)
{
	drop_pieces(f);
	imap_fetch_attrs_free(&f->attrs);
	imap_seqset_free(&f->set);
	imap_seqset_free(&f->vanished_set);
	imap_select_params_free(&(struct imap_select_params){ .q = f->q });
	free(f->seen_now);
	buf_free(&f->text);
	buf_free(&f->seg_data);
	free(f->pieces);
	if (f->stream_fd >= 0)
		close(f->stream_fd);
	free(f);
}

/* ---- building the response (pool thread) ------------------------------- */

static void out_text(struct fetch *f, const void *data, size_t len)
{
	if (!f->streaming) {
		buf_append(&f->text, data, len);
		return;
	}
	struct piece *last = f->n_pieces > 0 ? &f->pieces[f->n_pieces - 1] : NULL;
	if (last == NULL || !last->is_text) {
		f->pieces = xrealloc(f->pieces, (f->n_pieces + 1) * sizeof(*f->pieces));
		last = &f->pieces[f->n_pieces++];
		memset(last, 0, sizeof(*last));
		last->is_text = true;
		last->seg.offset = f->seg_data.len;
	}
	buf_append(&f->seg_data, data, len);
	last->seg.length += len;
}

static void out_buf(struct fetch *f, const struct buf *b)
{
	out_text(f, b->data, b->len);
}

static void out_str(struct fetch *f, const char *s)
{
	out_text(f, s, strlen(s));
}

static int fail(struct fetch *f, const char *error)
{
	f->failed = true;
	strlcpy_sp(f->error, error, sizeof(f->error));
	return -1;
}

/* Read the section's bytes into the response. */
static int section_inline(struct fetch *f, struct imap_msg *msg,
			  const struct mime_body_result *res)
{
	char *tmp = xmalloc(res->size + 1);
	size_t pos = 0;
	const char *error;

	for (size_t i = 0; i < res->n_segs; i++) {
		const struct mime_segment *s = &res->segs[i];
		if (s->data != NULL) {
			memcpy(tmp + pos, s->data, (size_t)s->size);
		} else {
			ssize_t n = mime_read_full(&msg->reader, tmp + pos, (size_t)s->size,
						   s->offset, &error);
			if (n < 0 || (uint64_t)n != s->size) {
				free(tmp);
				return fail(f, n < 0 ? error : "message file shorter than its size");
			}
		}
		pos += (size_t)s->size;
	}
	out_text(f, tmp, pos);
	free(tmp);
	return 0;
}

/* Send the section from the file: the rest of this response is streamed. */
static int section_stream(struct fetch *f, struct imap_msg *msg,
			  const struct mime_body_result *res)
{
	struct fstream_segment *segs = NULL;
	size_t n = 0;
	const char *error;

	f->streaming = true;
	if (f->stream_fd < 0) {
		f->stream_fd = dup(msg->fd);
		if (f->stream_fd < 0)
			return fail(f, errfmt("dup: %s", strerror(errno)));
	}
	if (imap_msg_segments(msg, res, &segs, &n, &error) < 0) {
		free(segs);
		return fail(f, error);
	}
	for (size_t i = 0; i < n; i++) {
		if (segs[i].data != NULL) {
			out_text(f, segs[i].data, (size_t)segs[i].length);
			continue;
		}
		f->n_streamed += segs[i].length;
		f->pieces = xrealloc(f->pieces, (f->n_pieces + 1) * sizeof(*f->pieces));
		f->pieces[f->n_pieces].is_text = false;
		f->pieces[f->n_pieces++].seg = segs[i];
	}
	free(segs);
	return 0;
}

/* The section's bytes as a literal after the item's name (written by
 * the caller); literal8 ("~{n}", RFC 3516) when binary. */
static int render_section_as(struct fetch *f, struct imap_msg *msg,
			     const struct imap_fetch_item *it, bool binary)
{
	struct mime_body_result res;
	const char *error;
	char head[64];

	if (mime_section_resolve(msg->root, &msg->reader, &it->section, it->partial,
				 it->partial_offset, it->partial_size, &res, &error) < 0)
		return fail(f, error);
	if (res.nil) {
		out_str(f, " NIL");
		mime_body_result_free(&res);
		return 0;
	}
	snprintf(head, sizeof(head), " %s{%" PRIu64 "}\r\n", binary ? "~" : "",
		 res.size);
	out_str(f, head);
	int ret;
	if (!f->streaming && res.size <= IMAP_FETCH_INLINE_MAX &&
	    f->text.len + res.size <= IMAP_FETCH_BATCH_BYTES)
		ret = section_inline(f, msg, &res);
	else
		ret = section_stream(f, msg, &res);
	mime_body_result_free(&res);
	return ret;
}

static int render_section(struct fetch *f, struct imap_msg *msg,
			  const struct imap_fetch_item *it)
{
	out_str(f, it->name);
	return render_section_as(f, msg, it, false);
}

/* BINARY of a decoded part: the bytes from memory, or a piece streamed
 * from the scratch file (which the piece then owns). */
static int binary_out(struct fetch *f, struct imap_binary_data *data,
		      const struct imap_fetch_item *it)
{
	uint64_t off = it->partial ? it->partial_offset : 0, n = 0;
	char head[64];

	if (off < data->size)
		n = data->size - off;
	if (it->partial && n > it->partial_size)
		n = it->partial_size;
	snprintf(head, sizeof(head), " %s{%" PRIu64 "}\r\n",
		 data->has_nul ? "~" : "", n);
	out_str(f, head);
	if (data->fd < 0) {
		out_text(f, data->mem.data + off, (size_t)n);
		return 0;
	}
	f->streaming = true;
	f->pieces = xrealloc(f->pieces, (f->n_pieces + 1) * sizeof(*f->pieces));
	struct piece *p = &f->pieces[f->n_pieces++];
	memset(p, 0, sizeof(*p));
	p->seg.fd = data->fd;
	p->seg.offset = off;
	p->seg.length = n;
	f->n_streamed += n;
	data->fd = -1;
	return 0;
}

/* BINARY[part]<partial> and BINARY.SIZE[part] (RFC 3516). */
static int render_binary(struct fetch *f, struct imap_msg *msg,
			 const struct imap_fetch_item *it)
{
	const struct mime_part *part;
	struct imap_binary_data data;
	const char *error;
	char size[32];

	enum imap_binary_kind kind = imap_binary_part(msg->root, &it->section, &part);
	out_str(f, it->name);
	if (kind == IMAP_BINARY_NIL) {
		out_str(f, it->kind == IMAP_FETCH_BINARY_SIZE ? " 0" : " NIL");
		return 0;
	}
	if (kind == IMAP_BINARY_IDENTITY) {
		struct mime_body_result res;
		if (mime_section_resolve(msg->root, &msg->reader, &it->section, false, 0,
					 0, &res, &error) < 0)
			return fail(f, error);
		if (it->kind == IMAP_FETCH_BINARY_SIZE) {
			snprintf(size, sizeof(size), " %" PRIu64, res.size);
			out_str(f, size);
			mime_body_result_free(&res);
			return 0;
		}
		mime_body_result_free(&res);
		return render_section_as(f, msg, it, (msg->root->flags & MIME_PART_HAS_NUL) != 0);
	}
	/* DECODE (UNKNOWN-CTE messages were left out before) */
	char *spool = fs_join(maildir_folder_path(f->is->sel->folder), "tmp");
	int ret = imap_binary_decode(&msg->reader, part, it->kind == IMAP_FETCH_BINARY,
				     spool, &data, &error);
	free(spool);
	if (ret < 0)
		return fail(f, error);
	if (it->kind == IMAP_FETCH_BINARY_SIZE) {
		snprintf(size, sizeof(size), " %" PRIu64, data.size);
		out_str(f, size);
	} else {
		binary_out(f, &data, it);
	}
	imap_binary_data_free(&data);
	return 0;
}

/* Does any BINARY item of the FETCH name a part we cannot decode? */
static bool unknown_cte(const struct fetch *f, const struct imap_msg *msg)
{
	const struct mime_part *part;

	for (size_t k = 0; k < f->attrs.count; k++) {
		const struct imap_fetch_item *it = &f->attrs.items[k];
		if ((it->kind == IMAP_FETCH_BINARY || it->kind == IMAP_FETCH_BINARY_SIZE) &&
		    imap_binary_part(msg->root, &it->section, &part) == IMAP_BINARY_UNKNOWN_CTE)
			return true;
	}
	return false;
}

/* FLAGS as they are now; the client is told, so the view remembers. */
static void render_flags(struct fetch *f, struct imap_view_msg *m)
{
	struct imap_mailbox *mb = f->is->sel;
	struct buf b = { 0 };
	uint32_t flags, keywords;

	imap_view_msg_current(mb, m, &flags, &keywords);
	m->flags = flags;
	m->keywords = keywords;
	buf_append(&b, "FLAGS ", 6);
	imap_mailbox_append_flags(mb, &b, flags, keywords);
	/* RFC 7162 3.1: MODSEQ with every FLAGS once CONDSTORE is on. */
	if (f->is->condstore && !f->mods.modseq_item)
		imap_modseq_append(&b, m);
	out_buf(f, &b);
	buf_free(&b);
}

static int render_item(struct fetch *f, struct imap_view_msg *m, struct imap_msg *msg,
		       const struct imap_fetch_item *it)
{
	struct buf b = { 0 };
	char date[IMAP_DATETIME_LEN + 1];
	const char *error = NULL;
	int ret = 0;

	switch (it->kind) {
	case IMAP_FETCH_FLAGS:
		render_flags(f, m);
		return 0;
	case IMAP_FETCH_UID:
		buf_printf(&b, "UID %" PRIu32, m->uid);
		break;
	case IMAP_FETCH_MODSEQ:
		m->modseq = imap_view_msg_modseq(m);
		buf_printf(&b, "MODSEQ (%" PRIu64 ")", m->modseq);
		break;
	case IMAP_FETCH_INTERNALDATE:
		imap_datetime_format(m->internal_date, 0, date);
		buf_printf(&b, "INTERNALDATE \"%s\"", date);
		break;
	case IMAP_FETCH_RFC822_SIZE:
		buf_printf(&b, "RFC822.SIZE %" PRIu64, m->size);
		break;
	case IMAP_FETCH_ENVELOPE:
		buf_append(&b, "ENVELOPE ", 9);
		ret = mime_render_envelope(msg->root, &msg->reader, &b, &error);
		break;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		buf_printf(&b, "%s ", it->name);
		ret = mime_render_bodystructure(msg->root, &msg->reader,
						it->kind == IMAP_FETCH_BODYSTRUCTURE, &b, &error);
		break;
	case IMAP_FETCH_SECTION:
		return render_section(f, msg, it);
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return render_binary(f, msg, it);
	}
	if (ret < 0)
		fail(f, error);
	else
		out_buf(f, &b);
	buf_free(&b);
	return ret;
}

/* Is view message i one this FETCH answers? An expunged UID is simply no
 * longer there (RFC 3501 6.4.8); CHANGEDSINCE leaves out the unchanged
 * (RFC 7162 3.1.4.1). */
static bool wanted(const struct fetch *f, size_t i)
{
	const struct imap_mailbox *mb = f->is->sel;
	const struct imap_view_msg *m = &mb->msgs[i];

	return imap_mailbox_in_set(mb, &f->set, f->uid_cmd, i) &&
		!(f->uid_cmd && m->msg == NULL) &&
		!(f->mods.changedsince_set &&
		  imap_view_msg_modseq(m) <= f->mods.changedsince);
}

/* \Seen for the body fetches (RFC 3501 6.4.5) of the next messages from
 * f->next that lack it, in one store; f->seen_now[i] tells which got it. */
static int set_seen_ahead(struct fetch *f)
{
	struct imap_mailbox *mb = f->is->sel;
	struct maildir_msg *list[IMAP_FETCH_SEEN_BATCH];
	enum maildir_store_result res[IMAP_FETCH_SEEN_BATCH];
	size_t idx[IMAP_FETCH_SEEN_BATCH], n = 0, i;
	struct maildir_store st = { .op = MAILDIR_FLAGS_ADD,
				    .flags = MAILDIR_FLAG_SEEN };
	const char *error;

	if (!f->set_seen || f->seen_upto > f->next + IMAP_FETCH_SEEN_BATCH / 2)
		return 0;
	for (i = f->seen_upto > f->next ? f->seen_upto : f->next;
	     i < mb->count && n < IMAP_FETCH_SEEN_BATCH; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		if (m->msg == NULL || (m->msg->flags & MAILDIR_FLAG_SEEN) ||
		    !wanted(f, i))
			continue;
		idx[n] = i;
		list[n++] = m->msg;
	}
	f->seen_upto = i;
	if (n == 0)
		return 0;
	if (maildir_msgs_store(mb->folder, list, n, &st, res, &error) < 0)
		return fail(f, error);
	for (size_t k = 0; k < n; k++)
		f->seen_now[idx[k]] = res[k] == MAILDIR_STORE_CHANGED;
	return 0;
}

/* One "* n FETCH (...)" response. A message whose file is gone is left out
 * (RFC 3501 allows it; FETCH then says NO [EXPUNGEISSUED], UID FETCH
 * nothing: that UID no longer exists). */
static int render_msg(struct fetch *f, size_t i)
{
	struct imap_view_msg *m = &f->is->sel->msgs[i];
	struct imap_msg msg = { .fd = -1 };
	bool seen_now = false, flags_asked = false;
	const char *error = NULL;
	char head[48];
	size_t start = f->text.len;

	if (f->seen_now != NULL)
		seen_now = f->seen_now[i];
	if (f->need != IMAP_MSG_NEED_NOTHING &&
	    imap_msg_open(f->is->sel, m, f->need, &msg, &error) < 0) {
		int err = errno;
		imap_msg_close(&msg);
		if (err == ENOENT) {
			f->some_expunged |= !f->uid_cmd;
			return 0;
		}
		return fail(f, error);
	}
	if (f->has_binary && unknown_cte(f, &msg)) {
		/* RFC 3516 4.1: NO [UNKNOWN-CTE]; the message is left out */
		imap_msg_close(&msg);
		f->unknown_cte = true;
		return 0;
	}
	f->n_msgs++;
	f->n_parsed += msg.parsed;
	f->n_cached += msg.from_cache;
	snprintf(head, sizeof(head), "* %zu FETCH (", i + 1);
	out_str(f, head);
	for (size_t k = 0; k < f->attrs.count && !f->failed; k++) {
		if (k > 0)
			out_str(f, " ");
		flags_asked |= f->attrs.items[k].kind == IMAP_FETCH_FLAGS;
		render_item(f, m, &msg, &f->attrs.items[k]);
	}
	if (seen_now && !flags_asked) {
		out_str(f, " ");
		render_flags(f, m);
	}
	out_str(f, ")\r\n");
	imap_msg_close(&msg);
	if (!f->failed)
		return 0;
	/* Never send half a response: the earlier ones and the NO. */
	f->text.len = start;
	if (f->streaming) {
		if (f->stream_fd >= 0)
			close(f->stream_fd);
		f->stream_fd = -1;
		f->streaming = false;
		drop_pieces(f);
		f->seg_data.len = 0;
	}
	return -1;
}

/* VANISHED (EARLIER) before any FETCH response (RFC 7162 3.2.6). */
static int render_vanished(struct fetch *f)
{
	struct imap_seqset gone;
	const char *error;

	if (imap_qresync_vanished(f->is->sel, f->mods.changedsince, &f->vanished_set,
				  f->mods.q, &gone, &error) < 0)
		return fail(f, error);
	struct buf b = { 0 };
	imap_vanished_append(&b, &gone, true);
	if (b.len > 0)
		out_buf(f, &b);
	buf_free(&b);
	imap_seqset_free(&gone);
	return 0;
}

static void fetch_work(struct session_job *job)
{
	struct fetch *f = (struct fetch *)job;
	struct imap_mailbox *mb = f->is->sel;

	f->text.len = 0;
	if (f->mods.vanished && !f->vanished_done) {
		f->vanished_done = true;
		if (render_vanished(f) < 0)
			return;
	}
	while (f->next < mb->count && !f->failed && !f->streaming &&
	       f->text.len < IMAP_FETCH_BATCH_BYTES) {
		if (set_seen_ahead(f) < 0)
			break;
		size_t i = f->next++;
		if (wanted(f, i))
			render_msg(f, i);
	}
}

/* ---- sending (loop) ------------------------------------------------------- */

static void fetch_continue(struct fetch *f);

static void fetch_finish(struct fetch *f)
{
	struct imap_session *is = f->is;

	session_log(&is->s, LOG_LEVEL_DEBUG, "fetch messages=%zu parsed=%zu cached=%zu "
		    "streamed=%" PRIu64, f->n_msgs, f->n_parsed, f->n_cached, f->n_streamed);
	if (f->failed) {
		session_log(&is->s, LOG_LEVEL_ERROR, "fetch error=\"%s\"", f->error);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else if (f->unknown_cte) {
		imap_command_done(is, "NO", "UNKNOWN-CTE", "Unknown Content-Transfer-"
				  "Encoding: cannot decode a requested part");
	} else if (f->some_expunged) {
		imap_command_done(is, "NO", "EXPUNGEISSUED",
				  "Some of the requested messages no longer exist");
	} else {
		imap_command_done(is, "OK", f->ok_code, "%s", f->ok_text);
	}
	fetch_free(f);
	session_resume(&is->s);
}

/* The session is gone or its output broke: give up silently. */
static void fetch_abort(struct fetch *f)
{
	struct imap_session *is = f->is;
	fetch_free(f);
	session_resume(&is->s);
}

static void stream_done(struct session *s, void *ctx, bool ok)
{
	struct fetch *f = ctx;

	if (!ok) {
		/* The literal was cut short: the client cannot resync. */
		session_close(s);
		fetch_abort(f);
		return;
	}
	fetch_continue(f);
}

/* Hand the streamed part of the batch to the file stream. */
static void start_stream(struct fetch *f)
{
	struct fstream_segment *segs = xcalloc(f->n_pieces + 1, sizeof(*segs));
	size_t n = f->n_pieces;
	int fd = f->stream_fd;

	for (size_t i = 0; i < n; i++) {
		segs[i] = f->pieces[i].seg;
		if (f->pieces[i].is_text)
			segs[i].data = f->seg_data.data + f->pieces[i].seg.offset;
	}
	/* The stream copies the segments and their text at once; the next
	 * batch may reuse the buffers. */
	f->stream_fd = -1;
	f->streaming = false;
	f->n_pieces = 0;
	f->seg_data.len = 0;
	fstream_start_segments(&f->is->s, fd, segs, n, stream_done, f);
	free(segs);
}

static void fetch_done(struct session_job *job, bool live)
{
	struct fetch *f = (struct fetch *)job;
	struct imap_session *is = f->is;

	if (!live) {
		fetch_abort(f);
		return;
	}
	session_write(&is->s, f->text.data, f->text.len);
	if (f->streaming)
		start_stream(f);
	else
		fetch_continue(f);
}

static void fetch_drained(struct imap_session *is, void *ctx)
{
	struct fetch *f = ctx;

	if (is->s.closing)
		fetch_abort(f);
	else
		fetch_continue(f);
}

static void fetch_continue(struct fetch *f)
{
	struct imap_session *is = f->is;

	/* (VANISHED is answered even when no message is left.) */
	if ((f->next >= is->sel->count && (!f->mods.vanished || f->vanished_done)) ||
	    f->failed) {
		fetch_finish(f);
		return;
	}
	if (session_output_len(&is->s) >= FSTREAM_OUTPUT_HIGH) {
		is->drained = fetch_drained;
		is->drained_ctx = f;
		return;
	}
	/* Batches run in the background of the hold of the whole FETCH. */
	f->job.work = fetch_work;
	f->job.done = fetch_done;
	session_job_start(&is->s, &f->job, SESSION_JOB_BACKGROUND);
}

/* ---- the command ------------------------------------------------------------ */

/* What the items need to read of each message. */
static enum imap_msg_need items_need(const struct imap_fetch_attrs *attrs)
{
	enum imap_msg_need need = IMAP_MSG_NEED_NOTHING, n;

	for (size_t i = 0; i < attrs->count; i++) {
		const struct imap_fetch_item *it = &attrs->items[i];
		switch (it->kind) {
		case IMAP_FETCH_BODY:
		case IMAP_FETCH_BODYSTRUCTURE:
			n = IMAP_MSG_NEED_TREE;
			break;
		case IMAP_FETCH_ENVELOPE:
			n = IMAP_MSG_NEED_HEADER;
			break;
		case IMAP_FETCH_SECTION:
			n = it->section.n_part > 0 ? IMAP_MSG_NEED_TREE :
				it->section.text != MIME_SECTION_ALL ?
				IMAP_MSG_NEED_HEADER : IMAP_MSG_NEED_FILE;
			break;
		case IMAP_FETCH_BINARY:
		case IMAP_FETCH_BINARY_SIZE:
			/* the parts' encodings, and whether the file holds NULs
			 * (a literal8 then, RFC 3516 4.3) */
			n = IMAP_MSG_NEED_TREE;
			break;
		default:
			n = IMAP_MSG_NEED_NOTHING;
		}
		if (n > need)
			need = n;
	}
	return need;
}

static bool has_item(const struct imap_fetch_attrs *attrs, enum imap_fetch_kind kind)
{
	for (size_t i = 0; i < attrs->count; i++) {
		if (attrs->items[i].kind == kind)
			return true;
	}
	return false;
}

/* Add an item the client did not ask for: first (UID) or last. */
static void add_item(struct imap_fetch_attrs *attrs, enum imap_fetch_kind kind,
		     const char *name, bool first)
{
	if (has_item(attrs, kind))
		return;
	attrs->items = xrealloc(attrs->items, (attrs->count + 1) * sizeof(*attrs->items));
	size_t at = first ? 0 : attrs->count;
	memmove(attrs->items + at + 1, attrs->items + at,
		(attrs->count - at) * sizeof(*attrs->items));
	memset(&attrs->items[at], 0, sizeof(attrs->items[at]));
	attrs->items[at].kind = kind;
	attrs->items[at].name = xstrdup(name);
	attrs->count++;
}

/* Set up and send the answer (the session is held until the tagged
 * reply: fetch_finish, fetch_abort). */
static void fetch_start(struct imap_session *is, struct fetch *f)
{
	f->is = is;
	/* RFC 3501 6.4.8: UID FETCH answers carry UID even when not asked;
	 * RFC 7162 3.1.4.1: CHANGEDSINCE adds MODSEQ. */
	if (f->uid_cmd)
		add_item(&f->attrs, IMAP_FETCH_UID, "UID", true);
	if (f->mods.changedsince_set)
		add_item(&f->attrs, IMAP_FETCH_MODSEQ, "MODSEQ", false);
	f->mods.modseq_item = has_item(&f->attrs, IMAP_FETCH_MODSEQ);
	if (f->mods.modseq_item)
		imap_condstore_enable(is);
	f->set_seen = f->attrs.sets_seen && !is->sel->read_only;
	if (f->set_seen)
		f->seen_now = xcalloc(is->sel->count + 1, sizeof(*f->seen_now));
	f->need = items_need(&f->attrs);
	for (size_t i = 0; i < f->attrs.count; i++)
		f->has_binary |= f->attrs.items[i].kind == IMAP_FETCH_BINARY ||
			f->attrs.items[i].kind == IMAP_FETCH_BINARY_SIZE;
	if (f->ok_text[0] == '\0')
		strlcpy_sp(f->ok_text, "Fetch completed", sizeof(f->ok_text));
	session_suspend(&is->s);
	fetch_continue(f);
}

/* The UIDs a UID FETCH ... VANISHED asks about: its set, and for one that
 * says "*", everything up to UIDNEXT (the last messages may be gone). */
static void vanished_set(struct fetch *f, const struct imap_arg *arg)
{
	const struct imap_mailbox *mb = f->is->sel;
	const char *s;
	bool star = imap_arg_get_atom(arg, &s) && strchr(s, '*') != NULL;

	for (size_t i = 0; i < f->set.count; i++)
		imap_seqset_add(&f->vanished_set, f->set.ranges[i].lo,
				f->set.ranges[i].hi);
	if (star && mb->uidnext > 1) {
		uint32_t from = f->set.count > 0 ? f->set.ranges[f->set.count - 1].lo : 1;
		imap_seqset_add(&f->vanished_set, from, mb->uidnext - 1);
	}
	imap_seqset_resolve(&f->vanished_set, 0);
}

void cmd_fetch(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	const char *error;

	f->stream_fd = -1;
	f->is = is;
	if (n < 2 || n > 3) {
		fetch_free(f);
		imap_command_bad(is, "Syntax: FETCH sequence-set items [(modifiers)]");
		return;
	}
	if (imap_mailbox_msgset(is->sel, &args[0], is->uid, &f->set, &error) < 0 ||
	    imap_fetch_attrs_parse(args + 1, 1, &f->attrs, &error) < 0 ||
	    (n == 3 && imap_fetch_mods_parse(is, &args[2], &f->mods, &error) < 0)) {
		fetch_free(f);
		imap_command_bad(is, "%s", error);
		return;
	}
	f->uid_cmd = is->uid;
	if (f->mods.vanished)
		vanished_set(f, &args[0]);
	fetch_start(is, f);
}

void imap_fetch_qresync(struct imap_session *is, struct imap_select_params *p,
			const char *code, const char *text)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	struct imap_mailbox *mb = is->sel;

	f->stream_fd = -1;
	f->is = is;
	f->q = p->q;
	memset(&p->q, 0, sizeof(p->q));
	f->uid_cmd = true;
	f->ok_code = code;
	strlcpy_sp(f->ok_text, text, sizeof(f->ok_text));
	f->mods.changedsince_set = true;
	f->mods.changedsince = f->q.modseq;
	f->mods.vanished = true;
	f->mods.q = &f->q;
	if (f->q.has_known_uids) {
		for (size_t i = 0; i < f->q.known_uids.count; i++) {
			const struct imap_seq_range *r = &f->q.known_uids.ranges[i];
			imap_seqset_add(&f->set, r->lo, r->hi);
			imap_seqset_add(&f->vanished_set, r->lo, r->hi);
		}
	} else if (mb->uidnext > 1) {
		imap_seqset_add(&f->set, 1, mb->uidnext - 1);
		imap_seqset_add(&f->vanished_set, 1, mb->uidnext - 1);
	}
	imap_seqset_resolve(&f->set, 0);
	imap_seqset_resolve(&f->vanished_set, 0);
	add_item(&f->attrs, IMAP_FETCH_FLAGS, "FLAGS", false);
	fetch_start(is, f);
}
