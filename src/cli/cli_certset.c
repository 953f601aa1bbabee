/* cli_certset.c — which configured pair serves which name, as check-config
 * and `cert check` print it. The routing itself is pki_set_select(); this
 * file only words it. */
#include "cli/cli_cert.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

/* "default", "[sni] line 5", "[sni] *.example.org, line 6" (errfmt()). */
static const char *how_text(const struct pki_selection *sel)
{
	switch (sel->match) {
	case PKI_MATCH_EXACT:
		return errfmt("[sni] line %u", sel->sni->line);
	case PKI_MATCH_WILDCARD:
		return errfmt("[sni] %s, line %u", sel->sni->host, sel->sni->line);
	case PKI_MATCH_DEFAULT:
		break;
	}
	return "default";
}

/* "mail, mail-ec" for group g; with mask, only the pairs whose bit is set. */
static void group_names(const struct pki_set *set, size_t g, unsigned mask,
			struct buf *out)
{
	const struct pki_group *grp = &set->groups[g];
	bool first = true;

	for (size_t i = 0; i < grp->n_entries; i++) {
		if ((mask & (1u << i)) == 0)
			continue;
		buf_printf(out, "%s%s", first ? "" : ", ",
			   set->entries[grp->entries[i]].name);
		first = false;
	}
}

const char *cli_serving_text(const struct pki_set *set,
			     const struct pki_name_status *st)
{
	struct buf b = { 0 };
	const char *text;

	group_names(set, st->sel.group, ~0u, &b);
	buf_printf(&b, " (%s%s", strcmp(st->setting, "hostname") == 0 ?
		   "hostname; " : "", how_text(&st->sel));
	if (st->loaded != 0 && (st->covered & st->loaded) == 0) {
		buf_printf(&b, "; covered by none");
	} else if (pki_name_uncovered(st)) {
		buf_printf(&b, "; not covered by ");
		group_names(set, st->sel.group, st->loaded & ~st->covered, &b);
	}
	buf_printf(&b, ")");
	text = errfmt("%s", b.data);
	buf_free(&b);
	return text;
}

void cli_print_serving(const struct pki_set *set)
{
	struct pki_name_status *names;
	size_t n = pki_set_names(set, &names);

	for (size_t i = 0; i < n; i++)
		printf("serves      %s -> %s\n", names[i].name,
		       cli_serving_text(set, &names[i]));
	free(names);
}

static bool group_has(const struct pki_set *set, size_t g, size_t entry)
{
	const struct pki_group *grp = &set->groups[g];

	for (size_t i = 0; i < grp->n_entries; i++) {
		if (grp->entries[i] == entry)
			return true;
	}
	return false;
}

/* A "serves" line for name when pair covers it, else a warning (unless
 * name is --host: pki_pair_check has reported it as an error). Returns the
 * number of warnings (0 or 1). */
static unsigned serves_line(const struct pki_pair *pair, const char *name,
			    const char *how, const char *where, bool is_host)
{
	const char *matched;
	char *sans;

	if (pki_cert_covers_name(pair->cert, name, &matched)) {
		printf("serves   %s (%s; %s)\n", name, how, matched);
		return 0;
	}
	if (is_host)
		return 0;
	sans = pki_cert_sans(pair->cert);
	fflush(stdout);
	fprintf(stderr, "sealpost: warning: %s: %s is served by %s, which does "
		"not cover it (names: %s)\n", where, name, pair->name,
		*sans != '\0' ? sans : "none");
	fflush(stderr);
	free(sans);
	return 1;
}

/* The pair serving host is another one: say which. */
static unsigned served_by_other(const struct pki_set *set,
				const struct pki_pair *pair, const char *host,
				const struct pki_selection *sel)
{
	struct buf b = { 0 };

	group_names(set, sel->group, ~0u, &b);
	fflush(stdout);
	fprintf(stderr, "sealpost: warning: %s is served by %s (%s), not by %s\n",
		host, b.data, how_text(sel), pair->name);
	fflush(stderr);
	buf_free(&b);
	return 1;
}

unsigned cli_check_serving(const struct pki_set *set,
			   const struct pki_pair *pair, const char *host)
{
	struct pki_name_status *names;
	size_t n = pki_set_names(set, &names), idx;
	bool configured = pki_set_find_entry(set, pair->name, &idx);
	bool host_done = host == NULL;
	unsigned warnings = 0;

	for (size_t i = 0; configured && i < n; i++) {
		const struct pki_name_status *st = &names[i];
		const char *how;
		bool is_host;

		if (!group_has(set, st->sel.group, idx))
			continue;
		how = strcmp(st->setting, "hostname") == 0 ?
			errfmt("hostname, %s", how_text(&st->sel)) :
			how_text(&st->sel);
		is_host = host != NULL && str_ieq(st->name, host);
		warnings += serves_line(pair, st->name, how,
					pki_set_where(set, st->line), is_host);
		host_done = host_done || is_host;
	}
	free(names);
	if (!host_done) {
		struct pki_selection sel;
		pki_set_select(set, host, &sel);
		if (configured && group_has(set, sel.group, idx))
			serves_line(pair, host, errfmt("--host, %s", how_text(&sel)),
				    "--host", true);
		else
			warnings += served_by_other(set, pair, host, &sel);
	}
	if (!configured)
		printf("serves   no configured name (%s is in neither "
		       "certificate nor [sni])\n", pair->name);
	return warnings;
}
