/* imap_search.c — SEARCH key parser and evaluator (see imap_search.h). */
#include "imap/imap_search.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_date.h"
#include "imap/imap_util.h"
#include "mail/mime_address.h"
#include "mail/mime_decode.h"
#include "mail/text_match.h"

/* ---- parsing ------------------------------------------------------------------ */

enum arg_kind {
	ARG_NONE, ARG_STRING, ARG_DATE, ARG_NUMBER, ARG_SEQSET, ARG_HEADER,
	ARG_KEY, ARG_KEY2, ARG_KEYWORD, ARG_NEW, ARG_OLD, ARG_MODSEQ,
};

struct key_def {
	const char *name;
	enum imap_search_type type;
	enum arg_kind arg;
	uint32_t flag;
	bool negate;
	const char *field;
};

static const struct key_def key_defs[] = {
	{ "ALL", IMAP_SEARCH_ALL, ARG_NONE, 0, false, NULL },
	{ "ANSWERED", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_ANSWERED, false, NULL },
	{ "BCC", IMAP_SEARCH_HEADER, ARG_STRING, 0, false, "Bcc" },
	{ "BEFORE", IMAP_SEARCH_BEFORE, ARG_DATE, 0, false, NULL },
	{ "BODY", IMAP_SEARCH_BODY, ARG_STRING, 0, false, NULL },
	{ "CC", IMAP_SEARCH_HEADER, ARG_STRING, 0, false, "Cc" },
	{ "DELETED", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_DELETED, false, NULL },
	{ "DRAFT", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_DRAFT, false, NULL },
	{ "FLAGGED", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_FLAGGED, false, NULL },
	{ "FROM", IMAP_SEARCH_HEADER, ARG_STRING, 0, false, "From" },
	{ "HEADER", IMAP_SEARCH_HEADER, ARG_HEADER, 0, false, NULL },
	{ "KEYWORD", IMAP_SEARCH_KEYWORD, ARG_KEYWORD, 0, false, NULL },
	{ "LARGER", IMAP_SEARCH_LARGER, ARG_NUMBER, 0, false, NULL },
	{ "MODSEQ", IMAP_SEARCH_MODSEQ, ARG_MODSEQ, 0, false, NULL },
	{ "NEW", IMAP_SEARCH_AND, ARG_NEW, 0, false, NULL },
	{ "NOT", IMAP_SEARCH_NOT, ARG_KEY, 0, false, NULL },
	{ "OLD", IMAP_SEARCH_FLAG, ARG_OLD, IMAP_FLAG_RECENT, true, NULL },
	{ "ON", IMAP_SEARCH_ON, ARG_DATE, 0, false, NULL },
	{ "OR", IMAP_SEARCH_OR, ARG_KEY2, 0, false, NULL },
	{ "RECENT", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_RECENT, false, NULL },
	{ "SEEN", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_SEEN, false, NULL },
	{ "SENTBEFORE", IMAP_SEARCH_SENTBEFORE, ARG_DATE, 0, false, NULL },
	{ "SENTON", IMAP_SEARCH_SENTON, ARG_DATE, 0, false, NULL },
	{ "SENTSINCE", IMAP_SEARCH_SENTSINCE, ARG_DATE, 0, false, NULL },
	{ "SINCE", IMAP_SEARCH_SINCE, ARG_DATE, 0, false, NULL },
	{ "SMALLER", IMAP_SEARCH_SMALLER, ARG_NUMBER, 0, false, NULL },
	{ "SUBJECT", IMAP_SEARCH_HEADER, ARG_STRING, 0, false, "Subject" },
	{ "TEXT", IMAP_SEARCH_TEXT, ARG_STRING, 0, false, NULL },
	{ "TO", IMAP_SEARCH_HEADER, ARG_STRING, 0, false, "To" },
	{ "UID", IMAP_SEARCH_UID, ARG_SEQSET, 0, false, NULL },
	{ "UNANSWERED", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_ANSWERED, true, NULL },
	{ "UNDELETED", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_DELETED, true, NULL },
	{ "UNDRAFT", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_DRAFT, true, NULL },
	{ "UNFLAGGED", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_FLAGGED, true, NULL },
	{ "UNKEYWORD", IMAP_SEARCH_KEYWORD, ARG_KEYWORD, 0, true, NULL },
	{ "UNSEEN", IMAP_SEARCH_FLAG, ARG_NONE, IMAP_FLAG_SEEN, true, NULL },
};

struct sparser {
	const struct imap_arg *args;
	size_t n, pos;
	unsigned nodes;
	const char *error;
};

static bool parse_key(struct sparser *sp, struct imap_search_key *key, unsigned depth);

static void key_clear(struct imap_search_key *key)
{
	for (size_t i = 0; i < key->n_children; i++)
		key_clear(&key->children[i]);
	x_free(&key->children);
	x_free(&key->field);
	x_free(&key->value);
	imap_seqset_free(&key->set);
	memset(key, 0, sizeof(*key));
}

static bool count_node(struct sparser *sp)
{
	if (++sp->nodes > IMAP_SEARCH_KEYS_MAX) {
		sp->error = "Too many search keys";
		return false;
	}
	return true;
}

/* Turn key into NOT(key). */
static bool wrap_not(struct sparser *sp, struct imap_search_key *key)
{
	if (!count_node(sp))
		return false;
	struct imap_search_key *child = xmalloc(sizeof(*child));
	*child = *key;
	memset(key, 0, sizeof(*key));
	key->type = IMAP_SEARCH_NOT;
	key->children = child;
	key->n_children = 1;
	return true;
}

static const struct imap_arg *next_arg(struct sparser *sp)
{
	if (sp->pos >= sp->n) {
		sp->error = "Missing search key argument";
		return NULL;
	}
	return &sp->args[sp->pos++];
}

static char *next_astring(struct sparser *sp)
{
	const struct imap_arg *arg = next_arg(sp);
	const char *s;
	size_t len;
	if (arg == NULL)
		return NULL;
	if (!imap_arg_get_astring(arg, &s, &len)) {
		sp->error = "Invalid search string";
		return NULL;
	}
	return xstrndup(s, len);
}

/* Cost class for ordering: 0 metadata, 1 header, 2 body. */
static unsigned key_cost(const struct imap_search_key *key)
{
	unsigned cost = 0;
	switch (key->type) {
	case IMAP_SEARCH_HEADER:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return 1;
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
		return 2;
	default:
		break;
	}
	for (size_t i = 0; i < key->n_children; i++) {
		unsigned c = key_cost(&key->children[i]);
		cost = c > cost ? c : cost;
	}
	return cost;
}

/* Stable insertion sort of an AND's children, cheapest first. */
static void order_children(struct imap_search_key *key)
{
	for (size_t i = 1; i < key->n_children; i++) {
		struct imap_search_key tmp = key->children[i];
		unsigned c = key_cost(&tmp);
		size_t j = i;
		while (j > 0 && key_cost(&key->children[j - 1]) > c) {
			key->children[j] = key->children[j - 1];
			j--;
		}
		key->children[j] = tmp;
	}
}

/* Keys up to the end of items[] (or ")" of a group) as an AND. */
static bool parse_and(struct sparser *sp, struct imap_search_key *key, unsigned depth)
{
	key->type = IMAP_SEARCH_AND;
	if (sp->pos >= sp->n) {
		sp->error = "Missing search keys";
		return false;
	}
	while (sp->pos < sp->n) {
		key->children = xrealloc(key->children,
					 (key->n_children + 1) * sizeof(*key->children));
		struct imap_search_key *child = &key->children[key->n_children++];
		memset(child, 0, sizeof(*child));
		if (!parse_key(sp, child, depth + 1))
			return false;
	}
	order_children(key);
	return true;
}

static bool parse_date_arg(struct sparser *sp, struct imap_search_key *key)
{
	char *s = next_astring(sp);
	time_t t;
	if (s == NULL)
		return false;
	bool ok = imap_date_parse(s, &t);
	free(s);
	if (!ok) {
		sp->error = "Invalid search date";
		return false;
	}
	key->day = imap_day(t, 0);
	return true;
}

static bool parse_header_arg(struct sparser *sp, struct imap_search_key *key)
{
	key->field = next_astring(sp);
	if (key->field == NULL)
		return false;
	for (const char *p = key->field; ; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\0' && p > key->field)
			break;
		if (c < 33 || c > 126 || c == ':') {
			sp->error = "Invalid header field name";
			return false;
		}
	}
	key->value = next_astring(sp);
	return key->value != NULL;
}

/* MODSEQ ["/flags/<flag>" priv|shared|all] <mod-sequence-valzer>
 * (RFC 7162 3.1.5). There is one mod-sequence per message, so the entry
 * name and type only have to be well-formed. */
static bool parse_modseq_arg(struct sparser *sp, struct imap_search_key *key)
{
	const struct imap_arg *arg = next_arg(sp);
	const char *s;
	size_t len;

	if (arg != NULL && imap_arg_get_string(arg, &s, &len)) {
		const struct imap_arg *type = next_arg(sp);
		if (strncasecmp(s, "/flags/", 7) != 0 || len == 7 || type == NULL ||
		    !(imap_arg_atom_equals(type, "priv") ||
		      imap_arg_atom_equals(type, "shared") ||
		      imap_arg_atom_equals(type, "all"))) {
			sp->error = "Invalid MODSEQ entry";
			return false;
		}
		arg = next_arg(sp);
	}
	if (arg == NULL)
		return false;
	if (!imap_arg_get_number(arg, INT64_MAX, &key->number)) {
		sp->error = "Invalid mod-sequence";
		return false;
	}
	return true;
}

/* The argument(s) of a keyword from key_defs. */
static bool parse_key_args(struct sparser *sp, const struct key_def *def,
			   struct imap_search_key *key, unsigned depth)
{
	const struct imap_arg *arg;
	const char *s;

	switch (def->arg) {
	case ARG_NONE:
		return true;
	case ARG_STRING:
		if (def->field != NULL)
			key->field = xstrdup(def->field);
		return (key->value = next_astring(sp)) != NULL;
	case ARG_DATE:
		return parse_date_arg(sp, key);
	case ARG_NUMBER:
		if ((arg = next_arg(sp)) == NULL)
			return false;
		if (!imap_arg_get_number(arg, UINT64_MAX, &key->number)) {
			sp->error = "Invalid search number";
			return false;
		}
		return true;
	case ARG_SEQSET:
		if ((arg = next_arg(sp)) == NULL)
			return false;
		if (imap_arg_atom_equals(arg, "$")) {
			key->saved = true;      /* UID $ (RFC 5182) */
			return true;
		}
		if (!imap_arg_get_atom(arg, &s) ||
		    imap_seqset_parse(s, &key->set, &sp->error) < 0) {
			sp->error = "Invalid UID set";
			return false;
		}
		return true;
	case ARG_HEADER:
		return parse_header_arg(sp, key);
	case ARG_KEYWORD:
		if ((arg = next_arg(sp)) == NULL)
			return false;
		if (!imap_arg_get_atom(arg, &s) || !imap_keyword_valid(s)) {
			sp->error = "Invalid keyword";
			return false;
		}
		key->value = xstrdup(s);
		return true;
	case ARG_KEY:
		key->children = xcalloc(1, sizeof(*key->children));
		key->n_children = 1;
		return parse_key(sp, &key->children[0], depth + 1);
	case ARG_KEY2:
		key->children = xcalloc(2, sizeof(*key->children));
		key->n_children = 2;
		return parse_key(sp, &key->children[0], depth + 1) &&
			parse_key(sp, &key->children[1], depth + 1);
	case ARG_MODSEQ:
		return parse_modseq_arg(sp, key);
	case ARG_NEW:
	case ARG_OLD:
		break;
	}
	return true;
}

/* NEW = RECENT AND NOT SEEN (RFC 3501 6.4.4). */
static bool build_new(struct sparser *sp, struct imap_search_key *key)
{
	key->type = IMAP_SEARCH_AND;
	key->children = xcalloc(2, sizeof(*key->children));
	key->n_children = 2;
	key->children[0].type = IMAP_SEARCH_FLAG;
	key->children[0].flag = IMAP_FLAG_RECENT;
	key->children[1].type = IMAP_SEARCH_FLAG;
	key->children[1].flag = IMAP_FLAG_SEEN;
	return count_node(sp) && count_node(sp) && wrap_not(sp, &key->children[1]);
}

static bool parse_key(struct sparser *sp, struct imap_search_key *key, unsigned depth)
{
	const struct imap_arg *arg = next_arg(sp);
	const char *s;

	if (arg == NULL || !count_node(sp))
		return false;
	if (depth > IMAP_SEARCH_DEPTH_MAX) {
		sp->error = "Search keys nested too deeply";
		return false;
	}
	if (arg->type == IMAP_ARG_LIST) {
		struct sparser sub = { arg->list, arg->len, 0, sp->nodes, NULL };
		bool ok = parse_and(&sub, key, depth);
		sp->nodes = sub.nodes;
		sp->error = sub.error;
		return ok;
	}
	if (!imap_arg_get_atom(arg, &s) || arg->type == IMAP_ARG_NIL) {
		sp->error = "Invalid search key";
		return false;
	}
	if (strcmp(s, "$") == 0) {
		/* RFC 5182: the saved result, UIDs even in a SEARCH */
		key->type = IMAP_SEARCH_UID;
		key->saved = true;
		return true;
	}
	if ((*s >= '0' && *s <= '9') || *s == '*') {
		key->type = IMAP_SEARCH_SEQSET;
		return imap_seqset_parse(s, &key->set, &sp->error) == 0;
	}
	for (size_t i = 0; i < N_ELEMENTS(key_defs); i++) {
		const struct key_def *def = &key_defs[i];
		if (strcasecmp(s, def->name) != 0)
			continue;
		if (def->arg == ARG_NEW)
			return build_new(sp, key);
		key->type = def->type;
		key->flag = def->flag;
		if (!parse_key_args(sp, def, key, depth))
			return false;
		return !def->negate || wrap_not(sp, key);
	}
	sp->error = "Unknown search key";
	return false;
}

enum imap_search_parse_result imap_search_parse(const struct imap_arg *args, size_t n,
						struct imap_search_key **key_r,
						const char **error_r)
{
	struct sparser sp = { args, n, 0, 0, NULL };
	struct imap_search_key *key = xcalloc(1, sizeof(*key));

	*key_r = NULL;
	if (n >= 1 && imap_arg_atom_equals(&args[0], "CHARSET")) {
		const char *cs;
		size_t len;
		if (n < 2 || !imap_arg_get_astring(&args[1], &cs, &len)) {
			*error_r = "Missing charset";
			free(key);
			return IMAP_SEARCH_PARSE_BAD;
		}
		if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
			*error_r = "Unsupported charset";
			free(key);
			return IMAP_SEARCH_PARSE_BADCHARSET;
		}
		sp.pos = 2;
	}
	if (!parse_and(&sp, key, 0)) {
		*error_r = sp.error != NULL ? sp.error : "Invalid search";
		imap_search_free(&key);
		return IMAP_SEARCH_PARSE_BAD;
	}
	*key_r = key;
	return IMAP_SEARCH_PARSE_OK;
}

void imap_search_free(struct imap_search_key **keyp)
{
	if (*keyp == NULL)
		return;
	key_clear(*keyp);
	x_free(keyp);
}

void imap_search_use_saved(struct imap_search_key *key,
			   const struct imap_seqset *saved)
{
	if (key->saved) {
		imap_seqset_free(&key->set);
		for (size_t i = 0; i < saved->count; i++)
			imap_seqset_add(&key->set, saved->ranges[i].lo,
					saved->ranges[i].hi);
	}
	for (size_t i = 0; i < key->n_children; i++)
		imap_search_use_saved(&key->children[i], saved);
}

void imap_search_resolve(struct imap_search_key *key, uint32_t count, uint32_t max_uid)
{
	if (key->type == IMAP_SEARCH_SEQSET)
		imap_seqset_resolve(&key->set, count);
	else if (key->type == IMAP_SEARCH_UID)
		imap_seqset_resolve(&key->set, max_uid);
	for (size_t i = 0; i < key->n_children; i++)
		imap_search_resolve(&key->children[i], count, max_uid);
}

bool imap_search_uses_modseq(const struct imap_search_key *key)
{
	if (key->type == IMAP_SEARCH_MODSEQ)
		return true;
	for (size_t i = 0; i < key->n_children; i++) {
		if (imap_search_uses_modseq(&key->children[i]))
			return true;
	}
	return false;
}

unsigned imap_search_needs(const struct imap_search_key *key)
{
	unsigned needs = 0;
	switch (key->type) {
	case IMAP_SEARCH_HEADER:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		needs = IMAP_SEARCH_NEEDS_HEADER;
		break;
	case IMAP_SEARCH_BODY:
		needs = IMAP_SEARCH_NEEDS_BODY;
		break;
	case IMAP_SEARCH_TEXT:
		needs = IMAP_SEARCH_NEEDS_HEADER | IMAP_SEARCH_NEEDS_BODY;
		break;
	default:
		break;
	}
	for (size_t i = 0; i < key->n_children; i++)
		needs |= imap_search_needs(&key->children[i]);
	return needs;
}

/* ---- evaluation ----------------------------------------------------------------- */

struct eval {
	const struct imap_search_msg *msg;
	struct mime_headers hdr;        /* the message header, read once */
	bool hdr_loaded;
	bool failed;
	const char *error;
};

static const struct mime_headers *root_headers(struct eval *e)
{
	const struct mime_part *root = e->msg->mime;

	assert(root != NULL && e->msg->reader != NULL);
	if (!e->hdr_loaded) {
		if (mime_headers_read(e->msg->reader, root->hdr_offset, root->hdr_size,
				      &e->hdr, &e->error) < 0) {
			e->failed = true;
			return NULL;
		}
		e->hdr_loaded = true;
	}
	return &e->hdr;
}

/* Fields holding address lists: matched as written and in the normal form
 * of mime_address_text(), so that "user@domain.org" finds
 * "<user (comment)@ (comment) domain.org>" (RFC 5322 CFWS), as Dovecot
 * matches FROM/TO/CC/BCC. */
static bool is_address_field(const char *name, size_t len)
{
	static const char *const fields[] = {
		"From", "To", "Cc", "Bcc", "Sender", "Reply-To",
	};
	for (size_t i = 0; i < N_ELEMENTS(fields); i++) {
		if (strlen(fields[i]) == len && strncasecmp(name, fields[i], len) == 0)
			return true;
	}
	return false;
}

static bool field_contains(const struct mime_header_field *f, const char *needle)
{
	char *v = mime_header_decode(f->value, f->value_len);
	bool found = text_contains(v, strlen(v), needle, strlen(needle));
	free(v);
	if (!found && is_address_field(f->name, f->name_len)) {
		v = mime_address_text(f->value, f->value_len);
		found = text_contains(v, strlen(v), needle, strlen(needle));
		free(v);
	}
	return found;
}

static bool header_match(struct eval *e, const char *field, const char *needle)
{
	const struct mime_headers *h = root_headers(e);
	const struct mime_header_field *f;
	size_t iter = 0;

	if (h == NULL)
		return false;
	while ((f = mime_headers_find(h, field, &iter)) != NULL) {
		if (*needle == '\0' || field_contains(f, needle))
			return true;
	}
	return false;
}

/* Does any field of h ("Name: decoded value") contain m's needle? */
static bool headers_text_match(const struct mime_headers *h, struct text_matcher *m)
{
	for (size_t i = 0; i < h->count; i++) {
		const struct mime_header_field *f = &h->fields[i];
		char *v = mime_header_decode(f->value, f->value_len);
		text_matcher_reset(m);
		text_matcher_feed(m, f->name, f->name_len);
		text_matcher_feed(m, ": ", 2);
		bool found = text_matcher_feed(m, v, strlen(v));
		free(v);
		if (found)
			return true;
	}
	return false;
}

static void match_sink(void *ctx, const char *data, size_t len)
{
	text_matcher_feed(ctx, data, len);
}

/* Decode a text part's body chunk by chunk into the matcher. */
static bool text_part_match(struct eval *e, const struct mime_part *part,
			    struct text_matcher *m)
{
	char *chunk = xmalloc(MIME_READ_CHUNK);
	struct mime_text_decoder *dec = mime_text_decoder_new(
		mime_part_encoding(part), mime_part_param(part, "charset"), match_sink, m);
	uint64_t pos = 0;

	text_matcher_reset(m);
	while (pos < part->body_size && !text_matcher_matched(m)) {
		uint64_t left = part->body_size - pos;
		size_t want = left < MIME_READ_CHUNK ? (size_t)left : MIME_READ_CHUNK;
		ssize_t n = mime_read_full(e->msg->reader, chunk, want,
					   part->body_offset + pos, &e->error);
		if (n < 0)
			e->failed = true;
		if (n <= 0)
			break;
		mime_text_decoder_feed(dec, chunk, (size_t)n);
		pos += (size_t)n;
	}
	mime_text_decoder_finish(dec);
	mime_text_decoder_free(&dec);
	free(chunk);
	return !e->failed && text_matcher_matched(m);
}

/* The text of part: text leaves, and the headers of encapsulated messages. */
static bool part_text_match(struct eval *e, const struct mime_part *part,
			    struct text_matcher *m)
{
	if ((part->flags & MIME_PART_MULTIPART) != 0) {
		for (const struct mime_part *c = part->children; c != NULL; c = c->next) {
			if (part_text_match(e, c, m) || e->failed)
				return !e->failed;
		}
		return false;
	}
	if ((part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL) {
		const struct mime_part *msg = part->children;
		struct mime_headers h;
		if (mime_headers_read(e->msg->reader, msg->hdr_offset, msg->hdr_size,
				      &h, &e->error) < 0) {
			e->failed = true;
			return false;
		}
		bool found = headers_text_match(&h, m);
		mime_headers_free(&h);
		return found || part_text_match(e, msg, m);
	}
	if ((part->flags & MIME_PART_TEXT) != 0)
		return text_part_match(e, part, m);
	return false;
}

static bool body_match(struct eval *e, const char *needle, bool with_header)
{
	struct text_matcher *m = text_matcher_new(needle, strlen(needle));
	bool found = false;

	if (with_header) {
		const struct mime_headers *h = root_headers(e);
		found = h != NULL && headers_text_match(h, m);
	}
	if (!found && !e->failed)
		found = part_text_match(e, e->msg->mime, m);
	text_matcher_free(&m);
	return found && !e->failed;
}

/* Day of the Date: field in its own zone; false when absent or invalid. */
static bool sent_day(struct eval *e, int64_t *day_r)
{
	const struct mime_headers *h = root_headers(e);
	size_t iter = 0;
	const struct mime_header_field *f = h == NULL ? NULL :
		mime_headers_find(h, "Date", &iter);
	time_t t;
	int tz;

	if (f == NULL || !imap_mail_date_parse(f->value, f->value_len, &t, &tz))
		return false;
	*day_r = imap_day(t, tz);
	return true;
}

static bool keyword_match(const struct imap_search_msg *msg, const char *kw)
{
	for (size_t i = 0; i < msg->n_keywords; i++) {
		if (strcasecmp(msg->keywords[i], kw) == 0)
			return true;
	}
	return false;
}

static bool date_cmp(enum imap_search_type type, int64_t day, int64_t key_day)
{
	switch (type) {
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_SENTBEFORE:
		return day < key_day;
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SENTON:
		return day == key_day;
	default:
		return day >= key_day;
	}
}

static bool eval_key(struct eval *e, const struct imap_search_key *k)
{
	const struct imap_search_msg *msg = e->msg;
	int64_t day;

	switch (k->type) {
	case IMAP_SEARCH_ALL:
		return true;
	case IMAP_SEARCH_AND:
		for (size_t i = 0; i < k->n_children; i++) {
			if (!eval_key(e, &k->children[i]) || e->failed)
				return false;
		}
		return true;
	case IMAP_SEARCH_OR:
		return eval_key(e, &k->children[0]) || (!e->failed &&
						       eval_key(e, &k->children[1]));
	case IMAP_SEARCH_NOT:
		return !eval_key(e, &k->children[0]);
	case IMAP_SEARCH_SEQSET:
		return imap_seqset_contains(&k->set, msg->seq);
	case IMAP_SEARCH_UID:
		return imap_seqset_contains(&k->set, msg->uid);
	case IMAP_SEARCH_FLAG:
		return (msg->flags & k->flag) != 0;
	case IMAP_SEARCH_KEYWORD:
		return keyword_match(msg, k->value);
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SINCE:
		return date_cmp(k->type, imap_day(msg->internal_date, msg->internal_tz),
				k->day);
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return sent_day(e, &day) && date_cmp(k->type, day, k->day);
	case IMAP_SEARCH_LARGER:
		return msg->size > k->number;
	case IMAP_SEARCH_SMALLER:
		return msg->size < k->number;
	case IMAP_SEARCH_MODSEQ:
		return msg->modseq >= k->number;
	case IMAP_SEARCH_HEADER:
		return header_match(e, k->field, k->value);
	case IMAP_SEARCH_BODY:
		return body_match(e, k->value, false);
	case IMAP_SEARCH_TEXT:
		return body_match(e, k->value, true);
	}
	return false;
}

int imap_search_match(const struct imap_search_key *key,
		      const struct imap_search_msg *msg, bool *match_r,
		      const char **error_r)
{
	struct eval e = { .msg = msg };

	*match_r = eval_key(&e, key);
	if (e.hdr_loaded)
		mime_headers_free(&e.hdr);
	if (e.failed) {
		*error_r = e.error;
		return -1;
	}
	return 0;
}
