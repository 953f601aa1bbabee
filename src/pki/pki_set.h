/* pki_set.h — every pair the config names, and which of them serves a name.
 *
 * The config names pairs in two places: `certificate = mail, mail-ec` (the
 * default: one RSA and one ECDSA pair for the same names, served together)
 * and [sni] (`mail.example.org = org-cert`, `*.example.net = net`). A set
 * holds:
 *
 *   entries  every pair named, each loaded once however often it is named;
 *            an entry whose files could not be loaded has pair NULL and the
 *            reason in error.
 *   groups   the pair lists served together, each becoming one TLS context
 *            (at most one pair per key type: OpenSSL keeps one certificate
 *            per type and picks by the client's signature algorithms).
 *            groups[0] is `certificate`; [sni] entries naming the same
 *            list share a group.
 *   sni      the [sni] names, each pointing at its group.
 *
 * Selection (pki_set_select) follows the order a client's SNI name is
 * looked up: an [sni] entry of exactly that name; else a wildcard entry
 * (RFC 6125 6.4.3: "*.example.org" stands for one left-most label) whose
 * pairs' certificates cover the name; else the default. It reads the set
 * only, allocates nothing that outlives the call and may run in a TLS
 * callback on any thread.
 *
 * Life cycle: pki_set_load() at start and for a reload; pki_set_check() for
 * what concerns the set as a whole (configured names no pair covers, two
 * pairs of one key type in a group); on a reload pki_set_reload() keeps each
 * running pair whose replacement is refused. A set handed to the server is
 * not changed again: a reload builds a new set and swaps the pointer. */
#ifndef SEALPOST_PKI_SET_H
#define SEALPOST_PKI_SET_H

#include "conf/config.h"
#include "pki/pki.h"

/* Pairs served together: one per key type a TLS server can use. */
#define PKI_GROUP_MAX CONFIG_CERTIFICATES_MAX

struct pki_set_entry {
	char *name;
	struct pki_pair *pair;   /* NULL: not loadable, see error */
	char *error;             /* one line naming the file, or NULL */
	char *setting;           /* where the config first names it:
				  * "certificate", "[sni] mail.example.org" */
	unsigned line;           /* ... on this line; 0: the default */
	bool kept;               /* pki_set_reload(): the running pair, kept
				  * because its replacement was refused */
};

struct pki_group {
	size_t entries[PKI_GROUP_MAX];   /* into set->entries, config order */
	size_t n_entries;
};

struct pki_sni {
	char *host;              /* lower case; "*.example.org": a wildcard */
	size_t group;            /* into set->groups */
	unsigned line;
};

struct pki_set {
	char *config_path;       /* for messages; NULL: built-in defaults */
	char *hostname;          /* a configured name the default must cover */
	unsigned hostname_line;
	unsigned certificate_line;
	struct pki_set_entry *entries;
	size_t n_entries;
	struct pki_group *groups;   /* groups[0]: `certificate` */
	size_t n_groups;
	struct pki_sni *sni;        /* file order */
	size_t n_sni;
	size_t n_failed;            /* entries with pair NULL */
};

/* ---- building ------------------------------------------------------- */

/* Load every pair cfg names from cfg->certs_dir as pki_pair_load() does,
 * each once. A pair that cannot be loaded is kept as an entry with pair
 * NULL and reported as a PKI_ERROR finding naming the config line that
 * names it; each loaded pair is judged by pki_pair_check() (no host: names
 * are pki_set_check's business). fn may be NULL. Always builds the set;
 * returns the number of PKI_ERROR findings (a server refuses to start when
 * (*set_r)->n_failed > 0, and logs the rest). */
unsigned pki_set_load(const struct config *cfg, time_t now,
		      pki_finding_fn *fn, void *context, struct pki_set **set_r);

/* The pieces pki_set_load() is made of, for callers that hold pairs
 * already (tests, a server building from memory). */
struct pki_set *pki_set_new(const char *config_path, const char *hostname,
			    unsigned hostname_line, unsigned certificate_line);
/* Add an entry; takes pair (may be NULL, then error says why). Returns its
 * index. The name must not be in the set yet. */
size_t pki_set_add_entry(struct pki_set *set, const char *name,
			 struct pki_pair *pair, const char *error,
			 const char *setting, unsigned line);
bool pki_set_find_entry(const struct pki_set *set, const char *name,
			size_t *idx_r);
/* The group of these entries (1..PKI_GROUP_MAX), added unless the same
 * list exists. The first group added is the default. */
size_t pki_set_add_group(struct pki_set *set, const size_t *entries, size_t n);
void pki_set_add_sni(struct pki_set *set, const char *host, size_t group,
		     unsigned line);
void pki_set_free(struct pki_set **set);
/* "CONFIG:LINE" (or the config path alone for line 0) for findings about
 * the config (errfmt() text). */
const char *pki_set_where(const struct pki_set *set, unsigned line);

/* ---- selection (pure) ----------------------------------------------- */

enum pki_match {
	PKI_MATCH_DEFAULT,    /* no SNI, or no [sni] entry applies */
	PKI_MATCH_EXACT,      /* the [sni] entry of this very name */
	PKI_MATCH_WILDCARD,   /* a wildcard entry whose pairs cover the name */
};

struct pki_selection {
	size_t group;                /* into set->groups; 0: the default */
	enum pki_match match;
	const struct pki_sni *sni;   /* the entry that applied, or NULL */
};

/* Which group serves host (the client's SNI name; NULL or "" for none).
 * Case-insensitive, a trailing dot ignored. */
void pki_set_select(const struct pki_set *set, const char *host,
		    struct pki_selection *sel_r);
/* Bit i set: pair i of the group is loaded (*loaded_r) / covers name (the
 * result; a wildcard name is covered only by the same wildcard, see
 * pki_cert_covers_name). */
unsigned pki_group_covers(const struct pki_set *set, size_t group,
			  const char *name, unsigned *loaded_r);

/* A configured name and how it is served. */
struct pki_name_status {
	const char *name;            /* borrowed from the set */
	const char *setting;         /* "hostname" or "[sni]" */
	unsigned line;
	struct pki_selection sel;
	unsigned loaded, covered;    /* as pki_group_covers() */
};
/* The configured names, `hostname` then each [sni] key (each name once),
 * and how each is served. Returns the count; *names_r is a new array
 * (free() it). */
size_t pki_set_names(const struct pki_set *set,
		     struct pki_name_status **names_r);
/* Not every loaded pair serving the name covers it (none, or only the RSA
 * or only the ECDSA pair). A name whose pairs all failed to load is not
 * counted here: its load error is reported already. */
bool pki_name_uncovered(const struct pki_name_status *status);
/* Only the uncovered names of pki_set_names(). */
size_t pki_set_uncovered(const struct pki_set *set,
			 struct pki_name_status **names_r);

/* ---- checks (pki_set_check.c) --------------------------------------- */

/* What concerns the set as a whole, through fn: two pairs of one key type
 * in a group (PKI_ERROR: OpenSSL would serve only the last), an RSA and an
 * ECDSA pair of a group that cover different names (warning), and every
 * configured name its pairs do not cover (warning, tag "not covered").
 * Returns the number of PKI_ERROR findings. */
unsigned pki_set_check(const struct pki_set *set, pki_finding_fn *fn,
		       void *context);

/* Reload: next was just loaded (pki_set_load, fn NULL) and current is the
 * set being served. For each entry of next:
 *  - the same files as current's pair of that name: nothing to report;
 *  - a new pair for a name current serves: judged by pki_pair_validate()
 *    (and refused when another pair of one of its groups has its key
 *    type); refused, or not loadable at all (truncated, half-written,
 *    unreadable), current's pair stays in next (entry->kept) and one
 *    PKI_ERROR finding names the file and the reason;
 *  - a name current does not serve: judged by pki_pair_check(), or one
 *    PKI_ERROR finding when it cannot be loaded.
 * Returns the number of refused replacements. */
unsigned pki_set_reload(struct pki_set *next, const struct pki_set *current,
			time_t now, pki_finding_fn *fn, void *context);

#endif
