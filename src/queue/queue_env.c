/* queue_env.c — the envelope and delivery log text (queue.h). */
#include "queue/queue.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define QUEUE_MAGIC "sealpost-queue 1"

static const char *const state_names[] = {
	[QUEUE_RCPT_PENDING] = "pending",
	[QUEUE_RCPT_DEFERRED] = "deferred",
	[QUEUE_RCPT_DELIVERED] = "delivered",
	[QUEUE_RCPT_BOUNCED] = "bounced",
};

static const struct {
	const char *name;
	unsigned flag;
} flag_names[] = {
	{ "8bitmime", QUEUE_F_8BITMIME },
	{ "smtputf8", QUEUE_F_SMTPUTF8 },
	{ "dsn", QUEUE_F_DSN },
};

const char *queue_rcpt_state_name(enum queue_rcpt_state st)
{
	return (size_t)st < N_ELEMENTS(state_names) ? state_names[st] : "?";
}

/* Text that goes on one line: control bytes (CR, LF, NUL...) become '?'. */
static void copy_line_text(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
}

static void put_token(struct buf *out, const char *s)
{
	char safe[QUEUE_RELAY_MAX + QUEUE_TLS_MAX + 2];

	if (s == NULL || *s == '\0') {
		buf_append(out, "-", 1);
		return;
	}
	copy_line_text(safe, sizeof(safe), s, strlen(s));
	for (char *p = safe; *p != '\0'; p++) {
		if (*p == ' ')
			*p = '_';
	}
	buf_append(out, safe, strlen(safe));
}

void queue_env_format(const struct queue_env *env, struct buf *out)
{
	buf_printf(out, QUEUE_MAGIC "\nid %s\ncreated %lld\nsender %s\n"
		   "size %" PRIu64 "\noffset %" PRIu64 "\nflags", env->id,
		   (long long)env->created, env->sender, env->size, env->offset);
	for (size_t i = 0; i < N_ELEMENTS(flag_names); i++) {
		if (env->flags & flag_names[i].flag)
			buf_printf(out, " %s", flag_names[i].name);
	}
	buf_printf(out, "\n");
	for (size_t i = 0; i < env->n_rcpts; i++)
		buf_printf(out, "rcpt %s\n", env->rcpts[i].address);
	buf_printf(out, ".\n");
}

void queue_rcpt_list_format(struct buf *out, const size_t *rcpts, size_t n)
{
	for (size_t i = 0; i < n; ) {
		size_t j = i;
		while (j + 1 < n && rcpts[j + 1] == rcpts[j] + 1)
			j++;
		buf_printf(out, "%s%zu", i > 0 ? "," : "", rcpts[i]);
		if (j > i)
			buf_printf(out, "-%zu", rcpts[j]);
		i = j + 1;
	}
}

void queue_record_result(struct buf *out, time_t when,
			 enum queue_rcpt_state state, const size_t *rcpts,
			 size_t n, const char *relay, const char *tls,
			 const char *reply)
{
	char text[QUEUE_REPLY_MAX + 1];

	buf_printf(out, "R %lld %s ", (long long)when, queue_rcpt_state_name(state));
	queue_rcpt_list_format(out, rcpts, n);
	buf_append(out, " ", 1);
	put_token(out, relay);
	buf_append(out, " ", 1);
	put_token(out, tls);
	copy_line_text(text, sizeof(text), reply != NULL ? reply : "",
		       reply != NULL ? strlen(reply) : 0);
	buf_printf(out, " %s\n", text);
}

void queue_record_next(struct buf *out, time_t when, unsigned attempts,
		       time_t next)
{
	buf_printf(out, "N %lld %u %lld\n", (long long)when, attempts,
		   (long long)next);
}

void queue_record_dsn(struct buf *out, time_t when, const size_t *rcpts,
		      size_t n, const char *dsn_id)
{
	buf_printf(out, "D %lld ", (long long)when);
	queue_rcpt_list_format(out, rcpts, n);
	buf_printf(out, " %s\n", dsn_id != NULL ? dsn_id : "-");
}

/* ---- parsing --------------------------------------------------------------- */

void queue_env_free(struct queue_env **envp)
{
	struct queue_env *env = *envp;

	if (env == NULL)
		return;
	for (size_t i = 0; i < env->n_rcpts; i++)
		free(env->rcpts[i].address);
	free(env->rcpts);
	free(env->sender);
	x_free(envp);
}

/* The next space-separated token of *p (NUL-terminated in place). */
static char *next_token(char **p)
{
	char *s = *p, *e;

	if (s == NULL || *s == '\0')
		return NULL;
	e = strchr(s, ' ');
	if (e != NULL) {
		*e = '\0';
		*p = e + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

static bool parse_time(const char *s, time_t *t_r)
{
	uint64_t v;

	if (s == NULL || !str_to_u64(s, INT64_MAX, &v))
		return false;
	*t_r = (time_t)v;
	return true;
}

/* Call fn for each number of a list "0,3,5-9" (each below n). */
static bool for_each_rcpt(struct queue_env *env, const char *list,
			  void (*fn)(struct queue_rcpt *r, void *arg), void *arg)
{
	char *copy = xstrdup(list), *save = NULL;
	bool ok = *list != '\0';

	for (char *item = strtok_r(copy, ",", &save); ok && item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(item, '-');
		uint64_t a, b;
		if (dash != NULL)
			*dash = '\0';
		ok = str_to_u64(item, SIZE_MAX, &a) &&
		     (dash == NULL ? (b = a, true) : str_to_u64(dash + 1, SIZE_MAX, &b)) &&
		     a <= b && b < env->n_rcpts;
		for (uint64_t i = a; ok && i <= b; i++)
			fn(&env->rcpts[i], arg);
	}
	free(copy);
	return ok;
}

struct result_arg {
	enum queue_rcpt_state state;
	time_t when;
	const char *relay, *tls, *reply;
};

static void set_result(struct queue_rcpt *r, void *arg)
{
	const struct result_arg *a = arg;

	r->state = a->state;
	r->when = a->when;
	strlcpy_sp(r->relay, strcmp(a->relay, "-") == 0 ? "" : a->relay,
		   sizeof(r->relay));
	strlcpy_sp(r->tls, strcmp(a->tls, "-") == 0 ? "" : a->tls, sizeof(r->tls));
	strlcpy_sp(r->reply, a->reply, sizeof(r->reply));
	r->dsn_made = false;
}

static void set_dsn_made(struct queue_rcpt *r, void *arg)
{
	if (r->state == QUEUE_RCPT_BOUNCED)
		r->dsn_made = true;
}

static bool parse_state(const char *s, enum queue_rcpt_state *st_r)
{
	for (size_t i = QUEUE_RCPT_DEFERRED; s != NULL && i < N_ELEMENTS(state_names); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*st_r = (enum queue_rcpt_state)i;
			return true;
		}
	}
	return false;
}

bool queue_env_apply(struct queue_env *env, const char *line, size_t len)
{
	char *copy = xstrndup(line, len), *p = copy;
	char *kind = next_token(&p);
	bool ok = false;
	time_t when = 0;

	if (kind == NULL || !parse_time(next_token(&p), &when)) {
		free(copy);
		return false;
	}
	if (strcmp(kind, "R") == 0) {
		struct result_arg a = { .when = when };
		char *list;
		ok = parse_state(next_token(&p), &a.state) &&
		     (list = next_token(&p)) != NULL &&
		     (a.relay = next_token(&p)) != NULL &&
		     (a.tls = next_token(&p)) != NULL;
		a.reply = p;
		ok = ok && for_each_rcpt(env, list, set_result, &a);
	} else if (strcmp(kind, "N") == 0) {
		uint64_t attempts;
		time_t next;
		const char *count = next_token(&p);
		ok = count != NULL && str_to_u64(count, UINT32_MAX, &attempts) &&
		     parse_time(next_token(&p), &next) && *p == '\0';
		if (ok) {
			env->attempts = (unsigned)attempts;
			env->next_attempt = next;
		}
	} else if (strcmp(kind, "D") == 0) {
		char *list = next_token(&p);
		ok = list != NULL && (queue_id_valid(p) || strcmp(p, "-") == 0) &&
		     for_each_rcpt(env, list, set_dsn_made, NULL);
	}
	free(copy);
	return ok;
}

/* One envelope line "key value" into env. */
static int parse_header_line(struct queue_env *env, char *line,
			     const char **error_r)
{
	char *value = strchr(line, ' ');
	uint64_t v;

	if (value != NULL)
		*value++ = '\0';
	else
		value = line + strlen(line);
	if (strcmp(line, "id") == 0 && queue_id_valid(value)) {
		memcpy(env->id, value, QUEUE_ID_LEN + 1);
	} else if (strcmp(line, "created") == 0 && parse_time(value, &env->created)) {
	} else if (strcmp(line, "sender") == 0 && env->sender == NULL) {
		env->sender = xstrdup(value);
	} else if (strcmp(line, "size") == 0 && str_to_u64(value, UINT64_MAX, &v)) {
		env->size = v;
	} else if (strcmp(line, "offset") == 0 && str_to_u64(value, UINT64_MAX, &v)) {
		env->offset = v;
	} else if (strcmp(line, "flags") == 0) {
		char *save = NULL;
		for (char *f = strtok_r(value, " ", &save); f != NULL;
		     f = strtok_r(NULL, " ", &save)) {
			for (size_t i = 0; i < N_ELEMENTS(flag_names); i++) {
				if (strcmp(f, flag_names[i].name) == 0)
					env->flags |= flag_names[i].flag;
			}
		}
	} else if (strcmp(line, "rcpt") == 0 && strrchr(value, '@') != NULL) {
		if (env->n_rcpts >= QUEUE_RCPTS_MAX) {
			*error_r = errfmt("more than %u recipients", QUEUE_RCPTS_MAX);
			return -1;
		}
		env->rcpts = xrealloc(env->rcpts, (env->n_rcpts + 1) * sizeof(*env->rcpts));
		struct queue_rcpt *r = &env->rcpts[env->n_rcpts++];
		memset(r, 0, sizeof(*r));
		r->address = xstrdup(value);
		r->domain = strrchr(r->address, '@') + 1;
	} else {
		*error_r = errfmt("bad envelope line '%s'", log_value(line));
		return -1;
	}
	return 0;
}

int queue_env_parse(const char *data, size_t len, struct queue_env **env_r,
		    size_t *used_r, const char **error_r)
{
	struct queue_env *env = xcalloc(1, sizeof(*env));
	size_t pos = 0, line_no = 0, header_end = 0;
	bool header = true;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (nl == NULL)
			break;                       /* a torn last line */
		size_t n = (size_t)(nl - (data + pos));
		char *line = xstrndup(data + pos, n);
		int rc = 0;
		if (memchr(data + pos, '\0', n) != NULL) {
			*error_r = "a NUL byte in the envelope";
			rc = -1;
		} else if (line_no++ == 0) {
			if (strcmp(line, QUEUE_MAGIC) != 0) {
				*error_r = "not a sealpost queue file";
				rc = -1;
			}
		} else if (header && strcmp(line, ".") == 0) {
			header = false;
		} else if (header) {
			rc = parse_header_line(env, line, error_r);
		} else {
			/* A record we cannot read is skipped: the ones
			 * around it still tell the state. */
			(void)queue_env_apply(env, line, n);
		}
		free(line);
		if (rc < 0)
			goto fail;
		pos += n + 1;
		if (header_end == 0 && !header)
			header_end = pos;
	}
	if (header) {
		*error_r = line_no == 0 ? "empty envelope" : "the envelope is incomplete";
		goto fail;
	}
	if (env->id[0] == '\0' || env->sender == NULL || env->n_rcpts == 0 ||
	    env->created == 0) {
		*error_r = "the envelope lacks its id, sender, time or recipients";
		goto fail;
	}
	env->log_len = pos - header_end;
	*used_r = pos;
	*env_r = env;
	return 0;
fail:
	queue_env_free(&env);
	return -1;
}
