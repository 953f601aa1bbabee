/* cmd_status.c — STATUS (RFC 3501 6.3.10).
 *
 * The counts come from maildir_status(), which syncs as a read-only view
 * does, leaving new/ where it is: a STATUS never takes \Recent from the
 * session that selects the mailbox next, and RECENT is what that session
 * will see. STATUS of the
 * selected mailbox works the same way (RFC 3501 advises against it). */
#include "imap/imap.h"
#include "imap/imap_folder.h"
#include "imap/imap_modseq.h"
#include "imap/imap_util.h"
#include "store/maildir.h"
#include "lib/util.h"

#include <inttypes.h>
#include <string.h>

enum status_item {
	ITEM_MESSAGES,
	ITEM_RECENT,
	ITEM_UIDNEXT,
	ITEM_UIDVALIDITY,
	ITEM_UNSEEN,
	ITEM_HIGHESTMODSEQ,             /* RFC 7162 3.1.7 */
	ITEM_COUNT
};

static const char *const item_names[ITEM_COUNT] = {
	[ITEM_MESSAGES] = "MESSAGES", [ITEM_RECENT] = "RECENT",
	[ITEM_UIDNEXT] = "UIDNEXT", [ITEM_UIDVALIDITY] = "UIDVALIDITY",
	[ITEM_UNSEEN] = "UNSEEN",
	[ITEM_HIGHESTMODSEQ] = "HIGHESTMODSEQ",
};

struct status_job {
	struct session_job job;
	struct imap_session *is;
	char *root;
	char *name;                 /* as the client wrote it */
	enum status_item items[ITEM_COUNT];   /* in the order asked */
	size_t n_items;
	bool condstore;             /* HIGHESTMODSEQ: a CONDSTORE enabling
				       command (RFC 7162 3.1) */
	struct maildir_status st;
	struct imap_store_result r;
};

static void status_work(struct session_job *job)
{
	struct status_job *sj = (struct status_job *)job;
	struct maildir_folder *folder = NULL;
	const char *error = NULL;
	int ret = maildir_folder_open(sj->root, sj->name, &folder, &error);

	if (ret == 0)
		ret = maildir_status(folder, &sj->st, &error);
	imap_store_result_set(&sj->r, ret, error);
	maildir_folder_close(&folder);
}

static uint64_t item_value(const struct maildir_status *st, enum status_item item)
{
	switch (item) {
	case ITEM_MESSAGES: return st->messages;
	case ITEM_RECENT: return st->recent;
	case ITEM_UIDNEXT: return st->uidnext;
	case ITEM_UIDVALIDITY: return st->uidvalidity;
	case ITEM_UNSEEN: return st->unseen;
	case ITEM_HIGHESTMODSEQ: return st->highest_modseq;
	case ITEM_COUNT: break;
	}
	return 0;
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
		buf_append(&b, "STATUS ", 7);
		imap_append_astring(&b, sj->name);
		for (size_t i = 0; i < sj->n_items; i++)
			buf_printf(&b, "%s%s %" PRIu64, i == 0 ? " (" : " ",
				   item_names[sj->items[i]],
				   item_value(&sj->st, sj->items[i]));
		buf_append(&b, ")", 1);
		imap_untagged(is, "%s", b.data);
		buf_free(&b);
		imap_command_done(is, "OK", NULL, "Status completed");
	}
	free(sj->root);
	free(sj->name);
	free(sj);
}

/* The items of the list; false on an unknown or missing one. Repeats are
 * answered once. */
static bool parse_items(const struct imap_arg *items, size_t count,
			struct status_job *sj)
{
	unsigned seen = 0;

	if (count == 0)
		return false;
	for (size_t i = 0; i < count; i++) {
		size_t k;
		for (k = 0; k < ITEM_COUNT; k++) {
			if (imap_arg_atom_equals(&items[i], item_names[k]))
				break;
		}
		if (k == ITEM_COUNT)
			return false;
		if (seen & (1u << k))
			continue;
		seen |= 1u << k;
		sj->items[sj->n_items++] = (enum status_item)k;
		sj->condstore |= k == ITEM_HIGHESTMODSEQ;
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
	    !parse_items(items, count, sj)) {
		free(sj);
		imap_command_bad(is, "Syntax: STATUS mailbox (MESSAGES RECENT UIDNEXT "
				 "UIDVALIDITY UNSEEN HIGHESTMODSEQ)");
		return;
	}
	if (sj->condstore)
		imap_condstore_enable(is);
	sj->job.work = status_work;
	sj->job.done = status_done;
	sj->is = is;
	sj->root = xstrdup(is->root);
	sj->name = xstrdup(name);
	imap_job_start(is, &sj->job);
}
