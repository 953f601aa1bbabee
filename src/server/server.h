/* server.h — `sealpost serve`: the master process, the key holder, the
 * workers and the wiring of every service.
 *
 *   master.c    the master: load, bind, fork, restart, reload, stop
 *   certs.c     its certificate set: load, reload, expiry, certs_dir watch
 *   control.c   the control socket (`sealpost reload`) and the reload itself
 *   keyd.c      the key holder, and the workers' remote keys
 *   tls_set.c   the certificate set as the master hands it to a worker
 *   ipc.c       messages between these processes
 *   worker.c    a worker: its loop, its listeners, its TLS context
 *   services.c  which protocol serves which listener
 *   process.c   the serving user, the data folders, the fd limit
 *
 * The master loads the config and every certificate pair, binds every
 * listener, forks the key holder (it keeps the private keys and signs for
 * the workers; keyd.h) and one worker per CPU core (or `workers`). The
 * master and the key holder keep the privileges they were started with (to
 * read renewed keys); workers, the only processes that talk to clients,
 * drop to `user` first thing. Each worker runs its own libevent loop with
 * a small thread pool for disk and password work, and accepts on every
 * listener. The master restarts a worker that dies, reloads the config and
 * the certificates on SIGHUP, `sealpost reload` or a change in certs_dir,
 * rotates the session ticket keys, and on SIGTERM or SIGINT stops the
 * workers gracefully and exits 0. */
#ifndef SEALPOST_SERVER_H
#define SEALPOST_SERVER_H

#include "conf/config.h"

/* A worker that keeps dying is not restarted in a loop: at most this many
 * restarts per SERVER_RESTART_WINDOW_SECS, then the server stops. */
#define SERVER_MAX_RESTARTS 5
#define SERVER_RESTART_WINDOW_SECS 60
#define SERVER_MAX_WORKERS 64
/* Descriptors beyond the connections: listeners, pool eventfd, message
 * files and lock files open at the same time. */
#define SERVER_FD_RESERVE 256
/* The master's tick: worker restarts, the look at certs_dir where inotify
 * is missing, expiry and ticket rotation checks. */
#define SERVER_TICK_SECS 5
/* Certificate expiry is looked at this often (and at every reload). */
#define SERVER_EXPIRY_CHECK_SECS (60 * 60)
/* The control socket of a running server, in data_dir. */
#define SERVER_CONTROL_NAME "sealpost.control"
/* Longest command line on the control socket. */
#define SERVER_CONTROL_LINE_MAX 256

/* Run until stopped. cfg becomes the global `config` and is freed at the
 * end. Returns the process exit status; errors are printed as one
 * "sealpost: ..." line. */
int server_run(struct config *cfg);

#endif
