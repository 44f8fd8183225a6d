/* zbuf.c - see zbuf.h */
#include <stdlib.h>

#include "zbuf.h"

int lws_zbuf_room(struct lws_zbuf *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	uint8_t *buf = realloc(b->buf, need);
	if (!buf)
		return -1;
	b->buf = buf;
	b->cap = need;
	return 0;
}

int lws_zbuf_deflate(struct lws_zbuf *b, size_t *end, z_stream *z, const uint8_t *in,
		     size_t len, int flush)
{
	z->next_in = (Bytef *)in;
	z->avail_in = (uInt)len;
	for (;;) {
		z->next_out = b->buf + *end;
		z->avail_out = (uInt)(b->cap - *end);
		int rc = deflate(z, flush);
		if (rc != Z_OK && rc != Z_BUF_ERROR) /* BUF_ERROR: nothing new to flush */
			return -1;
		*end = b->cap - z->avail_out;
		if (z->avail_out && !z->avail_in)
			return 0; /* all in (and flushed as asked) */
		if (lws_zbuf_room(b, b->cap * 2))
			return -1;
	}
}

void lws_zbuf_free(struct lws_zbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->cap = 0;
}
