/* fuzz_mutf7.c — the modified UTF-7 decoder/encoder and folder-name
 * validation on arbitrary bytes.
 *
 * Checked on every input: decoding never crashes and, when it succeeds,
 * re-encoding gives the input back (one spelling per name); encoding valid
 * UTF-8 always decodes back to it; a name accepted as a folder name maps to
 * a directory directly under the mailbox root, never elsewhere. */
#include "store/maildir_private.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ROOT "/mail/example.test/user"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const char *s)
{
	char *utf8 = NULL, *back = NULL;
	const char *error;

	if (mutf7_to_utf8(s, &utf8, &error) < 0)
		return;
	if (mutf7_from_utf8(utf8, &back, &error) < 0 || strcmp(back, s) != 0)
		abort();  /* decoded text must re-encode to the same name */
	free(utf8);
	free(back);
}

static void check_encode(const char *s)
{
	char *mutf7 = NULL, *back = NULL;
	const char *error;

	if (mutf7_from_utf8(s, &mutf7, &error) < 0)
		return;
	if (mutf7_to_utf8(mutf7, &back, &error) < 0 || strcmp(back, s) != 0)
		abort();
	for (const char *p = mutf7; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e)
			abort();  /* the encoding is printable ASCII */
	}
	free(mutf7);
	free(back);
}

static void check_name(const char *s)
{
	const char *error;
	char *norm = maildir_name_normalize(s, &error);

	if (norm == NULL)
		return;
	size_t len = strlen(norm);
	if (len == 0 || len > MAILDIR_NAME_MAX || strchr(norm, '.') != NULL ||
	    norm[0] == MAILDIR_SEP || norm[len - 1] == MAILDIR_SEP)
		abort();
	char *path = maildir_name_to_path(FUZZ_ROOT, norm);
	const char *rest = path + strlen(FUZZ_ROOT);
	if (strncmp(path, FUZZ_ROOT, strlen(FUZZ_ROOT)) != 0 ||
	    (*rest != '\0' && (rest[0] != '/' || rest[1] != '.' ||
			       strchr(rest + 1, '/') != NULL ||
			       strstr(rest, "/..") != NULL)))
		abort();  /* only the root or one ".name" entry beneath it */
	char *dirent = maildir_name_to_dirent(norm);
	char *again = maildir_dirent_to_name(dirent);
	if (!maildir_name_is_inbox(norm) &&
	    (again == NULL || strcmp(again, norm) != 0))
		abort();  /* disk name and folder name map one to one */
	free(again);
	free(dirent);
	free(path);
	free(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	check_decode(s);
	check_encode(s);
	check_name(s);
	free(s);
	return 0;
}
