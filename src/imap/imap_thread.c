/* imap_thread.c — RFC 5256 threading (see imap_thread.h). */
#include "imap/imap_thread.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A node of the thread tree: a message, or a dummy (msg NULL). */
struct tnode {
	struct imap_sort_msg *msg;
	struct tnode *parent, *child, *next;
	const char *id;                 /* in the id table, or NULL */
	struct tnode *hash_next;
	size_t index;                   /* in forest.nodes */
};

/* Every node of one run, freed together. */
struct forest {
	struct tnode **nodes;
	size_t n, cap;
	/* the id table of REFERENCES step 1: chained hash of ids */
	struct tnode **buckets;
	size_t n_buckets;
	struct tnode root;              /* the dummy root of step 2 */
};

static struct tnode *node_new(struct forest *f, struct imap_sort_msg *msg)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->nodes = xrealloc(f->nodes, f->cap * sizeof(*f->nodes));
	}
	struct tnode *t = xcalloc(1, sizeof(*t));
	t->msg = msg;
	t->index = f->n;
	f->nodes[f->n++] = t;
	return t;
}

static void forest_free(struct forest *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->nodes[i]);
	free(f->nodes);
	free(f->buckets);
}

/* ---- tree operations ------------------------------------------------------ */

static void unlink_node(struct tnode *t)
{
	struct tnode *p = t->parent;

	if (p == NULL)
		return;
	for (struct tnode **pp = &p->child; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->parent = NULL;
	t->next = NULL;
}

/* Make t the last child of p. */
static void add_child(struct tnode *p, struct tnode *t)
{
	struct tnode **pp = &p->child;

	unlink_node(t);
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = t;
	t->parent = p;
}

/* Would making a the parent of b make a loop (a is b or below it)? */
static bool would_loop(const struct tnode *a, const struct tnode *b)
{
	for (const struct tnode *t = a; t != NULL; t = t->parent) {
		if (t == b)
			return true;
	}
	return false;
}

static size_t count_children(const struct tnode *t)
{
	size_t n = 0;
	for (const struct tnode *c = t->child; c != NULL; c = c->next)
		n++;
	return n;
}

/* The message a node is dated and named by: its own, or (a dummy) its
 * first child's. */
static const struct imap_sort_msg *node_msg(const struct tnode *t)
{
	while (t != NULL && t->msg == NULL)
		t = t->child;
	return t != NULL ? t->msg : NULL;
}

static int cmp_nodes(const void *pa, const void *pb)
{
	const struct imap_sort_msg *a = node_msg(*(struct tnode *const *)pa);
	const struct imap_sort_msg *b = node_msg(*(struct tnode *const *)pb);

	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	if (a->sent != b->sent)
		return a->sent < b->sent ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Order the children of t by sent date (RFC 5256 2.2); deep: the
 * grandchildren first (step 6). */
static void sort_children(struct tnode *t, bool deep)
{
	size_t n = count_children(t), i = 0;

	if (deep) {
		for (struct tnode *c = t->child; c != NULL; c = c->next)
			sort_children(c, true);
	}
	if (n < 2)
		return;
	struct tnode **v = xmalloc(n * sizeof(*v));
	for (struct tnode *c = t->child; c != NULL; c = c->next)
		v[i++] = c;
	qsort(v, n, sizeof(*v), cmp_nodes);
	for (i = 0; i < n; i++)
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	t->child = v[0];
	free(v);
}

/* ---- the response --------------------------------------------------------- */

static void append_number(struct buf *out, const struct imap_sort_msg *m, bool uid)
{
	buf_printf(out, "%" PRIu32, uid ? m->uid : m->seq);
}

/* thread-members / thread-nested of t (RFC 5256 5). */
static void render_members(struct buf *out, const struct tnode *t, bool uid)
{
	size_t n = count_children(t);

	if (t->msg != NULL) {
		append_number(out, t->msg, uid);
		if (n > 0)
			buf_append(out, " ", 1);
	}
	if (n == 1) {
		render_members(out, t->child, uid);
		return;
	}
	for (const struct tnode *c = t->child; c != NULL; c = c->next) {
		buf_append(out, "(", 1);
		render_members(out, c, uid);
		buf_append(out, ")", 1);
	}
}

static void render(struct buf *out, const struct tnode *root, bool uid)
{
	for (const struct tnode *t = root->child; t != NULL; t = t->next) {
		buf_append(out, "(", 1);
		render_members(out, t, uid);
		buf_append(out, ")", 1);
	}
}

/* ---- ORDEREDSUBJECT (RFC 5256 3) ------------------------------------------ */

static int cmp_subject_date(const void *pa, const void *pb)
{
	const struct imap_sort_msg *a = pa, *b = pb;
	int c = strcmp(a->subject_key, b->subject_key);

	if (c != 0)
		return c;
	if (a->sent != b->sent)
		return a->sent < b->sent ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Append t to a child list through its tail pointer (no walk). */
static void append_at(struct tnode *parent, struct tnode ***tail, struct tnode *t)
{
	t->parent = parent;
	**tail = t;
	*tail = &t->next;
}

static void ordered_subject(struct forest *f, struct imap_sort_msg *msgs, size_t n)
{
	struct tnode *first = NULL;
	struct tnode **root_tail = &f->root.child, **child_tail = NULL;

	if (n > 1)
		qsort(msgs, n, sizeof(*msgs), cmp_subject_date);
	for (size_t i = 0; i < n; i++) {
		struct tnode *t = node_new(f, &msgs[i]);
		if (first != NULL &&
		    strcmp(first->msg->subject_key, msgs[i].subject_key) == 0) {
			append_at(first, &child_tail, t);
			continue;
		}
		first = t;
		child_tail = &t->child;
		append_at(&f->root, &root_tail, t);
	}
	sort_children(&f->root, false);
}

/* ---- REFERENCES (RFC 5256 4) ---------------------------------------------- */

static size_t hash_id(const char *id)
{
	uint64_t h = 14695981039346656037u;    /* FNV-1a */
	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211u;
	return (size_t)h;
}

static struct tnode *id_find(struct forest *f, const char *id)
{
	for (struct tnode *t = f->buckets[hash_id(id) % f->n_buckets]; t != NULL;
	     t = t->hash_next) {
		if (strcmp(t->id, id) == 0)
			return t;
	}
	return NULL;
}

static struct tnode *id_add(struct forest *f, const char *id,
			    struct imap_sort_msg *msg)
{
	struct tnode *t = node_new(f, msg);
	size_t b = hash_id(id) % f->n_buckets;

	t->id = id;
	t->hash_next = f->buckets[b];
	f->buckets[b] = t;
	return t;
}

/* The node of id, a dummy made for it when none is there yet. */
static struct tnode *id_node(struct forest *f, const char *id)
{
	struct tnode *t = id_find(f, id);
	return t != NULL ? t : id_add(f, id, NULL);
}

/* Step 1 for one message. */
static void link_message(struct forest *f, struct imap_sort_msg *m)
{
	struct tnode *self = NULL, *prev = NULL;

	/* A message without (valid, unique) Message-ID gets a node of its
	 * own that no reference can reach: a unique identifier. */
	if (m->msgid != NULL) {
		self = id_find(f, m->msgid);
		if (self == NULL)
			self = id_add(f, m->msgid, m);
		else if (self->msg == NULL)
			self->msg = m;
		else
			self = NULL;            /* a duplicate */
	}
	if (self == NULL)
		self = node_new(f, m);
	/* (A) each reference the parent of the next, never re-parenting,
	 * never making a loop */
	for (size_t i = 0; m->refs != NULL && m->refs[i] != NULL; i++) {
		struct tnode *t = id_node(f, m->refs[i]);
		if (prev != NULL && t->parent == NULL && !would_loop(prev, t))
			add_child(prev, t);
		prev = t;
	}
	/* (B) the last reference is the parent, replacing any other */
	unlink_node(self);
	if (prev != NULL && !would_loop(prev, self))
		add_child(prev, self);
}

/* Step 3 on the children of t, bottom-up: a dummy goes, its children
 * take its place, except at the top when it has several. */
static void prune(struct tnode *t, bool is_root)
{
	struct tnode **pp = &t->child;

	while (*pp != NULL) {
		struct tnode *c = *pp, *last = NULL;
		prune(c, false);
		if (c->msg != NULL ||
		    (is_root && c->child != NULL && c->child->next != NULL)) {
			pp = &c->next;
			continue;
		}
		for (struct tnode *k = c->child; k != NULL; k = k->next) {
			k->parent = t;
			last = k;
		}
		if (last != NULL) {
			last->next = c->next;
			*pp = c->child;
			pp = &last->next;
		} else {
			*pp = c->next;
		}
		c->child = c->next = c->parent = NULL;
	}
}

struct subject_entry {
	const char *key;
	size_t order;                   /* position in the root set */
	struct tnode *node;
};

static int cmp_entry(const void *pa, const void *pb)
{
	const struct subject_entry *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);
	return c != 0 ? c : (a->order > b->order) - (a->order < b->order);
}

/* The thread subject of a root-set node (5.B.i), NULL when empty. */
static const char *thread_subject(const struct tnode *t)
{
	const struct imap_sort_msg *m = t->msg != NULL ? t->msg :
		(t->child != NULL ? t->child->msg : NULL);
	return m != NULL && m->subject_key[0] != '\0' ? m->subject_key : NULL;
}

static struct subject_entry *subject_lookup(struct subject_entry *table, size_t n,
					    const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(table[mid].key, key);
		if (c == 0)
			return &table[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* 5.B: one node per thread subject: the first seen, replaced by a later
 * dummy, or by a later non-reply when it is a reply. */
static struct subject_entry *subject_table(struct tnode **roots, size_t n,
					   size_t *n_r)
{
	struct subject_entry *table = xcalloc(n + 1, sizeof(*table));
	size_t k = 0, out = 0;

	for (size_t i = 0; i < n; i++) {
		const char *key = thread_subject(roots[i]);
		if (key != NULL)
			table[k++] = (struct subject_entry){ key, i, roots[i] };
	}
	if (k > 1)
		qsort(table, k, sizeof(*table), cmp_entry);
	for (size_t i = 0; i < k; i++) {
		if (out > 0 && strcmp(table[out - 1].key, table[i].key) == 0) {
			struct tnode *old = table[out - 1].node, *cur = table[i].node;
			if (old->msg != NULL && (cur->msg == NULL ||
			    (old->msg->is_reply && !cur->msg->is_reply)))
				table[out - 1].node = cur;
			continue;
		}
		table[out++] = table[i];
	}
	*n_r = out;
	return table;
}

/* 5.C: merge cur into the thread of the table entry e. */
static void merge(struct forest *f, struct subject_entry *e, struct tnode *cur)
{
	struct tnode *old = e->node;

	if (old->msg == NULL && cur->msg == NULL) {
		while (cur->child != NULL)
			add_child(old, cur->child);
		unlink_node(cur);
	} else if (old->msg == NULL) {
		add_child(old, cur);
	} else if (cur->msg->is_reply && !old->msg->is_reply) {
		add_child(old, cur);
	} else {
		/* a new dummy takes old's place in the root set */
		struct tnode *dummy = node_new(f, NULL);
		dummy->parent = old->parent;
		dummy->next = old->next;
		old->next = dummy;
		add_child(dummy, old);
		add_child(dummy, cur);
		e->node = dummy;
	}
}

static void group_by_subject(struct forest *f)
{
	size_t n = count_children(&f->root), i = 0, n_table;
	struct tnode **roots = xmalloc((n + 1) * sizeof(*roots));

	/* a snapshot: merging changes the root set under us */
	for (struct tnode *t = f->root.child; t != NULL; t = t->next)
		roots[i++] = t;
	struct subject_entry *table = subject_table(roots, n, &n_table);
	for (i = 0; i < n; i++) {
		struct tnode *t = roots[i];
		const char *key = t->parent == &f->root ? thread_subject(t) : NULL;
		struct subject_entry *e = key != NULL ?
			subject_lookup(table, n_table, key) : NULL;
		if (e != NULL && e->node != t)
			merge(f, e, t);
	}
	free(table);
	free(roots);
}

/* Replies nested deeper than IMAP_THREAD_DEPTH_MAX start a new thread,
 * every IMAP_THREAD_DEPTH_MAX levels, so that the recursive steps stay
 * bounded. */
static void cut_deep(struct forest *f)
{
	size_t *depth = xcalloc(f->n, sizeof(*depth));   /* 0: not known yet */
	struct tnode **chain = xmalloc(f->n * sizeof(*chain));

	for (size_t i = 0; i < f->n; i++) {
		struct tnode *t = f->nodes[i];
		size_t n = 0;
		while (depth[t->index] == 0 && t->parent != NULL) {
			chain[n++] = t;
			t = t->parent;
		}
		if (depth[t->index] == 0)
			depth[t->index] = 1;            /* a root */
		for (size_t d = depth[t->index]; n > 0; n--)
			depth[chain[n - 1]->index] = ++d;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (depth[i] > IMAP_THREAD_DEPTH_MAX &&
		    (depth[i] - 1) % IMAP_THREAD_DEPTH_MAX == 0)
			unlink_node(f->nodes[i]);
	}
	free(chain);
	free(depth);
}

static void references(struct forest *f, struct imap_sort_msg *msgs, size_t n)
{
	size_t ids = n;

	for (size_t i = 0; i < n; i++)
		ids += strv_len(msgs[i].refs);
	f->n_buckets = ids * 2 + 1;
	f->buckets = xcalloc(f->n_buckets, sizeof(*f->buckets));
	for (size_t i = 0; i < n; i++)                          /* (1) */
		link_message(f, &msgs[i]);
	cut_deep(f);
	struct tnode **tail = &f->root.child;                   /* (2) */
	for (size_t i = 0; i < f->n; i++) {
		if (f->nodes[i]->parent == NULL)
			append_at(&f->root, &tail, f->nodes[i]);
	}
	prune(&f->root, true);                                  /* (3) */
	for (struct tnode *t = f->root.child; t != NULL; t = t->next)
		if (t->msg == NULL)                             /* (4) */
			sort_children(t, false);
	sort_children(&f->root, false);
	group_by_subject(f);                                    /* (5) */
	sort_children(&f->root, true);                          /* (6) */
}

/* ---- entry points ------------------------------------------------------ */

bool imap_thread_algorithm_parse(const char *name, enum imap_thread_algorithm *alg_r)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
		*alg_r = IMAP_THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(name, "REFERENCES") == 0)
		*alg_r = IMAP_THREAD_REFERENCES;
	else
		return false;
	return true;
}

unsigned imap_thread_needs(enum imap_thread_algorithm alg)
{
	unsigned needs = IMAP_SORT_NEED_SUBJECT | IMAP_SORT_NEED_DATE;
	return alg == IMAP_THREAD_REFERENCES ? needs | IMAP_SORT_NEED_REFS : needs;
}

void imap_thread_run(enum imap_thread_algorithm alg, struct imap_sort_msg *msgs,
		     size_t n, bool uid, struct buf *out)
{
	struct forest f;

	memset(&f, 0, sizeof(f));
	if (alg == IMAP_THREAD_ORDEREDSUBJECT)
		ordered_subject(&f, msgs, n);
	else
		references(&f, msgs, n);
	render(out, &f.root, uid);
	forest_free(&f);
}
