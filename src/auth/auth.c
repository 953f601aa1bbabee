/* auth.c — password verification off the loop, with failure delays. */
#include "auth/auth.h"
#include "auth/auth_cache.h"
#include "auth/passwd.h"
#include "net/iptable.h"
#include "net/loop.h"
#include "net/session.h"
#include "store/mailbox.h"
#include "store/maildir.h"
#include "lib/file_watch.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <string.h>

/* The users file of this process; thread-safe (passwd.h). */
static struct passwd_db *users;
static char *users_path;
/* Loop thread: is the users file unchanged since it was read? */
static struct file_watch *users_watch;

struct auth_request {
	struct session_job job;
	struct session *s;
	auth_done_cb *done;
	char mech[16];
	char user[ADDRESS_MAX + 1];
	char password[PASSWD_PASSWORD_MAX + 1];
	size_t password_len;
	unsigned failures_before;
	bool ok;
	bool cached;                /* answered by the credential cache */
	struct event *ev_delay;
};

static void log_problem(const char *problem, void *context)
{
	log_warn("passwd: %s", problem);
}

int auth_init(const char *data_dir, const char **error_r)
{
	users_path = fs_join(data_dir, PASSWD_FILE_NAME);
	users = passwd_db_new(users_path, log_problem, NULL);
	return passwd_db_refresh(users, error_r);
}

void auth_users_watch(void)
{
	const char *why;

	users_watch = file_watch_new(users_path, &why);
	if (users_watch == NULL)
		log_info("users: every lookup reads %s (no watch: %s)", users_path, why);
}

void auth_deinit(void)
{
	file_watch_free(&users_watch);
	passwd_db_free(&users);
	x_free(&users_path);
}

bool auth_user_exists(const char *address)
{
	return users != NULL && passwd_db_exists(users, address);
}

/* The config's limits, each replaced by the user's own rule. */
static bool quota_limits(const struct passwd_quota *own, struct maildir_quota *limit_r)
{
	limit_r->bytes = own->has_bytes ? own->bytes : config->quota;
	limit_r->messages = own->has_messages ? own->messages : config->quota_messages;
	return limit_r->bytes > 0 || limit_r->messages > 0;
}

bool auth_user_quota(const char *address, struct maildir_quota *limit_r)
{
	struct passwd_quota own = { 0 };

	if (users != NULL)
		(void)passwd_db_quota(users, address, &own);
	return quota_limits(&own, limit_r);
}

bool auth_user_known(const char *address, bool *exists_r, bool *limited_r)
{
	struct passwd_quota own;
	struct maildir_quota limit;

	if (users == NULL || !file_watch_unchanged(users_watch))
		return false;
	*exists_r = passwd_db_lookup_loaded(users, address, &own);
	*limited_r = quota_limits(&own, &limit);
	return true;
}

uint64_t auth_users_read_begin(bool *reload_r)
{
	/* Something happened to the file: read it whatever its stat says. */
	*reload_r = users_watch != NULL && !file_watch_unchanged(users_watch);
	return file_watch_mark(users_watch);
}

bool auth_users_read(bool reload)
{
	const char *error;

	if (users_watch == NULL)
		return false;
	int ret = reload ? passwd_db_reload(users, &error) :
			   passwd_db_refresh(users, &error);
	/* A failed read keeps the users of before: not to be trusted. */
	return ret == 0 && file_watch_plain(users_watch, users_path);
}

void auth_users_read_end(uint64_t mark, bool trusted)
{
	file_watch_confirm(users_watch, mark, trusted);
}

int auth_quota_get(const char *address, struct maildir_quota *limit_r,
		   struct maildir_quota_usage *usage_r, bool *limited_r,
		   const char **error_r)
{
	int ret = 0;

	memset(usage_r, 0, sizeof(*usage_r));
	*limited_r = auth_user_quota(address, limit_r);
	if (!*limited_r)
		return 0;
	char *root = mailbox_path(config->data_dir, address);
	/* no Maildir yet (delivery creates it): nothing used */
	if (fs_exists(root))
		ret = maildir_quota_usage(root, limit_r, usage_r, error_r);
	free(root);
	return ret;
}

int auth_quota_check(const char *address, uint64_t bytes, uint64_t messages,
		     bool *allowed_r, const char **error_r)
{
	struct maildir_quota limit;
	struct maildir_quota_usage usage;
	bool limited;

	*allowed_r = true;
	if (auth_quota_get(address, &limit, &usage, &limited, error_r) < 0)
		return -1;
	if (limited)
		*allowed_r = maildir_quota_allows(&limit, &usage, bytes, messages);
	return 0;
}

unsigned auth_delay_ms(unsigned failures)
{
	if (failures == 0)
		return 0;
	unsigned shift = failures - 1 > 8 ? 8 : failures - 1;
	unsigned ms = AUTH_DELAY_BASE_MS << shift;
	return ms > AUTH_DELAY_MAX_MS ? AUTH_DELAY_MAX_MS : ms;
}

static void verify_work(struct session_job *job)
{
	struct auth_request *ar = (struct auth_request *)job;
	ar->ok = users != NULL &&
		 passwd_db_verify_cached(users, auth_cache_server(), ar->user,
					 ar->password, ar->password_len,
					 &ar->cached);
	OPENSSL_cleanse(ar->password, sizeof(ar->password));
}

/* The failure cap of every protocol (auth_max_failures): the protocol's
 * refusal has been queued; its last words follow and the session ends. */
static void count_failure(struct session *s)
{
	if (++s->auth_failures < config->auth_max_failures || s->closing)
		return;
	session_log(s, LOG_LEVEL_INFO, "auth too many failures count=%u",
		    s->auth_failures);
	session_bye_and_close(s, SESSION_BYE_AUTH_FAILURES);
}

/* The verdict, after the delay: logged, counted, told to the protocol.
 * Releases the hold taken for the delay (held). */
static void finish(struct auth_request *ar, bool held)
{
	struct session *s = ar->s;

	if (ar->ok) {
		iptable_success(&s->peer_ss, ar->user);
		session_log(s, LOG_LEVEL_INFO, "auth ok user=\"%s\" mechanism=%s%s",
			    log_value(ar->user), ar->mech,
			    ar->cached ? " cached=yes" : "");
	} else {
		iptable_fail(&s->peer_ss, ar->user);
		/* The name is the client's: quoted, so it cannot forge
		 * fields (fail2ban reads address=). */
		session_log(s, LOG_LEVEL_INFO, "auth failed user=\"%s\" mechanism=%s "
			    "address=%s recent_failures=%u", log_value(ar->user),
			    ar->mech, s->peer, ar->failures_before + 1);
	}
	if (!s->closing) {
		ar->done(s, ar->ok, ar->user);
		if (!ar->ok)
			count_failure(s);
	}
	if (ar->ev_delay != NULL)
		event_free(ar->ev_delay);
	free(ar);
	if (held)
		session_resume(s);
}

static void delay_over(evutil_socket_t fd, short what, void *arg)
{
	finish(arg, true);
}

static void verify_done(struct session_job *job, bool live)
{
	struct auth_request *ar = (struct auth_request *)job;
	/* First try of a clean client: success at once. Otherwise both
	 * outcomes wait the same. */
	unsigned ms = ar->ok && ar->failures_before == 0 ? 0 :
		      auth_delay_ms(ar->failures_before + 1);

	if (ms == 0 || !live) {
		finish(ar, false);
		return;
	}
	/* No command runs during the delay either. */
	session_suspend(ar->s);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	ar->ev_delay = evtimer_new(ev_base, delay_over, ar);
	event_add(ar->ev_delay, &tv);
}

void auth_verify(struct session *s, const char *mech, const char *user,
		 const char *password, size_t password_len, auth_done_cb *done)
{
	struct auth_request *ar = xcalloc(1, sizeof(*ar));

	ar->job.work = verify_work;
	ar->job.done = verify_done;
	ar->s = s;
	ar->done = done;
	strlcpy_sp(ar->mech, mech, sizeof(ar->mech));
	mailbox_address_normalize(user, ar->user, sizeof(ar->user));
	if (password_len > PASSWD_PASSWORD_MAX)
		password_len = PASSWD_PASSWORD_MAX + 1; /* never matches */
	memcpy(ar->password, password, password_len < sizeof(ar->password) ?
	       password_len : sizeof(ar->password) - 1);
	ar->password_len = password_len;
	ar->failures_before = iptable_failures(&s->peer_ss, ar->user);
	session_job_start(s, &ar->job, SESSION_JOB_EXCLUSIVE);
}
