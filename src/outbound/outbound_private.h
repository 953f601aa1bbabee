/* outbound_private.h — between the files of src/outbound. */
#ifndef SEALPOST_OUTBOUND_PRIVATE_H
#define SEALPOST_OUTBOUND_PRIVATE_H

#include "outbound/outbound.h"
#include "conf/config.h"
#include "dns/dns.h"
#include "net/jobs.h"
#include "net/tls.h"
#include "queue/queue.h"
#include "smtpc/smtpc.h"

#include <time.h>

struct event;
struct odest;
struct oconn;

/* Bytes of inotify events read at once (many events of NAME_MAX names;
 * what does not fit is read on the next round). */
#define OUTBOUND_INOTIFY_BUF 4096
/* An error text a pool job hands back to the loop (a path and strerror). */
#define OUTBOUND_ERROR_MAX 300
/* Buckets of the id table (a power of two). */
#define OUTBOUND_HASH_SIZE 4096

/* One message of the queue, in memory. */
struct omsg {
	struct queue_env *env;
	int env_fd;                /* open for appending records */
	int msg_fd;                /* the message, while transactions run */
	struct omsg *hash_next;
	struct omsg *prev, *next;  /* every message */
	unsigned jobs;             /* transactions of this attempt to go */
	unsigned busy;             /* record or wrap-up job writing env_fd */
	struct buf records;        /* results not yet written */
	bool wrap_pending;         /* wrap up once the record job is back */
	bool record_retry;         /* writing records failed: again at a tick */
	unsigned long produced;    /* results made (omsg_result calls)... */
	unsigned long written;     /* ...and written to the envelope */
	struct oconn *waiters;     /* connections waiting for that */
	bool attempting;           /* an attempt runs (jobs > 0 or wrap-up) */
	bool deleted;              /* removed behind our back (queue delete) */
	bool removing;             /* all done: being taken out */
	bool expired;              /* queue_lifetime passed at this attempt */
	bool bounced_now;          /* a recipient bounced in this attempt */
	time_t attempt_started;
};

/* Recipients of one message for one destination: one transaction. */
struct ojob {
	struct omsg *msg;
	struct odest *dest;
	size_t *rcpts;             /* indexes into msg->env->rcpts */
	size_t n;
	struct ojob *next;         /* in the destination's ready list */
};

/* The TLS a host gets (outbound_policy.c). */
struct ohost_policy {
	bool usable;               /* false: never tried (why says why) */
	const char *why;
	enum smtpc_tls tls;
	enum tls_client_auth auth;
	const char *level;         /* "dane", "encrypt", ... for the log */
};

struct odest {
	struct outbound *ob;
	char *name;                /* the recipient domain, or the relayhost */
	bool hosts_exhausted;      /* a connection found no host left while
				      others work: open no more for now */
	struct ojob *ready, *ready_tail;
	size_t n_ready;
	unsigned n_conns, n_conns_ready, n_connecting;
	struct dns_route route;
	struct dns_route_lookup *lookup;
	bool route_known;
	time_t route_time;
	enum dns_verdict verdict;
	char why[QUEUE_REPLY_MAX + 1];   /* the verdict's reason */
	struct odest *next;
};

struct oconn {
	struct outbound *ob;
	struct odest *dest;
	struct smtpc *smtpc;
	char id[LOG_SESSION_ID_LEN + 1];
	size_t host_i, addr_i;     /* the address tried now */
	bool plaintext_retry;      /* may: again without TLS after a failed
				      handshake at this address */
	bool was_ready;
	bool quitting;
	unsigned messages;
	struct ohost_policy policy;
	char relay[QUEUE_RELAY_MAX + 1];   /* "host[address]:port" */
	char last_error[QUEUE_REPLY_MAX + 1];
	struct ojob *job;          /* the transaction under way */
	struct smtpc_txn txn;
	char **txn_rcpts;
	/* The results of the last transaction are being written: the next
	 * one waits (so a crash can repeat at most one transaction per
	 * connection: README, "what a crash can do"). */
	struct omsg *waiting_on;
	unsigned long wait_for;    /* waiting_on->written must reach this */
	struct oconn *wait_next;
	struct oconn *prev, *next;
};

struct outbound {
	struct event_base *base;
	const struct config *cfg;
	struct dns_resolver *dns;
	struct tls_ctx *tls_ctx;
	char *auth_user, *auth_pass;

	struct omsg *hash[OUTBOUND_HASH_SIZE];
	struct omsg *msgs;         /* every message */
	size_t n_msgs;
	size_t loading;            /* load jobs in flight */
	char **to_load;            /* ids waiting for a load slot */
	size_t n_to_load, to_load_pos;
	bool rescan;               /* look at the folder again (overflow) */
	bool scanning;

	struct odest *dests;
	struct oconn *conns;
	unsigned n_conns;

	int inotify_fd;
	struct event *ev_inotify, *ev_tick, *ev_stop;
	bool dirsync_running, dirsync_again;
	unsigned ticks;
	bool stopping;
	time_t stop_deadline;
};

/* outbound_policy.c: the TLS host gets at level (h: its route entry, NULL
 * for an address literal); auth: a relayhost login follows (AUTH needs
 * TLS: the level is at least encrypt). */
void outbound_policy(enum outbound_tls level, const struct dns_route_host *h,
		     bool auth, struct ohost_policy *out);

/* outbound_msg.c */
struct omsg *omsg_find(struct outbound *ob, const char *id);
/* A transaction's outcome for job (results per recipient already in
 * job->msg->env by the caller? no: given here). state/relay/tls/reply
 * for the recipients of indexes rcpts. */
void omsg_result(struct outbound *ob, struct omsg *m, const size_t *rcpts,
		 size_t n, enum queue_rcpt_state state, const char *relay,
		 const char *tls, const char *reply);
/* One transaction of m's attempt is over. */
void omsg_job_done(struct outbound *ob, struct omsg *m);
/* c waits until the results m has now are written (oconn_written() is
 * called then); false when they are already. */
bool omsg_wait_written(struct omsg *m, struct oconn *c);
void omsg_unwait(struct oconn *c);
void outbound_msgs_tick(struct outbound *ob);
void outbound_msgs_start(struct outbound *ob);
void outbound_msgs_free(struct outbound *ob);

/* outbound_dest.c */
/* Queue job for its destination (made when needed) and start it. */
void odest_add(struct outbound *ob, const char *domain, struct ojob *job);
void odest_kick_all(struct outbound *ob);
void odest_stop_all(struct outbound *ob);
void odest_abort_all(struct outbound *ob);
void odest_free_all(struct outbound *ob);
void odest_gc(struct outbound *ob);
void ojob_free(struct ojob **job);
/* The results c waited for are written: its next transaction. */
void oconn_written(struct oconn *c);

#endif
