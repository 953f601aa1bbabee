/* addr.c — socket addresses as text. */
#include "net/addr.h"
#include "lib/util.h"

#include <arpa/inet.h>

void addr_text(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
			  host, sizeof(host));
	strlcpy_sp(out, host, size);
}
