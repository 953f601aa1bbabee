/* server_private.h — what the master, the workers and the service wiring of
 * src/server/ share. Not for other modules: they see server.h. */
#ifndef SEALPOST_SERVER_PRIVATE_H
#define SEALPOST_SERVER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "server/server.h"

struct event;
struct listener;
struct session_vfuncs;
struct tls_ctx;

struct server {
	struct listener *listeners;
	size_t n_listeners;
	struct tls_ctx *tls_ctx;
	pid_t workers[SERVER_MAX_WORKERS];
	unsigned n_workers;
	/* worker side */
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
/* The TLS context serving the configured pair (findings logged). */
int server_load_tls(const struct config *cfg, struct server *srv);
/* Per-worker start and stop of what the protocols need (the
 * authenticator). */
void server_services_worker_init(const struct config *cfg);
void server_services_worker_deinit(void);

/* ---- process.c: the process environment ------------------------------ */

/* Started as root: resolve `user`; *drop_r tells whether to drop later. */
int server_lookup_user(const struct config *cfg, uid_t *uid_r, gid_t *gid_r,
		       bool *drop_r);
int server_drop_privileges(const struct config *cfg, uid_t uid, gid_t gid);
/* data_dir and its spool exist and belong to the serving user. */
int server_prepare_dirs(const struct config *cfg, bool drop, uid_t uid, gid_t gid);
int server_check_writable(const struct config *cfg);
void server_raise_fd_limit(const struct config *cfg);

/* ---- worker.c ----------------------------------------------------------- */

/* The life of a worker process: its loop until SIGTERM and the sessions
 * are gone. Returns the process exit status. */
int server_worker_main(struct server *srv);

#endif
