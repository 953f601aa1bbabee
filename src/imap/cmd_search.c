/* cmd_search.c — SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8, 7.2.5),
 * with ESEARCH's RETURN options (RFC 4731) and SEARCHRES's SAVE (RFC 5182)
 * through imap_esearch.h.
 *
 * The keys are parsed and evaluated by imap_search.h in a job, one message
 * at a time: flags, sizes and dates come from the view; header keys read
 * the header only, body keys the whole MIME tree (cached) and stream each
 * text part through the decoder (never the whole message in memory). */
#include "imap/imap_esearch.h"
#include "imap/imap_mailbox.h"
#include "imap/imap_modseq.h"
#include "imap/imap_msg.h"
#include "imap/imap_search.h"
#include "lib/util.h"

#include <inttypes.h>
#include <string.h>

struct search_job {
	struct session_job job;
	struct imap_session *is;
	struct imap_search_key *key;
	bool uid_cmd;
	bool modseq;                    /* MODSEQ used (RFC 7162 3.1.6) */
	uint64_t max_modseq;            /* the highest of those found */
	struct imap_esearch es;         /* RETURN (...) */
	uint32_t *seqs, *uids;          /* the matches, ascending */
	size_t n_found, cap_found;
	int result;
	char error[256];
};

/* Does view message i match? -1 when reading it failed. */
static int match_one(struct search_job *sj, size_t i, bool *match_r)
{
	struct imap_msg msg;
	const char *error = NULL;
	bool opened;

	if (imap_msg_search(sj->is->sel, i, sj->key, IMAP_MSG_NEED_NOTHING, &msg,
			    &opened, match_r, &error) < 0) {
		strlcpy_sp(sj->error, error, sizeof(sj->error));
		return -1;
	}
	if (opened)
		imap_msg_close(&msg);
	return 0;
}

static void add_found(struct search_job *sj, uint32_t seq, uint32_t uid)
{
	if (sj->n_found == sj->cap_found) {
		sj->cap_found = sj->cap_found ? sj->cap_found * 2 : 64;
		sj->seqs = xrealloc(sj->seqs, sj->cap_found * sizeof(*sj->seqs));
		sj->uids = xrealloc(sj->uids, sj->cap_found * sizeof(*sj->uids));
	}
	sj->seqs[sj->n_found] = seq;
	sj->uids[sj->n_found++] = uid;
}

static void search_work(struct session_job *job)
{
	struct search_job *sj = (struct search_job *)job;
	struct imap_mailbox *mb = sj->is->sel;

	for (size_t i = 0; i < mb->count; i++) {
		bool match;
		if (mb->msgs[i].msg == NULL)
			continue;       /* expunged: found by nothing */
		if (match_one(sj, i, &match) < 0) {
			sj->result = -1;
			return;
		}
		if (!match)
			continue;
		add_found(sj, (uint32_t)(i + 1), mb->msgs[i].uid);
		uint64_t modseq = imap_view_msg_modseq(&mb->msgs[i]);
		if (modseq > sj->max_modseq)
			sj->max_modseq = modseq;
	}
}

/* Answer: "* SEARCH 1 4 9", or ESEARCH for RETURN (RFC 4731); SAVE keeps
 * the result as "$" (RFC 5182). */
static void send_results(struct search_job *sj)
{
	struct imap_session *is = sj->is;
	const uint32_t *ids = sj->uid_cmd ? sj->uids : sj->seqs;
	struct buf b = { 0 };

	if (sj->es.opts & IMAP_ESEARCH_SAVE)
		imap_esearch_save(&sj->es, sj->uids, sj->n_found, &is->sel->saved);
	if (sj->es.given) {
		if (imap_esearch_answers(&sj->es)) {
			imap_esearch_render(&b, is->tag, sj->uid_cmd, &sj->es, ids,
					    sj->n_found);
			/* RFC 7162 3.1.10: the highest mod-sequence found */
			if (sj->modseq && sj->n_found > 0)
				buf_printf(&b, " MODSEQ %" PRIu64, sj->max_modseq);
			imap_untagged(is, "%s", b.data);
		}
	} else {
		buf_append(&b, "SEARCH", 6);
		for (size_t i = 0; i < sj->n_found; i++)
			buf_printf(&b, " %" PRIu32, ids[i]);
		/* RFC 7162 3.1.5: the highest mod-sequence of the matches */
		if (sj->modseq && sj->n_found > 0)
			buf_printf(&b, " (MODSEQ %" PRIu64 ")", sj->max_modseq);
		imap_untagged(is, "%s", b.data);
	}
	buf_free(&b);
}

static void search_done(struct session_job *job, bool live)
{
	struct search_job *sj = (struct search_job *)job;
	struct imap_session *is = sj->is;

	if (!live) {
		/* nothing to tell */
	} else if (sj->result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "search error=\"%s\"", sj->error);
		/* RFC 5182 2.1: a failed SAVE leaves "$" empty */
		if (sj->es.opts & IMAP_ESEARCH_SAVE)
			imap_seqset_free(&is->sel->saved);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else {
		send_results(sj);
		imap_command_done(is, "OK", NULL, "Search completed");
	}
	imap_search_free(&sj->key);
	free(sj->seqs);
	free(sj->uids);
	free(sj);
}

void cmd_search(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct imap_mailbox *mb = is->sel;
	struct imap_search_key *key = NULL;
	const char *error = "Syntax error";
	struct imap_esearch es;
	size_t used;

	if (imap_esearch_parse(args, n, &es, &used, &error) < 0) {
		if (es.opts & IMAP_ESEARCH_SAVE)
			imap_seqset_free(&mb->saved);
		imap_command_bad(is, "%s", error);
		return;
	}
	/* RFC 9051 6.4.4: IMAP4rev2 answers ESEARCH, "RETURN (ALL)" when
	 * nothing was asked */
	if (is->rev2 && !es.given) {
		es.given = true;
		es.opts = IMAP_ESEARCH_ALL;
	}
	switch (imap_search_parse(args + used, n - used, &key, &error)) {
	case IMAP_SEARCH_PARSE_OK:
		break;
	case IMAP_SEARCH_PARSE_BADCHARSET:
		imap_command_done(is, "NO", "BADCHARSET (UTF-8 US-ASCII)",
				  "Unsupported charset");
		return;
	case IMAP_SEARCH_PARSE_BAD:
		/* RFC 5182 2.1: a SEARCH ... SAVE that fails empties "$" */
		if (es.opts & IMAP_ESEARCH_SAVE)
			imap_seqset_free(&mb->saved);
		imap_command_bad(is, "%s", error);
		return;
	}
	imap_search_use_saved(key, &mb->saved);
	imap_search_resolve(key, (uint32_t)mb->count,
			    mb->count > 0 ? mb->msgs[mb->count - 1].uid : 0);
	struct search_job *sj = xcalloc(1, sizeof(*sj));
	sj->job.work = search_work;
	sj->job.done = search_done;
	sj->is = is;
	sj->es = es;
	sj->key = key;
	sj->uid_cmd = is->uid;
	sj->modseq = imap_search_uses_modseq(key);
	if (sj->modseq)
		imap_condstore_enable(is);
	imap_job_start(is, &sj->job);
}
