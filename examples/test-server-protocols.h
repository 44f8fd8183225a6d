/*
 * test-server-protocols.h - the demo server's protocols and command line,
 * shared by the programs that serve them with different loops:
 *
 *   test-server.c           libwebsocket_service() in a loop
 *   test-server-extpoll.c   its own poll() array, fed by the POLL_FD callbacks
 *
 * Include it once, in the file with main(): everything here is static.  The
 * includer defines protocols[] (see DEMO_PROTOCOLS below), may wrap
 * callback_http to see the poll reasons too, and gets the command line
 * (--ssl, --cert, --key: example-tls.h) from demo_setup().
 *
 *   "http-only" (protocols[0])   the page, its icon and images, from a fixed
 *                                list of names (anything else is a 404)
 *   "dumb-increment-protocol"    every TICK_MS each connection gets its own
 *                                counter, as text; "reset\n" sets it back to 0
 *   "lws-mirror-protocol"        every message goes to every connection of
 *                                the protocol, the sender's included
 */
#ifndef PYLWS_TEST_SERVER_PROTOCOLS_H
#define PYLWS_TEST_SERVER_PROTOCOLS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* include this header before any system header */
#endif
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "example-args.h"
#include "example-tls.h"

#define TICK_MS 50
/* messages the mirror keeps for connections that have not sent them yet */
#define MIRROR_RING 256
/* a longer mirror message closes its sender with 1009 */
#define MIRROR_MAX_MESSAGE (64 * 1024)

static volatile sig_atomic_t stop;
static char resource_path[PATH_MAX];

enum demo_protocols {
	PROTOCOL_HTTP,
	PROTOCOL_DUMB_INCREMENT,
	PROTOCOL_LWS_MIRROR,
	DEMO_PROTOCOL_COUNT
};

/* ---- "http-only": the page and its files, from this list only ---- */

struct served_file {
	const char *uri;
	const char *file; /* in resource_path */
	const char *content_type;
};

static const struct served_file served_files[] = {
	{ "/", "test.html", "text/html; charset=utf-8" },
	{ "/favicon.ico", "favicon.ico", "image/x-icon" },
	{ "/logo.svg", "logo.svg", "image/svg+xml" },
	{ "/pylws.png", "pylws.png", "image/png" },
};

static const struct served_file *find_served(const char *uri)
{
	size_t n = strcspn(uri, "?#"); /* the query plays no part */
	for (size_t i = 0; i < sizeof served_files / sizeof served_files[0]; i++)
		if (strlen(served_files[i].uri) == n && !strncmp(served_files[i].uri, uri, n))
			return &served_files[i];
	return NULL;
}

static int callback_http(struct libwebsocket_context *context, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	(void)len;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
		/* user is the new socket: look at who it is, let everyone in */
		char name[128], rip[64];
		libwebsockets_get_peer_addresses((int)(intptr_t)user, name, sizeof name, rip,
						 sizeof rip);
		lwsl_notice("connection from %s (%s)\n", name, rip);
		return 0;
	}

	case LWS_CALLBACK_HTTP: {
		const char *uri = in;
		const struct served_file *f = find_served(uri);
		if (!f) {
			lwsl_info("404 for %s\n", uri);
			return 1; /* nothing written: the library answers 404 */
		}
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", resource_path, f->file) >=
			    sizeof path ||
		    libwebsockets_serve_http_file(context, wsi, path, f->content_type)) {
			lwsl_warn("cannot serve %s\n", path);
			return 1; /* the client gets a 404; close */
		}
		return 0; /* the file goes out in the background; keep-alive */
	}

	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return 0; /* keep the connection for the next request */

	default:
		break;
	}
	return 0;
}

/* ---- "dumb-increment-protocol" ---- */

struct per_session_data__dumb_increment {
	int number;
};

static int callback_dumb_increment(struct libwebsocket_context *context,
				   struct libwebsocket *wsi,
				   enum libwebsocket_callback_reasons reason, void *user,
				   void *in, size_t len)
{
	struct per_session_data__dumb_increment *pss = user;
	(void)context;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		pss->number = 0;
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		unsigned char buf[LWS_SEND_BUFFER_PRE_PADDING + 16 + LWS_SEND_BUFFER_POST_PADDING];
		unsigned char *p = buf + LWS_SEND_BUFFER_PRE_PADDING;
		int n = snprintf((char *)p, 16, "%d", pss->number);
		if (libwebsocket_write(wsi, p, (size_t)n, LWS_WRITE_TEXT) < n)
			return -1;
		pss->number++;
		break;
	}

	case LWS_CALLBACK_RECEIVE:
		if (len == 6 && !memcmp(in, "reset\n", 6))
			pss->number = 0;
		break;

	default:
		break;
	}
	return 0;
}

/* ---- "lws-mirror-protocol" ---- */

/*
 * The last MIRROR_RING messages: message i (counting from the start) is in
 * ring[i % MIRROR_RING], with LWS_SEND_BUFFER_PRE_PADDING bytes before its
 * payload so every connection writes it without a copy.
 */
struct mirror_message {
	unsigned char *buf; /* padding + payload + padding */
	size_t len;
	int binary;
};

static struct mirror_message ring[MIRROR_RING];
static uint64_t ring_head; /* messages stored so far */
/* --redis / --workers: a message goes through libwebsockets_broadcast (so the
 * backplane takes it to every process), each connection writes it on BROADCAST */
static int mirror_broadcast;

struct per_session_data__lws_mirror {
	uint64_t tail; /* the next message this connection gets */
	/* a message arriving in pieces, gathered until its last piece */
	unsigned char *rx;
	size_t rx_len;
};

static int mirror_store(const unsigned char *data, size_t len, int binary)
{
	unsigned char *buf = malloc(LWS_SEND_BUFFER_PRE_PADDING + len +
				    LWS_SEND_BUFFER_POST_PADDING);
	if (!buf)
		return -1;
	if (len)
		memcpy(buf + LWS_SEND_BUFFER_PRE_PADDING, data, len);

	struct mirror_message *m = &ring[ring_head % MIRROR_RING];
	free(m->buf); /* the message MIRROR_RING older: late readers skip it */
	m->buf = buf;
	m->len = len;
	m->binary = binary;
	ring_head++;
	return 0;
}

static void mirror_free_ring(void)
{
	for (int i = 0; i < MIRROR_RING; i++) {
		free(ring[i].buf);
		ring[i].buf = NULL;
	}
}

static int callback_lws_mirror(struct libwebsocket_context *context, struct libwebsocket *wsi,
			       enum libwebsocket_callback_reasons reason, void *user, void *in,
			       size_t len)
{
	struct per_session_data__lws_mirror *pss = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		pss->tail = ring_head; /* from now on */
		pss->rx = NULL;
		pss->rx_len = 0;
		break;

	case LWS_CALLBACK_CLOSED:
		free(pss->rx);
		pss->rx = NULL;
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (ring_head - pss->tail > MIRROR_RING) {
			/* a whole ring behind: skip to the oldest message kept */
			lwsl_info("mirror: a slow reader skips %llu messages\n",
				  (unsigned long long)(ring_head - MIRROR_RING - pss->tail));
			pss->tail = ring_head - MIRROR_RING;
		}
		while (pss->tail < ring_head) {
			struct mirror_message *m = &ring[pss->tail % MIRROR_RING];
			if (libwebsocket_write(wsi, m->buf + LWS_SEND_BUFFER_PRE_PADDING, m->len,
					       m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < 0)
				return -1;
			pss->tail++;
			if (lws_send_pipe_choked(wsi)) {
				/* the rest when this connection has taken what is queued */
				libwebsocket_callback_on_writable(context, wsi);
				break;
			}
		}
		break;

	case LWS_CALLBACK_RECEIVE: {
		int final = libwebsocket_is_final_fragment(wsi);
		int binary = lws_frame_is_binary(wsi);
		if (pss->rx_len + len > MIRROR_MAX_MESSAGE) {
			lwsl_warn("mirror: message longer than %d bytes refused\n",
				  MIRROR_MAX_MESSAGE);
			libwebsocket_close_and_free_session(context, wsi,
							    LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
			return -1;
		}
		if (mirror_broadcast && final) {
			const unsigned char *msg = in;
			size_t msg_len = len;
			if (pss->rx_len) {
				memcpy(pss->rx + pss->rx_len, in, len);
				msg = pss->rx;
				msg_len = pss->rx_len + len;
			}
			/* broadcast wants padding around what it is given */
			unsigned char *b = malloc(LWS_SEND_BUFFER_PRE_PADDING + msg_len +
						  LWS_SEND_BUFFER_POST_PADDING);
			if (!b)
				return -1;
			memcpy(b + LWS_SEND_BUFFER_PRE_PADDING, msg, msg_len);
			if (libwebsockets_broadcast(libwebsockets_get_protocol(wsi),
						    b + LWS_SEND_BUFFER_PRE_PADDING, msg_len))
				lwsl_warn("mirror: broadcast of %zu bytes failed\n", msg_len);
			free(b);
			free(pss->rx);
			pss->rx = NULL;
			pss->rx_len = 0;
			break;
		}
		if (final && !pss->rx_len) {
			/* the whole message in one piece: the usual case */
			if (mirror_store(in, len, binary))
				return -1;
		} else {
			if (!pss->rx) {
				pss->rx = malloc(MIRROR_MAX_MESSAGE);
				if (!pss->rx)
					return -1;
			}
			if (len)
				memcpy(pss->rx + pss->rx_len, in, len);
			pss->rx_len += len;
			if (!final)
				break;
			int rc = mirror_store(pss->rx, pss->rx_len, binary);
			free(pss->rx);
			pss->rx = NULL;
			pss->rx_len = 0;
			if (rc)
				return -1;
		}
		libwebsocket_callback_on_writable_all_protocol(libwebsockets_get_protocol(wsi));
		break;
	}

	case LWS_CALLBACK_BROADCAST:
		/* mirror_broadcast: a message from any connection of any process */
		if (libwebsocket_write(wsi, in, len, LWS_WRITE_TEXT) < 0)
			return -1;
		break;

	default:
		break;
	}
	return 0;
}

/* ---- the protocols, in this order; the includer gives protocols[0]'s callback ---- */

#define DEMO_PROTOCOLS(http_callback)                                                   \
	{                                                                               \
		/* the first protocol gets the HTTP requests */                         \
		{ "http-only", http_callback, 0, NULL, 0, 0, 0 },                      \
		{ "dumb-increment-protocol", callback_dumb_increment,                   \
		  sizeof(struct per_session_data__dumb_increment), NULL, 0, 0, 0 },    \
		{ "lws-mirror-protocol", callback_lws_mirror,                           \
		  sizeof(struct per_session_data__lws_mirror), NULL, 0, 0, 0 },        \
		{ NULL, NULL, 0, NULL, 0, 0, 0 }, /* end of the list */                 \
	}

/* ---- finding the page ---- */

static int has_page(const char *dir)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/test.html", dir) >= sizeof path)
		return 0;
	return access(path, R_OK) == 0;
}

/*
 * The resources beside the program, whatever the working directory: next to
 * the executable, in examples/ beside it, or in the source tree of a meson
 * build folder; last, where meson said the source tree is.
 */
static int find_resources(char *out, size_t size)
{
	static const char *const beside[] = {
		"resources", "examples/resources", "../examples/resources",
		"../share/pylws/resources",
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
			char dir[PATH_MAX];
			int w = snprintf(dir, sizeof dir, "%s/%s", exe, beside[i]);
			if (w < 0 || (size_t)w >= sizeof dir)
				continue;
			if (has_page(dir) && realpath(dir, out))
				return 0;
		}
	}
#ifdef PYLWS_DEMO_RESOURCES
	if (has_page(PYLWS_DEMO_RESOURCES) &&
	    (size_t)snprintf(out, size, "%s", PYLWS_DEMO_RESOURCES) < size)
		return 0;
#endif
	(void)size;
	return -1;
}

/* ---- the command line, signals ---- */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--port N] [--interface IF] [--debug LLL_BITS]\n"
		"          [--resource-path DIR] [--ssl] [--cert FILE --key FILE]\n"
		"          [--workers N] [--redis redis://[[user]:pass@]host[:port][/db]]\n",
		argv0);
}

struct demo_options {
	long port;
	const char *interface;
	int use_ssl;
	const char *cert, *key; /* for libwebsocket_create_context; NULL: no TLS */
	const char *redis;      /* --redis URL: the mirror through the backplane */
	long workers;           /* --workers N: processes sharing the port */
};

/*
 * The demo's command line (as usage() shows), the page's folder, the log
 * level and the signal handlers.  Returns -1 to go on, else the exit code.
 */
static int demo_setup(int argc, char **argv, struct demo_options *opt)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "interface", required_argument, NULL, 'i' },
		{ "debug", required_argument, NULL, 'd' },
		{ "resource-path", required_argument, NULL, 'r' },
		{ "ssl", no_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "redis", required_argument, NULL, 'R' },
		{ "workers", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long debug = LLL_ERR | LLL_WARN;
	const char *resources = NULL, *cert = NULL, *key = NULL;
	static char default_cert[PATH_MAX], default_key[PATH_MAX];
	int c, use_ssl = 0;
	long long v;

	while ((c = getopt_long(argc, argv, "p:i:d:r:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': /* decimal, as test-server.py reads it */
			if (example_parse_int_base(optarg, 10, "port", 1, 65535, &v))
				return 2;
			opt->port = (long)v;
			break;
		case 'i':
			opt->interface = optarg;
			break;
		case 'd':
			if (example_parse_int(optarg, "debug level", 0, INT_MAX, &v))
				return 2;
			debug = (long)v;
			break;
		case 'r':
			resources = optarg;
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
		case 'R':
			opt->redis = optarg;
			mirror_broadcast = 1;
			break;
		case 'W':
			if (example_parse_int(optarg, "worker count", 1, 256, &v))
				return 2;
			opt->workers = (long)v;
			mirror_broadcast = 1;
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
		fprintf(stderr, "%s: give both --cert and --key, or neither\n", argv[0]);
		return 2;
	}

	if (resources) {
		if (!has_page(resources) || !realpath(resources, resource_path)) {
			fprintf(stderr, "%s: no test.html in %s\n", argv[0], resources);
			return 1;
		}
	} else if (find_resources(resource_path, sizeof resource_path)) {
		fprintf(stderr, "%s: cannot find the page (examples/resources/test.html); "
				"give --resource-path DIR\n",
			argv[0]);
		return 1;
	}

	if (use_ssl && !cert) {
		if (example_tls_default_certificate(argv[0], default_cert, default_key))
			return 1;
		cert = default_cert;
		key = default_key;
	}

	lws_set_log_level((int)debug, NULL);

	/* no SA_RESTART: the signal interrupts the wait (poll or service) */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	opt->use_ssl = use_ssl;
	opt->cert = cert;
	opt->key = key;
	return -1;
}

/*
 * --workers N: start the workers before any context (SO_REUSEPORT on the
 * port); returns -1 to go on (in a worker, *options set), else the exit code
 * (the supervisor, once every worker has stopped).
 */
static int demo_start_workers(const struct demo_options *opt, unsigned *options)
{
	if (!opt->workers)
		return -1;
	int w = lws_start_workers((int)opt->workers);
	if (w == -2 || w == -3)
		return w == -2 ? 0 : 1; /* a worker failed: said by the supervisor */
	if (w < 0) {
		perror("lws_start_workers");
		return 1;
	}
	*options |= LWS_SERVER_OPTION_REUSEPORT;
	if (!opt->redis && w == 0)
		fprintf(stderr, "--workers without --redis: the mirror reaches the connections of "
				"one worker only\n");
	return -1;
}

/* --redis URL: the context on the backplane (stream "lws-demo"); -1 on a bad URL */
static int demo_attach_redis(struct libwebsocket_context *context, const struct demo_options *opt)
{
	return opt->redis ? lws_context_attach_redis(context, opt->redis, "lws-demo") : 0;
}

#endif /* PYLWS_TEST_SERVER_PROTOCOLS_H */
