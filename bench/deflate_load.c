/*
 * deflate_load.c - a compressed-echo load generator on pylws's own client,
 * with the built-in permessage-deflate (libwebsocket_internal_extensions).
 *
 * Opens --conns connections to an echo server; each keeps --inflight
 * messages of --size bytes outstanding, every completed echo answered by the
 * next message.  The messages are a corpus of 64 JSON-like texts (records of
 * words, numbers and tags drawn from a fixed vocabulary, seeded: the same on
 * every run), taken in turn, so the compressor sees realistic, varied,
 * compressible text.  With -V every echoed byte is compared.
 *
 * After --warmup seconds it measures --duration seconds and prints
 *
 *   result conns=100 inflight=10 size=1024 deflate=1 msgs=N secs=S
 *          msg_per_s=X MB_per_s=Y wire_tx=B wire_rx=B payload=B ratio=R errors=0
 *
 * where wire_tx/wire_rx are the bytes TCP carried in the window (TCP_INFO
 * tcpi_bytes_acked / tcpi_bytes_received summed over the connections:
 * WebSocket frames, headers included), payload the message bytes both ways,
 * ratio = (wire_tx + wire_rx) / payload.  MB/s counts payload one way, as
 * bench/echo_load.c does; total_msgs counts the echoes of the whole run
 * (warm-up included), to relate to a server's CPU time.
 *
 * --no-deflate offers no extension (the same corpus, uncompressed).
 * Exits 1 on a connection failure, a wrong echo, a server close or a stall,
 * 2 on bad options.
 *
 * Build (bench/deflate_bench.py does it): link with libpylws.a and -lz.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked/_received */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libwebsockets.h>

#define VARIANTS 64

static struct {
	const char *host;
	long long port, conns, inflight, size;
	double duration, warmup, timeout;
	int deflate, verify, quiet;
} opt = {
	.host = "127.0.0.1",
	.port = 9000,
	.conns = 1,
	.inflight = 1,
	.size = 1024,
	.duration = 3.0,
	.warmup = 1.0,
	.timeout = 10.0,
	.deflate = 1,
};

struct session {
	long long id;
	uint64_t sent, received; /* messages */
	size_t got;              /* bytes of the echo being received */
	unsigned char *rxbuf;    /* with -V: the echo so far */
	int live;
};

static volatile sig_atomic_t interrupted;
static struct libwebsocket_context *context;
static struct libwebsocket **wsis;
static struct session *sessions;
static unsigned char *corpus[VARIANTS];
static long long established, closed, errors;
static uint64_t completed;
static int stopping;
static double last_progress;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the corpus ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static char vocab[512][12];

static void make_vocab(void)
{
	for (int i = 0; i < 512; i++) {
		int n = 3 + (int)(rnd() % 8);
		for (int k = 0; k < n; k++)
			vocab[i][k] = (char)('a' + rnd() % 26);
		vocab[i][n] = '\0';
	}
}

static const char *word(void)
{
	/* a few words are common, most are rare, as in real text */
	uint64_t r = rnd();
	return vocab[(r & 3) ? r % 48 : r % 512];
}

/* One message of exactly `size` bytes of JSON-like ASCII. */
static void make_message(unsigned char *out, size_t size, int variant)
{
	size_t n = 0;
	char rec[512];
	for (long long id = variant * 100000LL; n < size; id++) {
		int len = snprintf(rec, sizeof rec,
				   "{\"id\":%lld,\"user\":\"%s %s\",\"active\":%s,"
				   "\"tags\":[\"%s\",\"%s\",\"%s\"],\"score\":%.4f,"
				   "\"note\":\"%s %s %s %s %s\"}\n",
				   id, word(), word(), rnd() % 2 ? "true" : "false", word(), word(),
				   word(), (double)(rnd() % 100000) / 1000.0, word(), word(), word(),
				   word(), word());
		size_t take = (size_t)len < size - n ? (size_t)len : size - n;
		memcpy(out + n, rec, take);
		n += take;
	}
}

/* ---- the connections ---- */

static int variant_of(struct session *s, uint64_t seq)
{
	return (int)((s->id + (long long)seq) % VARIANTS);
}

static int send_next(struct libwebsocket *wsi, struct session *s)
{
	const unsigned char *msg = corpus[variant_of(s, s->sent)];
	s->sent++;
	return lws_write_unpadded(wsi, msg, (size_t)opt.size, LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

static int callback_load(struct libwebsocket_context *ctx, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct session *s = user;
	(void)ctx;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (s->got + len > (size_t)opt.size) {
			fprintf(stderr, "deflate_load: an echo longer than %lld bytes\n", opt.size);
			errors++;
			return -1;
		}
		if (opt.verify && len)
			memcpy(s->rxbuf + s->got, in, len);
		s->got += len;
		if (!libwebsocket_is_final_fragment(wsi))
			break;
		if (s->got != (size_t)opt.size || lws_frame_is_binary(wsi)) {
			fprintf(stderr, "deflate_load: an echo of %zu bytes, expected %lld text\n",
				s->got, opt.size);
			errors++;
			return -1;
		}
		if (opt.verify &&
		    memcmp(s->rxbuf, corpus[variant_of(s, s->received)], (size_t)opt.size)) {
			fprintf(stderr, "deflate_load: echo %llu of connection %lld differs\n",
				(unsigned long long)s->received, s->id);
			errors++;
			return -1;
		}
		s->got = 0;
		s->received++;
		completed++;
		if (!stopping && send_next(wsi, s)) {
			errors++;
			return -1;
		}
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->live = 1;
		established++;
		for (long long i = 0; i < opt.inflight; i++)
			if (send_next(wsi, s)) {
				errors++;
				return -1;
			}
		break;

	case LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED:
		return opt.deflate ? 0 : 1; /* nonzero: do not offer it */

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "deflate_load: connection failed: %s\n",
			in ? (const char *)in : "?");
		errors++;
		closed++;
		break;

	case LWS_CALLBACK_CLOSED:
		if (!stopping) {
			fprintf(stderr, "deflate_load: the server closed a connection\n");
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

/* Bytes TCP carried so far, summed over the live connections. */
static void wire_bytes(uint64_t *tx, uint64_t *rx)
{
	*tx = *rx = 0;
	for (long long i = 0; i < opt.conns; i++) {
		if (!sessions[i].live)
			continue;
		struct tcp_info ti;
		socklen_t n = sizeof ti;
		memset(&ti, 0, sizeof ti);
		if (getsockopt(libwebsocket_get_socket_fd(wsis[i]), IPPROTO_TCP, TCP_INFO, &ti,
			       &n) == 0) {
			*tx += ti.tcpi_bytes_acked;
			*rx += ti.tcpi_bytes_received;
		}
	}
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int all_established(void)
{
	return established + closed >= opt.conns;
}

static int never(void)
{
	return 0;
}

/* Serve until done() or the deadline; -1 on an error, a close or a stall. */
static int serve_until(int (*done)(void), double deadline)
{
	uint64_t seen = completed;
	while (!done() && !interrupted) {
		double t = now_s();
		if (t >= deadline)
			return 0;
		if (errors || (closed && !stopping))
			return -1;
		if (completed != seen) {
			seen = completed;
			last_progress = t;
		} else if (established && t - last_progress > opt.timeout) {
			fprintf(stderr, "deflate_load: no echo for %.1f s\n", opt.timeout);
			errors++;
			return -1;
		}
		if (libwebsocket_service(context, 10) < 0)
			return -1;
	}
	return interrupted || errors ? -1 : 0;
}

static int parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (*end || v < (double)min || v > (double)max)
		return -1;
	*out = (long long)v;
	return 0;
}

static int parse_secs(const char *s, double min, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || v < min)
		return -1;
	*out = v;
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-H HOST] [-p PORT] [-c CONNS] [-i INFLIGHT] [-s SIZE]\n"
		"          [-d SECS] [-w SECS] [-T TIMEOUT] [--no-deflate] [-V] [-q]\n",
		argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "no-deflate", no_argument, NULL, 'n' },
		{ "verify", no_argument, NULL, 'V' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "H:p:c:i:s:d:w:T:nVqh", opts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case 'H': opt.host = optarg; break;
		case 'p': bad = parse_num(optarg, 1, 65535, &opt.port); break;
		case 'c': bad = parse_num(optarg, 1, 100000, &opt.conns); break;
		case 'i': bad = parse_num(optarg, 1, 100000, &opt.inflight); break;
		case 's': bad = parse_num(optarg, 1, 64LL << 20, &opt.size); break;
		case 'd': bad = parse_secs(optarg, 0.01, &opt.duration); break;
		case 'w': bad = parse_secs(optarg, 0, &opt.warmup); break;
		case 'T': bad = parse_secs(optarg, 0.1, &opt.timeout); break;
		case 'n': opt.deflate = 0; break;
		case 'V': opt.verify = 1; break;
		case 'q': opt.quiet = 1; break;
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

	make_vocab();
	for (int v = 0; v < VARIANTS; v++) {
		corpus[v] = malloc((size_t)opt.size);
		if (!corpus[v])
			return 1;
		make_message(corpus[v], (size_t)opt.size, v);
	}
	wsis = calloc((size_t)opt.conns, sizeof *wsis);
	sessions = calloc((size_t)opt.conns, sizeof *sessions);
	if (!wsis || !sessions)
		return 1;
	for (long long i = 0; i < opt.conns; i++) {
		sessions[i].id = i;
		if (opt.verify && !(sessions[i].rxbuf = malloc((size_t)opt.size)))
			return 1;
	}

	lws_set_log_level(LLL_ERR, NULL);
	context = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols,
					      libwebsocket_internal_extensions, NULL, NULL, NULL,
					      -1, -1, 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}
	lws_set_max_message_size(context, (size_t)opt.size + 1);
	for (long long i = 0; i < opt.conns; i++) {
		wsis[i] = libwebsocket_client_connect_extended(context, opt.host, (int)opt.port, 0,
							       "/", opt.host, NULL, NULL, -1,
							       &sessions[i]);
		if (!wsis[i]) {
			perror("libwebsocket_client_connect");
			return 1;
		}
	}

	double t0 = now_s(), t1 = t0, t2 = t0;
	last_progress = t0;
	uint64_t at_start = 0, at_end = 0, tx0 = 0, rx0 = 0, tx1 = 0, rx1 = 0;
	int rc = serve_until(all_established, t0 + opt.timeout);
	if (!rc && established < opt.conns) {
		fprintf(stderr, "deflate_load: %lld of %lld connections established\n",
			established, opt.conns);
		errors++;
		rc = -1;
	}
	if (!rc)
		rc = serve_until(never, now_s() + opt.warmup);
	if (!rc) {
		t1 = now_s();
		at_start = completed;
		wire_bytes(&tx0, &rx0);
		rc = serve_until(never, t1 + opt.duration);
		t2 = now_s();
		at_end = completed;
		wire_bytes(&tx1, &rx1);
	}

	/* close every connection with 1000 and give the handshakes 2 s */
	stopping = 1;
	for (long long i = 0; i < opt.conns; i++)
		if (sessions[i].live)
			libwebsocket_close_and_free_session(context, wsis[i],
							    LWS_CLOSE_STATUS_NORMAL);
	double end = now_s() + 2.0;
	while (closed < established && now_s() < end)
		libwebsocket_service(context, 10);
	libwebsocket_context_destroy(context);

	double secs = t2 - t1;
	uint64_t msgs = at_end - at_start;
	uint64_t payload = msgs * (uint64_t)opt.size * 2;
	uint64_t wire = (tx1 - tx0) + (rx1 - rx0);
	printf("result conns=%lld inflight=%lld size=%lld deflate=%d msgs=%llu secs=%.4f "
	       "msg_per_s=%.1f MB_per_s=%.2f wire_tx=%llu wire_rx=%llu payload=%llu "
	       "ratio=%.4f total_msgs=%llu errors=%lld\n",
	       opt.conns, opt.inflight, opt.size, opt.deflate, (unsigned long long)msgs, secs,
	       secs > 0 ? msgs / secs : 0.0,
	       secs > 0 ? msgs * (double)opt.size / secs / 1e6 : 0.0,
	       (unsigned long long)(tx1 - tx0), (unsigned long long)(rx1 - rx0),
	       (unsigned long long)payload, payload ? (double)wire / (double)payload : 0.0,
	       (unsigned long long)completed, errors);
	return rc || errors ? 1 : 0;
}
