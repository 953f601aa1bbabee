/* cmd_thread.c — THREAD and UID THREAD (RFC 5256 3): ORDEREDSUBJECT and
 * REFERENCES (imap_thread.h) over the messages that match the search keys.
 *
 * A job collects the matching messages with their base subjects, sent
 * dates and message identifiers (the header of each, one at a time),
 * threads them and renders the thread lists; the loop sends
 * "* THREAD (2)(3 6 (4 23)(44 7 96))". */
#include "imap/imap_mailbox.h"
#include "imap/imap_sort.h"
#include "imap/imap_thread.h"
#include "lib/util.h"

#include <string.h>

struct thread_job {
	struct session_job job;
	struct imap_session *is;
	enum imap_thread_algorithm alg;
	struct imap_search_key *key;
	bool uid_cmd;
	struct buf out;                 /* "THREAD (..)(..)" */
	int result;
	char error[256];
};

static void thread_work(struct session_job *job)
{
	struct thread_job *tj = (struct thread_job *)job;
	struct imap_sort_msg *msgs = NULL;
	const char *error = NULL;
	size_t n = 0;

	tj->result = imap_sort_collect(tj->is->sel, tj->key, imap_thread_needs(tj->alg),
				       &msgs, &n, &error);
	if (tj->result < 0) {
		strlcpy_sp(tj->error, error, sizeof(tj->error));
		return;
	}
	buf_append(&tj->out, "THREAD", 6);
	if (n > 0)
		buf_append(&tj->out, " ", 1);
	imap_thread_run(tj->alg, msgs, n, tj->uid_cmd, &tj->out);
	imap_sort_msgs_free(&msgs, n);
}

static void thread_done(struct session_job *job, bool live)
{
	struct thread_job *tj = (struct thread_job *)job;
	struct imap_session *is = tj->is;

	if (!live) {
		/* nothing to tell */
	} else if (tj->result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "thread error=\"%s\"", tj->error);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else {
		imap_untagged(is, "%s", tj->out.data);
		imap_command_done(is, "OK", NULL, "Thread completed");
	}
	imap_search_free(&tj->key);
	buf_free(&tj->out);
	free(tj);
}

/* algorithm charset search-keys */
void cmd_thread(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	enum imap_thread_algorithm alg;
	struct imap_search_key *key = NULL;
	const char *name, *error = "Syntax: THREAD algorithm charset search-keys";
	enum imap_search_parse_result r = IMAP_SEARCH_PARSE_BAD;

	if (n >= 1 && imap_arg_get_atom(&args[0], &name)) {
		if (!imap_thread_algorithm_parse(name, &alg))
			error = "Unknown threading algorithm";
		else
			r = imap_sort_parse_keys(is->sel, args + 1, n - 1, &key, &error);
	}
	if (r == IMAP_SEARCH_PARSE_BADCHARSET) {
		imap_command_done(is, "NO", "BADCHARSET (UTF-8 US-ASCII)",
				  "Unsupported charset");
		return;
	}
	if (r != IMAP_SEARCH_PARSE_OK) {
		imap_command_bad(is, "%s", error);
		return;
	}
	struct thread_job *tj = xcalloc(1, sizeof(*tj));
	tj->job.work = thread_work;
	tj->job.done = thread_done;
	tj->is = is;
	tj->alg = alg;
	tj->key = key;
	tj->uid_cmd = is->uid;
	imap_job_start(is, &tj->job);
}
