/*
 * test-ping.c - ping(8) for WebSocket, on the classic libwebsockets API.
 *
 * Sends PING frames of --size bytes every --interval seconds on one or more
 * connections to a WebSocket server, and prints a line per PONG:
 *
 *     64 bytes from 127.0.0.1: req=3 time=0.142 ms
 *
 * On Ctrl-C (or after --count pings per connection) it closes every
 * connection with 1000 and prints the statistics:
 *
 *     --- 127.0.0.1 websocket ping statistics ---
 *     10 pings transmitted, 10 received, 0% loss, time 9003 ms
 *     rtt min/avg/max/mdev = 0.081/0.127/0.201/0.034 ms
 *
 * Each ping's payload starts with its sequence number and the time it was
 * sent (two big-endian 64-bit numbers; the rest is a fixed pattern), so the
 * PONG, which carries the same payload, says which ping it answers and how
 * long the round trip took.
 *
 *   test-ping HOST [--port 7681] [--path /] [--protocol NAME] [--size 64]
 *             [--interval 1] [--count N] [--flood] [--connections N]
 *             [--wait SECS] [--debug LLL_BITS]
 *
 * --flood sends the next ping as soon as the pong of the previous one is in,
 * printing '.' for each ping sent and a backspace for each pong, like
 * ping -f.  Exit status: 0 when pongs came back, 1 when none did or a
 * connection failed, 2 for bad options.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "example-args.h"

#define MIN_SIZE 16  /* sequence number + timestamp */
#define MAX_SIZE 125 /* the most a control frame carries */

static volatile sig_atomic_t stop;

struct conn {
	int index;
	struct libwebsocket *wsi;
	int established, closed, failed;
	uint64_t sent, received; /* pings sent, pongs received */
	uint64_t next_send_ns;   /* when the next ping is due (interval mode) */
	int ping_due;            /* waiting for CLIENT_WRITEABLE to send one */
	uint64_t last_sent_ns;
};

static struct {
	const char *host;
	int size;
	double interval;
	long long count; /* per connection; 0 = until Ctrl-C */
	int flood;
	double wait;
} opt = { .host = NULL, .size = 64, .interval = 1.0, .count = 0, .flood = 0, .wait = 2.0 };

static struct conn *conns;
static int num_conns;
static struct libwebsocket_context *context;

/* statistics over every connection */
static uint64_t transmitted, received;
static double rtt_min = 1e300, rtt_max, rtt_sum, rtt_sum2;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int count_reached(const struct conn *c)
{
	return opt.count && c->sent >= (uint64_t)opt.count;
}

static int send_ping(struct conn *c)
{
	unsigned char buf[LWS_SEND_BUFFER_PRE_PADDING + MAX_SIZE + LWS_SEND_BUFFER_POST_PADDING];
	unsigned char *p = buf + LWS_SEND_BUFFER_PRE_PADDING;

	c->sent++;
	c->last_sent_ns = now_ns();
	put_be64(p, c->sent);
	put_be64(p + 8, c->last_sent_ns);
	for (int i = MIN_SIZE; i < opt.size; i++)
		p[i] = (unsigned char)i;
	if (libwebsocket_write(c->wsi, p, (size_t)opt.size, LWS_WRITE_PING) < 0)
		return -1;
	transmitted++;
	if (opt.flood) {
		putchar('.');
		fflush(stdout);
	}
	return 0;
}

static void got_pong(struct conn *c, const unsigned char *in, size_t len)
{
	uint64_t now = now_ns();
	if (len < MIN_SIZE) {
		fprintf(stderr, "test-ping: a pong of %zu bytes that is not ours\n", len);
		return;
	}
	uint64_t seq = get_be64(in), sent_at = get_be64(in + 8);
	if (!seq || seq > c->sent || sent_at > now) {
		fprintf(stderr, "test-ping: a pong that answers no ping of ours\n");
		return;
	}
	double ms = (double)(now - sent_at) / 1e6;
	c->received++;
	received++;
	if (ms < rtt_min)
		rtt_min = ms;
	if (ms > rtt_max)
		rtt_max = ms;
	rtt_sum += ms;
	rtt_sum2 += ms * ms;

	if (opt.flood) {
		putchar('\b');
		fflush(stdout);
	} else if (num_conns > 1) {
		printf("%zu bytes from %s: req=%llu conn=%d time=%.3f ms\n", len, opt.host,
		       (unsigned long long)seq, c->index, ms);
	} else {
		printf("%zu bytes from %s: req=%llu time=%.3f ms\n", len, opt.host,
		       (unsigned long long)seq, ms);
	}
	if (!opt.flood)
		fflush(stdout);
}

static struct conn *find(struct libwebsocket *wsi, void *user)
{
	if (user)
		return user; /* the struct conn given to _extended as userdata */
	for (int i = 0; i < num_conns; i++)
		if (conns[i].wsi == wsi)
			return &conns[i];
	return NULL;
}

static int callback_ping(struct libwebsocket_context *ctx, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct conn *c;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
	case LWS_CALLBACK_CLOSED:
		c = find(wsi, user);
		if (!c)
			return 0;
		break;
	default:
		return 0; /* e.g. the external-poll calls, whose user is an fd */
	}

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->established = 1;
		c->next_send_ns = now_ns(); /* the first ping at once */
		if (opt.flood) {
			c->ping_due = 1;
			libwebsocket_callback_on_writable(ctx, wsi);
		}
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "test-ping: connection %d failed: %s\n", c->index,
			in ? (const char *)in : "unknown reason");
		c->failed = 1;
		c->wsi = NULL;
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->ping_due && !count_reached(c)) {
			c->ping_due = 0;
			if (send_ping(c))
				return -1;
		}
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		got_pong(c, in, len);
		if (opt.flood && !count_reached(c) && !stop) {
			c->ping_due = 1;
			libwebsocket_callback_on_writable(ctx, wsi);
		}
		break;

	case LWS_CALLBACK_CLOSED:
		if (!stop && !c->closed)
			fprintf(stderr, "test-ping: connection %d closed\n", c->index);
		c->closed = 1;
		c->wsi = NULL;
		break;

	default:
		break;
	}
	return 0;
}

static struct libwebsocket_protocols protocols[] = {
	{ "ping", callback_ping, 0, NULL, 0, 0, 0 },
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
		"usage: %s HOST [--port N] [--path PATH] [--protocol NAME] [--size BYTES]\n"
		"          [--interval SECS] [--count N] [--flood] [--connections N]\n"
		"          [--wait SECS] [--debug LLL_BITS]\n"
		"--size is %d..%d; --count is per connection (0: until Ctrl-C).\n",
		argv0, MIN_SIZE, MAX_SIZE);
}

static int parse_secs(const char *s, const char *what, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !(v >= 0.001) || v > 86400) {
		fprintf(stderr, "bad %s: %s\n", what, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Every connection is finished: failed, closed, or done with its pings. */
static int all_done(uint64_t now, uint64_t wait_ns)
{
	for (int i = 0; i < num_conns; i++) {
		struct conn *c = &conns[i];
		if (c->failed || c->closed)
			continue;
		if (!count_reached(c))
			return 0;
		if (c->received < c->sent && now - c->last_sent_ns < wait_ns)
			return 0; /* still waiting for the last pongs */
	}
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "flood", no_argument, NULL, 'f' },
		{ "connections", required_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'W' },
		{ "debug", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "/", *protocol = NULL;
	long long port = 7681, size = 64, nconn = 1, debug = LLL_ERR | LLL_WARN;
	int ch;

	while ((ch = getopt_long(argc, argv, "p:P:r:s:i:c:fn:W:d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (example_parse_int(optarg, "port", 1, 65535, &port))
				return 2;
			break;
		case 'P':
			path = optarg;
			break;
		case 'r':
			protocol = optarg;
			break;
		case 's':
			if (example_parse_int(optarg, "size", MIN_SIZE, MAX_SIZE, &size))
				return 2;
			break;
		case 'i':
			if (parse_secs(optarg, "interval", &opt.interval))
				return 2;
			break;
		case 'c':
			if (example_parse_int(optarg, "count", 0, 1LL << 62, &opt.count))
				return 2;
			break;
		case 'f':
			opt.flood = 1;
			break;
		case 'n':
			if (example_parse_int(optarg, "connections", 1, 100000, &nconn))
				return 2;
			break;
		case 'W':
			if (parse_secs(optarg, "wait", &opt.wait))
				return 2;
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
	opt.host = argv[optind];
	opt.size = (int)size;
	num_conns = (int)nconn;

	lws_set_log_level((int)debug, NULL);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: the signal ends the service wait */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	conns = calloc((size_t)num_conns, sizeof *conns);
	if (!conns)
		return 1;
	context = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL,
					      NULL, NULL, NULL, -1, -1, 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}

	printf("PING %s:%lld%s: %d bytes of payload, %d connection%s\n", opt.host, port, path,
	       opt.size, num_conns, num_conns == 1 ? "" : "s");
	fflush(stdout);

	int failures = 0;
	for (int i = 0; i < num_conns; i++) {
		conns[i].index = i;
		/* the struct conn is the connection's user area: no lookup needed */
		conns[i].wsi = libwebsocket_client_connect_extended(
			context, opt.host, (int)port, 0, path, opt.host, NULL, protocol, -1,
			&conns[i]);
		if (!conns[i].wsi) {
			fprintf(stderr, "test-ping: connection %d: %s\n", i, strerror(errno));
			conns[i].failed = 1;
		}
	}

	uint64_t start = now_ns(), interval_ns = (uint64_t)(opt.interval * 1e9);
	uint64_t wait_ns = (uint64_t)(opt.wait * 1e9);
	while (!stop) {
		uint64_t now = now_ns(), next = now + 100000000u;
		if (all_done(now, wait_ns))
			break;
		if (!opt.flood) {
			for (int i = 0; i < num_conns; i++) {
				struct conn *c = &conns[i];
				if (!c->established || c->closed || c->failed || count_reached(c))
					continue;
				if (c->next_send_ns <= now && !c->ping_due) {
					c->ping_due = 1;
					c->next_send_ns += interval_ns;
					libwebsocket_callback_on_writable(context, c->wsi);
				}
				if (c->next_send_ns < next)
					next = c->next_send_ns;
			}
		}
		int ms = next > now ? (int)((next - now + 999999) / 1000000) : 0;
		if (libwebsocket_service(context, ms) < 0)
			break;
	}
	stop = 1;

	/* close what is still open with 1000, and let the close frames go out */
	for (int i = 0; i < num_conns; i++)
		if (conns[i].wsi && conns[i].established && !conns[i].closed)
			libwebsocket_close_and_free_session(context, conns[i].wsi,
							    LWS_CLOSE_STATUS_NORMAL);
	for (uint64_t until = now_ns() + 200000000u; now_ns() < until;)
		libwebsocket_service(context, 10);
	libwebsocket_context_destroy(context);

	for (int i = 0; i < num_conns; i++)
		failures += conns[i].failed;
	if (opt.flood)
		putchar('\n');
	double elapsed_ms = (double)(now_ns() - start) / 1e6;
	printf("\n--- %s websocket ping statistics ---\n", opt.host);
	printf("%llu pings transmitted, %llu received, %.0f%% loss, time %.0f ms\n",
	       (unsigned long long)transmitted, (unsigned long long)received,
	       transmitted ? 100.0 * (double)(transmitted - received) / (double)transmitted : 0.0,
	       elapsed_ms);
	if (received) {
		double avg = rtt_sum / (double)received;
		double var = rtt_sum2 / (double)received - avg * avg;
		printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", rtt_min, avg, rtt_max,
		       sqrt(var > 0 ? var : 0));
	}
	if (failures)
		printf("%d connection%s failed\n", failures, failures == 1 ? "" : "s");
	free(conns);
	return received && !failures ? 0 : 1;
}
