/* cmd_list.c — LIST and LSUB (RFC 3501 6.3.8, 6.3.9), with the
 * LIST-EXTENDED forms (RFC 5258: selection and return options, several
 * patterns), CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154) attributes,
 * and LIST-STATUS (RFC 5819: RETURN (STATUS (items)), a STATUS response
 * after each selectable mailbox, read in the same job).
 *
 * The folder tree and the subscriptions are read in a job, which also
 * matches and renders the untagged replies; done() only sends them.
 * Names are the store's mUTF-7 names, sent as atoms, quoted strings or
 * literals as their bytes need (imap_append_astring). */
#include "imap/imap.h"
#include "imap/imap_folder.h"
#include "imap/imap_match.h"
#include "imap/imap_status.h"
#include "imap/imap_util.h"
#include "store/maildir.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* RFC 5258 selection options. */
enum list_select {
	SEL_SUBSCRIBED = 1 << 0,
	SEL_REMOTE = 1 << 1,            /* no remote mailboxes here: ignored */
	SEL_RECURSIVEMATCH = 1 << 2,
	SEL_SPECIAL_USE = 1 << 3,       /* RFC 6154 5.1 */
};

/* RFC 5258 return options. */
enum list_return {
	RET_SUBSCRIBED = 1 << 0,
	RET_CHILDREN = 1 << 1,          /* sent anyway: we always know */
	RET_SPECIAL_USE = 1 << 2,       /* sent anyway (RFC 6154 allows it) */
	RET_STATUS = 1 << 3,            /* RFC 5819 LIST-STATUS */
};

struct option_name {
	const char *name;
	unsigned bit;
};

static const struct option_name select_options[] = {
	{ "SUBSCRIBED", SEL_SUBSCRIBED }, { "REMOTE", SEL_REMOTE },
	{ "RECURSIVEMATCH", SEL_RECURSIVEMATCH }, { "SPECIAL-USE", SEL_SPECIAL_USE },
};
static const struct option_name return_options[] = {
	{ "SUBSCRIBED", RET_SUBSCRIBED }, { "CHILDREN", RET_CHILDREN },
	{ "SPECIAL-USE", RET_SPECIAL_USE },
};

/* Attributes of one reply. */
enum list_attr {
	ATTR_NOSELECT = 1 << 0,
	ATTR_NONEXISTENT = 1 << 1,
	ATTR_SUBSCRIBED = 1 << 2,
	ATTR_HAS_CHILDREN = 1 << 3,
	ATTR_HAS_NO_CHILDREN = 1 << 4,
};

struct list_entry {
	char *name;
	unsigned attrs;
	const char *special_use;
	bool childinfo;             /* CHILDINFO ("SUBSCRIBED") */
};

struct list_job {
	struct session_job job;
	struct imap_session *is;
	char *root;
	bool lsub;
	bool extended;              /* LIST-EXTENDED syntax was used */
	bool empty_mailbox;         /* the mailbox argument was "" */
	bool utf8;                  /* names in UTF-8 (IMAP4rev2) */
	unsigned select, ret;
	struct imap_pattern *patterns;
	size_t n_patterns;
	struct imap_status_request status;      /* RET_STATUS */

	/* work's results */
	struct maildir_folder_info *folders;
	size_t n_folders;
	char **subs;                /* sorted */
	size_t n_subs;
	struct list_entry *entries;
	size_t n_entries, cap_entries;
	struct buf out;             /* the untagged replies */
	struct imap_store_result r;
};

/* ---- lookups ------------------------------------------------------------ */

/* The store's order: INBOX first, then by bytes. */
static int cmp_names(const char *a, const char *b)
{
	bool ai = strcmp(a, "INBOX") == 0, bi = strcmp(b, "INBOX") == 0;
	if (ai != bi)
		return ai ? -1 : 1;
	return strcmp(a, b);
}

static const struct maildir_folder_info *find_folder(const struct list_job *lj,
						     const char *name)
{
	size_t lo = 0, hi = lj->n_folders;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_names(lj->folders[mid].name, name);
		if (c == 0)
			return &lj->folders[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_subscribed(const struct list_job *lj, const char *name)
{
	return lj->n_subs > 0 &&
		bsearch(&name, lj->subs, lj->n_subs, sizeof(*lj->subs), cmp_str) != NULL;
}

/* A name that can be selected: listed, and not only a parent of others. */
static bool selectable(const struct maildir_folder_info *f)
{
	return f != NULL && !(f->flags & MAILDIR_LIST_NOSELECT);
}

static bool any_match(const struct list_job *lj, const char *name,
		      bool percent_only)
{
	for (size_t i = 0; i < lj->n_patterns; i++) {
		if (percent_only && !imap_pattern_ends_with_percent(&lj->patterns[i]))
			continue;
		if (imap_pattern_match(&lj->patterns[i], name))
			return true;
	}
	return false;
}

static void add_entry(struct list_job *lj, const char *name, unsigned attrs,
		      const char *special_use, bool childinfo)
{
	if (lj->n_entries == lj->cap_entries) {
		lj->cap_entries = lj->cap_entries ? lj->cap_entries * 2 : 32;
		lj->entries = xrealloc(lj->entries,
				       lj->cap_entries * sizeof(*lj->entries));
	}
	lj->entries[lj->n_entries++] = (struct list_entry){
		.name = xstrdup(name), .attrs = attrs,
		.special_use = special_use, .childinfo = childinfo };
}

/* ---- the three selections ---------------------------------------------- */

static unsigned children_attrs(const struct maildir_folder_info *f)
{
	if (f == NULL)
		return 0;
	return (f->flags & MAILDIR_LIST_HAS_CHILDREN) ? ATTR_HAS_CHILDREN :
		ATTR_HAS_NO_CHILDREN;
}

/* Every folder (and missing parent) that matches. */
static void select_all(struct list_job *lj)
{
	for (size_t i = 0; i < lj->n_folders; i++) {
		const struct maildir_folder_info *f = &lj->folders[i];
		if (!any_match(lj, f->name, false) ||
		    ((lj->select & SEL_SPECIAL_USE) && f->special_use == NULL))
			continue;
		unsigned attrs = children_attrs(f);
		if (f->flags & MAILDIR_LIST_NOSELECT)
			attrs |= lj->extended ? ATTR_NONEXISTENT : ATTR_NOSELECT;
		if ((lj->ret & RET_SUBSCRIBED) && is_subscribed(lj, f->name))
			attrs |= ATTR_SUBSCRIBED;
		add_entry(lj, f->name, attrs, f->special_use, false);
	}
}

/* Is there a subscribed name below name that no pattern matches? The
 * names below it sort together, right after name + "/". */
static bool has_unmatched_subscribed_child(const struct list_job *lj,
					   const char *name)
{
	char *prefix = xasprintf("%s%c", name, MAILDIR_SEP);
	size_t len = strlen(prefix), lo = 0, hi = lj->n_subs;
	bool found = false;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(lj->subs[mid], prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; !found && i < lj->n_subs &&
	     strncmp(lj->subs[i], prefix, len) == 0; i++)
		found = !any_match(lj, lj->subs[i], false);
	free(prefix);
	return found;
}

/* RFC 5258 SUBSCRIBED selection: subscribed names, existing or not; with
 * RECURSIVEMATCH also their matching parents, with CHILDINFO. */
static void select_subscribed(struct list_job *lj)
{
	size_t n = lj->n_subs;
	char **cand = xcalloc(n + 1, sizeof(*cand));

	for (size_t i = 0; i < n; i++)
		cand[i] = xstrdup(lj->subs[i]);
	for (size_t i = 0; (lj->select & SEL_RECURSIVEMATCH) && i < lj->n_subs; i++) {
		for (char *p = strchr(lj->subs[i], MAILDIR_SEP); p != NULL;
		     p = strchr(p + 1, MAILDIR_SEP)) {
			cand = xrealloc(cand, (n + 2) * sizeof(*cand));
			cand[n++] = xstrndup(lj->subs[i], (size_t)(p - lj->subs[i]));
			cand[n] = NULL;
		}
	}
	qsort(cand, n, sizeof(*cand), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && strcmp(cand[i - 1], cand[i]) == 0) ||
		    !any_match(lj, cand[i], false))
			continue;
		bool subscribed = is_subscribed(lj, cand[i]);
		bool childinfo = (lj->select & SEL_RECURSIVEMATCH) &&
			has_unmatched_subscribed_child(lj, cand[i]);
		const struct maildir_folder_info *f = find_folder(lj, cand[i]);
		const char *special = f != NULL ? f->special_use : NULL;
		if ((!subscribed && !childinfo) ||
		    ((lj->select & SEL_SPECIAL_USE) && special == NULL))
			continue;
		unsigned attrs = children_attrs(f) | (subscribed ? ATTR_SUBSCRIBED : 0);
		if (!selectable(f))
			attrs |= ATTR_NONEXISTENT;
		add_entry(lj, cand[i], attrs, special, childinfo);
	}
	strv_free(&cand);
}

/* LSUB (RFC 3501 6.3.9): subscribed names, \Noselect when they cannot be
 * selected (gone, or only a parent); with a trailing '%', the unsubscribed
 * parents of deeper subscribed names, as \Noselect. */
static void select_lsub(struct list_job *lj)
{
	for (size_t i = 0; i < lj->n_subs; i++) {
		const char *s = lj->subs[i];
		if (any_match(lj, s, false))
			add_entry(lj, s, selectable(find_folder(lj, s)) ? 0 :
				  ATTR_NOSELECT, NULL, false);
		for (const char *p = strchr(s, MAILDIR_SEP); p != NULL;
		     p = strchr(p + 1, MAILDIR_SEP)) {
			char *parent = xstrndup(s, (size_t)(p - s));
			if (!is_subscribed(lj, parent) && any_match(lj, parent, true))
				add_entry(lj, parent, ATTR_NOSELECT, NULL, false);
			free(parent);
		}
	}
}

/* ---- rendering ------------------------------------------------------------ */

static int cmp_entry(const void *a, const void *b)
{
	return cmp_names(((const struct list_entry *)a)->name,
			 ((const struct list_entry *)b)->name);
}

static void render_entry(struct buf *b, const char *cmd, bool utf8,
			 const struct list_entry *e)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ ATTR_NOSELECT, "\\Noselect" }, { ATTR_NONEXISTENT, "\\NonExistent" },
		{ ATTR_SUBSCRIBED, "\\Subscribed" },
		{ ATTR_HAS_CHILDREN, "\\HasChildren" },
		{ ATTR_HAS_NO_CHILDREN, "\\HasNoChildren" },
	};
	const char *sp = "";

	buf_printf(b, "* %s (", cmd);
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		if (e->attrs & names[i].bit) {
			buf_printf(b, "%s%s", sp, names[i].name);
			sp = " ";
		}
	}
	if (e->special_use != NULL)
		buf_printf(b, "%s%s", sp, e->special_use);
	buf_printf(b, ") \"%c\" ", MAILDIR_SEP);
	imap_append_mailbox(b, e->name, utf8);
	if (e->childinfo)
		buf_printf(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_append(b, "\r\n", 2);
}

/* RFC 5819: "* STATUS" right after the LIST reply of a mailbox that can
 * be selected; one whose counts cannot be read (deleted meanwhile) gets
 * none. */
static void render_status(struct list_job *lj, const struct list_entry *e)
{
	struct maildir_status st;
	const char *error = NULL;

	if (e->attrs & (ATTR_NOSELECT | ATTR_NONEXISTENT) ||
	    !selectable(find_folder(lj, e->name)))
		return;
	if (imap_status_read(lj->root, e->name, &st, &error) < 0)
		return;
	buf_append(&lj->out, "* ", 2);
	imap_status_render(&lj->out, e->name, lj->utf8, &lj->status, &st);
	buf_append(&lj->out, "\r\n", 2);
}

/* Sort, drop repeats (a name reached twice), render into lj->out. */
static void render(struct list_job *lj)
{
	const char *cmd = lj->lsub ? "LSUB" : "LIST";

	if (lj->n_entries > 0)
		qsort(lj->entries, lj->n_entries, sizeof(*lj->entries), cmp_entry);
	for (size_t i = 0; i < lj->n_entries; i++) {
		if (i > 0 && strcmp(lj->entries[i - 1].name, lj->entries[i].name) == 0)
			continue;
		render_entry(&lj->out, cmd, lj->utf8, &lj->entries[i]);
		if (lj->ret & RET_STATUS)
			render_status(lj, &lj->entries[i]);
	}
}

/* ---- the job ------------------------------------------------------------- */

static void list_work(struct session_job *job)
{
	struct list_job *lj = (struct list_job *)job;
	const char *error = NULL;
	bool need_subs = lj->lsub || (lj->select & SEL_SUBSCRIBED) ||
		(lj->ret & RET_SUBSCRIBED);
	int ret = maildir_folder_list(lj->root, &lj->folders, &lj->n_folders, &error);

	if (ret == 0 && need_subs) {
		ret = maildir_subscriptions(lj->root, &lj->subs, &error);
		lj->n_subs = ret == 0 ? strv_len(lj->subs) : 0;
	}
	imap_store_result_set(&lj->r, ret, error);
	if (ret < 0)
		return;
	buf_append(&lj->out, "", 0);
	if (lj->lsub)
		select_lsub(lj);
	else if (lj->select & SEL_SUBSCRIBED)
		select_subscribed(lj);
	else
		select_all(lj);
	render(lj);
}

static void list_job_free(struct list_job *lj)
{
	for (size_t i = 0; i < lj->n_patterns; i++)
		imap_pattern_free(&lj->patterns[i]);
	free(lj->patterns);
	for (size_t i = 0; i < lj->n_entries; i++)
		free(lj->entries[i].name);
	free(lj->entries);
	maildir_folder_list_free(&lj->folders, lj->n_folders);
	strv_free(&lj->subs);
	buf_free(&lj->out);
	free(lj->root);
	free(lj);
}

static void list_done(struct session_job *job, bool live)
{
	struct list_job *lj = (struct list_job *)job;
	struct imap_session *is = lj->is;

	if (!live) {
		/* nobody to answer */
	} else if (lj->r.ret < 0) {
		imap_reply_store_error(is, lj->lsub ? "lsub" : "list", &lj->r);
	} else {
		session_write(&is->s, lj->out.data, lj->out.len);
		imap_command_done(is, "OK", NULL, "%s completed",
				  lj->lsub ? "Lsub" : "List");
	}
	list_job_free(lj);
}

/* ---- arguments ----------------------------------------------------------- */

/* An option list "(A B ...)" of known names into *bits_r. */
/* One known option name into *bits_r. */
static bool parse_option(const struct imap_arg *item,
			 const struct option_name *known, size_t n_known,
			 unsigned *bits_r)
{
	for (size_t k = 0; k < n_known; k++) {
		if (imap_arg_atom_equals(item, known[k].name)) {
			*bits_r |= known[k].bit;
			return true;
		}
	}
	return false;
}

static bool parse_options(const struct imap_arg *arg,
			  const struct option_name *known, size_t n_known,
			  unsigned *bits_r)
{
	const struct imap_arg *items;
	size_t count;

	if (!imap_arg_get_list(arg, &items, &count))
		return false;
	for (size_t i = 0; i < count; i++) {
		if (!parse_option(&items[i], known, n_known, bits_r))
			return false;
	}
	return true;
}

/* RETURN (options): RFC 5258's, and RFC 5819's STATUS (items). */
static bool parse_return(struct list_job *lj, const struct imap_arg *arg)
{
	const struct imap_arg *items, *status;
	size_t count, n_status;

	if (!imap_arg_get_list(arg, &items, &count))
		return false;
	for (size_t i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&items[i], "STATUS")) {
			if (i + 1 == count ||
			    !imap_arg_get_list(&items[i + 1], &status, &n_status) ||
			    !imap_status_parse(status, n_status, &lj->status))
				return false;
			lj->ret |= RET_STATUS;
			i++;
			continue;
		}
		if (!parse_option(&items[i], return_options, N_ELEMENTS(return_options),
				  &lj->ret))
			return false;
	}
	return true;
}

static void add_pattern(struct list_job *lj, const char *ref, const char *mailbox)
{
	lj->patterns = xrealloc(lj->patterns,
				(lj->n_patterns + 1) * sizeof(*lj->patterns));
	imap_pattern_init(&lj->patterns[lj->n_patterns++], ref, mailbox, MAILDIR_SEP);
}

/* The mailbox argument: one pattern, or (RFC 5258) a list of them. */
static bool parse_patterns(struct list_job *lj, const char *ref,
			   const struct imap_arg *arg)
{
	const struct imap_arg *items;
	const char *pattern;
	size_t count, len;

	if (arg->type != IMAP_ARG_LIST) {
		if (!imap_arg_get_list_mailbox(arg, &pattern, &len) ||
		    strlen(pattern) != len)
			return false;
		lj->empty_mailbox = len == 0;
		add_pattern(lj, ref, pattern);
		return true;
	}
	lj->extended = true;
	if (!imap_arg_get_list(arg, &items, &count) || count == 0)
		return false;
	for (size_t i = 0; i < count; i++) {
		if (!imap_arg_get_list_mailbox(&items[i], &pattern, &len) ||
		    strlen(pattern) != len)
			return false;
		add_pattern(lj, ref, pattern);
	}
	return true;
}

/* [ "(" selection ")" ] reference patterns [ RETURN "(" options ")" ] */
static bool parse_list_args(struct list_job *lj, const struct imap_arg *args,
			    size_t n)
{
	const char *ref;
	size_t i = 0, len;

	if (!lj->lsub && n > 0 && args[0].type == IMAP_ARG_LIST) {
		lj->extended = true;
		if (!parse_options(&args[0], select_options,
				   N_ELEMENTS(select_options), &lj->select))
			return false;
		i++;
	}
	if (i + 2 > n || !imap_arg_get_list_mailbox(&args[i], &ref, &len) ||
	    strlen(ref) != len || (lj->lsub && args[i + 1].type == IMAP_ARG_LIST) ||
	    !parse_patterns(lj, ref, &args[i + 1]))
		return false;
	i += 2;
	if (!lj->lsub && i + 2 == n && imap_arg_atom_equals(&args[i], "RETURN")) {
		lj->extended = true;
		if (!parse_return(lj, &args[i + 1]))
			return false;
		i += 2;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH needs a selection to recurse on. */
	if ((lj->select & SEL_RECURSIVEMATCH) &&
	    !(lj->select & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)))
		return false;
	return i == n;
}

/* RFC 3501 6.3.8: an empty mailbox name asks for the separator and the
 * root of the reference; we have one namespace, rooted at "" whatever the
 * reference (as Dovecot answers for its personal namespace). */
static bool separator_query(const struct list_job *lj)
{
	return lj->empty_mailbox && lj->select == 0;
}

static void list_or_lsub(struct imap_session *is, const struct imap_arg *args,
			 size_t n, bool lsub)
{
	struct list_job *lj = xcalloc(1, sizeof(*lj));

	lj->lsub = lsub;
	lj->utf8 = is->rev2;
	if (!parse_list_args(lj, args, n)) {
		list_job_free(lj);
		imap_command_bad(is, lsub ? "Syntax: LSUB reference mailbox" :
				 "Syntax: LIST [(options)] reference mailbox "
				 "[RETURN (options)]");
		return;
	}
	if (separator_query(lj)) {
		list_job_free(lj);
		imap_untagged(is, "%s (\\Noselect) \"%c\" \"\"", lsub ? "LSUB" : "LIST",
			      MAILDIR_SEP);
		imap_command_done(is, "OK", NULL, "%s completed", lsub ? "Lsub" : "List");
		return;
	}
	lj->job.work = list_work;
	lj->job.done = list_done;
	lj->is = is;
	lj->root = xstrdup(is->root);
	imap_job_start(is, &lj->job);
}

void cmd_list(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	list_or_lsub(is, args, n, false);
}

void cmd_lsub(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	list_or_lsub(is, args, n, true);
}
