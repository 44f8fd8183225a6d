/*
 * test-fraggle.c - fragmented messages, sent and reassembled, on the classic
 * libwebsockets API.  One program: a server by default, a client with -c.
 *
 * The server, on each connection, sends --messages N messages.  Each is a
 * random number of random-size fragments (TEXT or BINARY with
 * LWS_WRITE_NO_FIN, then CONTINUATION; a fragment may be empty), followed by
 * a small text message carrying the message's checksum: the sum of its bytes
 * modulo 2^32, in decimal.  Then it closes the connection with 1000.
 *
 * The client reassembles each message from the pieces CLIENT_RECEIVE hands it
 * (libwebsocket_is_final_fragment marks the last), checks the checksum and
 * prints
 *
 *     verified message 3: 5114 bytes, checksum 651862
 *
 * and, when the server closes, "N messages verified, 0 bad".  It exits 1 on
 * a mismatch, when nothing was verified or the connection failed.  A checksum
 * that arrives in one piece is read from `in` as a C string, as programs of
 * the classic API did: the library puts a 0 byte at in[len].
 *
 *   test-fraggle [--port 7681] [--interface IF] [--messages 10]
 *                [--max-fragments 16] [--max-fragment-size 4096] [--seed N]
 *   test-fraggle -c HOST [--port 7681] [--path /]
 *
 * Both take --debug LLL_BITS and --extension NAME: "none" (the default),
 * "all" (libwebsocket_internal_extensions) or one of them by name
 * (permessage-deflate, deflate-frame, deflate-stream): the client offers it,
 * the server accepts it.
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

#define PROTOCOL_NAME "fraggle-protocol"

static volatile sig_atomic_t stop;

static struct {
	long long messages;
	long long max_fragments;
	long long max_fragment_size;
} opt = { .messages = 10, .max_fragments = 16, .max_fragment_size = 4096 };

/* ---- randomness: xorshift64*, seeded by --seed or the clock ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

/* 0..n inclusive */
static size_t rng_upto(long long n)
{
	return (size_t)(rng() % (uint64_t)(n + 1));
}

/* ---- the server ---- */

struct server_session {
	long long message;    /* messages begun so far */
	long long frags_left; /* fragments of the current message still to send */
	int in_message;       /* a fragment without FIN went out */
	int is_text;
	uint32_t sum;
	size_t total;
	int checksum_due;     /* the message is out, its checksum is not */
	int done;
};

static int server_send_one(struct libwebsocket *wsi, struct server_session *s,
			   unsigned char *buf)
{
	unsigned char *p = buf + LWS_SEND_BUFFER_PRE_PADDING;

	if (s->checksum_due) {
		int n = snprintf((char *)p, 32, "%u", s->sum);
		if (libwebsocket_write(wsi, p, (size_t)n, LWS_WRITE_TEXT) < 0)
			return -1;
		printf("sent message %lld: %zu bytes, checksum %u\n", s->message, s->total,
		       s->sum);
		s->checksum_due = 0;
		if (s->message >= opt.messages)
			s->done = 1;
		return 0;
	}

	if (!s->in_message) {
		s->message++;
		s->frags_left = 1 + (long long)rng_upto(opt.max_fragments - 1);
		s->is_text = (int)(rng() & 1);
		s->sum = 0;
		s->total = 0;
	}
	size_t len = rng_upto(opt.max_fragment_size);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = rng();
		for (size_t k = 0; k < 8 && i + k < len; k++, r >>= 8)
			/* text: printable ASCII, so every fragment is valid UTF-8 */
			p[i + k] = s->is_text ? (unsigned char)(32 + (r & 0xff) % 95)
					      : (unsigned char)r;
	}
	for (size_t i = 0; i < len; i++)
		s->sum += p[i];
	s->total += len;

	int proto = s->in_message ? LWS_WRITE_CONTINUATION
				  : (s->is_text ? LWS_WRITE_TEXT : LWS_WRITE_BINARY);
	if (--s->frags_left > 0)
		proto |= LWS_WRITE_NO_FIN;
	if (libwebsocket_write(wsi, p, len, (enum libwebsocket_write_protocol)proto) < 0)
		return -1;
	s->in_message = s->frags_left > 0;
	s->checksum_due = !s->in_message;
	return 0;
}

static int callback_server(struct libwebsocket_context *context, struct libwebsocket *wsi,
			   enum libwebsocket_callback_reasons reason, void *user, void *in,
			   size_t len)
{
	struct server_session *s = user;
	(void)in;
	(void)len;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof *s);
		fprintf(stderr, "test-fraggle: client connected\n");
		libwebsocket_callback_on_writable(context, wsi);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		unsigned char *buf = malloc(LWS_SEND_BUFFER_PRE_PADDING +
					    (size_t)opt.max_fragment_size + 32 +
					    LWS_SEND_BUFFER_POST_PADDING);
		if (!buf)
			return -1;
		/* send while the socket takes it, then wait for the next WRITEABLE */
		int rc = 0;
		while (!s->done && !lws_send_pipe_choked(wsi)) {
			if (server_send_one(wsi, s, buf)) {
				rc = -1;
				break;
			}
		}
		free(buf);
		fflush(stdout);
		if (rc)
			return -1;
		if (s->done)
			libwebsocket_close_and_free_session(context, wsi,
							    LWS_CLOSE_STATUS_NORMAL);
		else
			libwebsocket_callback_on_writable(context, wsi);
		break;
	}

	case LWS_CALLBACK_CLOSED:
		fprintf(stderr, "test-fraggle: client gone after %lld messages\n", s->message);
		break;

	default:
		break;
	}
	return 0;
}

/* ---- the client ---- */

static struct {
	unsigned char *buf; /* the message being reassembled */
	size_t len, cap;
	size_t pieces;
	int have_message;   /* a whole message is in, its checksum is next */
	uint32_t sum;
	char digits[32];    /* the checksum message being reassembled */
	size_t ndigits;
	long long verified, bad, number;
	int closed, failed;
} client;

static int client_receive(struct libwebsocket *wsi, const unsigned char *in, size_t len)
{
	int final = libwebsocket_is_final_fragment(wsi);

	if (!client.have_message) {
		if (client.len + len > client.cap) {
			size_t cap = client.cap ? client.cap : 65536;
			while (cap < client.len + len)
				cap *= 2;
			unsigned char *p = realloc(client.buf, cap);
			if (!p)
				return -1;
			client.buf = p;
			client.cap = cap;
		}
		memcpy(client.buf + client.len, in, len);
		client.len += len;
		client.pieces++;
		if (final) {
			uint32_t sum = 0;
			for (size_t i = 0; i < client.len; i++)
				sum += client.buf[i];
			client.sum = sum;
			client.have_message = 1;
			client.ndigits = 0;
		}
		return 0;
	}

	/* the checksum message: in one piece, `in` is a C string (classic) */
	if (final && !client.ndigits) {
		char *end;
		client.number++;
		unsigned long long said = strtoull((const char *)in, &end, 10);
		if (!len || strlen((const char *)in) != len || *end || said != client.sum) {
			printf("BAD message %lld: %zu bytes, checksum %u, the server says \"%s\"\n",
			       client.number, client.len, client.sum, (const char *)in);
			client.bad++;
		} else {
			printf("verified message %lld: %zu bytes, checksum %u\n", client.number,
			       client.len, client.sum);
			client.verified++;
		}
		fflush(stdout);
		client.have_message = 0;
		client.len = 0;
		client.pieces = 0;
		return 0;
	}
	if (client.ndigits + len >= sizeof client.digits) {
		fprintf(stderr, "test-fraggle: a checksum message of more than %zu bytes\n",
			sizeof client.digits - 1);
		client.bad++;
		return -1;
	}
	memcpy(client.digits + client.ndigits, in, len);
	client.ndigits += len;
	if (!final)
		return 0;
	client.digits[client.ndigits] = '\0';
	client.number++;
	char *end;
	unsigned long long said = strtoull(client.digits, &end, 10);
	if (!client.ndigits || *end || said != client.sum) {
		printf("BAD message %lld: %zu bytes, checksum %u, the server says \"%s\"\n",
		       client.number, client.len, client.sum, client.digits);
		client.bad++;
	} else {
		printf("verified message %lld: %zu bytes, checksum %u\n", client.number,
		       client.len, client.sum);
		client.verified++;
	}
	fflush(stdout);
	client.have_message = 0;
	client.len = 0;
	client.pieces = 0;
	return 0;
}

static int callback_client(struct libwebsocket_context *context, struct libwebsocket *wsi,
			   enum libwebsocket_callback_reasons reason, void *user, void *in,
			   size_t len)
{
	(void)context;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		fprintf(stderr, "test-fraggle: connected\n");
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "test-fraggle: connection failed: %s\n",
			in ? (const char *)in : "unknown reason");
		client.failed = 1;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return client_receive(wsi, in, len);
	case LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED:
		fprintf(stderr, "test-fraggle: extension %s confirmed\n", (const char *)in);
		break;
	case LWS_CALLBACK_CLOSED:
		client.closed = 1;
		break;
	default:
		break;
	}
	return 0;
}

/* one program, one protocol: the callback of whichever side this process is */
static int client_mode;

static int callback_fraggle(struct libwebsocket_context *context, struct libwebsocket *wsi,
			    enum libwebsocket_callback_reasons reason, void *user, void *in,
			    size_t len)
{
	if (client_mode)
		return callback_client(context, wsi, reason, user, in, len);
	return callback_server(context, wsi, reason, user, in, len);
}

/* --extension: none, all, or one of the built-in ones by name (into one[]);
 * -1 for an unknown name */
static int pick_extensions(const char *name, struct libwebsocket_extension one[2],
			   struct libwebsocket_extension **out)
{
	*out = NULL;
	if (!strcmp(name, "none"))
		return 0;
	if (!strcmp(name, "all")) {
		*out = libwebsocket_internal_extensions;
		return 0;
	}
	for (struct libwebsocket_extension *e = libwebsocket_internal_extensions; e->callback; e++)
		if (!strcmp(e->name, name)) {
			one[0] = *e;
			memset(&one[1], 0, sizeof one[1]);
			*out = one;
			return 0;
		}
	return -1;
}

static struct libwebsocket_protocols protocols[] = {
	{ PROTOCOL_NAME, callback_fraggle, sizeof(struct server_session), NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

/* ---- main ---- */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--port N] [--interface IF] [--messages N] [--max-fragments N]\n"
		"          [--max-fragment-size BYTES] [--seed N] [--debug LLL_BITS]\n"
		"          [--extension none|all|NAME]\n"
		"       %s -c HOST [--port N] [--path PATH] [--debug LLL_BITS]\n"
		"          [--extension none|all|NAME]\n",
		argv0, argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "client", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "interface", required_argument, NULL, 'i' },
		{ "path", required_argument, NULL, 'P' },
		{ "messages", required_argument, NULL, 'm' },
		{ "max-fragments", required_argument, NULL, 'F' },
		{ "max-fragment-size", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "debug", required_argument, NULL, 'd' },
		{ "extension", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server_host = NULL, *interface = NULL, *path = "/", *ext_name = "none";
	long long port = 7681, debug = LLL_ERR | LLL_WARN, seed = -1;
	int c;

	while ((c = getopt_long(argc, argv, "c:p:i:P:m:F:S:s:d:e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			server_host = optarg;
			break;
		case 'p':
			if (example_parse_int(optarg, "port", 1, 65535, &port))
				return 2;
			break;
		case 'i':
			interface = optarg;
			break;
		case 'P':
			path = optarg;
			break;
		case 'm':
			if (example_parse_int(optarg, "messages", 0, 1LL << 40, &opt.messages))
				return 2;
			break;
		case 'F':
			if (example_parse_int(optarg, "max fragments", 1, 1 << 20,
					      &opt.max_fragments))
				return 2;
			break;
		case 'S':
			if (example_parse_int(optarg, "max fragment size", 0, 64 << 20,
				      &opt.max_fragment_size))
				return 2;
			break;
		case 's':
			if (example_parse_int(optarg, "seed", 0, 1LL << 62, &seed))
				return 2;
			break;
		case 'd':
			if (example_parse_int(optarg, "debug level", 0, 0xffff, &debug))
				return 2;
			break;
		case 'e':
			ext_name = optarg;
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

	struct libwebsocket_extension one_ext[2];
	struct libwebsocket_extension *extensions;
	if (pick_extensions(ext_name, one_ext, &extensions)) {
		fprintf(stderr, "unknown extension: %s\n", ext_name);
		return 2;
	}
	lws_set_log_level((int)debug, NULL);
	if (seed < 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (long long)(ts.tv_sec ^ ts.tv_nsec);
	}
	rng_state ^= (uint64_t)seed * 0xbf58476d1ce4e5b9u;
	if (!rng_state)
		rng_state = 1;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: the signal ends the service wait */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	client_mode = server_host != NULL;
	int listen_port = client_mode ? CONTEXT_PORT_NO_LISTEN : (int)port;
	struct libwebsocket_context *context = libwebsocket_create_context(
		listen_port, interface, protocols, extensions, NULL, NULL, NULL, -1, -1, 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}

	int n = 0;
	if (!server_host) {
		fprintf(stderr, "test-fraggle server on port %lld\n", port);
		while (!stop && n >= 0)
			n = libwebsocket_service(context, 1000);
		libwebsocket_context_destroy(context);
		return n < 0 ? 1 : 0;
	}

	struct libwebsocket *wsi = libwebsocket_client_connect(
		context, server_host, (int)port, 0, path, server_host, NULL, PROTOCOL_NAME, -1);
	if (!wsi) {
		perror("libwebsocket_client_connect");
		libwebsocket_context_destroy(context);
		return 1;
	}
	while (!stop && n >= 0 && !client.closed && !client.failed)
		n = libwebsocket_service(context, 1000);
	if (stop && !client.closed && !client.failed)
		libwebsocket_close_and_free_session(context, wsi, LWS_CLOSE_STATUS_NORMAL);
	libwebsocket_context_destroy(context);

	int unfinished = client.have_message || client.pieces;
	if (unfinished)
		printf("message %lld arrived without its checksum\n", client.number + 1);
	printf("%lld messages verified, %lld bad\n", client.verified, client.bad);
	free(client.buf);
	return client.failed || client.bad || unfinished || !client.verified ? 1 : 0;
}
