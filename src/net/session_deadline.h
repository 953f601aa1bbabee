/* session_deadline.h — the deadlines of a session that a drip-feeding
 * client cannot push back. Internal to the session core (session.c).
 *
 * The connection's idle timeout (conn_set_timeout) starts over with every
 * byte, so a client sending one byte a second never trips it and holds its
 * slot for ever. These deadlines do not move with single bytes:
 *
 * - line: a command line must be whole within the session's timeout
 *   (session_set_timeout: smtp_timeout, pop3_timeout, imap_timeout),
 *   counted from the read that brought its first byte. An overlong line
 *   being skipped is a line not yet whole. Not in raw mode.
 * - login: within config login_timeout of the connection the client must
 *   have logged in (SMTP port 25: sent an accepted MAIL), reported with
 *   session_login_done(). However busy it keeps the line.
 * - rate: in raw mode (SMTP DATA, IMAP literals, APPEND's message), once
 *   data_rate_grace seconds are over, each data_rate_window seconds must
 *   bring data_min_rate bytes a second on average. A window at whose end
 *   the server itself held input back (bytes it had not consumed yet,
 *   waiting for the disk or for the client to read) is not held against
 *   the client.
 *
 * One timer per session fires at the earliest deadline set. When one
 * passes, one line is logged and the session ends with the protocol's
 * goodbye: SESSION_BYE_TIMEOUT, SESSION_BYE_LOGIN_TIMEOUT or
 * SESSION_BYE_TOO_SLOW. */
#ifndef SEALPOST_SESSION_DEADLINE_H
#define SEALPOST_SESSION_DEADLINE_H

#include <stdbool.h>

struct session;

/* At accept, once s->conn exists: the login deadline starts. */
void session_deadlines_new(struct session *s);
void session_deadlines_free(struct session *s);

/* New bytes are in the input buffer, before they are processed. */
void session_deadlines_input(struct session *s);
/* Processing stopped: look at what is left in the input buffer. */
void session_deadlines_after_input(struct session *s);
/* Raw mode began or ended. */
void session_deadlines_raw(struct session *s, bool raw);

#endif
