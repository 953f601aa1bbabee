/* cmd_select.c — entering and leaving the selected state: SELECT, EXAMINE
 * (RFC 3501 6.3.1-2; with CONDSTORE and QRESYNC parameters, RFC 7162
 * 3.1.8, 3.2.5), CLOSE, UNSELECT (RFC 3691), CHECK, EXPUNGE and UID
 * EXPUNGE (RFC 4315 2.1). */
#include "imap/imap_folder.h"
#include "imap/imap_mailbox.h"
#include "imap/imap_modseq.h"
#include "imap/imap_util.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- SELECT / EXAMINE ---------------------------------------------------- */

struct select_job {
	struct session_job job;
	struct imap_session *is;
	char *root, *name;
	bool read_only;
	struct imap_select_params params;
	struct maildir_folder *folder;
	struct maildir_snapshot *snap;
	struct maildir_keywords kw;
	int err;
	char error[256];
};

static void select_work(struct session_job *job)
{
	struct select_job *sj = (struct select_job *)job;
	const char *error = NULL;

	memset(&sj->kw, 0, sizeof(sj->kw));
	if (maildir_folder_open(sj->root, sj->name, &sj->folder, &error) < 0 ||
	    imap_mailbox_folder_sync(sj->folder, sj->read_only, &sj->snap,
				     &error) < 0 ||
	    maildir_keywords_read(sj->folder, &sj->kw, &error) < 0) {
		sj->err = errno;
		strlcpy_sp(sj->error, error, sizeof(sj->error));
		maildir_snapshot_free(&sj->snap);
		maildir_keywords_free(&sj->kw);
		maildir_folder_close(&sj->folder);
	}
}

/* RFC 9051 6.3.2: an IMAP4rev2 client is told the mailbox's name as the
 * server has it, in a LIST response. */
static void send_rev2_list(struct imap_session *is)
{
	struct buf b = { 0 };
	const char *name = maildir_name_is_inbox(is->sel->name) ? "INBOX" :
		is->sel->name;

	buf_printf(&b, "LIST () \"%c\" ", MAILDIR_SEP);
	imap_append_mailbox(&b, name, true);
	imap_untagged(is, "%s", b.data);
	buf_free(&b);
}

/* The untagged part of the SELECT answer (Dovecot's order; IMAP4rev2: no
 * RECENT, no UNSEEN code, the LIST of RFC 9051 6.3.2). */
static void send_select_info(struct imap_session *is)
{
	struct imap_mailbox *mb = is->sel;

	imap_mailbox_send_flags(is);
	imap_untagged(is, "%zu EXISTS", mb->count);
	if (mb->rev2) {
		send_rev2_list(is);
		goto ids;
	}
	imap_untagged(is, "%zu RECENT", mb->recent);
	for (size_t i = 0; i < mb->count; i++) {
		if (!(mb->msgs[i].flags & IMAP_FLAG_SEEN)) {
			imap_untagged(is, "OK [UNSEEN %zu] First unseen.", i + 1);
			break;
		}
	}
ids:
	imap_untagged(is, "OK [UIDVALIDITY %" PRIu32 "] UIDs valid", mb->uidvalidity);
	imap_untagged(is, "OK [UIDNEXT %" PRIu32 "] Predicted next UID", mb->uidnext);
}

static void select_done(struct session_job *job, bool live)
{
	struct select_job *sj = (struct select_job *)job;
	struct imap_session *is = sj->is;

	if (!live) {
		maildir_snapshot_free(&sj->snap);
		maildir_keywords_free(&sj->kw);
		maildir_folder_close(&sj->folder);
	} else if (sj->folder == NULL) {
		if (sj->err == ENOENT || sj->err == EINVAL) {
			imap_command_done(is, "NO", "NONEXISTENT", "Mailbox doesn't exist: %s",
					  sj->name);
		} else {
			session_log(&is->s, LOG_LEVEL_ERROR, "select mailbox=%s error=\"%s\"",
				    sj->name, sj->error);
			imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
					  "Refer to server log for more information.");
		}
	} else {
		is->sel = imap_mailbox_new(sj->folder, sj->name, sj->read_only, sj->snap,
					   &sj->kw);
		is->sel->rev2 = is->rev2;
		imap_enter_state(is, IMAP_STATE_SELECTED);
		session_log(&is->s, LOG_LEVEL_DEBUG, "select mailbox=%s messages=%zu%s",
			    sj->name, is->sel->count, sj->read_only ? " read-only=yes" : "");
		send_select_info(is);
		imap_modseq_select_info(is);
		const char *code = sj->read_only ? "READ-ONLY" : "READ-WRITE";
		const char *text = sj->read_only ? "Examine completed" : "Select completed";
		if (imap_qresync_wanted(is, &sj->params))
			imap_fetch_qresync(is, &sj->params, code, text);
		else
			imap_command_done(is, "OK", code, "%s", text);
	}
	imap_select_params_free(&sj->params);
	free(sj->root);
	free(sj->name);
	free(sj);
}

static void select_common(struct imap_session *is, const struct imap_arg *args,
			  size_t n, bool read_only)
{
	struct imap_select_params params;
	const char *name, *error;
	size_t len;

	memset(&params, 0, sizeof(params));
	if (n < 1 || n > 2 || !imap_arg_get_astring(&args[0], &name, &len) ||
	    strlen(name) != len) {
		imap_command_bad(is, "Syntax: %s mailbox [(parameters)]",
				 read_only ? "EXAMINE" : "SELECT");
		return;
	}
	if (n == 2 && imap_select_params_parse(is, &args[1], &params, &error) < 0) {
		imap_select_params_free(&params);
		imap_command_bad(is, "%s", error);
		return;
	}
	/* RFC 3501 6.3.1: the selected mailbox is closed first, without an
	 * expunge; if the new one fails no mailbox is selected. RFC 7162
	 * 3.2.11 (and RFC 9051): CLOSED marks where its responses end. */
	if (is->sel != NULL) {
		imap_mailbox_close(is);
		imap_enter_state(is, IMAP_STATE_AUTH);
		imap_untagged(is, "OK [CLOSED] Previous mailbox closed.");
	}
	if (params.condstore || params.qresync)
		imap_condstore_enable(is);
	struct select_job *sj = xcalloc(1, sizeof(*sj));
	sj->params = params;
	sj->job.work = select_work;
	sj->job.done = select_done;
	sj->is = is;
	sj->root = xstrdup(is->root);
	sj->name = xstrdup(name);
	sj->read_only = read_only;
	imap_job_start(is, &sj->job);
}

void cmd_select(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	select_common(is, args, n, false);
}

void cmd_examine(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	select_common(is, args, n, true);
}

/* ---- EXPUNGE, UID EXPUNGE, CLOSE ------------------------------------------ */

struct expunge_ctx {
	bool use_set;                   /* UID EXPUNGE: only these UIDs */
	struct imap_seqset set;
	size_t expunged;
};

/* Pool thread: remove the messages the client knows with \Deleted. */
static int expunge_action(struct imap_session *is, void *ctx, const char **error_r)
{
	struct expunge_ctx *ec = ctx;
	struct imap_mailbox *mb = is->sel;
	struct maildir_msg **list = xcalloc(mb->count + 1, sizeof(*list));
	size_t n = 0;
	int ret = 0;

	for (size_t i = 0; i < mb->count; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		if (m->msg == NULL || !(m->msg->flags & MAILDIR_FLAG_DELETED) ||
		    (ec->use_set && !imap_seqset_contains(&ec->set, m->uid)))
			continue;
		list[n++] = m->msg;
	}
	if (n > 0) {
		ret = maildir_expunge(mb->folder, list, n, error_r);
		mb->force_sync = true;
	}
	ec->expunged = ret == 0 ? n : 0;
	free(list);
	return ret;
}

static void expunge_done(struct imap_session *is, void *ctx, int result, int err,
			 const char *error)
{
	struct expunge_ctx *ec = ctx;

	if (result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "expunge error=\"%s\"", error);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else {
		if (ec->expunged > 0)
			session_log(&is->s, LOG_LEVEL_INFO, "expunge mailbox=%s count=%zu",
				    is->sel != NULL ? is->sel->name : "-", ec->expunged);
		if (ec->expunged > 0 && is->qresync && is->sel != NULL) {
			/* RFC 7162 3.2.7, 3.2.9 */
			char code[48];
			snprintf(code, sizeof(code), "HIGHESTMODSEQ %" PRIu64,
				 imap_mailbox_safe_modseq(is->sel));
			imap_command_done(is, "OK", code, "Expunge completed");
		} else {
			imap_command_done(is, "OK", NULL, "Expunge completed");
		}
	}
	imap_seqset_free(&ec->set);
	free(ec);
}

static bool refuse_read_only(struct imap_session *is)
{
	if (!is->sel->read_only)
		return false;
	imap_command_done(is, "NO", "READ-ONLY", "Mailbox is read-only");
	return true;
}

void cmd_expunge(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct expunge_ctx *ec = xcalloc(1, sizeof(*ec));
	const char *error;

	if (is->uid) {
		if (n != 1 || imap_mailbox_msgset(is->sel, &args[0], true, &ec->set,
						  &error) < 0) {
			imap_seqset_free(&ec->set);
			free(ec);
			imap_command_bad(is, "Syntax: UID EXPUNGE uid-set");
			return;
		}
		ec->use_set = true;
	} else if (n != 0) {
		free(ec);
		imap_command_bad(is, "EXPUNGE takes no arguments");
		return;
	}
	if (refuse_read_only(is)) {
		imap_seqset_free(&ec->set);
		free(ec);
		return;
	}
	imap_mailbox_sync(is, expunge_action, ec, true, expunge_done);
}

struct close_job {
	struct session_job job;
	struct imap_session *is;
	struct expunge_ctx ec;
	int result;
	char error[256];
};

static void close_work(struct session_job *job)
{
	struct close_job *cj = (struct close_job *)job;
	const char *error = NULL;

	if ((cj->result = expunge_action(cj->is, &cj->ec, &error)) < 0)
		strlcpy_sp(cj->error, error, sizeof(cj->error));
}

/* RFC 3501 6.4.2: expunge silently, then back to the authenticated state
 * (a failed expunge still closes the mailbox). */
static void close_done(struct session_job *job, bool live)
{
	struct close_job *cj = (struct close_job *)job;
	struct imap_session *is = cj->is;

	if (cj->result < 0)
		session_log(&is->s, LOG_LEVEL_ERROR, "expunge error=\"%s\"", cj->error);
	else if (cj->ec.expunged > 0)
		session_log(&is->s, LOG_LEVEL_INFO, "expunge mailbox=%s count=%zu",
			    is->sel->name, cj->ec.expunged);
	imap_mailbox_close(is);
	if (live) {
		imap_enter_state(is, IMAP_STATE_AUTH);
		imap_command_done(is, "OK", NULL, "Close completed");
	}
	free(cj);
}

void cmd_close(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	if (n != 0) {
		imap_command_bad(is, "CLOSE takes no arguments");
		return;
	}
	if (is->sel->read_only) {
		imap_mailbox_close(is);
		imap_enter_state(is, IMAP_STATE_AUTH);
		imap_command_done(is, "OK", NULL, "Close completed");
		return;
	}
	struct close_job *cj = xcalloc(1, sizeof(*cj));
	cj->job.work = close_work;
	cj->job.done = close_done;
	cj->is = is;
	imap_job_start(is, &cj->job);
}

/* RFC 3691: like CLOSE without the expunge. */
void cmd_unselect(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	if (n != 0) {
		imap_command_bad(is, "UNSELECT takes no arguments");
		return;
	}
	imap_mailbox_close(is);
	imap_enter_state(is, IMAP_STATE_AUTH);
	imap_command_done(is, "OK", NULL, "Unselect completed");
}

/* RFC 3501 6.4.1: a checkpoint; the full sync before the tagged reply is
 * what it does (Maildir changes are durable when made). */
void cmd_check(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	if (n != 0) {
		imap_command_bad(is, "CHECK takes no arguments");
		return;
	}
	is->sel->force_sync = true;
	imap_command_done(is, "OK", NULL, "Check completed");
}
