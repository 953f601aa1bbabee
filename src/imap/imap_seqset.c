/* imap_seqset.c — parse, resolve and print IMAP sequence sets. */
#include "imap/imap_seqset.h"

#include <stdlib.h>
#include <string.h>

void imap_seqset_free(struct imap_seqset *set)
{
	x_free(&set->ranges);
	set->count = set->cap = 0;
}

static void add_range(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
	if (set->count == set->cap) {
		set->cap = set->cap == 0 ? 8 : set->cap * 2;
		set->ranges = xrealloc(set->ranges, set->cap * sizeof(*set->ranges));
	}
	set->ranges[set->count].lo = lo;
	set->ranges[set->count].hi = hi;
	set->count++;
}

void imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
	add_range(set, lo, hi);
}

/* seq-number = nz-number / "*" at *sp; advances *sp. */
static bool parse_number(const char **sp, uint32_t *n_r)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s == '*') {
		*n_r = IMAP_SEQ_STAR;
		*sp = s + 1;
		return true;
	}
	if (*s < '1' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*n_r = (uint32_t)v;
	*sp = s;
	return true;
}

int imap_seqset_parse(const char *s, struct imap_seqset *set_r, const char **error_r)
{
	memset(set_r, 0, sizeof(*set_r));
	for (;;) {
		uint32_t lo, hi;
		if (!parse_number(&s, &lo)) {
			*error_r = "Invalid sequence set";
			return -1;
		}
		hi = lo;
		if (*s == ':') {
			s++;
			if (!parse_number(&s, &hi)) {
				*error_r = "Invalid sequence set";
				return -1;
			}
		}
		if (set_r->count == IMAP_SEQSET_RANGES_MAX) {
			*error_r = "Sequence set too long";
			return -1;
		}
		add_range(set_r, lo, hi);
		if (*s == '\0')
			return 0;
		if (*s++ != ',') {
			*error_r = "Invalid sequence set";
			return -1;
		}
	}
}

bool imap_seqset_has_star(const struct imap_seqset *set)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->ranges[i].lo == IMAP_SEQ_STAR ||
		    set->ranges[i].hi == IMAP_SEQ_STAR)
			return true;
	}
	return false;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void imap_seqset_resolve(struct imap_seqset *set, uint32_t star)
{
	size_t n = 0;

	for (size_t i = 0; i < set->count; i++) {
		struct imap_seq_range r = set->ranges[i];
		if (r.lo == IMAP_SEQ_STAR)
			r.lo = star;
		if (r.hi == IMAP_SEQ_STAR)
			r.hi = star;
		if (r.lo > r.hi) {
			uint32_t t = r.lo;
			r.lo = r.hi;
			r.hi = t;
		}
		if (r.lo == 0)
			r.lo = 1;
		if (r.hi == 0)
			continue;
		set->ranges[n++] = r;
	}
	set->count = n;
	if (n == 0)
		return;
	qsort(set->ranges, n, sizeof(*set->ranges), range_cmp);
	size_t out = 0;
	for (size_t i = 1; i < n; i++) {
		struct imap_seq_range *last = &set->ranges[out];
		if (set->ranges[i].lo <= last->hi ||
		    set->ranges[i].lo - 1 == last->hi) {
			if (set->ranges[i].hi > last->hi)
				last->hi = set->ranges[i].hi;
		} else {
			set->ranges[++out] = set->ranges[i];
		}
	}
	set->count = out + 1;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (n < set->ranges[mid].lo)
			hi = mid;
		else if (n > set->ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint32_t imap_seqset_max(const struct imap_seqset *set)
{
	return set->count == 0 ? 0 : set->ranges[set->count - 1].hi;
}

uint64_t imap_seqset_count(const struct imap_seqset *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->count; i++)
		n += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return n;
}

void imap_seqset_append(struct buf *b, const struct imap_seqset *set)
{
	for (size_t i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &set->ranges[i];
		if (i > 0)
			buf_append(b, ",", 1);
		if (r->lo == r->hi)
			buf_printf(b, "%u", r->lo);
		else
			buf_printf(b, "%u:%u", r->lo, r->hi);
	}
}
