/* maildir_private.h — what the maildir_*.c files share; not for callers. */
#ifndef SEALPOST_MAILDIR_PRIVATE_H
#define SEALPOST_MAILDIR_PRIVATE_H

#include "store/maildir.h"
#include "lib/util.h"

#include <sys/stat.h>
#include <sys/types.h>

#define MAILDIR_UIDLIST_NAME "sealpost-uidlist"
#define MAILDIR_UIDLIST_LOCK_NAME "sealpost-uidlist.lock"
#define MAILDIR_DOVECOT_UIDLIST_NAME "dovecot-uidlist"
#define MAILDIR_KEYWORDS_NAME "dovecot-keywords"
#define MAILDIR_FOLDERS_LOCK_NAME "sealpost-folders.lock"
#define MAILDIR_UIDVALIDITY_NAME "sealpost-uidvalidity"
#define MAILDIR_POP3_LOCK_NAME "sealpost-pop3.lock"
#define MAILDIR_SUBSCRIPTIONS_NAME "subscriptions"
#define MAILDIR_FOLDER_MARKER "maildirfolder"
/* Folders being deleted or created are renamed to this prefix: a leading
 * ".." never maps to a valid folder name, so listings skip them. */
#define MAILDIR_HIDDEN_PREFIX "..sealpost-"
/* A uidlist larger than this is refused (about 1.5 million messages). */
#define MAILDIR_UIDLIST_MAX (256u * 1024 * 1024)

struct maildir_folder {
	char *root;
	char *name;        /* normalised IMAP name */
	char *path;        /* the folder's directory */
	/* Change detection: what this handle saw at its last sync. */
	bool synced;
	bool dirty;        /* a stamp was too fresh to trust */
	bool tmp_cleaned;
	struct timespec new_mtime, cur_mtime, uidlist_mtime;
	ino_t uidlist_ino;
	off_t uidlist_size;
	struct uidlist *ul;    /* the uidlist as last read (uidlist_load()) */
};

/* ---- locks (maildir_lock.c) ---- */
/* flock() dir/name (created 0600 if missing): LOCK_EX, or LOCK_EX|LOCK_NB
 * when nonblock. *fd_r holds the lock until maildir_unlock(). */
int maildir_lock(const char *dir, const char *name, bool nonblock, int *fd_r,
		 const char **error_r);
void maildir_unlock(int *fd);

/* ---- names (maildir_name.c) ---- */
/* Normalised copy of a valid name ("inbox/x" -> "INBOX/x"), or NULL with
 * errno EINVAL. */
char *maildir_name_normalize(const char *name, const char **error_r);
/* The directory of normalised name under root (root itself for INBOX). */
char *maildir_name_to_path(const char *root, const char *name);
/* The directory entry ".A.B" for "A/B" (not for INBOX). */
char *maildir_name_to_dirent(const char *name);
/* The folder name of a root entry ".A.B", or NULL when it is not one. */
char *maildir_dirent_to_name(const char *dirent);

/* ---- uidlist (maildir_uidlist.c) ---- */
/* The uidlist is compacted (rewritten) once its superseded lines exceed
 * its live ones by this many: appends stay cheap, the file bounded. */
#define MAILDIR_UIDLIST_COMPACT_SLACK 1024

struct uidlist_entry {
	uint32_t uid;
	bool has_size, has_vsize, has_date, has_flags;
	bool gone;              /* expunged (dropped at the next compaction) */
	uint64_t size, vsize;
	int64_t date;
	uint64_t modseq;        /* its mod-sequence (RFC 7162 3.1) */
	unsigned flags;         /* enum maildir_flag as last recorded */
	uint32_t keywords;      /* keyword letters as last recorded */
	char *basename;
};

struct uidlist_expunged {
	uint32_t uid;
	uint64_t modseq;
};

/* The state of a folder's uidlist: the messages and the log of expunges.
 * A handle keeps it between operations (struct maildir_folder::ul) and
 * reads only what others appended since (see maildir_uidlist.c). */
struct uidlist {
	uint32_t uidvalidity;
	uint32_t nextuid;
	uint32_t first_recent;  /* UIDs from here are \Recent for the next
				   maildir_sync() */
	uint64_t highest_modseq;
	uint64_t vanished_since;  /* the expunge log is complete above this */
	uint64_t gen;           /* counts rewrites; part of the header line */
	struct uidlist_entry *entries;  /* ascending uid */
	size_t count, cap;
	uint32_t last_uid;      /* the highest UID an entry ever had */
	struct uidlist_expunged *expunged;  /* ascending modseq, from exp_start */
	size_t exp_start, exp_end, exp_cap;
	bool exists;        /* our file exists */
	bool rewrite;       /* the file must be rewritten, not appended to */
	bool upgraded;      /* read from version 1 or dovecot-uidlist */
	bool dirty;         /* changed since read or written */
	/* what is on disk (the cache's identity) */
	bool loaded;
	char *header;       /* the header line as read or written, with '\n' */
	dev_t dev;
	ino_t ino;
	off_t size;         /* bytes read: up to the last complete line */
	size_t file_lines;  /* lines after the header */
	struct buf pending; /* record lines not yet appended */
};

/* The folder's uidlist, brought up to date (caller holds the folder lock):
 * the handle's copy plus what others appended since, or a full read when
 * the file was rewritten. Without a file, dovecot-uidlist is imported, or
 * an empty list starts with a new UIDVALIDITY. The list stays the
 * handle's; changes made to it are kept by uidlist_write(), and dropped
 * (re-read) by the next uidlist_load() otherwise. */
int uidlist_load(struct maildir_folder *folder, struct uidlist **ul_r,
		 const char **error_r);
/* Free the handle's copy (maildir_folder_close()). */
void uidlist_free(struct uidlist **ul);
/* The mod-sequence of the operation under way: *op_modseq, given a new one
 * (the highest + 1) on first use. Call it only for a change recorded. */
uint64_t uidlist_op_modseq(struct uidlist *ul, uint64_t *op_modseq);
/* Give basename the next UID with mod-sequence modseq; the entry is added
 * at the end. -1 (EOVERFLOW) when UIDs are exhausted. */
int uidlist_add(struct uidlist *ul, const char *basename, uint64_t size,
		uint64_t vsize, int64_t date, unsigned flags, uint32_t keywords,
		uint64_t modseq, uint32_t *uid_r, const char **error_r);
/* The index of uid's entry, or -1. */
ssize_t uidlist_find(const struct uidlist *ul, uint32_t uid);
/* Record that entry i has flags and keywords now, changed at modseq. */
void uidlist_set_flags(struct uidlist *ul, size_t i, unsigned flags,
		       uint32_t keywords, uint64_t modseq);
/* Record entry i's flags without a change (they were not known). */
void uidlist_fill_flags(struct uidlist *ul, size_t i, unsigned flags,
			uint32_t keywords);
/* Drop the entries of the n uids (sorted in place), logging them as
 * expunged at the operation's mod-sequence. Returns how many were
 * dropped. */
size_t uidlist_remove_uids(struct uidlist *ul, uint32_t *uids, size_t n,
			   uint64_t *op_modseq);
/* Drop entry i (gone from the folder), logged as expunged at the
 * operation's mod-sequence; call uidlist_compact() after a batch. */
void uidlist_drop(struct uidlist *ul, size_t i, uint64_t *op_modseq);
/* Remove the entries dropped. */
void uidlist_compact(struct uidlist *ul);
/* Raise the first \Recent UID (never lowers it). */
void uidlist_set_first_recent(struct uidlist *ul, uint32_t uid);
/* Persist what changed: append the new record lines (one write, fsync'd),
 * or rewrite atomically (temp, fsync, rename) when the file is new, was
 * damaged, or has grown past MAILDIR_UIDLIST_COMPACT_SLACK. */
int uidlist_write(struct maildir_folder *folder, struct uidlist *ul,
		  const char **error_r);
/* A UIDVALIDITY never handed out before in this mailbox. */
int uidlist_new_uidvalidity(const char *root, uint32_t *uidvalidity_r,
			    const char **error_r);

/* ---- file names (maildir_flags.c) ---- */
/* Find the current name of basename in dir/cur; new string or NULL. */
char *maildir_find_basename(const char *dir, const char *basename);

/* ---- sync (maildir_sync.c) ---- */
/* maildir_sync() with the folder lock already held; folder->ul is left
 * loaded with the current uidlist. */
int maildir_sync_locked(struct maildir_folder *folder,
			struct maildir_snapshot **snap_r, const char **error_r);
/* maildir_sync_readonly() that leaves this handle's change stamps
 * untouched (STATUS). */
int maildir_sync_status(struct maildir_folder *folder,
			struct maildir_snapshot **snap_r, const char **error_r);
/* A directory entry that may be a message (no dot file, no directory, a
 * name that fits the uidlist). */
bool maildir_message_name(const char *name, unsigned char d_type);
/* The path of msg's file as last seen: new/ when msg->in_new, else cur/.
 * New string. */
char *maildir_msg_path(const struct maildir_folder *folder,
		       const struct maildir_msg *msg);
/* msg's file is not where msg says: find it again in cur/ by basename
 * (renamed by a flag change, or moved there from new/ by another sync) and
 * update msg->filename and msg->in_new. false: it is gone. */
bool maildir_msg_refind(const struct maildir_folder *folder,
			struct maildir_msg *msg);
/* Size with every LF not preceded by CR counted twice. */
int maildir_count_vsize(int fd, uint64_t *vsize_r);

/* ---- file names (maildir_flags.c) ---- */
/* Length of the basename part of filename (up to ':'). */
size_t maildir_basename_len(const char *filename);
/* filename's basename with the info ":2,<letters>": the letters of flags
 * and keywords, and those of filename that are neither (kept as they are).
 * New string. */
char *maildir_filename_with(const char *filename, unsigned flags,
			    uint32_t keywords);
/* The value of ",<key>=<n>" in basename, if present and numeric. */
bool maildir_basename_field(const char *basename, char key, uint64_t *value_r);

/* ---- messages (maildir_msg.c) ---- */
struct maildir_entering {
	const char *tmp_path;   /* a durable file in tmp/ */
	char *filename;         /* its name in cur/ */
	uint64_t size, vsize;
	int64_t date;
};
/* Under the folder lock: rename the n tmp/ files into cur/, fsync cur/,
 * give them the next UIDs in order (uids_r[i]) and persist the uidlist;
 * *uidvalidity_r (unless NULL) is the folder's UIDVALIDITY they got them
 * under. On failure the files renamed are unlinked again (tmp/ ones stay). */
int maildir_enter_cur(struct maildir_folder *folder, struct maildir_entering *in,
		      size_t n, uint32_t *uids_r, uint32_t *uidvalidity_r,
		      const char **error_r);
/* A new basename with ",S=<size>,W=<vsize>" (new string). */
char *maildir_new_basename_sw(uint64_t size, uint64_t vsize);
/* Remove the files of path/tmp/ that were stale (atime, mtime and ctime all
 * MAILDIR_TMP_STALE_SECS before now): what maildir_sync() does on the
 * first sync of a handle. */
void maildir_tmp_clean(const char *path, time_t now);
/* unique (from maildir_unique_name()) with ",S=<size>,W=<vsize>" (new
 * string): the name a file written under tmp/<unique> keeps in cur/. */
char *maildir_basename_sw(const char *unique, uint64_t size, uint64_t vsize);

/* ---- folder tree (maildir_folder.c) ---- */
/* Create the Maildir++ folder name (normalised, not INBOX), atomically;
 * caller holds the folders lock. EEXIST when present. */
int maildir_folder_make(const char *root, const char *name,
			const char **error_r);
/* Remove path and everything beneath it (no symlinks followed). */
int maildir_remove_tree(const char *path, const char **error_r);
/* Create the missing parents of name (not name itself); folders lock held. */
int maildir_make_parents(const char *root, const char *name,
			 const char **error_r);
/* Is path a directory (not following a symlink)? */
bool maildir_is_dir(const char *path);

/* ---- quota (maildir_quota.c) ---- */
/* The Maildir++ quota file in the mailbox root. */
#define MAILDIR_QUOTA_FILE "maildirsize"
/* Maildir++: recalculate once the file has grown past 5120 bytes... */
#define MAILDIR_QUOTA_FILE_MAX 5120
/* ...or was not written for 15 minutes (changes by other programs). */
#define MAILDIR_QUOTA_RECALC_SECS (15 * 60)
/* Does any entry of root start with dirent + "."? */
bool maildir_dirent_has_children(const char *root, const char *dirent);

#endif
