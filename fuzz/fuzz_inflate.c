/*
 * fuzz_inflate.c - receiving compressed data with the built-in extensions
 * (native/src/ext_deflate.c: permessage-deflate and deflate-frame;
 * ext_deflate_stream.c: deflate-stream), called as the extension host calls
 * them, with a no-progress detector: a step that asks to be called again
 * ("more") must, within a few calls, produce output or finish; a
 * deflate-stream read that keeps saying "read again" must do the same.  A
 * loop without progress is a finding (issue 10 defect 1: data ending in a
 * block with BFINAL set made inflate_step answer "more" forever).  The host
 * (ext.c) has its own guard now (1011 after 64 idle "more" answers); the
 * harness's limit is lower, so a built-in extension never gets near it.
 * As the host does, the harness suspends output at random after a "more"
 * (lws_pmd_rx_keep, the input's memory freed) and resumes with empty calls;
 * every piece must end with a 0 byte, and the last piece of a compressed
 * message must carry bytes when the message has any (rx_piece).
 *
 * Input: [mode][rng_len][rng bytes][payload...]
 *   mode & 3:  0 permessage-deflate, 1 deflate-frame, 2 deflate-stream, 3 = 0
 *   mode & 4:  round trip: the payload is compressed by a peer's send side
 *              (PACKET_TX_PRESEND / lws_ds_deflate) and must come back whole;
 *              otherwise the payload is the peer's compressed bytes
 *   mode >> 3: the negotiated parameters (no context takeover, window bits)
 * The rng bytes split the payload into messages, frames and reads.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include "fakewsi.h"
#include "zbuf.h"

#define MAX_OUT (4u * 1024 * 1024) /* stop inflating a bomb here (the host: 1009) */
#define NO_PROGRESS_LIMIT 16

enum { PMD = 0, FRAME = 1, STREAM = 2 };

struct sink {
	uint8_t *b;
	size_t len, cap;
	int keep; /* round trip: keep the bytes to compare */
};

static void sink_put(struct sink *s, const void *p, size_t n)
{
	if (!n)
		return;
	if (!s->keep) {
		s->len += n;
		return;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		while (cap < s->len + n)
			cap *= 2;
		if (!(s->b = realloc(s->b, cap)))
			abort();
		s->cap = cap;
	}
	memcpy(s->b + s->len, p, n);
	s->len += n;
}

static struct libwebsocket_extension *ext_of(int kind)
{
	return &libwebsocket_internal_extensions[kind == PMD ? 0 : kind == FRAME ? 1 : 3];
}

/*
 * What the host (ext.c rx_through) does with one piece of a received frame:
 * PACKET_RX_PREPARSE with the piece (rx_final set before each call), then
 * empty calls while the extension says "more".  After a "more" the host may
 * suspend the output (its per-turn budget spent, or reception paused): it
 * calls lws_pmd_rx_keep, the piece's memory (the receive buffer) is reused
 * for what is read next, and the empty calls go on in a later turn.  The
 * harness suspends at random: the piece is a heap copy, freed at the
 * suspension, so ASan sees any use of it after lws_pmd_rx_keep.
 *
 * Checked: no "more" without output NO_PROGRESS_LIMIT times in a row (the
 * host would close with 1011 after 64: a built-in extension must never get
 * near that); every piece ends with a 0 byte (in[len] == 0, the classic
 * promise: the input copy has it as the receive buffer has); the piece that
 * ends a compressed message carries bytes when the message has any (the
 * last byte is held back for it).  *msg_bytes counts the message's output.
 * Returns -1 when the extension refused the data.
 */
static int rx_piece(struct libwebsocket *wsi, void *user, int kind, const uint8_t *data,
		    size_t len, int final, struct fuzz_rng *rng, struct sink *out,
		    size_t *msg_bytes, int check_last)
{
	struct libwebsocket_extension *ext = ext_of(kind);
	/* the receive buffer: the piece, a 0 after it */
	uint8_t *piece = malloc(len + 1);
	if (!piece)
		abort();
	memcpy(piece, data, len);
	piece[len] = 0;
	struct lws_tokens tok = {(char *)piece, (int)len};
	int idle = 0, rc = 0;
	for (int calls = 0;; calls++) {
		wsi->rx_final = (uint8_t)final;
		int n = ext->callback(wsi->context, ext, wsi, LWS_EXT_CALLBACK_PACKET_RX_PREPARSE,
				      user, &tok, 0);
		if (n < 0) {
			rc = -1;
			break;
		}
		FUZZ_ASSERT(tok.token_len >= 0, "negative output length %d", tok.token_len);
		FUZZ_ASSERT(!tok.token_len || tok.token, "%d bytes at NULL", tok.token_len);
		if (tok.token_len > 0) {
			FUZZ_ASSERT(tok.token[tok.token_len] == 0,
				    "%s: a %d-byte piece without the 0 after it", ext->name,
				    tok.token_len);
			sink_put(out, tok.token, (size_t)tok.token_len);
			*msg_bytes += (size_t)tok.token_len;
			idle = 0;
		} else if (n) {
			idle++;
		}
		if (!n) {
			FUZZ_ASSERT(!(final && check_last && *msg_bytes && !tok.token_len),
				    "%s: the message's last piece is empty after %zu bytes "
				    "(the final flag on a piece without bytes)",
				    ext->name, *msg_bytes);
			break;
		}
		FUZZ_ASSERT(idle < NO_PROGRESS_LIMIT,
			    "no progress: %s asked to be called again %d times without output "
			    "(%d calls for a %zu-byte piece)",
			    ext->name, idle, calls + 1, len);
		if (out->len > MAX_OUT) {
			rc = -1; /* a bomb: the host would close with 1009 */
			break;
		}
		tok.token = NULL;
		tok.token_len = 0;
		if (piece && (fuzz_rng_next(rng) & 7) == 0) {
			/* suspended: the rest in a later turn, the piece's memory
			 * reused meanwhile */
			FUZZ_ASSERT(!lws_ext_desc_of(ext)->rx_keep(user), "%s: keep failed", ext->name);
			memset(piece, 0xa5, len + 1);
			free(piece);
			piece = NULL;
		}
	}
	free(piece);
	return rc;
}

/* The peer's bytes for deflate-stream: held, then read until drained. */
static int ds_piece(struct libwebsocket *wsi, const uint8_t *data, size_t len, size_t cap,
		    struct sink *out)
{
	static uint8_t buf[65536];
	if (cap > sizeof buf)
		cap = sizeof buf;
	/* deflate-stream's read layer, set on wsi when it was constructed */
	FUZZ_ASSERT(wsi->rx_layer, "deflate-stream set no read layer");
	if (wsi->rx_layer->hold(wsi, data, len))
		return -1;
	int idle = 0;
	do {
		ssize_t n = wsi->rx_layer->read(wsi, buf, cap);
		if (n == LWS_READ_BAD_DATA || n == LWS_READ_ERROR)
			return -1;
		/* a byte of room is left after what is read, for the 0 after a piece */
		FUZZ_ASSERT(n == LWS_READ_AGAIN || (n > 0 && (size_t)n <= (cap > 1 ? cap - 1 : cap)),
			    "read answered %zd (cap %zu)", n, cap);
		if (n > 0) {
			sink_put(out, buf, (size_t)n);
			idle = 0;
		} else {
			idle++;
		}
		FUZZ_ASSERT(idle < NO_PROGRESS_LIMIT,
			    "no progress: deflate-stream asks to read again %d times without output",
			    idle);
		if (out->len > MAX_OUT)
			return -1;
	} while (wsi->rx_more);
	return 0;
}

static const char *const pmd_params[] = {
	"",
	"server_no_context_takeover",
	"server_no_context_takeover; client_no_context_takeover",
	"server_max_window_bits=9",
	"server_max_window_bits=10; server_no_context_takeover",
	"client_max_window_bits",
};
static const char *const frame_params[] = {
	"",
	"no_context_takeover",
	"max_window_bits=9",
	"no_context_takeover; max_window_bits=12",
};

/* A socket with nothing to read (a real one: recv says EAGAIN, as at run time). */
static int empty_socket(void)
{
	static int sv[2] = {-1, -1};
	if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	return sv[0];
}

struct side {
	struct libwebsocket *wsi;
	void *user;
};

static void side_open(struct side *s, int kind, int is_client, const char *params)
{
	struct libwebsocket_extension *ext = ext_of(kind);
	/* the host strips blanks before the extension sees its parameters */
	char clean[128];
	size_t o = 0;
	for (const char *p = params; *p && o + 1 < sizeof clean; p++)
		if (*p != ' ')
			clean[o++] = *p;
	clean[o] = '\0';
	s->wsi = fuzz_wsi(is_client);
	s->wsi->fd = empty_socket(); /* deflate-stream reads it when its input ran out */
	s->user = ext->per_session_data_size ? calloc(1, ext->per_session_data_size) : NULL;
	int rc = ext->callback(s->wsi->context, ext, s->wsi,
			       is_client ? LWS_EXT_CALLBACK_CLIENT_CONSTRUCT
					 : LWS_EXT_CALLBACK_CONSTRUCT,
			       s->user, clean, strlen(clean));
	FUZZ_ASSERT(rc == 0, "%s refused its own parameters \"%s\"", ext->name, clean);
}

static void side_close(struct side *s, int kind)
{
	struct libwebsocket_extension *ext = ext_of(kind);
	ext->callback(s->wsi->context, ext, s->wsi, LWS_EXT_CALLBACK_DESTROY, s->user, NULL, 0);
	free(s->user);
	free(s->wsi);
}

/* Set what the frame parser would say about the piece being delivered. */
static void set_rx_frame(struct libwebsocket *wsi, int first_frame, int compressed, int kind,
			 uint64_t frame_len, uint64_t done_after, int final)
{
	struct lws_frame_parser *p = &wsi->parser;
	p->opcode = first_frame ? LWS_OP_BINARY : LWS_OP_CONTINUATION;
	p->msg_opcode = LWS_OP_BINARY;
	p->rsv = (uint8_t)(compressed && (kind == FRAME || first_frame) ? LWS_RSV1 : 0);
	if (first_frame)
		p->msg_rsv = 0;
	p->msg_rsv |= p->rsv;
	p->payload_len = frame_len;
	p->payload_done = done_after;
	wsi->rx_final = (uint8_t)final;
}

/* Deliver one received frame's payload in pieces.  *msg_bytes: the message's
 * output so far (0 before its first frame); all_compressed: every frame of
 * the message so far is compressed (then its last piece must carry bytes). */
static int rx_frame(struct side *rx, int kind, const uint8_t *payload, size_t len,
		    int first_frame, int compressed, int fin, struct fuzz_rng *rng,
		    struct sink *out, size_t *msg_bytes, int all_compressed)
{
	size_t pos = 0;
	do {
		size_t n = len - pos ? fuzz_rng_chunk(rng, len - pos) : 0;
		int last = pos + n == len;
		set_rx_frame(rx->wsi, first_frame, compressed, kind, len, pos + n, last && fin);
		if (rx_piece(rx->wsi, rx->user, kind, payload + pos, n, last && fin, rng, out,
			     msg_bytes, all_compressed))
			return -1;
		pos += n;
	} while (pos < len);
	return 0;
}

/* deflate-stream: a peer's send (a then b), flushed or batched; what a flush
 * gives is received by rx in reads of random sizes. */
static void ds_send(struct side *tx, struct side *rx, const uint8_t *a, size_t alen,
		    const uint8_t *b, size_t blen, int flush, struct fuzz_rng *rng,
		    struct sink *out)
{
	const uint8_t *z = NULL;
	size_t zlen = 1;
	FUZZ_ASSERT(!lws_ds_deflate(tx->wsi, a, alen, b, blen, flush, &z, &zlen),
		    "deflate-stream could not compress");
	FUZZ_ASSERT(flush || !zlen, "a batched send gave %zu bytes before its flush", zlen);
	FUZZ_ASSERT(flush == !lws_ds_unflushed(tx->wsi), "unflushed flag %d after flush=%d",
		    lws_ds_unflushed(tx->wsi), flush);
	if (!zlen)
		return;
	uint8_t *copy = fuzz_dup(z, zlen);
	int rc = ds_piece(rx->wsi, copy, zlen, 1 + (fuzz_rng_next(rng) & 0xffff), out);
	free(copy);
	FUZZ_ASSERT(rc == 0, "deflate-stream refused its own output");
}

/* The payload as compressed bytes from a peer: split into messages and frames. */
static void raw(int kind, unsigned pi, const uint8_t *data, size_t size, struct fuzz_rng *rng)
{
	struct side rx;
	struct sink out = {0};
	int is_client = pi & 1;
	side_open(&rx, kind, is_client,
		  kind == PMD ? (is_client ? "" : pmd_params[pi % 6]) : kind == FRAME
		  ? frame_params[pi % 4] : "");
	size_t pos = 0;
	while (pos < size) {
		if (kind == STREAM) {
			size_t n = fuzz_rng_chunk(rng, size - pos);
			if (ds_piece(rx.wsi, data + pos, n, 1 + (fuzz_rng_next(rng) & 0xffff), &out))
				break;
			pos += n;
			continue;
		}
		/* a message of 1..3 frames; a frame is compressed or not */
		size_t msg = fuzz_rng_chunk(rng, size - pos);
		int frames = 1 + (int)(fuzz_rng_next(rng) % 3), compressed = 1, failed = 0;
		int all_compressed = 1;
		size_t mpos = 0, msg_bytes = 0;
		for (int f = 0; f < frames && !failed; f++) {
			size_t n = f == frames - 1 ? msg - mpos : (msg - mpos) / 2;
			if (kind == FRAME || f == 0)
				compressed = (fuzz_rng_next(rng) & 7) != 0;
			all_compressed &= compressed;
			failed = rx_frame(&rx, kind, data + pos + mpos, n, f == 0, compressed,
					  f == frames - 1, rng, &out, &msg_bytes, all_compressed);
			mpos += n;
		}
		if (failed)
			break;
		pos += msg;
	}
	free(out.b);
	side_close(&rx, kind);
}

/* Compress the payload as a peer would send it, receive it, compare. */
static void round_trip(int kind, unsigned pi, const uint8_t *data, size_t size,
		       struct fuzz_rng *rng)
{
	struct side tx, rx;
	struct sink out = {.keep = 1}, want = {.keep = 1};
	const char *params = kind == PMD ? pmd_params[pi % 5] : kind == FRAME
			     ? frame_params[pi % 4] : "";
	/* permessage-deflate: the server compresses with what the client offered,
	 * the client receives with the same parameters as the server's answer */
	side_open(&tx, kind, 0, params);
	side_open(&rx, kind, 1, params);

	size_t pos = 0;
	while (pos < size) {
		size_t msg = fuzz_rng_chunk(rng, size - pos);
		int frames = 1 + (int)(fuzz_rng_next(rng) % 3);
		size_t mpos = 0, msg_bytes = 0;
		int msg_compressed = 0, all_compressed = 1;
		for (int f = 0; f < frames; f++) {
			size_t n = f == frames - 1 ? msg - mpos : (msg - mpos) / 2;
			const uint8_t *chunk = data + pos + mpos;
			int fin = f == frames - 1;
			sink_put(&want, chunk, n);
			if (kind == STREAM) {
				/* a frame header and the payload, as output.c sends
				 * them: flushed at once, or batched (sends while a
				 * connection's input is dispatched) and flushed later;
				 * the last send is always flushed */
				uint8_t hdr[2] = {0x82, (uint8_t)f};
				want.len -= n; /* the header goes before it */
				sink_put(&want, hdr, sizeof hdr);
				sink_put(&want, chunk, n);
				int last = pos + msg == size && fin;
				ds_send(&tx, &rx, hdr, sizeof hdr, chunk, n,
					last || (fuzz_rng_next(rng) & 3) != 0, rng, &out);
			} else {
				struct libwebsocket_extension *ext = ext_of(kind);
				uint8_t *plain = fuzz_dup(chunk, n);
				struct lws_tokens tok = {(char *)plain, (int)n};
				tx.wsi->tx_opcode = f == 0 ? LWS_OP_BINARY : LWS_OP_CONTINUATION;
				tx.wsi->tx_fin = (uint8_t)fin;
				int c = ext->callback(tx.wsi->context, ext, tx.wsi,
						      LWS_EXT_CALLBACK_PACKET_TX_PRESEND, tx.user,
						      &tok, 0);
				FUZZ_ASSERT(c >= 0, "%s could not compress", ext->name);
				if (f == 0)
					msg_compressed = c > 0;
				uint8_t *wire = fuzz_dup((const uint8_t *)tok.token,
							 (size_t)tok.token_len);
				int compressed = kind == FRAME ? c > 0 : msg_compressed;
				all_compressed &= compressed;
				int rc = rx_frame(&rx, kind, wire, (size_t)tok.token_len, f == 0,
						  compressed, fin, rng, &out, &msg_bytes,
						  all_compressed);
				free(wire);
				free(plain);
				FUZZ_ASSERT(rc == 0, "%s refused its own output", ext->name);
			}
			mpos += n;
		}
		pos += msg;
	}
	FUZZ_ASSERT(out.len == want.len && (!out.len || !memcmp(out.b, want.b, out.len)),
		    "round trip: sent %zu bytes, received %zu (or different ones)", want.len,
		    out.len);
	free(out.b);
	free(want.b);
	side_close(&tx, kind);
	side_close(&rx, kind);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;
	struct fuzz_rng rng;
	if (!fuzz_split(&data, &size, 1 << 16, &mode, &rng))
		return 0;
	int kind = (mode & 3) == 3 ? PMD : (int)(mode & 3);
	if (mode & 4)
		round_trip(kind, mode >> 3, data, size, &rng);
	else
		raw(kind, mode >> 3, data, size, &rng);
	return 0;
}
