/* mailbox.c — mailbox paths and creation. */
#include "store/mailbox.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct mailbox_special mailbox_specials[] = {
	{ "Sent", "\\Sent" },
	{ "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" },
	{ "Junk", "\\Junk" },
};
const size_t mailbox_specials_count = N_ELEMENTS(mailbox_specials);

static bool valid_local(const char *s, size_t len)
{
	if (len == 0 || len > ADDRESS_LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' && s[i + 1] == '.')
			return false;
		if (!isalnum(c) && c != '.' && c != '_' && c != '+' && c != '-')
			return false;
	}
	return true;
}

bool mailbox_address_valid(const char *address)
{
	const char *at = strrchr(address, '@');
	if (at == NULL || strlen(address) > ADDRESS_MAX)
		return false;
	return valid_local(address, (size_t)(at - address)) && dns_name_valid(at + 1);
}

void mailbox_address_normalize(const char *address, char *out, size_t size)
{
	strlcpy_sp(out, address, size);
	str_lower(out);
}

char *mailbox_path(const char *data_dir, const char *address)
{
	const char *at = strrchr(address, '@');
	return xasprintf("%s/mail/%s/%.*s", data_dir, at + 1,
			 (int)(at - address), address);
}

int maildir_create(const char *path, const char **error_r)
{
	static const char *const subdirs[] = { "cur", "new", "tmp" };

	if (fs_mkdir_p(path, 0700, error_r) < 0)
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(subdirs); i++) {
		char *sub = fs_join(path, subdirs[i]);
		int ret = mkdir(sub, 0700);
		if (ret < 0 && errno != EEXIST) {
			*error_r = errfmt("%s: %s", sub, strerror(errno));
			free(sub);
			return -1;
		}
		free(sub);
	}
	return fs_fsync_dir(path, error_r);
}

int mailbox_create(const char *data_dir, const char *address,
		   const char **error_r)
{
	char *root = mailbox_path(data_dir, address);
	int ret = maildir_create(root, error_r);

	for (size_t i = 0; ret == 0 && i < mailbox_specials_count; i++) {
		char *sub = xasprintf("%s/.%s", root, mailbox_specials[i].name);
		ret = maildir_create(sub, error_r);
		if (ret == 0) {
			/* Maildir++: marks a sub-folder, for Courier/Dovecot tools. */
			char *marker = fs_join(sub, "maildirfolder");
			int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			if (fd < 0) {
				*error_r = errfmt("%s: %s", marker, strerror(errno));
				ret = -1;
			} else {
				close(fd);
			}
			free(marker);
		}
		free(sub);
	}
	if (ret == 0)
		ret = fs_fsync_dir(root, error_r);
	if (ret == 0) {
		/* The domain folder gained an entry: make it durable too. */
		char *parent = fs_dirname(root);
		ret = fs_fsync_dir(parent, error_r);
		free(parent);
	}
	free(root);
	return ret;
}
