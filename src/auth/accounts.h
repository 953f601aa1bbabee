/* accounts.h — who has a mailbox here, for the protocol servers.
 * Blocking (reads the disk): call from pool threads only. */
#ifndef SEALPOST_ACCOUNTS_H
#define SEALPOST_ACCOUNTS_H

#include <stdbool.h>

/* Does the normalised local address have an account? */
bool accounts_exists(const char *data_dir, const char *address);

#endif
