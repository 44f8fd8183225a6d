/*
 * ext_deflate_stream.c - deflate-stream, the oldest built-in extension (the
 * hybi drafts before frames could carry RSV bits): after the handshake every
 * byte each way is one raw DEFLATE stream.  It sits below the frame layer:
 * it is the connection's read layer (wsi->rx_layer, set when it is
 * negotiated: input.c reads through it instead of the socket), and output.c passes
 * everything it sends through lws_ds_deflate().  What is sent is
 * sync-flushed, so the peer can always inflate all that was sent: a send on
 * its own at once, the sends made while one connection's input is dispatched
 * (replies to a flood of pings, say) together when the dispatch ends.
 *
 * Inflation is bounded: one read inflates into the receive buffer at most
 * (keeping a byte free after it for the 0 that follows a piece), and what
 * does not fit waits (wsi->rx_more) for the next turn of the loop, where the
 * frame parser's message limit applies as usual.  A block with BFINAL set
 * ends the peer's DEFLATE stream; what follows it starts a new one.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "private.h"
#include "zbuf.h"

#define DS_IN_SIZE (16 * 1024)
#define DS_LEVEL 6
#define DS_MEM_LEVEL 8

struct lws_ds {
	z_stream rx, tx;
	uint8_t rx_ready, tx_ready;
	uint8_t tls_more;   /* OpenSSL held more when the socket was last read */
	struct lws_zbuf in; /* compressed bytes read, in[in_off..in_len) not inflated */
	size_t in_off, in_len;
	uint8_t rx_out_full; /* the last inflate() filled the buffer: zlib may hold more */
	uint8_t tx_unflushed; /* deflated without a flush since the last one */
	struct lws_zbuf out; /* deflated output since the last flush */
	size_t out_len;
};

static void ds_free(struct lws_ds *ds)
{
	if (ds->rx_ready)
		inflateEnd(&ds->rx);
	if (ds->tx_ready)
		deflateEnd(&ds->tx);
	lws_zbuf_free(&ds->in);
	lws_zbuf_free(&ds->out);
	free(ds);
}

static int ds_hold(struct libwebsocket *wsi, const uint8_t *data, size_t len);
static ssize_t ds_read(struct libwebsocket *wsi, uint8_t *buf, size_t cap);
static const struct lws_read_layer ds_layer = {ds_read, ds_hold};

int lws_ds_callback(struct libwebsocket_context *context, struct libwebsocket_extension *ext,
		    struct libwebsocket *wsi, enum libwebsocket_extension_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	(void)context;
	(void)ext;
	(void)user;
	(void)in;
	switch (reason) {
	case LWS_EXT_CALLBACK_CONSTRUCT:
	case LWS_EXT_CALLBACK_CLIENT_CONSTRUCT:
		if (len || wsi->ds)
			return -1; /* it has no parameters */
		wsi->ds = calloc(1, sizeof *wsi->ds);
		if (!wsi->ds)
			return -1;
		wsi->rx_layer = &ds_layer;
		return 0;
	case LWS_EXT_CALLBACK_DESTROY:
		if (wsi->ds)
			ds_free(wsi->ds);
		wsi->ds = NULL;
		wsi->rx_layer = NULL;
		return 0;
	default:
		return 0;
	}
}

/* Bytes of the stream that came with the handshake: inflated on the next read.
 * 1 when the stream does not apply yet (the caller parses them), 0, or -1. */
static int ds_hold(struct libwebsocket *wsi, const uint8_t *data, size_t len)
{
	if (!lws_ds_active(wsi))
		return 1;
	struct lws_ds *ds = wsi->ds;
	size_t have = ds->in_len - ds->in_off;
	if (lws_zbuf_room(&ds->in, have + len > DS_IN_SIZE ? have + len : DS_IN_SIZE))
		return -1;
	memmove(ds->in.buf, ds->in.buf + ds->in_off, have);
	memcpy(ds->in.buf + have, data, len);
	ds->in_off = 0;
	ds->in_len = have + len;
	return 0;
}

/* Compressed bytes from the socket (or TLS) into ds->in: as lws_read_socket(). */
static ssize_t read_compressed(struct libwebsocket *wsi, struct lws_ds *ds)
{
	if (lws_zbuf_room(&ds->in, DS_IN_SIZE))
		return -1;
	ds->in_off = ds->in_len = 0;
	wsi->rx_more = 0;
	ssize_t n = lws_read_socket(wsi, ds->in.buf, ds->in.cap);
	ds->tls_more = wsi->rx_more;
	if (n > 0)
		ds->in_len = (size_t)n;
	return n;
}

/* Read and inflate: bytes, or an enum lws_read_result. */
static ssize_t ds_read(struct libwebsocket *wsi, uint8_t *buf, size_t cap)
{
	if (!lws_ds_active(wsi))
		return lws_read_socket(wsi, buf, cap); /* the handshake is plain */
	struct lws_ds *ds = wsi->ds;
	if (ds->in_off == ds->in_len && !ds->rx_out_full) {
		ssize_t n = read_compressed(wsi, ds);
		if (n <= 0)
			return n;
	}
	if (!ds->rx_ready) {
		if (inflateInit2(&ds->rx, -15) != Z_OK)
			return -1;
		ds->rx_ready = 1;
	}
	/* one byte of room after what is inflated: the 0 after a piece */
	if (cap > 1)
		cap--;
	z_stream *z = &ds->rx;
	z->next_in = ds->in.buf + ds->in_off;
	z->avail_in = (uInt)(ds->in_len - ds->in_off);
	z->next_out = buf;
	z->avail_out = (uInt)cap;
	for (;;) {
		uInt in_before = z->avail_in, out_before = z->avail_out;
		int rc = inflate(z, Z_SYNC_FLUSH);
		if (rc == Z_STREAM_END) {
			/* a block with BFINAL set ended the peer's stream: what
			 * follows (if anything) is a new one */
			if (inflateReset(z) != Z_OK)
				return LWS_READ_BAD_DATA;
			if (z->avail_in && z->avail_out)
				continue;
			break;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return LWS_READ_BAD_DATA;
		/* never loop without progress: input left that inflate()
		 * neither takes nor turns into output is bad data */
		if (z->avail_in && z->avail_out && z->avail_in == in_before &&
		    z->avail_out == out_before)
			return LWS_READ_BAD_DATA;
		break;
	}
	ds->in_off = ds->in_len - z->avail_in;
	size_t got = cap - z->avail_out;
	ds->rx_out_full = !z->avail_out;
	/* input left, output that did not fit, or TLS records: read again soon */
	wsi->rx_more = ds->in_off < ds->in_len || ds->rx_out_full || ds->tls_more;
	return got ? (ssize_t)got : LWS_READ_AGAIN;
}

int lws_ds_unflushed(const struct libwebsocket *wsi)
{
	return wsi->ds && wsi->ds->tx_unflushed;
}

int lws_ds_deflate(struct libwebsocket *wsi, const uint8_t *a, size_t alen, const uint8_t *b,
		   size_t blen, int flush, const uint8_t **out, size_t *out_len)
{
	struct lws_ds *ds = wsi->ds;
	if (!ds->tx_ready) {
		if (deflateInit2(&ds->tx, DS_LEVEL, Z_DEFLATED, -15, DS_MEM_LEVEL,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		ds->tx_ready = 1;
	}
	size_t end = ds->out_len;
	if (lws_zbuf_room(&ds->out, end + deflateBound(&ds->tx, (uLong)(alen + blen)) + 16) ||
	    lws_zbuf_deflate(&ds->out, &end, &ds->tx, a, alen, Z_NO_FLUSH) ||
	    lws_zbuf_deflate(&ds->out, &end, &ds->tx, b, blen, flush ? Z_SYNC_FLUSH : Z_NO_FLUSH))
		return -1;
	*out = ds->out.buf;
	if (!flush) {
		/* a batch: one flush for all of it (a flood of pings must not
		 * cost a flushed block per pong) */
		ds->out_len = end;
		ds->tx_unflushed = 1;
		*out_len = 0;
		return 0;
	}
	ds->out_len = 0;
	ds->tx_unflushed = 0;
	*out_len = end;
	return 0;
}
