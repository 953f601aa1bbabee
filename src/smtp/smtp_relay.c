/* smtp_relay.c — mail from authenticated users to other domains: the
 * recipients kept beside the local ones, and the queue's part of the commit
 * at the end of DATA (queue.h): the message is queued for them in the same
 * group commit batch as its local copies (store/deliver.h), as one: 250
 * only once the queue file, the message and the folders are synced, each
 * recipient exactly once. */
#include "smtp/smtp.h"
#include "queue/queue.h"
#include "store/deliver.h"
#include "lib/util.h"

#include <string.h>

struct smtp_outbound {
	char *sender;                /* "" for <> */
	unsigned flags;              /* enum queue_flags */
	char **rcpts;
	size_t n;
	uint64_t offset;             /* the spool's Return-Path line */
	char queue_id[QUEUE_ID_LEN + 1];
	struct queue_submission qs;  /* while staged in a commit batch */
	struct queue_stage stage;
};

void smtp_rcpt_remote(struct smtp_session *ss, const struct smtp_path *path)
{
	/* The local part as given (quotes and case kept: only the remote
	 * knows what it means), the domain in lower case. */
	const char *at = strrchr(path->address, '@');
	char *address = xasprintf("%.*s@%s", (int)(at - path->address),
				  path->address, path->domain);

	for (size_t i = 0; i < ss->n_remote; i++) {
		if (strcmp(ss->remote[i], address) == 0) {
			free(address);
			address = NULL;
			break;
		}
	}
	if (address != NULL) {
		ss->remote = xrealloc(ss->remote, (ss->n_remote + 1) * sizeof(char *));
		ss->remote[ss->n_remote++] = address;
	}
	smtp_enter_state(ss, SMTP_STATE_RCPT);
	smtp_reply(ss, 250, "2.1.5", "Ok");
}

void smtp_remote_reset(struct smtp_session *ss)
{
	for (size_t i = 0; i < ss->n_remote; i++)
		free(ss->remote[i]);
	x_free(&ss->remote);
	ss->n_remote = 0;
}

struct smtp_outbound *smtp_outbound_take(struct smtp_session *ss, uint64_t offset)
{
	struct smtp_outbound *o;

	if (ss->n_remote == 0)
		return NULL;
	o = xcalloc(1, sizeof(*o));
	o->sender = xstrdup(ss->from.null_path ? "" : ss->from.address);
	o->flags = (ss->params.body_8bit ? QUEUE_F_8BITMIME : 0) |
		   (ss->params.smtputf8 ? QUEUE_F_SMTPUTF8 : 0);
	o->rcpts = xcalloc(ss->n_remote, sizeof(char *));
	for (size_t i = 0; i < ss->n_remote; i++)
		o->rcpts[i] = xstrdup(ss->remote[i]);
	o->n = ss->n_remote;
	o->offset = offset;
	return o;
}

void smtp_outbound_stage(struct smtp_outbound *o, struct deliver_item *item,
			 const char *data_dir)
{
	o->qs = (struct queue_submission){
		.sender = o->sender, .flags = o->flags, .offset = o->offset,
		.rcpts = o->rcpts, .n_rcpts = o->n,
		.local = item->addresses, .n_local = item->n_addresses,
	};
	queue_stage_init(&o->stage, item, data_dir, &o->qs);
}

int smtp_outbound_staged(struct smtp_outbound *o, int result, const char **error_r)
{
	return queue_stage_end(&o->stage, result, o->queue_id, error_r);
}

void smtp_outbound_log(struct smtp_session *ss, const struct smtp_outbound *o,
		       const char *data_id, uint64_t size)
{
	struct buf to = { 0 };

	for (size_t i = 0; i < o->n; i++)
		buf_printf(&to, "%s<%s>", i ? "," : "", o->rcpts[i]);
	session_log(&ss->s, LOG_LEVEL_INFO, "queued id=%s queue_id=%s from=<%s> "
		    "to=%s size=%llu", data_id, o->queue_id, o->sender, to.data,
		    (unsigned long long)size);
	buf_free(&to);
}

void smtp_outbound_free(struct smtp_outbound **op)
{
	struct smtp_outbound *o = *op;

	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++)
		free(o->rcpts[i]);
	free(o->rcpts);
	free(o->sender);
	x_free(op);
}
