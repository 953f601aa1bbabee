/* pki_set_check.c — findings about the configured set as a whole, and the
 * reload that keeps a running pair when its replacement is refused.
 *
 * pki_pair_check() judges one pair; what only shows in the set is judged
 * here: a group of two pairs of one key type (OpenSSL keeps one certificate
 * per type, the second would silently replace the first), the RSA and the
 * ECDSA pair of a group covering different names (a client gets either,
 * by its signature algorithms), and configured names no serving pair
 * covers. */
#include "pki/pki_set.h"
#include "pki/pki_private.h"

#include <stdarg.h>
#include <string.h>

struct scheck {
	const struct pki_set *set;
	pki_finding_fn *fn;
	void *context;
	unsigned errors;
};

static void sreport(struct scheck *c, enum pki_severity severity,
		    const char *tag, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void sreport(struct scheck *c, enum pki_severity severity,
		    const char *tag, const char *file, const char *fmt, ...)
{
	struct pki_finding f = { .severity = severity, .tag = tag };
	char *where = xstrdup(file);
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	f.file = where;
	f.text = text;
	if (severity == PKI_ERROR)
		c->errors++;
	c->fn(&f, c->context);
	free(text);
	free(where);
}

static const struct pki_pair *group_pair(const struct pki_set *set, size_t g,
					 size_t i)
{
	return set->entries[set->groups[g].entries[i]].pair;
}

static const char *group_pair_name(const struct pki_set *set, size_t g,
				   size_t i)
{
	return set->entries[set->groups[g].entries[i]].name;
}

/* The setting that names group g first ("certificate", "[sni] host") and
 * its line. The setting is errfmt() text. */
static const char *group_origin(const struct pki_set *set, size_t g,
				unsigned *line_r)
{
	*line_r = set->certificate_line;
	if (g == 0)
		return "certificate";
	for (size_t i = 0; i < set->n_sni; i++) {
		if (set->sni[i].group == g) {
			*line_r = set->sni[i].line;
			return errfmt("[sni] %s", set->sni[i].host);
		}
	}
	return "certificate";
}

/* ---- groups ---------------------------------------------------------- */

static void check_key_types(struct scheck *c, size_t g)
{
	const struct pki_set *set = c->set;
	size_t n = set->groups[g].n_entries;
	unsigned line;
	const char *setting = group_origin(set, g, &line);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			const struct pki_pair *a = group_pair(set, g, i);
			const struct pki_pair *b = group_pair(set, g, j);
			if (a == NULL || b == NULL || EVP_PKEY_get_base_id(a->key) !=
			    EVP_PKEY_get_base_id(b->key))
				continue;
			sreport(c, PKI_ERROR, "same key type",
				pki_set_where(set, line), "%s: pairs %s and %s both "
				"have %s keys, and a TLS server serves one pair per "
				"key type (list one RSA and one ECDSA pair)", setting,
				a->name, b->name, EVP_PKEY_get_base_id(a->key) ==
				EVP_PKEY_RSA ? "RSA" : "ECDSA");
		}
	}
}

/* The names of a that b does not cover, "x, y" in b (empty: none). */
static void names_missing(const struct pki_pair *a, const struct pki_pair *b,
			  struct buf *out)
{
	char **names = pki_cert_names(a->cert);

	buf_append(out, "", 0);
	for (size_t i = 0; names[i] != NULL; i++) {
		if (pki_cert_covers_name(b->cert, names[i], NULL))
			continue;
		buf_printf(out, "%s%s", out->len > 0 ? ", " : "", names[i]);
	}
	strv_free(&names);
}

static void check_same_names(struct scheck *c, size_t g)
{
	const struct pki_set *set = c->set;
	const struct pki_pair *a = group_pair(set, g, 0);
	const struct pki_pair *b = set->groups[g].n_entries > 1 ?
		group_pair(set, g, 1) : NULL;
	struct buf only_a = { 0 }, only_b = { 0 };
	unsigned line;
	const char *setting;

	/* Two pairs of one key type are check_key_types' error already. */
	if (a == NULL || b == NULL ||
	    EVP_PKEY_get_base_id(a->key) == EVP_PKEY_get_base_id(b->key))
		return;
	names_missing(a, b, &only_a);
	names_missing(b, a, &only_b);
	if (only_a.len > 0 || only_b.len > 0) {
		setting = group_origin(set, g, &line);
		sreport(c, PKI_WARNING, "names differ", pki_set_where(set, line),
			"%s: pairs %s and %s do not cover the same names (only %s "
			"covers: %s; only %s covers: %s), and a client gets either "
			"by the signature algorithms it supports", setting, a->name,
			b->name, a->name, only_a.len > 0 ? only_a.data : "-",
			b->name, only_b.len > 0 ? only_b.data : "-");
	}
	buf_free(&only_a);
	buf_free(&only_b);
}

/* ---- names ----------------------------------------------------------- */

/* "mail (DNS:a, DNS:b)" for each pair of the group whose bit is in mask. */
static void describe_pairs(const struct pki_set *set, size_t g, unsigned mask,
			   struct buf *out)
{
	bool first = true;

	for (size_t i = 0; i < set->groups[g].n_entries; i++) {
		const struct pki_pair *p = group_pair(set, g, i);
		char *sans;

		if (p == NULL || (mask & (1u << i)) == 0)
			continue;
		sans = pki_cert_sans(p->cert);
		buf_printf(out, "%s%s (%s)", first ? "" : ", ", p->name,
			   *sans != '\0' ? sans : "no names");
		free(sans);
		first = false;
	}
}

static void report_uncovered(struct scheck *c, const struct pki_name_status *st)
{
	const struct pki_set *set = c->set;
	unsigned missing = st->loaded & ~st->covered;
	struct buf text = { 0 };

	buf_printf(&text, "%s %s: ", st->setting, st->name);
	if ((st->covered & st->loaded) == 0) {
		buf_printf(&text, "no pair covers it; it is served by ");
		describe_pairs(set, st->sel.group, missing, &text);
	} else {
		describe_pairs(set, st->sel.group, missing, &text);
		buf_printf(&text, " does not cover it, while ");
		for (size_t i = 0; i < set->groups[st->sel.group].n_entries; i++) {
			if (st->covered & (1u << i))
				buf_printf(&text, "%s", group_pair_name(
						   set, st->sel.group, i));
		}
		buf_printf(&text, " does: clients that pick the other key type "
			   "get a certificate for other names");
	}
	if (st->name[0] == '*')
		buf_printf(&text, " (hosts under %s that the pairs cover still "
			   "get them, the others get the default pair)",
			   st->name + 2);
	sreport(c, PKI_WARNING, "not covered", pki_set_where(set, st->line),
		"%s", text.data);
	buf_free(&text);
}

unsigned pki_set_check(const struct pki_set *set, pki_finding_fn *fn,
		       void *context)
{
	struct scheck c = { set, fn, context, 0 };
	struct pki_name_status *names;
	size_t n;

	for (size_t g = 0; g < set->n_groups; g++) {
		check_key_types(&c, g);
		check_same_names(&c, g);
	}
	n = pki_set_uncovered(set, &names);
	for (size_t i = 0; i < n; i++)
		report_uncovered(&c, &names[i]);
	free(names);
	return c.errors;
}

/* ---- reload ---------------------------------------------------------- */

/* Findings of a replacement's validation: errors are collected for the one
 * line that refuses it, everything else passes on. */
struct validation {
	pki_finding_fn *fn;
	void *context;
	struct buf errors;
};

static void validation_finding(const struct pki_finding *f, void *context)
{
	struct validation *v = context;

	if (f->severity != PKI_ERROR) {
		v->fn(f, v->context);
		return;
	}
	buf_printf(&v->errors, "%s%s", v->errors.len > 0 ? "; " : "", f->text);
}

/* Another pair of a group holding entry idx has pair's key type: the
 * reason (errfmt() text), else NULL. */
static const char *key_type_conflict(const struct pki_set *set, size_t idx,
				     const struct pki_pair *pair)
{
	for (size_t g = 0; g < set->n_groups; g++) {
		const struct pki_group *grp = &set->groups[g];
		bool member = false;

		for (size_t i = 0; i < grp->n_entries; i++)
			member = member || grp->entries[i] == idx;
		for (size_t i = 0; member && i < grp->n_entries; i++) {
			const struct pki_pair *other =
				set->entries[grp->entries[i]].pair;
			unsigned line;
			if (grp->entries[i] == idx || other == NULL ||
			    EVP_PKEY_get_base_id(other->key) !=
			    EVP_PKEY_get_base_id(pair->key))
				continue;
			return errfmt("its key is %s like the key of pair %s, and "
				      "both serve %s: a TLS server serves one pair "
				      "per key type", pki_key_describe(pair->key),
				      other->name, group_origin(set, g, &line));
		}
	}
	return NULL;
}

/* Put current's pair back into entry idx of next. */
static void keep_current(struct pki_set *next, size_t idx,
			 const struct pki_pair *current)
{
	struct pki_set_entry *e = &next->entries[idx];

	if (e->pair == NULL)
		next->n_failed--;
	pki_pair_free(&e->pair);
	x_free(&e->error);
	e->pair = pki_pair_dup(current);
	e->kept = true;
}

/* A name the running set does not serve: judged as pki_set_load would. */
static void judge_new(struct scheck *c, const struct pki_set_entry *e,
		      time_t now)
{
	if (e->pair != NULL) {
		c->errors += pki_pair_check(e->pair, NULL, now, c->fn, c->context);
		return;
	}
	sreport(c, PKI_ERROR, "unusable", pki_set_where(c->set, e->line),
		"%s: pair '%s' cannot be used: %s", e->setting, e->name, e->error);
}

/* Judge the replacement of current by entry idx of next; true: refused
 * (one PKI_ERROR finding has said why). */
static bool refuse_replacement(struct scheck *c, struct pki_set *next,
			       size_t idx, const struct pki_pair *current,
			       time_t now)
{
	struct pki_set_entry *e = &next->entries[idx];
	struct validation v = { c->fn, c->context, { 0 } };
	const char *reason = e->error, *conflict;
	bool refused;

	if (e->pair != NULL) {
		pki_pair_validate(current, e->pair, now, validation_finding, &v);
		conflict = key_type_conflict(next, idx, e->pair);
		if (conflict != NULL)
			buf_printf(&v.errors, "%s%s", v.errors.len > 0 ? "; " : "",
				   conflict);
		reason = v.errors.len > 0 ? v.errors.data : NULL;
	}
	refused = reason != NULL;
	if (refused)
		sreport(c, PKI_ERROR, "refused", current->crt_path, "the new pair "
			"%s is refused (%s); the running pair keeps serving, valid "
			"until %s", e->name, reason,
			pki_time_text(X509_get0_notAfter(current->cert)));
	else
		sreport(c, PKI_OK, "replaced", e->pair->crt_path, "pair %s "
			"replaced: now valid until %s", e->name,
			pki_time_text(X509_get0_notAfter(e->pair->cert)));
	buf_free(&v.errors);
	return refused;
}

unsigned pki_set_reload(struct pki_set *next, const struct pki_set *current,
			time_t now, pki_finding_fn *fn, void *context)
{
	struct scheck c = { next, fn, context, 0 };
	unsigned refused = 0;

	for (size_t i = 0; i < next->n_entries; i++) {
		struct pki_set_entry *e = &next->entries[i];
		const struct pki_pair *cur = NULL;
		size_t ci;

		if (pki_set_find_entry(current, e->name, &ci))
			cur = current->entries[ci].pair;
		if (cur == NULL) {
			judge_new(&c, e, now);
		} else if (e->pair == NULL || !pki_pair_same(e->pair, cur)) {
			if (refuse_replacement(&c, next, i, cur, now)) {
				keep_current(next, i, cur);
				refused++;
			}
		}
	}
	return refused;
}
