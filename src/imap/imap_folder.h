/* imap_folder.h — what the folder commands (LIST LSUB CREATE DELETE RENAME
 * SUBSCRIBE UNSUBSCRIBE STATUS APPEND) share: reading a mailbox argument
 * and turning a store error into an IMAP reply (RFC 5530 codes). */
#ifndef SEALPOST_IMAP_FOLDER_H
#define SEALPOST_IMAP_FOLDER_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/imap.h"
#include "lib/util.h"

/* Longest store error text kept across a job (no paths reach clients). */
#define IMAP_FOLDER_ERROR_MAX 256

/* The result of a store call made in a job, for the reply. */
struct imap_store_result {
	int ret;                    /* 0 or -1 */
	int err;                    /* errno after -1 */
	char error[IMAP_FOLDER_ERROR_MAX];
};

/* Record ret/errno/error (from the pool thread). */
void imap_store_result_set(struct imap_store_result *r, int ret,
			   const char *error);

/* A mailbox argument (RFC 3501 "mailbox": astring, "INBOX" in any case).
 * false on a syntax error (the caller answers BAD). Names are checked by
 * the store (maildir_name_valid), never used as paths here. */
bool imap_arg_get_mailbox(const struct imap_arg *arg, const char **name_r);

/* Answer a failed store call: NO with [NONEXISTENT] (ENOENT),
 * [ALREADYEXISTS] (EEXIST), [CANNOT] (EINVAL, EPERM: the store's reason),
 * [LIMIT] (EOVERFLOW: UIDs exhausted), [OVERQUOTA] (ENOSPC, EDQUOT: the
 * disk is full, as Dovecot says), else [SERVERBUG]. Texts naming a path
 * are logged, never shown; so is every error but a refusal. what names
 * the operation for the log. */
void imap_reply_store_error(struct imap_session *is, const char *what,
			    const struct imap_store_result *r);

/* IMAP4rev2 (RFC 9051 5.1) names mailboxes in UTF-8; the store in
 * modified UTF-7 (RFC 3501 5.1.3). A UTF-8 name as a new modified UTF-7
 * string; NULL with *error_r when it is not valid UTF-8. */
char *imap_mailbox_from_utf8(const char *utf8, const char **error_r);
/* Append a store name as an astring, in UTF-8 when utf8 (IMAP4rev2). */
void imap_append_mailbox(struct buf *b, const char *mutf7, bool utf8);

/* Pool thread: may user's mailbox take bytes in messages more (QUOTA,
 * RFC 9208; cmd_quota.c)? -1 with errno EDQUOT and *error_r when that
 * would exceed a limit (imap_reply_store_error answers NO [OVERQUOTA]);
 * a usage that cannot be read is logged and allowed. */
int imap_quota_check(const char *user, uint64_t bytes, uint64_t messages,
		     const char **error_r);

#endif
