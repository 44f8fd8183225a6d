/*
 * zbuf.h - a growable byte buffer, and deflating into one: what the built-in
 * compression extensions (ext_deflate.c, ext_deflate_stream.c) share.
 */
#ifndef PYLWS_ZBUF_H
#define PYLWS_ZBUF_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

struct lws_zbuf {
	uint8_t *buf;
	size_t cap;
};

/* At least need bytes of room; 0, or -1 when memory runs out. */
int lws_zbuf_room(struct lws_zbuf *b, size_t need);

/*
 * Deflate len bytes with flush into b from *end on, growing b as needed;
 * *end is where the output ends after.  0, or -1 on failure.
 */
int lws_zbuf_deflate(struct lws_zbuf *b, size_t *end, z_stream *z, const uint8_t *in,
		     size_t len, int flush);

void lws_zbuf_free(struct lws_zbuf *b);

#endif /* PYLWS_ZBUF_H */
