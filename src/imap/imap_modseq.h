/* imap_modseq.h — CONDSTORE and QRESYNC (RFC 7162): what the session
 * enabled, the command modifiers and select parameters, MODSEQ in FETCH
 * responses, VANISHED, and the quick resync of SELECT/EXAMINE (QRESYNC).
 *
 * Mod-sequences come from the store (maildir.h): every message has one,
 * raised by each change of its flags, and the folder's highest counts
 * expunges too; the store remembers expunged UIDs with theirs.
 *
 * The session's state (struct imap_session): condstore is set by the
 * first "CONDSTORE enabling command" (RFC 7162 3.1: ENABLE CONDSTORE or
 * QRESYNC, SELECT/EXAMINE (CONDSTORE) or (QRESYNC ...), FETCH MODSEQ or
 * CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS
 * HIGHESTMODSEQ); from then on SELECT and EXAMINE say [HIGHESTMODSEQ n]
 * and every FETCH response with FLAGS carries MODSEQ. qresync is set by
 * ENABLE QRESYNC (RFC 7162 3.2.3): expunges are then told as "* VANISHED
 * uids" (3.2.10.2), unsolicited FETCH responses carry UID (3.2.4), and
 * EXPUNGE's tagged OK carries [HIGHESTMODSEQ n] (3.2.7). */
#ifndef SEALPOST_IMAP_MODSEQ_H
#define SEALPOST_IMAP_MODSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap.h"
#include "imap/imap_seqset.h"
#include "lib/util.h"

struct imap_mailbox;
struct imap_view_msg;

/* RFC 7162 7: mod-sequence-value is a 63-bit number. */
#define IMAP_MODSEQ_MAX INT64_MAX
/* seq-match-data pairs (RFC 7162 3.2.5.2) looked at from the highest down:
 * clients send a sparse sample; beyond this the server answers as if none
 * matched (a larger, still correct, VANISHED). */
#define IMAP_QRESYNC_SEQ_MATCH_MAX 4096

/* ---- enabling ----------------------------------------------------------- */

/* ENABLE (RFC 5161) of cap: its name for ENABLED when it is CONDSTORE or
 * QRESYNC and was not on yet (QRESYNC implies CONDSTORE, RFC 7162 3.2.3),
 * else NULL. */
const char *imap_modseq_enable(struct imap_session *is, const char *cap);
/* A CONDSTORE enabling command (RFC 7162 3.1): the first one while a
 * mailbox is selected announces its HIGHESTMODSEQ. */
void imap_condstore_enable(struct imap_session *is);

/* ---- SELECT / EXAMINE ------------------------------------------------------ */

struct imap_qresync_params {
	uint32_t uidvalidity;
	uint64_t modseq;
	bool has_known_uids;
	struct imap_seqset known_uids;          /* resolved later */
	bool has_seq_match;
	struct imap_seqset known_seqs, known_seq_uids;
};

struct imap_select_params {
	bool condstore;                         /* (CONDSTORE) */
	bool qresync;                           /* (QRESYNC (...)) */
	struct imap_qresync_params q;
};

/* Parse the select parameters list (RFC 4466 2.1, RFC 7162 3.1.8,
 * 3.2.5): -1 with a BAD text. QRESYNC needs ENABLE QRESYNC first. */
int imap_select_params_parse(struct imap_session *is, const struct imap_arg *list,
			     struct imap_select_params *p, const char **error_r);
void imap_select_params_free(struct imap_select_params *p);
/* After the SELECT's untagged data: "* OK [HIGHESTMODSEQ n]" once
 * CONDSTORE is enabled (RFC 7162 3.1.2.1). */
void imap_modseq_select_info(struct imap_session *is);
/* Is there a quick resync to do (the client's UIDVALIDITY is still valid)? */
bool imap_qresync_wanted(const struct imap_session *is,
			 const struct imap_select_params *p);

/* ---- FETCH and STORE modifiers ----------------------------------------------- */

struct imap_fetch_mods {
	bool changedsince_set;                  /* CHANGEDSINCE n */
	uint64_t changedsince;
	bool vanished;                          /* VANISHED (UID FETCH) */
	const struct imap_qresync_params *q;    /* SELECT (QRESYNC): its
						   seq-match-data, or NULL */
	bool modseq_item;                       /* MODSEQ is among the items */
};

/* Parse FETCH's modifier list (RFC 4466 2.4, RFC 7162 3.1.4.1, 3.2.6). */
int imap_fetch_mods_parse(struct imap_session *is, const struct imap_arg *list,
			  struct imap_fetch_mods *m, const char **error_r);
/* Parse STORE's modifier list: (UNCHANGEDSINCE n) (RFC 7162 3.1.3). */
int imap_store_mods_parse(const struct imap_arg *list, uint64_t *unchanged_since_r,
			  const char **error_r);

/* ---- responses --------------------------------------------------------------- */

/* The message's mod-sequence as it is now (or as last told when it is
 * expunged). */
uint64_t imap_view_msg_modseq(const struct imap_view_msg *m);
/* Append " MODSEQ (n)" for m and remember that the client was told. */
void imap_modseq_append(struct buf *b, struct imap_view_msg *m);
/* Append "* VANISHED [(EARLIER) ]<uids>\r\n" (nothing for an empty set). */
void imap_vanished_append(struct buf *b, const struct imap_seqset *uids,
			  bool earlier);

/* Pool thread: the UIDs of the set (resolved UIDs) to report as VANISHED
 * (EARLIER) for a client that knew the mailbox at mod-sequence since:
 * those expunged since (RFC 7162 3.2.6) when the store's log reaches back
 * that far, else every UID of the set that is not in the mailbox (above
 * the seq-match-data's highest matching UID, 3.2.5.2). UIDs the view
 * still shows (expunged meanwhile, told at the end of the command as
 * VANISHED) are left out. */
int imap_qresync_vanished(struct imap_mailbox *mb, uint64_t since,
			  const struct imap_seqset *set,
			  const struct imap_qresync_params *q,
			  struct imap_seqset *out, const char **error_r);

/* SELECT/EXAMINE (QRESYNC ...) once the mailbox is open: the flag changes
 * since the client's mod-sequence and the expunges, as "UID FETCH
 * known-uids (FLAGS) (CHANGEDSINCE modseq VANISHED)" (RFC 7162 3.2.5.1),
 * then the tagged "OK [code] text" (cmd_fetch.c). Takes over p->q. */
void imap_fetch_qresync(struct imap_session *is, struct imap_select_params *p,
			const char *code, const char *text);

#endif
