/* imap_mailbox.c — the selected mailbox as the client sees it: the view,
 * syncing it with the folder and the untagged updates (RFC 3501 7.3, 7.4),
 * message sets, flags, and the per-session MIME cache. See imap_mailbox.h. */
#include "imap/imap_mailbox.h"
#include "imap/imap_modseq.h"
#include "imap/imap_util.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* ---- flags ------------------------------------------------------------ */

static const struct {
	unsigned mflag;
	uint32_t flag;
} flag_map[] = {
	{ MAILDIR_FLAG_SEEN, IMAP_FLAG_SEEN },
	{ MAILDIR_FLAG_ANSWERED, IMAP_FLAG_ANSWERED },
	{ MAILDIR_FLAG_FLAGGED, IMAP_FLAG_FLAGGED },
	{ MAILDIR_FLAG_DELETED, IMAP_FLAG_DELETED },
	{ MAILDIR_FLAG_DRAFT, IMAP_FLAG_DRAFT },
};

uint32_t imap_flags_from_maildir(unsigned mflags)
{
	uint32_t flags = 0;
	for (size_t i = 0; i < N_ELEMENTS(flag_map); i++) {
		if (mflags & flag_map[i].mflag)
			flags |= flag_map[i].flag;
	}
	return flags;
}

unsigned imap_flags_to_maildir(uint32_t flags)
{
	unsigned mflags = 0;
	for (size_t i = 0; i < N_ELEMENTS(flag_map); i++) {
		if (flags & flag_map[i].flag)
			mflags |= flag_map[i].mflag;
	}
	return mflags;
}

/* Keyword letters that have a name. */
static uint32_t named_letters(const struct maildir_keywords *kw)
{
	uint32_t mask = 0;
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (kw->names[i] != NULL)
			mask |= 1u << i;
	}
	return mask;
}

void imap_view_msg_current(const struct imap_mailbox *mb,
			   const struct imap_view_msg *m, uint32_t *flags_r,
			   uint32_t *keywords_r)
{
	if (m->msg == NULL) {
		*flags_r = m->flags;
		*keywords_r = m->keywords;
		return;
	}
	*flags_r = imap_flags_from_maildir(m->msg->flags) | (m->flags & IMAP_FLAG_RECENT);
	*keywords_r = m->msg->keywords & named_letters(&mb->kw);
}

size_t imap_mailbox_keyword_names(const struct imap_mailbox *mb, uint32_t keywords,
				  const char **names)
{
	size_t n = 0;
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if ((keywords & (1u << i)) && mb->kw.names[i] != NULL)
			names[n++] = mb->kw.names[i];
	}
	return n;
}

void imap_mailbox_append_flags(const struct imap_mailbox *mb, struct buf *b,
			       uint32_t flags, uint32_t keywords)
{
	const char *names[MAILDIR_KEYWORDS_MAX];
	size_t n = imap_mailbox_keyword_names(mb, keywords, names);
	if (mb->rev2)
		flags &= ~IMAP_FLAG_RECENT;     /* RFC 9051: \Recent is gone */
	imap_append_flags(b, flags, names, n);
}

/* "* FLAGS (...)" and the PERMANENTFLAGS the client may set (RFC 3501
 * 7.2.6, 7.1): keywords too, and \* while a keyword letter is free. */
void imap_mailbox_send_flags(struct imap_session *is)
{
	struct imap_mailbox *mb = is->sel;
	uint32_t named = named_letters(&mb->kw);
	const uint32_t system = IMAP_FLAG_ANSWERED | IMAP_FLAG_FLAGGED |
		IMAP_FLAG_DELETED | IMAP_FLAG_SEEN | IMAP_FLAG_DRAFT;
	struct buf b = { 0 };

	imap_mailbox_append_flags(mb, &b, system, named);
	buf_append(&b, "", 1);
	imap_untagged(is, "FLAGS %s", b.data);
	if (mb->read_only) {
		imap_untagged(is, "OK [PERMANENTFLAGS ()] Read-only mailbox.");
	} else {
		b.len--;                                /* the ")" */
		b.data[b.len - 1] = '\0';
		imap_untagged(is, "OK [PERMANENTFLAGS %s%s)] Flags permitted.",
			      b.data, named == MAILDIR_KEYWORDS_ALL ? "" : " \\*");
	}
	buf_free(&b);
	mb->kw_told = named;
}

void imap_mailbox_announce_keywords(struct imap_session *is)
{
	if ((named_letters(&is->sel->kw) & ~is->sel->kw_told) != 0)
		imap_mailbox_send_flags(is);
}

/* ---- message sets ----------------------------------------------------- */

/* "$" (RFC 5182): the saved UIDs, as UIDs or as the sequence numbers of
 * those the view still has. */
static void saved_set(const struct imap_mailbox *mb, bool uid,
		      struct imap_seqset *set_r)
{
	if (uid) {
		for (size_t r = 0; r < mb->saved.count; r++)
			imap_seqset_add(set_r, mb->saved.ranges[r].lo,
					mb->saved.ranges[r].hi);
	} else if (mb->saved.count > 0) {
		for (size_t i = 0; i < mb->count; i++) {
			uint32_t seq = (uint32_t)(i + 1);
			if (!imap_seqset_contains(&mb->saved, mb->msgs[i].uid))
				continue;
			if (set_r->count > 0 && set_r->ranges[set_r->count - 1].hi + 1 == seq)
				set_r->ranges[set_r->count - 1].hi = seq;
			else
				imap_seqset_add(set_r, seq, seq);
		}
	}
	imap_seqset_resolve(set_r, 0);
}

int imap_mailbox_msgset(const struct imap_mailbox *mb, const struct imap_arg *arg,
			bool uid, struct imap_seqset *set_r, const char **error_r)
{
	const char *s;

	memset(set_r, 0, sizeof(*set_r));
	if (arg->type == IMAP_ARG_LIST || !imap_arg_get_atom(arg, &s) ||
	    arg->type == IMAP_ARG_NIL) {
		*error_r = "Invalid message set";
		return -1;
	}
	if (strcmp(s, "$") == 0) {
		saved_set(mb, uid, set_r);
		return 0;
	}
	if (imap_seqset_parse(s, set_r, error_r) < 0)
		return -1;
	if (uid) {
		imap_seqset_resolve(set_r, mb->count > 0 ? mb->msgs[mb->count - 1].uid : 0);
		return 0;
	}
	/* RFC 3501 9: a sequence number beyond the mailbox is invalid. */
	if (mb->count == 0 && imap_seqset_has_star(set_r)) {
		*error_r = "Invalid message set: the mailbox is empty";
		return -1;
	}
	imap_seqset_resolve(set_r, (uint32_t)mb->count);
	if (imap_seqset_max(set_r) > mb->count) {
		*error_r = "Invalid message set: no such message";
		return -1;
	}
	return 0;
}

bool imap_mailbox_in_set(const struct imap_mailbox *mb, const struct imap_seqset *set,
			 bool uid, size_t i)
{
	return imap_seqset_contains(set, uid ? mb->msgs[i].uid : (uint32_t)(i + 1));
}

/* ---- the view --------------------------------------------------------- */

static void view_append(struct imap_mailbox *mb, struct maildir_msg *msg)
{
	if (mb->count == mb->cap) {
		mb->cap = mb->cap ? mb->cap * 2 : 64;
		mb->msgs = xrealloc(mb->msgs, mb->cap * sizeof(*mb->msgs));
	}
	struct imap_view_msg *m = &mb->msgs[mb->count++];
	memset(m, 0, sizeof(*m));
	m->uid = msg->uid;
	m->msg = msg;
	m->size = msg->vsize;
	m->modseq = msg->modseq;
	m->internal_date = msg->internal_date;
	m->flags = imap_flags_from_maildir(msg->flags) |
		(msg->recent ? IMAP_FLAG_RECENT : 0);
	m->keywords = msg->keywords & named_letters(&mb->kw);
	if (msg->recent)
		mb->recent++;
}

struct imap_mailbox *imap_mailbox_new(struct maildir_folder *folder,
				      const char *name, bool read_only,
				      struct maildir_snapshot *snap,
				      struct maildir_keywords *kw)
{
	struct imap_mailbox *mb = xcalloc(1, sizeof(*mb));

	mb->folder = folder;
	mb->name = xstrdup(name);
	mb->read_only = read_only;
	mb->snap = snap;
	mb->uidvalidity = snap->uidvalidity;
	mb->uidnext = snap->uidnext;
	mb->highest_modseq = mb->clean_modseq = snap->highest_modseq;
	mb->kw = *kw;
	memset(kw, 0, sizeof(*kw));
	for (size_t i = 0; i < snap->count; i++)
		view_append(mb, &snap->msgs[i]);
	return mb;
}

static void cache_clear(struct imap_mailbox *mb);

void imap_mailbox_close(struct imap_session *is)
{
	struct imap_mailbox *mb = is->sel;

	if (mb == NULL)
		return;
	imap_idle_stop(mb);
	cache_clear(mb);
	free(mb->msgs);
	maildir_snapshot_free(&mb->snap);
	maildir_keywords_free(&mb->kw);
	maildir_folder_close(&mb->folder);
	free(mb->name);
	imap_seqset_free(&mb->saved);
	x_free(&is->sel);
}

/* Point every view message at its entry in the new snapshot (NULL when it
 * is gone); the view and the snapshot are both in UID order. */
static void view_remap(struct imap_mailbox *mb, struct maildir_snapshot *snap)
{
	size_t j = 0;

	for (size_t i = 0; i < mb->count; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		while (j < snap->count && snap->msgs[j].uid < m->uid)
			j++;
		if (m->msg == NULL)
			continue;               /* expunged stays expunged */
		m->msg = j < snap->count && snap->msgs[j].uid == m->uid ?
			&snap->msgs[j] : NULL;
		if (m->msg == NULL)
			imap_cache_drop(mb, m);
	}
}

/* RFC 3501 7.4.1: "* n EXPUNGE" for every gone message, highest first so
 * that each number is valid when sent, or with QRESYNC one "* VANISHED
 * uids" (RFC 7162 3.2.10.2); then drop them from the view. */
static void send_expunges(struct imap_session *is)
{
	struct imap_mailbox *mb = is->sel;
	struct imap_seqset gone = { 0 };
	size_t out = 0;

	for (size_t i = mb->count; i-- > 0; ) {
		if (mb->msgs[i].msg != NULL)
			continue;
		if (is->qresync)
			imap_seqset_add(&gone, mb->msgs[i].uid, mb->msgs[i].uid);
		else
			imap_untagged(is, "%zu EXPUNGE", i + 1);
	}
	if (gone.count > 0) {
		struct buf b = { 0 };
		imap_seqset_resolve(&gone, 0);
		imap_vanished_append(&b, &gone, false);
		session_write(&is->s, b.data, b.len);
		buf_free(&b);
	}
	imap_seqset_free(&gone);
	for (size_t i = 0; i < mb->count; i++) {
		if (mb->msgs[i].msg == NULL) {
			if (mb->msgs[i].flags & IMAP_FLAG_RECENT)
				mb->recent--;
			continue;
		}
		mb->msgs[out++] = mb->msgs[i];
	}
	mb->count = out;
}

/* "* n FETCH (FLAGS (...))" for messages whose flags changed elsewhere
 * (with CONDSTORE: whose mod-sequence changed, and MODSEQ with them; with
 * QRESYNC always the UID, RFC 7162 3.2.4). */
static void send_flag_changes(struct imap_session *is, size_t old_count)
{
	struct imap_mailbox *mb = is->sel;
	struct buf b = { 0 };

	for (size_t i = 0; i < old_count && i < mb->count; i++) {
		struct imap_view_msg *m = &mb->msgs[i];
		uint32_t flags, keywords;
		if (m->msg == NULL)
			continue;
		imap_view_msg_current(mb, m, &flags, &keywords);
		bool modseq_moved = m->msg->modseq != m->modseq;
		if (flags == m->flags && keywords == m->keywords &&
		    !(modseq_moved && is->condstore)) {
			m->modseq = m->msg->modseq;
			continue;
		}
		m->flags = flags;
		m->keywords = keywords;
		b.len = 0;
		buf_printf(&b, "%zu FETCH (", i + 1);
		if (is->uid || is->qresync)
			buf_printf(&b, "UID %" PRIu32 " ", m->uid);
		buf_append(&b, "FLAGS ", 6);
		imap_mailbox_append_flags(mb, &b, flags, keywords);
		if (is->condstore)
			imap_modseq_append(&b, m);
		else
			m->modseq = m->msg->modseq;
		buf_append(&b, ")", 2);
		imap_untagged(is, "%s", b.data);
	}
	buf_free(&b);
}

uint64_t imap_mailbox_safe_modseq(const struct imap_mailbox *mb)
{
	return mb->expunges_pending ? mb->clean_modseq : mb->highest_modseq;
}

/* After an update: are expunges still untold? Then a CONDSTORE client,
 * which may have seen higher MODSEQs, is told where it really stands
 * (RFC 7162 3.2, erratum 1810). */
static void note_pending(struct imap_session *is)
{
	struct imap_mailbox *mb = is->sel;
	bool pending = false;

	for (size_t i = 0; i < mb->count && !pending; i++)
		pending = mb->msgs[i].msg == NULL;
	mb->expunges_pending = pending;
	if (!pending)
		mb->clean_modseq = mb->highest_modseq;
	else if (is->condstore && mb->highest_modseq > mb->clean_modseq)
		imap_untagged(is, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
			      mb->clean_modseq);
}

/* Bring the view in line with snap (taken over) and tell the client. */
static void view_apply(struct imap_session *is, struct maildir_snapshot *snap,
		       struct maildir_keywords *kw, bool allow_expunge)
{
	struct imap_mailbox *mb = is->sel;

	if (snap->uidvalidity != mb->uidvalidity) {
		/* RFC 3501 2.3.1.1: the client's UIDs are void. */
		session_log(&is->s, LOG_LEVEL_WARN, "uidvalidity changed mailbox=%s",
			    mb->name);
		imap_untagged(is, "BYE Mailbox UIDVALIDITY changed");
		session_close(&is->s);
		maildir_snapshot_free(&snap);
		maildir_keywords_free(kw);
		return;
	}
	view_remap(mb, snap);
	maildir_snapshot_free(&mb->snap);
	mb->snap = snap;
	mb->uidnext = snap->uidnext;
	mb->highest_modseq = snap->highest_modseq;
	maildir_keywords_free(&mb->kw);
	mb->kw = *kw;
	memset(kw, 0, sizeof(*kw));
	imap_mailbox_announce_keywords(is);
	if (allow_expunge)
		send_expunges(is);

	size_t old_count = mb->count;
	uint32_t max_uid = mb->count > 0 ? mb->msgs[mb->count - 1].uid : 0;
	for (size_t j = 0; j < snap->count; j++) {
		if (snap->msgs[j].uid > max_uid)
			view_append(mb, &snap->msgs[j]);
	}
	/* RFC 3501 7.3.1-2: new messages, and RECENT with them */
	if (mb->count != old_count) {
		imap_untagged(is, "%zu EXISTS", mb->count);
		if (!mb->rev2)
			imap_untagged(is, "%zu RECENT", mb->recent);
	}
	send_flag_changes(is, old_count);
	note_pending(is);
}

/* ---- the sync job ------------------------------------------------------ */

int imap_mailbox_folder_sync(struct maildir_folder *folder, bool read_only,
			     struct maildir_snapshot **snap_r, const char **error_r)
{
	return read_only ? maildir_sync_readonly(folder, snap_r, error_r) :
		maildir_sync(folder, snap_r, error_r);
}

struct sync_job {
	struct session_job job;
	struct imap_session *is;
	imap_sync_action *action;
	void *ctx;
	bool allow_expunge;
	imap_sync_done *done;
	void (*then)(struct imap_session *is);
	int result, err;
	char error[256];
	struct maildir_snapshot *snap;  /* NULL: nothing changed or failed */
	struct maildir_keywords kw;
	int sync_err;
	char sync_error[256];
};

static void sync_work(struct session_job *job)
{
	struct sync_job *sj = (struct sync_job *)job;
	struct imap_mailbox *mb = sj->is->sel;
	const char *error = NULL;

	if (sj->action != NULL && (sj->result = sj->action(sj->is, sj->ctx, &error)) < 0) {
		sj->err = errno;
		strlcpy_sp(sj->error, error != NULL ? error : "failed", sizeof(sj->error));
	}
	if (mb == NULL || (!mb->force_sync && !maildir_folder_changed(mb->folder)))
		return;
	if (imap_mailbox_folder_sync(mb->folder, mb->read_only, &sj->snap,
				     &error) < 0 ||
	    maildir_keywords_read(mb->folder, &sj->kw, &error) < 0) {
		sj->sync_err = errno;
		strlcpy_sp(sj->sync_error, error, sizeof(sj->sync_error));
		maildir_snapshot_free(&sj->snap);
		maildir_keywords_free(&sj->kw);
		return;
	}
	mb->force_sync = false;
}

static void sync_failed(struct imap_session *is, struct sync_job *sj)
{
	session_log(&is->s, LOG_LEVEL_ERROR, "sync mailbox=%s error=\"%s\"",
		    is->sel->name, sj->sync_error);
	if (sj->sync_err == ENOENT) {
		/* Deleted or renamed by another session. */
		imap_untagged(is, "BYE Selected mailbox was deleted, have to disconnect.");
		session_close(&is->s);
	}
}

static void sync_done(struct session_job *job, bool live)
{
	struct sync_job *sj = (struct sync_job *)job;
	struct imap_session *is = sj->is;

	if (is->sel != NULL)
		is->sel->syncing = false;
	if (live && is->sel != NULL) {
		if (sj->snap != NULL)
			view_apply(is, sj->snap, &sj->kw, sj->allow_expunge);
		else if (sj->sync_error[0] != '\0')
			sync_failed(is, sj);
	} else {
		maildir_snapshot_free(&sj->snap);
		maildir_keywords_free(&sj->kw);
	}
	if (sj->done != NULL)
		sj->done(is, sj->ctx, sj->result, sj->err, sj->error);
	else if (live)
		sj->then(is);
	free(sj);
}

static void sync_start(struct imap_session *is, struct sync_job *sj)
{
	sj->job.work = sync_work;
	sj->job.done = sync_done;
	sj->is = is;
	if (is->sel != NULL)
		is->sel->syncing = true;
	imap_job_start(is, &sj->job);
}

void imap_mailbox_sync(struct imap_session *is, imap_sync_action *action,
		       void *ctx, bool allow_expunge, imap_sync_done *done)
{
	struct sync_job *sj = xcalloc(1, sizeof(*sj));

	sj->action = action;
	sj->ctx = ctx;
	sj->allow_expunge = allow_expunge;
	sj->done = done;
	sync_start(is, sj);
}

void imap_mailbox_sync_then(struct imap_session *is, bool allow_expunge,
			    void (*then)(struct imap_session *is))
{
	if (is->state == IMAP_STATE_LOGOUT) {
		then(is);               /* nothing more after BYE */
		return;
	}
	struct sync_job *sj = xcalloc(1, sizeof(*sj));

	sj->allow_expunge = allow_expunge;
	sj->then = then;
	sync_start(is, sj);
}

/* ---- the MIME cache ----------------------------------------------------- */

struct imap_cache_entry {
	struct imap_cache_entry *prev, *next;
	uint32_t uid;
	struct buf data;
};

static void lru_unlink(struct imap_mailbox *mb, struct imap_cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		mb->lru_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		mb->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct imap_mailbox *mb, struct imap_cache_entry *e)
{
	e->prev = NULL;
	e->next = mb->lru_head;
	if (mb->lru_head != NULL)
		mb->lru_head->prev = e;
	mb->lru_head = e;
	if (mb->lru_tail == NULL)
		mb->lru_tail = e;
}

static void entry_free(struct imap_mailbox *mb, struct imap_cache_entry *e)
{
	lru_unlink(mb, e);
	mb->cache_bytes -= e->data.len;
	buf_free(&e->data);
	free(e);
}

/* The view message with uid, or NULL. */
static struct imap_view_msg *view_find(struct imap_mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mb->msgs[mid].uid == uid)
			return &mb->msgs[mid];
		if (mb->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct buf *imap_cache_get(struct imap_mailbox *mb, struct imap_view_msg *m)
{
	if (m->cache == NULL)
		return NULL;
	lru_unlink(mb, m->cache);
	lru_push(mb, m->cache);
	return &m->cache->data;
}

void imap_cache_put(struct imap_mailbox *mb, struct imap_view_msg *m, struct buf *data)
{
	imap_cache_drop(mb, m);
	if (data->len > IMAP_MIME_CACHE_ENTRY_MAX) {
		buf_free(data);
		return;
	}
	while (mb->lru_tail != NULL &&
	       mb->cache_bytes + data->len > IMAP_MIME_CACHE_BYTES) {
		struct imap_view_msg *owner = view_find(mb, mb->lru_tail->uid);
		if (owner != NULL)
			owner->cache = NULL;
		entry_free(mb, mb->lru_tail);
	}
	struct imap_cache_entry *e = xcalloc(1, sizeof(*e));
	e->uid = m->uid;
	e->data = *data;
	memset(data, 0, sizeof(*data));
	mb->cache_bytes += e->data.len;
	lru_push(mb, e);
	m->cache = e;
}

void imap_cache_drop(struct imap_mailbox *mb, struct imap_view_msg *m)
{
	if (m->cache != NULL) {
		entry_free(mb, m->cache);
		m->cache = NULL;
	}
}

static void cache_clear(struct imap_mailbox *mb)
{
	while (mb->lru_head != NULL)
		entry_free(mb, mb->lru_head);
}
