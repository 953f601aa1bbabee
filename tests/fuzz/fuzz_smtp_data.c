/* fuzz_smtp_data.c — the SMTP DATA decoder (smtp_dot_decode(): end of data,
 * dot-unstuffing, line ends) across chunk boundaries, as smtp_data_input()
 * drives it: one call per piece of input, an output buffer that may fill
 * before the piece is used up, the state carried from call to call.
 *
 * Input: 4 bytes seed the chunking, the rest is the stream after "DATA".
 * Checked beyond "no crash":
 * - any chunking and any output room give the same message and stop at the
 *   same byte as one call over the whole stream, and every call makes
 *   progress and stays within its room;
 * - the data ends exactly after the first <CRLF>.<CRLF> (the CRLF that
 *   ended the DATA command counts as the first), and never otherwise;
 * - the message has no bare LF;
 * - round trip: the input made into CRLF lines, dot-stuffed as a client
 *   does (and as POP3's RETR does, filestream.c) and ended with ".CRLF",
 *   decodes back to exactly those lines, ending at the terminator, with
 *   what follows (pipelined commands) left unread. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/filestream.h"
#include "smtp/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fail(what) do { fprintf(stderr, "fuzz_smtp_data: %s\n", what); abort(); } while (0)

struct decoded {
	unsigned char *out;
	size_t len;        /* message bytes */
	size_t used;       /* input bytes consumed */
	bool ended;
};

static uint32_t next_rand(uint32_t *s)
{
	/* xorshift32: any fixed sequence will do, the fuzzer picks the seed. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Decode in in pieces chosen by seed (0: one call with room for all). */
static struct decoded decode(const unsigned char *in, size_t len, uint32_t seed)
{
	struct decoded d = { .out = malloc(len * SMTP_DOT_EXPANSION + 1) };
	enum smtp_dot_state st = SMTP_DOT_LINE_START;
	uint32_t r = seed | 1;

	while (d.used < len && !d.ended) {
		size_t n = len - d.used, room = n * SMTP_DOT_EXPANSION, used, produced;
		if (seed != 0) {
			/* Mostly short pieces, sometimes long; the room from the
			 * minimum the decoder needs up to all the piece can use. */
			size_t max = next_rand(&r) % 4 == 0 ? 4096 : 8;
			size_t want = 1 + next_rand(&r) % max;
			n = want < n ? want : n;
			room = SMTP_DOT_EXPANSION + next_rand(&r) % (n * SMTP_DOT_EXPANSION);
		}
		d.ended = smtp_dot_decode(&st, in + d.used, n, &used, d.out + d.len,
					  room, &produced);
		if (produced > room || used > n || produced > used * SMTP_DOT_EXPANSION)
			fail("a call wrote past its room or read past its input");
		if (used == 0 && !d.ended)
			fail("a call with room made no progress");
		d.used += used;
		d.len += produced;
	}
	return d;
}

/* Where the data ends: just after the first CRLF.CRLF of CRLF + in. */
static bool find_end(const unsigned char *in, size_t len, size_t *end_r)
{
	static const char term[] = "\r\n.\r\n";
	for (size_t i = 0; i + 3 <= len; i++) {
		if (memcmp(in + i, term + 2, 3) == 0 &&
		    (i == 0 || (i >= 2 && in[i - 2] == '\r' && in[i - 1] == '\n'))) {
			*end_r = i + 3;
			return true;
		}
	}
	return false;
}

static void check_same(const struct decoded *a, const struct decoded *b)
{
	if (a->len != b->len || a->used != b->used || a->ended != b->ended ||
	    memcmp(a->out, b->out, a->len) != 0)
		fail("chunking changed the message or where it ends");
}

/* Every byte of in as CRLF lines: "\n" ends a line, "\r" bytes dropped. */
static unsigned char *make_lines(const unsigned char *in, size_t len, size_t *len_r)
{
	unsigned char *m = malloc(2 * len + 3);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n') {
			m[o++] = '\r';
			m[o++] = '\n';
		} else if (in[i] != '\r') {
			m[o++] = in[i];
		}
	}
	if (o > 0 && m[o - 1] != '\n') {
		m[o++] = '\r';
		m[o++] = '\n';
	}
	*len_r = o;
	return m;
}

/* What a client sends for message m (CRLF lines): a '.' doubled at the
 * start of each line, then ".CRLF", then a pipelined command. */
static unsigned char *stuff(const unsigned char *m, size_t len, size_t *len_r,
			    size_t *end_r)
{
	static const char tail[] = ".\r\nQUIT\r\n";
	unsigned char *s = malloc(2 * len + sizeof(tail));
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (m[i] == '.' && (i == 0 || m[i - 1] == '\n'))
			s[o++] = '.';
		s[o++] = m[i];
	}
	*end_r = o + 3;
	memcpy(s + o, tail, sizeof(tail) - 1);
	*len_r = o + sizeof(tail) - 1;
	return s;
}

static void check_round_trip(const unsigned char *m, size_t mlen,
			     const unsigned char *sent, size_t slen, size_t end,
			     uint32_t seed)
{
	for (int k = 0; k < 2; k++) {
		struct decoded d = decode(sent, slen, k == 0 ? 0 : seed);
		if (!d.ended || d.used != end || d.len != mlen ||
		    memcmp(d.out, m, mlen) != 0)
			fail("a dot-stuffed message did not decode to itself");
		free(d.out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
			(uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	const unsigned char *in = data + 4;
	size_t len = size - 4, end;

	struct decoded whole = decode(in, len, 0);
	struct decoded pieces = decode(in, len, seed ? seed : 1);
	check_same(&whole, &pieces);
	bool has_end = find_end(in, len, &end);
	if (whole.ended != has_end || (has_end && whole.used != end))
		fail("the data did not end exactly after the first CRLF.CRLF");
	if (!whole.ended && whole.used != len)
		fail("input left unread before the end of data");
	for (size_t i = 0; i < whole.len; i++) {
		if (whole.out[i] == '\n' && (i == 0 || whole.out[i - 1] != '\r'))
			fail("a bare LF in the message");
	}
	free(whole.out);
	free(pieces.out);

	/* Round trip, with our stuffing and with POP3's. */
	size_t mlen, slen;
	unsigned char *m = make_lines(in, len, &mlen);
	unsigned char *sent = stuff(m, mlen, &slen, &end);
	check_round_trip(m, mlen, sent, slen, end, seed);
	free(sent);

	struct fstream_state fst;
	fstream_state_init(&fst, -1);
	unsigned char *pop = malloc(3 * mlen + 2 + 3);
	size_t plen = fstream_transform(&fst, FSTREAM_CRLF | FSTREAM_DOTSTUFF, m,
					mlen, pop);
	memcpy(pop + plen, ".\r\n", 3);
	check_round_trip(m, mlen, pop, plen + 3, plen + 3, seed);
	free(pop);
	free(m);
	return 0;
}
