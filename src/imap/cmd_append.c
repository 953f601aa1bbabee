/* cmd_append.c — APPEND (RFC 3501 6.3.11) with UIDPLUS's APPENDUID
 * (RFC 4315) and LITERAL+ (RFC 7888).
 *
 * The message is a streamed literal. When it is announced, the arguments
 * before it are checked and a job opens the folder and a tmp/ file; only
 * then is "+" sent (so a missing folder gets NO [TRYCREATE] first, and a
 * message over max_message_size got NO [TOOBIG] from the parser). The
 * bytes then go from the input buffer into `pending`, and from there in
 * chunks to write jobs, one at a time; input stops while
 * IMAP_APPEND_BUFFER_MAX bytes wait for the disk (flow control as in
 * smtp_data.c). When the command line is complete a commit job writes the
 * rest, fsyncs and enters the file into cur/ with its UID. An APPEND that
 * does not complete (bad syntax after the literal, a dropped connection)
 * has its tmp/ file removed by an abort job. The bytes are stored exactly
 * as sent. */
#include "imap/imap.h"
#include "imap/imap_date.h"
#include "imap/imap_folder.h"
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

struct imap_append {
	struct imap_session *is;    /* NULL once cancelled */
	char *root;
	char *mailbox;
	size_t n_prefix;            /* arguments before the literal */
	unsigned flags;             /* enum maildir_flag */
	char **keywords;            /* NULL-terminated */
	time_t date;                /* 0: now */
	uint64_t size;              /* announced */

	struct maildir_folder *folder;
	struct maildir_append *ctx; /* the tmp/ file; NULL when none */
	int fd;
	struct evbuffer *pending;   /* received, not yet given to a job */
	bool job_running;           /* a job owns ctx and fd */
	bool ended;                 /* every byte of the literal arrived */
	bool commit_wanted;         /* the command is complete */
	bool write_failed;
	bool keywords_full;         /* no keyword letter left (commit) */
	struct imap_store_result r; /* the failed write */
	uint32_t uid, uidvalidity;
};

enum append_op { OP_OPEN, OP_WRITE, OP_COMMIT, OP_ABORT };

struct append_job {
	struct session_job job;     /* job.job alone for a detached abort */
	enum append_op op;
	struct imap_append *ap;
	struct evbuffer *buf;       /* OP_WRITE, OP_COMMIT: bytes to write */
	struct imap_store_result r;
};

static const struct imap_literal_sink append_sink;

/* The cancel hook of an APPEND whose command did not complete (parse error
 * after its message, a second message, disconnect): its file is removed in
 * a job. */
static void append_cancel(struct imap_session *is);

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

/* The keywords as letters of the folder (given letters as needed). */
static int keyword_mask(struct imap_append *ap, uint32_t *mask_r,
			const char **error_r)
{
	unsigned index;

	*mask_r = 0;
	for (char **kw = ap->keywords; *kw != NULL; kw++) {
		if (maildir_keyword_index(ap->folder, *kw, true, &index, error_r) < 0) {
			ap->keywords_full = errno == ENOSPC;
			return -1;
		}
		*mask_r |= 1u << index;
	}
	return 0;
}

static int commit(struct imap_append *ap, struct evbuffer *buf,
		  const char **error_r)
{
	uint32_t mask;

	/* A failed write was answered already (ap->r): only clean up. */
	if (ap->write_failed || write_buffer(ap, buf, error_r) < 0 ||
	    keyword_mask(ap, &mask, error_r) < 0) {
		int err = errno;
		maildir_append_abort(&ap->ctx);
		errno = err;
		return -1;
	}
	return maildir_append_commit(&ap->ctx, ap->flags, mask, ap->date,
					&ap->uidvalidity, &ap->uid, error_r);
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
			ret = maildir_append_begin(ap->folder, &ap->ctx, &ap->fd, &error);
		break;
	case OP_WRITE:
		ret = write_buffer(ap, aj->buf, &error);
		break;
	case OP_COMMIT:
		ret = commit(ap, aj->buf, &error);
		break;
	case OP_ABORT:
		maildir_append_abort(&ap->ctx);
		break;
	}
	imap_store_result_set(&aj->r, ret, error);
}

/* ---- event loop ------------------------------------------------------------- */

static void append_free(struct imap_append *ap)
{
	strv_free(&ap->keywords);
	maildir_folder_close(&ap->folder);
	if (ap->pending != NULL)
		evbuffer_free(ap->pending);
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

/* OP_OPEN runs exclusively (no "+" before it answers); OP_WRITE in the
 * background of the literal; OP_COMMIT in the background of the hold
 * cmd_append() took; OP_ABORT is a plain job: no session waits for it. */
static void submit(struct imap_append *ap, enum append_op op)
{
	struct append_job *aj = xcalloc(1, sizeof(*aj));

	aj->job.work = append_work;
	aj->job.done = append_job_done;
	aj->op = op;
	aj->ap = ap;
	if (op == OP_WRITE || op == OP_COMMIT) {
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

/* Remove the tmp/ file (if any) and free ap, with no session involved. */
static void discard(struct imap_append *ap)
{
	ap->is = NULL;
	if (ap->ctx != NULL)
		submit(ap, OP_ABORT);
	else
		append_free(ap);
}

/* Hand pending bytes to the disk when worth it; commit once complete. */
static void flush(struct imap_append *ap)
{
	size_t have = evbuffer_get_length(ap->pending);

	if (ap->job_running)
		return;
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
	char code[64];
	snprintf(code, sizeof(code), "APPENDUID %" PRIu32 " %" PRIu32,
		 ap->uidvalidity, ap->uid);
	session_log(&is->s, LOG_LEVEL_INFO, "append mailbox=%s uid=%" PRIu32
		    " size=%" PRIu64, ap->mailbox, ap->uid, ap->size);
	imap_command_done(is, "OK", code, "Append completed");
}

static void open_done(struct imap_append *ap, const struct imap_store_result *r,
		      bool live)
{
	struct imap_session *is = ap->is;

	if (r->ret == 0) {
		ap->pending = evbuffer_new();
		imap_literal_decided(is, &append_sink);
	} else {
		is->append = NULL;
		if (!live)
			;   /* nobody to answer */
		else if (r->err == ENOENT)
			imap_command_done(is, "NO", "TRYCREATE", "Mailbox doesn't exist: %s",
					  ap->mailbox);
		else
			imap_reply_store_error(is, "append", r);
		discard(ap);    /* frees ap: is->sink never pointed at it */
		imap_literal_decided(is, NULL);
	}
}

static void append_job_done(struct session_job *job, bool live)
{
	struct append_job *aj = (struct append_job *)job;
	struct imap_append *ap = aj->ap;
	struct imap_session *is = ap->is;   /* NULL: cancelled meanwhile */

	ap->job_running = false;
	switch (aj->op) {
	case OP_OPEN:
		open_done(ap, &aj->r, live);
		break;
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
		/* ctx is gone (committed or aborted) */
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

/* mailbox [SP flag-list] [SP date-time], the arguments before the
 * message. false with *error_r on a syntax error. */
static bool parse_prefix(const struct imap_arg *args, size_t n,
			 struct imap_append *ap, const char **error_r)
{
	const struct imap_arg *items;
	const char *mailbox, *date;
	size_t i = 1, count, len;
	uint32_t flags = 0;
	int tz;

	*error_r = "Syntax: APPEND mailbox [(flags)] [\"date-time\"] literal";
	if (n < 1 || !imap_arg_get_mailbox(&args[0], &mailbox))
		return false;
	ap->mailbox = xstrdup(mailbox);
	if (i < n && imap_arg_get_list(&args[i], &items, &count)) {
		if (imap_flags_parse(items, count, &flags, &ap->keywords, error_r) < 0)
			return false;
		for (char **kw = ap->keywords; *kw != NULL; kw++) {
			if (!maildir_keyword_valid(*kw)) {
				*error_r = "Invalid keyword";
				return false;
			}
		}
		i++;
	}
	if (i < n && args[i].type == IMAP_ARG_STRING) {
		if (!imap_arg_get_string(&args[i], &date, &len) ||
		    !imap_datetime_parse(date, &ap->date, &tz)) {
			*error_r = "Invalid date-time";
			return false;
		}
		i++;
	}
	ap->flags = maildir_flags_of(flags);
	ap->n_prefix = i;
	return i == n;
}

const struct imap_literal_sink *cmd_append_literal(
	struct imap_session *is, const struct imap_command *so_far,
	const struct imap_literal *lit)
{
	const char *error;

	if (is->append != NULL) {
		/* A second message: MULTIAPPEND (RFC 3502) is not offered. */
		append_cancel(is);
		imap_command_bad(is, "Only one message per APPEND");
		return NULL;
	}
	struct imap_append *ap = xcalloc(1, sizeof(*ap));
	ap->fd = -1;
	if (!parse_prefix(so_far->args, so_far->n_args, ap, &error)) {
		append_free(ap);
		imap_command_bad(is, "%s", error);
		return NULL;
	}
	if (!maildir_name_valid(ap->mailbox, &error) || lit->size == 0) {
		imap_command_done(is, "NO", "CANNOT", "%s", lit->size == 0 ?
				  "Can't save a zero byte message" : error);
		append_free(ap);
		return NULL;
	}
	ap->is = is;
	ap->root = xstrdup(is->root);
	ap->size = lit->size;
	if (ap->keywords == NULL)
		ap->keywords = xcalloc(1, sizeof(*ap->keywords));
	is->append = ap;
	is->cancel = append_cancel;
	imap_literal_defer(is);
	submit(ap, OP_OPEN);
	return NULL;
}

void cmd_append(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct imap_append *ap = is->append;

	/* The prefix was checked when the literal came; only one literal,
	 * last, and nothing after it. */
	if (ap == NULL || n != ap->n_prefix + 1 ||
	    args[n - 1].type != IMAP_ARG_LITERAL_EXT) {
		append_cancel(is);
		imap_command_bad(is, "Syntax: APPEND mailbox [(flags)] "
				 "[\"date-time\"] literal");
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
	/* else the running write job's end discards it */
}
