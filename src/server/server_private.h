/* server_private.h — what the master, the workers and the service wiring of
 * src/server/ share. Not for other modules: they see server.h. */
#ifndef SEALPOST_SERVER_PRIVATE_H
#define SEALPOST_SERVER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "server/server.h"
#include "net/tls.h"
#include "lib/util.h"

struct event;
struct listener;
struct ipc_reader;
struct session_vfuncs;

struct worker_slot {
	pid_t pid;             /* 0: not running */
	int chan;              /* the master's end of its channel, or -1 */
};

struct server {
	struct listener *listeners;
	size_t n_listeners;
	unsigned n_workers;
	struct worker_slot workers[SERVER_MAX_WORKERS];

	/* master side */
	struct config *cfg;              /* what is served now (= config) */
	struct config *retired_cfg;      /* the one before the last reload */
	struct buf pairs;                /* the certificates served, as the
					    key holder sent them (tls_set.h) */
	unsigned char tickets[TLS_TICKET_KEYS_SIZE];
	time_t tickets_rotated;
	time_t expiry_checked;
	pid_t keyd_pid;
	int keyd_ctl;
	pid_t queue_pid;                 /* the queue process (queue_proc.c) */
	int queue_chan;
	bool drop;                       /* workers drop to uid/gid */
	uid_t uid;
	gid_t gid;
	bool stopping;
	int exit_status;
	time_t kill_at;
	time_t restarts;                 /* start of the restart window */
	int n_restarts;
	struct event *ev_signals[4];
	struct event *ev_tick;
	struct event *ev_reload;         /* a certs_dir change settles */
	struct event *ev_watch;          /* inotify on certs_dir */
	int watch_fd;
	struct event *ev_control;
	int control_fd;
	char *control_path;
	time_t certs_stamp;              /* newest mtime seen in certs_dir */

	/* worker side */
	struct ipc_reader *chan_reader;
	int chan;                        /* to the master */
	int keyd_fd;                     /* to the key holder */
	struct event *ev_stop_poll;
	time_t stop_deadline;
	bool forced;
};

/* ---- services.c: what is served, and by which protocol --------------- */

/* The session vfuncs of each protocol, indexed by enum proto. */
extern const struct session_vfuncs *const server_proto_vfuncs[];
/* Every listed service has a protocol; there is a local domain. Prints
 * the problem ("sealpost: ...") and returns 1, else 0. */
int server_check_services(const struct config *cfg);
/* Per-worker start and stop of what the protocols need (the
 * authenticator). */
void server_services_worker_init(const struct config *cfg);
void server_services_worker_deinit(void);

/* ---- certs.c: the certificate set, through the key holder ---------------- */

/* The key holder loads the configured set at start: a pair that cannot be
 * loaded stops the start (one "sealpost: ..." line); findings are logged. */
int server_certs_load(struct server *srv);
/* Reload the pairs the config at path names: replacements are validated
 * by the key holder, a refused one keeps the running pair; the workers get
 * the outcome. Lines for report (may be NULL). Returns 0 when applied, -1
 * when nothing could be. */
int server_certs_reload(struct server *srv, const char *path, struct buf *report);
/* The IPC_TLS_SET message of the set in service to worker slot i. */
int server_certs_to_worker(struct server *srv, unsigned i, const char **error_r);
/* Watch certs_dir for changes (inotify; a periodic look as well). */
void server_certs_watch(struct server *srv);
void server_certs_unwatch(struct server *srv);
/* The periodic look at certs_dir (from the master's tick). */
void server_certs_poll(struct server *srv);

/* ---- control.c: `sealpost reload` and friends ------------------------- */

/* The control socket of a running server, data_dir/CONTROL_SOCKET_NAME. */
int server_control_open(struct server *srv, const char **error_r);
void server_control_close(struct server *srv);
/* Apply the config file again (SIGHUP, `sealpost reload`, a certs_dir
 * change with certs_only): what can change at run time changes, what
 * cannot is reported as needing a restart. Lines for the caller in report
 * (may be NULL). Returns 0 on success. */
int server_reload(struct server *srv, bool certs_only, struct buf *report);

/* ---- process.c: the process environment ------------------------------ */

/* Started as root: resolve `user`; *drop_r tells whether to drop later. */
int server_lookup_user(const struct config *cfg, uid_t *uid_r, gid_t *gid_r,
		       bool *drop_r);
int server_drop_privileges(const struct config *cfg, uid_t uid, gid_t gid);
/* data_dir and its spool exist and belong to the serving user. */
int server_prepare_dirs(const struct config *cfg, bool drop, uid_t uid, gid_t gid);
int server_check_writable(const struct config *cfg, uid_t uid, gid_t gid,
			  bool drop);
void server_raise_fd_limit(const struct config *cfg);

/* ---- queue_proc.c: the queue process ---------------------------------------- */

/* The relayhost credentials file can be read (at start: a problem stops
 * the start with one "sealpost: ..." line). Returns 0 or 1. */
int server_queue_check(const struct config *cfg);
/* Fork the queue process and hand it the relayhost credentials. */
void server_queue_spawn(struct server *srv);
/* It is gone: forget its pid and channel. */
void server_queue_closed(struct server *srv);
/* A reload: the config path and the credentials again. */
void server_queue_reload(struct server *srv, struct buf *report);
/* `sealpost queue flush [ID]`; -1 when no queue process runs. */
int server_queue_flush(struct server *srv, const char *id);

/* ---- worker.c ----------------------------------------------------------- */

/* The life of worker process index: drop privileges, take the certificates
 * from the master, serve until SIGTERM and the sessions are gone. Returns
 * the process exit status. */
int server_worker_main(struct server *srv, unsigned index);
/* A child (worker, queue process) re-reads the config file at path that
 * the master validated; what cannot change at run time stays. */
void server_child_reload(struct server *srv, const char *path);
/* What a worker or the queue process does first after the fork, once the
 * master's descriptors are closed: frees the master's event loop that came
 * along, takes name (ps), dies with the master, drops the master's copy of
 * the pairs, leaves SIGHUP to the master (reloads come by message),
 * unblocks signals, drops privileges (srv->drop) and starts the log writer
 * thread. Returns -1 when the master is gone already or privileges could
 * not be dropped. */
int server_child_setup(struct server *srv, const char *name);

#endif
