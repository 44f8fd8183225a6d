/*
 * services_helper.c - a C server on the classic libwebsockets API for
 * tests/services/ (harness: tests/support/services.py).  It exercises the server services (HTTP
 * files, rx flow control, writable-all, broadcast, fork_service_loop, peer
 * addresses, hangup, canonical hostname, timeouts, FILTER_PROTOCOL_CONNECTION,
 * remaining_packet_payload) from C, so the sanitizer build (build-asan) checks
 * them for memory errors and leaks too.
 *
 *   services_helper serve PORT DIR [IFACE]     the service loop, in this process
 *   services_helper broadcast-fork PORT N      fork_service_loop; this process
 *                                              broadcasts N messages per "go"
 *   services_helper hostname 0                 print the canonical hostnames, exit
 *
 * IFACE "any" (the default) listens on every interface (dual stack).
 *
 * Protocols: [0] "http" (HTTP, and WebSockets asking for no protocol),
 * [1] "svc-a", [2] "svc-b", [3] "svc-paused" (reception disabled at
 * ESTABLISHED, enabled again by the main loop 500 ms later).  Each has a
 * callback function of its own (a wrapper naming its protocol), so the helper
 * sees which protocol's callback the library calls.
 *
 * Everything it sees is printed to stdout, one line each, line-buffered:
 *   ready PORT | established P FD | closed P FD | writeable P FD |
 *   broadcast P FD LEN | http FD PATH | serve FD PATH RC | completion FD PATH |
 *   fragment FD RC | paused FD | resumed FD RC | peer FD name=[..] rip=[..] |
 *   small FD NAMELEN RIPLEN name=[..] rip=[..] nul=N guard=N | ok CMD ... |
 *   hostname OPTIONS [NAME] | sent P N FAILURES | destroyed |
 *   filter P FD TOKENS (FILTER_PROTOCOL_CONNECTION, see below) |
 *   ok rxlog FD | rx FD LEN REMAINING FINAL (see "rxlog")
 *
 * Commands on stdin, one a line, run by the main loop between two service calls:
 *   writable-all P | broadcast P PAYLOAD | hangup FD | flow FD 0|1 | peer FD |
 *   small FD NAMELEN RIPLEN | timeout FD SECS | quit |
 *   broadcast-hangup P PAYLOAD (the first BROADCAST callback hangs up the other
 *   connections of its protocol)
 * (broadcast-fork reads "go P" instead: broadcast N messages to protocol P).
 *
 * WebSocket text messages (handled inside the RECEIVE callback):
 *   pause          disable reception now; the main loop enables it 500 ms later
 *   bcast:P:TEXT   libwebsockets_broadcast(&protocols[P], TEXT) from the callback
 *   mirror:P       broadcast the received payload in place ('in' has padding)
 *   wall:P         libwebsocket_callback_on_writable_all_protocol(&protocols[P])
 *   hangup         libwebsockets_hangup_on_client on this connection's fd
 *   hangup:FD      ... on another connection's fd
 *   peer           answer "NAME RIP" from libwebsockets_get_peer_addresses
 *   timeout:N      libwebsocket_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_PING, N)
 *   fragment       answer serve_http_file_fragment's result on this connection
 *   servefile      answer serve_http_file's result on this connection
 *   rxlog          from now on each RECEIVE on this connection prints
 *                  "rx FD LEN REMAINING FINAL" (libwebsockets_remaining_packet_payload,
 *                  libwebsocket_is_final_fragment) instead of being handled,
 *                  and the last piece of a message answers "rx-done TOTAL"
 *   anything else  echoed back unchanged (text), each piece as it arrives
 * A BROADCAST is written to the connection unchanged (text), in place.
 * A WRITEABLE writes "writeable P".
 *
 * HTTP: PATH is served from DIR (serve_http_file), Content-Type from the
 * extension; "/close/NAME" serves NAME and returns 1; "/nullct/NAME" serves
 * NAME with a NULL content type; "/fragment" answers serve_http_file_fragment's
 * result as a small page; "/inline" answers "inline\n" with LWS_WRITE_HTTP from
 * the callback and keeps the connection (returns 0).
 *
 * FILTER_PROTOCOL_CONNECTION (user = the struct lws_tokens array) prints
 *   filter P FD wsi=Q in=I len=L nul=N uri=[..] host=[..] ... key1=- ...
 * P: the protocol whose callback got it; Q: libwebsockets_get_protocol(wsi);
 * I: 1 if 'in' is not NULL; each token printed with %s, "-" when NULL; N: 1
 * when every token's strlen is its token_len.  A URI starting "/refuse"
 * returns 1 (the library refuses the connection).
 *
 * SIGTERM, "quit" or EOF on stdin: destroy the context, print "destroyed", exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#define MAX_FDS 4096
#define RESUME_AFTER_MS 500
#define PRE LWS_SEND_BUFFER_PRE_PADDING
#define POST LWS_SEND_BUFFER_POST_PADDING

static volatile sig_atomic_t stop;
static struct libwebsocket_context *context;

static int callback(int proto_index, struct libwebsocket_context *ctx, struct libwebsocket *wsi,
		    enum libwebsocket_callback_reasons reason, void *user, void *in, size_t len);

/* one callback function per protocol, each naming its protocol's index */
#define PROTOCOL_CALLBACK(i)                                                                       \
	static int callback_##i(struct libwebsocket_context *ctx, struct libwebsocket *wsi,        \
				enum libwebsocket_callback_reasons reason, void *user, void *in,   \
				size_t len)                                                        \
	{                                                                                          \
		return callback(i, ctx, wsi, reason, user, in, len);                               \
	}
PROTOCOL_CALLBACK(0)
PROTOCOL_CALLBACK(1)
PROTOCOL_CALLBACK(2)
PROTOCOL_CALLBACK(3)

struct session {
	char path[512];  /* HTTP: the path being served */
	int rxlog;       /* "rxlog": print each RECEIVE instead of handling it */
	size_t rx_total; /* ... and the bytes of its message so far */
};

static struct libwebsocket_protocols protocols[] = {
	{"http", callback_0, sizeof(struct session), NULL, 0, 0, 0},
	{"svc-a", callback_1, sizeof(struct session), NULL, 0, 0, 0},
	{"svc-b", callback_2, sizeof(struct session), NULL, 0, 0, 0},
	{"svc-paused", callback_3, sizeof(struct session), NULL, 0, 0, 0},
	{NULL, NULL, 0, NULL, 0, 0, 0},
};
static const char *serve_dir = ".";

/* established WebSocket connections by fd, and when to resume a paused one */
static struct libwebsocket *conns[MAX_FDS];
static long long resume_at[MAX_FDS]; /* monotonic ms, 0 = none */
/* "broadcast-hangup": the next BROADCAST callback hangs up every other
 * connection of its protocol */
static int hang_others;

static void on_term(int sig)
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

static int fd_ok(int fd)
{
	return fd >= 0 && fd < MAX_FDS;
}

static const char *proto_name(struct libwebsocket *wsi)
{
	const struct libwebsocket_protocols *p = libwebsockets_get_protocol(wsi);
	return p ? p->name : "?";
}

/* write text as one frame, with the padding the classic API asks for */
static int write_text(struct libwebsocket *wsi, const char *text, size_t len)
{
	unsigned char *buf = malloc(PRE + len + POST);
	if (!buf)
		return -1;
	memcpy(buf + PRE, text, len);
	int n = libwebsocket_write(wsi, buf + PRE, len, LWS_WRITE_TEXT);
	free(buf);
	return n;
}

static int write_line(struct libwebsocket *wsi, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int write_line(struct libwebsocket *wsi, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return write_text(wsi, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* a broadcast of len bytes of text from a padded copy */
static int broadcast_text(int index, const char *text, size_t len)
{
	unsigned char *buf = malloc(PRE + len + POST);
	if (!buf)
		return -1;
	memcpy(buf + PRE, text, len);
	int n = libwebsockets_broadcast(&protocols[index], buf + PRE, len);
	free(buf);
	return n;
}

static int valid_index(int p)
{
	return p >= 0 && p < 4;
}

/* ---- peer addresses into buffers of exactly the given sizes ---- */

static void print_peer(int fd)
{
	char name[256], rip[64];
	memset(name, 'X', sizeof name);
	memset(rip, 'X', sizeof rip);
	libwebsockets_get_peer_addresses(fd, name, sizeof name, rip, sizeof rip);
	name[sizeof name - 1] = '\0'; /* printed below even if the library forgot */
	rip[sizeof rip - 1] = '\0';
	printf("peer %d name=[%s] rip=[%s]\n", fd, name, rip);
}

static void print_small_peer(int fd, int name_len, int rip_len)
{
	/* exactly name_len/rip_len bytes, then guard bytes we check ourselves:
	 * a write past the length shows as a changed guard (and, past the
	 * allocation, as an AddressSanitizer report) */
	enum { GUARD = 8 };
	char *name = malloc((size_t)name_len + GUARD);
	char *rip = malloc((size_t)rip_len + GUARD);
	if (!name || !rip) {
		free(name);
		free(rip);
		printf("small %d failed\n", fd);
		return;
	}
	memset(name, 'X', (size_t)name_len + GUARD);
	memset(rip, 'X', (size_t)rip_len + GUARD);
	libwebsockets_get_peer_addresses(fd, name, name_len, rip, rip_len);
	int guard = 1;
	for (int i = 0; i < GUARD; i++)
		guard &= name[name_len + i] == 'X' && rip[rip_len + i] == 'X';
	size_t nl = strnlen(name, (size_t)name_len), rl = strnlen(rip, (size_t)rip_len);
	int nul = (name_len == 0 || nl < (size_t)name_len) && (rip_len == 0 || rl < (size_t)rip_len);
	printf("small %d %d %d name=[%.*s] rip=[%.*s] nul=%d guard=%d\n", fd, name_len, rip_len,
	       (int)nl, name, (int)rl, rip, nul, guard);
	free(name);
	free(rip);
}

/* ---- HTTP ---- */

static const char *content_type_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html";
	if (!strcmp(dot, ".txt"))
		return "text/plain; charset=utf-8";
	if (!strcmp(dot, ".png"))
		return "image/png";
	return "application/octet-stream";
}

static int http_page(struct libwebsocket *wsi, const char *body)
{
	char page[512];
	int n = snprintf(page, sizeof page,
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(body), body);
	unsigned char *buf = malloc(PRE + (size_t)n + POST);
	if (!buf)
		return -1;
	memcpy(buf + PRE, page, (size_t)n);
	int rc = libwebsocket_write(wsi, buf + PRE, (size_t)n, LWS_WRITE_HTTP);
	free(buf);
	return rc;
}

static int on_http(struct libwebsocket *wsi, struct session *s, const char *path)
{
	int fd = libwebsocket_get_socket_fd(wsi);
	printf("http %d %s\n", fd, path);
	if (!strcmp(path, "/fragment")) {
		int rc = libwebsockets_serve_http_file_fragment(context, wsi);
		printf("fragment %d %d\n", fd, rc);
		char body[32];
		snprintf(body, sizeof body, "fragment=%d", rc);
		http_page(wsi, body);
		return 1;
	}
	if (!strcmp(path, "/inline"))
		/* answered here, the connection kept for the next request */
		return http_page(wsi, "inline\n") < 0 ? -1 : 0;
	int close_after = 0;
	const char *name = path, *type;
	if (!strncmp(path, "/close/", 7)) {
		close_after = 1;
		name = path + 6;
	}
	if (!strncmp(path, "/nullct/", 8)) {
		name = path + 7;
		type = NULL;
	} else {
		type = content_type_of(name);
	}
	char file[1024];
	snprintf(file, sizeof file, "%s%s", serve_dir, name);
	if (s)
		snprintf(s->path, sizeof s->path, "%s", path);
	int rc = libwebsockets_serve_http_file(context, wsi, file, type);
	printf("serve %d %s %d\n", fd, path, rc);
	return close_after;
}

/* ---- the callback of every protocol ---- */

/* "rxlog" mode: one line per piece, an answer at the end of the message */
static int log_receive(struct libwebsocket *wsi, struct session *s, size_t len)
{
	int fd = libwebsocket_get_socket_fd(wsi);
	size_t remaining = libwebsockets_remaining_packet_payload(wsi);
	int final = libwebsocket_is_final_fragment(wsi);
	s->rx_total += len;
	printf("rx %d %zu %zu %d\n", fd, len, remaining, final);
	if (!final || remaining)
		return 0;
	size_t total = s->rx_total;
	s->rx_total = 0;
	return write_line(wsi, "rx-done %zu", total) < 0 ? -1 : 0;
}

static int on_receive(struct libwebsocket *wsi, struct session *s, unsigned char *in, size_t len)
{
	int fd = libwebsocket_get_socket_fd(wsi);
	if (s && s->rxlog)
		return log_receive(wsi, s, len);
	char msg[256];
	size_t n = len < sizeof msg - 1 ? len : sizeof msg - 1;
	memcpy(msg, in, n);
	msg[n] = '\0';
	int p;

	if (len == 5 && !memcmp(in, "pause", 5)) {
		int rc = libwebsocket_rx_flow_control(wsi, 0);
		printf("paused %d %d\n", fd, rc);
		if (fd_ok(fd))
			resume_at[fd] = now_ms() + RESUME_AFTER_MS;
		return write_line(wsi, "paused") < 0 ? -1 : 0;
	}
	if (sscanf(msg, "bcast:%d:", &p) == 1 && valid_index(p)) {
		const char *text = strchr(msg + 6, ':') + 1;
		/* the text straight from 'in': it has the padding before it */
		size_t off = (size_t)(text - msg);
		int rc = libwebsockets_broadcast(&protocols[p], in + off, len - off);
		printf("ok bcast %d %d\n", p, rc);
		return 0;
	}
	if (sscanf(msg, "mirror:%d", &p) == 1 && valid_index(p)) {
		int rc = libwebsockets_broadcast(&protocols[p], in, len);
		printf("ok mirror %d %d\n", p, rc);
		return 0;
	}
	if (sscanf(msg, "wall:%d", &p) == 1 && valid_index(p)) {
		int rc = libwebsocket_callback_on_writable_all_protocol(&protocols[p]);
		printf("ok wall %d %d\n", p, rc);
		return 0;
	}
	if (!strcmp(msg, "hangup")) {
		libwebsockets_hangup_on_client(context, fd);
		printf("ok hangup-self %d\n", fd);
		return 0;
	}
	int other;
	if (sscanf(msg, "hangup:%d", &other) == 1) {
		libwebsockets_hangup_on_client(context, other);
		printf("ok hangup-other %d\n", other);
		return write_line(wsi, "hung up %d", other) < 0 ? -1 : 0;
	}
	if (!strcmp(msg, "peer")) {
		char name[256], rip[64];
		libwebsockets_get_peer_addresses(fd, name, sizeof name, rip, sizeof rip);
		printf("peer %d name=[%s] rip=[%s]\n", fd, name, rip);
		return write_line(wsi, "%s %s", name, rip) < 0 ? -1 : 0;
	}
	int secs;
	if (sscanf(msg, "timeout:%d", &secs) == 1) {
		libwebsocket_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_PING, secs);
		printf("ok timeout %d %d\n", fd, secs);
		return write_line(wsi, "timeout %d", secs) < 0 ? -1 : 0;
	}
	if (!strcmp(msg, "fragment")) {
		int rc = libwebsockets_serve_http_file_fragment(context, wsi);
		printf("fragment %d %d\n", fd, rc);
		return write_line(wsi, "fragment %d", rc) < 0 ? -1 : 0;
	}
	if (!strcmp(msg, "rxlog") && s) {
		s->rxlog = 1;
		printf("ok rxlog %d\n", fd);
		return write_line(wsi, "rxlog") < 0 ? -1 : 0;
	}
	if (!strcmp(msg, "servefile")) {
		char file[1024];
		snprintf(file, sizeof file, "%s/small.txt", serve_dir);
		int rc = libwebsockets_serve_http_file(context, wsi, file, "text/plain");
		printf("servefile %d %d\n", fd, rc);
		return write_line(wsi, "servefile %d", rc) < 0 ? -1 : 0;
	}
	/* echo, in place: 'in' has LWS_SEND_BUFFER_PRE_PADDING before it */
	return libwebsocket_write(wsi, in, len, LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

/* FILTER_PROTOCOL_CONNECTION: print the tokens as a classic program would
 * (%s), and refuse a URI starting "/refuse" */
static int on_filter(int proto_index, struct libwebsocket *wsi, const struct lws_tokens *tokens,
		     const void *in, size_t len)
{
	static const struct {
		const char *name;
		enum lws_token_indexes index;
	} shown[] = {
		{"uri", WSI_TOKEN_GET_URI},
		{"host", WSI_TOKEN_HOST},
		{"origin", WSI_TOKEN_ORIGIN},
		{"protocol", WSI_TOKEN_PROTOCOL},
		{"upgrade", WSI_TOKEN_UPGRADE},
		{"connection", WSI_TOKEN_CONNECTION},
		{"key", WSI_TOKEN_KEY},
		{"version", WSI_TOKEN_VERSION},
		{"sworigin", WSI_TOKEN_SWORIGIN},
		{"extensions", WSI_TOKEN_EXTENSIONS},
		{"key1", WSI_TOKEN_KEY1},
		{"key2", WSI_TOKEN_KEY2},
		{"draft", WSI_TOKEN_DRAFT},
		{"accept", WSI_TOKEN_ACCEPT},
		{"nonce", WSI_TOKEN_NONCE},
	};
	char line[8192];
	size_t used = 0;
	int nul = 1;

	for (int i = 0; i < WSI_TOKEN_COUNT; i++)
		if (tokens[i].token && strlen(tokens[i].token) != (size_t)tokens[i].token_len)
			nul = 0;
	const struct libwebsocket_protocols *wp = libwebsockets_get_protocol(wsi);
	int n = snprintf(line, sizeof line, "filter %s %d wsi=%s in=%d len=%zu nul=%d",
			 protocols[proto_index].name, libwebsocket_get_socket_fd(wsi),
			 wp && wp->name ? wp->name : "-", in != NULL, len, nul);
	used = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < sizeof shown / sizeof shown[0] && used < sizeof line; i++) {
		const char *t = tokens[shown[i].index].token;
		n = t ? snprintf(line + used, sizeof line - used, " %s=[%s]", shown[i].name, t)
		      : snprintf(line + used, sizeof line - used, " %s=-", shown[i].name);
		used += n > 0 ? (size_t)n : 0;
	}
	printf("%s\n", line);
	const char *uri = tokens[WSI_TOKEN_GET_URI].token;
	return uri && !strncmp(uri, "/refuse", 7);
}

static int callback(int proto_index, struct libwebsocket_context *ctx, struct libwebsocket *wsi,
		    enum libwebsocket_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)ctx;
	struct session *s = user;
	int fd = wsi ? libwebsocket_get_socket_fd(wsi) : -1;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		printf("established %s %d\n", proto_name(wsi), fd);
		if (fd_ok(fd))
			conns[fd] = wsi;
		if (!strcmp(proto_name(wsi), "svc-paused")) {
			int rc = libwebsocket_rx_flow_control(wsi, 0);
			printf("paused %d %d\n", fd, rc);
			if (fd_ok(fd))
				resume_at[fd] = now_ms() + RESUME_AFTER_MS;
		}
		break;
	case LWS_CALLBACK_CLOSED:
		printf("closed %s %d\n", proto_name(wsi), fd);
		if (fd_ok(fd)) {
			conns[fd] = NULL;
			resume_at[fd] = 0;
		}
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return on_filter(proto_index, wsi, user, in, len);
	case LWS_CALLBACK_RECEIVE:
		return on_receive(wsi, s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		printf("writeable %s %d\n", proto_name(wsi), fd);
		return write_line(wsi, "writeable %s", proto_name(wsi)) < 0 ? -1 : 0;
	case LWS_CALLBACK_BROADCAST:
		printf("broadcast %s %d %zu\n", proto_name(wsi), fd, len);
		if (hang_others) {
			/* closes connections the broadcast has yet to reach */
			hang_others = 0;
			for (int other = 0; other < MAX_FDS; other++)
				if (conns[other] && other != fd &&
				    libwebsockets_get_protocol(conns[other]) ==
					    libwebsockets_get_protocol(wsi))
					libwebsockets_hangup_on_client(context, other);
		}
		/* in place: the library's or the caller's buffer has the padding */
		return libwebsocket_write(wsi, in, len, LWS_WRITE_TEXT) < 0 ? -1 : 0;
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, s, in);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		printf("completion %d %s\n", fd, s ? s->path : "?");
		break;
	default:
		break;
	}
	return 0;
}

/* ---- the main loop's commands ---- */

static void run_command(char *line)
{
	int p, fd, a, b;
	char payload[4096];

	if (sscanf(line, "writable-all %d", &p) == 1 && valid_index(p)) {
		printf("ok writable-all %d %d\n", p,
		       libwebsocket_callback_on_writable_all_protocol(&protocols[p]));
	} else if (sscanf(line, "broadcast %d %4095s", &p, payload) == 2 && valid_index(p)) {
		printf("ok broadcast %d %d\n", p, broadcast_text(p, payload, strlen(payload)));
	} else if (sscanf(line, "broadcast-hangup %d %4095s", &p, payload) == 2 && valid_index(p)) {
		hang_others = 1;
		printf("ok broadcast-hangup %d %d\n", p, broadcast_text(p, payload, strlen(payload)));
		hang_others = 0;
	} else if (sscanf(line, "hangup %d", &fd) == 1) {
		libwebsockets_hangup_on_client(context, fd);
		printf("ok hangup %d\n", fd);
	} else if (sscanf(line, "flow %d %d", &fd, &a) == 2) {
		int rc = fd_ok(fd) && conns[fd] ? libwebsocket_rx_flow_control(conns[fd], a) : -99;
		printf("ok flow %d %d %d\n", fd, a, rc);
	} else if (sscanf(line, "peer %d", &fd) == 1) {
		print_peer(fd);
	} else if (sscanf(line, "small %d %d %d", &fd, &a, &b) == 3 && a >= 0 && b >= 0) {
		print_small_peer(fd, a, b);
	} else if (sscanf(line, "timeout %d %d", &fd, &a) == 2) {
		if (fd_ok(fd) && conns[fd])
			libwebsocket_set_timeout(conns[fd], PENDING_TIMEOUT_AWAITING_PING, a);
		printf("ok timeout %d %d\n", fd, a);
	} else if (!strcmp(line, "quit")) {
		stop = 1;
	} else {
		printf("unknown command [%s]\n", line);
	}
}

/* Read what stdin has; run each complete line.  EOF stops the helper. */
static void read_commands(void (*run)(char *))
{
	static char buf[8192];
	static size_t have;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf + have, sizeof buf - 1 - have);
		if (n < 0)
			return; /* EAGAIN */
		if (n == 0) {
			stop = 1;
			return;
		}
		have += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			*nl = '\0';
			run(buf);
			size_t used = (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have - used);
			have -= used;
		}
		if (have == sizeof buf - 1)
			have = 0; /* an absurd line: drop it */
	}
}

static void resume_due(void)
{
	long long now = now_ms();
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!resume_at[fd] || resume_at[fd] > now)
			continue;
		resume_at[fd] = 0;
		if (conns[fd]) {
			int rc = libwebsocket_rx_flow_control(conns[fd], 1);
			printf("resumed %d %d\n", fd, rc);
		}
	}
}

static void catch_term(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static int create(int port, const char *iface)
{
	if (iface && !strcmp(iface, "any"))
		iface = NULL;
	context = libwebsocket_create_context(port, iface, protocols, NULL, NULL, NULL, NULL, -1,
					      -1, 0, NULL);
	if (!context) {
		printf("create-failed %d %s\n", errno, strerror(errno));
		return -1;
	}
	return 0;
}

static void destroy(void)
{
	libwebsocket_context_destroy(context);
	context = NULL;
	printf("destroyed\n");
}

/* ---- modes ---- */

static int mode_serve(int port, const char *dir, const char *iface)
{
	serve_dir = dir;
	catch_term();
	if (create(port, iface))
		return 1;
	printf("ready %d\n", port);
	while (!stop) {
		if (libwebsocket_service(context, 20) < 0) {
			printf("service-failed\n");
			break;
		}
		read_commands(run_command);
		resume_due();
	}
	destroy();
	return 0;
}

static int messages_per_go;

static void run_fork_command(char *line)
{
	int p;
	if (sscanf(line, "go %d", &p) == 1 && valid_index(p)) {
		int failures = 0;
		for (int i = 0; i < messages_per_go; i++) {
			char text[4096];
			/* sizes vary so that a lost or merged message shows */
			int pad = (i * 397) % 3000;
			int n = snprintf(text, sizeof text, "fork %d ", i);
			memset(text + n, 'a' + i % 26, (size_t)pad);
			if (broadcast_text(p, text, (size_t)n + (size_t)pad))
				failures++;
		}
		printf("sent %d %d %d\n", p, messages_per_go, failures);
	} else if (!strcmp(line, "quit")) {
		stop = 1;
	} else {
		printf("unknown command [%s]\n", line);
	}
}

static int mode_broadcast_fork(int port, int n)
{
	messages_per_go = n;
	if (create(port, NULL))
		return 1;
	fflush(stdout);
	if (libwebsockets_fork_service_loop(context)) {
		printf("fork-failed\n");
		libwebsocket_context_destroy(context);
		return 1;
	}
	/* only this process (the caller) catches SIGTERM: the serving child
	 * keeps the default action, so destroy's SIGTERM ends it */
	catch_term();
	printf("ready %d\n", port);
	while (!stop) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		if (poll(&pfd, 1, 100) > 0)
			read_commands(run_fork_command);
	}
	destroy();
	return 0;
}

static int mode_hostname(void)
{
	static const unsigned int options[] = {0, LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME};
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
		struct libwebsocket_context *ctx = libwebsocket_create_context(
			CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL, NULL, NULL, -1, -1,
			options[i], NULL);
		if (!ctx) {
			printf("create-failed %d %s\n", errno, strerror(errno));
			return 1;
		}
		const char *name = libwebsocket_canonical_hostname(ctx);
		printf("hostname %u [%s]\n", options[i], name ? name : "(null)");
		libwebsocket_context_destroy(ctx);
	}
	printf("destroyed\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);

	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return mode_serve(atoi(argv[2]), argv[3], argc >= 5 ? argv[4] : NULL);
	if (argc >= 4 && !strcmp(argv[1], "broadcast-fork"))
		return mode_broadcast_fork(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 2 && !strcmp(argv[1], "hostname"))
		return mode_hostname();
	fprintf(stderr,
		"usage: %s serve PORT DIR [IFACE] | broadcast-fork PORT N | hostname 0\n",
		argv[0]);
	return 2;
}
