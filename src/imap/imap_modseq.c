/* imap_modseq.c — CONDSTORE and QRESYNC (RFC 7162): enabling, the select
 * parameters and the FETCH and STORE modifiers, MODSEQ and VANISHED
 * responses, and which UIDs a resyncing client is told vanished. See
 * imap_modseq.h. */
#include "imap/imap_modseq.h"
#include "imap/imap_mailbox.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- enabling ----------------------------------------------------------- */

void imap_condstore_enable(struct imap_session *is)
{
	if (is->condstore)
		return;
	is->condstore = true;
	/* RFC 7162 3.1: the first enabling command with a mailbox selected
	 * says where the client stands. */
	if (is->sel != NULL)
		imap_untagged(is, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
			      imap_mailbox_safe_modseq(is->sel));
}

const char *imap_modseq_enable(struct imap_session *is, const char *cap)
{
	if (str_ieq(cap, "QRESYNC")) {
		if (is->qresync)
			return NULL;
		is->qresync = true;
		imap_condstore_enable(is);
		return "QRESYNC";
	}
	if (str_ieq(cap, "CONDSTORE")) {
		if (is->condstore)
			return NULL;
		imap_condstore_enable(is);
		return "CONDSTORE";
	}
	return NULL;
}

/* ---- parsing ---------------------------------------------------------------- */

static bool get_modseq(const struct imap_arg *arg, uint64_t *v_r)
{
	return imap_arg_get_number(arg, IMAP_MODSEQ_MAX, v_r);
}

/* A sequence set without "*" (RFC 7162 7: known-uids, seq-match-data). */
static bool get_set(const struct imap_arg *arg, struct imap_seqset *set)
{
	const char *s, *error;

	if (arg->type == IMAP_ARG_LIST || arg->type == IMAP_ARG_NIL ||
	    !imap_arg_get_atom(arg, &s) || imap_seqset_parse(s, set, &error) < 0 ||
	    imap_seqset_has_star(set))
		return false;
	imap_seqset_resolve(set, 0);
	return true;
}

/* "(" uidvalidity SP mod-sequence-value [SP known-uids]
 *     [SP "(" known-sequence-set SP known-uid-set ")"] ")" */
static bool parse_qresync(const struct imap_arg *arg, struct imap_qresync_params *q)
{
	const struct imap_arg *items, *pair;
	size_t n, n_pair, i = 2;
	uint64_t v;

	if (!imap_arg_get_list(arg, &items, &n) || n < 2 || n > 4 ||
	    !imap_arg_get_number(&items[0], UINT32_MAX, &v) || v == 0 ||
	    !get_modseq(&items[1], &q->modseq))
		return false;
	q->uidvalidity = (uint32_t)v;
	if (i < n && items[i].type != IMAP_ARG_LIST) {
		if (!get_set(&items[i++], &q->known_uids))
			return false;
		q->has_known_uids = true;
	}
	if (i < n) {
		if (!imap_arg_get_list(&items[i++], &pair, &n_pair) || n_pair != 2 ||
		    !get_set(&pair[0], &q->known_seqs) ||
		    !get_set(&pair[1], &q->known_seq_uids))
			return false;
		q->has_seq_match = true;
	}
	return i == n;
}

int imap_select_params_parse(struct imap_session *is, const struct imap_arg *list,
			     struct imap_select_params *p, const char **error_r)
{
	const struct imap_arg *items;
	size_t n;

	memset(p, 0, sizeof(*p));
	if (!imap_arg_get_list(list, &items, &n) || n == 0) {
		*error_r = "Invalid select parameters";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&items[i], "CONDSTORE") && !p->condstore) {
			p->condstore = true;
		} else if (imap_arg_atom_equals(&items[i], "QRESYNC") && !p->qresync) {
			/* RFC 7162 3.2.3: only after ENABLE QRESYNC. */
			if (!is->qresync) {
				*error_r = "QRESYNC is not enabled";
				return -1;
			}
			if (i + 1 == n || !parse_qresync(&items[++i], &p->q)) {
				*error_r = "Syntax: (QRESYNC (uidvalidity modseq "
					"[known-uids [(seqs uids)]]))";
				return -1;
			}
			p->qresync = true;
		} else {
			*error_r = "Unknown select parameter";
			return -1;
		}
	}
	return 0;
}

void imap_select_params_free(struct imap_select_params *p)
{
	imap_seqset_free(&p->q.known_uids);
	imap_seqset_free(&p->q.known_seqs);
	imap_seqset_free(&p->q.known_seq_uids);
}

void imap_modseq_select_info(struct imap_session *is)
{
	if (is->condstore)
		imap_untagged(is, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
			      is->sel->highest_modseq);
}

bool imap_qresync_wanted(const struct imap_session *is,
			 const struct imap_select_params *p)
{
	return p->qresync && is->sel != NULL &&
		p->q.uidvalidity == is->sel->uidvalidity;
}

int imap_fetch_mods_parse(struct imap_session *is, const struct imap_arg *list,
			  struct imap_fetch_mods *m, const char **error_r)
{
	const struct imap_arg *items;
	size_t n;

	*error_r = "Invalid fetch modifiers";
	if (!imap_arg_get_list(list, &items, &n) || n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&items[i], "CHANGEDSINCE") &&
		    !m->changedsince_set && i + 1 < n &&
		    get_modseq(&items[i + 1], &m->changedsince)) {
			m->changedsince_set = true;
			i++;
		} else if (imap_arg_atom_equals(&items[i], "VANISHED") && !m->vanished) {
			m->vanished = true;
		} else {
			return -1;
		}
	}
	/* RFC 7162 3.2.6: VANISHED is for UID FETCH with CHANGEDSINCE, once
	 * QRESYNC is enabled; each mistake is BAD. */
	if (m->vanished && (!is->uid || !is->qresync || !m->changedsince_set)) {
		*error_r = !is->qresync ? "QRESYNC is not enabled" : !is->uid ?
			"VANISHED is only allowed with UID FETCH" :
			"VANISHED needs CHANGEDSINCE";
		return -1;
	}
	return 0;
}

int imap_store_mods_parse(const struct imap_arg *list, uint64_t *unchanged_since_r,
			  const char **error_r)
{
	const struct imap_arg *items;
	size_t n;

	/* RFC 7162 7: only one UNCHANGEDSINCE, mod-sequence-valzer (0 too). */
	if (!imap_arg_get_list(list, &items, &n) || n != 2 ||
	    !imap_arg_atom_equals(&items[0], "UNCHANGEDSINCE") ||
	    !get_modseq(&items[1], unchanged_since_r)) {
		*error_r = "Invalid store modifiers";
		return -1;
	}
	return 0;
}

/* ---- responses ------------------------------------------------------------------ */

uint64_t imap_view_msg_modseq(const struct imap_view_msg *m)
{
	return m->msg != NULL ? m->msg->modseq : m->modseq;
}

void imap_modseq_append(struct buf *b, struct imap_view_msg *m)
{
	m->modseq = imap_view_msg_modseq(m);
	buf_printf(b, " MODSEQ (%" PRIu64 ")", m->modseq);
}

void imap_vanished_append(struct buf *b, const struct imap_seqset *uids,
			  bool earlier)
{
	if (uids->count == 0)
		return;
	buf_printf(b, "* VANISHED %s", earlier ? "(EARLIER) " : "");
	imap_seqset_append(b, uids);
	buf_append(b, "\r\n", 2);
}

/* ---- VANISHED (EARLIER) ------------------------------------------------------------- */

/* The view message with uid, or -1. */
static ssize_t view_index(const struct imap_mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mb->msgs[mid].uid == uid)
			return (ssize_t)mid;
		if (mb->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Walks a resolved set from its highest number down. */
struct set_iter {
	const struct imap_seqset *set;
	size_t r;
	uint32_t v;
	bool done;
};

static void iter_last(struct set_iter *it, const struct imap_seqset *set)
{
	it->set = set;
	it->done = set->count == 0;
	if (!it->done) {
		it->r = set->count - 1;
		it->v = set->ranges[it->r].hi;
	}
}

static void iter_prev(struct set_iter *it)
{
	if (it->v > it->set->ranges[it->r].lo) {
		it->v--;
	} else if (it->r == 0) {
		it->done = true;
	} else {
		it->r--;
		it->v = it->set->ranges[it->r].hi;
	}
}

/* RFC 7162 3.2.5.2: the highest UID the client knew at the sequence
 * number it still has: no message below it can have been expunged (new
 * ones only come above), so only UIDs above it need reporting. 0: none. */
static uint32_t seq_match_floor(const struct imap_mailbox *mb,
				const struct imap_qresync_params *q)
{
	struct set_iter seqs, uids;

	if (q == NULL || !q->has_seq_match ||
	    imap_seqset_count(&q->known_seqs) != imap_seqset_count(&q->known_seq_uids))
		return 0;
	iter_last(&seqs, &q->known_seqs);
	iter_last(&uids, &q->known_seq_uids);
	for (size_t k = 0; k < IMAP_QRESYNC_SEQ_MATCH_MAX && !seqs.done; k++) {
		if (seqs.v <= mb->count && mb->msgs[seqs.v - 1].uid == uids.v)
			return uids.v;
		iter_prev(&seqs);
		iter_prev(&uids);
	}
	return 0;
}

/* Add the UIDs of [lo, hi] that are not in the view to out. */
static void add_absent(const struct imap_mailbox *mb, uint32_t lo, uint32_t hi,
		       struct imap_seqset *out)
{
	size_t a = 0, b = mb->count;
	uint64_t cur = lo;

	while (a < b) {                 /* first view UID >= lo */
		size_t mid = a + (b - a) / 2;
		if (mb->msgs[mid].uid < lo)
			a = mid + 1;
		else
			b = mid;
	}
	for (size_t j = a; j < mb->count && mb->msgs[j].uid <= hi; j++) {
		if (mb->msgs[j].uid > cur)
			imap_seqset_add(out, (uint32_t)cur, mb->msgs[j].uid - 1);
		cur = (uint64_t)mb->msgs[j].uid + 1;
	}
	if (cur <= hi)
		imap_seqset_add(out, (uint32_t)cur, hi);
}

int imap_qresync_vanished(struct imap_mailbox *mb, uint64_t since,
			  const struct imap_seqset *set,
			  const struct imap_qresync_params *q,
			  struct imap_seqset *out, const char **error_r)
{
	uint32_t *uids;
	size_t n;
	bool complete;

	memset(out, 0, sizeof(*out));
	if (maildir_expunged_since(mb->folder, since, &uids, &n, &complete,
				   error_r) < 0)
		return -1;
	if (complete) {
		for (size_t i = 0; i < n; i++) {
			if (imap_seqset_contains(set, uids[i]) &&
			    view_index(mb, uids[i]) < 0)
				imap_seqset_add(out, uids[i], uids[i]);
		}
	} else {
		/* The log does not reach back that far: every UID the client
		 * may know that is not here (RFC 7162 3.2.6 allows UIDs it
		 * never knew in VANISHED (EARLIER)). */
		uint32_t floor = seq_match_floor(mb, q);
		for (size_t i = 0; i < set->count; i++) {
			uint32_t lo = set->ranges[i].lo, hi = set->ranges[i].hi;
			if (lo <= floor)
				lo = floor + 1;
			if (lo != 0 && lo <= hi)
				add_absent(mb, lo, hi, out);
		}
	}
	imap_seqset_resolve(out, 0);
	free(uids);
	return 0;
}
