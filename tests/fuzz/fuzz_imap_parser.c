/* fuzz_imap_parser.c — the IMAP command parser driven like the session core
 * drives it (lines, literals, LITERAL+, streamed APPEND literals), then the
 * argument helpers on every complete command: sequence sets, flags, dates,
 * FETCH attributes, SEARCH keys. Property checked: every string argument
 * written back with imap_append_astring() parses to the same bytes. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "imap/imap_fetch_attr.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_seqset.h"
#include "imap/imap_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed one text (lines and literals) to p; returns the last result. */
static enum imap_parse_result drive(struct imap_parser *p, const char *in, size_t len,
				    size_t *pos)
{
	enum imap_parse_result r = IMAP_PARSE_ERROR;
	while (*pos < len) {
		const char *lf = memchr(in + *pos, '\n', len - *pos);
		size_t n = lf != NULL ? (size_t)(lf - (in + *pos)) + 1 : len - *pos;
		r = imap_parser_feed_line(p, in + *pos, n);
		*pos += n;
		while (r == IMAP_PARSE_NEED_LITERAL) {
			struct imap_literal lit;
			imap_parser_literal(p, &lit);
			size_t avail = len - *pos;
			size_t take = lit.size < avail ? (size_t)lit.size : avail;
			if (lit.stream || lit.discard) {
				imap_parser_literal_done(p);
			} else {
				/* feed in two chunks to exercise chunking */
				size_t half = take / 2;
				imap_parser_feed_literal(p, in + *pos, half);
				imap_parser_feed_literal(p, in + *pos + half, take - half);
				if (take < lit.size) {
					/* input ended inside the literal */
					imap_parser_reset(p);
					*pos = len;
					return IMAP_PARSE_ERROR;
				}
			}
			*pos += take;
			if (*pos >= len)
				return r;
			lf = memchr(in + *pos, '\n', len - *pos);
			n = lf != NULL ? (size_t)(lf - (in + *pos)) + 1 : len - *pos;
			r = imap_parser_feed_line(p, in + *pos, n);
			*pos += n;
		}
		if (r != IMAP_PARSE_NEED_LITERAL)
			return r;
	}
	return r;
}

/* astring output must parse back to the same string. */
static void check_roundtrip(const char *s, size_t len)
{
	if (memchr(s, '\0', len) != NULL || len > 4096)
		return;
	struct buf line = { 0 };
	buf_append(&line, "t X ", 4);
	imap_append_astring(&line, s);
	buf_append(&line, "\r\n", 2);
	struct imap_parser *p = imap_parser_new(0);
	size_t pos = 0;
	enum imap_parse_result r = drive(p, line.data, line.len, &pos);
	assert(r == IMAP_PARSE_COMPLETE);
	const struct imap_command *cmd = imap_parser_command(p);
	const char *back;
	size_t back_len;
	assert(cmd->n_args == 1);
	assert(imap_arg_get_astring(&cmd->args[0], &back, &back_len));
	assert(back_len == len && memcmp(back, s, len) == 0);
	imap_parser_free(&p);
	buf_free(&line);
}

static void use_args(const struct imap_arg *args, size_t n, unsigned depth)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];
		const char *s;
		size_t len;
		if (a->type == IMAP_ARG_LIST) {
			uint32_t flags;
			char **kw;
			const char *error;
			if (imap_flags_parse(a->list, a->len, &flags, &kw, &error) == 0)
				strv_free(&kw);
			if (depth < 4)
				use_args(a->list, a->len, depth + 1);
			continue;
		}
		if (imap_arg_get_astring(a, &s, &len)) {
			struct imap_seqset set;
			const char *error;
			time_t t;
			int tz;
			if (imap_seqset_parse(s, &set, &error) == 0) {
				imap_seqset_resolve(&set, 100);
				(void)imap_seqset_contains(&set, 50);
			}
			imap_seqset_free(&set);
			(void)imap_date_parse(s, &t);
			(void)imap_datetime_parse(s, &t, &tz);
			check_roundtrip(s, len);
		}
	}
}

static void use_command(const struct imap_command *cmd)
{
	const struct imap_arg *args = cmd->args;
	size_t n = cmd->n_args;
	const char *error;

	use_args(args, n, 0);
	if (n > 0 && imap_arg_atom_equals(&args[0], "UID")) {
		args++;
		n--;
	}
	if (n >= 1) {
		struct imap_fetch_attrs attrs;
		if (imap_fetch_attrs_parse(args + 1, n - 1, &attrs, &error) == 0)
			imap_fetch_attrs_free(&attrs);
	}
	struct imap_search_key *key;
	if (imap_search_parse(args, n, &key, &error) == IMAP_SEARCH_PARSE_OK) {
		struct imap_search_msg msg = { .seq = 3, .uid = 7, .flags = IMAP_FLAG_SEEN };
		bool match;
		imap_search_resolve(key, 10, 20);
		if (imap_search_needs(key) == 0)
			(void)imap_search_match(key, &msg, &match, &error);
		imap_search_free(&key);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p = imap_parser_new(1 << 20);
	const char *in = (const char *)data;
	size_t pos = 0;

	while (pos < size) {
		enum imap_parse_result r = drive(p, in, size, &pos);
		if (r == IMAP_PARSE_COMPLETE) {
			use_command(imap_parser_command(p));
		} else if (r == IMAP_PARSE_ERROR) {
			const struct imap_parse_error *e = imap_parser_error(p);
			assert(e->text != NULL || pos >= size);
		}
	}
	imap_parser_free(&p);
	return 0;
}
