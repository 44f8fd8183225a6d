/*
 * test-server.c - the pylws demo server on the classic libwebsockets API.
 *
 * One port serves a page and two WebSocket protocols:
 *
 *   "http-only" (protocols[0])   the page, its icon and images, from a fixed
 *                                list of names (anything else is a 404)
 *   "dumb-increment-protocol"    every 50 ms each connection gets its own
 *                                counter, as text; "reset\n" sets it back to 0
 *   "lws-mirror-protocol"        every message goes to every connection of
 *                                the protocol, the sender's included
 *
 * Open http://127.0.0.1:7681/ in a few browsers: strokes drawn in one appear
 * in all of them.  Ctrl-C / SIGTERM stop it.
 *
 *   test-server [--port 7681] [--interface IF] [--debug LLL_BITS]
 *               [--resource-path DIR] [--ssl] [--cert FILE --key FILE]
 *               [--workers N] [--redis URL]
 *
 * --workers N runs N processes on the port (SO_REUSEPORT), stopped together
 * by SIGTERM/SIGINT; --redis URL attaches each to Redis (stream "lws-demo"),
 * so a mirror stroke reaches the pages of every worker and every host.
 *
 * --ssl serves https:// and wss:// with --cert and --key (PEM), or without
 * them a self-signed certificate for localhost made on first use in
 * ~/.cache/pylws (example-tls.h); the page then connects with wss://.
 *
 * Build: meson (executable 'test-server' of the build), or against an
 * installed library:  cc test-server.c $(pkg-config --cflags --libs pylws)
 */
#include "test-server-protocols.h" /* the protocols and the command line */

static struct libwebsocket_protocols protocols[] = DEMO_PROTOCOLS(callback_http);

int main(int argc, char **argv)
{
	struct demo_options opt = { .port = 7681 };
	int rc = demo_setup(argc, argv, &opt);
	if (rc >= 0)
		return rc;

	unsigned options = 0;
	rc = demo_start_workers(&opt, &options); /* before any context */
	if (rc >= 0)
		return rc;
	struct libwebsocket_context *context =
		libwebsocket_create_context((int)opt.port, opt.interface, protocols, NULL, opt.cert,
					    opt.key, NULL, -1, -1, options, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}
	if (demo_attach_redis(context, &opt)) {
		libwebsocket_context_destroy(context);
		return 2;
	}

	fprintf(stderr, "pylws test server on %s, port %ld: open %s://127.0.0.1:%ld/\n"
			"(serving %s)\n",
		libwebsocket_canonical_hostname(context), opt.port, opt.use_ssl ? "https" : "http",
		opt.port, resource_path);

	/* the service loop, and every TICK_MS a WRITEABLE for each counter */
	long long next_tick = now_ms() + TICK_MS;
	int n = 0;
	while (!stop && n >= 0) {
		long long now = now_ms();
		if (now >= next_tick) {
			libwebsocket_callback_on_writable_all_protocol(
				&protocols[PROTOCOL_DUMB_INCREMENT]);
			next_tick += TICK_MS;
			if (next_tick <= now) /* we fell behind: no burst to catch up */
				next_tick = now + TICK_MS;
		}
		n = libwebsocket_service(context, (int)(next_tick - now > TICK_MS
								? TICK_MS
								: next_tick - now));
	}

	libwebsocket_context_destroy(context);
	mirror_free_ring();
	return n < 0 ? 1 : 0;
}
