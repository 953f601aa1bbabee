/* listener.h — the listening sockets of [listen] and accepting on them.
 *
 * Sockets are bound once, in the master process (possibly as root, before
 * privileges are dropped); every worker process accepts on all of them. */
#ifndef SEALPOST_LISTENER_H
#define SEALPOST_LISTENER_H

#include <stddef.h>

#include "conf/config.h"

struct event_base;
struct session_vfuncs;
struct tls_ctx;

/* listen(2) backlog: the kernel caps it at net.core.somaxconn. */
#define LISTENER_BACKLOG 511
/* Connections taken per wake-up, so one busy port cannot starve others. */
#define LISTENER_ACCEPT_BATCH 32
/* After EMFILE/ENFILE, pause accepting this long instead of spinning. */
#define LISTENER_PAUSE_SECS 1

struct listener;

/* Bind every address of every service in cfg. */
int listeners_bind(const struct config *cfg, struct listener **ls_r,
		   size_t *count_r, const char **error_r);
/* Accept on all listeners in this process's loop. vfuncs[proto] serves
 * each protocol; TLS sessions get tls_ctx (a reference is taken). */
void listeners_start(struct listener *ls, size_t count, struct event_base *base,
		     const struct session_vfuncs *const vfuncs[],
		     struct tls_ctx *tls_ctx);
/* The context new TLS sessions get from now on (a reload); sessions made
 * before keep theirs. Takes a reference. */
void listeners_set_tls(struct listener *ls, size_t count, struct tls_ctx *tls_ctx);
/* New session ticket keys (a rotation) for the context in service. */
void listeners_set_ticket_keys(struct listener *ls, size_t count,
			       const unsigned char *keys);
/* The socket of listener i (a worker keeps it, closing what it inherited
 * besides). */
int listener_fd(const struct listener *ls, size_t i);
/* Stop accepting (SIGTERM); the sockets stay open for other workers. */
void listeners_stop(struct listener *ls, size_t count);
/* "smtp 127.0.0.1:25", for logs. */
const char *listener_describe(const struct listener *ls, size_t i);
void listeners_free(struct listener **ls, size_t count);

#endif
