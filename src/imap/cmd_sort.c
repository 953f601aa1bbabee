/* cmd_sort.c — SORT and UID SORT (RFC 5256 3), with SORT=DISPLAY's
 * DISPLAYFROM and DISPLAYTO (RFC 5957) and ESORT's RETURN options (RFC
 * 5267, answered as ESEARCH through imap_esearch.h).
 *
 * A job collects the matching messages with the header data the criteria
 * need (imap_sort.h: only the header of each message is read, one message
 * at a time) and sorts them; the loop sends "* SORT 5 3 4" or the
 * ESEARCH response. */
#include "imap/imap_esearch.h"
#include "imap/imap_mailbox.h"
#include "imap/imap_sort.h"
#include "lib/util.h"

#include <inttypes.h>
#include <string.h>

struct sort_job {
	struct session_job job;
	struct imap_session *is;
	struct imap_esearch es;
	struct imap_sort_program prog;
	struct imap_search_key *key;
	bool uid_cmd;
	struct imap_sort_msg *msgs;
	size_t n;
	int result;
	char error[256];
};

static void sort_work(struct session_job *job)
{
	struct sort_job *sj = (struct sort_job *)job;
	const char *error = NULL;

	sj->result = imap_sort_collect(sj->is->sel, sj->key, imap_sort_needs(&sj->prog),
				       &sj->msgs, &sj->n, &error);
	if (sj->result < 0) {
		strlcpy_sp(sj->error, error, sizeof(sj->error));
		return;
	}
	imap_sort_run(sj->msgs, sj->n, &sj->prog);
}

static void send_results(struct sort_job *sj)
{
	struct imap_session *is = sj->is;
	uint32_t *ids = xcalloc(sj->n + 1, sizeof(*ids));
	uint32_t *uids = xcalloc(sj->n + 1, sizeof(*uids));
	struct buf b = { 0 };

	for (size_t i = 0; i < sj->n; i++) {
		uids[i] = sj->msgs[i].uid;
		ids[i] = sj->uid_cmd ? sj->msgs[i].uid : sj->msgs[i].seq;
	}
	if (sj->es.opts & IMAP_ESEARCH_SAVE)
		imap_esearch_save(&sj->es, uids, sj->n, &is->sel->saved);
	if (sj->es.given) {
		if (imap_esearch_answers(&sj->es)) {
			imap_esearch_render(&b, is->tag, sj->uid_cmd, &sj->es, ids, sj->n);
			imap_untagged(is, "%s", b.data);
		}
	} else {
		buf_append(&b, "SORT", 4);
		for (size_t i = 0; i < sj->n; i++)
			buf_printf(&b, " %" PRIu32, ids[i]);
		imap_untagged(is, "%s", b.data);
	}
	buf_free(&b);
	free(ids);
	free(uids);
}

static void sort_done(struct session_job *job, bool live)
{
	struct sort_job *sj = (struct sort_job *)job;
	struct imap_session *is = sj->is;

	if (!live) {
		/* nothing to tell */
	} else if (sj->result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "sort error=\"%s\"", sj->error);
		if (sj->es.opts & IMAP_ESEARCH_SAVE)
			imap_seqset_free(&is->sel->saved);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else {
		send_results(sj);
		imap_command_done(is, "OK", NULL, "Sort completed");
	}
	imap_search_free(&sj->key);
	imap_sort_msgs_free(&sj->msgs, sj->n);
	free(sj);
}

/* [RETURN (options)] (criteria) charset search-keys */
void cmd_sort(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	struct sort_job *sj = xcalloc(1, sizeof(*sj));
	const char *error = "Syntax: SORT (criteria) charset search-keys";
	size_t used = 0;
	enum imap_search_parse_result r = IMAP_SEARCH_PARSE_BAD;

	if (imap_esearch_parse(args, n, &sj->es, &used, &error) == 0 &&
	    used < n && imap_sort_parse(&args[used], &sj->prog, &error) == 0)
		r = imap_sort_parse_keys(is->sel, args + used + 1, n - used - 1,
					 &sj->key, &error);
	if (r != IMAP_SEARCH_PARSE_OK) {
		if (sj->es.opts & IMAP_ESEARCH_SAVE)
			imap_seqset_free(&is->sel->saved);
		free(sj);
		if (r == IMAP_SEARCH_PARSE_BADCHARSET)
			imap_command_done(is, "NO", "BADCHARSET (UTF-8 US-ASCII)",
					  "Unsupported charset");
		else
			imap_command_bad(is, "%s", error);
		return;
	}
	sj->job.work = sort_work;
	sj->job.done = sort_done;
	sj->is = is;
	sj->uid_cmd = is->uid;
	imap_job_start(is, &sj->job);
}
