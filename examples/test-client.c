/*
 * test-client.c - the client of the demo server, on the classic libwebsockets
 * API.  Two connections to one server, each asking for its own protocol:
 *
 *   dumb-increment-protocol  the server sends a growing number, as text, a
 *                            few times a second; each one is printed:
 *                                dumb-increment: 42
 *   lws-mirror-protocol      the server sends every message to every client
 *                            of the protocol; we draw random circles by
 *                            sending "c #RRGGBB X Y R;" every --interval
 *                            seconds and print what comes back:
 *                                mirror: c #4fa0c2 120 87 14;
 *
 * Each connection's events go to the callback of the protocol it asked for.
 * It runs until Ctrl-C, or until --count numbers and --count circles came
 * back, then closes both connections with 1000.
 *
 *   test-client HOST [--port 7681] [--path /] [--count N] [--interval SECS]
 *               [--no-mirror] [--debug LLL_BITS]
 *
 * Exit status: 0 when both protocols answered, 1 when a connection failed or
 * closed early, 2 for bad options.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "example-args.h"

static volatile sig_atomic_t stop;

static long long count; /* 0: until Ctrl-C */

struct conn {
	const char *name;
	struct libwebsocket *wsi;
	int established, closed, failed;
	long long received; /* numbers, or circles */
	char *in;           /* a message being gathered from its pieces */
	size_t in_len, in_cap;
};

static struct conn dumb = { .name = "dumb-increment" };
static struct conn mirror = { .name = "mirror" };
static int circle_due;
static long long circles_sent;

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (uint32_t)(rng_state >> 33);
}

static int done(const struct conn *c)
{
	return c->closed || c->failed || (count && c->received >= count);
}

/* Gather one message; returns 1 when it is complete in c->in (NUL-terminated). */
static int gather(struct conn *c, struct libwebsocket *wsi, const void *in, size_t len)
{
	if (c->in_len + len + 1 > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 256;
		while (cap < c->in_len + len + 1)
			cap *= 2;
		char *p = realloc(c->in, cap);
		if (!p)
			return -1;
		c->in = p;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, in, len);
	c->in_len += len;
	if (!libwebsocket_is_final_fragment(wsi))
		return 0;
	c->in[c->in_len] = '\0';
	c->in_len = 0;
	return 1;
}

/* what both protocols do alike */
static int common(struct conn *c, enum libwebsocket_callback_reasons reason, void *in)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		fprintf(stderr, "test-client: %s connection established\n", c->name);
		c->established = 1;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "test-client: %s connection failed: %s\n", c->name,
			in ? (const char *)in : "unknown reason");
		c->failed = 1;
		c->wsi = NULL;
		break;
	case LWS_CALLBACK_CLOSED:
		if (!stop)
			fprintf(stderr, "test-client: %s connection closed\n", c->name);
		c->closed = 1;
		c->wsi = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static int callback_dumb_increment(struct libwebsocket_context *context,
				   struct libwebsocket *wsi,
				   enum libwebsocket_callback_reasons reason, void *user,
				   void *in, size_t len)
{
	(void)context;
	(void)user;
	if (reason != LWS_CALLBACK_CLIENT_RECEIVE)
		return common(&dumb, reason, in);
	int n = gather(&dumb, wsi, in, len);
	if (n < 0)
		return -1;
	if (n) {
		printf("dumb-increment: %s\n", dumb.in);
		fflush(stdout);
		dumb.received++;
	}
	return 0;
}

static int callback_mirror(struct libwebsocket_context *context, struct libwebsocket *wsi,
			   enum libwebsocket_callback_reasons reason, void *user, void *in,
			   size_t len)
{
	(void)context;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int n = gather(&mirror, wsi, in, len);
		if (n < 0)
			return -1;
		if (n) {
			printf("mirror: %s\n", mirror.in);
			fflush(stdout);
			mirror.received++;
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		if (!circle_due)
			return 0;
		circle_due = 0;
		unsigned char buf[LWS_SEND_BUFFER_PRE_PADDING + 64 + LWS_SEND_BUFFER_POST_PADDING];
		char *p = (char *)buf + LWS_SEND_BUFFER_PRE_PADDING;
		int n = snprintf(p, 64, "c #%06x %u %u %u;", (unsigned)(rng() & 0xffffff),
				 (unsigned)(rng() % 500), (unsigned)(rng() % 250),
				 (unsigned)(rng() % 24) + 1);
		if (libwebsocket_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_TEXT) < 0)
			return -1;
		circles_sent++;
		return 0;
	}
	default:
		return common(&mirror, reason, in);
	}
}

/* protocols[0] also gets CLIENT_APPEND_HANDSHAKE_HEADER, which we leave alone */
static struct libwebsocket_protocols protocols[] = {
	{ "dumb-increment-protocol", callback_dumb_increment, 0, NULL, 0, 0, 0 },
	{ "lws-mirror-protocol", callback_mirror, 0, NULL, 0, 0, 0 },
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
		"usage: %s HOST [--port N] [--path PATH] [--count N] [--interval SECS]\n"
		"          [--no-mirror] [--debug LLL_BITS]\n",
		argv0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "count", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'i' },
		{ "no-mirror", no_argument, NULL, 'n' },
		{ "debug", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "/";
	long long port = 7681, debug = LLL_ERR | LLL_WARN;
	double interval = 0.05;
	int use_mirror = 1, ch;

	while ((ch = getopt_long(argc, argv, "p:P:c:i:nd:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (example_parse_int(optarg, "port", 1, 65535, &port))
				return 2;
			break;
		case 'P':
			path = optarg;
			break;
		case 'c':
			if (example_parse_int(optarg, "count", 0, 1LL << 62, &count))
				return 2;
			break;
		case 'i': {
			char *end;
			interval = strtod(optarg, &end);
			if (!*optarg || *end || !(interval >= 0.001) || interval > 3600) {
				fprintf(stderr, "bad interval: %s\n", optarg);
				return 2;
			}
			break;
		}
		case 'n':
			use_mirror = 0;
			break;
		case 'd':
			if (example_parse_int(optarg, "debug level", 0, 0xffff, &debug))
				return 2;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(argv[0]);
		return 2;
	}
	const char *host = argv[optind];

	lws_set_log_level((int)debug, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rng_state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: the signal ends the service wait */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct libwebsocket_context *context = libwebsocket_create_context(
		CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL, NULL, NULL, -1, -1, 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}

	/* each connection asks for its protocol: its callbacks go there */
	dumb.wsi = libwebsocket_client_connect(context, host, (int)port, 0, path, host, host,
					       protocols[0].name, -1);
	if (!dumb.wsi) {
		perror("libwebsocket_client_connect (dumb-increment)");
		dumb.failed = 1;
	}
	if (use_mirror) {
		mirror.wsi = libwebsocket_client_connect(context, host, (int)port, 0, path, host,
							 host, protocols[1].name, -1);
		if (!mirror.wsi) {
			perror("libwebsocket_client_connect (mirror)");
			mirror.failed = 1;
		}
	}

	double next_circle = now_s();
	while (!stop && !(done(&dumb) && (!use_mirror || done(&mirror)))) {
		if (libwebsocket_service(context, 10) < 0)
			break;
		if (use_mirror && mirror.established && !mirror.closed && !circle_due &&
		    (!count || circles_sent < count) && now_s() >= next_circle) {
			circle_due = 1;
			next_circle += interval;
			libwebsocket_callback_on_writable(context, mirror.wsi);
		}
	}
	int interrupted = stop;
	stop = 1;

	struct conn *all[] = { &dumb, &mirror };
	for (int i = 0; i < 2; i++)
		if (all[i]->wsi && all[i]->established && !all[i]->closed)
			libwebsocket_close_and_free_session(context, all[i]->wsi,
							    LWS_CLOSE_STATUS_NORMAL);
	for (double until = now_s() + 0.2; now_s() < until;)
		libwebsocket_service(context, 10);
	libwebsocket_context_destroy(context);

	fprintf(stderr, "test-client: %lld numbers, %lld circles sent, %lld came back\n",
		dumb.received, circles_sent, mirror.received);
	free(dumb.in);
	free(mirror.in);
	int ok = !dumb.failed && dumb.received > 0 &&
		 (!use_mirror || (!mirror.failed && mirror.received > 0));
	if (!interrupted && count)
		ok = ok && dumb.received >= count && (!use_mirror || mirror.received >= count);
	return ok ? 0 : 1;
}
