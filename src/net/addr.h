/* addr.h — socket addresses as text, for logs and replies. */
#ifndef SEALPOST_ADDR_H
#define SEALPOST_ADDR_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Room for any address addr_text() writes. */
#define ADDR_TEXT_SIZE (INET6_ADDRSTRLEN + 8)

/* The IPv4 or IPv6 address of sa without the port ("192.0.2.1",
 * "2001:db8::1"), or "?" for another family. */
void addr_text(const struct sockaddr *sa, char *out, size_t size);

#endif
