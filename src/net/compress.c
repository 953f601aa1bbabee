/* compress.c — raw DEFLATE streams over evbuffers (see compress.h). */
#include "net/compress.h"
#include "lib/util.h"

#include <event2/buffer.h>
#include <string.h>
#include <zlib.h>

struct compress {
	z_stream in, out;
	bool in_ready, out_ready;
	bool in_more;               /* inflate filled its output: it may hold
				       more without further input */
	bool out_flushed;           /* nothing deflated since the last flush */
};

struct compress *compress_new(const char **error_r)
{
	struct compress *z = xcalloc(1, sizeof(*z));

	/* negative window bits: raw DEFLATE, no zlib header (RFC 4978 3) */
	if (inflateInit2(&z->in, -COMPRESS_WINDOW_BITS) != Z_OK) {
		*error_r = "zlib: cannot start inflate";
		compress_free(&z);
		return NULL;
	}
	z->in_ready = true;
	if (deflateInit2(&z->out, COMPRESS_LEVEL, Z_DEFLATED, -COMPRESS_WINDOW_BITS,
			 COMPRESS_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		*error_r = "zlib: cannot start deflate";
		compress_free(&z);
		return NULL;
	}
	z->out_ready = true;
	z->out_flushed = true;
	return z;
}

void compress_free(struct compress **zp)
{
	struct compress *z = *zp;

	if (z == NULL)
		return;
	if (z->in_ready)
		inflateEnd(&z->in);
	if (z->out_ready)
		deflateEnd(&z->out);
	x_free(zp);
}

int compress_inflate(struct compress *z, struct evbuffer *zin,
		     struct evbuffer *out, size_t out_max, bool *produced_r,
		     const char **error_r)
{
	*produced_r = false;
	while (compress_inflate_pending(z, zin) && evbuffer_get_length(out) < out_max) {
		struct evbuffer_iovec src = { NULL, 0 }, dst;
		size_t room = out_max - evbuffer_get_length(out);
		if (room > COMPRESS_CHUNK)
			room = COMPRESS_CHUNK;
		if (evbuffer_get_length(zin) > 0)
			evbuffer_peek(zin, -1, NULL, &src, 1);
		if (evbuffer_reserve_space(out, room, &dst, 1) != 1)
			abort();        /* out of memory */
		z->in.next_in = src.iov_base;
		z->in.avail_in = (uInt)(src.iov_len < COMPRESS_CHUNK ? src.iov_len :
					COMPRESS_CHUNK);
		z->in.next_out = dst.iov_base;
		z->in.avail_out = (uInt)room;
		uInt offered = z->in.avail_in;
		int ret = inflate(&z->in, Z_SYNC_FLUSH);
		dst.iov_len = room - z->in.avail_out;
		evbuffer_commit_space(out, &dst, 1);
		evbuffer_drain(zin, offered - z->in.avail_in);
		*produced_r |= dst.iov_len > 0;
		/* a full output may leave decoded bytes inside zlib */
		z->in_more = z->in.avail_out == 0;
		if (ret == Z_STREAM_END) {
			*error_r = "the client ended its compressed stream";
			return -1;
		}
		if (ret != Z_OK && ret != Z_BUF_ERROR) {
			*error_r = errfmt("inflate: %s", z->in.msg != NULL ?
					  z->in.msg : "corrupt data");
			return -1;
		}
		if (offered == z->in.avail_in && dst.iov_len == 0)
			break;          /* needs more input than we have */
	}
	return 0;
}

bool compress_inflate_pending(const struct compress *z, struct evbuffer *zin)
{
	return z->in_more || evbuffer_get_length(zin) > 0;
}

void compress_deflate(struct compress *z, struct evbuffer *in,
		      struct evbuffer *zout)
{
	size_t take = evbuffer_get_length(in);
	unsigned char *src;
	int flush;

	if (take > COMPRESS_CHUNK)
		take = COMPRESS_CHUNK;
	flush = take == evbuffer_get_length(in) ? Z_SYNC_FLUSH : Z_NO_FLUSH;
	if (take == 0 && z->out_flushed)
		return;
	src = evbuffer_pullup(in, (ssize_t)take);
	z->out.next_in = src;
	z->out.avail_in = (uInt)take;
	do {
		struct evbuffer_iovec dst;
		/* deflateBound-like room: the chunk plus flush markers */
		size_t room = COMPRESS_CHUNK + 64;
		if (evbuffer_reserve_space(zout, room, &dst, 1) != 1)
			abort();        /* out of memory */
		z->out.next_out = dst.iov_base;
		z->out.avail_out = (uInt)room;
		/* Z_STREAM_ERROR is impossible with a valid state */
		(void)deflate(&z->out, flush);
		dst.iov_len = room - z->out.avail_out;
		evbuffer_commit_space(zout, &dst, 1);
	} while (z->out.avail_out == 0);
	evbuffer_drain(in, take);
	z->out_flushed = flush == Z_SYNC_FLUSH;
}

void compress_stats(const struct compress *z, unsigned long long *in_plain_r,
		    unsigned long long *in_wire_r, unsigned long long *out_plain_r,
		    unsigned long long *out_wire_r)
{
	*in_plain_r = z->in.total_out;
	*in_wire_r = z->in.total_in;
	*out_plain_r = z->out.total_in;
	*out_wire_r = z->out.total_out;
}
