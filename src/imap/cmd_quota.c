/* cmd_quota.c — QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and the
 * refusal of SETQUOTA, with the STORAGE and MESSAGE resources, and the
 * check APPEND and COPY make before adding messages.
 *
 * Every mailbox is one quota root, named "" (as in RFC 9208's examples),
 * covering all its folders. Its limits are the config's [limits] quota
 * and quota_messages, or the user's own userdb_quota_rule in the passwd
 * file (auth.h); its usage is the Maildir++ maildirsize the store keeps
 * (store/maildir.h), so no command scans the messages. STORAGE is
 * reported in units of 1024 octets, the usage rounded up. A user without
 * limits has no quota root. */
#include "imap/imap.h"
#include "imap/imap_folder.h"
#include "imap/imap_util.h"
#include "auth/auth.h"
#include "store/maildir.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* The one quota root of a mailbox (RFC 9208 5.2). */
#define IMAP_QUOTA_ROOT ""

int imap_quota_check(const char *user, uint64_t bytes, uint64_t messages,
		     const char **error_r)
{
	const char *error;
	bool allowed;

	if (auth_quota_check(user, bytes, messages, &allowed, &error) < 0) {
		/* the usage cannot be read: no reason to refuse mail */
		log_warn("quota of %s: %s", user, error);
		return 0;
	}
	if (allowed)
		return 0;
	*error_r = "Quota exceeded (mailbox for user is full)";
	errno = EDQUOT;
	return -1;
}

struct quota_job {
	struct session_job job;
	struct imap_session *is;
	char *user, *root;
	char *mailbox;              /* GETQUOTAROOT: its argument */
	struct maildir_quota limit;
	struct maildir_quota_usage usage;
	bool limited;
	struct imap_store_result r;
};

static void quota_work(struct session_job *job)
{
	struct quota_job *qj = (struct quota_job *)job;
	struct maildir_folder *folder = NULL;
	const char *error = NULL;
	int ret = 0;

	/* GETQUOTAROOT names a mailbox: it must exist */
	if (qj->mailbox != NULL) {
		ret = maildir_folder_open(qj->root, qj->mailbox, &folder, &error);
		maildir_folder_close(&folder);
	}
	if (ret == 0)
		ret = auth_quota_get(qj->user, &qj->limit, &qj->usage, &qj->limited,
				     &error);
	imap_store_result_set(&qj->r, ret, error);
}

/* "QUOTA "" (STORAGE 10 1024 MESSAGE 3 100)": the limited resources. */
static void send_quota(struct quota_job *qj)
{
	struct buf b = { 0 };
	const char *sp = "";

	buf_append(&b, "QUOTA ", 6);
	imap_append_string(&b, IMAP_QUOTA_ROOT, strlen(IMAP_QUOTA_ROOT));
	buf_append(&b, " (", 2);
	if (qj->limit.bytes > 0) {
		buf_printf(&b, "STORAGE %" PRIu64 " %" PRIu64,
			   (qj->usage.bytes + 1023) / 1024, qj->limit.bytes / 1024);
		sp = " ";
	}
	if (qj->limit.messages > 0)
		buf_printf(&b, "%sMESSAGE %" PRIu64 " %" PRIu64, sp,
			   qj->usage.messages, qj->limit.messages);
	buf_append(&b, ")", 1);
	imap_untagged(qj->is, "%s", b.data);
	buf_free(&b);
}

static void quota_done(struct session_job *job, bool live)
{
	struct quota_job *qj = (struct quota_job *)job;
	struct imap_session *is = qj->is;

	if (!live) {
		/* nobody to answer */
	} else if (qj->r.ret < 0) {
		imap_reply_store_error(is, "quota", &qj->r);
	} else if (qj->mailbox != NULL) {
		struct buf b = { 0 };
		buf_append(&b, "QUOTAROOT ", 10);
		imap_append_mailbox(&b, qj->mailbox, is->rev2);
		if (qj->limited) {
			buf_append(&b, " ", 1);
			imap_append_string(&b, IMAP_QUOTA_ROOT, strlen(IMAP_QUOTA_ROOT));
		}
		imap_untagged(is, "%s", b.data);
		buf_free(&b);
		if (qj->limited)
			send_quota(qj);
		imap_command_done(is, "OK", NULL, "Getquotaroot completed");
	} else if (!qj->limited) {
		imap_command_done(is, "NO", "NONEXISTENT", "No such quota root");
	} else {
		send_quota(qj);
		imap_command_done(is, "OK", NULL, "Getquota completed");
	}
	free(qj->user);
	free(qj->root);
	free(qj->mailbox);
	free(qj);
}

static void start(struct imap_session *is, const char *mailbox)
{
	struct quota_job *qj = xcalloc(1, sizeof(*qj));

	qj->job.work = quota_work;
	qj->job.done = quota_done;
	qj->is = is;
	qj->user = xstrdup(is->user);
	qj->root = xstrdup(is->root);
	qj->mailbox = mailbox != NULL ? xstrdup(mailbox) : NULL;
	imap_job_start(is, &qj->job);
}

void cmd_getquota(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	const char *root;
	size_t len;

	if (n != 1 || !imap_arg_get_astring(&args[0], &root, &len)) {
		imap_command_bad(is, "Syntax: GETQUOTA quota-root");
		return;
	}
	if (strcmp(root, IMAP_QUOTA_ROOT) != 0) {
		imap_command_done(is, "NO", "NONEXISTENT", "No such quota root");
		return;
	}
	start(is, NULL);
}

void cmd_getquotaroot(struct imap_session *is, const struct imap_arg *args,
		      size_t n)
{
	const char *mailbox;

	if (n != 1 || !imap_arg_get_mailbox(&args[0], &mailbox)) {
		imap_command_bad(is, "Syntax: GETQUOTAROOT mailbox");
		return;
	}
	start(is, mailbox);
}

/* RFC 9208 4.1.3: limits are the administrator's (QUOTASET is not
 * announced). */
void cmd_setquota(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	imap_command_done(is, "NO", "NOPERM", "Quota limits are set by the "
			  "administrator");
}
