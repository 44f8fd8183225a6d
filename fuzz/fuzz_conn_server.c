/*
 * fuzz_conn_server.c - a whole server connection: a real context with every
 * built-in extension, a connection adopted from a socketpair (lws_conn_new,
 * what the accept loop calls; the harness is built with the core's sources so
 * it needs no hook in the library), served by libwebsocket_service; the fuzz
 * input is the client's bytes, written in chunks.  The HTTP callback answers
 * inline (LWS_WRITE_HTTP) and keeps the connection (returns 0), so pipelined
 * requests are handled one after another (issue 10 defect 2); RECEIVE echoes.
 *
 * Input: [mode][rng_len][rng bytes][client bytes...]
 *   mode & 1:   the harness first sends a valid upgrade request (so the
 *               client bytes are frames: masked, as from a browser)
 *   mode >> 1 & 7: the extension it offers (none, permessage-deflate with or
 *               without parameters, deflate-frame, x-webkit-deflate-frame,
 *               deflate-stream, two offers)
 *   mode & 16:  ask for the "echo" subprotocol (else the HTTP protocol's)
 *   mode & 32, mode >> 6: whole-message mode played beside the pieces, the
 *               message size limit (connfuzz.h, CONN_WHOLE)
 */
#include "connfuzz.h"

static uint8_t echo_buf[LWS_SEND_BUFFER_PRE_PADDING + 65536 + LWS_SEND_BUFFER_POST_PADDING];

static int echo(struct libwebsocket *wsi, const void *in, size_t len)
{
	if (len > 65536)
		len = 65536;
	memcpy(echo_buf + LWS_SEND_BUFFER_PRE_PADDING, in, len);
	int kind = lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
	if (!libwebsocket_is_final_fragment(wsi))
		return 0; /* echo whole pieces only at a message's end: keep it simple */
	return libwebsocket_write(wsi, echo_buf + LWS_SEND_BUFFER_PRE_PADDING, len,
				  (enum libwebsocket_write_protocol)kind) < 0;
}

static int http_cb(struct libwebsocket_context *context, struct libwebsocket *wsi,
		   enum libwebsocket_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)context, (void)user;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "http callback %d, %zu bytes\n", (int)reason, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		static const char page[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
		memcpy(echo_buf + LWS_SEND_BUFFER_PRE_PADDING, page, sizeof page - 1);
		libwebsocket_write(wsi, echo_buf + LWS_SEND_BUFFER_PRE_PADDING, sizeof page - 1,
				   LWS_WRITE_HTTP);
		return in && !strcmp(in, "/close"); /* else keep-alive */
	}
	case LWS_CALLBACK_ESTABLISHED:
		conn_run_established(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		conn_run_piece(wsi, in, len);
		return echo(wsi, in, len);
	default:
		return 0;
	}
}

static int echo_cb(struct libwebsocket_context *context, struct libwebsocket *wsi,
		   enum libwebsocket_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)context, (void)user;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "echo callback %d, %zu bytes\n", (int)reason, len);
	if (reason == LWS_CALLBACK_ESTABLISHED)
		conn_run_established(wsi);
	if (reason == LWS_CALLBACK_RECEIVE) {
		conn_run_piece(wsi, in, len);
		return echo(wsi, in, len);
	}
	if (reason == LWS_CALLBACK_SERVER_WRITEABLE)
		return 0;
	return 0;
}

static struct libwebsocket_protocols protocols[] = {
	{.name = "http-only", .callback = http_cb},
	{.name = "echo", .callback = echo_cb},
	{.name = NULL, .callback = NULL},
};

static struct libwebsocket_context *context(void)
{
	static struct libwebsocket_context *ctx;
	if (!ctx) {
		lws_set_log_level(0, NULL);
		ctx = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols,
						  libwebsocket_internal_extensions, NULL, NULL,
						  NULL, -1, -1,
						  LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME, NULL);
		if (!ctx)
			abort();
		lws_set_max_message_size(ctx, 1 << 20);
	}
	return ctx;
}

static const char *const offers[] = {
	NULL,
	"permessage-deflate",
	"permessage-deflate; client_max_window_bits; server_no_context_takeover",
	"deflate-frame",
	"x-webkit-deflate-frame; no_context_takeover",
	"deflate-stream",
	"permessage-deflate; server_max_window_bits=10, deflate-frame",
	"deflate-stream, permessage-deflate",
};

/* One connection: the input played to it, then the peer leaves. */
static void play(struct libwebsocket_context *ctx, unsigned mode, const uint8_t *data,
		 size_t size, struct fuzz_rng rng)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	if (!lws_conn_new(ctx, sv[0])) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	int budget = CONN_MAX_SERVICE;
	if (mode & 1) {
		char req[512];
		const char *ext = offers[(mode >> 1) & 7];
		int n = snprintf(req, sizeof req,
				 "GET /chat HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
				 mode & 16 ? "Sec-WebSocket-Protocol: echo\r\n" : "",
				 ext ? "Sec-WebSocket-Extensions: " : "", ext ? ext : "",
				 ext ? "\r\n" : "");
		struct fuzz_rng whole;
		fuzz_rng_init(&whole, NULL, 0);
		conn_feed(ctx, sv[1], (const uint8_t *)req, (size_t)n, &whole, &budget);
	}
	conn_feed(ctx, sv[1], data, size, &rng, &budget);
	conn_finish(ctx, sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;
	struct fuzz_rng rng;
	if (!fuzz_split(&data, &size, 1 << 20, &mode, &rng))
		return 0;

	struct libwebsocket_context *ctx = context();
	conn_run_start(ctx, 0, mode);
	play(ctx, mode, data, size, rng);
	if (mode & CONN_WHOLE) {
		conn_run_start(ctx, 1, mode);
		play(ctx, mode, data, size, rng); /* the same chunks: rng copied */
	}
	conn_runs_end(mode);
	return 0;
}
