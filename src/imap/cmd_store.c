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
 * command that may announce it.
 *
 * All messages are stored in one go (one critical section of the store,
 * one new mod-sequence). STORE (UNCHANGEDSINCE n) (RFC 7162 3.1.3) stores
 * only to messages whose mod-sequence is still at most n; the others are
 * named in OK [MODIFIED set], and hear of their current flags from the
 * update before the tagged reply. Once CONDSTORE is on, the FETCH
 * responses carry MODSEQ, and .SILENT ones still say MODSEQ. */
#include "imap/imap_mailbox.h"
#include "imap/imap_modseq.h"
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
	bool conditional;               /* UNCHANGEDSINCE */
	uint64_t unchanged_since;
	bool *stored;                   /* per view message: stored now */
	struct imap_seqset modified;    /* failed the UNCHANGEDSINCE test */
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

/* The messages of the set still there, and their view indexes. */
static size_t collect(struct store_job *sj, struct maildir_msg **list, size_t *idx)
{
	struct imap_mailbox *mb = sj->is->sel;
	size_t n = 0;

	for (size_t i = 0; i < mb->count; i++) {
		if (!imap_mailbox_in_set(mb, &sj->set, sj->uid_cmd, i) ||
		    mb->msgs[i].msg == NULL)
			continue;  /* expunged since the client last looked */
		idx[n] = i;
		list[n++] = mb->msgs[i].msg;
	}
	return n;
}

/* Store to the n messages; the job learns which were stored and which
 * failed the UNCHANGEDSINCE test. */
static int store_all(struct store_job *sj, struct maildir_msg **list,
		     const size_t *idx, size_t n, const struct maildir_store *st,
		     enum maildir_store_result *res, const char **error_r)
{
	struct imap_mailbox *mb = sj->is->sel;

	if (maildir_msgs_store(mb->folder, list, n, st, res, error_r) < 0)
		return -1;
	for (size_t k = 0; k < n; k++) {
		uint32_t v = sj->uid_cmd ? mb->msgs[idx[k]].uid : (uint32_t)(idx[k] + 1);
		if (res[k] == MAILDIR_STORE_CHANGED || res[k] == MAILDIR_STORE_UNCHANGED)
			sj->stored[idx[k]] = true;
		else if (res[k] == MAILDIR_STORE_MODIFIED)
			imap_seqset_add(&sj->modified, v, v);
	}
	imap_seqset_resolve(&sj->modified, 0);
	return 0;
}

static void store_work(struct session_job *job)
{
	struct store_job *sj = (struct store_job *)job;
	struct imap_mailbox *mb = sj->is->sel;
	struct maildir_store st = { .op = sj->op, .flags = sj->mflags,
				    .with_keywords = true,
				    .conditional = sj->conditional,
				    .unchanged_since = sj->unchanged_since };
	struct maildir_msg **list = xcalloc(mb->count + 1, sizeof(*list));
	size_t *idx = xcalloc(mb->count + 1, sizeof(*idx));
	enum maildir_store_result *res = xcalloc(mb->count + 1, sizeof(*res));
	const char *error = NULL;

	sj->stored = xcalloc(mb->count + 1, sizeof(*sj->stored));
	if ((sj->result = keyword_mask(sj, &st.keywords, &error)) < 0) {
		strlcpy_sp(sj->error, error, sizeof(sj->error));
		goto out;
	}
	size_t n = collect(sj, list, idx);
	/* 'P' (passed) has no IMAP name: FLAGS keeps it. */
	st.keep = MAILDIR_FLAG_PASSED;
	if (n > 0 && store_all(sj, list, idx, n, &st, res, &error) < 0) {
		sj->result = -1;
		strlcpy_sp(sj->error, error, sizeof(sj->error));
	}
out:
	free(list);
	free(idx);
	free(res);
}

/* "* n FETCH (FLAGS (...))" for every stored message (RFC 3501 6.4.6),
 * none with .SILENT; once CONDSTORE is on with MODSEQ, and with .SILENT
 * "* n FETCH (MODSEQ (m))" for those that changed (RFC 7162 3.1.3). The
 * view remembers what the client now knows. */
static void send_results(struct store_job *sj)
{
	struct imap_session *is = sj->is;
	struct imap_mailbox *mb = is->sel;
	struct buf b = { 0 };

	imap_mailbox_announce_keywords(is);
	for (size_t i = 0; i < mb->count && sj->stored != NULL; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		if (m->msg == NULL || !sj->stored[i])
			continue;
		imap_view_msg_current(mb, m, &m->flags, &m->keywords);
		bool moved = m->msg->modseq != m->modseq;
		if (sj->silent && !(is->condstore && moved)) {
			m->modseq = m->msg->modseq;
			continue;
		}
		const char *sep = "";
		b.len = 0;
		buf_printf(&b, "%zu FETCH (", i + 1);
		if (!sj->silent) {
			buf_append(&b, "FLAGS ", 6);
			imap_mailbox_append_flags(mb, &b, m->flags, m->keywords);
			sep = " ";
		}
		if (sj->uid_cmd || is->qresync) {
			buf_printf(&b, "%sUID %" PRIu32, sep, m->uid);
			sep = " ";
		}
		m->modseq = m->msg->modseq;
		if (is->condstore)
			buf_printf(&b, "%sMODSEQ (%" PRIu64 ")", sep, m->modseq);
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
		} else if (sj->modified.count > 0) {
			struct buf code = { 0 };
			buf_append(&code, "MODIFIED ", 9);
			imap_seqset_append(&code, &sj->modified);
			buf_append(&code, "", 1);
			imap_command_done(is, "OK", code.data, "Conditional STORE failed");
			buf_free(&code);
		} else {
			imap_command_done(is, "OK", NULL, "Store completed");
		}
	}
	imap_seqset_free(&sj->set);
	imap_seqset_free(&sj->modified);
	strv_free(&sj->keywords);
	free(sj->stored);
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
	const char *item, *error = "Syntax: STORE sequence-set [(UNCHANGEDSINCE n)] "
		"[+|-]FLAGS[.SILENT] flags";
	const struct imap_arg *set = &args[0], *rest = args + 1;
	size_t n_rest = n > 0 ? n - 1 : 0;
	uint32_t flags;

	/* RFC 4466 2.5: store modifiers come after the set. */
	if (n_rest >= 3 && rest[0].type == IMAP_ARG_LIST) {
		if (imap_store_mods_parse(&rest[0], &sj->unchanged_since, &error) < 0) {
			free(sj);
			imap_command_bad(is, "%s", error);
			return;
		}
		sj->conditional = true;
		rest++, n_rest--;
	}
	const struct imap_arg *items = rest + 1;
	size_t count = n_rest >= 1 ? n_rest - 1 : 0;
	if (n_rest == 2 && rest[1].type == IMAP_ARG_LIST) {
		items = rest[1].list;
		count = rest[1].len;
	}
	if (n_rest < 2 || imap_mailbox_msgset(is->sel, set, is->uid, &sj->set, &error) < 0 ||
	    !imap_arg_get_atom(&rest[0], &item) ||
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
	if (sj->conditional)
		imap_condstore_enable(is);
	sj->job.work = store_work;
	sj->job.done = store_done;
	sj->is = is;
	sj->uid_cmd = is->uid;
	sj->mflags = imap_flags_to_maildir(flags);
	imap_job_start(is, &sj->job);
}
