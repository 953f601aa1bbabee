/* cmd_store.c — STORE and UID STORE (RFC 3501 6.4.6, 6.4.8): FLAGS,
 * +FLAGS, -FLAGS and their .SILENT forms, system flags and keywords.
 *
 * Flags live in the Maildir file names (maildir_msg_store renames the
 * file); keywords are letters a-z named by the folder's dovecot-keywords
 * file, so a folder holds at most MAILDIR_KEYWORDS_MAX of them: a new one
 * beyond that is refused with NO [LIMIT] (RFC 5530).
 *
 * A message another session expunged meanwhile is skipped and the command
 * still answers OK (RFC 2180 4.2 allows NO or OK; Dovecot, and the clients
 * tested against it, say OK): the EXPUNGE reaches the client with the next
 * command that may announce it. */
#include "imap/imap_mailbox.h"
#include "imap/imap_util.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct store_job {
	struct session_job job;
	struct imap_session *is;
	struct imap_seqset set;
	bool uid_cmd, silent;
	enum maildir_flags_op op;
	unsigned mflags;
	char **keywords;
	bool limit, bad_keyword;
	int result;
	char error[256];
};

/* The letters of the keywords; new names get a letter unless removing. */
static int keyword_mask(struct store_job *sj, uint32_t *mask_r, const char **error_r)
{
	struct imap_mailbox *mb = sj->is->sel;
	bool created = false;

	*mask_r = 0;
	for (size_t i = 0; sj->keywords[i] != NULL; i++) {
		unsigned idx;
		bool had = false;
		for (unsigned k = 0; k < MAILDIR_KEYWORDS_MAX && !had; k++)
			had = mb->kw.names[k] != NULL &&
				str_ieq(mb->kw.names[k], sj->keywords[i]);
		if (maildir_keyword_index(mb->folder, sj->keywords[i],
					  sj->op != MAILDIR_FLAGS_REMOVE, &idx, error_r) < 0) {
			if (errno == ENOENT)
				continue;       /* -FLAGS of a keyword nobody has */
			sj->limit = errno == ENOSPC;
			sj->bad_keyword = errno == EINVAL;
			return -1;
		}
		created |= !had;
		*mask_r |= 1u << idx;
	}
	if (!created)
		return 0;
	/* The view needs the new names (this job has it to itself). */
	struct maildir_keywords kw;
	if (maildir_keywords_read(mb->folder, &kw, error_r) < 0)
		return -1;
	maildir_keywords_free(&mb->kw);
	mb->kw = kw;
	return 0;
}

static void store_work(struct session_job *job)
{
	struct store_job *sj = (struct store_job *)job;
	struct imap_mailbox *mb = sj->is->sel;
	const char *error = NULL;
	uint32_t mask;

	if ((sj->result = keyword_mask(sj, &mask, &error)) < 0) {
		strlcpy_sp(sj->error, error, sizeof(sj->error));
		return;
	}
	for (size_t i = 0; i < mb->count; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		if (!imap_mailbox_in_set(mb, &sj->set, sj->uid_cmd, i))
			continue;
		if (m->msg == NULL)
			continue;  /* expunged since the client last looked */
		/* 'P' (passed) has no IMAP name: FLAGS keeps it. */
		unsigned mflags = sj->mflags;
		if (sj->op == MAILDIR_FLAGS_REPLACE)
			mflags |= m->msg->flags & MAILDIR_FLAG_PASSED;
		if (maildir_msg_store(mb->folder, m->msg, sj->op, mflags, mask, &error) < 0) {
			if (errno == ENOENT)
				continue;  /* gone since the last sync: the next says so */
			sj->result = -1;
			strlcpy_sp(sj->error, error, sizeof(sj->error));
			return;
		}
	}
}

/* "* n FETCH (FLAGS (...))" for every stored message (RFC 3501 6.4.6),
 * none with .SILENT; the view remembers what the client now knows. */
static void send_results(struct store_job *sj)
{
	struct imap_session *is = sj->is;
	struct imap_mailbox *mb = is->sel;
	struct buf b = { 0 };

	imap_mailbox_announce_keywords(is);
	for (size_t i = 0; i < mb->count; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		if (m->msg == NULL || !imap_mailbox_in_set(mb, &sj->set, sj->uid_cmd, i))
			continue;
		imap_view_msg_current(mb, m, &m->flags, &m->keywords);
		if (sj->silent)
			continue;
		b.len = 0;
		buf_printf(&b, "%zu FETCH (FLAGS ", i + 1);
		imap_mailbox_append_flags(mb, &b, m->flags, m->keywords);
		if (sj->uid_cmd)
			buf_printf(&b, " UID %" PRIu32, m->uid);
		buf_append(&b, ")", 2);
		imap_untagged(is, "%s", b.data);
	}
	buf_free(&b);
}

static void store_done(struct session_job *job, bool live)
{
	struct store_job *sj = (struct store_job *)job;
	struct imap_session *is = sj->is;

	if (!live) {
		/* nothing to tell */
	} else if (sj->limit) {
		imap_command_done(is, "NO", "LIMIT", "Too many keywords in this mailbox "
				  "(at most %d)", MAILDIR_KEYWORDS_MAX);
	} else if (sj->bad_keyword) {
		imap_command_done(is, "NO", "CANNOT", "Invalid keyword");
	} else {
		send_results(sj);
		if (sj->result < 0) {
			session_log(&is->s, LOG_LEVEL_ERROR, "store error=\"%s\"", sj->error);
			imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
					  "Refer to server log for more information.");
		} else {
			imap_command_done(is, "OK", NULL, "Store completed");
		}
	}
	imap_seqset_free(&sj->set);
	strv_free(&sj->keywords);
	free(sj);
}

/* FLAGS / +FLAGS / -FLAGS, with or without .SILENT. */
static bool parse_item(const char *item, enum maildir_flags_op *op_r, bool *silent_r)
{
	*op_r = MAILDIR_FLAGS_REPLACE;
	if (*item == '+' || *item == '-')
		*op_r = *item++ == '+' ? MAILDIR_FLAGS_ADD : MAILDIR_FLAGS_REMOVE;
	if (str_ieq(item, "FLAGS")) {
		*silent_r = false;
		return true;
	}
	*silent_r = true;
	return str_ieq(item, "FLAGS.SILENT");
}

void cmd_store(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct store_job *sj = xcalloc(1, sizeof(*sj));
	const struct imap_arg *items = args + 2;
	size_t count = n >= 2 ? n - 2 : 0;
	const char *item, *error = "Syntax: STORE sequence-set [+|-]FLAGS[.SILENT] flags";
	uint32_t flags;

	if (n == 3 && args[2].type == IMAP_ARG_LIST) {
		items = args[2].list;
		count = args[2].len;
	}
	if (n < 3 || imap_mailbox_msgset(is->sel, &args[0], is->uid, &sj->set, &error) < 0 ||
	    !imap_arg_get_atom(&args[1], &item) ||
	    !parse_item(item, &sj->op, &sj->silent) ||
	    imap_flags_parse(items, count, &flags, &sj->keywords, &error) < 0) {
		imap_seqset_free(&sj->set);
		free(sj);
		imap_command_bad(is, "%s", error);
		return;
	}
	if (is->sel->read_only) {
		imap_seqset_free(&sj->set);
		strv_free(&sj->keywords);
		free(sj);
		imap_command_done(is, "NO", "READ-ONLY", "Mailbox is read-only");
		return;
	}
	sj->job.work = store_work;
	sj->job.done = store_done;
	sj->is = is;
	sj->uid_cmd = is->uid;
	sj->mflags = imap_flags_to_maildir(flags);
	imap_job_start(is, &sj->job);
}
