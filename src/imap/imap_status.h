/* imap_status.h — what STATUS (RFC 3501 6.3.10, cmd_status.c) and LIST
 * RETURN (STATUS ...) (RFC 5819, cmd_list.c) share: the items, reading a
 * folder's counts in a job, and the "STATUS name (...)" response. Items:
 * MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN, DELETED and SIZE of
 * IMAP4rev2 (RFC 9051 6.3.11, RFC 8438 STATUS=SIZE), and QUOTA's
 * DELETED-STORAGE (RFC 9208 4.2, in units of 1024 octets), CONDSTORE's
 * HIGHESTMODSEQ (RFC 7162 3.1.7). */
#ifndef SEALPOST_IMAP_STATUS_H
#define SEALPOST_IMAP_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/imap_parser.h"
#include "lib/util.h"
#include "store/maildir.h"

enum imap_status_item {
	IMAP_STATUS_MESSAGES,
	IMAP_STATUS_RECENT,
	IMAP_STATUS_UIDNEXT,
	IMAP_STATUS_UIDVALIDITY,
	IMAP_STATUS_UNSEEN,
	IMAP_STATUS_DELETED,
	IMAP_STATUS_SIZE,
	IMAP_STATUS_DELETED_STORAGE,    /* RFC 9208 4.2 */
	IMAP_STATUS_HIGHESTMODSEQ,      /* RFC 7162 3.1.7 */
	IMAP_STATUS_ITEM_COUNT
};

/* The items asked, in their order, each once. */
struct imap_status_request {
	enum imap_status_item items[IMAP_STATUS_ITEM_COUNT];
	size_t n_items;
};

/* The items of a STATUS list; false on an unknown item or none. */
bool imap_status_parse(const struct imap_arg *items, size_t count,
		       struct imap_status_request *req_r);
/* Pool thread: the counts of folder name of the mailbox at root. */
int imap_status_read(const char *root, const char *name,
		     struct maildir_status *st_r, const char **error_r);
/* Append "STATUS <name> (MESSAGES 3 ...)" (no "* ", no CRLF); the name
 * in UTF-8 when utf8 (IMAP4rev2). */
void imap_status_render(struct buf *b, const char *name, bool utf8,
			const struct imap_status_request *req,
			const struct maildir_status *st);

#endif
