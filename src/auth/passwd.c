/* passwd.c — the passwd file as the server reads it.
 *
 * The parsed file is an immutable, reference-counted snapshot: a sorted
 * array of {address, hash}. Lookups take a reference under a short lock
 * and hash without holding any lock; a refresh parses the new file on the
 * side and swaps the pointer. So several threads verify while another
 * reloads, and a verify always sees one whole version of the file. */
#include "auth/passwd.h"
#include "auth/auth_cache.h"
#include "auth/passwd_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "store/mailbox.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Checked for unknown users when libcrypt cannot make a fresh dummy: a
 * yescrypt hash at libxcrypt's default cost (j9T), the cost new hashes get. */
#define PASSWD_DUMMY_FALLBACK \
	"$y$j9T$NmUBPvr5WXu2JLxIhuwcb0$w1NRkLKpqUl/NYzVXx6SvWfWmfXEysts13VLEauzxz3"

struct passwd_entry {
	char *address;        /* lower case */
	char *hash;           /* crypt string, without {SCHEME} */
	unsigned line;
	struct passwd_quota quota;      /* userdb_quota_rule extra fields */
};

struct passwd_snapshot {
	unsigned refs;        /* guarded by passwd_db.snap_lock */
	struct passwd_entry *entries;  /* sorted by address, unique */
	size_t count;
};

/* What identifies one version of the file. */
struct file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct passwd_db {
	char *path;
	passwd_problem_cb *problem_cb;
	void *context;
	char *dummy_hash;

	pthread_mutex_t refresh_lock;  /* one reload at a time; guards: */
	bool loaded;
	struct file_id id;             /* of the version loaded */
	char *last_error;              /* last read failure reported */

	pthread_mutex_t snap_lock;     /* guards snap and every refs */
	struct passwd_snapshot *snap;
};

/* A problem found while parsing, reported in line order. */
struct problem {
	unsigned line;
	char *text;
};

struct load_ctx {
	const char *path;
	struct passwd_entry *entries;
	size_t count, cap;
	struct problem *problems;
	size_t n_problems, problems_cap;
};

/* ---- lines --------------------------------------------------------------- */

bool passwd_line_next(const char **pos, const char *end, const char **line_r,
		      size_t *len_r)
{
	const char *p = *pos, *nl;

	if (p >= end)
		return false;
	nl = memchr(p, '\n', (size_t)(end - p));
	*line_r = p;
	*len_r = (size_t)((nl != NULL ? nl : end) - p);
	*pos = nl != NULL ? nl + 1 : end;
	return true;
}

size_t passwd_line_trim_cr(const char *line, size_t len)
{
	/* All of them: trimming twice must change nothing, as callers trim a
	 * line and then hand it to helpers that trim again. */
	while (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

bool passwd_line_is_comment(const char *line, size_t len)
{
	size_t i = 0;
	len = passwd_line_trim_cr(line, len);
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '#';
}

size_t passwd_line_user_len(const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	return colon != NULL ? (size_t)(colon - line) : passwd_line_trim_cr(line, len);
}

/* ---- parsing ------------------------------------------------------------- */

static void problem_add(struct load_ctx *ctx, unsigned line, const char *text)
{
	if (ctx->n_problems == ctx->problems_cap) {
		ctx->problems_cap = ctx->problems_cap ? ctx->problems_cap * 2 : 8;
		ctx->problems = xrealloc(ctx->problems, ctx->problems_cap *
					 sizeof(*ctx->problems));
	}
	ctx->problems[ctx->n_problems].line = line;
	ctx->problems[ctx->n_problems++].text =
		xasprintf("%s:%u: %s", ctx->path, line, text);
}

/* One "*:storage=1G:messages=1000" rule value into q; false with
 * *error_r on a form we cannot honour. Rules for other folders ("Trash:")
 * are Dovecot's per-folder rules: ignored. */
static bool quota_rule_parse(const char *value, struct passwd_quota *q,
			     const char **error_r)
{
	if (strncmp(value, "*:", 2) != 0)
		return true;
	char *copy = xstrdup(value + 2), *save = NULL;
	bool ok = true;
	for (char *item = strtok_r(copy, ":", &save); ok && item != NULL;
	     item = strtok_r(NULL, ":", &save)) {
		if (str_has_prefix_ci(item, "storage=") || str_has_prefix_ci(item, "bytes=")) {
			ok = str_to_size(strchr(item, '=') + 1, UINT64_MAX, &q->bytes);
			q->has_bytes = ok;
		} else if (str_has_prefix_ci(item, "messages=")) {
			ok = str_to_u64(item + 9, UINT64_MAX, &q->messages);
			q->has_messages = ok;
		} else if (!str_ieq(item, "ignore") && !str_ieq(item, "noenforcing")) {
			ok = false;
		}
		if (!ok)
			*error_r = errfmt("quota rule '%s': expected *:storage=SIZE "
					  "and/or *:messages=N", value);
	}
	free(copy);
	return ok;
}

/* The extra fields after the 7th colon (Dovecot passwd-file: "key=value"
 * separated by blanks): the quota rules (userdb_quota_rule,
 * userdb_quota_rule2, ...). */
static bool extra_fields_parse(const char *line, size_t len, struct passwd_quota *q,
			       const char **error_r)
{
	const char *p = line, *end = line + len;
	bool ok = true;

	memset(q, 0, sizeof(*q));
	for (int colons = 0; colons < 7; colons++) {
		p = memchr(p, ':', (size_t)(end - p));
		if (p == NULL)
			return true;
		p++;
	}
	char *extra = xstrndup(p, (size_t)(end - p)), *save = NULL;
	for (char *f = strtok_r(extra, " \t", &save); ok && f != NULL;
	     f = strtok_r(NULL, " \t", &save)) {
		if (str_has_prefix_ci(f, "userdb_quota_rule") && strchr(f, '=') != NULL)
			ok = quota_rule_parse(strchr(f, '=') + 1, q, error_r);
	}
	free(extra);
	return ok;
}

static void entry_add(struct load_ctx *ctx, const char *address,
		      const char *hash, unsigned line)
{
	if (ctx->count == ctx->cap) {
		ctx->cap = ctx->cap ? ctx->cap * 2 : 16;
		ctx->entries = xrealloc(ctx->entries, ctx->cap * sizeof(*ctx->entries));
	}
	struct passwd_entry *e = &ctx->entries[ctx->count++];
	e->address = xstrdup(address);
	str_lower(e->address);
	e->hash = xstrdup(hash);
	e->line = line;
	memset(&e->quota, 0, sizeof(e->quota));
}

/* Parse one line (without '\n') into an entry or a problem. */
static void parse_line(struct load_ctx *ctx, unsigned lineno, const char *line,
		       size_t len)
{
	char user[ADDRESS_MAX + 1], shown[ADDRESS_MAX + 1];
	const char *error, *hash;

	len = passwd_line_trim_cr(line, len);
	if (passwd_line_is_comment(line, len))
		return;
	if (memchr(line, '\0', len) != NULL) {
		problem_add(ctx, lineno, "line holds a NUL byte");
		return;
	}
	size_t ulen = passwd_line_user_len(line, len);
	if (ulen == len) {
		problem_add(ctx, lineno, "no password field (expected "
			    "ADDRESS:{CRYPT}HASH)");
		return;
	}
	str_sanitize(shown, sizeof(shown), line, ulen);
	if (ulen > ADDRESS_MAX) {
		problem_add(ctx, lineno, errfmt("'%s...' is not a valid address", shown));
		return;
	}
	memcpy(user, line, ulen);
	user[ulen] = '\0';
	if (!mailbox_address_valid(user)) {
		problem_add(ctx, lineno, errfmt("'%s' is not a valid address", shown));
		return;
	}
	const char *field = line + ulen + 1;
	size_t flen = passwd_line_user_len(field, len - ulen - 1);
	char *password = xstrndup(field, flen);
	if (passwd_hash_parse(password, &hash, &error) < 0) {
		problem_add(ctx, lineno, errfmt("%s: %s; set a new password with "
						"'sealpost user passwd %s'",
						shown, error, shown));
	} else {
		struct passwd_quota q;
		entry_add(ctx, user, hash, lineno);
		/* A bad rule is reported; the user keeps the default limits. */
		if (!extra_fields_parse(line, len, &q, &error))
			problem_add(ctx, lineno, errfmt("%s: %s", shown, error));
		else
			ctx->entries[ctx->count - 1].quota = q;
	}
	free(password);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct passwd_entry *x = a, *y = b;
	int r = strcmp(x->address, y->address);
	return r != 0 ? r : (x->line > y->line) - (x->line < y->line);
}

static int problem_cmp(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;
	return (x->line > y->line) - (x->line < y->line);
}

/* Sort the entries; a user named twice keeps its first line. */
static void entries_dedupe(struct load_ctx *ctx)
{
	size_t out = 0;

	if (ctx->count > 1)
		qsort(ctx->entries, ctx->count, sizeof(*ctx->entries), entry_cmp);
	for (size_t i = 0; i < ctx->count; i++) {
		struct passwd_entry *e = &ctx->entries[i];
		if (out > 0 && strcmp(ctx->entries[out - 1].address, e->address) == 0) {
			problem_add(ctx, e->line, errfmt(
				"%s is already defined on line %u; this line is ignored",
				e->address, ctx->entries[out - 1].line));
			free(e->address);
			free(e->hash);
			continue;
		}
		ctx->entries[out++] = *e;
	}
	ctx->count = out;
	if (ctx->n_problems > 1)
		qsort(ctx->problems, ctx->n_problems, sizeof(*ctx->problems),
		      problem_cmp);
}

static void parse_file(struct load_ctx *ctx, const char *data, size_t len)
{
	const char *pos = data, *end = data + len, *line;
	size_t line_len;
	unsigned lineno = 0;

	while (passwd_line_next(&pos, end, &line, &line_len))
		parse_line(ctx, ++lineno, line, line_len);
	entries_dedupe(ctx);
}

/* ---- snapshots ----------------------------------------------------------- */

static void snapshot_free(struct passwd_snapshot *snap)
{
	for (size_t i = 0; i < snap->count; i++) {
		free(snap->entries[i].address);
		OPENSSL_cleanse(snap->entries[i].hash, strlen(snap->entries[i].hash));
		free(snap->entries[i].hash);
	}
	free(snap->entries);
	free(snap);
}

static struct passwd_snapshot *snapshot_get(struct passwd_db *db)
{
	pthread_mutex_lock(&db->snap_lock);
	struct passwd_snapshot *snap = db->snap;
	snap->refs++;
	pthread_mutex_unlock(&db->snap_lock);
	return snap;
}

static void snapshot_put(struct passwd_db *db, struct passwd_snapshot *snap)
{
	pthread_mutex_lock(&db->snap_lock);
	bool last = --snap->refs == 0;
	pthread_mutex_unlock(&db->snap_lock);
	if (last)
		snapshot_free(snap);
}

/* Make snap (one reference, the db's) the current version. */
static void snapshot_swap(struct passwd_db *db, struct passwd_snapshot *snap)
{
	pthread_mutex_lock(&db->snap_lock);
	struct passwd_snapshot *old = db->snap;
	db->snap = snap;
	pthread_mutex_unlock(&db->snap_lock);
	snapshot_put(db, old);
}

static const struct passwd_entry *
snapshot_find(const struct passwd_snapshot *snap, const char *address)
{
	char norm[ADDRESS_MAX + 1];

	/* Too long to be anyone: never truncate into someone else's name. */
	if (strlen(address) > ADDRESS_MAX)
		return NULL;
	mailbox_address_normalize(address, norm, sizeof(norm));
	for (size_t lo = 0, hi = snap->count; lo < hi; ) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(norm, snap->entries[mid].address);
		if (r == 0)
			return &snap->entries[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- the database -------------------------------------------------------- */

struct passwd_db *passwd_db_new(const char *path, passwd_problem_cb *problem_cb,
				void *context)
{
	struct passwd_db *db = xcalloc(1, sizeof(*db));
	const char *error;

	db->path = xstrdup(path);
	db->problem_cb = problem_cb;
	db->context = context;
	if (passwd_hash_new("sealpost dummy password", &db->dummy_hash, &error) < 0)
		db->dummy_hash = xstrdup(PASSWD_DUMMY_FALLBACK);
	pthread_mutex_init(&db->refresh_lock, NULL);
	pthread_mutex_init(&db->snap_lock, NULL);
	db->snap = xcalloc(1, sizeof(*db->snap));
	db->snap->refs = 1;
	return db;
}

void passwd_db_free(struct passwd_db **dbp)
{
	struct passwd_db *db = *dbp;

	if (db == NULL)
		return;
	snapshot_put(db, db->snap);
	pthread_mutex_destroy(&db->refresh_lock);
	pthread_mutex_destroy(&db->snap_lock);
	free(db->path);
	free(db->dummy_hash);
	free(db->last_error);
	x_free(dbp);
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	if (!a->exists || !b->exists)
		return a->exists == b->exists;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int file_id_get(const char *path, struct file_id *id_r,
		       const char **error_r)
{
	struct stat st;

	memset(id_r, 0, sizeof(*id_r));
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = errfmt("%s: %s", path, strerror(errno));
		return -1;
	}
	id_r->exists = true;
	id_r->dev = st.st_dev;
	id_r->ino = st.st_ino;
	id_r->size = st.st_size;
	id_r->mtime = st.st_mtim;
	return 0;
}

/* Read and parse the file, report its problems and swap it in. */
static int db_load(struct passwd_db *db, const struct file_id *id,
		   const char **error_r)
{
	struct load_ctx ctx = { .path = db->path };
	char *data = NULL;
	size_t len = 0;

	/* If the file is replaced after the stat, we parse the newer file
	 * under the older id; the next refresh then merely parses it again. */
	if (id->exists &&
	    fs_read_file(db->path, PASSWD_FILE_MAX, &data, &len, error_r) < 0)
		return -1;
	parse_file(&ctx, data != NULL ? data : "", len);
	free(data);

	struct passwd_snapshot *snap = xcalloc(1, sizeof(*snap));
	snap->refs = 1;
	snap->entries = ctx.entries;
	snap->count = ctx.count;
	snapshot_swap(db, snap);
	for (size_t i = 0; i < ctx.n_problems; i++) {
		if (db->problem_cb != NULL)
			db->problem_cb(ctx.problems[i].text, db->context);
		free(ctx.problems[i].text);
	}
	free(ctx.problems);
	return 0;
}

/* Reload when the file changed. report: tell problem_cb of a read failure
 * (once per distinct error) as well as returning it. */
static int db_refresh(struct passwd_db *db, bool report, bool force,
		      const char **error_r)
{
	struct file_id id;
	int ret = 0;

	pthread_mutex_lock(&db->refresh_lock);
	if (file_id_get(db->path, &id, error_r) < 0) {
		ret = -1;
	} else if (!force && db->loaded && file_id_equal(&id, &db->id)) {
		pthread_mutex_unlock(&db->refresh_lock);
		return 0;
	} else {
		ret = db_load(db, &id, error_r);
	}
	if (ret == 0) {
		/* Only a successful load records the version: after a failed
		 * read (say, a permission fixed a moment later) we try again. */
		db->loaded = true;
		db->id = id;
		x_free(&db->last_error);
	} else if (report && (db->last_error == NULL ||
			      strcmp(db->last_error, *error_r) != 0)) {
		free(db->last_error);
		db->last_error = xstrdup(*error_r);
		if (db->problem_cb != NULL)
			db->problem_cb(db->last_error, db->context);
	}
	pthread_mutex_unlock(&db->refresh_lock);
	return ret;
}

int passwd_db_refresh(struct passwd_db *db, const char **error_r)
{
	return db_refresh(db, false, false, error_r);
}

int passwd_db_reload(struct passwd_db *db, const char **error_r)
{
	return db_refresh(db, true, true, error_r);
}

bool passwd_db_verify(struct passwd_db *db, const char *address,
		      const char *password, size_t password_len)
{
	return passwd_db_verify_cached(db, NULL, address, password,
				       password_len, NULL);
}

/* The user's line is gone: so is what the cache knew of it. */
static void cache_forget(struct auth_cache *cache, const char *address)
{
	char norm[ADDRESS_MAX + 1];

	if (cache == NULL || strlen(address) > ADDRESS_MAX)
		return;
	mailbox_address_normalize(address, norm, sizeof(norm));
	auth_cache_forget(cache, norm);
}

bool passwd_db_verify_cached(struct passwd_db *db, struct auth_cache *cache,
			     const char *address, const char *password,
			     size_t password_len, bool *cached_r)
{
	char copy[PASSWD_PASSWORD_MAX + 1];
	const char *error;
	bool hit = false, match;

	(void)db_refresh(db, true, false, &error);
	struct passwd_snapshot *snap = snapshot_get(db);
	const struct passwd_entry *e = snapshot_find(snap, address);
	bool input_ok = password_len <= PASSWD_PASSWORD_MAX &&
			memchr(password, '\0', password_len) == NULL;
	size_t n = input_ok ? password_len : 0;

	memcpy(copy, password, n);
	copy[n] = '\0';
	if (e == NULL)
		cache_forget(cache, address);
	else if (input_ok)
		hit = auth_cache_lookup(cache, e->address, e->hash, copy, n);
	/* A miss, a wrong password included, costs the full hash: the same
	 * hashing work whether or not the user exists or is cached. */
	match = hit || passwd_hash_verify(e != NULL && input_ok ? e->hash :
					  db->dummy_hash, copy);
	if (match && !hit && e != NULL && input_ok)
		auth_cache_store(cache, e->address, e->hash, copy, n);
	OPENSSL_cleanse(copy, sizeof(copy));
	snapshot_put(db, snap);
	if (cached_r != NULL)
		*cached_r = hit;
	return e != NULL && input_ok && match;
}

bool passwd_db_exists(struct passwd_db *db, const char *address)
{
	const char *error;
	struct passwd_quota quota;

	(void)db_refresh(db, true, false, &error);
	return passwd_db_lookup_loaded(db, address, &quota);
}

bool passwd_db_quota(struct passwd_db *db, const char *address,
		     struct passwd_quota *quota_r)
{
	const char *error;

	(void)db_refresh(db, true, false, &error);
	(void)passwd_db_lookup_loaded(db, address, quota_r);
	return quota_r->has_bytes || quota_r->has_messages;
}

bool passwd_db_lookup_loaded(struct passwd_db *db, const char *address,
			     struct passwd_quota *quota_r)
{
	struct passwd_snapshot *snap = snapshot_get(db);
	const struct passwd_entry *e = snapshot_find(snap, address);
	memset(quota_r, 0, sizeof(*quota_r));
	if (e != NULL)
		*quota_r = e->quota;
	snapshot_put(db, snap);
	return e != NULL;
}

size_t passwd_db_count(struct passwd_db *db)
{
	struct passwd_snapshot *snap = snapshot_get(db);
	size_t n = snap->count;
	snapshot_put(db, snap);
	return n;
}

char **passwd_db_addresses(struct passwd_db *db)
{
	const char *error;

	(void)db_refresh(db, true, false, &error);
	struct passwd_snapshot *snap = snapshot_get(db);
	char **v = xcalloc(snap->count + 1, sizeof(*v));
	for (size_t i = 0; i < snap->count; i++)
		v[i] = xstrdup(snap->entries[i].address);
	snapshot_put(db, snap);
	return v;
}
