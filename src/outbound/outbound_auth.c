/* outbound_auth.c — the relayhost credentials: the first line of a file
 * that only its owner may read, "user:password" (split at the first ':',
 * as Postfix's sasl_passwd values are). Read by the master, which keeps
 * its privileges, and handed to the queue process. */
#include "outbound/outbound.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The credentials line: a user name and a password (RFC 4616 2: each up
 * to 255 octets), a colon and a line end. */
#define OUTBOUND_AUTH_LINE_MAX 520

int outbound_auth_read(const char *path, char **user_r, char **pass_r,
		       const char **error_r)
{
	char buf[OUTBOUND_AUTH_LINE_MAX + 2];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n;
	int rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		*error_r = errfmt("relayhost_auth %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		*error_r = errfmt("relayhost_auth %s: readable by others (mode %04o); "
				  "it holds a password: chmod 600 %s", path,
				  (unsigned)(st.st_mode & 07777), path);
		goto done;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		*error_r = errfmt("relayhost_auth %s: %s", path, strerror(errno));
		goto done;
	}
	buf[n] = '\0';
	size_t len = strcspn(buf, "\r\n");
	char *colon = memchr(buf, ':', len);
	if (len > OUTBOUND_AUTH_LINE_MAX || colon == NULL || colon == buf ||
	    colon + 1 == buf + len || memchr(buf, '\0', len) != NULL) {
		*error_r = errfmt("relayhost_auth %s: expected one line "
				  "\"user:password\"", path);
		goto done;
	}
	*user_r = xstrndup(buf, (size_t)(colon - buf));
	*pass_r = xstrndup(colon + 1, (size_t)(buf + len - colon - 1));
	rc = 0;
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return rc;
}
