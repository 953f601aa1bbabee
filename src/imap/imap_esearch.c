/* imap_esearch.c — RETURN options and the ESEARCH response (see
 * imap_esearch.h). */
#include "imap/imap_esearch.h"
#include "imap/imap_util.h"

#include <inttypes.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned bit;
} option_names[] = {
	{ "MIN", IMAP_ESEARCH_MIN }, { "MAX", IMAP_ESEARCH_MAX },
	{ "ALL", IMAP_ESEARCH_ALL }, { "COUNT", IMAP_ESEARCH_COUNT },
	{ "SAVE", IMAP_ESEARCH_SAVE },
};

int imap_esearch_parse(const struct imap_arg *args, size_t n,
		       struct imap_esearch *es_r, size_t *used_r,
		       const char **error_r)
{
	const struct imap_arg *items;
	size_t count;

	memset(es_r, 0, sizeof(*es_r));
	*used_r = 0;
	if (n == 0 || !imap_arg_atom_equals(&args[0], "RETURN"))
		return 0;
	if (n < 2 || !imap_arg_get_list(&args[1], &items, &count)) {
		*error_r = "RETURN needs a list of options";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		size_t k;
		for (k = 0; k < N_ELEMENTS(option_names); k++) {
			if (imap_arg_atom_equals(&items[i], option_names[k].name))
				break;
		}
		if (k == N_ELEMENTS(option_names)) {
			*error_r = "Unknown RETURN option";
			return -1;
		}
		es_r->opts |= option_names[k].bit;
	}
	/* RFC 4731 3.1: "RETURN ()" is "RETURN (ALL)". */
	if (es_r->opts == 0)
		es_r->opts = IMAP_ESEARCH_ALL;
	es_r->given = true;
	*used_r = 2;
	return 0;
}

bool imap_esearch_answers(const struct imap_esearch *es)
{
	return (es->opts & ~(unsigned)IMAP_ESEARCH_SAVE) != 0;
}

void imap_esearch_append_set(struct buf *out, const uint32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; ) {
		size_t j = i;
		while (j + 1 < n && ids[j] != UINT32_MAX && ids[j + 1] == ids[j] + 1)
			j++;
		if (i > 0)
			buf_append(out, ",", 1);
		if (j == i)
			buf_printf(out, "%" PRIu32, ids[i]);
		else
			buf_printf(out, "%" PRIu32 ":%" PRIu32, ids[i], ids[j]);
		i = j + 1;
	}
}

void imap_esearch_render(struct buf *out, const char *tag, bool uid,
			 const struct imap_esearch *es, const uint32_t *ids,
			 size_t n)
{
	buf_append(out, "ESEARCH (TAG ", 13);
	imap_append_string(out, tag, strlen(tag));
	buf_append(out, ")", 1);
	if (uid)
		buf_append(out, " UID", 4);
	/* RFC 4731 3.1: an empty result has no MIN, MAX or ALL. */
	if (n > 0 && (es->opts & IMAP_ESEARCH_MIN))
		buf_printf(out, " MIN %" PRIu32, ids[0]);
	if (n > 0 && (es->opts & IMAP_ESEARCH_MAX))
		buf_printf(out, " MAX %" PRIu32, ids[n - 1]);
	if (n > 0 && (es->opts & IMAP_ESEARCH_ALL)) {
		buf_append(out, " ALL ", 5);
		imap_esearch_append_set(out, ids, n);
	}
	if (es->opts & IMAP_ESEARCH_COUNT)
		buf_printf(out, " COUNT %zu", n);
}

void imap_esearch_save(const struct imap_esearch *es, const uint32_t *uids,
		       size_t n, struct imap_seqset *saved_r)
{
	unsigned others = es->opts & ~(unsigned)IMAP_ESEARCH_SAVE;

	imap_seqset_free(saved_r);
	if (n == 0)
		return;
	/* RFC 5182 2.1: with MIN and/or MAX alone, only those are kept. */
	if (others != 0 && (others & ~(unsigned)(IMAP_ESEARCH_MIN | IMAP_ESEARCH_MAX)) == 0) {
		if (others & IMAP_ESEARCH_MIN)
			imap_seqset_add(saved_r, uids[0], uids[0]);
		if (others & IMAP_ESEARCH_MAX)
			imap_seqset_add(saved_r, uids[n - 1], uids[n - 1]);
	} else {
		for (size_t i = 0; i < n; i++)
			imap_seqset_add(saved_r, uids[i], uids[i]);
	}
	imap_seqset_resolve(saved_r, 0);
}
