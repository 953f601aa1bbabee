/* fuzz_uidlist.c — the uidlist reader on arbitrary files, and on any file
 * followed by an arbitrary append.
 *
 * The input is a file and a tail, split at the first 0xff byte (none: no
 * tail). Checked on every input: reading never crashes; entries ascend by
 * UID and none is above the next UID; the expunge log keeps at most
 * MAILDIR_EXPUNGED_MAX; and a handle that read the file and then only the
 * appended tail (what a session does between its operations) ends in the
 * same state as a fresh handle reading the whole file, whenever both found
 * it readable. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *root;

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	char tmpl[] = "/tmp/sealpost-fuzz-uidlist-XXXXXX";
	if (mkdtemp(tmpl) == NULL)
		abort();
	root = xstrdup(tmpl);
	static const char *const subs[] = { "cur", "new", "tmp" };
	for (size_t i = 0; i < N_ELEMENTS(subs); i++) {
		char *p = fs_join(root, subs[i]);
		if (mkdir(p, 0700) < 0)
			abort();
		free(p);
	}
	atexit(cleanup);
}

static void write_file(const char *path, const uint8_t *data, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
	if (fd < 0 || fs_write_all(fd, data, len) < 0)
		abort();
	close(fd);
}

/* A loaded list, or NULL when it was unreadable (a new one was started). */
static const struct uidlist *load(struct maildir_folder *f)
{
	struct uidlist *ul;
	const char *error;

	if (uidlist_load(f, &ul, &error) < 0)
		abort();
	for (size_t i = 0; i < ul->count; i++) {
		if ((i > 0 && ul->entries[i].uid <= ul->entries[i - 1].uid) ||
		    ul->entries[i].uid >= ul->nextuid || ul->entries[i].gone)
			abort();
	}
	if (ul->exp_end - ul->exp_start > MAILDIR_EXPUNGED_MAX)
		abort();
	return ul->exists ? ul : NULL;
}

static void same(const struct uidlist *a, const struct uidlist *b)
{
	if (a->uidvalidity != b->uidvalidity || a->nextuid != b->nextuid ||
	    a->first_recent != b->first_recent ||
	    a->highest_modseq != b->highest_modseq ||
	    a->vanished_since != b->vanished_since || a->count != b->count ||
	    a->exp_end - a->exp_start != b->exp_end - b->exp_start)
		abort();
	for (size_t i = 0; i < a->count; i++) {
		const struct uidlist_entry *x = &a->entries[i], *y = &b->entries[i];
		if (x->uid != y->uid || x->modseq != y->modseq || x->flags != y->flags ||
		    x->keywords != y->keywords || x->has_flags != y->has_flags ||
		    strcmp(x->basename, y->basename) != 0)
			abort();
	}
	for (size_t i = 0; i < a->exp_end - a->exp_start; i++) {
		const struct uidlist_expunged *x = &a->expunged[a->exp_start + i];
		const struct uidlist_expunged *y = &b->expunged[b->exp_start + i];
		if (x->uid != y->uid || x->modseq != y->modseq)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildir_folder *a = NULL, *b = NULL;
	const uint8_t *split = memchr(data, 0xff, size);
	size_t head = split != NULL ? (size_t)(split - data) : size;
	const char *error;

	if (root == NULL)
		setup();
	char *path = fs_join(root, MAILDIR_UIDLIST_NAME);
	unlink(path);
	if (head > 0)
		write_file(path, data, head, O_TRUNC);
	if (maildir_folder_open(root, "INBOX", &a, &error) < 0 ||
	    maildir_folder_open(root, "INBOX", &b, &error) < 0)
		abort();
	const struct uidlist *first = head > 0 ? load(a) : NULL;
	if (first != NULL && split != NULL) {
		write_file(path, split + 1, size - head - 1, O_APPEND);
		const struct uidlist *incremental = load(a);
		const struct uidlist *full = load(b);
		if (incremental != NULL && full != NULL)
			same(incremental, full);
	}
	maildir_folder_close(&a);
	maildir_folder_close(&b);
	free(path);
	return 0;
}
