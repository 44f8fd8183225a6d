/*
 * pylws_client_load.c - an echo load generator written on pylws's own client
 * (libwebsocket_client_connect and the CLIENT_* callbacks), to measure the
 * client side of the core the way bench/echo_load.c measures servers.
 *
 * Opens --conns connections to an echo server from one context; each keeps
 * --inflight messages of --size bytes outstanding: every echo that completes
 * (its last piece in CLIENT_RECEIVE, its length checked) is answered by a
 * new message, written from inside the callback, so the writes of one read
 * go out together.  After --warmup seconds it counts the echoes completed in
 * --duration seconds, closes every connection with 1000 and prints
 *
 *   result conns=100 inflight=10 size=64 type=binary msgs=N secs=S
 *          msg_per_s=X MB_per_s=Y errors=0
 *
 * --ssl 1 connects with wss:// (the server's certificate checked against the
 * system CAs and the address), --ssl 2 accepts a self-signed one too
 * (bench/tls_bench.py uses 2 against a throwaway localhost certificate).
 *
 * Exits 1 on a connection failure, an echo of the wrong length, a server
 * close or a stall of --timeout seconds; 2 on bad options.
 *
 * Build (bench/client_load.py does this):
 *   gcc -O2 -march=native -pthread -Inative/include -Inative/src \
 *       bench/pylws_client_load.c native/src/(*).c -lm -o bench/pylws_client_load
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

static struct {
	const char *host, *path, *protocol;
	long long port, conns, inflight, size;
	double duration, warmup, timeout;
	int text, busy, quiet, ssl;
} opt = {
	.host = "127.0.0.1",
	.path = "/",
	.port = 9000,
	.conns = 1,
	.inflight = 1,
	.size = 64,
	.duration = 3.0,
	.warmup = 1.0,
	.timeout = 10.0,
};

struct session {
	size_t got; /* bytes of the echo being received */
	int live;   /* established, not closed yet */
};

static volatile sig_atomic_t interrupted;
static struct libwebsocket_context *context;
static struct libwebsocket **wsis;
static struct session *sessions; /* each connection's user area (_extended) */
static unsigned char *payload; /* the message, to copy from */
static unsigned char *tx;      /* PRE + size + POST: each write's buffer */
static long long established, closed, errors;
static uint64_t completed; /* echoes completed since the start */
static int stopping;
static double last_progress;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int send_message(struct libwebsocket *wsi)
{
	/* the library masks a client's payload in place: write a fresh copy */
	memcpy(tx + LWS_SEND_BUFFER_PRE_PADDING, payload, (size_t)opt.size);
	return libwebsocket_write(wsi, tx + LWS_SEND_BUFFER_PRE_PADDING, (size_t)opt.size,
				  opt.text ? LWS_WRITE_TEXT : LWS_WRITE_BINARY) < 0
		       ? -1
		       : 0;
}

static int callback_load(struct libwebsocket_context *ctx, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct session *s = user;
	(void)ctx;
	(void)in;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_RECEIVE:
		s->got += len;
		if (!libwebsocket_is_final_fragment(wsi))
			break;
		if (s->got != (size_t)opt.size || (!lws_frame_is_binary(wsi)) != opt.text) {
			fprintf(stderr, "pylws_client_load: an echo of %zu bytes (%s), expected "
					"%lld\n", s->got, lws_frame_is_binary(wsi) ? "binary" : "text",
				opt.size);
			errors++;
			return -1;
		}
		s->got = 0;
		completed++;
		if (!stopping && send_message(wsi)) {
			errors++;
			return -1;
		}
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->got = 0;
		s->live = 1;
		established++;
		for (long long i = 0; i < opt.inflight; i++)
			if (send_message(wsi)) {
				errors++;
				return -1;
			}
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "pylws_client_load: connection failed: %s\n",
			in ? (const char *)in : "?");
		errors++;
		closed++;
		break;

	case LWS_CALLBACK_CLOSED:
		if (!stopping) {
			fprintf(stderr, "pylws_client_load: the server closed a connection\n");
			errors++;
		}
		s->live = 0;
		closed++;
		break;

	default:
		break;
	}
	return 0;
}

static struct libwebsocket_protocols protocols[] = {
	{ "load", callback_load, 0, NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-H HOST] [-p PORT] [--path P] [--protocol NAME] [-c CONNS]\n"
		"          [-i INFLIGHT] [-s SIZE[k|m]] [-d SECS] [-w SECS] [-t|-b]\n"
		"          [--timeout SECS] [--busy-poll] [--ssl 0|1|2] [-q]\n",
		argv0);
}

static int parse_size(const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (!*s || *end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_secs(const char *s, double min, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !(v >= min) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

/* serve until cond() or the deadline; 0 = cond met, -1 = failed/interrupted */
static int serve_until(int (*cond)(void), double deadline)
{
	while (!cond()) {
		if (interrupted || errors)
			return -1;
		double now = now_s();
		if (now >= deadline)
			return 0;
		uint64_t before = completed;
		if (libwebsocket_service(context, opt.busy ? 0 : 50) < 0)
			return -1;
		if (completed != before || established < opt.conns)
			last_progress = now;
		else if (now - last_progress > opt.timeout) {
			fprintf(stderr, "pylws_client_load: no echo for %.0f s\n", opt.timeout);
			errors++;
			return -1;
		}
	}
	return 0;
}

static int all_established(void)
{
	return established + closed >= opt.conns;
}

static int never(void)
{
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'r' },
		{ "conns", required_argument, NULL, 'c' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "text", no_argument, NULL, 't' },
		{ "binary", no_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "busy-poll", no_argument, NULL, 'B' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "ssl", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "H:p:P:r:c:i:s:d:w:tbT:BqS:h", opts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case 'H': opt.host = optarg; break;
		case 'p': bad = parse_size(optarg, 1, 65535, &opt.port); break;
		case 'P': opt.path = optarg; break;
		case 'r': opt.protocol = optarg; break;
		case 'c': bad = parse_size(optarg, 1, 1000000, &opt.conns); break;
		case 'i': bad = parse_size(optarg, 1, 100000, &opt.inflight); break;
		case 's': bad = parse_size(optarg, 0, 256LL << 20, &opt.size); break;
		case 'd': bad = parse_secs(optarg, 0.01, &opt.duration); break;
		case 'w': bad = parse_secs(optarg, 0, &opt.warmup); break;
		case 't': opt.text = 1; break;
		case 'b': opt.text = 0; break;
		case 'T': bad = parse_secs(optarg, 0.1, &opt.timeout); break;
		case 'B': opt.busy = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'S': {
			long long v;
			bad = parse_size(optarg, 0, 2, &v);
			opt.ssl = (int)v;
			break;
		}
		case 'h': usage(argv[0]); return 0;
		default: usage(argv[0]); return 2;
		}
		if (bad) {
			fprintf(stderr, "bad value for -%c: %s\n", ch, optarg);
			return 2;
		}
	}
	if (optind < argc) {
		usage(argv[0]);
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	payload = malloc((size_t)opt.size + 1);
	tx = malloc(LWS_SEND_BUFFER_PRE_PADDING + (size_t)opt.size + LWS_SEND_BUFFER_POST_PADDING);
	wsis = calloc((size_t)opt.conns, sizeof *wsis);
	sessions = calloc((size_t)opt.conns, sizeof *sessions);
	if (!payload || !tx || !wsis || !sessions)
		return 1;
	for (long long i = 0; i < opt.size; i++)
		payload[i] = (unsigned char)('a' + i % 26); /* valid text too */

	lws_set_log_level(LLL_ERR, NULL);
	context = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL,
					      NULL, NULL, -1, -1, 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}
	lws_set_handshake_timeout(context, (int)(opt.timeout + 0.5));

	for (long long i = 0; i < opt.conns; i++) {
		wsis[i] = libwebsocket_client_connect_extended(context, opt.host, (int)opt.port,
							       opt.ssl,
							       opt.path, opt.host, NULL, opt.protocol,
							       -1, &sessions[i]);
		if (!wsis[i]) {
			perror("libwebsocket_client_connect");
			return 1;
		}
	}

	double t0 = now_s(), t1 = t0, t2 = t0;
	last_progress = t0;
	uint64_t at_start = 0, at_end = 0;
	int rc = serve_until(all_established, t0 + opt.timeout);
	if (!rc && established < opt.conns) {
		fprintf(stderr, "pylws_client_load: %lld of %lld connections established\n",
			established, opt.conns);
		errors++;
		rc = -1;
	}
	if (!rc && !opt.quiet)
		fprintf(stderr, "pylws_client_load: %lld connections in %.3f s\n", established,
			now_s() - t0);
	if (!rc)
		rc = serve_until(never, now_s() + opt.warmup);
	if (!rc) {
		t1 = now_s();
		at_start = completed;
		rc = serve_until(never, t1 + opt.duration);
		t2 = now_s();
		at_end = completed;
	}

	/* close every connection with 1000 and let the close frames go out */
	stopping = 1;
	for (long long i = 0; i < opt.conns; i++)
		if (sessions[i].live)
			libwebsocket_close_and_free_session(context, wsis[i],
							    LWS_CLOSE_STATUS_NORMAL);
	for (double until = now_s() + 0.1; now_s() < until;)
		libwebsocket_service(context, 10);
	libwebsocket_context_destroy(context);

	double secs = t2 > t1 ? t2 - t1 : 0;
	uint64_t msgs = at_end - at_start;
	double rate = secs > 0 ? (double)msgs / secs : 0;
	printf("result conns=%lld inflight=%lld size=%lld type=%s ssl=%d msgs=%llu secs=%.4f "
	       "msg_per_s=%.1f MB_per_s=%.2f errors=%lld\n",
	       opt.conns, opt.inflight, opt.size, opt.text ? "text" : "binary", opt.ssl,
	       (unsigned long long)msgs, secs, rate, rate * (double)opt.size / 1e6, errors);
	free(payload);
	free(tx);
	free(wsis);
	free(sessions);
	return rc || errors || interrupted ? 1 : 0;
}
