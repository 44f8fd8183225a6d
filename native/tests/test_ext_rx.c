/*
 * test_ext_rx.c - receiving through the built-in compression extensions as
 * the extension host (ext.c rx_through) calls them, including a suspension:
 * after a "more" answer the host calls lws_pmd_rx_keep, the piece's memory
 * (the receive buffer) is reused, and the empty calls go on in a later turn.
 *
 * Every piece the extension hands on must end with a 0 byte (in[len] == 0,
 * the classic promise; the host delivers the compression extensions' output
 * as it is).  Found by fuzz/fuzz_inflate.c: a deflate-frame plain frame after
 * a compressed one (the held-back byte goes first, the plain piece on the
 * next call), suspended in between, came from the kept copy without its 0:
 * a read one past the kept buffer.
 */
#include "private.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FRAME 1 /* deflate-frame in libwebsocket_internal_extensions */

/* "text" as a peer's deflate-frame payload: raw DEFLATE, sync-flushed, the
 * final 00 00 ff ff removed.  Returns its length in out. */
static size_t compress_frame(const char *text, uint8_t *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	CHECK_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)text;
	z.avail_in = (uInt)strlen(text);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	CHECK_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	CHECK(len > 4 && !memcmp(out + len - 4, "\x00\x00\xff\xff", 4));
	return len - 4;
}

/* What the frame parser says about a whole frame being delivered. */
static void frame(struct libwebsocket *wsi, int opcode, int rsv1, size_t len, int fin)
{
	wsi->parser.opcode = (uint8_t)opcode;
	wsi->parser.rsv = rsv1 ? LWS_RSV1 : 0;
	if (opcode != LWS_OP_CONTINUATION)
		wsi->parser.msg_rsv = 0;
	wsi->parser.msg_rsv |= wsi->parser.rsv;
	wsi->parser.payload_len = len;
	wsi->parser.payload_done = len;
	wsi->rx_final = (uint8_t)fin;
}

static int rx(struct libwebsocket *wsi, void *user, struct lws_tokens *tok)
{
	struct libwebsocket_extension *ext = &libwebsocket_internal_extensions[FRAME];
	return ext->callback(NULL, ext, wsi, LWS_EXT_CALLBACK_PACKET_RX_PREPARSE, user, tok, 0);
}

static void test_deflate_frame_plain_piece_kept_ends_with_0(void)
{
	struct libwebsocket_extension *ext = &libwebsocket_internal_extensions[FRAME];
	struct libwebsocket *wsi = calloc(1, sizeof *wsi);
	void *user = calloc(1, ext->per_session_data_size);
	char params[1] = "";
	CHECK_EQ(ext->callback(NULL, ext, wsi, LWS_EXT_CALLBACK_CONSTRUCT, user, params, 0), 0);

	/* a compressed first frame: "hell" comes out, the "o" is held back */
	uint8_t z[64];
	size_t zlen = compress_frame("hello", z, sizeof z);
	frame(wsi, LWS_OP_TEXT, 1, zlen, 0);
	struct lws_tokens tok = {(char *)z, (int)zlen};
	CHECK_EQ(rx(wsi, user, &tok), 0);
	CHECK_EQ(tok.token_len, 4);
	CHECK(!memcmp(tok.token, "hell", 4) && tok.token[4] == 0);

	/* a plain final frame, in the receive buffer with its 0 after it: the
	 * held byte first, "more" */
	char *piece = malloc(6);
	memcpy(piece, "world", 6);
	frame(wsi, LWS_OP_CONTINUATION, 0, 5, 1);
	tok.token = piece;
	tok.token_len = 5;
	CHECK_EQ(rx(wsi, user, &tok), 1);
	CHECK_EQ(tok.token_len, 1);
	CHECK(tok.token[0] == 'o' && tok.token[1] == 0);

	/* the host suspends here: the piece is kept, its memory reused */
	CHECK_EQ(lws_pmd_rx_keep(user), 0);
	memset(piece, 'x', 6);
	free(piece);

	/* resumed: the plain piece, from the kept copy, with its 0 */
	tok.token = NULL;
	tok.token_len = 0;
	CHECK_EQ(rx(wsi, user, &tok), 0);
	CHECK_EQ(tok.token_len, 5);
	CHECK(!memcmp(tok.token, "world", 5));
	CHECK(tok.token[5] == 0); /* ASan: a read past the kept copy before the fix */

	ext->callback(NULL, ext, wsi, LWS_EXT_CALLBACK_DESTROY, user, NULL, 0);
	free(user);
	free(wsi);
}

int main(void)
{
	RUN(test_deflate_frame_plain_piece_kept_ends_with_0);
	return CHECK_SUMMARY();
}
