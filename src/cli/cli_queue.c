/* cli_queue.c — sealpost queue list | show ID | flush [ID] | delete ID.
 *
 * list, show and delete read the queue folder (data_dir/queue, queue.h)
 * directly, with or without a running server; flush asks the running
 * server's queue process through the control socket. A delete removes the
 * envelope first (the queue process sees it go and drops the message;
 * a transaction already under way finishes, nothing more is sent). */
#include "cli/cli.h"
#include "queue/queue.h"
#include "mail/mime_header.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bytes of a header field's value `queue show` prints. */
#define CLI_QUEUE_FIELD_SHOWN 256
/* Header fields `queue show` prints. */
static const char *const shown_fields[] = { "From", "To", "Cc", "Subject",
					    "Date", "Message-ID" };

static void format_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (t == 0) {
		strlcpy_sp(out, "-", size);
		return;
	}
	localtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static bool rcpt_to_go(const struct queue_rcpt *r)
{
	return r->state == QUEUE_RCPT_PENDING || r->state == QUEUE_RCPT_DEFERRED;
}

/* "mx[addr]:25 TLSv1.3/...: 451 4.7.1 ..." */
static void print_last(const struct queue_rcpt *r)
{
	if (r->relay[0] != '\0')
		printf(" %s", r->relay);
	if (r->tls[0] != '\0')
		printf(" %s", r->tls);
	if (r->reply[0] != '\0')
		printf("%s %s", r->relay[0] != '\0' ? ":" : "", r->reply);
}

static void list_one(const struct queue_env *env, size_t *to_go)
{
	char arrived[32], next[32];

	format_time(env->created, arrived, sizeof(arrived));
	format_time(env->next_attempt, next, sizeof(next));
	printf("%-16s %9" PRIu64 "  %s  <%s>%s\n", env->id, env->size, arrived,
	       env->sender, env->flags & QUEUE_F_DSN ? " (a DSN)" : "");
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		printf("    %-9s %s", queue_rcpt_state_name(r->state), r->address);
		if (r->state == QUEUE_RCPT_DEFERRED)
			printf(" (attempt %u, next %s)", env->attempts, next);
		print_last(r);
		printf("\n");
		*to_go += rcpt_to_go(r);
	}
}

static int load_config_dir(struct cli_args *args, struct config **cfg_r)
{
	return cli_load_config(args, true, cfg_r);
}

int cmd_queue_list(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;
	char **ids;
	size_t n, shown = 0, to_go = 0;
	const char *error;

	if (load_config_dir(args, &cfg) < 0)
		return CLI_FAIL;
	if (queue_list_ids(cfg->data_dir, &ids, &n, &error) < 0) {
		config_free(&cfg);
		return cli_fail("%s", error);
	}
	if (n > 0)
		printf("%-16s %9s  %-19s  %s\n", "ID", "SIZE", "ARRIVED", "SENDER");
	for (size_t i = 0; i < n; i++) {
		struct queue_env *env;
		/* A message can finish while we look: then it is just gone. */
		if (queue_env_load(cfg->data_dir, ids[i], &env, NULL, &error) < 0) {
			if (errno != ENOENT)
				fprintf(stderr, "sealpost: %s\n", error);
			continue;
		}
		list_one(env, &to_go);
		queue_env_free(&env);
		shown++;
	}
	if (shown == 0)
		printf("the queue is empty\n");
	else
		printf("-- %zu message%s, %zu recipient%s to go\n", shown,
		       shown == 1 ? "" : "s", to_go, to_go == 1 ? "" : "s");
	strv_free(&ids);
	config_free(&cfg);
	return CLI_OK;
}

/* Selected header fields of the message, decoded (RFC 2047). */
static void show_headers(const struct config *cfg, const struct queue_env *env)
{
	char *path = queue_path(cfg->data_dir, env->id, "msg");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct mime_reader r;
	struct mime_headers h;
	const char *error;

	if (fd < 0) {
		printf("message   %s: %s\n", path, strerror(errno));
		free(path);
		return;
	}
	mime_reader_fd(&r, fd);
	if (mime_headers_read(&r, env->offset, env->size, &h, &error) == 0) {
		for (size_t i = 0; i < N_ELEMENTS(shown_fields); i++) {
			char *v = mime_headers_get_decoded(&h, shown_fields[i]);
			if (v != NULL) {
				char safe[CLI_QUEUE_FIELD_SHOWN];
				str_sanitize(safe, sizeof(safe), v, strlen(v));
				printf("%-9s %s\n", shown_fields[i], safe);
				free(v);
			}
		}
		mime_headers_free(&h);
	}
	close(fd);
	free(path);
}

int cmd_queue_show(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;
	struct queue_env *env;
	const char *id = args->pos[0], *error;
	char when[32];

	if (!queue_id_valid(id))
		return cli_usage(cmd, errfmt("'%s' is not a queue id (16 hex digits, "
					     "as sealpost queue list shows)", log_value(id)));
	if (load_config_dir(args, &cfg) < 0)
		return CLI_FAIL;
	if (queue_env_load(cfg->data_dir, id, &env, NULL, &error) < 0) {
		int rc = errno == ENOENT ? cli_fail("%s: no such message in the queue", id) :
					   cli_fail("%s", error);
		config_free(&cfg);
		return rc;
	}
	format_time(env->created, when, sizeof(when));
	printf("id        %s\narrived   %s\nsender    <%s>\nsize      %" PRIu64
	       " bytes\n", env->id, when, env->sender, env->size);
	printf("flags    %s%s%s%s\n", env->flags & QUEUE_F_8BITMIME ? " 8bitmime" : "",
	       env->flags & QUEUE_F_SMTPUTF8 ? " smtputf8" : "",
	       env->flags & QUEUE_F_DSN ? " dsn" : "", env->flags == 0 ? " -" : "");
	format_time(env->next_attempt, when, sizeof(when));
	printf("attempts  %u%s%s\n", env->attempts, env->attempts > 0 ? ", next " : "",
	       env->attempts > 0 ? when : "");
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		format_time(r->when, when, sizeof(when));
		printf("recipient %s\n  state   %s%s%s%s\n", r->address,
		       queue_rcpt_state_name(r->state), r->when ? " (" : "",
		       r->when ? when : "", r->when ? ")" : "");
		if (r->relay[0] != '\0')
			printf("  relay   %s\n", r->relay);
		if (r->state != QUEUE_RCPT_PENDING)
			printf("  tls     %s\n", r->tls[0] != '\0' ? r->tls : "none");
		if (r->reply[0] != '\0')
			printf("  reply   %s\n", r->reply);
		if (r->dsn_made)
			printf("  dsn     sent to the sender\n");
	}
	show_headers(cfg, env);
	queue_env_free(&env);
	config_free(&cfg);
	return CLI_OK;
}

/* id names a message in the queue (else the failure is printed). */
static int check_queued(const struct config *cfg, const char *id)
{
	char *path = queue_path(cfg->data_dir, id, "env");
	int rc = access(path, F_OK) == 0 ? 0 :
		 errno == ENOENT ? cli_fail("%s: no such message in the queue", id) :
		 cli_fail("%s: %s", path, strerror(errno));

	free(path);
	return rc == 0 ? 0 : -1;
}

int cmd_queue_flush(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;
	const char *id = args->n_pos > 0 ? args->pos[0] : NULL;
	int rc;

	if (id != NULL && !queue_id_valid(id))
		return cli_usage(cmd, errfmt("'%s' is not a queue id", log_value(id)));
	if (load_config_dir(args, &cfg) < 0)
		return CLI_FAIL;
	if (id != NULL && check_queued(cfg, id) < 0) {
		config_free(&cfg);
		return CLI_FAIL;
	}
	char *line = xasprintf("queue flush%s%s", id ? " " : "", id ? id : "");
	rc = cli_control_command(cfg, line);
	free(line);
	config_free(&cfg);
	return rc;
}

int cmd_queue_delete(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;
	const char *id = args->pos[0], *error;
	int rc = CLI_OK;

	if (!queue_id_valid(id))
		return cli_usage(cmd, errfmt("'%s' is not a queue id", log_value(id)));
	if (load_config_dir(args, &cfg) < 0)
		return CLI_FAIL;
	if (check_queued(cfg, id) < 0)
		rc = CLI_FAIL;
	else if (queue_remove(cfg->data_dir, id, true, &error) < 0)
		rc = cli_fail("%s", error);
	else
		printf("%s: deleted\n", id);
	config_free(&cfg);
	return rc;
}
