/* fuzz_queue.c — the outbound queue's envelope files and the SMTP client's
 * reply reader, on arbitrary bytes.
 *
 * Input: the first byte picks the target, the rest is the data.
 *  - envelope: queue_env_parse() either refuses with an error text or
 *    yields an envelope whose complete lines end where it says; written
 *    back (envelope and one record per recipient with a state) it parses
 *    to the same envelope and the same states.
 *  - replies: lines fed to smtpc_reply_line() give codes 200-599 and text
 *    of at most SMTPC_REPLY_TEXT_MAX bytes without control bytes. */
#include "queue/queue.h"
#include "smtpc/smtpc.h"

#include <stdlib.h>
#include <string.h>

static void same_envelope(const struct queue_env *a, const struct queue_env *b)
{
	if (strcmp(a->id, b->id) != 0 || strcmp(a->sender, b->sender) != 0 ||
	    a->created != b->created || a->size != b->size || a->offset != b->offset ||
	    a->flags != b->flags || a->n_rcpts != b->n_rcpts)
		abort();
	for (size_t i = 0; i < a->n_rcpts; i++) {
		if (strcmp(a->rcpts[i].address, b->rcpts[i].address) != 0 ||
		    a->rcpts[i].state != b->rcpts[i].state)
			abort();
	}
}

static void fuzz_envelope(const unsigned char *data, size_t size)
{
	struct queue_env *env, *back;
	const char *error = NULL;
	size_t used;

	if (queue_env_parse((const char *)data, size, &env, &used, &error) < 0) {
		if (error == NULL || *error == '\0')
			abort();
		return;
	}
	if (used > size || (used > 0 && data[used - 1] != '\n'))
		abort();
	struct buf b = { 0 };
	queue_env_format(env, &b);
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (r->state != QUEUE_RCPT_PENDING)
			queue_record_result(&b, r->when, r->state, &i, 1, r->relay,
					    r->tls, r->reply);
	}
	/* An address holding a line end cannot be written back: skip those. */
	bool writable = true;
	for (size_t i = 0; i < env->n_rcpts; i++)
		writable &= strpbrk(env->rcpts[i].address, "\r\n") == NULL;
	writable &= strpbrk(env->sender, "\r\n") == NULL;
	if (writable) {
		if (queue_env_parse(b.data, b.len, &back, &used, &error) < 0 ||
		    used != b.len)
			abort();
		same_envelope(env, back);
		queue_env_free(&back);
	}
	buf_free(&b);
	queue_env_free(&env);
}

static void fuzz_replies(const unsigned char *data, size_t size)
{
	struct smtpc_reply_parser p = { 0 };
	const char *error;
	size_t start = 0;

	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		size_t len = i - start;
		if (len <= SMTPC_REPLY_LINE_MAX) {
			char *line = malloc(len + 1);
			memcpy(line, data + start, len);
			line[len] = '\0';
			enum smtpc_parse r = smtpc_reply_line(&p, line, len, (len & 1) != 0,
							      &error);
			if (r == SMTPC_PARSE_DONE &&
			    (p.reply.code < 200 || p.reply.code > 599 ||
			     strlen(p.reply.text) > SMTPC_REPLY_TEXT_MAX))
				abort();
			for (const char *c = p.reply.text; r == SMTPC_PARSE_DONE && *c; c++) {
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					abort();
			}
			free(line);
		}
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_envelope(data + 1, size - 1);
	else
		fuzz_replies(data + 1, size - 1);
	return 0;
}
