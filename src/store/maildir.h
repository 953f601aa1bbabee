/* maildir.h — the Maildir store the POP3 and IMAP sessions use: folders,
 * UIDs, flags and messages.
 *
 * Layout (root = data_dir/mail/<domain>/<user>/, see mailbox.h):
 *   root/                    INBOX (cur/ new/ tmp/)
 *   root/.Sent/              folder "Sent" (Maildir++, with a maildirfolder file)
 *   root/.Lists.Work/        folder "Lists/Work": '/' in IMAP, '.' on disk
 *   <folder>/sealpost-uidlist       UIDVALIDITY, NEXTUID, uid <-> file name,
 *                                   mod-sequences, \Recent mark, expunge log
 *   <folder>/sealpost-uidlist.lock  flock()ed while the folder is changed
 *   <folder>/dovecot-keywords       keyword names for the letters a-z
 *   root/subscriptions       subscribed names, one a line
 *   root/sealpost-folders.lock      flock()ed while folders are created,
 *                                   deleted, renamed or (un)subscribed
 *   root/sealpost-uidvalidity       the last UIDVALIDITY handed out
 *   root/sealpost-pop3.lock         the POP3 session lock
 * Folder names in this API are IMAP names: modified UTF-7 (RFC 3501 5.1.3),
 * hierarchy separator '/', "INBOX" in any case meaning the root.
 *
 * Thread and process safety: there is no global mutable state except an
 * atomic counter for unique file names. Every function may run in several
 * threads and processes at once on the same mailbox, concurrently with
 * deliveries and other Maildir programs: changes to a folder's uidlist happen
 * under flock() of its lock file (opened per operation, so threads of one
 * process exclude each other too); folder-tree changes under the root's
 * folders lock. Lock order: folders lock, then folder locks (INBOX first),
 * then the uidvalidity file. One struct maildir_folder or maildir_snapshot
 * must not be used by two threads at the same time; two handles on the same
 * folder may. A handle keeps the uidlist it last read and, under the lock,
 * reads only what other handles appended since (maildir_uidlist.c).
 *
 * Errors: functions return 0 / -1 (or bool) with text in *error_r; on -1,
 * errno tells the kind: ENOENT no such folder or message (expunged
 * meanwhile), EEXIST the folder exists, EINVAL a bad name or keyword, EPERM
 * not allowed (e.g. deleting INBOX), EWOULDBLOCK a lock held elsewhere,
 * ENOSPC no keyword letter left, EOVERFLOW UIDs exhausted, EBUSY a file
 * renamed under us again and again; anything else is an I/O error. */
#ifndef SEALPOST_MAILDIR_H
#define SEALPOST_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The IMAP hierarchy separator; '.' stands for it on disk (Maildir++). */
#define MAILDIR_SEP '/'
/* Longest folder name (mUTF-7 bytes): the folder is one directory entry
 * "." + name, and a file name is at most NAME_MAX (255) bytes on Linux;
 * the rest is headroom for temporary names. */
#define MAILDIR_NAME_MAX 200
/* Deepest folder nesting: deeper trees are abuse, not filing. */
#define MAILDIR_DEPTH_MAX 16
/* Size of a buffer for maildir_new_basename(): fits NAME_MAX with room for
 * ",W=<vsize>:2,<flags>". */
#define MAILDIR_BASENAME_SIZE 200
/* tmp/ files untouched this long are left over from a crash: the Maildir
 * specification says 36 hours. */
#define MAILDIR_TMP_STALE_SECS (36 * 60 * 60)
/* Expunged UIDs a folder remembers with the mod-sequence of their expunge
 * (for QRESYNC's VANISHED, RFC 7162 3.2.5, 3.2.6). Older ones are
 * forgotten, and the log then says from which mod-sequence on it is
 * complete: enough for a client that was away while a folder of this size
 * turned over; one away longer gets the complement of the UIDs still
 * there (RFC 7162 allows it: exact, only larger). */
#define MAILDIR_EXPUNGED_MAX 10000

/* ---- names ---------------------------------------------------------- */

/* UTF-8 -> IMAP modified UTF-7 (RFC 3501 5.1.3). Rejects invalid UTF-8
 * (overlong forms, surrogates, beyond U+10FFFF) and NUL. *mutf7_r is new,
 * the caller frees it. */
int mutf7_from_utf8(const char *utf8, char **mutf7_r, const char **error_r);
/* Modified UTF-7 -> UTF-8. Only the canonical encoding is accepted (the one
 * mutf7_from_utf8() produces): raw bytes outside 0x20-0x7e, an unterminated
 * or empty shift, bad base64, non-zero padding bits, unpaired surrogates,
 * shifted printable ASCII and adjacent shifts are refused. */
int mutf7_to_utf8(const char *mutf7, char **utf8_r, const char **error_r);

/* Is name (mUTF-7) acceptable as a folder name? 1..MAILDIR_NAME_MAX bytes,
 * at most MAILDIR_DEPTH_MAX levels, canonical mUTF-7, and no level empty,
 * holding '.', '%', '*' or a control character (so never "..", a leading
 * '.', an empty level or a path). "INBOX" itself is valid. */
bool maildir_name_valid(const char *name, const char **error_r);
/* Does name mean INBOX (case-insensitive)? */
bool maildir_name_is_inbox(const char *name);

/* ---- folders -------------------------------------------------------- */

enum maildir_list_flags {
	MAILDIR_LIST_NOSELECT = 1 << 0,        /* no folder, only children */
	MAILDIR_LIST_HAS_CHILDREN = 1 << 1,
	MAILDIR_LIST_HAS_NO_CHILDREN = 1 << 2,
};

struct maildir_folder_info {
	char *name;               /* mUTF-7 IMAP name; "INBOX" for the root */
	unsigned flags;           /* enum maildir_list_flags */
	const char *special_use;  /* "\\Sent" ... (mailbox_specials) or NULL */
};

/* Every folder of the mailbox at root: INBOX first, then by name; a missing
 * parent of a folder ("Lists" of "Lists/Work") appears as NOSELECT. The
 * array is new; free it with maildir_folder_list_free(). */
int maildir_folder_list(const char *root, struct maildir_folder_info **list_r,
			size_t *count_r, const char **error_r);
void maildir_folder_list_free(struct maildir_folder_info **list, size_t count);

/* Create folder name (one trailing '/' is ignored) and any missing parents,
 * each atomically (built under a temporary name, then renamed into place).
 * EEXIST if it exists. */
int maildir_folder_create(const char *root, const char *name,
			  const char **error_r);
/* Delete a folder and its messages (RFC 3501 6.3.4). INBOX: EPERM. A folder
 * with children is deleted and its name remains as NOSELECT while the
 * children exist; deleting such a NOSELECT name fails (EPERM). The folder
 * is first renamed out of sight, so it vanishes atomically. Subscriptions
 * are kept. */
int maildir_folder_delete(const char *root, const char *name,
			  const char **error_r);
/* Rename a folder with all its children (RFC 3501 6.3.5); missing parents
 * of the new name are created. EEXIST if the new name or any new child name
 * exists. Renaming INBOX creates the new folder, moves INBOX's messages
 * into it (new UIDs there) and leaves INBOX empty, its children untouched. */
int maildir_folder_rename(const char *root, const char *old_name,
			  const char *new_name, const char **error_r);

/* Subscribed names, a new NULL-terminated array (free with strv_free()).
 * Reads Dovecot's formats (version 1, one name a line, with '.' or '/' as
 * separator; and version 2). */
int maildir_subscriptions(const char *root, char ***names_r,
			  const char **error_r);
/* Add or remove name (validated, need not exist); the file is replaced
 * atomically under the folders lock. */
int maildir_subscribe(const char *root, const char *name, bool subscribe,
		      const char **error_r);

/* ---- an open folder, sync and snapshots ------------------------------ */

struct maildir_folder;

/* Open folder name of the mailbox at root (ENOENT when it does not exist).
 * Cheap: reads nothing until maildir_sync(). */
int maildir_folder_open(const char *root, const char *name,
			struct maildir_folder **folder_r, const char **error_r);
void maildir_folder_close(struct maildir_folder **folder);
const char *maildir_folder_path(const struct maildir_folder *folder);

enum maildir_flag {
	MAILDIR_FLAG_SEEN = 1 << 0,      /* 'S' \Seen */
	MAILDIR_FLAG_ANSWERED = 1 << 1,  /* 'R' \Answered (replied) */
	MAILDIR_FLAG_FLAGGED = 1 << 2,   /* 'F' \Flagged */
	MAILDIR_FLAG_DELETED = 1 << 3,   /* 'T' \Deleted (trashed) */
	MAILDIR_FLAG_DRAFT = 1 << 4,     /* 'D' \Draft */
	MAILDIR_FLAG_PASSED = 1 << 5,    /* 'P' passed (forwarded; $Forwarded) */
};
#define MAILDIR_FLAGS_ALL 0x3fu

struct maildir_msg {
	uint32_t uid;
	char *basename;        /* the file name up to ':' */
	char *filename;        /* the current name in cur/, with ":2,<flags>"
				  (in new/ when in_new: as delivered) */
	unsigned flags;        /* enum maildir_flag, from the file name */
	uint32_t keywords;     /* bit i: keyword letter 'a' + i (named by
				  maildir_keywords_read()) */
	uint64_t size;         /* bytes in the file */
	uint64_t vsize;        /* bytes with every bare LF sent as CRLF: the
				  RFC822.SIZE / POP3 size */
	time_t internal_date;  /* the file's mtime when it got its UID */
	uint64_t modseq;       /* mod-sequence (RFC 7162 3.1): raised by every
				  change of its flags or keywords, whoever
				  made it (a rename by another program is
				  seen by the next sync) */
	bool recent;           /* \Recent: its UID is at or above the folder's
				  first recent UID as this sync found it */
	bool in_new;           /* still in new/ (maildir_sync_readonly()); the
				  calls below find it in cur/ once another
				  sync has moved it */
};

struct maildir_snapshot {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;   /* of every change so far, expunges too
				      (RFC 7162 HIGHESTMODSEQ) */
	size_t count;
	struct maildir_msg *msgs;  /* ascending UIDs */
	size_t recent_count;
};

/* \Recent (RFC 3501 2.3.2) is a watermark kept in the uidlist: messages
 * whose UID is at or above the folder's first recent UID are \Recent for
 * the next maildir_sync() of any handle, which then raises it to UIDNEXT
 * (so an IMAP SELECT session takes them; APPEND, COPY, MOVE and deliveries
 * all get new UIDs, so they are recent for it). The read-only syncs
 * (EXAMINE, STATUS) report the same messages recent without raising it.
 *
 * Mod-sequences (RFC 7162): every change gets a new one, the highest + 1,
 * under the folder lock: an append or copy (the new messages), a flag or
 * keyword change (the message), an expunge (logged with the UID, for
 * VANISHED). One operation (a batch of stores, one sync) uses one. A sync
 * gives a new one to every message whose file name shows flags other than
 * the uidlist recorded (renamed by another session's crash or another
 * program) and to every message whose file is gone. */

/* Bring the folder up to date and describe it: move new/ messages to cur/,
 * give every file without a UID the next UIDs, forget UIDs whose files are
 * gone, record changed flags, report and then raise the \Recent watermark,
 * persist the uidlist, and return a new snapshot (free with
 * maildir_snapshot_free()). Also removes tmp/ files older than
 * MAILDIR_TMP_STALE_SECS on the first sync of a handle. */
int maildir_sync(struct maildir_folder *folder,
		 struct maildir_snapshot **snap_r, const char **error_r);
/* maildir_sync() for a read-only view (IMAP EXAMINE, RFC 3501 6.3.2: no
 * message loses \Recent): new/ is scanned where it is, never moved, so the
 * next maildir_sync() of any handle still reports its messages recent:
 * the \Recent watermark is not raised. Files in new/ get UIDs like those
 * in cur/ (kept when a later sync moves them, the uidlist being keyed by
 * basename); their entries have in_new set. Only the uidlist is written
 * (our index, not mail state); tmp/ is not cleaned. Counts as a sync of
 * this handle for maildir_folder_changed(). */
int maildir_sync_readonly(struct maildir_folder *folder,
			  struct maildir_snapshot **snap_r, const char **error_r);
void maildir_snapshot_free(struct maildir_snapshot **snap);
/* The message with uid, or NULL (binary search). */
struct maildir_msg *maildir_snapshot_find(const struct maildir_snapshot *snap,
					  uint32_t uid);

/* What IMAP STATUS reports (RFC 3501 6.3.10). */
struct maildir_status {
	uint32_t messages;     /* in cur/ and new/ */
	uint32_t recent;       /* \Recent to the next maildir_sync() */
	uint32_t unseen;       /* without \Seen */
	uint32_t uidnext;      /* after the UIDs given to new/ */
	uint32_t uidvalidity;
	uint64_t highest_modseq;  /* RFC 7162 3.1.7 */
	uint32_t deleted;      /* with \Deleted (IMAP4rev2 STATUS DELETED) */
	uint64_t size;         /* the messages' vsizes added up (RFC 8438
				  STATUS SIZE) */
	uint64_t deleted_bytes; /* the files of those with \Deleted (RFC 9208
				  STATUS DELETED-STORAGE) */
};

/* Describe the folder without taking \Recent away: the sync of
 * maildir_sync_readonly() (UIDs given to unknown files of cur/ and new/,
 * the uidlist persisted, new/ never moved), so the next maildir_sync() of
 * any handle still reports the new/ messages recent, with the UIDs counted
 * here. Does not count as a sync of this handle for
 * maildir_folder_changed(). */
int maildir_status(struct maildir_folder *folder, struct maildir_status *st_r,
		   const char **error_r);

/* Cheap poll for IDLE/NOOP: has anything (new/, cur/, the uidlist) changed
 * since this handle's last sync? Compares nanosecond mtimes; true as well
 * when the last sync was within a second of a change (coarse file-system
 * clocks), or when there was no sync yet. */
bool maildir_folder_changed(struct maildir_folder *folder);

/* ---- flags ------------------------------------------------------------ */

enum maildir_flags_op {
	MAILDIR_FLAGS_REPLACE,
	MAILDIR_FLAGS_ADD,
	MAILDIR_FLAGS_REMOVE,
};

/* Parse the flags of a file name ("...:2,FS"); unknown letters ignored. */
unsigned maildir_flags_from_filename(const char *filename);
/* The keyword letters (a-z) of a file name as a bit mask. */
uint32_t maildir_keywords_from_filename(const char *filename);

/* Change the flags of msg by renaming its file in cur/ (unknown letters,
 * e.g. keywords, are kept). If the file was renamed meanwhile, it is found
 * again by basename and the change applied to its current flags. Updates
 * msg->filename and msg->flags. ENOENT if the message is gone. A message
 * still in new/ (in_new) is moved into cur/ with the new flags. */
int maildir_msg_set_flags(struct maildir_folder *folder, struct maildir_msg *msg,
			  enum maildir_flags_op op, unsigned flags,
			  const char **error_r);

/* Like maildir_msg_set_flags(), applying op to the keywords (a bit mask of
 * maildir_keyword_index() values) as well as to the flags, in one rename. */
int maildir_msg_store(struct maildir_folder *folder, struct maildir_msg *msg,
		      enum maildir_flags_op op, unsigned flags, uint32_t keywords,
		      const char **error_r);

/* A change for maildir_msgs_store(). */
struct maildir_store {
	enum maildir_flags_op op;
	unsigned flags;             /* enum maildir_flag */
	uint32_t keywords;          /* keyword letters */
	bool with_keywords;         /* op applies to the keywords too */
	unsigned keep;              /* REPLACE leaves these flags as they are */
	bool conditional;           /* RFC 7162 3.1.3 UNCHANGEDSINCE: */
	uint64_t unchanged_since;   /* only messages whose modseq is <= this */
};

enum maildir_store_result {
	MAILDIR_STORE_CHANGED,      /* stored: msg->modseq is the new one */
	MAILDIR_STORE_UNCHANGED,    /* it had these flags already */
	MAILDIR_STORE_MODIFIED,     /* conditional, and changed since: not
				       stored (msg shows its current state) */
	MAILDIR_STORE_EXPUNGED,     /* gone */
};

/* Apply st to count messages (from a snapshot of folder) in one critical
 * section, with one new mod-sequence for all that change; results_r[i] is
 * msgs[i]'s outcome, and msgs[i] is updated (filename, flags, keywords,
 * modseq, in_new) to what is now on disk. A message found renamed by
 * someone else is first recorded with a new mod-sequence, so a
 * conditional store to it fails (MODIFIED). Adding a flag a message has,
 * or removing one it lacks, changes nothing (RFC 7162 3.1.11). */
int maildir_msgs_store(struct maildir_folder *folder,
		       struct maildir_msg *const *msgs, size_t count,
		       const struct maildir_store *st,
		       enum maildir_store_result *results_r, const char **error_r);

/* The UIDs (*uids_r, ascending, new array) expunged from the folder with a
 * mod-sequence above modseq, as far as the log of expunges goes:
 * *complete_r tells whether it holds every such expunge (it keeps the
 * last MAILDIR_EXPUNGED_MAX). For QRESYNC's VANISHED (EARLIER). */
int maildir_expunged_since(struct maildir_folder *folder, uint64_t modseq,
			   uint32_t **uids_r, size_t *count_r, bool *complete_r,
			   const char **error_r);

/* ---- keywords (Dovecot's dovecot-keywords file) ----------------------- */

/* Dovecot names keywords by the letters a-z in file names. */
#define MAILDIR_KEYWORDS_MAX 26
#define MAILDIR_KEYWORDS_ALL ((1u << MAILDIR_KEYWORDS_MAX) - 1)
/* A keyword is an IMAP atom; longer ones are refused. */
#define MAILDIR_KEYWORD_LEN_MAX 100

struct maildir_keywords {
	char *names[MAILDIR_KEYWORDS_MAX];  /* names[i] for letter 'a' + i */
};

/* Is name a keyword we store: an IMAP atom (RFC 3501 9: no
 * atom-specials), not a system flag ("\..."), at most
 * MAILDIR_KEYWORD_LEN_MAX bytes? */
bool maildir_keyword_valid(const char *name);
/* The folder's keyword names (unset letters NULL); free with
 * maildir_keywords_free(). */
int maildir_keywords_read(struct maildir_folder *folder,
			  struct maildir_keywords *kw_r, const char **error_r);
void maildir_keywords_free(struct maildir_keywords *kw);
/* The letter index of keyword name (matched case-insensitively). When it
 * has none and create is set, the first free letter is given to it and the
 * file rewritten atomically under the folder lock. ENOENT: not there and
 * !create; ENOSPC: all 26 letters taken; EINVAL: not a valid keyword. */
int maildir_keyword_index(struct maildir_folder *folder, const char *name,
			  bool create, unsigned *index_r, const char **error_r);

/* ---- messages --------------------------------------------------------- */

/* Open msg for reading; *fd_r (O_RDONLY, O_CLOEXEC) is the caller's to
 * close. Finds the file again by basename when renamed meanwhile (updating
 * msg->filename); ENOENT when it is gone. */
int maildir_msg_open(struct maildir_folder *folder, struct maildir_msg *msg,
		     int *fd_r, const char **error_r);

/* Append (streaming): begin creates a file in tmp/ and returns its fd for
 * the caller to write the message to (the fd stays owned by the context);
 * commit finishes it, abort removes it. Both free *ctx. */
struct maildir_append;
int maildir_append_begin(struct maildir_folder *folder,
			 struct maildir_append **ctx_r, int *fd_r,
			 const char **error_r);
void maildir_append_abort(struct maildir_append **ctx);
/* Finish the message written to the fd of maildir_append_begin(): fsync'd,
 * given flags, keywords (a mask of maildir_keyword_index() values, in the
 * same file name) and internal_date (mtime; 0 = now), renamed into cur/,
 * cur/ fsync'd, its UID assigned and persisted before returning in *uid_r,
 * with the UIDVALIDITY it was given under (UIDPLUS APPENDUID, RFC 4315;
 * uidvalidity_r may be NULL). */
int maildir_append_commit(struct maildir_append **ctx, unsigned flags,
			     uint32_t keywords, time_t internal_date,
			     uint32_t *uidvalidity_r, uint32_t *uid_r,
			     const char **error_r);
/* Several messages in one step (IMAP MULTIAPPEND, RFC 3502): finish each
 * when its bytes are written (fsync'd, measured, given internal_date as
 * mtime, its descriptor closed; it stays in tmp/), then commit them all
 * into cur/ under one lock with consecutive UIDs (uids_r[i] for ctxs[i]),
 * flags[i] and keywords[i]: all or nothing, and every ctx is freed (its
 * tmp/ file removed on failure). Abort (maildir_append_abort) frees a
 * finished ctx as well. */
int maildir_append_finish(struct maildir_append *ctx, time_t internal_date,
			  const char **error_r);
int maildir_append_commit_all(struct maildir_append **ctxs, size_t n,
			      const unsigned *flags, const uint32_t *keywords,
			      uint32_t *uidvalidity_r, uint32_t *uids_r,
			      const char **error_r);

/* Copy msgs (from a snapshot of src) into dst: hard links where possible,
 * else copies fsync'd with the same internal date; flags are kept, and
 * keywords too (by name: letters are given in dst as needed). dst's
 * cur/ is fsync'd and the new UIDs persisted before returning; uids_r[i]
 * (count entries, caller's array) is the UID of msgs[i] in dst. All or
 * nothing: on failure nothing is left in dst (ENOENT: a message is gone). */
int maildir_copy(struct maildir_folder *src, struct maildir_msg *const *msgs,
		 size_t count, struct maildir_folder *dst, uint32_t *uids_r,
		 const char **error_r);

/* Remove msgs (from a snapshot of folder): unlink their files (found again
 * by basename when renamed; already gone is fine), fsync cur/, drop their
 * UIDs from the uidlist. */
int maildir_expunge(struct maildir_folder *folder,
		    struct maildir_msg *const *msgs, size_t count,
		    const char **error_r);

/* maildir_copy() then maildir_expunge() of the source messages. */
int maildir_move(struct maildir_folder *src, struct maildir_msg *const *msgs,
		 size_t count, struct maildir_folder *dst, uint32_t *uids_r,
		 const char **error_r);

/* A new unique Maildir file name (no info part) for a message of msg_size
 * bytes: "<sec>.M<usec>P<pid>Q<n>.<host>,S=<msg_size>" with '/' and ':' in
 * the host name written as \057 and \072. buf should hold
 * MAILDIR_BASENAME_SIZE bytes; -1 if it is too small. Thread-safe. */
int maildir_new_basename(char *buf, size_t size, size_t msg_size);
/* The unique part alone, "<sec>.M<usec>P<pid>Q<n>.<host>": the name of a
 * file whose size is not known yet (tmp/, the spool). Thread-safe. */
int maildir_unique_name(char *buf, size_t size);

/* ---- quota (Maildir++ maildirsize, maildir_quota.c) -------------------- */

/* A mailbox's limits; 0: no limit of that kind. */
struct maildir_quota {
	uint64_t bytes;
	uint64_t messages;
};

struct maildir_quota_usage {
	uint64_t bytes;        /* message files, as stored */
	uint64_t messages;
};

/* The usage of the mailbox at root (every folder), from root/maildirsize
 * (Maildir++ quota, as Dovecot's maildir backend and maildrop keep it):
 * read when it is fresh and written for these limits, else recalculated
 * from the folders' file names and replaced atomically. Only call it for
 * a mailbox that has a limit: the file it creates makes every later
 * change be recorded. */
int maildir_quota_usage(const char *root, const struct maildir_quota *limit,
			struct maildir_quota_usage *usage_r, const char **error_r);
/* Does adding bytes and messages stay within limit? */
bool maildir_quota_allows(const struct maildir_quota *limit,
			  const struct maildir_quota_usage *usage,
			  uint64_t bytes, uint64_t messages);
/* Record a change of the mailbox at root (the store does so for every
 * message it adds or removes; deliveries too). Nothing when it keeps no
 * maildirsize. */
void maildir_quota_add(const char *root, int64_t bytes, int64_t messages);
/* Forget the recorded usage (a folder was deleted): recalculated next. */
void maildir_quota_invalidate(const char *root);

/* ---- POP3 session lock ------------------------------------------------ */

/* Take the exclusive, non-blocking session lock of the mailbox at root
 * (RFC 1939 section 8: one POP3 session per maildrop). EWOULDBLOCK when
 * another session (thread or process) holds it. *fd_r is released with
 * maildir_session_unlock() or by the process exiting. */
int maildir_session_lock(const char *root, int *fd_r, const char **error_r);
void maildir_session_unlock(int *fd);

#endif
