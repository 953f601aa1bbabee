/* auth.h — the one authenticator SMTP, POP3 and IMAP use.
 *
 * Verifies a user's password against data_dir/passwd on a pool thread (a
 * hash costs milliseconds), never on the event loop. Failed logins make
 * the next answers slower: the delay grows with the recent failures of the
 * client address and of the account, counted across all worker processes
 * (net/iptable). Once a client has failed, success and failure are answered
 * after the same delay, so hanging up early tells an attacker nothing.
 * Failures and successes are logged with the address and the account;
 * passwords never are. After auth_max_failures failed logins on one
 * connection the session ends with the protocol's goodbye
 * (SESSION_BYE_AUTH_FAILURES): the policy of every protocol, kept here. */
#ifndef SEALPOST_AUTH_H
#define SEALPOST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;

/* The answer to a failed login waits AUTH_DELAY_BASE_MS, doubling with each
 * recent failure of the address or account, up to AUTH_DELAY_MAX_MS. */
#define AUTH_DELAY_BASE_MS 500
#define AUTH_DELAY_MAX_MS 15000

/* Per worker process, after fork. */
int auth_init(const char *data_dir, const char **error_r);
void auth_deinit(void);

/* Is address (normalised) an account? Blocking: pool threads only. */
bool auth_user_exists(const char *address);

struct maildir_quota;
struct maildir_quota_usage;

/* The limits of a mailbox (store/maildir.h): config [limits] quota and
 * quota_messages, each replaced by the user's own userdb_quota_rule from
 * the passwd file. False when there is none. Blocking: pool threads. */
bool auth_user_quota(const char *address, struct maildir_quota *limit_r);
/* The limits of address's mailbox and its usage (store/maildir.h); with
 * *limited_r false (no limits) nothing is read. -1 with *error_r when the
 * usage cannot be read. Blocking: pool threads. */
int auth_quota_get(const char *address, struct maildir_quota *limit_r,
		   struct maildir_quota_usage *usage_r, bool *limited_r,
		   const char **error_r);
/* Would bytes in messages more stay within address's limits? (True
 * without limits.) Blocking: pool threads. */
int auth_quota_check(const char *address, uint64_t bytes, uint64_t messages,
		     bool *allowed_r, const char **error_r);

/* ---- answers from memory, on the loop --------------------------------
 * Is address (normalised) an account, and does its mailbox have limits
 * (whose usage a pool thread must then read)? Answered without a disk call
 * while the passwd file is known unchanged since a lookup last read it,
 * for at most a second (lib/file_watch.h, in each worker); false when it
 * is not: look up on a pool thread, and around it:
 *   loop:  mark = auth_users_read_begin(&reload);
 *   pool:  trusted = auth_users_read(reload); ... auth_user_exists() ...
 *   loop:  auth_users_read_end(mark, trusted);
 * Such a lookup makes the next answers from memory. */
bool auth_user_known(const char *address, bool *exists_r, bool *limited_r);
/* Start the watch (a worker, after auth_init; without it nothing is
 * answered from memory). */
void auth_users_watch(void);
uint64_t auth_users_read_begin(bool *reload_r);
/* Read the file (again when reload); true if that read succeeded and the
 * watch can be trusted for the file. Blocking: pool threads. */
bool auth_users_read(bool reload);
void auth_users_read_end(uint64_t mark, bool trusted);

/* Called on the loop when the verdict is in (not if the session closed
 * meanwhile). user is the normalised account name. After a failure the
 * protocol queues its refusal; the failure cap is applied afterwards. */
typedef void auth_done_cb(struct session *s, bool ok, const char *user);

/* Check user/password for session s with mechanism mech (for the log).
 * The session is suspended until done() has run. password is copied and
 * wiped after use. */
void auth_verify(struct session *s, const char *mech, const char *user,
		 const char *password, size_t password_len, auth_done_cb *done);

/* The delay before answering after `failures` recent failures. */
unsigned auth_delay_ms(unsigned failures);

#endif
