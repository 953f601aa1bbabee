/* imap_sort.c — sort criteria, the header data SORT and THREAD use, and
 * the sort itself (see imap_sort.h). */
#include "imap/imap_sort.h"
#include "imap/imap_date.h"
#include "imap/imap_mailbox.h"
#include "imap/imap_msg.h"
#include "imap/imap_subject.h"
#include "mail/mime_address.h"
#include "mail/mime_header.h"
#include "mail/mime_msgid.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum imap_sort_type type;
	unsigned need;
} sort_keys[] = {
	{ "ARRIVAL", IMAP_SORT_ARRIVAL, 0 },
	{ "CC", IMAP_SORT_CC, IMAP_SORT_NEED_CC },
	{ "DATE", IMAP_SORT_DATE, IMAP_SORT_NEED_DATE },
	{ "FROM", IMAP_SORT_FROM, IMAP_SORT_NEED_FROM },
	{ "SIZE", IMAP_SORT_SIZE, 0 },
	{ "SUBJECT", IMAP_SORT_SUBJECT, IMAP_SORT_NEED_SUBJECT },
	{ "TO", IMAP_SORT_TO, IMAP_SORT_NEED_TO },
	{ "DISPLAYFROM", IMAP_SORT_DISPLAYFROM, IMAP_SORT_NEED_FROM },
	{ "DISPLAYTO", IMAP_SORT_DISPLAYTO, IMAP_SORT_NEED_TO },
};

int imap_sort_parse(const struct imap_arg *arg, struct imap_sort_program *prog_r,
		    const char **error_r)
{
	const struct imap_arg *items;
	size_t count;
	bool reverse = false;

	memset(prog_r, 0, sizeof(*prog_r));
	if (!imap_arg_get_list(arg, &items, &count) || count == 0) {
		*error_r = "Sort criteria must be a non-empty list";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&items[i], "REVERSE") && !reverse) {
			reverse = true;
			continue;
		}
		size_t k;
		for (k = 0; k < N_ELEMENTS(sort_keys); k++) {
			if (imap_arg_atom_equals(&items[i], sort_keys[k].name))
				break;
		}
		if (k == N_ELEMENTS(sort_keys)) {
			*error_r = "Unknown sort criterion";
			return -1;
		}
		if (prog_r->n_keys == IMAP_SORT_KEYS_MAX) {
			*error_r = "Too many sort criteria";
			return -1;
		}
		prog_r->keys[prog_r->n_keys].type = sort_keys[k].type;
		prog_r->keys[prog_r->n_keys++].reverse = reverse;
		reverse = false;
	}
	if (reverse) {
		*error_r = "REVERSE must precede a sort criterion";
		return -1;
	}
	return 0;
}

unsigned imap_sort_needs(const struct imap_sort_program *prog)
{
	unsigned needs = 0;

	for (size_t i = 0; i < prog->n_keys; i++) {
		for (size_t k = 0; k < N_ELEMENTS(sort_keys); k++) {
			if (sort_keys[k].type == prog->keys[i].type)
				needs |= sort_keys[k].need;
		}
	}
	return needs;
}

enum imap_search_parse_result imap_sort_parse_keys(const struct imap_mailbox *mb,
						   const struct imap_arg *args,
						   size_t n,
						   struct imap_search_key **key_r,
						   const char **error_r)
{
	const char *charset;
	size_t len;

	*key_r = NULL;
	if (n < 2 || !imap_arg_get_astring(&args[0], &charset, &len)) {
		*error_r = "Missing charset or search keys";
		return IMAP_SEARCH_PARSE_BAD;
	}
	if (strcasecmp(charset, "UTF-8") != 0 && strcasecmp(charset, "US-ASCII") != 0) {
		*error_r = "Unsupported charset";
		return IMAP_SEARCH_PARSE_BADCHARSET;
	}
	enum imap_search_parse_result r = imap_search_parse(args + 1, n - 1, key_r,
							    error_r);
	if (r != IMAP_SEARCH_PARSE_OK)
		return r;
	imap_search_use_saved(*key_r, &mb->saved);
	imap_search_resolve(*key_r, (uint32_t)mb->count,
			    mb->count > 0 ? mb->msgs[mb->count - 1].uid : 0);
	return IMAP_SEARCH_PARSE_OK;
}

/* ---- header data ------------------------------------------------------------ */

/* The first real address of an address-list value (group markers skipped):
 * its local part, and its display name (decoded) or "local@host". */
static void first_address(const char *value, size_t len, char **mailbox_r,
			  char **display_r)
{
	size_t n;
	struct mime_address *list = mime_address_parse(value, len, &n);

	*mailbox_r = NULL;
	*display_r = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct mime_address *a = &list[i];
		if (a->host == NULL)
			continue;
		*mailbox_r = xstrdup(a->mailbox);
		if (a->name != NULL)
			*display_r = mime_header_decode(a->name, strlen(a->name));
		else if (a->host[0] != '\0')
			*display_r = xasprintf("%s@%s", a->mailbox, a->host);
		else
			*display_r = xstrdup(a->mailbox);
		break;
	}
	mime_addresses_free(&list, n);
}

void imap_sort_fill(struct imap_sort_msg *m, unsigned needs,
		    const struct imap_sort_fields *f)
{
	time_t t;
	int tz;

	if (needs & IMAP_SORT_NEED_SUBJECT) {
		m->subject = imap_base_subject(f->subject, f->subject_len, &m->is_reply);
		m->subject_key = imap_subject_key(m->subject);
	}
	/* RFC 5256 2.2: no usable Date: the internal date */
	m->sent = m->arrival;
	if ((needs & IMAP_SORT_NEED_DATE) && f->date != NULL &&
	    imap_mail_date_parse(f->date, f->date_len, &t, &tz))
		m->sent = t;
	if ((needs & IMAP_SORT_NEED_FROM) && f->from != NULL)
		first_address(f->from, f->from_len, &m->from, &m->display_from);
	if ((needs & IMAP_SORT_NEED_TO) && f->to != NULL)
		first_address(f->to, f->to_len, &m->to, &m->display_to);
	if ((needs & IMAP_SORT_NEED_CC) && f->cc != NULL) {
		char *display;
		first_address(f->cc, f->cc_len, &m->cc, &display);
		free(display);
	}
	if (needs & IMAP_SORT_NEED_REFS) {
		if (f->msgid != NULL)
			m->msgid = mime_msgid_first(f->msgid, f->msgid_len);
		/* RFC 5256 4 (1): References, else In-Reply-To's first */
		m->refs = f->references == NULL ? NULL :
			mime_msgid_list(f->references, f->references_len,
					MIME_MSGID_REFS_MAX);
		if (m->refs == NULL || m->refs[0] == NULL) {
			strv_free(&m->refs);
			m->refs = xcalloc(2, sizeof(*m->refs));
			if (f->in_reply_to != NULL)
				m->refs[0] = mime_msgid_first(f->in_reply_to,
							      f->in_reply_to_len);
		}
	}
}

static void field(const struct mime_headers *h, const char *name,
		  const char **value_r, size_t *len_r)
{
	size_t iter = 0;
	const struct mime_header_field *f = mime_headers_find(h, name, &iter);

	*value_r = f != NULL ? f->value : NULL;
	*len_r = f != NULL ? f->value_len : 0;
}

static int read_fields(struct imap_msg *msg, struct imap_sort_msg *m,
		       unsigned needs, const char **error_r)
{
	struct mime_headers h;
	struct imap_sort_fields f;

	if (mime_headers_read(&msg->reader, msg->root->hdr_offset,
			      msg->root->hdr_size, &h, error_r) < 0)
		return -1;
	field(&h, "Subject", &f.subject, &f.subject_len);
	field(&h, "Date", &f.date, &f.date_len);
	field(&h, "From", &f.from, &f.from_len);
	field(&h, "To", &f.to, &f.to_len);
	field(&h, "Cc", &f.cc, &f.cc_len);
	field(&h, "Message-ID", &f.msgid, &f.msgid_len);
	field(&h, "References", &f.references, &f.references_len);
	field(&h, "In-Reply-To", &f.in_reply_to, &f.in_reply_to_len);
	imap_sort_fill(m, needs, &f);
	mime_headers_free(&h);
	return 0;
}

int imap_sort_collect(struct imap_mailbox *mb, const struct imap_search_key *key,
		      unsigned needs, struct imap_sort_msg **msgs_r, size_t *n_r,
		      const char **error_r)
{
	struct imap_sort_msg *msgs = NULL;
	size_t n = 0, cap = 0;
	enum imap_msg_need need = needs != 0 ? IMAP_MSG_NEED_HEADER :
		IMAP_MSG_NEED_NOTHING;

	for (size_t i = 0; i < mb->count; i++) {
		struct imap_msg msg;
		bool opened, match;
		int ret = imap_msg_search(mb, i, key, need, &msg, &opened, &match,
					  error_r);
		if (ret < 0)
			goto fail;
		if (match && opened != (need != IMAP_MSG_NEED_NOTHING))
			match = false;          /* expunged under us */
		if (match) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				msgs = xrealloc(msgs, cap * sizeof(*msgs));
			}
			struct imap_sort_msg *m = &msgs[n++];
			memset(m, 0, sizeof(*m));
			m->seq = (uint32_t)(i + 1);
			m->uid = mb->msgs[i].uid;
			m->size = mb->msgs[i].size;
			m->arrival = m->sent = mb->msgs[i].internal_date;
			if (needs != 0)
				ret = read_fields(&msg, m, needs, error_r);
		}
		if (opened)
			imap_msg_close(&msg);
		if (ret < 0)
			goto fail;
	}
	*msgs_r = msgs;
	*n_r = n;
	return 0;
fail:
	imap_sort_msgs_free(&msgs, n);
	return -1;
}

/* ---- sorting ------------------------------------------------------------------ */

static int cmp_str(const char *a, const char *b, bool ascii_casemap)
{
	a = a != NULL ? a : "";
	b = b != NULL ? b : "";
	return ascii_casemap ? strcasecmp(a, b) : strcmp(a, b);
}

static int cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_key(const struct imap_sort_msg *a, const struct imap_sort_msg *b,
		   enum imap_sort_type type)
{
	switch (type) {
	case IMAP_SORT_ARRIVAL: return cmp_time(a->arrival, b->arrival);
	case IMAP_SORT_DATE: return cmp_time(a->sent, b->sent);
	case IMAP_SORT_SIZE: return cmp_num(a->size, b->size);
	case IMAP_SORT_CC: return cmp_str(a->cc, b->cc, true);
	case IMAP_SORT_FROM: return cmp_str(a->from, b->from, true);
	case IMAP_SORT_TO: return cmp_str(a->to, b->to, true);
	case IMAP_SORT_SUBJECT: return cmp_str(a->subject_key, b->subject_key, false);
	case IMAP_SORT_DISPLAYFROM:
		return cmp_str(a->display_from, b->display_from, true);
	case IMAP_SORT_DISPLAYTO:
		return cmp_str(a->display_to, b->display_to, true);
	}
	return 0;
}

static int cmp_msgs(const void *pa, const void *pb, void *ctx)
{
	const struct imap_sort_msg *a = pa, *b = pb;
	const struct imap_sort_program *prog = ctx;

	for (size_t i = 0; i < prog->n_keys; i++) {
		int c = cmp_key(a, b, prog->keys[i].type);
		if (c != 0)
			return prog->keys[i].reverse ? -c : c;
	}
	/* RFC 5256 3: equal messages stay in mailbox order, also under
	 * REVERSE */
	return cmp_num(a->seq, b->seq);
}

void imap_sort_run(struct imap_sort_msg *msgs, size_t n,
		   const struct imap_sort_program *prog)
{
	if (n > 1)
		qsort_r(msgs, n, sizeof(*msgs), cmp_msgs, (void *)prog);
}

void imap_sort_msgs_free(struct imap_sort_msg **msgs, size_t n)
{
	if (*msgs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		struct imap_sort_msg *m = &(*msgs)[i];
		free(m->subject);
		free(m->subject_key);
		free(m->from);
		free(m->to);
		free(m->cc);
		free(m->display_from);
		free(m->display_to);
		free(m->msgid);
		strv_free(&m->refs);
	}
	x_free(msgs);
}
