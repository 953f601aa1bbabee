/* maildir_flags.c — the info part of Maildir file names and flag changes.
 *
 * A file in cur/ is "<basename>:2,<letters>", letters in ASCII order:
 * D draft, F flagged, P passed, R replied, S seen, T trashed; a-z are
 * keywords (named by the folder's dovecot-keywords file); any other letter
 * a reader invented is kept as it is. A name without ":2," has no flags. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file renamed again and again under us by another program: give up
 * after this many attempts to follow it. */
#define MAILDIR_RENAME_ATTEMPTS 5

static const struct {
	char letter;
	unsigned flag;
} flag_letters[] = {
	{ 'D', MAILDIR_FLAG_DRAFT },
	{ 'F', MAILDIR_FLAG_FLAGGED },
	{ 'P', MAILDIR_FLAG_PASSED },
	{ 'R', MAILDIR_FLAG_ANSWERED },
	{ 'S', MAILDIR_FLAG_SEEN },
	{ 'T', MAILDIR_FLAG_DELETED },
};

static unsigned letter_flag(char c)
{
	for (size_t i = 0; i < N_ELEMENTS(flag_letters); i++) {
		if (flag_letters[i].letter == c)
			return flag_letters[i].flag;
	}
	return 0;
}

size_t maildir_basename_len(const char *filename)
{
	return strcspn(filename, ":");
}

/* The letters after ":2," in filename, or NULL when it has none. */
static const char *info_letters(const char *filename)
{
	const char *info = strchr(filename, ':');
	if (info == NULL || strncmp(info + 1, "2,", 2) != 0)
		return NULL;
	return info + 3;
}

unsigned maildir_flags_from_filename(const char *filename)
{
	const char *letters = info_letters(filename);
	unsigned flags = 0;

	for (; letters != NULL && *letters != '\0'; letters++)
		flags |= letter_flag(*letters);
	return flags;
}

uint32_t maildir_keywords_from_filename(const char *filename)
{
	const char *letters = info_letters(filename);
	uint32_t keywords = 0;

	for (; letters != NULL && *letters != '\0'; letters++) {
		if (*letters >= 'a' && *letters <= 'z')
			keywords |= 1u << (*letters - 'a');
	}
	return keywords;
}

char *maildir_filename_with(const char *filename, unsigned flags,
			    uint32_t keywords)
{
	bool present[256] = { false };
	const char *letters = info_letters(filename);
	struct buf out = { 0 };

	for (; letters != NULL && *letters != '\0'; letters++) {
		unsigned char c = (unsigned char)*letters;
		if (letter_flag((char)c) != 0 || (c >= 'a' && c <= 'z') ||
		    c == ',' || c == ':')
			continue;
		present[c] = true;  /* someone else's letter: keep it */
	}
	for (size_t i = 0; i < N_ELEMENTS(flag_letters); i++) {
		if ((flags & flag_letters[i].flag) != 0)
			present[(unsigned char)flag_letters[i].letter] = true;
	}
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if ((keywords & (1u << i)) != 0)
			present['a' + i] = true;
	}
	buf_append(&out, filename, maildir_basename_len(filename));
	buf_append(&out, ":2,", 3);
	for (unsigned c = 1; c < 256; c++) {
		if (present[c]) {
			char ch = (char)c;
			buf_append(&out, &ch, 1);
		}
	}
	return out.data;
}

bool maildir_basename_field(const char *basename, char key, uint64_t *value_r)
{
	char pattern[4] = { ',', key, '=', '\0' };
	const char *p = strstr(basename, pattern);
	uint64_t v = 0;

	if (p == NULL)
		return false;
	p += 3;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0' && *p != ',' && *p != ':')
		return false;
	*value_r = v;
	return true;
}

static uint32_t apply_op(enum maildir_flags_op op, uint32_t old, uint32_t bits)
{
	switch (op) {
	case MAILDIR_FLAGS_ADD:
		return old | bits;
	case MAILDIR_FLAGS_REMOVE:
		return old & ~bits;
	case MAILDIR_FLAGS_REPLACE:
		break;
	}
	return bits;
}

/* A change to make: op on the system flags, and on the keywords too when
 * with_keywords. */
struct flag_change {
	enum maildir_flags_op op;
	unsigned flags;
	uint32_t keywords;
	bool with_keywords;
	unsigned keep;              /* flags REPLACE leaves as they are */
};

/* The name *name should have after ch. New string. */
static char *changed_name(const char *name, const struct flag_change *ch)
{
	unsigned old = maildir_flags_from_filename(name);
	unsigned flags = (apply_op(ch->op, old, ch->flags) & ~ch->keep) |
		(old & ch->keep);
	uint32_t keywords = maildir_keywords_from_filename(name);
	if (ch->with_keywords)
		keywords = apply_op(ch->op, keywords, ch->keywords);
	return maildir_filename_with(name, flags, keywords);
}

/* Rename the file of msg (currently *name, in new/ when *in_new, else in
 * cur/) as ch asks, into cur/; follows it by basename when renamed or
 * moved under us. Caller holds the folder lock. */
static int rename_flags(struct maildir_folder *folder, struct maildir_msg *msg,
			char **name, bool *in_new, const struct flag_change *ch,
			const char **error_r)
{
	char *cur = fs_join(folder->path, "cur");
	char *new_dir = fs_join(folder->path, "new");
	int ret = -1, err = 0;

	for (int attempt = 0; attempt < MAILDIR_RENAME_ATTEMPTS; attempt++) {
		char *target = changed_name(*name, ch);
		char *from = fs_join(*in_new ? new_dir : cur, *name);
		char *to = fs_join(cur, target);
		/* Nothing to change still needs the file to be there under
		 * this name: else the change applies to its current one. */
		struct stat st;
		int r = !*in_new && strcmp(*name, target) == 0 ? lstat(from, &st) :
			rename(from, to);
		err = errno;
		free(to);
		if (r == 0) {
			free(*name);
			*name = target;
			*in_new = false;
			ret = 0;
			free(from);
			break;
		}
		free(target);
		if (err != ENOENT) {
			*error_r = errfmt("%s: rename: %s", from, strerror(err));
			free(from);
			break;
		}
		free(from);
		free(*name);
		*name = maildir_find_basename(folder->path, msg->basename);
		*in_new = false;
		if (*name == NULL) {
			*error_r = errfmt("message %" PRIu32 " was expunged", msg->uid);
			break;
		}
	}
	if (ret < 0 && err == ENOENT && *name != NULL) {
		*error_r = errfmt("message %" PRIu32 ": renamed too often", msg->uid);
		err = EBUSY;
	}
	free(cur);
	free(new_dir);
	errno = err;
	return ret;
}

/* Is msg's file still at *name (new/ when *in_new, else cur/)? Else find
 * it in cur/ by basename. 0 = found (*name, *in_new updated), -1 with
 * errno: ENOENT gone. */
static int locate(struct maildir_folder *folder, const struct maildir_msg *msg,
		  char **name, bool *in_new, const char **error_r)
{
	char *path = xasprintf("%s/%s/%s", folder->path, *in_new ? "new" : "cur",
			       *name);
	struct stat st;
	int r = lstat(path, &st), err = errno;

	if (r == 0 || err != ENOENT) {
		if (r < 0)
			*error_r = errfmt("%s: %s", path, strerror(err));
		free(path);
		errno = err;
		return r;
	}
	free(path);
	char *found = maildir_find_basename(folder->path, msg->basename);
	if (found == NULL) {
		*error_r = errfmt("message %" PRIu32 " was expunged", msg->uid);
		errno = ENOENT;
		return -1;
	}
	free(*name);
	*name = found;
	*in_new = false;
	return 0;
}

/* The store under way: the change and the uidlist it records into. */
struct store_ctx {
	struct maildir_folder *folder;
	struct uidlist *ul;
	const struct maildir_store *st;
	struct flag_change ch;
	uint64_t modseq;            /* the operation's; 0 until used */
};

/* Record entry i's flags as the file name shows them; true when that is a
 * change (made by someone else: it gets a new mod-sequence). */
static bool record_current(struct store_ctx *sc, size_t i, const char *name)
{
	const struct uidlist_entry *e = &sc->ul->entries[i];
	unsigned flags = maildir_flags_from_filename(name);
	uint32_t keywords = maildir_keywords_from_filename(name);

	if (!e->has_flags) {
		uidlist_fill_flags(sc->ul, i, flags, keywords);
		return false;
	}
	if (flags == e->flags && keywords == e->keywords)
		return false;
	uidlist_set_flags(sc->ul, i, flags, keywords,
			  uidlist_op_modseq(sc->ul, &sc->modseq));
	return true;
}

/* Store to one message (see maildir_msgs_store); *name and *in_new are
 * its file's, updated. */
static int store_one(struct store_ctx *sc, struct maildir_msg *msg, char **name,
		     bool *in_new, enum maildir_store_result *result_r,
		     const char **error_r)
{
	ssize_t i = uidlist_find(sc->ul, msg->uid);

	*result_r = MAILDIR_STORE_EXPUNGED;
	if (i < 0 || sc->ul->entries[i].gone)
		return 0;
	if (locate(sc->folder, msg, name, in_new, error_r) < 0)
		return errno == ENOENT ? 0 : -1;
	bool changed = record_current(sc, (size_t)i, *name);
	if (sc->st->conditional &&
	    sc->ul->entries[i].modseq > sc->st->unchanged_since) {
		*result_r = MAILDIR_STORE_MODIFIED;
		return 0;
	}
	if (rename_flags(sc->folder, msg, name, in_new, &sc->ch, error_r) < 0)
		return errno == ENOENT ? 0 : -1;
	changed |= record_current(sc, (size_t)i, *name);
	*result_r = changed ? MAILDIR_STORE_CHANGED : MAILDIR_STORE_UNCHANGED;
	return 0;
}

/* msg as its file is now. */
static void msg_update(struct maildir_msg *msg, char *name, bool in_new,
		       uint64_t modseq)
{
	free(msg->filename);
	msg->filename = name;
	msg->in_new = in_new;
	msg->flags = maildir_flags_from_filename(name);
	msg->keywords = maildir_keywords_from_filename(name);
	msg->modseq = modseq;
}

/* The stores of maildir_msgs_store() with the folder lock held. */
static int store_locked(struct store_ctx *sc, struct maildir_msg *const *msgs,
			size_t count, enum maildir_store_result *results_r,
			const char **error_r)
{
	if (uidlist_load(sc->folder, &sc->ul, error_r) < 0)
		return -1;
	for (size_t k = 0; k < count; k++) {
		struct maildir_msg *msg = msgs[k];
		char *name = xstrdup(msg->filename);
		bool in_new = msg->in_new;
		if (store_one(sc, msg, &name, &in_new, &results_r[k], error_r) < 0) {
			free(name);
			return -1;
		}
		ssize_t i = uidlist_find(sc->ul, msg->uid);
		if (results_r[k] == MAILDIR_STORE_EXPUNGED || i < 0)
			free(name);
		else
			msg_update(msg, name, in_new, sc->ul->entries[i].modseq);
	}
	return uidlist_write(sc->folder, sc->ul, error_r);
}

int maildir_msgs_store(struct maildir_folder *folder,
		       struct maildir_msg *const *msgs, size_t count,
		       const struct maildir_store *st,
		       enum maildir_store_result *results_r, const char **error_r)
{
	struct store_ctx sc = { .folder = folder, .st = st,
				.ch = { st->op, st->flags & MAILDIR_FLAGS_ALL,
					st->keywords & MAILDIR_KEYWORDS_ALL,
					st->with_keywords,
					st->op == MAILDIR_FLAGS_REPLACE ? st->keep : 0 } };
	int lock_fd = -1;

	/* Under the folder lock so that a concurrent sync of ours never sees
	 * a file half-way (neither name) and forgets its UID, and every
	 * rename is recorded with its mod-sequence before anyone looks. */
	if (maildir_lock(folder->path, MAILDIR_UIDLIST_LOCK_NAME, false, &lock_fd,
			 error_r) < 0)
		return -1;
	int ret = store_locked(&sc, msgs, count, results_r, error_r);
	int err = errno;
	maildir_unlock(&lock_fd);
	errno = err;
	return ret;
}

/* One unconditional store; ENOENT when the message is gone. */
static int store_single(struct maildir_folder *folder, struct maildir_msg *msg,
			const struct maildir_store *st, const char **error_r)
{
	enum maildir_store_result result;

	if (maildir_msgs_store(folder, &msg, 1, st, &result, error_r) < 0)
		return -1;
	if (result == MAILDIR_STORE_EXPUNGED) {
		*error_r = errfmt("message %" PRIu32 " was expunged", msg->uid);
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int maildir_msg_set_flags(struct maildir_folder *folder, struct maildir_msg *msg,
			  enum maildir_flags_op op, unsigned flags,
			  const char **error_r)
{
	struct maildir_store st = { .op = op, .flags = flags };
	return store_single(folder, msg, &st, error_r);
}

int maildir_msg_store(struct maildir_folder *folder, struct maildir_msg *msg,
		      enum maildir_flags_op op, unsigned flags, uint32_t keywords,
		      const char **error_r)
{
	struct maildir_store st = { .op = op, .flags = flags, .keywords = keywords,
				    .with_keywords = true };
	return store_single(folder, msg, &st, error_r);
}

char *maildir_find_basename(const char *dir, const char *basename)
{
	char *cur = fs_join(dir, "cur"), *found = NULL;
	size_t len = strlen(basename);
	DIR *d = opendir(cur);
	struct dirent *e;

	free(cur);
	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, basename, len) == 0 &&
		    (e->d_name[len] == '\0' || e->d_name[len] == ':')) {
			found = xstrdup(e->d_name);
			break;
		}
	}
	closedir(d);
	return found;
}
