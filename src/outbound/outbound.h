/* outbound.h — delivery of the outbound queue: the engine the queue
 * process runs (server/queue_proc.c) on its event loop.
 *
 *   outbound_msg.c     the messages: loading from the queue folder (inotify),
 *                      the schedule (retry with backoff, queue_lifetime),
 *                      recording results (queue.h), DSNs, local delivery
 *   outbound_dest.c    destinations: the route (dns.h), the TLS policy of
 *                      each host, connections (smtpc.h) with their limits,
 *                      MX fallback, several messages per connection
 *   outbound_policy.c  TLS levels and DANE per host (pure, unit-tested)
 *   outbound_auth.c    the relayhost credentials file
 *
 * Messages are grouped by destination (the recipient's domain, or the
 * relayhost): one transaction carries up to SMTPC_RCPTS_MAX recipients of
 * one message, one connection carries transactions of many messages one
 * after the other. A message is tried when it arrives, then again after
 * retry_min, doubling up to retry_max, until every recipient is delivered
 * or bounced, or queue_lifetime has passed (the rest bounce then). A
 * bounced recipient's sender gets an RFC 3464 DSN, unless the sender is
 * <> (never a bounce for a bounce).
 *
 * Durability (queue.h): a result is written to the message's envelope
 * file by a pool job right after the reply came in; a message whose
 * recipients are all done is removed (its envelope first). The folder is
 * fsync'd for removals in groups (one sync covers all removals made while
 * the one before ran). So after a crash of the process a recipient is sent
 * again only if the remote's 250 came and the job had not yet run (the
 * time to read the reply and hand it to the pool: well under a second);
 * after a power loss, also when the last folder sync had not completed. */
#ifndef SEALPOST_OUTBOUND_H
#define SEALPOST_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct event_base;
struct outbound;

/* The queue's messages held in memory at most (Postfix's
 * qmgr_message_active_limit); the rest wait on disk and are read in as
 * room frees. */
#define OUTBOUND_MESSAGES_MAX 20000
/* Envelopes read from disk at the same time (start, rescans). */
#define OUTBOUND_LOADS_MAX 32
/* How often due messages are looked for (retries, flushes, expiry). */
#define OUTBOUND_TICK_MS 1000
/* Without inotify the queue folder is looked at every this many ticks. */
#define OUTBOUND_POLL_TICKS 5
/* A destination's route is looked up again after this long. */
#define OUTBOUND_ROUTE_TTL_SECS 60
/* Transactions one connection carries before it is closed and another
 * opened (Postfix smtp_connection_reuse_count_limit is unlimited but
 * bounded by time; a count keeps one connection from holding a busy
 * destination for ever). */
#define OUTBOUND_MESSAGES_PER_CONNECTION 1000
/* A stopping queue process lets transactions finish this long. */
#define OUTBOUND_STOP_GRACE_SECS 10

/* The relayhost credentials: "user:password" on the first line of a file
 * of mode 0600 (or stricter). *user_r and *pass_r are new strings. */
int outbound_auth_read(const char *path, char **user_r, char **pass_r,
		       const char **error_r);

/* Start delivering the queue of cfg (which must outlive the engine, or be
 * replaced by outbound_reload). */
int outbound_start(struct event_base *base, const struct config *cfg,
		   struct outbound **ob_r, const char **error_r);
/* The config changed (a reload): new limits, TLS levels, relayhost for
 * the connections opened from now on. */
int outbound_reload(struct outbound *ob, const struct config *cfg,
		    const char **error_r);
/* Relayhost AUTH credentials (NULL: none); copied. */
void outbound_set_auth(struct outbound *ob, const char *user, const char *pass);
/* Try now: every deferred message, or the one id. */
void outbound_flush(struct outbound *ob, const char *id);
/* Stop: no new transaction; connections end after their transaction
 * (aborted after OUTBOUND_STOP_GRACE_SECS). */
void outbound_stop(struct outbound *ob);
/* Nothing runs any more (after outbound_stop). */
bool outbound_stopped(const struct outbound *ob);
void outbound_free(struct outbound **ob);

#endif
