/* cmd_search.c — SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8, 7.2.5).
 *
 * The keys are parsed and evaluated by imap_search.h in a job, one message
 * at a time: flags, sizes and dates come from the view; header keys read
 * the header only, body keys the whole MIME tree (cached) and stream each
 * text part through the decoder (never the whole message in memory). */
#include "imap/imap_mailbox.h"
#include "imap/imap_modseq.h"
#include "imap/imap_msg.h"
#include "imap/imap_search.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct search_job {
	struct session_job job;
	struct imap_session *is;
	struct imap_search_key *key;
	unsigned needs;
	bool uid_cmd;
	bool modseq;                    /* MODSEQ used (RFC 7162 3.1.6) */
	uint64_t max_modseq;            /* the highest of those found */
	struct buf found;               /* " 1 4 9" */
	int result;
	char error[256];
};

/* Does view message i match? -1 when reading it failed. */
static int match_one(struct search_job *sj, size_t i, bool *match_r)
{
	struct imap_mailbox *mb = sj->is->sel;
	struct imap_view_msg *m = &mb->msgs[i];
	const char *kw[MAILDIR_KEYWORDS_MAX];
	struct imap_search_msg sm = { .seq = (uint32_t)(i + 1), .uid = m->uid,
				      .size = m->size, .internal_date = m->internal_date,
				      .modseq = imap_view_msg_modseq(m) };
	struct imap_msg msg = { .fd = -1 };
	const char *error = NULL;
	uint32_t keywords;
	int ret = 0;

	*match_r = false;
	imap_view_msg_current(mb, m, &sm.flags, &keywords);
	sm.n_keywords = imap_mailbox_keyword_names(mb, keywords, kw);
	sm.keywords = kw;
	if (sj->needs != 0) {
		if (imap_msg_open(mb, m, (sj->needs & IMAP_SEARCH_NEEDS_BODY) ?
				  IMAP_MSG_NEED_TREE : IMAP_MSG_NEED_HEADER,
				  &msg, &error) < 0) {
			if (errno == ENOENT)
				return 0;       /* expunged: no match */
			strlcpy_sp(sj->error, error, sizeof(sj->error));
			return -1;
		}
		sm.mime = msg.root;
		sm.reader = &msg.reader;
	}
	if (imap_search_match(sj->key, &sm, match_r, &error) < 0)
		ret = -1;
	imap_msg_close(&msg);
	if (ret < 0)
		strlcpy_sp(sj->error, error, sizeof(sj->error));
	return ret;
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
		buf_printf(&sj->found, " %" PRIu32,
			   sj->uid_cmd ? mb->msgs[i].uid : (uint32_t)(i + 1));
		uint64_t modseq = imap_view_msg_modseq(&mb->msgs[i]);
		if (modseq > sj->max_modseq)
			sj->max_modseq = modseq;
	}
}

static void search_done(struct session_job *job, bool live)
{
	struct search_job *sj = (struct search_job *)job;
	struct imap_session *is = sj->is;

	if (!live) {
		/* nothing to tell */
	} else if (sj->result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "search error=\"%s\"", sj->error);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else {
		if (sj->modseq && sj->found.len > 0)
			buf_printf(&sj->found, " (MODSEQ %" PRIu64 ")", sj->max_modseq);
		buf_append(&sj->found, "", 1);
		imap_untagged(is, "SEARCH%s", sj->found.data);
		imap_command_done(is, "OK", NULL, "Search completed");
	}
	imap_search_free(&sj->key);
	buf_free(&sj->found);
	free(sj);
}

void cmd_search(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct imap_mailbox *mb = is->sel;
	struct imap_search_key *key = NULL;
	const char *error = "Syntax error";

	switch (imap_search_parse(args, n, &key, &error)) {
	case IMAP_SEARCH_PARSE_OK:
		break;
	case IMAP_SEARCH_PARSE_BADCHARSET:
		imap_command_done(is, "NO", "BADCHARSET (UTF-8 US-ASCII)",
				  "Unsupported charset");
		return;
	case IMAP_SEARCH_PARSE_BAD:
		imap_command_bad(is, "%s", error);
		return;
	}
	imap_search_resolve(key, (uint32_t)mb->count,
			    mb->count > 0 ? mb->msgs[mb->count - 1].uid : 0);
	struct search_job *sj = xcalloc(1, sizeof(*sj));
	sj->job.work = search_work;
	sj->job.done = search_done;
	sj->is = is;
	sj->key = key;
	sj->needs = imap_search_needs(key);
	sj->uid_cmd = is->uid;
	sj->modseq = imap_search_uses_modseq(key);
	if (sj->modseq)
		imap_condstore_enable(is);
	imap_job_start(is, &sj->job);
}
