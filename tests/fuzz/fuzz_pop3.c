/* fuzz_pop3.c — the POP3 command parser and the RETR/TOP output transform.
 *
 * Beyond "no crash": parsed arguments lie inside the line and number at
 * most POP3_ARGS_MAX; the dot-stuffing transform never emits a line that
 * starts with a single '.', and cutting the input anywhere does not change
 * its output. */
#include "pop3/pop3.h"
#include "net/filestream.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_parse(const unsigned char *data, size_t size)
{
	char *line = malloc(size + 1);
	const struct pop3_cmd *cmd;
	char *args[POP3_ARGS_MAX];
	const char *error;
	unsigned n;

	memcpy(line, data, size);
	line[size] = '\0';
	size_t len = strlen(line);
	if (pop3_parse(line, len, &cmd, args, &n, &error) == 0) {
		if (n > POP3_ARGS_MAX || pop3_cmd_name(cmd) == NULL)
			abort();
		for (unsigned i = 0; i < n; i++) {
			if (args[i] < line || args[i] > line + len)
				abort();
		}
	}
	free(line);
}

static size_t transform_split(const unsigned char *in, size_t len, size_t cut,
			      unsigned char *out, long lines)
{
	struct fstream_state st;
	fstream_state_init(&st, lines);
	size_t o = fstream_transform(&st, FSTREAM_CRLF | FSTREAM_DOTSTUFF, in, cut, out);
	o += fstream_transform(&st, FSTREAM_CRLF | FSTREAM_DOTSTUFF, in + cut,
			       len - cut, out + o);
	return o;
}

static void fuzz_transform(const unsigned char *data, size_t size)
{
	if (size < 2)
		return;
	long lines = data[0] == 0xff ? -1 : data[0] % 8;
	const unsigned char *in = data + 1;
	size_t len = size - 1;
	unsigned char *a = malloc(len * 3 + 2), *b = malloc(len * 3 + 2);
	size_t na = transform_split(in, len, len, a, lines);
	size_t nb = transform_split(in, len, len / 2, b, lines);
	if (na != nb || memcmp(a, b, na) != 0)
		abort();
	/* every line that starts with '.' starts with ".." */
	for (size_t i = 0; i < na; i++) {
		bool start = i == 0 || a[i - 1] == '\n';
		if (start && a[i] == '.' && (i + 1 >= na || a[i + 1] != '.'))
			abort();
		if (start && a[i] == '.')
			i++;
	}
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_parse(data + 1, size - 1);
	else
		fuzz_transform(data + 1, size - 1);
	return 0;
}
