/*
 * echo_server.c - a WebSocket echo server on the classic libwebsockets API.
 *
 * Every piece of a message is echoed the moment it arrives, as a fragment of
 * the same message, so messages of any size stream through without being
 * gathered.  With --whole the library gathers each message
 * (lws_set_whole_messages) and it goes back in one write, up to the message
 * size limit (--max-message-size; 64 MiB by default), 1009 past it.  Plain
 * HTTP requests get a short page.  Ctrl-C / SIGTERM stop it.
 *
 *   echo_server [--port 7681] [--interface IF] [--debug LLL_BITS] [--whole]
 *               [--max-message-size BYTES] [--handshake-timeout SECS]
 *               [--limit NAME=VALUE ...] [--no-extensions] [--ssl] [--cert FILE --key FILE]
 *               [--ca FILE [--require-client-cert]]
 *
 * The built-in extensions (permessage-deflate, deflate-frame, deflate-stream) are offered unless
 * --no-extensions is given.  --ssl serves wss:// (and https://) with --cert
 * and --key, or without them a self-signed certificate for localhost made on
 * first use in ~/.cache/pylws (example-tls.h); --ca names the CAs client
 * certificates must chain to, --require-client-cert refuses clients without
 * a valid one.  --limit sets one of the context's limits (lws_context_set_limit),
 * NAME being the end of its LWS_LIMIT_ name in lower case with '-' for '_':
 * max-connections, output-total, output-pause, output-max, output-stall-secs,
 * keepalive-idle-secs, keepalive-pong-secs (e.g. --limit keepalive-idle-secs=30).
 *
 * Build: meson (executable 'echo_server' of the build), or against an
 * installed library:  cc echo_server.c $(pkg-config --cflags --libs pylws)
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "example-args.h"
#include "example-tls.h"

static volatile sig_atomic_t stop;
static int whole; /* --whole: one callback and one write per message */

/* per connection: are we in the middle of echoing a message? */
struct echo_session {
	int in_message;
};

static int send_page(struct libwebsocket *wsi)
{
	static const char body[] =
		"This is the pylws echo server: connect a WebSocket client to this\n"
		"address and every message you send comes back.\n";
	unsigned char buf[LWS_SEND_BUFFER_PRE_PADDING + 512 + LWS_SEND_BUFFER_POST_PADDING];
	unsigned char *p = buf + LWS_SEND_BUFFER_PRE_PADDING;
	int n = snprintf((char *)p, 512,
			 "HTTP/1.1 200 OK\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n"
			 "\r\n%s",
			 sizeof(body) - 1, body);
	return libwebsocket_write(wsi, p, (size_t)n, LWS_WRITE_HTTP) < 0 ? -1 : 0;
}

/*
 * --whole: the message is all of in/len.  A message gathered from pieces lies
 * in the library's own buffer, without room for a frame header before it, so
 * it is copied into one that has LWS_SEND_BUFFER_PRE_PADDING bytes before it.
 */
static int echo_whole(struct libwebsocket *wsi, const void *in, size_t len)
{
	unsigned char *buf =
		malloc(LWS_SEND_BUFFER_PRE_PADDING + len + LWS_SEND_BUFFER_POST_PADDING);
	if (!buf)
		return -1;
	unsigned char *p = buf + LWS_SEND_BUFFER_PRE_PADDING;
	if (len)
		memcpy(p, in, len);
	int kind = lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
	int n = libwebsocket_write(wsi, p, len, (enum libwebsocket_write_protocol)kind);
	free(buf); /* what the socket did not take, the library keeps a copy of */
	return n < 0 ? -1 : 0;
}

static int callback_echo(struct libwebsocket_context *context, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct echo_session *s = user;
	(void)context;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		s->in_message = 0;
		if (whole && lws_set_whole_messages(wsi, 1))
			return -1;
		break;

	case LWS_CALLBACK_RECEIVE: {
		if (whole)
			return echo_whole(wsi, in, len);
		int final = libwebsocket_is_final_fragment(wsi);
		int proto;
		if (s->in_message)
			proto = LWS_WRITE_CONTINUATION;
		else
			proto = lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
		if (!final)
			proto |= LWS_WRITE_NO_FIN;
		s->in_message = !final;
		/* 'in' has LWS_SEND_BUFFER_PRE_PADDING writable bytes before it:
		 * the frame header is written there, no copy */
		if (libwebsocket_write(wsi, in, len, (enum libwebsocket_write_protocol)proto) < 0)
			return -1;
		break;
	}

	case LWS_CALLBACK_HTTP:
		send_page(wsi);
		return 1; /* close after the page */

	default:
		break;
	}
	return 0;
}

static struct libwebsocket_protocols protocols[] = {
	/* Autobahn names no subprotocol, so it lands on protocols[0] */
	{ "echo", callback_echo, sizeof(struct echo_session), NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--port N] [--interface IF] [--debug LLL_BITS] [--whole]\n"
		"          [--max-message-size BYTES] [--handshake-timeout SECS]\n"
		"          [--limit NAME=VALUE ...] [--no-extensions] [--ssl] [--cert FILE --key FILE]\n"
		"          [--ca FILE [--require-client-cert]]\n",
		argv0);
}

/* --max-message-size is a size_t */
#define MAX_MESSAGE_LIMIT ((unsigned long long)SIZE_MAX < (unsigned long long)LLONG_MAX \
				   ? (long long)SIZE_MAX                            \
				   : LLONG_MAX)

static const char *const limit_names[LWS_LIMIT_COUNT] = {
	[LWS_LIMIT_MAX_CONNECTIONS] = "max-connections",
	[LWS_LIMIT_OUTPUT_TOTAL] = "output-total",
	[LWS_LIMIT_OUTPUT_PAUSE] = "output-pause",
	[LWS_LIMIT_OUTPUT_MAX] = "output-max",
	[LWS_LIMIT_OUTPUT_STALL_SECS] = "output-stall-secs",
	[LWS_LIMIT_KEEPALIVE_IDLE_SECS] = "keepalive-idle-secs",
	[LWS_LIMIT_KEEPALIVE_PONG_SECS] = "keepalive-pong-secs",
};

/* --limit NAME=VALUE: which limit (or -1) and its value */
static int parse_limit(const char *arg, long long *value)
{
	const char *eq = strchr(arg, '=');
	for (int n = 0; eq && n < LWS_LIMIT_COUNT; n++)
		if (strlen(limit_names[n]) == (size_t)(eq - arg) &&
		    !strncmp(arg, limit_names[n], (size_t)(eq - arg)))
			return example_parse_int(eq + 1, limit_names[n], 0, LONG_MAX, value) ? -1 : n;
	fprintf(stderr, "bad --limit: %s (NAME=VALUE)\n", arg);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "interface", required_argument, NULL, 'i' },
		{ "debug", required_argument, NULL, 'd' },
		{ "max-message-size", required_argument, NULL, 'm' },
		{ "handshake-timeout", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'L' },
		{ "no-extensions", no_argument, NULL, 'n' },
		{ "whole", no_argument, NULL, 'w' },
		{ "ssl", no_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'A' },
		{ "require-client-cert", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long port = 7681, debug = LLL_ERR | LLL_WARN, max_message = -1, hs_timeout = -1;
	const char *interface = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	struct libwebsocket_extension *extensions = libwebsocket_internal_extensions;
	static char default_cert[PATH_MAX], default_key[PATH_MAX];
	int c, use_ssl = 0, require_client_cert = 0;
	long long limits[LWS_LIMIT_COUNT];
	for (c = 0; c < LWS_LIMIT_COUNT; c++)
		limits[c] = -1;

	while ((c = getopt_long(argc, argv, "p:i:d:m:t:nsh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (example_parse_int(optarg, "port", 0, 65535, &port))
				return 2;
			break;
		case 'i':
			interface = optarg;
			break;
		case 'd':
			if (example_parse_int(optarg, "debug level", 0, INT_MAX, &debug))
				return 2;
			break;
		case 'm':
			if (example_parse_int(optarg, "max message size", 0, MAX_MESSAGE_LIMIT,
					      &max_message))
				return 2;
			break;
		case 't':
			if (example_parse_int(optarg, "handshake timeout", 1, INT_MAX, &hs_timeout))
				return 2;
			break;
		case 'L': {
			long long value;
			int which = parse_limit(optarg, &value);
			if (which < 0)
				return 2;
			limits[which] = value;
			break;
		}
		case 'n':
			extensions = NULL;
			break;
		case 'w':
			whole = 1;
			break;
		case 's':
			use_ssl = 1;
			break;
		case 'C':
			cert = optarg;
			use_ssl = 1;
			break;
		case 'K':
			key = optarg;
			use_ssl = 1;
			break;
		case 'A':
			ca = optarg;
			use_ssl = 1;
			break;
		case 'R':
			require_client_cert = 1;
			use_ssl = 1;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		usage(argv[0]);
		return 2;
	}
	if (!cert != !key) {
		fprintf(stderr, "echo_server: give both --cert and --key, or neither\n");
		return 2;
	}
	if (require_client_cert && !ca) {
		fprintf(stderr, "echo_server: --require-client-cert needs --ca\n");
		return 2;
	}
	if (use_ssl && !cert) {
		if (example_tls_default_certificate("echo_server", default_cert, default_key))
			return 1;
		cert = default_cert;
		key = default_key;
	}

	lws_set_log_level((int)debug, NULL);

	/* no SA_RESTART: the signal interrupts the service wait */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct libwebsocket_context *context = libwebsocket_create_context(
		(int)port, interface, protocols, extensions, cert, key, ca, -1, -1,
		require_client_cert ? LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT : 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}
	if (max_message >= 0)
		lws_set_max_message_size(context, (size_t)max_message);
	if (hs_timeout > 0)
		lws_set_handshake_timeout(context, (int)hs_timeout);
	for (c = 0; c < LWS_LIMIT_COUNT; c++) {
		if (limits[c] >= 0 &&
		    lws_context_set_limit(context, (enum lws_limit)c, (long)limits[c])) {
			fprintf(stderr, "echo_server: %s=%lld is out of range\n", limit_names[c],
				limits[c]);
			libwebsocket_context_destroy(context);
			return 2;
		}
	}

	fprintf(stderr, "echo server on port %lld%s\n", port, cert ? " (TLS)" : "");
	int n = 0;
	while (!stop && n >= 0)
		n = libwebsocket_service(context, 1000);

	libwebsocket_context_destroy(context);
	return n < 0 ? 1 : 0;
}
