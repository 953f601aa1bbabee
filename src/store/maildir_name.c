/* maildir_name.c — folder names: validation and their place on disk.
 *
 * "Lists/Work" is the directory ".Lists.Work" (Maildir++); INBOX is the
 * mailbox root and "INBOX/x" is ".INBOX.x". Names stay in modified UTF-7 on
 * disk, as Dovecot keeps them. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool maildir_name_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* Any C0, DEL or C1 control character in UTF-8 text? */
static bool utf8_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return true;
	}
	return false;
}

static bool fail_name(const char **error_r, const char *why)
{
	*error_r = why;
	errno = EINVAL;
	return false;
}

bool maildir_name_valid(const char *name, const char **error_r)
{
	size_t len = strlen(name), depth = 1, level_len = 0;
	char *utf8 = NULL;

	if (len == 0)
		return fail_name(error_r, "empty folder name");
	if (len > MAILDIR_NAME_MAX)
		return fail_name(error_r, "folder name is too long");
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == MAILDIR_SEP || c == '\0') {
			if (level_len == 0)
				return fail_name(error_r, "empty level in folder name");
			level_len = 0;
			if (c != '\0' && ++depth > MAILDIR_DEPTH_MAX)
				return fail_name(error_r, "folder name is nested too deep");
			continue;
		}
		level_len++;
		if (c == '.')
			return fail_name(error_r, "'.' is not allowed in folder names");
		if (c == '%' || c == '*')
			return fail_name(error_r, "wildcards are not allowed in folder names");
	}
	if (mutf7_to_utf8(name, &utf8, error_r) < 0)
		return false;
	bool control = utf8_has_control(utf8);
	free(utf8);
	if (control)
		return fail_name(error_r, "control character in folder name");
	return true;
}

char *maildir_name_normalize(const char *name, const char **error_r)
{
	if (!maildir_name_valid(name, error_r))
		return NULL;
	char *norm = xstrdup(name);
	size_t first = strcspn(norm, "/");
	if (first == 5 && strncasecmp(norm, "INBOX", 5) == 0)
		memcpy(norm, "INBOX", 5);
	return norm;
}

char *maildir_name_to_dirent(const char *name)
{
	char *dirent = xasprintf(".%s", name);
	for (char *p = dirent; *p != '\0'; p++) {
		if (*p == MAILDIR_SEP)
			*p = '.';
	}
	return dirent;
}

char *maildir_name_to_path(const char *root, const char *name)
{
	if (maildir_name_is_inbox(name))
		return xstrdup(root);
	char *dirent = maildir_name_to_dirent(name);
	char *path = fs_join(root, dirent);
	free(dirent);
	return path;
}

char *maildir_dirent_to_name(const char *dirent)
{
	const char *error;

	if (dirent[0] != '.' || dirent[1] == '\0' || dirent[1] == '.')
		return NULL;
	char *name = xstrdup(dirent + 1);
	for (char *p = name; *p != '\0'; p++) {
		if (*p == '.')
			*p = MAILDIR_SEP;
	}
	size_t first = strcspn(name, "/");
	bool inbox_level = first == 5 && strncasecmp(name, "INBOX", 5) == 0;
	/* ".INBOX" is not INBOX (that is the root), and ".inbox.x" would
	 * collide with ".INBOX.x": neither is a folder we show. */
	if (!maildir_name_valid(name, &error) ||
	    (inbox_level && (name[5] == '\0' || strncmp(name, "INBOX", 5) != 0)))
		x_free(&name);
	return name;
}
