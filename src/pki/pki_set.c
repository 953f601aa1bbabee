/* pki_set.c — the configured set of pairs: building it from the config,
 * and the pure lookups on it (which group serves a name, which configured
 * names are covered). See pki_set.h for the model. */
#include "pki/pki_set.h"
#include "pki/pki_private.h"

#include <assert.h>
#include <string.h>

_Static_assert(PKI_NAME_MAX == CONFIG_PAIR_NAME_MAX,
	       "the config checks pair names by the rule of the certs folder");

/* ---- building -------------------------------------------------------- */

struct pki_set *pki_set_new(const char *config_path, const char *hostname,
			    unsigned hostname_line, unsigned certificate_line)
{
	struct pki_set *set = xcalloc(1, sizeof(*set));

	set->config_path = config_path != NULL ? xstrdup(config_path) : NULL;
	set->hostname = hostname != NULL ? xstrdup(hostname) : NULL;
	set->hostname_line = hostname_line;
	set->certificate_line = certificate_line;
	return set;
}

bool pki_set_find_entry(const struct pki_set *set, const char *name,
			size_t *idx_r)
{
	for (size_t i = 0; i < set->n_entries; i++) {
		if (strcmp(set->entries[i].name, name) == 0) {
			*idx_r = i;
			return true;
		}
	}
	return false;
}

size_t pki_set_add_entry(struct pki_set *set, const char *name,
			 struct pki_pair *pair, const char *error,
			 const char *setting, unsigned line)
{
	struct pki_set_entry *e;

	set->entries = xrealloc(set->entries,
				(set->n_entries + 1) * sizeof(*set->entries));
	e = &set->entries[set->n_entries];
	*e = (struct pki_set_entry){
		.name = xstrdup(name),
		.pair = pair,
		.error = pair == NULL ? xstrdup(error != NULL ? error : "not loaded")
			: NULL,
		.setting = xstrdup(setting),
		.line = line,
	};
	if (pair == NULL)
		set->n_failed++;
	return set->n_entries++;
}

size_t pki_set_add_group(struct pki_set *set, const size_t *entries, size_t n)
{
	struct pki_group *g;

	assert(n >= 1 && n <= PKI_GROUP_MAX);
	for (size_t i = 0; i < set->n_groups; i++) {
		g = &set->groups[i];
		if (g->n_entries == n &&
		    memcmp(g->entries, entries, n * sizeof(*entries)) == 0)
			return i;
	}
	set->groups = xrealloc(set->groups,
			       (set->n_groups + 1) * sizeof(*set->groups));
	g = &set->groups[set->n_groups];
	memset(g, 0, sizeof(*g));
	memcpy(g->entries, entries, n * sizeof(*entries));
	g->n_entries = n;
	return set->n_groups++;
}

void pki_set_add_sni(struct pki_set *set, const char *host, size_t group,
		     unsigned line)
{
	set->sni = xrealloc(set->sni, (set->n_sni + 1) * sizeof(*set->sni));
	set->sni[set->n_sni] = (struct pki_sni){ xstrdup(host), group, line };
	str_lower(set->sni[set->n_sni].host);
	set->n_sni++;
}

void pki_set_free(struct pki_set **setp)
{
	struct pki_set *set = *setp;

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n_entries; i++) {
		struct pki_set_entry *e = &set->entries[i];
		free(e->name);
		free(e->error);
		free(e->setting);
		pki_pair_free(&e->pair);
	}
	for (size_t i = 0; i < set->n_sni; i++)
		free(set->sni[i].host);
	free(set->entries);
	free(set->groups);
	free(set->sni);
	free(set->config_path);
	free(set->hostname);
	x_free(setp);
}

/* ---- loading --------------------------------------------------------- */

struct load {
	struct pki_set *set;
	const struct config *cfg;
	time_t now;
	pki_finding_fn *fn;
	void *context;
	unsigned errors;
};

/* Count the errors of pki_pair_check and pass every finding on. */
static void load_finding(const struct pki_finding *f, void *context)
{
	struct load *l = context;

	if (f->severity == PKI_ERROR)
		l->errors++;
	if (l->fn != NULL)
		l->fn(f, l->context);
}

/* The entry of pair name, loaded when the set does not have it yet. */
static size_t load_entry(struct load *l, const char *name, const char *setting,
			 unsigned line)
{
	struct pki_pair *pair = NULL;
	const char *error = NULL;
	size_t idx;

	if (pki_set_find_entry(l->set, name, &idx))
		return idx;
	if (pki_pair_load(l->cfg->certs_dir, name, &pair, &error) < 0) {
		struct pki_finding f = {
			.severity = PKI_ERROR, .tag = "unusable",
			.file = pki_set_where(l->set, line),
		};
		f.text = errfmt("%s: pair '%s' cannot be used: %s", setting,
				name, error);
		idx = pki_set_add_entry(l->set, name, NULL, error, setting, line);
		load_finding(&f, l);
		return idx;
	}
	idx = pki_set_add_entry(l->set, name, pair, NULL, setting, line);
	pki_pair_check(pair, NULL, l->now, load_finding, l);
	return idx;
}

/* The group of one pair list of the config. */
static size_t load_group(struct load *l, char *const *names, size_t n,
			 const char *setting, unsigned line)
{
	size_t idx[PKI_GROUP_MAX];

	for (size_t i = 0; i < n; i++)
		idx[i] = load_entry(l, names[i], setting, line);
	return pki_set_add_group(l->set, idx, n);
}

unsigned pki_set_load(const struct config *cfg, time_t now,
		      pki_finding_fn *fn, void *context, struct pki_set **set_r)
{
	struct load l = { .cfg = cfg, .now = now, .fn = fn, .context = context };

	l.set = pki_set_new(cfg->path, cfg->hostname,
			    config_line(cfg, "", "hostname"),
			    config_line(cfg, "", "certificate"));
	load_group(&l, cfg->certificates, cfg->n_certificates, "certificate",
		   l.set->certificate_line);
	for (size_t i = 0; i < cfg->n_sni; i++) {
		const struct config_sni *s = &cfg->sni[i];
		char *setting = xasprintf("[sni] %s", s->host);
		size_t g = load_group(&l, s->pairs, s->n_pairs, setting, s->line);
		pki_set_add_sni(l.set, s->host, g, s->line);
		free(setting);
	}
	*set_r = l.set;
	return l.errors;
}

const char *pki_set_where(const struct pki_set *set, unsigned line)
{
	const char *path = set->config_path != NULL ? set->config_path :
		"(defaults)";

	return line > 0 ? errfmt("%s:%u", path, line) : errfmt("%s", path);
}

/* ---- selection ------------------------------------------------------- */

static bool is_wildcard(const char *name)
{
	return name[0] == '*';
}

unsigned pki_group_covers(const struct pki_set *set, size_t group,
			  const char *name, unsigned *loaded_r)
{
	const struct pki_group *g = &set->groups[group];
	unsigned covered = 0, loaded = 0;

	for (size_t i = 0; i < g->n_entries; i++) {
		const struct pki_pair *pair = set->entries[g->entries[i]].pair;
		if (pair == NULL)
			continue;
		loaded |= 1u << i;
		if (pki_cert_covers_name(pair->cert, name, NULL))
			covered |= 1u << i;
	}
	if (loaded_r != NULL)
		*loaded_r = loaded;
	return covered;
}

void pki_set_select(const struct pki_set *set, const char *host,
		    struct pki_selection *sel_r)
{
	*sel_r = (struct pki_selection){ 0, PKI_MATCH_DEFAULT, NULL };
	if (host == NULL || *host == '\0')
		return;
	for (size_t i = 0; i < set->n_sni; i++) {
		if (pki_name_eq(set->sni[i].host, host)) {
			*sel_r = (struct pki_selection){
				set->sni[i].group, PKI_MATCH_EXACT, &set->sni[i],
			};
			return;
		}
	}
	for (size_t i = 0; i < set->n_sni; i++) {
		const struct pki_sni *s = &set->sni[i];
		unsigned loaded, covered;

		if (!is_wildcard(s->host) || !pki_host_match(s->host, host))
			continue;
		/* As far as the certificates allow: a host the wildcard's
		 * pairs do not cover is better off with the default. */
		covered = pki_group_covers(set, s->group, host, &loaded);
		if (loaded != 0 && covered == loaded) {
			*sel_r = (struct pki_selection){
				s->group, PKI_MATCH_WILDCARD, s,
			};
			return;
		}
	}
}

/* ---- configured names ------------------------------------------------ */

static void name_status(const struct pki_set *set, const char *name,
			const char *setting, unsigned line,
			struct pki_name_status *st)
{
	st->name = name;
	st->setting = setting;
	st->line = line;
	pki_set_select(set, name, &st->sel);
	st->covered = pki_group_covers(set, st->sel.group, name, &st->loaded);
}

size_t pki_set_names(const struct pki_set *set,
		     struct pki_name_status **names_r)
{
	struct pki_name_status *names = xcalloc(set->n_sni + 1, sizeof(*names));
	size_t n = 0;

	if (set->hostname != NULL)
		name_status(set, set->hostname, "hostname", set->hostname_line,
			    &names[n++]);
	for (size_t i = 0; i < set->n_sni; i++) {
		if (set->hostname != NULL &&
		    pki_name_eq(set->sni[i].host, set->hostname))
			continue;
		name_status(set, set->sni[i].host, "[sni]", set->sni[i].line,
			    &names[n++]);
	}
	*names_r = names;
	return n;
}

bool pki_name_uncovered(const struct pki_name_status *st)
{
	/* loaded 0: not uncovered (its load error is reported). */
	return (st->covered & st->loaded) != st->loaded;
}

size_t pki_set_uncovered(const struct pki_set *set,
			 struct pki_name_status **names_r)
{
	struct pki_name_status *names;
	size_t n = pki_set_names(set, &names), kept = 0;

	for (size_t i = 0; i < n; i++) {
		if (pki_name_uncovered(&names[i]))
			names[kept++] = names[i];
	}
	*names_r = names;
	return kept;
}
