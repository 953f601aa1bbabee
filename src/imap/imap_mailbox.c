/* imap_mailbox.c — the selected mailbox as the client sees it.
 * (Until SELECT exists no mailbox can be selected.) */
#include "imap/imap.h"

void imap_mailbox_sync_then(struct imap_session *is, bool allow_expunge,
			    void (*then)(struct imap_session *is))
{
	then(is);
}

void imap_mailbox_close(struct imap_session *is)
{
}
