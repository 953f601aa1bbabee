/* cmd_status.c — STATUS (RFC 3501 6.3.10).
 *
 * The counts come from maildir_status(), which syncs as a read-only view
 * does, leaving new/ where it is: a STATUS never takes \Recent from the
 * session that selects the mailbox next, and RECENT is what that session
 * will see. STATUS of the
 * selected mailbox works the same way (RFC 3501 advises against it).
 * DELETED and SIZE are IMAP4rev2's (RFC 9051 6.3.11; STATUS=SIZE, RFC
 * 8438); LIST-STATUS (cmd_list.c) shares the items and the response. */
#include "imap/imap.h"
#include "imap/imap_folder.h"
#include "imap/imap_modseq.h"
#include "imap/imap_status.h"
#include "imap/imap_util.h"
#include "store/maildir.h"
#include "lib/util.h"

#include <inttypes.h>
#include <string.h>

static const char *const item_names[IMAP_STATUS_ITEM_COUNT] = {
	[IMAP_STATUS_MESSAGES] = "MESSAGES", [IMAP_STATUS_RECENT] = "RECENT",
	[IMAP_STATUS_UIDNEXT] = "UIDNEXT", [IMAP_STATUS_UIDVALIDITY] = "UIDVALIDITY",
	[IMAP_STATUS_UNSEEN] = "UNSEEN", [IMAP_STATUS_DELETED] = "DELETED",
	[IMAP_STATUS_SIZE] = "SIZE",
	[IMAP_STATUS_DELETED_STORAGE] = "DELETED-STORAGE",
	[IMAP_STATUS_HIGHESTMODSEQ] = "HIGHESTMODSEQ",
};

struct status_job {
	struct session_job job;
	struct imap_session *is;
	char *root;
	char *name;                 /* as the client wrote it */
	struct imap_status_request req;
	struct maildir_status st;
	struct imap_store_result r;
};

int imap_status_read(const char *root, const char *name,
		     struct maildir_status *st_r, const char **error_r)
{
	struct maildir_folder *folder = NULL;
	int ret = maildir_folder_open(root, name, &folder, error_r);

	if (ret == 0)
		ret = maildir_status(folder, st_r, error_r);
	maildir_folder_close(&folder);
	return ret;
}

static void status_work(struct session_job *job)
{
	struct status_job *sj = (struct status_job *)job;
	const char *error = NULL;
	int ret = imap_status_read(sj->root, sj->name, &sj->st, &error);

	imap_store_result_set(&sj->r, ret, error);
}

static uint64_t item_value(const struct maildir_status *st, enum imap_status_item item)
{
	switch (item) {
	case IMAP_STATUS_MESSAGES: return st->messages;
	case IMAP_STATUS_RECENT: return st->recent;
	case IMAP_STATUS_UIDNEXT: return st->uidnext;
	case IMAP_STATUS_UIDVALIDITY: return st->uidvalidity;
	case IMAP_STATUS_UNSEEN: return st->unseen;
	case IMAP_STATUS_DELETED: return st->deleted;
	case IMAP_STATUS_SIZE: return st->size;
	case IMAP_STATUS_DELETED_STORAGE: return (st->deleted_bytes + 1023) / 1024;
	case IMAP_STATUS_HIGHESTMODSEQ: return st->highest_modseq;
	case IMAP_STATUS_ITEM_COUNT: break;
	}
	return 0;
}

void imap_status_render(struct buf *b, const char *name, bool utf8,
			const struct imap_status_request *req,
			const struct maildir_status *st)
{
	buf_append(b, "STATUS ", 7);
	imap_append_mailbox(b, name, utf8);
	for (size_t i = 0; i < req->n_items; i++)
		buf_printf(b, "%s%s %" PRIu64, i == 0 ? " (" : " ",
			   item_names[req->items[i]], item_value(st, req->items[i]));
	buf_append(b, ")", 1);
}

static void status_done(struct session_job *job, bool live)
{
	struct status_job *sj = (struct status_job *)job;
	struct imap_session *is = sj->is;

	if (!live) {
		/* nobody to answer */
	} else if (sj->r.ret < 0) {
		imap_reply_store_error(is, "status", &sj->r);
	} else {
		struct buf b = { 0 };
		imap_status_render(&b, sj->name, is->rev2, &sj->req, &sj->st);
		imap_untagged(is, "%s", b.data);
		buf_free(&b);
		imap_command_done(is, "OK", NULL, "Status completed");
	}
	free(sj->root);
	free(sj->name);
	free(sj);
}

/* Repeats are answered once. */
bool imap_status_parse(const struct imap_arg *items, size_t count,
		       struct imap_status_request *req_r)
{
	unsigned seen = 0;

	memset(req_r, 0, sizeof(*req_r));
	if (count == 0)
		return false;
	for (size_t i = 0; i < count; i++) {
		size_t k;
		for (k = 0; k < IMAP_STATUS_ITEM_COUNT; k++) {
			if (imap_arg_atom_equals(&items[i], item_names[k]))
				break;
		}
		if (k == IMAP_STATUS_ITEM_COUNT)
			return false;
		if (seen & (1u << k))
			continue;
		seen |= 1u << k;
		req_r->items[req_r->n_items++] = (enum imap_status_item)k;
	}
	return true;
}

void cmd_status(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	const struct imap_arg *items;
	const char *name;
	size_t count;
	struct status_job *sj = xcalloc(1, sizeof(*sj));

	if (n != 2 || !imap_arg_get_mailbox(&args[0], &name) ||
	    !imap_arg_get_list(&args[1], &items, &count) ||
	    !imap_status_parse(items, count, &sj->req)) {
		free(sj);
		imap_command_bad(is, "Syntax: STATUS mailbox (MESSAGES RECENT UIDNEXT "
				 "UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ)");
		return;
	}
	/* RFC 9051 6.3.11: no RECENT for an IMAP4rev2 client */
	for (size_t i = 0; is->rev2 && i < sj->req.n_items; i++) {
		if (sj->req.items[i] == IMAP_STATUS_RECENT) {
			free(sj);
			imap_command_bad(is, "RECENT is not an IMAP4rev2 status item");
			return;
		}
	}
	/* RFC 7162 3.1: HIGHESTMODSEQ is a CONDSTORE enabling item */
	for (size_t i = 0; i < sj->req.n_items; i++) {
		if (sj->req.items[i] == IMAP_STATUS_HIGHESTMODSEQ)
			imap_condstore_enable(is);
	}
	sj->job.work = status_work;
	sj->job.done = status_done;
	sj->is = is;
	sj->root = xstrdup(is->root);
	sj->name = xstrdup(name);
	imap_job_start(is, &sj->job);
}
