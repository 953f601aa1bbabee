/* server.h — `sealpost serve`: the master process, its workers and the
 * wiring of every service (src/server/: master.c, worker.c, services.c,
 * process.c).
 *
 * The master loads the config and the certificate pair, binds every
 * listener, drops privileges, then forks one worker per CPU core (or
 * `workers`). Each worker runs its own libevent loop with a small thread
 * pool for disk and password work, and accepts on every listener. The
 * master restarts a worker that dies and, on SIGTERM or SIGINT, stops the
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

/* Run until stopped. cfg becomes the global `config` and is freed at the
 * end. Returns the process exit status; errors are printed as one
 * "sealpost: ..." line. */
int server_run(struct config *cfg);

#endif
