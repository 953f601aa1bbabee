/* imap_folder.c — mailbox arguments and store errors of the folder
 * commands. */
#include "imap/imap_folder.h"
#include "imap/imap_util.h"
#include "store/maildir.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>

void imap_store_result_set(struct imap_store_result *r, int ret,
			   const char *error)
{
	r->ret = ret;
	r->err = ret < 0 ? errno : 0;
	r->error[0] = '\0';
	if (ret < 0 && error != NULL)
		strlcpy_sp(r->error, error, sizeof(r->error));
}

bool imap_arg_get_mailbox(const struct imap_arg *arg, const char **name_r)
{
	const char *s;
	size_t len;

	if (!imap_arg_get_astring(arg, &s, &len) || strlen(s) != len)
		return false;
	*name_r = s;
	return true;
}

void imap_reply_store_error(struct imap_session *is, const char *what,
			    const struct imap_store_result *r)
{
	/* The store's texts for refusals name folders, not paths; a system
	 * call's text names a path and stays in the log. */
	bool private = is->root != NULL && strstr(r->error, is->root) != NULL;
	const char *detail = private ? "Operation refused" : r->error;

	if (private || (r->err != ENOENT && r->err != EEXIST && r->err != EDQUOT &&
			r->err != EINVAL && r->err != EPERM && r->err != EOVERFLOW))
		session_log(&is->s, LOG_LEVEL_ERROR, "store-error op=%s error=\"%s\"",
			    what, r->error);
	switch (r->err) {
	case ENOENT:
		imap_command_done(is, "NO", "NONEXISTENT", "%s", detail);
		return;
	case EEXIST:
		imap_command_done(is, "NO", "ALREADYEXISTS", "%s", detail);
		return;
	case EINVAL:
	case EPERM:
		imap_command_done(is, "NO", "CANNOT", "%s", detail);
		return;
	case EOVERFLOW:
		imap_command_done(is, "NO", "LIMIT", "Mailbox has run out of UIDs");
		return;
	case ENOSPC:
		imap_command_done(is, "NO", "OVERQUOTA", "Not enough disk space");
		return;
	case EDQUOT:
		/* the mailbox's quota (cmd_quota.c), as Dovecot words it */
		imap_command_done(is, "NO", "OVERQUOTA", "Quota exceeded (mailbox "
				  "for user is full)");
		return;
	default:
		imap_command_done(is, "NO", "SERVERBUG", "Internal error occurred. "
				  "Refer to server log for more information.");
		return;
	}
}

char *imap_mailbox_from_utf8(const char *utf8, const char **error_r)
{
	char *mutf7;

	if (mutf7_from_utf8(utf8, &mutf7, error_r) < 0)
		return NULL;
	return mutf7;
}

void imap_append_mailbox(struct buf *b, const char *mutf7, bool utf8)
{
	char *text;
	const char *error;

	/* a name on disk that is not canonical mUTF-7 is sent as it is */
	if (!utf8 || mutf7_to_utf8(mutf7, &text, &error) < 0) {
		imap_append_astring(b, mutf7);
		return;
	}
	/* RFC 9051 4.3: quoted strings hold UTF-8 (names have no controls) */
	bool ascii = true;
	for (const char *p = text; *p != '\0'; p++)
		ascii &= (unsigned char)*p < 0x80;
	if (ascii || strlen(text) > IMAP_QUOTED_MAX) {
		imap_append_astring(b, text);
	} else {
		buf_append(b, "\"", 1);
		for (const char *p = text; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_append(b, "\\", 1);
			buf_append(b, p, 1);
		}
		buf_append(b, "\"", 1);
	}
	free(text);
}
