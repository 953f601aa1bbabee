/* imap_msg.c — reading a message of the selected mailbox (see imap_msg.h).
 *
 * Cache entry format: a 4-byte little-endian length of the serialised tree
 * (mime_serialize), the tree, then the CRLF map (mime_crlf_serialize) for
 * an LF-only file, nothing otherwise. */
#include "imap/imap_msg.h"
#include "imap/imap_modseq.h"
#include "imap/imap_search.h"
#include "mail/mime_lines.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int imap_msg_header_size(const struct mime_reader *r, uint64_t *size_r,
			 const char **error_r)
{
	struct mime_lines *lr = xmalloc(sizeof(*lr));
	struct mime_line s;
	uint64_t end = 0;
	int ret;

	mime_lines_init(lr, r, 0, UINT64_MAX);
	while ((ret = mime_lines_next(lr, &s, error_r)) > 0) {
		end = s.offset + s.len;
		/* mime.c header_line(): the blank line ends the header */
		if (s.line_start && s.line_end &&
		    (s.len == 1 || (s.len == 2 && s.data[0] == '\r')))
			break;
	}
	free(lr);
	if (ret < 0)
		return -1;
	*size_r = end;
	return 0;
}

static void cache_store(struct imap_mailbox *mb, struct imap_view_msg *m,
			const struct imap_msg *msg)
{
	struct buf b = { 0 };
	unsigned char len[4] = { 0 };

	buf_append(&b, len, sizeof(len));
	mime_serialize(msg->tree, &b);
	size_t tree_len = b.len - sizeof(len);
	for (int i = 0; i < 4; i++)
		b.data[i] = (char)(tree_len >> (8 * i));
	if (msg->lf_only)
		mime_crlf_serialize(&msg->crlf, &b);
	imap_cache_put(mb, m, &b);
}

/* The cached tree (and CRLF map) of m, if there is a usable one. */
static bool cache_load(struct imap_mailbox *mb, struct imap_view_msg *m,
		       struct imap_msg *msg)
{
	const struct buf *b = imap_cache_get(mb, m);
	const unsigned char *p;
	const char *error;
	size_t tree_len;

	if (b == NULL || b->len < 4)
		return false;
	p = (const unsigned char *)b->data;
	tree_len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
		(size_t)p[3] << 24;
	if (tree_len > b->len - 4 ||
	    mime_deserialize(p + 4, tree_len, &msg->tree, &error) < 0)
		goto bad;
	if (msg->lf_only &&
	    mime_crlf_deserialize(&msg->crlf, p + 4 + tree_len,
				  b->len - 4 - tree_len, &error) < 0)
		goto bad;
	return true;
bad:
	/* Our own bytes: a bug, but one that only costs a parse. */
	log_error("imap cache error=\"%s\" uid=%u", error, m->uid);
	mime_part_free(&msg->tree);
	imap_cache_drop(mb, m);
	return false;
}

/* A root that knows only where the header ends. */
static int head_only(struct imap_msg *msg, bool find_header, const char **error_r)
{
	uint64_t hdr = 0;

	if (find_header && imap_msg_header_size(&msg->reader, &hdr, error_r) < 0)
		return -1;
	memset(&msg->head, 0, sizeof(msg->head));
	msg->head.hdr_size = hdr;
	msg->head.body_offset = hdr;
	msg->head.body_size = msg->size > hdr ? msg->size - hdr : 0;
	msg->root = &msg->head;
	return 0;
}

int imap_msg_open(struct imap_mailbox *mb, struct imap_view_msg *m,
		  enum imap_msg_need need, struct imap_msg *msg_r,
		  const char **error_r)
{
	memset(msg_r, 0, sizeof(*msg_r));
	msg_r->fd = -1;
	if (m->msg == NULL) {
		*error_r = "message was expunged";
		errno = ENOENT;
		return -1;
	}
	if (maildir_msg_open(mb->folder, m->msg, &msg_r->fd, error_r) < 0)
		return -1;
	msg_r->size = m->msg->vsize;
	msg_r->lf_only = m->msg->vsize != m->msg->size;
	mime_reader_fd(&msg_r->file, msg_r->fd);
	msg_r->reader = msg_r->file;
	if (msg_r->lf_only) {
		mime_crlf_init(&msg_r->crlf, &msg_r->file);
		mime_crlf_reader(&msg_r->crlf, &msg_r->reader);
	}
	/* A cached tree also brings the CRLF map a partial BODY[] needs. */
	if ((need >= IMAP_MSG_NEED_HEADER ||
	     (need == IMAP_MSG_NEED_FILE && msg_r->lf_only)) &&
	    cache_load(mb, m, msg_r)) {
		msg_r->root = msg_r->tree;
		msg_r->from_cache = true;
		return 0;
	}
	int ret = 0;
	if (need == IMAP_MSG_NEED_TREE) {
		ret = mime_parse(&msg_r->reader, &msg_r->tree, error_r);
		if (ret == 0) {
			msg_r->root = msg_r->tree;
			msg_r->parsed = true;
			cache_store(mb, m, msg_r);
		}
	} else {
		ret = head_only(msg_r, need == IMAP_MSG_NEED_HEADER, error_r);
	}
	if (ret < 0) {
		int err = errno;
		imap_msg_close(msg_r);
		errno = err;
	}
	return ret;
}

void imap_msg_close(struct imap_msg *msg)
{
	if (msg->fd >= 0)
		close(msg->fd);
	msg->fd = -1;
	mime_part_free(&msg->tree);
	if (msg->lf_only)
		mime_crlf_free(&msg->crlf);
	msg->lf_only = false;
}

int imap_msg_segments(struct imap_msg *msg, const struct mime_body_result *res,
		      struct fstream_segment **segs, size_t *n, const char **error_r)
{
	*segs = xrealloc(*segs, (*n + res->n_segs + 1) * sizeof(**segs));
	for (size_t i = 0; i < res->n_segs; i++) {
		const struct mime_segment *ms = &res->segs[i];
		struct fstream_segment *fs = &(*segs)[(*n)++];
		memset(fs, 0, sizeof(*fs));
		fs->fd = -1;            /* the message's file */
		fs->data = ms->data;
		fs->offset = ms->offset;
		fs->length = ms->size;
		if (ms->data != NULL || !msg->lf_only)
			continue;
		fs->crlf = true;
		if (mime_crlf_locate(&msg->crlf, ms->offset, &fs->offset, &fs->skip,
				     error_r) < 0)
			return -1;
	}
	return 0;
}

int imap_msg_search(struct imap_mailbox *mb, size_t i,
		    const struct imap_search_key *key, enum imap_msg_need need,
		    struct imap_msg *msg, bool *opened_r, bool *match_r,
		    const char **error_r)
{
	struct imap_view_msg *m = &mb->msgs[i];
	const char *kw[MAILDIR_KEYWORDS_MAX];
	struct imap_search_msg sm = { .seq = (uint32_t)(i + 1), .uid = m->uid,
				      .size = m->size, .internal_date = m->internal_date,
				      .modseq = imap_view_msg_modseq(m) };
	unsigned needs = imap_search_needs(key);
	uint32_t keywords;

	memset(msg, 0, sizeof(*msg));
	msg->fd = -1;
	*opened_r = *match_r = false;
	if (m->msg == NULL)
		return 0;               /* expunged: found by nothing */
	imap_view_msg_current(mb, m, &sm.flags, &keywords);
	sm.n_keywords = imap_mailbox_keyword_names(mb, keywords, kw);
	sm.keywords = kw;
	if ((needs & IMAP_SEARCH_NEEDS_BODY) && need < IMAP_MSG_NEED_TREE)
		need = IMAP_MSG_NEED_TREE;
	else if (needs != 0 && need < IMAP_MSG_NEED_HEADER)
		need = IMAP_MSG_NEED_HEADER;
	if (need != IMAP_MSG_NEED_NOTHING) {
		if (imap_msg_open(mb, m, need, msg, error_r) < 0)
			return errno == ENOENT ? 0 : -1;
		*opened_r = true;
		sm.mime = msg->root;
		sm.reader = &msg->reader;
	}
	if (imap_search_match(key, &sm, match_r, error_r) < 0) {
		imap_msg_close(msg);
		*opened_r = false;
		return -1;
	}
	return 0;
}
