/* iptable.h — counters shared by every worker process: connections per
 * client address and in total, and login failures per address and per
 * account (for the growing delay after failed logins).
 *
 * A fixed table in shared memory made before the workers fork, under one
 * process-shared robust mutex. Buckets are chosen by a hash keyed with a
 * secret made at start-up, so no client can aim at a victim's bucket. When
 * a bucket is full, its oldest idle entries are reused; a connection that
 * finds no slot is limited only by the total, and a login failure that
 * finds none counts in a shared overflow counter (failing closed: slower
 * answers, never fewer delays). Connections are counted per worker, so
 * the count of a worker that dies is given back. Without iptable_init()
 * (unit tests, CLI) every call is a no-op that allows. */
#ifndef SEALPOST_IPTABLE_H
#define SEALPOST_IPTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Buckets x slots: 32768 tracked keys (addresses and accounts). */
#define IPTABLE_BUCKETS 4096
#define IPTABLE_SLOTS 8

/* Most worker processes the table keeps counts for. */
#define IPTABLE_WORKERS_MAX 64

int iptable_init(unsigned long max_total, unsigned long max_per_ip,
		 unsigned n_workers, const char **error_r);
/* In a worker, right after fork: whose connections this process counts. */
void iptable_set_worker(unsigned index);
/* In the master, when worker index died: forget its connections. */
void iptable_worker_gone(unsigned index);

/* Count a new connection from peer; false (and why) when over a limit. */
bool iptable_conn_acquire(const struct sockaddr_storage *peer,
			  const char **reason_r);
void iptable_conn_release(const struct sockaddr_storage *peer);
unsigned long iptable_conn_total(void);

/* Login failures. Keys: a client address, or an account name. */
enum iptable_kind { IPTABLE_ADDR = 1, IPTABLE_ACCOUNT = 2 };
/* Recent failures of key (0 after IPTABLE_FAIL_WINDOW_SECS of quiet). */
#define IPTABLE_FAIL_WINDOW_SECS 900
unsigned iptable_failures(const struct sockaddr_storage *peer,
			  const char *account);
void iptable_fail(const struct sockaddr_storage *peer, const char *account);
void iptable_success(const struct sockaddr_storage *peer, const char *account);

#endif
