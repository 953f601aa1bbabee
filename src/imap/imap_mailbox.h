/* imap_mailbox.h — the selected mailbox as the client sees it (shared by
 * imap_mailbox.c, imap_msg.c and the selected-state commands cmd_select.c,
 * cmd_fetch.c, cmd_store.c, cmd_search.c, cmd_copy.c, cmd_idle.c).
 *
 * The view. The client knows the mailbox as a list of messages numbered
 * 1..n in UID order (RFC 3501 2.3.1.2), each with the flags it was last
 * told. struct imap_view_msg is one such message; the view changes only
 * where the client is told: new messages are appended and announced with
 * EXISTS, flag changes made elsewhere with FETCH, and expunged messages are
 * removed with EXPUNGE only where RFC 3501 7.4.1 allows it. Until then an
 * expunged message keeps its number; its flags, size and dates are still
 * answered from the view, its body no longer (NO [EXPUNGEISSUED]).
 *
 * Syncing. imap_mailbox_sync() runs a job that (optionally) performs an
 * action on the folder (expunge, ...), then, when something changed since
 * the last sync (maildir_folder_changed(), or forced after our own
 * changes), syncs the folder into a new snapshot; back on the loop the
 * snapshot is compared with the view and the untagged updates are sent.
 * A read-only view (EXAMINE) syncs with maildir_sync_readonly(): it shows
 * the messages of new/ (\Recent) without moving them, so they stay \Recent
 * for the next SELECT.
 *
 * Threads. The view, its snapshot, the folder handle and the MIME cache
 * are touched by one thread at a time: the loop, or the one job the
 * session runs (a session runs one job at a time and reads no input
 * meanwhile; IDLE starts a sync only when no job runs). A job may thus read
 * and update is->sel directly. */
#ifndef SEALPOST_IMAP_MAILBOX_H
#define SEALPOST_IMAP_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap.h"
#include "imap/imap_seqset.h"
#include "lib/util.h"
#include "store/maildir.h"

/* Serialised MIME trees (and CRLF maps) kept per session, least recently
 * used dropped first: enough for the messages a client opens again and
 * again, bounded so that thousands of sessions fit. */
#define IMAP_MIME_CACHE_BYTES (512 * 1024)
/* A tree larger than this is not cached (a pathological message). */
#define IMAP_MIME_CACHE_ENTRY_MAX (64 * 1024)

struct imap_cache_entry;

struct imap_view_msg {
	uint32_t uid;
	uint32_t flags;                 /* IMAP_FLAG_*, as last told (incl.
					   \Recent, which never changes) */
	uint32_t keywords;              /* keyword letters, as last told */
	uint64_t size;                  /* RFC822.SIZE: the CRLF form */
	uint64_t modseq;                /* mod-sequence as last told (or
					   known) */
	time_t internal_date;
	struct maildir_msg *msg;        /* in sel->snap; NULL: expunged */
	struct imap_cache_entry *cache; /* its MIME tree, or NULL */
};

struct imap_idle_watch;

struct imap_mailbox {
	struct maildir_folder *folder;
	char *name;                     /* as the client wrote it */
	bool read_only;                 /* EXAMINE */
	bool rev2;                      /* IMAP4rev2 (RFC 9051): no \Recent
					   in FLAGS, no RECENT responses */
	struct maildir_snapshot *snap;  /* the last sync */
	uint32_t uidvalidity, uidnext;
	uint64_t highest_modseq;        /* of the last sync */
	uint64_t clean_modseq;          /* of the last sync that left no
					   expunge untold */
	bool expunges_pending;          /* the view shows expunged messages */

	struct imap_view_msg *msgs;     /* the view, by sequence number */
	size_t count, cap;
	size_t recent;                  /* messages with \Recent */

	struct maildir_keywords kw;     /* names of the keyword letters */
	uint32_t kw_told;               /* letters named in the last FLAGS */
	bool force_sync;                /* we changed the folder: sync fully */
	bool syncing;                   /* a sync job runs */

	/* MIME cache: LRU list, most recent first */
	struct imap_cache_entry *lru_head, *lru_tail;
	size_t cache_bytes;

	struct imap_idle_watch *idle;   /* IDLE under way (cmd_idle.c) */

	/* RFC 5182 SEARCHRES: the result SEARCH RETURN (SAVE) kept, as UIDs
	 * ("$" in sequence sets); empty after SELECT/EXAMINE. */
	struct imap_seqset saved;
};

/* ---- flags ------------------------------------------------------------ */

/* IMAP_FLAG_* bits of Maildir flags, and back. */
uint32_t imap_flags_from_maildir(unsigned mflags);
unsigned imap_flags_to_maildir(uint32_t flags);
/* The flags of m as they are now (the last sync and our own changes; an
 * expunged message keeps what was told); \Recent as told. */
void imap_view_msg_current(const struct imap_mailbox *mb,
			   const struct imap_view_msg *m, uint32_t *flags_r,
			   uint32_t *keywords_r);
/* Append "(\Seen kw ...)" for flags and keyword letters. */
void imap_mailbox_append_flags(const struct imap_mailbox *mb, struct buf *b,
			       uint32_t flags, uint32_t keywords);
/* The keyword names of the letters in keywords (at most 26; pointers into
 * mb->kw); returns the count. */
size_t imap_mailbox_keyword_names(const struct imap_mailbox *mb, uint32_t keywords,
				  const char **names);

/* The HIGHESTMODSEQ the client may be told now: the last sync's, or while
 * expunges wait to be told, the one before them (RFC 7162 3.2, erratum
 * 1810: a client must not skip an expunge it has not seen yet). */
uint64_t imap_mailbox_safe_modseq(const struct imap_mailbox *mb);

/* ---- message sets ----------------------------------------------------- */

/* Parse a sequence set argument (UIDs when uid) and resolve it against the
 * view. Sequence numbers beyond the view are an error (RFC 3501 9: BAD),
 * UIDs simply match what exists. "$" is the saved search result (RFC
 * 5182): its UIDs, or the numbers of those still in the view. The caller
 * frees *set_r (also on error). */
int imap_mailbox_msgset(const struct imap_mailbox *mb, const struct imap_arg *arg,
			bool uid, struct imap_seqset *set_r, const char **error_r);
/* Does view message i (0-based) belong to a resolved set? */
bool imap_mailbox_in_set(const struct imap_mailbox *mb, const struct imap_seqset *set,
			 bool uid, size_t i);

/* ---- syncing ----------------------------------------------------------- */

/* An action run on the pool thread before the sync (e.g. expunge); returns
 * 0, or -1 with errno and *error_r set. */
typedef int imap_sync_action(struct imap_session *is, void *ctx,
			     const char **error_r);
/* Called on the loop when the sync is over and the updates were sent (also
 * when the session is closing: then only clean up). result, err and error
 * are the action's (0 without one). */
typedef void imap_sync_done(struct imap_session *is, void *ctx, int result,
			    int err, const char *error);

/* Pool thread: sync folder for a view, read-only (EXAMINE: new/ stays
 * where it is, RFC 3501 6.3.2) or taking \Recent (SELECT). */
int imap_mailbox_folder_sync(struct maildir_folder *folder, bool read_only,
			     struct maildir_snapshot **snap_r, const char **error_r);

/* Run action (optional) then a sync in a job; send the updates (EXPUNGE
 * only when allow_expunge), then call done. The session is suspended
 * meanwhile. */
void imap_mailbox_sync(struct imap_session *is, imap_sync_action *action,
		       void *ctx, bool allow_expunge, imap_sync_done *done);

/* Open the view of a freshly synced folder (SELECT/EXAMINE): takes over
 * folder, snap and kw. */
struct imap_mailbox *imap_mailbox_new(struct maildir_folder *folder,
				      const char *name, bool read_only,
				      struct maildir_snapshot *snap,
				      struct maildir_keywords *kw);
/* "* FLAGS" and "* OK [PERMANENTFLAGS]" for the current keywords. */
void imap_mailbox_send_flags(struct imap_session *is);
/* The same, only if keywords were named since the client was last told. */
void imap_mailbox_announce_keywords(struct imap_session *is);

/* ---- the MIME cache (pool thread or loop, see Threads above) ---------- */

/* The cached bytes of m, or NULL; marks the entry as used. */
const struct buf *imap_cache_get(struct imap_mailbox *mb, struct imap_view_msg *m);
/* Cache data (taken over) for m, evicting the least recently used. */
void imap_cache_put(struct imap_mailbox *mb, struct imap_view_msg *m, struct buf *data);
void imap_cache_drop(struct imap_mailbox *mb, struct imap_view_msg *m);

/* ---- IDLE (cmd_idle.c) ------------------------------------------------- */

/* Stop watching (IDLE ended, or the mailbox is closed). */
void imap_idle_stop(struct imap_mailbox *mb);

#endif
