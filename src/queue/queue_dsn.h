/* queue_dsn.h — delivery status notifications (RFC 3464) for recipients
 * the queue gives up on: a multipart/report (RFC 6522) of a text part, the
 * message/delivery-status part and the original message's header block
 * (text/rfc822-headers, RFC 6522 6). Sent from the null sender <> (RFC
 * 5321 4.5.5), so that no bounce is ever made for it. */
#ifndef SEALPOST_QUEUE_DSN_H
#define SEALPOST_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/util.h"

/* Bytes of the original header block returned (Postfix returns the
 * headers of a message; real blocks are a few KiB, long Received chains
 * tens). */
#define QUEUE_DSN_HEADERS_MAX (64 * 1024)
/* "5.1.1" and its NUL, RFC 3463 (class, subject up to 3 digits, detail up
 * to 3). */
#define QUEUE_STATUS_SIZE 10

struct queue_dsn_rcpt {
	const char *address;
	const char *status;         /* RFC 3463 "5.1.1" */
	const char *remote_mta;     /* host that said diagnostic; NULL: ours */
	const char *diagnostic;     /* the reply, or our reason */
	time_t last_attempt;
};

struct queue_dsn {
	const char *reporting_mta;  /* our host name */
	const char *queue_id;       /* of the original message */
	const char *dsn_id;         /* a unique word for the Message-ID */
	const char *sender;         /* the original sender: the DSN's To */
	time_t arrival, now;
	bool expired;               /* queue_lifetime ran out */
	const struct queue_dsn_rcpt *rcpts;
	size_t n;
	const char *message;        /* the original (its start at least) */
	size_t message_len;
};

/* The DSN as a queue message: a "Return-Path: <>" line (*offset_r bytes,
 * for local delivery), then the message, CRLF line ends. */
void queue_dsn_build(const struct queue_dsn *dsn, struct buf *out,
		     uint64_t *offset_r);
/* The RFC 3463 status of an SMTP reply: its enhanced code when it has one
 * of its own class, else "<class>.0.0" ("5.0.0" for anything odd). */
void queue_reply_status(const char *reply, char out[QUEUE_STATUS_SIZE]);

#endif
