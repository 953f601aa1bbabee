/* cmd_mailbox.c — CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE (RFC 3501
 * 6.3.3-6.3.7). The store does the work in a job and owns the rules:
 * names are validated there (never a path), missing parents are created,
 * a folder with children leaves its name as \Noselect when deleted,
 * INBOX cannot be deleted and renaming it moves its messages. */
#include "imap/imap.h"
#include "imap/imap_folder.h"
#include "store/maildir.h"
#include "lib/util.h"

#include <string.h>

enum folder_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE };

static const char *const op_names[] = {
	[OP_CREATE] = "create", [OP_DELETE] = "delete", [OP_RENAME] = "rename",
	[OP_SUBSCRIBE] = "subscribe", [OP_UNSUBSCRIBE] = "unsubscribe",
};
static const char *const op_replies[] = {
	[OP_CREATE] = "Create completed", [OP_DELETE] = "Delete completed",
	[OP_RENAME] = "Rename completed", [OP_SUBSCRIBE] = "Subscribe completed",
	[OP_UNSUBSCRIBE] = "Unsubscribe completed",
};

struct folder_job {
	struct session_job job;
	struct imap_session *is;
	enum folder_op op;
	char *root;
	char *name;
	char *new_name;             /* RENAME */
	struct imap_store_result r;
};

static void folder_work(struct session_job *job)
{
	struct folder_job *fj = (struct folder_job *)job;
	const char *error = NULL;
	int ret = -1;

	switch (fj->op) {
	case OP_CREATE:
		ret = maildir_folder_create(fj->root, fj->name, &error);
		break;
	case OP_DELETE:
		ret = maildir_folder_delete(fj->root, fj->name, &error);
		break;
	case OP_RENAME:
		ret = maildir_folder_rename(fj->root, fj->name, fj->new_name, &error);
		break;
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		ret = maildir_subscribe(fj->root, fj->name, fj->op == OP_SUBSCRIBE,
					&error);
		break;
	}
	imap_store_result_set(&fj->r, ret, error);
}

/* RFC 9051 6.3.9 (OLDNAME): an IMAP4rev2 client learns the name a RENAME
 * made, and that a DELETE left none ("\NonExistent"). */
static void send_rev2_list(struct folder_job *fj)
{
	struct buf b = { 0 };

	if (fj->op != OP_RENAME && fj->op != OP_DELETE)
		return;
	buf_printf(&b, "LIST (%s) \"%c\" ", fj->op == OP_DELETE ?
		   "\\NonExistent" : "", MAILDIR_SEP);
	imap_append_mailbox(&b, fj->op == OP_RENAME ? fj->new_name : fj->name, true);
	if (fj->op == OP_RENAME) {
		buf_append(&b, " (\"OLDNAME\" (", 13);
		imap_append_mailbox(&b, fj->name, true);
		buf_append(&b, "))", 2);
	}
	imap_untagged(fj->is, "%s", b.data);
	buf_free(&b);
}

static void folder_done(struct session_job *job, bool live)
{
	struct folder_job *fj = (struct folder_job *)job;
	struct imap_session *is = fj->is;

	if (!live) {
		/* nobody to answer */
	} else if (fj->r.ret < 0) {
		imap_reply_store_error(is, op_names[fj->op], &fj->r);
	} else {
		if (fj->op == OP_RENAME)
			session_log(&is->s, LOG_LEVEL_INFO, "rename mailbox=%s to=%s",
				    fj->name, fj->new_name);
		else
			session_log(&is->s, LOG_LEVEL_INFO, "%s mailbox=%s",
				    op_names[fj->op], fj->name);
		if (is->rev2)
			send_rev2_list(fj);
		imap_command_done(is, "OK", NULL, "%s", op_replies[fj->op]);
	}
	free(fj->root);
	free(fj->name);
	free(fj->new_name);
	free(fj);
}

/* Run op on name (and new_name) in a job; copies both. */
static void folder_job_start(struct imap_session *is, enum folder_op op,
			     const char *name, const char *new_name)
{
	struct folder_job *fj = xcalloc(1, sizeof(*fj));

	fj->job.work = folder_work;
	fj->job.done = folder_done;
	fj->is = is;
	fj->op = op;
	fj->root = xstrdup(is->root);
	fj->name = xstrdup(name);
	fj->new_name = new_name != NULL ? xstrdup(new_name) : NULL;
	imap_job_start(is, &fj->job);
}

/* The one-mailbox commands: "<cmd> mailbox". */
static void one_mailbox(struct imap_session *is, const struct imap_arg *args,
			size_t n, enum folder_op op, const char *syntax)
{
	const char *name;

	if (n != 1 || !imap_arg_get_mailbox(&args[0], &name)) {
		imap_command_bad(is, "Syntax: %s", syntax);
		return;
	}
	folder_job_start(is, op, name, NULL);
}

/* RFC 3501 6.3.3: a trailing separator only says children will follow
 * (the store drops it); missing parents are created. */
void cmd_create(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	one_mailbox(is, args, n, OP_CREATE, "CREATE mailbox");
}

void cmd_delete(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	one_mailbox(is, args, n, OP_DELETE, "DELETE mailbox");
}

void cmd_rename(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	const char *from, *to;

	if (n != 2 || !imap_arg_get_mailbox(&args[0], &from) ||
	    !imap_arg_get_mailbox(&args[1], &to)) {
		imap_command_bad(is, "Syntax: RENAME old-mailbox new-mailbox");
		return;
	}
	folder_job_start(is, OP_RENAME, from, to);
}

/* RFC 3501 6.3.6: the name need not exist (and is kept when it goes). */
void cmd_subscribe(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	one_mailbox(is, args, n, OP_SUBSCRIBE, "SUBSCRIBE mailbox");
}

void cmd_unsubscribe(struct imap_session *is, const struct imap_arg *args,
		     size_t n)
{
	one_mailbox(is, args, n, OP_UNSUBSCRIBE, "UNSUBSCRIBE mailbox");
}
