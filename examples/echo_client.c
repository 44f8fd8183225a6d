/*
 * echo_client.c - a minimal WebSocket client on the classic libwebsockets API.
 *
 * Connects to an echo server, sends each line of stdin (or --message TEXT,
 * --count times) as a text message, waits for its echo and prints it, then
 * closes the connection cleanly with status 1000.
 *
 *   echo_client [--host 127.0.0.1] [--port 7681] [--path /] [--protocol NAME]
 *               [--message TEXT [--count N]] [--handshake-timeout SECS]
 *               [--debug LLL_BITS]
 *
 *   printf 'hello\nworld\n' | echo_client --port 7681
 *
 * Exit status: 0 when every message came back and we closed; 1 when the
 * connection failed or the server closed first; 2 for bad options.
 *
 * Build: meson (executable 'echo_client' of the build), or against an
 * installed library:  cc echo_client.c $(pkg-config --cflags --libs pylws)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "example-args.h"

static volatile sig_atomic_t stop;

/* one connection: its state lives here */
static struct {
	struct libwebsocket *wsi;
	int established, closed, failed, closing;
	/* the message waiting for CLIENT_WRITEABLE, with room for the header */
	unsigned char *out;
	size_t out_len;
	int awaiting_echo;
	/* the echo being gathered from its pieces */
	char *in;
	size_t in_len, in_cap;
} conn;

static int callback_echo(struct libwebsocket_context *context, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	(void)context;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		conn.established = 1;
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "echo_client: connection failed: %s\n",
			in ? (const char *)in : "unknown reason");
		conn.failed = 1;
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!conn.out)
			break;
		/* the payload sits after LWS_SEND_BUFFER_PRE_PADDING bytes of room */
		if (libwebsocket_write(wsi, conn.out + LWS_SEND_BUFFER_PRE_PADDING,
				       conn.out_len, LWS_WRITE_TEXT) < 0)
			return -1;
		free(conn.out);
		conn.out = NULL;
		conn.awaiting_echo = 1;
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		/* a message may come in several pieces: gather them */
		if (conn.in_len + len > conn.in_cap) {
			size_t cap = conn.in_cap ? conn.in_cap : 256;
			while (cap < conn.in_len + len)
				cap *= 2;
			char *p = realloc(conn.in, cap);
			if (!p)
				return -1;
			conn.in = p;
			conn.in_cap = cap;
		}
		memcpy(conn.in + conn.in_len, in, len);
		conn.in_len += len;
		if (libwebsocket_is_final_fragment(wsi)) {
			fwrite(conn.in, 1, conn.in_len, stdout);
			putchar('\n');
			fflush(stdout);
			conn.in_len = 0;
			conn.awaiting_echo = 0;
		}
		break;

	case LWS_CALLBACK_CLOSED:
		conn.closed = 1;
		break;

	default:
		break;
	}
	return 0;
}

static struct libwebsocket_protocols protocols[] = {
	{ "echo-client", callback_echo, 0, NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

/* ---- the messages to send: --message, or the lines of stdin ---- */

static const char *message;
static long long count = 1;
static char *stdin_buf;
static size_t stdin_len, stdin_cap;
static int stdin_eof;

/* Next line of stdin without its line end: 1 and *line (malloc'd), 0 when
 * none is complete yet, -1 at the end of input. */
static int next_stdin_line(char **line, size_t *len)
{
	for (;;) {
		char *nl = stdin_len ? memchr(stdin_buf, '\n', stdin_len) : NULL;
		if (nl || (stdin_eof && stdin_len)) {
			size_t n = nl ? (size_t)(nl - stdin_buf) : stdin_len;
			size_t used = nl ? n + 1 : n;
			if (n && stdin_buf[n - 1] == '\r')
				n--;
			*line = malloc(n + 1);
			if (!*line)
				return -1;
			memcpy(*line, stdin_buf, n);
			(*line)[n] = '\0';
			*len = n;
			memmove(stdin_buf, stdin_buf + used, stdin_len - used);
			stdin_len -= used;
			return 1;
		}
		if (stdin_eof)
			return -1;
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0)
			return 0; /* nothing to read yet: serve the connection meanwhile */
		if (stdin_cap - stdin_len < 4096) {
			size_t cap = stdin_cap ? stdin_cap * 2 : 8192;
			char *p = realloc(stdin_buf, cap);
			if (!p)
				return -1;
			stdin_buf = p;
			stdin_cap = cap;
		}
		ssize_t n = read(STDIN_FILENO, stdin_buf + stdin_len, stdin_cap - stdin_len);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			stdin_eof = 1;
		else if (n == 0)
			stdin_eof = 1;
		else if (n > 0)
			stdin_len += (size_t)n;
	}
}

/* Queue the next message for CLIENT_WRITEABLE: 1 queued, 0 none yet, -1 done. */
static int queue_next(void)
{
	char *text;
	size_t len;

	if (message) {
		if (count <= 0)
			return -1;
		count--;
		len = strlen(message);
		text = (char *)message;
	} else {
		int n = next_stdin_line(&text, &len);
		if (n <= 0)
			return n;
	}
	conn.out = malloc(LWS_SEND_BUFFER_PRE_PADDING + len + LWS_SEND_BUFFER_POST_PADDING);
	if (conn.out)
		memcpy(conn.out + LWS_SEND_BUFFER_PRE_PADDING, text, len);
	conn.out_len = len;
	if (text != message)
		free(text);
	return conn.out ? 1 : -1;
}

/* ---- main ---- */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--host HOST] [--port N] [--path PATH] [--protocol NAME]\n"
		"          [--message TEXT [--count N]] [--handshake-timeout SECS]\n"
		"          [--debug LLL_BITS]\n"
		"Sends each line of stdin (or TEXT, N times) and prints each echo.\n",
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
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'r' },
		{ "message", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'n' },
		{ "debug", required_argument, NULL, 'd' },
		{ "handshake-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = "127.0.0.1", *path = "/", *protocol = NULL;
	long long port = 7681, debug = LLL_ERR | LLL_WARN, hs_timeout = -1;
	int c;

	while ((c = getopt_long(argc, argv, "H:p:P:r:m:n:d:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			host = optarg;
			break;
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
		case 'm':
			message = optarg;
			break;
		case 'n':
			if (example_parse_int(optarg, "count", 0, 1LL << 62, &count))
				return 2;
			break;
		case 'd':
			if (example_parse_int(optarg, "debug level", 0, 0xffff, &debug))
				return 2;
			break;
		case 't':
			if (example_parse_int(optarg, "handshake timeout", 1, 1 << 30, &hs_timeout))
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
	if (optind < argc) {
		usage(argv[0]);
		return 2;
	}

	lws_set_log_level((int)debug, NULL);

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
	/* seconds from the connect to the server's 101 (default 10) */
	if (hs_timeout > 0)
		lws_set_handshake_timeout(context, (int)hs_timeout);

	conn.wsi = libwebsocket_client_connect(context, host, (int)port, 0, path, host, NULL,
					       protocol, -1);
	if (!conn.wsi) {
		perror("libwebsocket_client_connect");
		libwebsocket_context_destroy(context);
		return 1;
	}

	int n = 0;
	while (!stop && n >= 0 && !conn.closed && !conn.failed) {
		n = libwebsocket_service(context, 20);
		if (!conn.established || conn.closed || conn.closing || conn.out ||
		    conn.awaiting_echo)
			continue;
		int q = queue_next();
		if (q > 0) {
			libwebsocket_callback_on_writable(context, conn.wsi);
		} else if (q < 0) {
			/* everything echoed: close with 1000 (CLOSED follows at once) */
			conn.closing = 1;
			libwebsocket_close_and_free_session(context, conn.wsi,
							    LWS_CLOSE_STATUS_NORMAL);
		}
	}
	if (stop && conn.established && !conn.closed) {
		/* Ctrl-C: close cleanly too */
		conn.closing = 1;
		libwebsocket_close_and_free_session(context, conn.wsi, LWS_CLOSE_STATUS_NORMAL);
	}
	/* let the close frame go out and the server's answer come back */
	for (double until = now_s() + 0.2; conn.closing && now_s() < until;)
		libwebsocket_service(context, 10);

	int status = conn.closing ? 0 : 1;
	if (conn.closed && !conn.closing)
		fprintf(stderr, "echo_client: the server closed the connection\n");
	libwebsocket_context_destroy(context);
	free(conn.out);
	free(conn.in);
	free(stdin_buf);
	return status;
}
