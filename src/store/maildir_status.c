/* maildir_status.c — STATUS counts without taking \Recent.
 *
 * A full sync takes \Recent (it raises the folder's watermark). STATUS
 * must not (RFC 3501 6.3.10: STATUS does not change \Recent), so it counts
 * from the sync of a read-only view, which leaves the watermark and gives
 * new/ its UIDs where it is: every message is counted once, whichever of
 * new/ and cur/ holds it, RECENT is what the next SELECT will see, and
 * UIDNEXT and HIGHESTMODSEQ are the uidlist's own. */
#include "store/maildir_private.h"
#include "lib/util.h"

#include <string.h>

int maildir_status(struct maildir_folder *folder, struct maildir_status *st_r,
		   const char **error_r)
{
	struct maildir_snapshot *snap = NULL;

	if (maildir_sync_status(folder, &snap, error_r) < 0)
		return -1;
	memset(st_r, 0, sizeof(*st_r));
	st_r->uidvalidity = snap->uidvalidity;
	st_r->messages = (uint32_t)snap->count;
	st_r->recent = (uint32_t)snap->recent_count;
	st_r->uidnext = snap->uidnext;
	st_r->highest_modseq = snap->highest_modseq;
	for (size_t i = 0; i < snap->count; i++) {
		if (!(snap->msgs[i].flags & MAILDIR_FLAG_SEEN))
			st_r->unseen++;
		if (snap->msgs[i].flags & MAILDIR_FLAG_DELETED) {
			st_r->deleted++;
			st_r->deleted_bytes += snap->msgs[i].size;
		}
		st_r->size += snap->msgs[i].vsize;
	}
	maildir_snapshot_free(&snap);
	return 0;
}
