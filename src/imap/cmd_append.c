/* cmd_append.c — APPEND (RFC 3501 6.3.11) with UIDPLUS's APPENDUID
 * (RFC 4315), LITERAL+ (RFC 7888) and MULTIAPPEND (RFC 3502: several
 * messages in one command, all or nothing).
 *
 * Each message is a streamed literal. When the first is announced, the
 * arguments before it are checked and a job opens the folder and a tmp/
 * file; only then is "+" sent (so a missing folder gets NO [TRYCREATE]
 * first, and a message over max_message_size got NO [TOOBIG] from the
 * parser). The bytes then go from the input buffer into `pending`, and
 * from there in chunks to write jobs, one at a time; input stops while
 * IMAP_APPEND_BUFFER_MAX bytes wait for the disk (flow control as in
 * smtp_data.c). When the next message of a MULTIAPPEND is announced, a
 * job writes the rest of the previous one, makes it durable in tmp/
 * (maildir_append_finish) and opens the next file. When the command line
 * is complete a commit job writes the rest and enters every message into
 * cur/ in one step with consecutive UIDs (maildir_append_commit_all). An
 * APPEND that does not complete (bad syntax after a literal, a dropped
 * connection), or any message of it that fails, leaves no file behind. The
 * bytes are stored exactly as sent. */
#include "imap/imap.h"
#include "imap/imap_date.h"
#include "imap/imap_folder.h"
#include "imap/imap_seqset.h"
#include "imap/imap_util.h"
#include "store/maildir.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Message bytes held in memory waiting for the disk; input stops above
 * this (the same bound as SMTP_DATA_BUFFER_MAX). */
#define IMAP_APPEND_BUFFER_MAX (256 * 1024)
/* Bytes handed to one write job: large enough for few jobs, small enough
 * to keep the disk busy while more arrives. */
#define IMAP_APPEND_CHUNK (64 * 1024)
/* Messages in one MULTIAPPEND (RFC 3502 sets no limit): each waits in
 * tmp/ until the command completes; a mailbox import sends a few hundred. */
#define IMAP_MULTIAPPEND_MAX 1000

/* One message of the command. */
struct append_msg {
	unsigned flags;             /* enum maildir_flag */
	char **keywords;            /* NULL-terminated */
	time_t date;                /* 0: now */
	uint64_t size;              /* announced */
	struct maildir_append *ctx; /* its tmp/ file; NULL when none */
};

struct imap_append {
	struct imap_session *is;    /* NULL once cancelled */
	char *user;
	char *root;
	char *mailbox;
	size_t n_args;              /* arguments up to the last literal */
	struct append_msg *msgs;    /* msgs[n_msgs - 1] is being received */
	size_t n_msgs;

	struct maildir_folder *folder;
	int fd;                     /* the current message's file */
	struct evbuffer *pending;   /* received, not yet given to a job */
	bool job_running;           /* a job owns the contexts and fd */
	bool ended;                 /* every byte of the current literal came */
	bool begin_wanted;          /* the next message waits for its file */
	bool commit_wanted;         /* the command is complete */
	bool write_failed;
	bool keywords_full;         /* no keyword letter left (commit) */
	struct imap_store_result r; /* the failed write */
	uint32_t uidvalidity;
	uint32_t *uids;             /* committed */
};

enum append_op { OP_OPEN, OP_BEGIN, OP_WRITE, OP_COMMIT, OP_ABORT };

struct append_job {
	struct session_job job;     /* job.job alone for a detached abort */
	enum append_op op;
	struct imap_append *ap;
	struct evbuffer *buf;       /* OP_BEGIN, OP_WRITE, OP_COMMIT: bytes to write */
	struct imap_store_result r;
};

static const struct imap_literal_sink append_sink;

/* The cancel hook of an APPEND whose command did not complete (parse error
 * after a message, disconnect): its files are removed in a job. */
static void append_cancel(struct imap_session *is);

static struct append_msg *cur_msg(struct imap_append *ap)
{
	return &ap->msgs[ap->n_msgs - 1];
}

/* ---- pool thread ---------------------------------------------------------- */

static int write_buffer(struct imap_append *ap, struct evbuffer *buf,
			const char **error_r)
{
	while (evbuffer_get_length(buf) > 0) {
		struct evbuffer_iovec v;
		evbuffer_peek(buf, -1, NULL, &v, 1);
		if (fs_write_all(ap->fd, v.iov_base, v.iov_len) < 0) {
			*error_r = errfmt("%s: write: %s", ap->mailbox, strerror(errno));
			return -1;
		}
		evbuffer_drain(buf, v.iov_len);
	}
	return 0;
}

/* The keywords of m as letters of the folder (given letters as needed). */
static int keyword_mask(struct imap_append *ap, const struct append_msg *m,
			uint32_t *mask_r, const char **error_r)
{
	unsigned index;

	*mask_r = 0;
	for (char **kw = m->keywords; *kw != NULL; kw++) {
		if (maildir_keyword_index(ap->folder, *kw, true, &index, error_r) < 0) {
			ap->keywords_full = errno == ENOSPC;
			return -1;
		}
		*mask_r |= 1u << index;
	}
	return 0;
}

static void abort_all(struct imap_append *ap)
{
	for (size_t i = 0; i < ap->n_msgs; i++)
		maildir_append_abort(&ap->msgs[i].ctx);
	ap->fd = -1;
}

/* Write what is left of message m (the one ap->fd is open on) and make
 * it durable. */
static int finish_msg(struct imap_append *ap, struct append_msg *m,
		      struct evbuffer *buf, const char **error_r)
{
	if (write_buffer(ap, buf, error_r) < 0 ||
	    maildir_append_finish(m->ctx, m->date, error_r) < 0)
		return -1;
	ap->fd = -1;
	return 0;
}

static int commit(struct imap_append *ap, struct evbuffer *buf,
		  const char **error_r)
{
	size_t n = ap->n_msgs;
	unsigned *flags = xcalloc(n, sizeof(*flags));
	uint32_t *masks = xcalloc(n, sizeof(*masks));
	struct maildir_append **ctxs = xcalloc(n, sizeof(*ctxs));
	int ret = -1, err;

	/* A failed write was answered already (ap->r): only clean up. */
	if (ap->write_failed || finish_msg(ap, cur_msg(ap), buf, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (keyword_mask(ap, &ap->msgs[i], &masks[i], error_r) < 0)
			goto fail;
		flags[i] = ap->msgs[i].flags;
		ctxs[i] = ap->msgs[i].ctx;
	}
	ap->uids = xcalloc(n, sizeof(*ap->uids));
	ret = maildir_append_commit_all(ctxs, n, flags, masks, &ap->uidvalidity,
					ap->uids, error_r);
	for (size_t i = 0; i < n; i++)
		ap->msgs[i].ctx = NULL;         /* freed by commit_all */
	goto out;
fail:
	err = errno;
	abort_all(ap);
	errno = err;
out:
	err = errno;
	free(flags);
	free(masks);
	free(ctxs);
	errno = err;
	return ret;
}

/* RFC 9208: refused before "+" when the messages so far (announced
 * sizes) would not fit the quota. */
static int quota_check(struct imap_append *ap, const char **error_r)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < ap->n_msgs; i++)
		bytes += ap->msgs[i].size;
	return imap_quota_check(ap->user, bytes, ap->n_msgs, error_r);
}

static void append_work(struct session_job *job)
{
	struct append_job *aj = (struct append_job *)job;
	struct imap_append *ap = aj->ap;
	const char *error = NULL;
	int ret = 0;

	switch (aj->op) {
	case OP_OPEN:
		ret = maildir_folder_open(ap->root, ap->mailbox, &ap->folder, &error);
		if (ret == 0)
			ret = quota_check(ap, &error);
		if (ret == 0)
			ret = maildir_append_begin(ap->folder, &cur_msg(ap)->ctx,
						   &ap->fd, &error);
		break;
	case OP_BEGIN:
		/* the previous message is complete: durable in tmp/ */
		if (!ap->write_failed)
			ret = finish_msg(ap, &ap->msgs[ap->n_msgs - 2], aj->buf, &error);
		if (ret == 0 && !ap->write_failed)
			ret = quota_check(ap, &error);
		if (ret == 0 && !ap->write_failed)
			ret = maildir_append_begin(ap->folder, &cur_msg(ap)->ctx,
						   &ap->fd, &error);
		break;
	case OP_WRITE:
		ret = write_buffer(ap, aj->buf, &error);
		break;
	case OP_COMMIT:
		ret = commit(ap, aj->buf, &error);
		break;
	case OP_ABORT:
		abort_all(ap);
		break;
	}
	imap_store_result_set(&aj->r, ret, error);
}

/* ---- event loop ------------------------------------------------------------- */

static void append_free(struct imap_append *ap)
{
	for (size_t i = 0; i < ap->n_msgs; i++)
		strv_free(&ap->msgs[i].keywords);
	free(ap->msgs);
	free(ap->uids);
	maildir_folder_close(&ap->folder);
	if (ap->pending != NULL)
		evbuffer_free(ap->pending);
	free(ap->user);
	free(ap->root);
	free(ap->mailbox);
	free(ap);
}

static void append_job_done(struct session_job *job, bool live);

static void abort_work(struct job *job)
{
	append_work((struct session_job *)job);
}

static void abort_done(struct job *job)
{
	struct append_job *aj = (struct append_job *)job;
	append_free(aj->ap);
	free(aj);
}

static bool any_file(const struct imap_append *ap)
{
	for (size_t i = 0; i < ap->n_msgs; i++) {
		if (ap->msgs[i].ctx != NULL)
			return true;
	}
	return false;
}

/* OP_OPEN runs exclusively (no "+" before it answers); OP_BEGIN in the
 * background of the hold cmd_append_literal() took (it may have to wait
 * for a write job first); OP_WRITE in the background of the literal;
 * OP_COMMIT in the background of the hold cmd_append() took; OP_ABORT is
 * a plain job: no session waits for it. */
static void submit(struct imap_append *ap, enum append_op op)
{
	struct append_job *aj = xcalloc(1, sizeof(*aj));

	aj->job.work = append_work;
	aj->job.done = append_job_done;
	aj->op = op;
	aj->ap = ap;
	if (op == OP_WRITE || op == OP_COMMIT || op == OP_BEGIN) {
		aj->buf = evbuffer_new();
		evbuffer_add_buffer(aj->buf, ap->pending);
	}
	ap->job_running = true;
	if (op == OP_ABORT) {
		aj->job.job.work = abort_work;
		aj->job.job.done = abort_done;
		jobs_submit(&aj->job.job);
		return;
	}
	session_job_start(&ap->is->s, &aj->job, op == OP_OPEN ?
			  SESSION_JOB_EXCLUSIVE : SESSION_JOB_BACKGROUND);
}

/* Remove the tmp/ files (if any) and free ap, with no session involved. */
static void discard(struct imap_append *ap)
{
	ap->is = NULL;
	if (any_file(ap))
		submit(ap, OP_ABORT);
	else
		append_free(ap);
}

/* Hand pending bytes to the disk when worth it; the next message's file
 * once the previous is written; commit once complete. */
static void flush(struct imap_append *ap)
{
	size_t have = evbuffer_get_length(ap->pending);

	if (ap->job_running)
		return;
	if (ap->begin_wanted) {
		submit(ap, OP_BEGIN);
		return;
	}
	if (ap->commit_wanted) {
		/* The session is held until the answer (cmd_append()). */
		submit(ap, OP_COMMIT);
		return;
	}
	if (ap->write_failed || have == 0 || (have < IMAP_APPEND_CHUNK && !ap->ended))
		return;
	submit(ap, OP_WRITE);
}

static void reply_commit(struct imap_session *is, struct imap_append *ap,
			 const struct imap_store_result *r)
{
	if (r->ret < 0 && ap->keywords_full) {
		imap_command_done(is, "NO", "LIMIT", "No room for more keywords in %s "
				  "(Maildir has 26)", ap->mailbox);
		return;
	}
	if (r->ret < 0) {
		imap_reply_store_error(is, "append", r);
		return;
	}
	/* RFC 4315 3: the UIDs of the messages, in their order */
	struct imap_seqset set = { 0 };
	struct buf uids = { 0 };
	char code[64 + IMAP_REPLY_MAX];
	uint64_t size = 0;
	for (size_t i = 0; i < ap->n_msgs; i++) {
		imap_seqset_add(&set, ap->uids[i], ap->uids[i]);
		size += ap->msgs[i].size;
	}
	imap_seqset_resolve(&set, 0);
	imap_seqset_append(&uids, &set);
	snprintf(code, sizeof(code), "APPENDUID %" PRIu32 " %s", ap->uidvalidity,
		 uids.data);
	session_log(&is->s, LOG_LEVEL_INFO, "append mailbox=%s uid=%s size=%" PRIu64,
		    ap->mailbox, uids.data, size);
	imap_command_done(is, "OK", code, "Append completed");
	imap_seqset_free(&set);
	buf_free(&uids);
}

/* OP_OPEN or OP_BEGIN is done: read the message, or refuse it. */
static void file_done(struct imap_append *ap, const struct imap_store_result *r,
		      bool live)
{
	struct imap_session *is = ap->is;

	if (r->ret == 0) {
		ap->ended = false;
		imap_literal_decided(is, &append_sink);
		return;
	}
	is->append = NULL;
	is->cancel = NULL;
	if (!live)
		;   /* nobody to answer */
	else if (r->err == ENOENT && ap->folder == NULL)
		imap_command_done(is, "NO", "TRYCREATE", "Mailbox doesn't exist: %s",
				  ap->mailbox);
	else
		imap_reply_store_error(is, "append", r);
	discard(ap);    /* frees ap: is->sink never pointed at it */
	imap_literal_decided(is, NULL);
}

static void append_job_done(struct session_job *job, bool live)
{
	struct append_job *aj = (struct append_job *)job;
	struct imap_append *ap = aj->ap;
	struct imap_session *is = ap->is;   /* NULL: cancelled meanwhile */

	ap->job_running = false;
	switch (aj->op) {
	case OP_OPEN:
		file_done(ap, &aj->r, live);
		break;
	case OP_BEGIN: {
		/* held since the literal came: no cancel in between */
		struct session *s = aj->job.session;
		ap->begin_wanted = false;
		file_done(ap, &aj->r, live);
		session_resume(s);          /* the hold of cmd_append_literal() */
		break;
	}
	case OP_WRITE:
		if (aj->r.ret < 0 && !ap->write_failed) {
			ap->write_failed = true;
			ap->r = aj->r;
			evbuffer_drain(ap->pending, evbuffer_get_length(ap->pending));
		}
		if (is == NULL) {
			discard(ap);        /* cancelled meanwhile */
		} else if (live) {
			flush(ap);
			imap_literal_resume(is);
		} else if (ap->commit_wanted) {
			/* The whole command came before the client left: the
			 * commit runs and releases the hold. */
			flush(ap);
		}
		break;
	case OP_COMMIT:
		/* the files are gone (committed or aborted) */
		is->append = NULL;
		if (live)
			reply_commit(is, ap, ap->write_failed ? &ap->r : &aj->r);
		append_free(ap);
		session_resume(&is->s);     /* the hold of cmd_append() */
		break;
	case OP_ABORT:
		break;                      /* a plain job: abort_done() */
	}
	if (aj->buf != NULL)
		evbuffer_free(aj->buf);
	free(aj);
}

/* ---- the literal sink --------------------------------------------------- */

static size_t sink_write(struct imap_session *is, struct evbuffer *in, size_t max)
{
	struct imap_append *ap = is->append;
	size_t have = evbuffer_get_length(ap->pending);

	/* Flow control: the disk is behind; the write job's end resumes. */
	if (have >= IMAP_APPEND_BUFFER_MAX)
		return 0;
	size_t n = IMAP_APPEND_BUFFER_MAX - have;
	if (n > max)
		n = max;
	if (ap->write_failed)
		evbuffer_drain(in, n);
	else
		evbuffer_remove_buffer(in, ap->pending, n);
	flush(ap);
	return n;
}

static void sink_end(struct imap_session *is)
{
	struct imap_append *ap = is->append;
	ap->ended = true;
	flush(ap);
}

static const struct imap_literal_sink append_sink = {
	.write = sink_write,
	.end = sink_end,
};

/* ---- the command ---------------------------------------------------------- */

static unsigned maildir_flags_of(uint32_t imap_flags)
{
	static const struct { uint32_t imap; unsigned maildir; } map[] = {
		{ IMAP_FLAG_SEEN, MAILDIR_FLAG_SEEN },
		{ IMAP_FLAG_ANSWERED, MAILDIR_FLAG_ANSWERED },
		{ IMAP_FLAG_FLAGGED, MAILDIR_FLAG_FLAGGED },
		{ IMAP_FLAG_DELETED, MAILDIR_FLAG_DELETED },
		{ IMAP_FLAG_DRAFT, MAILDIR_FLAG_DRAFT },
	};
	unsigned out = 0;
	for (size_t i = 0; i < N_ELEMENTS(map); i++) {
		if (imap_flags & map[i].imap)
			out |= map[i].maildir;
	}
	return out;
}

/* [SP flag-list] [SP date-time] of one message: args[from, n) are all
 * of it (the literal is not parsed yet). false with *error_r. */
static bool parse_message_args(const struct imap_arg *args, size_t from, size_t n,
			       struct append_msg *m, const char **error_r)
{
	const struct imap_arg *items;
	const char *date;
	size_t i = from, count, len;
	uint32_t flags = 0;
	int tz;

	*error_r = "Syntax: APPEND mailbox [(flags)] [\"date-time\"] literal ...";
	if (i < n && imap_arg_get_list(&args[i], &items, &count)) {
		if (imap_flags_parse(items, count, &flags, &m->keywords, error_r) < 0)
			return false;
		for (char **kw = m->keywords; *kw != NULL; kw++) {
			if (!maildir_keyword_valid(*kw)) {
				*error_r = "Invalid keyword";
				return false;
			}
		}
		i++;
	}
	if (i < n && args[i].type == IMAP_ARG_STRING) {
		if (!imap_arg_get_string(&args[i], &date, &len) ||
		    !imap_datetime_parse(date, &m->date, &tz)) {
			*error_r = "Invalid date-time";
			return false;
		}
		i++;
	}
	m->flags = maildir_flags_of(flags);
	if (m->keywords == NULL)
		m->keywords = xcalloc(1, sizeof(*m->keywords));
	return i == n;
}

/* A new message entry for the literal announced after so_far's args.
 * false (the command answered) when it cannot be taken. */
static bool add_message(struct imap_session *is, struct imap_append *ap,
			const struct imap_command *so_far,
			const struct imap_literal *lit, size_t from)
{
	const char *error;

	if (ap->n_msgs == IMAP_MULTIAPPEND_MAX) {
		imap_command_done(is, "NO", "LIMIT", "Too many messages in one APPEND "
				  "(at most %d)", IMAP_MULTIAPPEND_MAX);
		return false;
	}
	ap->msgs = xrealloc(ap->msgs, (ap->n_msgs + 1) * sizeof(*ap->msgs));
	struct append_msg *m = &ap->msgs[ap->n_msgs++];
	memset(m, 0, sizeof(*m));
	m->size = lit->size;
	if (!parse_message_args(so_far->args, from, so_far->n_args, m, &error)) {
		imap_command_bad(is, "%s", error);
		return false;
	}
	if (lit->size == 0) {
		imap_command_done(is, "NO", "CANNOT", "Can't save a zero byte message");
		return false;
	}
	ap->n_args = so_far->n_args + 1;
	return true;
}

/* The first message: the mailbox, then a job opens it. */
static void first_literal(struct imap_session *is, const struct imap_command *so_far,
			  const struct imap_literal *lit)
{
	const char *mailbox, *error;
	struct imap_append *ap = xcalloc(1, sizeof(*ap));

	ap->fd = -1;
	/* IMAP4rev2: the name is UTF-8 (the command table converts the
	 * others; APPEND's first literal comes before dispatch) */
	if (is->rev2 && so_far->n_args >= 1 &&
	    !imap_names_from_utf8(is, 1, so_far->args, so_far->n_args)) {
		append_free(ap);
		imap_command_bad(is, "Mailbox names are UTF-8 (IMAP4rev2)");
		return;
	}
	if (so_far->n_args < 1 || !imap_arg_get_mailbox(&so_far->args[0], &mailbox)) {
		append_free(ap);
		imap_command_bad(is, "Syntax: APPEND mailbox [(flags)] "
				 "[\"date-time\"] literal ...");
		return;
	}
	ap->mailbox = xstrdup(mailbox);
	if (!add_message(is, ap, so_far, lit, 1)) {
		append_free(ap);
		return;
	}
	if (!maildir_name_valid(ap->mailbox, &error)) {
		imap_command_done(is, "NO", "CANNOT", "%s", error);
		append_free(ap);
		return;
	}
	ap->is = is;
	ap->user = xstrdup(is->user);
	ap->root = xstrdup(is->root);
	ap->pending = evbuffer_new();
	is->append = ap;
	is->cancel = append_cancel;
	imap_literal_defer(is);
	submit(ap, OP_OPEN);
}

const struct imap_literal_sink *cmd_append_literal(
	struct imap_session *is, const struct imap_command *so_far,
	const struct imap_literal *lit)
{
	struct imap_append *ap = is->append;

	if (ap == NULL) {
		first_literal(is, so_far, lit);
		return NULL;
	}
	/* RFC 3502: the next message */
	if (!add_message(is, ap, so_far, lit, ap->n_args)) {
		append_cancel(is);
		return NULL;
	}
	ap->begin_wanted = true;
	imap_literal_defer(is);
	/* Held: the literal's bytes wait until its file is open (after the
	 * write job of the previous message, if one runs). */
	session_suspend(&is->s);
	flush(ap);
	return NULL;
}

void cmd_append(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct imap_append *ap = is->append;

	/* The messages' arguments were checked when their literals came;
	 * nothing may follow the last literal. */
	if (ap == NULL || n != ap->n_args || args[n - 1].type != IMAP_ARG_LITERAL_EXT) {
		append_cancel(is);
		imap_command_bad(is, "Syntax: APPEND mailbox [(flags)] "
				 "[\"date-time\"] literal ...");
		return;
	}
	ap->commit_wanted = true;
	/* Held: no command is taken until the commit answers. */
	session_suspend(&is->s);
	flush(ap);
}

static void append_cancel(struct imap_session *is)
{
	struct imap_append *ap = is->append;

	if (ap == NULL)
		return;
	is->append = NULL;
	ap->is = NULL;
	if (!ap->job_running)
		discard(ap);
	/* else the running job's end discards it */
}
