/*
 * ext_deflate.c - permessage-deflate (RFC 7692) and the older deflate-frame
 * (alias x-webkit-deflate-frame), built-in extensions written against the
 * same extension callback as users' extensions (see ext.c).
 *
 * A compressed message has RSV1 on its first frame; its payload is a raw
 * DEFLATE stream flushed with Z_SYNC_FLUSH, the final 00 00 ff ff removed.
 * zlib streams are created on first use (an idle connection holds none) and
 * kept between messages unless "no context takeover" was agreed.  Inflated
 * output is handed on in chunks of LWS_PMD_CHUNK bytes, so a small message
 * that inflates to gigabytes never occupies more than one chunk here; the
 * host closes it with 1009 once it passes the maximum message size.
 *
 * deflate-frame (draft-tyoshino-hybi-websocket-perframe-deflate) is the same
 * compression applied to each data frame on its own: RSV1 on every
 * compressed frame, continuations included, each frame's 00 00 ff ff
 * removed; the window carries over between frames unless the peer asked for
 * no_context_takeover.  Parameters: no_context_takeover and
 * max_window_bits=N, which bind the compressor of the side that receives
 * them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "private.h"
#include "zbuf.h"

#define LWS_PMD_CHUNK (64 * 1024)
#define LWS_PMD_LEVEL 6
#define LWS_PMD_MEM_LEVEL 8

static const uint8_t deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

struct pmd {
	/* agreed */
	uint8_t tx_no_takeover;   /* reset our compressor after each message */
	uint8_t rx_no_takeover;   /* the peer resets its compressor: so may we */
	uint8_t tx_window_bits;   /* our compressor's window (9..15) */
	uint8_t reply_server_no_takeover, reply_client_no_takeover, reply_server_bits;

	/* receiving */
	z_stream rx;
	uint8_t rx_ready;
	uint8_t rx_tail_fed;      /* the 00 00 ff ff of this unit went in */
	uint8_t rx_out_full;      /* the last inflate() filled rx_out: zlib may hold more */
	uint8_t rx_ended;         /* a block with BFINAL set ended the stream in this unit */
	uint8_t rx_held;          /* one inflated byte not handed on yet: rx_carry */
	uint8_t rx_carry;
	uint8_t rx_plain_pending; /* deflate-frame: rx_plain is handed on next */
	uint8_t *rx_out;          /* LWS_SEND_BUFFER_PRE_PADDING + LWS_PMD_CHUNK + 2 */
	const char *rx_plain;     /* deflate-frame: a plain piece behind the held byte */
	int rx_plain_len;
	struct lws_zbuf rx_keep;  /* input kept while the host suspends us */

	/* sending */
	z_stream tx;
	uint8_t tx_ready;
	struct lws_zbuf tx_out;   /* 4 bytes of room, then compressed output */
	uint8_t tx_tail_held;     /* the last fragment's 00 00 ff ff is not sent yet */
	uint8_t tx_msg_empty;     /* nothing sent for the current message yet */
};

/* ---- parameters ---- */

struct pmd_params {
	int server_no_takeover, client_no_takeover;
	int server_bits, client_bits; /* 0 = absent, -1 = present without value */
};

/* Parse "a; b=9; c=\"10\"" (blanks already removed).  0, or -1 when an
 * unknown, repeated or ill-valued parameter makes the offer unacceptable. */
static int parse_params(const char *s, struct pmd_params *out)
{
	memset(out, 0, sizeof *out);
	while (*s) {
		char name[40], value[16] = "";
		size_t n = strcspn(s, "=;");
		if (!n || n >= sizeof name)
			return -1;
		memcpy(name, s, n);
		name[n] = '\0';
		s += n;
		int has_value = *s == '=';
		if (has_value) {
			s++;
			int quoted = *s == '"';
			s += quoted;
			size_t v = strcspn(s, quoted ? "\"" : ";");
			if (!v || v >= sizeof value)
				return -1;
			memcpy(value, s, v);
			value[v] = '\0';
			s += v;
			/* a quote opened must be closed (never step past the end) */
			if (quoted && *s++ != '"')
				return -1;
		}
		if (*s == ';')
			s++;

		int bits = -1;
		if (has_value) {
			char *end;
			long b = strtol(value, &end, 10);
			if (*end || b < 8 || b > 15 || value[0] == '0' || value[0] == '+')
				return -1;
			bits = (int)b;
		}
		if (!strcmp(name, "server_no_context_takeover") && !has_value &&
		    !out->server_no_takeover)
			out->server_no_takeover = 1;
		else if (!strcmp(name, "client_no_context_takeover") && !has_value &&
			 !out->client_no_takeover)
			out->client_no_takeover = 1;
		else if (!strcmp(name, "server_max_window_bits") && has_value && !out->server_bits)
			out->server_bits = bits;
		else if (!strcmp(name, "client_max_window_bits") && !out->client_bits)
			out->client_bits = bits;
		else
			return -1;
	}
	return 0;
}

/* Server: take the client's offer, or decline it. */
static int server_accept(struct pmd *pmd, const char *offer)
{
	struct pmd_params p;
	if (parse_params(offer, &p))
		return -1;
	/* zlib cannot make a raw DEFLATE stream with a 256-byte window */
	if (p.server_bits == 8)
		return -1;
	pmd->tx_no_takeover = pmd->reply_server_no_takeover = (uint8_t)p.server_no_takeover;
	pmd->rx_no_takeover = pmd->reply_client_no_takeover = (uint8_t)p.client_no_takeover;
	pmd->tx_window_bits = (uint8_t)(p.server_bits > 0 ? p.server_bits : 15);
	pmd->reply_server_bits = (uint8_t)(p.server_bits > 0 ? p.server_bits : 0);
	return 0;
}

/* Client: the server's answer to our offer ("client_max_window_bits"). */
static int client_accept(struct pmd *pmd, const char *answer)
{
	struct pmd_params p;
	if (parse_params(answer, &p) || p.client_bits == 8 || p.client_bits == -1 ||
	    p.server_bits == -1)
		return -1;
	pmd->tx_no_takeover = (uint8_t)p.client_no_takeover;
	pmd->rx_no_takeover = (uint8_t)p.server_no_takeover;
	pmd->tx_window_bits = (uint8_t)(p.client_bits > 0 ? p.client_bits : 15);
	return 0;
}

static int append(char **pos, size_t room, const char *text)
{
	size_t n = strlen(text);
	if (n + 1 > room)
		return -1;
	memcpy(*pos, text, n + 1);
	*pos += n;
	return 0;
}

static int reply(struct pmd *pmd, char **pos, size_t room)
{
	char bits[40] = "";
	if (pmd->reply_server_bits)
		snprintf(bits, sizeof bits, "; server_max_window_bits=%d", pmd->reply_server_bits);
	return append(pos, room, pmd->reply_server_no_takeover ? "; server_no_context_takeover" : "") ||
	       append(pos, room, pmd->reply_client_no_takeover ? "; client_no_context_takeover" : "") ||
	       append(pos, room, bits);
}

/* ---- receiving ---- */

static int rx_start(struct pmd *pmd)
{
	if (pmd->rx_ready)
		return 0;
	/* one chunk, the byte that may be held back, and the 0 after a piece */
	if (!pmd->rx_out &&
	    !(pmd->rx_out = malloc(LWS_SEND_BUFFER_PRE_PADDING + LWS_PMD_CHUNK + 2)))
		return -1;
	memset(&pmd->rx, 0, sizeof pmd->rx);
	/* 15 inflates any window the peer may use */
	if (inflateInit2(&pmd->rx, -15) != Z_OK)
		return -1;
	pmd->rx_ready = 1;
	return 0;
}

/*
 * Inflate what pmd->rx has as input into out[*have..room), feeding the
 * removed tail once the input of a unit that ends runs out.  Stops when out
 * is full or everything went in and came out.  0, or -1 on bad data.
 *
 * A block with BFINAL set (what zlib's Z_FINISH makes) ends the DEFLATE
 * stream (RFC 7692 7.2.3.4 allows it); the peer starts a new one for what
 * follows, so we do too.  RFC 7692's example puts a 0x00 after such a block
 * so that the re-added tail is an empty stored block of the new stream;
 * zlib's Z_FINISH output has no such byte, and the tail is then the start of
 * a block that never ends: the unit's end starts a fresh stream again
 * (inflate_step).  Every inflate() call must consume input or produce
 * output: one that does neither with input left is bad data, never a loop.
 */
static int inflate_into(struct pmd *pmd, uint8_t *out, size_t *have, size_t room, int unit_end)
{
	z_stream *z = &pmd->rx;
	for (;;) {
		if (unit_end && !z->avail_in && !pmd->rx_tail_fed) {
			/* RFC 7692 7.2.2: the removed tail goes back at the end */
			z->next_in = (Bytef *)deflate_tail;
			z->avail_in = sizeof deflate_tail;
			pmd->rx_tail_fed = 1;
		}
		if (*have == room || (!z->avail_in && !pmd->rx_out_full))
			return 0;
		uInt in_before = z->avail_in, out_before = (uInt)(room - *have);
		z->next_out = out + *have;
		z->avail_out = out_before;
		int rc = inflate(z, Z_SYNC_FLUSH);
		*have += out_before - z->avail_out;
		pmd->rx_out_full = z->avail_out == 0;
		if (rc == Z_STREAM_END) {
			if (inflateReset(z) != Z_OK)
				return -1;
			pmd->rx_out_full = 0;
			pmd->rx_ended = 1;
			continue;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -1;
		if (z->avail_in == in_before && z->avail_out == out_before) {
			if (z->avail_in)
				return -1; /* no progress with input left */
			pmd->rx_out_full = 0; /* zlib held nothing more after all */
		}
	}
}

/*
 * One step of inflating compressed data: the input (if any) goes in, at most
 * one chunk comes out in tok, followed by a 0 byte (out[len] = 0, as the
 * classic library gave every piece).  unit_end: the input ends a compressed
 * unit (a message, or a frame for deflate-frame) whose removed tail is fed
 * after it; msg_end: it ends the message.
 *
 * The last inflated byte is held back (pmd->rx_carry) until more output
 * or the message's end shows whether the message goes on: the piece that
 * ends a message then always carries bytes, even when its last unit inflates
 * to nothing (only a message that inflates to nothing at all ends with an
 * empty piece).  Returns 1 when more output is due for this input (call again
 * with an empty one), 0 when done, -1 on bad data.
 */
static int inflate_step(struct pmd *pmd, struct lws_tokens *tok, int unit_end, int msg_end)
{
	if (rx_start(pmd))
		return -1;
	if (tok->token_len > 0) {
		pmd->rx.next_in = (Bytef *)tok->token;
		pmd->rx.avail_in = (uInt)tok->token_len;
	}
	uint8_t *out = pmd->rx_out + LWS_SEND_BUFFER_PRE_PADDING;
	size_t have = 0, room = LWS_PMD_CHUNK + 1;
	if (pmd->rx_held) {
		out[have++] = pmd->rx_carry;
		pmd->rx_held = 0;
	}
	if (inflate_into(pmd, out, &have, room, unit_end))
		return -1;
	int done = have < room; /* all input in, and out of zlib */
	if (done && unit_end) {
		pmd->rx_tail_fed = 0;
		if (pmd->rx_ended || (pmd->rx_no_takeover && msg_end))
			inflateReset(&pmd->rx);
		pmd->rx_ended = 0;
	}
	if (!(done && msg_end) && have) {
		pmd->rx_carry = out[--have];
		pmd->rx_held = 1;
	}
	out[have] = 0;
	tok->token = (char *)out;
	tok->token_len = (int)have;
	return !done;
}

/*
 * deflate-frame: a plain frame's piece in a message whose earlier frames
 * were compressed.  The byte held back from those goes first (the rest of
 * the piece on the next call), or ends the message when the plain frame that
 * ends it is empty.
 */
static int plain_step(struct pmd *pmd, struct lws_tokens *tok, int msg_end)
{
	if (pmd->rx_plain_pending) {
		pmd->rx_plain_pending = 0;
		tok->token = (char *)pmd->rx_plain;
		tok->token_len = pmd->rx_plain_len;
		return 0;
	}
	if (!pmd->rx_held || (tok->token_len <= 0 && !msg_end))
		return 0; /* as it is */
	uint8_t *out = pmd->rx_out + LWS_SEND_BUFFER_PRE_PADDING;
	out[0] = pmd->rx_carry;
	out[1] = 0;
	pmd->rx_held = 0;
	int more = tok->token_len > 0;
	if (more) {
		pmd->rx_plain = tok->token;
		pmd->rx_plain_len = tok->token_len;
		pmd->rx_plain_pending = 1;
	}
	tok->token = (char *)out;
	tok->token_len = 1;
	return more;
}

int lws_pmd_rx_keep(void *user)
{
	struct pmd *pmd = user;
	uint8_t *keep = pmd->rx_keep.buf;
	const uint8_t *in = pmd->rx.next_in;
	size_t in_len = pmd->rx_ready ? pmd->rx.avail_in : 0;
	size_t plain_len = pmd->rx_plain_pending ? (size_t)pmd->rx_plain_len : 0;
	/* the tail is static; what is in rx_keep already was kept before */
	if (!in_len || in == deflate_tail ||
	    (keep && in >= keep && in < keep + pmd->rx_keep.cap))
		in_len = 0;
	if (plain_len && keep && (const uint8_t *)pmd->rx_plain >= keep &&
	    (const uint8_t *)pmd->rx_plain < keep + pmd->rx_keep.cap)
		plain_len = 0;
	if (!in_len && !plain_len)
		return 0;
	/* both cannot be pending at once: a plain frame follows a unit all in.
	 * One byte more: the plain piece is handed on as it is, and every piece
	 * ends with a 0 (in[len] == 0; the host delivers our output as it is) */
	if (lws_zbuf_room(&pmd->rx_keep, in_len + plain_len + 1))
		return -1;
	keep = pmd->rx_keep.buf;
	if (in_len) {
		memmove(keep, in, in_len);
		pmd->rx.next_in = keep;
	}
	if (plain_len) {
		memmove(keep + in_len, pmd->rx_plain, plain_len);
		keep[in_len + plain_len] = 0;
		pmd->rx_plain = (const char *)keep + in_len;
	}
	return 0;
}

/* ---- sending ---- */

static int tx_start(struct pmd *pmd)
{
	if (pmd->tx_ready)
		return 0;
	memset(&pmd->tx, 0, sizeof pmd->tx);
	if (deflateInit2(&pmd->tx, LWS_PMD_LEVEL, Z_DEFLATED, -(int)pmd->tx_window_bits,
			 LWS_PMD_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	pmd->tx_ready = 1;
	return 0;
}

/*
 * Deflate len bytes with a sync flush into pmd->tx_out, after 4 bytes of room
 * (for a held tail); returns the end of the output there, 0 on failure.
 */
static size_t compress_sync(struct pmd *pmd, const uint8_t *data, size_t len)
{
	size_t end = 4;
	if (tx_start(pmd) ||
	    lws_zbuf_room(&pmd->tx_out, 4 + deflateBound(&pmd->tx, (uLong)len) + 16) ||
	    lws_zbuf_deflate(&pmd->tx_out, &end, &pmd->tx, data, len, Z_SYNC_FLUSH))
		return 0;
	return end;
}

/*
 * Compress one data frame's payload into pmd->tx_out; tok points at it after.
 * Each fragment is sync-flushed, so it ends in 00 00 ff ff.  The message's
 * last such tail is implied (RFC 7692 7.2.1) and must not be sent; since the
 * final fragment may compress to nothing, every fragment's tail is held back
 * and sent at the front of the next one, and dropped at the message's end.
 */
static int pmd_deflate(struct libwebsocket *wsi, struct pmd *pmd, struct lws_tokens *tok)
{
	size_t end = compress_sync(pmd, (const uint8_t *)tok->token, (size_t)tok->token_len);
	if (!end)
		return -1;
	size_t start = 4;
	if (pmd->tx_tail_held) {
		start = 0;
		memcpy(pmd->tx_out.buf, deflate_tail, 4);
	}
	pmd->tx_tail_held = 0;
	if (end - start >= 4 && !memcmp(pmd->tx_out.buf + end - 4, deflate_tail, 4)) {
		end -= 4;
		pmd->tx_tail_held = !wsi->tx_fin;
	}
	if (wsi->tx_opcode != LWS_OP_CONTINUATION)
		pmd->tx_msg_empty = 1;
	if (end > start || pmd->tx_tail_held)
		pmd->tx_msg_empty = 0;
	if (wsi->tx_fin) {
		/* zlib flushes nothing new when nothing came in since the last
		 * flush; an empty message is then a lone empty stored block
		 * header, 0x00 (RFC 7692 7.2.3.6) */
		if (pmd->tx_msg_empty) {
			pmd->tx_out.buf[4] = 0x00;
			start = 4;
			end = 5;
		}
		if (pmd->tx_no_takeover)
			deflateReset(&pmd->tx);
	}
	tok->token = (char *)pmd->tx_out.buf + start;
	tok->token_len = (int)(end - start);
	return 1; /* RSV1 on the message's first frame */
}

static void pmd_free(struct pmd *pmd)
{
	if (pmd->rx_ready)
		inflateEnd(&pmd->rx);
	if (pmd->tx_ready)
		deflateEnd(&pmd->tx);
	free(pmd->rx_out);
	lws_zbuf_free(&pmd->rx_keep);
	lws_zbuf_free(&pmd->tx_out);
	memset(pmd, 0, sizeof *pmd);
}

static int pmd_callback(struct libwebsocket_context *context, struct libwebsocket_extension *ext,
			struct libwebsocket *wsi,
			enum libwebsocket_extension_callback_reasons reason, void *user,
			void *in, size_t len)
{
	struct pmd *pmd = user;
	(void)context;
	(void)ext;
	switch (reason) {
	case LWS_EXT_CALLBACK_CONSTRUCT:
		return server_accept(pmd, in);
	case LWS_EXT_CALLBACK_CLIENT_CONSTRUCT:
		return client_accept(pmd, in);
	case LWS_EXT_CALLBACK_HANDSHAKE_REPLY_TX:
		return reply(pmd, in, len);
	case LWS_EXT_CALLBACK_CHECK_OK_TO_PROPOSE_EXTENSION:
		/* we can inflate any window; the server may shrink ours */
		return append(in, len, "; client_max_window_bits");
	case LWS_EXT_CALLBACK_PACKET_RX_PREPARSE:
		if (!(wsi->parser.msg_rsv & LWS_RSV1))
			return 0; /* an uncompressed message passes as it is */
		return inflate_step(pmd, in, wsi->rx_final, wsi->rx_final);
	case LWS_EXT_CALLBACK_PACKET_TX_PRESEND:
		return pmd_deflate(wsi, pmd, in);
	case LWS_EXT_CALLBACK_DESTROY:
		pmd_free(pmd);
		return 0;
	default:
		return 0;
	}
}

/* ---- deflate-frame ---- */

/* "no_context_takeover; max_window_bits=10" (blanks removed): what the peer
 * asks of our compressor.  0, or -1 when the offer is not acceptable. */
static int frame_params(struct pmd *pmd, const char *s)
{
	int takeover_seen = 0, bits_seen = 0;
	pmd->tx_window_bits = 15;
	while (*s) {
		size_t n = strcspn(s, ";");
		if (n == 19 && !strncmp(s, "no_context_takeover", n) && !takeover_seen++) {
			pmd->tx_no_takeover = 1;
		} else if (n > 16 && !strncmp(s, "max_window_bits=", 16) && !bits_seen++) {
			const char *v = s + 16;
			size_t vlen = n - 16;
			if (vlen > 2 && v[0] == '"' && v[vlen - 1] == '"') {
				v++;
				vlen -= 2;
			}
			/* 9..15: zlib cannot make a raw stream with a 256-byte window */
			if (vlen == 1 && v[0] == '9')
				pmd->tx_window_bits = 9;
			else if (vlen == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
				pmd->tx_window_bits = (uint8_t)(10 + v[1] - '0');
			else
				return -1;
		} else {
			return -1;
		}
		s += n + (s[n] == ';');
	}
	return 0;
}

/* Compress one frame's payload on its own; 1 = RSV1 (compressed), 0 = as is. */
static int frame_deflate(struct pmd *pmd, struct lws_tokens *tok)
{
	if (tok->token_len <= 0)
		return 0; /* nothing to gain: an empty frame goes plain */
	size_t end = compress_sync(pmd, (const uint8_t *)tok->token, (size_t)tok->token_len);
	if (!end)
		return -1;
	if (end - 4 >= 4 && !memcmp(pmd->tx_out.buf + end - 4, deflate_tail, 4))
		end -= 4; /* implied, as in permessage-deflate */
	if (pmd->tx_no_takeover)
		deflateReset(&pmd->tx);
	tok->token = (char *)pmd->tx_out.buf + 4;
	tok->token_len = (int)(end - 4);
	return 1;
}

static int frame_callback(struct libwebsocket_context *context,
			  struct libwebsocket_extension *ext, struct libwebsocket *wsi,
			  enum libwebsocket_extension_callback_reasons reason, void *user, void *in,
			  size_t len)
{
	struct pmd *pmd = user;
	(void)context;
	(void)ext;
	(void)len;
	switch (reason) {
	case LWS_EXT_CALLBACK_CONSTRUCT:        /* the client's offer binds us */
	case LWS_EXT_CALLBACK_CLIENT_CONSTRUCT: /* the server's answer binds us */
		return frame_params(pmd, in);
	case LWS_EXT_CALLBACK_PACKET_RX_PREPARSE:
		if (pmd->rx_plain_pending || !(wsi->parser.rsv & LWS_RSV1))
			return plain_step(pmd, in, wsi->rx_final); /* a plain frame */
		/* each compressed frame ends in the removed tail */
		return inflate_step(pmd, in, libwebsockets_remaining_packet_payload(wsi) == 0,
				    wsi->rx_final);
	case LWS_EXT_CALLBACK_PACKET_TX_PRESEND:
		return frame_deflate(pmd, in);
	case LWS_EXT_CALLBACK_DESTROY:
		pmd_free(pmd);
		return 0;
	default:
		return 0;
	}
}

/*
 * The built-ins, in the order a client offers them (a server takes the first
 * compression extension the client offers that it has: one per connection).
 */
struct libwebsocket_extension libwebsocket_internal_extensions[] = {
	{"permessage-deflate", pmd_callback, sizeof(struct pmd), NULL},
	{"deflate-frame", frame_callback, sizeof(struct pmd), NULL},
	{"x-webkit-deflate-frame", frame_callback, sizeof(struct pmd), NULL},
	{"deflate-stream", lws_ds_callback, 0, NULL}, /* its state: wsi->ds */
	{NULL, NULL, 0, NULL},
};

/* Their descriptions (struct lws_ext_desc): the host's view of them. */
static const struct lws_ext_desc descriptions[] = {
	{pmd_callback, LWS_EXTF_RSV1 | LWS_EXTF_PER_MESSAGE | LWS_EXTF_COMPRESSION,
	 lws_pmd_rx_keep},
	{frame_callback, LWS_EXTF_RSV1 | LWS_EXTF_COMPRESSION, lws_pmd_rx_keep},
	{lws_ds_callback, LWS_EXTF_COMPRESSION, NULL},
};

const struct lws_ext_desc *lws_ext_desc_of(const struct libwebsocket_extension *ext)
{
	for (size_t i = 0; i < sizeof descriptions / sizeof descriptions[0]; i++)
		if (ext->callback == descriptions[i].callback)
			return &descriptions[i];
	return NULL;
}
