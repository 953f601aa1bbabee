/* accounts.c — account lookup. */
#include "auth/accounts.h"
#include "store/mailbox.h"

#include <stdlib.h>
#include <sys/stat.h>

bool accounts_exists(const char *data_dir, const char *address)
{
	struct stat st;
	char *path = mailbox_path(data_dir, address);
	bool ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	free(path);
	return ok;
}
