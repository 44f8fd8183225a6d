/*
 * fuzz_conn_client.c - a whole client connection: a context with every
 * built-in extension connects (libwebsocket_client_connect) to a loopback TCP
 * listener the harness owns, which plays the server: it reads the opening
 * handshake and answers with the fuzz input, in chunks, servicing the context
 * after each (libwebsocket_service, timeout 0).  The client offers every
 * extension and echoes what it receives.
 *
 * Input: [mode][rng_len][rng bytes][server bytes...]
 *   mode & 1:  the harness first answers a valid 101 (the right
 *              Sec-WebSocket-Accept) choosing the extension (mode >> 1) & 7
 *              (none, permessage-deflate with or without parameters,
 *              deflate-frame, x-webkit-deflate-frame, deflate-stream); the
 *              server bytes are then frames (unmasked)
 *   else:      the server bytes are the whole answer; "{A}" in its head (up
 *              to the first blank line) is replaced by the right
 *              Sec-WebSocket-Accept value (the key is random per connection;
 *              after the head it stays as it is, so the frames are the same
 *              on every connection: whole-message mode compares two)
 *   mode & 32, mode >> 6: whole-message mode played beside the pieces, the
 *              message size limit (connfuzz.h, CONN_WHOLE); mode & 16 unused
 */
#include "connfuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include "util.h"

static uint8_t tx[LWS_SEND_BUFFER_PRE_PADDING + 4096 + LWS_SEND_BUFFER_POST_PADDING];

static int client_cb(struct libwebsocket_context *context, struct libwebsocket *wsi,
		     enum libwebsocket_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)context, (void)user;
	uint8_t *p = tx + LWS_SEND_BUFFER_PRE_PADDING;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "client callback %d, %zu bytes\n", (int)reason, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		conn_run_established(wsi);
		memcpy(p, "hello hello hello", 17);
		return libwebsocket_write(wsi, p, 17, LWS_WRITE_TEXT) < 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		conn_run_piece(wsi, in, len);
		if (!libwebsocket_is_final_fragment(wsi))
			return 0;
		if (len > 4096)
			len = 4096;
		memcpy(p, in, len);
		return libwebsocket_write(wsi, p, len,
					  lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY
								   : LWS_WRITE_TEXT) < 0;
	default:
		return 0;
	}
}

static struct libwebsocket_protocols protocols[] = {
	{.name = "fuzz", .callback = client_cb},
	{.name = NULL, .callback = NULL},
};

static struct libwebsocket_context *ctx;
static int listener = -1, port;

static void setup(void)
{
	lws_set_log_level(0, NULL);
	ctx = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols,
					  libwebsocket_internal_extensions, NULL, NULL, NULL, -1,
					  -1, LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME, NULL);
	if (!ctx)
		abort();
	lws_set_max_message_size(ctx, 1 << 20);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof sa) ||
	    listen(listener, 16) || getsockname(listener, (struct sockaddr *)&sa, &sl))
		abort();
	port = ntohs(sa.sin_port);
}

static const char *const answers[] = {
	NULL,
	"permessage-deflate",
	"permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
	"deflate-frame",
	"x-webkit-deflate-frame; no_context_takeover",
	"deflate-stream",
	"permessage-deflate; client_no_context_takeover",
	"permessage-deflate; server_max_window_bits=12",
};

/* The client's request: wait for it (servicing) and find its key. */
static int read_request(int peer, char key[64])
{
	char req[8192];
	size_t have = 0;
	for (int i = 0; i < 200; i++) {
		libwebsocket_service(ctx, 0);
		conn_drain(peer, req, sizeof req - 1, &have);
		req[have] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
		poll(NULL, 0, 1);
	}
	const char *k = strstr(req, "Sec-WebSocket-Key: ");
	if (!k)
		return -1;
	k += 19;
	size_t n = strcspn(k, "\r\n");
	if (n >= 64)
		return -1;
	memcpy(key, k, n);
	key[n] = '\0';
	return 0;
}

/* One connection: the input played to it, then the peer leaves. */
static void play(unsigned mode, const uint8_t *data, size_t size, struct fuzz_rng rng)
{
	struct libwebsocket *wsi = libwebsocket_client_connect(
		ctx, "127.0.0.1", port, 0, "/fuzz", "localhost", "http://localhost", "fuzz", -1);
	FUZZ_ASSERT(wsi, "client_connect failed");
	int peer = -1;
	for (int i = 0; i < 200 && peer < 0; i++) {
		libwebsocket_service(ctx, 0);
		struct pollfd pfd = {.fd = listener, .events = POLLIN};
		if (poll(&pfd, 1, 1) == 1)
			peer = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	FUZZ_ASSERT(peer >= 0, "the client did not connect");
	char key[64], accept[LWS_ACCEPT_LEN + 1];
	FUZZ_ASSERT(!read_request(peer, key), "no opening handshake from the client");
	lws_accept_key(key, strlen(key), accept);

	int budget = CONN_MAX_SERVICE;
	if (mode & 1) {
		char ans[512];
		const char *ext = answers[(mode >> 1) & 7];
		int n = snprintf(ans, sizeof ans,
				 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
				 "Sec-WebSocket-Protocol: fuzz\r\n%s%s%s\r\n",
				 accept, ext ? "Sec-WebSocket-Extensions: " : "", ext ? ext : "",
				 ext ? "\r\n" : "");
		struct fuzz_rng whole;
		fuzz_rng_init(&whole, NULL, 0);
		conn_feed(ctx, peer, (const uint8_t *)ans, (size_t)n, &whole, &budget);
		conn_feed(ctx, peer, data, size, &rng, &budget);
	} else {
		/* "{A}" -> the accept value, in the head */
		uint8_t *ans = malloc(size * (LWS_ACCEPT_LEN / 3 + 1) + 1);
		size_t o = 0;
		if (!ans)
			abort();
		const uint8_t *blank = memmem(data, size, "\r\n\r\n", 4);
		size_t head = blank ? (size_t)(blank - data) : size;
		for (size_t i = 0; i < size; i++) {
			if (i + 3 <= head && !memcmp(data + i, "{A}", 3)) {
				memcpy(ans + o, accept, LWS_ACCEPT_LEN);
				o += LWS_ACCEPT_LEN;
				i += 2;
			} else {
				ans[o++] = data[i];
			}
		}
		conn_feed(ctx, peer, ans, o, &rng, &budget);
		free(ans);
	}
	conn_finish(ctx, peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;
	struct fuzz_rng rng;
	if (!fuzz_split(&data, &size, 1 << 20, &mode, &rng))
		return 0;
	if (!ctx)
		setup();
	conn_run_start(ctx, 0, mode);
	play(mode, data, size, rng);
	if (mode & CONN_WHOLE) {
		conn_run_start(ctx, 1, mode);
		play(mode, data, size, rng); /* the same chunks: rng copied */
	}
	conn_runs_end(mode);
	return 0;
}
