/* cmd_copy.c — COPY, UID COPY (RFC 3501 6.4.7) with COPYUID (RFC 4315
 * 3), and MOVE, UID MOVE (RFC 6851).
 *
 * All or nothing: the store copies every message or none; a message
 * expunged meanwhile fails the command with NO [EXPUNGEISSUED], a missing
 * destination with NO [TRYCREATE]. MOVE answers "* OK [COPYUID ...]", then
 * the EXPUNGEs of the moved messages (the sync before the tagged reply),
 * then OK. */
#include "imap/imap_folder.h"
#include "imap/imap_mailbox.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct copy_job {
	struct session_job job;
	struct imap_session *is;
	struct imap_seqset set;
	bool uid_cmd, move;
	char *root, *dest;
	size_t count;
	uint32_t uidvalidity;
	struct imap_seqset src_uids, dst_uids;
	int result, err;
	bool expunged;
	char error[256];
};

/* The messages to copy, in UID order; NULL when one is expunged (COPY is
 * all or nothing, RFC 3501 6.4.7). */
static struct maildir_msg **collect(struct copy_job *cj)
{
	struct imap_mailbox *mb = cj->is->sel;
	struct maildir_msg **list = xcalloc(mb->count + 1, sizeof(*list));

	for (size_t i = 0; i < mb->count; i++) {
		if (!imap_mailbox_in_set(mb, &cj->set, cj->uid_cmd, i) ||
		    (cj->uid_cmd && mb->msgs[i].msg == NULL))
			continue;       /* an expunged UID no longer exists */
		if (mb->msgs[i].msg == NULL) {
			free(list);
			return NULL;
		}
		list[cj->count++] = mb->msgs[i].msg;
		imap_seqset_add(&cj->src_uids, mb->msgs[i].uid, mb->msgs[i].uid);
	}
	return list;
}

/* Copy (or move) into dst, then learn dst's UIDVALIDITY for COPYUID. */
static int copy_into(struct copy_job *cj, struct maildir_msg **list,
		     struct maildir_folder *dst, const char **error_r)
{
	struct imap_mailbox *mb = cj->is->sel;
	uint32_t *uids = xcalloc(cj->count, sizeof(*uids));
	struct maildir_status st;
	int ret = cj->move ? maildir_move(mb->folder, list, cj->count, dst, uids, error_r) :
		maildir_copy(mb->folder, list, cj->count, dst, uids, error_r);

	if (ret == 0) {
		mb->force_sync = true;
		for (size_t i = 0; i < cj->count; i++)
			imap_seqset_add(&cj->dst_uids, uids[i], uids[i]);
		imap_seqset_resolve(&cj->dst_uids, 0);
		imap_seqset_resolve(&cj->src_uids, 0);
		/* (a status, not a sync: \Recent stays for dst's reader) */
		ret = maildir_status(dst, &st, error_r);
		if (ret == 0)
			cj->uidvalidity = st.uidvalidity;
	}
	free(uids);
	return ret;
}

/* RFC 9208: a COPY must fit the quota; a MOVE within the mailbox adds
 * nothing to it. */
static int quota_check(struct copy_job *cj, struct maildir_msg **list,
		       const char **error_r)
{
	uint64_t bytes = 0;

	if (cj->move)
		return 0;
	for (size_t i = 0; i < cj->count; i++)
		bytes += list[i]->size;
	return imap_quota_check(cj->is->user, bytes, cj->count, error_r);
}

static void copy_work(struct session_job *job)
{
	struct copy_job *cj = (struct copy_job *)job;
	struct maildir_folder *dst = NULL;
	struct maildir_msg **list = collect(cj);
	const char *error = NULL;

	if (list == NULL) {
		cj->expunged = true;
		cj->result = -1;
		return;
	}
	if (cj->count > 0 &&
	    (maildir_folder_open(cj->root, cj->dest, &dst, &error) < 0 ||
	     quota_check(cj, list, &error) < 0 ||
	     copy_into(cj, list, dst, &error) < 0)) {
		cj->result = -1;
		cj->err = errno;
		cj->expunged = errno == ENOENT && dst != NULL;
		strlcpy_sp(cj->error, error, sizeof(cj->error));
	}
	maildir_folder_close(&dst);
	free(list);
}

static void copy_reply(struct copy_job *cj)
{
	struct imap_session *is = cj->is;
	const char *what = cj->move ? "Move" : "Copy";
	struct buf code = { 0 };

	if (cj->expunged) {
		imap_command_done(is, "NO", "EXPUNGEISSUED",
				  "Some of the requested messages no longer exist");
	} else if (cj->result < 0 && cj->err == EDQUOT) {
		imap_command_done(is, "NO", "OVERQUOTA", "%s", cj->error);
	} else if (cj->result < 0 && (cj->err == ENOENT || cj->err == EINVAL)) {
		imap_command_done(is, "NO", cj->err == ENOENT ? "TRYCREATE" : "CANNOT",
				  "%s", cj->err == ENOENT ? "Mailbox doesn't exist" :
				  "Invalid mailbox name");
	} else if (cj->result < 0) {
		session_log(&is->s, LOG_LEVEL_ERROR, "%s error=\"%s\"",
			    cj->move ? "move" : "copy", cj->error);
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
	} else if (cj->count == 0) {
		imap_command_done(is, "OK", NULL, "No messages found");
	} else {
		buf_printf(&code, "COPYUID %" PRIu32 " ", cj->uidvalidity);
		imap_seqset_append(&code, &cj->src_uids);
		buf_append(&code, " ", 1);
		imap_seqset_append(&code, &cj->dst_uids);
		buf_append(&code, "", 1);
		session_log(&is->s, LOG_LEVEL_INFO, "%s count=%zu to=%s",
			    cj->move ? "move" : "copy", cj->count, cj->dest);
		if (cj->move) {
			/* RFC 6851 4.3: COPYUID untagged, before the EXPUNGEs */
			imap_untagged(is, "OK [%s] Moved UIDs.", code.data);
			imap_command_done(is, "OK", NULL, "%s completed", what);
		} else {
			imap_command_done(is, "OK", code.data, "%s completed", what);
		}
	}
	buf_free(&code);
}

static void copy_done(struct session_job *job, bool live)
{
	struct copy_job *cj = (struct copy_job *)job;

	if (live)
		copy_reply(cj);
	imap_seqset_free(&cj->set);
	imap_seqset_free(&cj->src_uids);
	imap_seqset_free(&cj->dst_uids);
	free(cj->root);
	free(cj->dest);
	free(cj);
}

static void copy_common(struct imap_session *is, const struct imap_arg *args,
			size_t n, bool move)
{
	struct copy_job *cj = xcalloc(1, sizeof(*cj));
	const char *dest, *error = move ? "Syntax: MOVE sequence-set mailbox" :
		"Syntax: COPY sequence-set mailbox";
	size_t len;

	if (n != 2 || imap_mailbox_msgset(is->sel, &args[0], is->uid, &cj->set,
					  &error) < 0 ||
	    !imap_arg_get_astring(&args[1], &dest, &len) || strlen(dest) != len) {
		imap_seqset_free(&cj->set);
		free(cj);
		imap_command_bad(is, "%s", error);
		return;
	}
	if (move && is->sel->read_only) {
		imap_seqset_free(&cj->set);
		free(cj);
		imap_command_done(is, "NO", "READ-ONLY", "Mailbox is read-only");
		return;
	}
	cj->job.work = copy_work;
	cj->job.done = copy_done;
	cj->is = is;
	cj->uid_cmd = is->uid;
	cj->move = move;
	cj->root = xstrdup(is->root);
	cj->dest = xstrdup(dest);
	imap_job_start(is, &cj->job);
}

void cmd_copy(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	copy_common(is, args, n, false);
}

void cmd_move(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	copy_common(is, args, n, true);
}
