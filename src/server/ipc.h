/* ipc.h — messages between the processes of `sealpost serve` (the master,
 * the key holder, the workers) over AF_UNIX socketpairs the master makes.
 *
 * A message is a header {u32 payload length, u32 type} (host byte order:
 * both ends are the same binary on the same machine) and the payload.
 * Payloads are built with ipc_put_*() into a struct buf and read back with
 * a struct ipc_cursor, whose getters fail softly: a short or malformed
 * payload sets cursor->bad and yields zeros, never reads past the end.
 *
 * The master writes with a send timeout (IPC_SEND_TIMEOUT_MS) so a stuck
 * child cannot stall it; children read on their loop (struct ipc_reader)
 * or, before their loop runs, with ipc_recv(). */
#ifndef SEALPOST_IPC_H
#define SEALPOST_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct event_base;

/* Largest payload: a TLS set with many pairs and long chains is tens of
 * KiB; anything near this is a bug, not a configuration. */
#define IPC_MSG_MAX (4u * 1024 * 1024)
/* The master gives a child this long to take a message. */
#define IPC_SEND_TIMEOUT_MS 5000

enum ipc_type {
	/* master -> worker */
	IPC_TLS_SET = 1,        /* the pairs, SNI names, policy, ticket keys */
	IPC_TICKET_KEYS,        /* a rotation: TLS_TICKET_KEYS_SIZE bytes */
	IPC_CONFIG_RELOAD,      /* re-read the config file (its path) */
	/* master -> key holder */
	IPC_KEYD_LOAD,          /* load the certificate set of a config */
	IPC_KEYD_EXPIRY,        /* log the expiry steps reached */
	IPC_KEYS_CLIENT,        /* a new worker's channel (the fd passed) */
	/* key holder -> master */
	IPC_KEYD_LOADED,        /* the outcome, and the set for the workers */
	/* master -> queue process */
	IPC_QUEUE_AUTH,         /* relayhost login: user NUL password, or empty */
	IPC_QUEUE_FLUSH,        /* try now: a queue id, or empty for all */
};

/* Build a payload. */
void ipc_put_u32(struct buf *b, uint32_t v);
void ipc_put_bytes(struct buf *b, const void *data, size_t len);   /* u32 len + data */
void ipc_put_str(struct buf *b, const char *s);                    /* as bytes, no NUL */

struct ipc_cursor {
	const unsigned char *p;
	size_t left;
	bool bad;
};
void ipc_cursor_init(struct ipc_cursor *c, const void *data, size_t len);
uint32_t ipc_get_u32(struct ipc_cursor *c);
/* A pointer into the payload and its length (NULL, 0 when bad). */
const void *ipc_get_bytes(struct ipc_cursor *c, size_t *len_r);
/* A new NUL-terminated string (NULL when bad or holding a NUL). */
char *ipc_get_str(struct ipc_cursor *c);

/* Send one message (blocking, with IPC_SEND_TIMEOUT_MS), with fd passed
 * along (SCM_RIGHTS) unless pass_fd < 0. */
int ipc_send(int fd, uint32_t type, const void *payload, size_t len,
	     int pass_fd, const char **error_r);
/* Receive one message, waiting at most timeout_ms (-1: for ever). The
 * payload replaces b's contents; a passed fd lands in *fd_r (else -1; may
 * be NULL when none is expected). */
int ipc_recv(int fd, uint32_t *type_r, struct buf *b, int *fd_r,
	     int timeout_ms, const char **error_r);

/* Messages on an event loop: handler is called for each complete one, and
 * with type 0 once when the peer is gone (EOF or error). */
struct ipc_reader;
typedef void ipc_handler_fn(uint32_t type, const void *payload, size_t len,
			    void *arg);
struct ipc_reader *ipc_reader_new(struct event_base *base, int fd,
				  ipc_handler_fn *handler, void *arg);
void ipc_reader_free(struct ipc_reader **r);

#endif
