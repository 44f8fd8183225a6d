/*
 * classic_compat.c - a program written the way 2011-2013 programs used the
 * classic API, driven by tests/test_classic_programs.py.  It is compiled
 * against the INSTALLED header (pkg-config pylws) as C99, C11 and C++, with
 * -Wall -Wextra -pedantic -Werror, so it must stay valid in all of them: no
 * designated initialisers, casts on malloc, no feature-test macros (the
 * header alone must bring struct pollfd and POLLIN, as the classic one did).
 *
 *   classic_compat arities
 *       libwebsocket_create_context with 9, 10 and 11 arguments, through
 *       &libwebsocket_create_context and (libwebsocket_create_context)(...)
 *   classic_compat server PORT FILE [CERT KEY]
 *       a server on its own poll() array (file-scope struct pollfd
 *       pollfds[100], LWS_CALLBACK_*_POLL_FD, libwebsocket_service_fd):
 *       HTTP /three serves FILE with the 3-argument serve_http_file, /four
 *       with the 4-argument one; protocol "classic" answers each text
 *       RECEIVE with "%s|strlen" of in, "reset\n" with "reset ok", "quit"
 *       by stopping; CLOSED prints the peer's close reason with %s.  With
 *       CERT and KEY it serves TLS (the 11-argument form).
 *   classic_compat client PORT
 *       connects to 127.0.0.1:PORT (protocol "classic"), prints each
 *       CLIENT_RECEIVE as "got <in as %s> strlen N len N" until "bye", and
 *       each CLIENT_RECEIVE_PONG as "pong <in as %s> strlen N len N".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

/* as the classic extpoll demo had it: a fixed array at file scope */
static struct pollfd pollfds[100];
static int count_pollfds;
static int quit;
static const char *serve_file;

static int poll_callback(enum libwebsocket_callback_reasons reason, int fd, short bits)
{
	int i;
	switch (reason) {
	case LWS_CALLBACK_ADD_POLL_FD:
		if (count_pollfds >= 100)
			return 1;
		pollfds[count_pollfds].fd = fd;
		pollfds[count_pollfds].events = bits;
		pollfds[count_pollfds].revents = 0;
		count_pollfds++;
		return 0;
	case LWS_CALLBACK_DEL_POLL_FD:
		for (i = 0; i < count_pollfds; i++)
			if (pollfds[i].fd == fd) {
				pollfds[i] = pollfds[--count_pollfds];
				break;
			}
		return 0;
	case LWS_CALLBACK_SET_MODE_POLL_FD:
		for (i = 0; i < count_pollfds; i++)
			if (pollfds[i].fd == fd)
				pollfds[i].events |= bits;
		return 0;
	case LWS_CALLBACK_CLEAR_MODE_POLL_FD:
		for (i = 0; i < count_pollfds; i++)
			if (pollfds[i].fd == fd)
				pollfds[i].events &= (short)~bits;
		return 0;
	default:
		return 0;
	}
}

static int callback_http(struct libwebsocket_context *context, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_ADD_POLL_FD:
	case LWS_CALLBACK_DEL_POLL_FD:
	case LWS_CALLBACK_SET_MODE_POLL_FD:
	case LWS_CALLBACK_CLEAR_MODE_POLL_FD:
		return poll_callback(reason, (int)(intptr_t)user, (short)len);
	case LWS_CALLBACK_HTTP:
		/* the URI as a C string */
		printf("http %s\n", (const char *)in);
		fflush(stdout);
		if (!strcmp((const char *)in, "/three"))
			return libwebsockets_serve_http_file(wsi, serve_file, "text/plain") ? -1 : 0;
		if (!strcmp((const char *)in, "/four"))
			return libwebsockets_serve_http_file(context, wsi, serve_file,
							     "text/plain")
				       ? -1
				       : 0;
		return 0;
	default:
		return 0;
	}
}

static int callback_classic(struct libwebsocket_context *context, struct libwebsocket *wsi,
			    enum libwebsocket_callback_reasons reason, void *user, void *in,
			    size_t len)
{
	unsigned char *buf;
	size_t cap;
	int n;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		/* both forms of get_peer_addresses: 5 arguments, and the later 7 */
		char name[128], rip[64], name7[128], rip7[64];
		int fd = libwebsocket_get_socket_fd(wsi);
		libwebsockets_get_peer_addresses(fd, name, (int)sizeof name, rip, (int)sizeof rip);
		libwebsockets_get_peer_addresses(context, wsi, fd, name7, (int)sizeof name7, rip7,
						 (int)sizeof rip7);
		printf("peer %s %s\n", rip, strcmp(rip, rip7) ? "differs" : "same");
		fflush(stdout);
		return 0;
	}
	case LWS_CALLBACK_RECEIVE:
		if (!strcmp((const char *)in, "quit")) {
			quit = 1;
			return 0;
		}
		cap = len + 64;
		buf = (unsigned char *)malloc(LWS_SEND_BUFFER_PRE_PADDING + cap +
					      LWS_SEND_BUFFER_POST_PADDING);
		if (!buf)
			return -1;
		if (!strcmp((const char *)in, "reset\n"))
			n = snprintf((char *)buf + LWS_SEND_BUFFER_PRE_PADDING, cap, "reset ok");
		else
			n = snprintf((char *)buf + LWS_SEND_BUFFER_PRE_PADDING, cap, "%s|%lu",
				     (const char *)in, (unsigned long)strlen((const char *)in));
		if (n < 0 || (size_t)n >= cap)
			n = snprintf((char *)buf + LWS_SEND_BUFFER_PRE_PADDING, cap,
				     "overlong: in is not a C string of len %lu",
				     (unsigned long)len);
		n = libwebsocket_write(wsi, buf + LWS_SEND_BUFFER_PRE_PADDING, (size_t)n,
				       LWS_WRITE_TEXT);
		free(buf);
		return n < 0 ? -1 : 0;
	case LWS_CALLBACK_CLOSED:
		if (in && len >= 2)
			printf("closed %d '%s'\n", ((const unsigned char *)in)[0] << 8 |
						       ((const unsigned char *)in)[1],
			       (const char *)in + 2);
		fflush(stdout);
		return 0;
	default:
		return 0;
	}
}

static struct libwebsocket_protocols server_protocols[] = {
	{ "http-only", callback_http, 0, NULL, 0, 0, 0 },
	{ "classic", callback_classic, 0, NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

static int run_server(int port, const char *cert, const char *key)
{
	struct libwebsocket_context *context;
	int i, n = 0;

	if (cert) /* TLS: the current 11-argument form */
		context = libwebsocket_create_context(port, NULL, server_protocols, NULL, cert,
						      key, NULL, -1, -1, 0, NULL);
	else /* the 9-argument form, as programs of 2011-2012 wrote it */
		context = libwebsocket_create_context(port, NULL, server_protocols, NULL, NULL,
						      NULL, -1, -1, 0);
	if (!context)
		return 1;
	printf("listening\n");
	fflush(stdout);
	while (!quit && n >= 0) {
		n = poll(pollfds, (nfds_t)count_pollfds, 200);
		if (n < 0)
			break;
		for (i = 0; i < count_pollfds && !quit; i++) {
			struct pollfd ready;
			if (!pollfds[i].revents)
				continue;
			ready = pollfds[i]; /* the array may change under service_fd */
			pollfds[i].revents = 0;
			if (libwebsocket_service_fd(context, &ready) < 0) {
				n = -1;
				break;
			}
		}
		libwebsocket_service_fd(context, NULL);
	}
	libwebsocket_context_destroy(context);
	printf("server done\n");
	return n < 0 ? 1 : 0;
}

/* ---- client ---- */

static int client_done;

static int callback_client(struct libwebsocket_context *context, struct libwebsocket *wsi,
			   enum libwebsocket_callback_reasons reason, void *user, void *in,
			   size_t len)
{
	(void)context;
	(void)wsi;
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_RECEIVE:
		printf("got %s strlen %lu len %lu final %d\n", (const char *)in,
		       (unsigned long)strlen((const char *)in), (unsigned long)len,
		       libwebsocket_is_final_fragment(wsi));
		fflush(stdout);
		if (!strcmp((const char *)in, "bye"))
			client_done = 1;
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		printf("pong %s strlen %lu len %lu\n", (const char *)in,
		       (unsigned long)strlen((const char *)in), (unsigned long)len);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLOSED:
		printf("client ends\n");
		client_done = 1;
		return 0;
	default:
		return 0;
	}
}

static struct libwebsocket_protocols client_protocols[] = {
	{ "classic", callback_client, 0, NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

static int run_client(int port)
{
	struct libwebsocket_context *context;
	struct libwebsocket *wsi;
	int n = 0, user = 0;

	/* the 10-argument form (2012-10 .. 2013-01): user last, no CA file */
	context = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, client_protocols,
					      NULL, NULL, NULL, -1, -1, 0, &user);
	if (!context)
		return 1;
	wsi = libwebsocket_client_connect(context, "127.0.0.1", port, 0, "/", "127.0.0.1",
					  NULL, "classic", -1);
	if (!wsi) {
		libwebsocket_context_destroy(context);
		return 1;
	}
	while (!client_done && n >= 0)
		n = libwebsocket_service(context, 200);
	libwebsocket_context_destroy(context);
	return 0;
}

/* ---- arities ---- */

static char last_log[256];

static void capture_log(const char *line)
{
	snprintf(last_log, sizeof last_log, "%s", line);
}

typedef struct libwebsocket_context *(*create_context_fn)(
	int, const char *, struct libwebsocket_protocols *, struct libwebsocket_extension *,
	const char *, const char *, const char *, int, int, unsigned int, void *);

static int check_arities(void)
{
	static struct libwebsocket_protocols protocols[] = {
		{ "p", callback_client, 0, NULL, 0, 0, 0 },
		{ NULL, NULL, 0, NULL, 0, 0, 0 },
	};
	struct libwebsocket_context *c;
	int user = 0, bad = 0;
	create_context_fn fn = &libwebsocket_create_context;
	create_context_fn fn2 = libwebsocket_create_context;

	c = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL,
					NULL, -1, -1, 0);
	if (!c || libwebsocket_context_user(c) != NULL)
		bad |= 1;
	if (c)
		libwebsocket_context_destroy(c);

	c = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL,
					NULL, -1, -1, 0, &user);
	if (!c || libwebsocket_context_user(c) != &user)
		bad |= 2;
	if (c)
		libwebsocket_context_destroy(c);

	c = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, protocols,
					libwebsocket_internal_extensions, NULL, NULL, NULL, -1,
					-1, 0, &user);
	if (!c || libwebsocket_context_user(c) != &user)
		bad |= 4;
	if (c)
		libwebsocket_context_destroy(c);

	c = fn(CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL, NULL, NULL, -1, -1, 0,
	       &user);
	if (!c || libwebsocket_context_user(c) != &user || fn != fn2)
		bad |= 8;
	if (c)
		libwebsocket_context_destroy(c);

	c = (libwebsocket_create_context)(CONTEXT_PORT_NO_LISTEN, NULL, protocols, NULL, NULL,
					  NULL, NULL, -1, -1, 0, &user);
	if (!c || libwebsocket_context_user(c) != &user)
		bad |= 16;
	if (c)
		libwebsocket_context_destroy(c);

	/* the classic demos' syslog emitter fits lws_set_log_level; LLL_NOTICE
	 * and lwsl_hexdump exist (the dump goes nowhere at this level) */
	lws_set_log_level(LLL_ERR | LLL_NOTICE, lwsl_emit_syslog);
	lwsl_hexdump(&user, sizeof user);
	lws_set_log_level(LLL_DEBUG, capture_log);
	lwsl_hexdump((void *)"ABC\n", 4);
	if (!strstr(last_log, "0000: 41 42 43 0A ") || !strstr(last_log, "ABC."))
		bad |= 32;
	lws_set_log_level(LLL_ERR, NULL);

	printf("arities %s (%d)\n", bad ? "BAD" : "ok", bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	lws_set_log_level(LLL_ERR, NULL);
	if (argc == 2 && !strcmp(argv[1], "arities"))
		return check_arities();
	if ((argc == 4 || argc == 6) && !strcmp(argv[1], "server")) {
		serve_file = argv[3];
		return run_server(atoi(argv[2]), argc == 6 ? argv[4] : NULL,
				  argc == 6 ? argv[5] : NULL);
	}
	if (argc == 3 && !strcmp(argv[1], "client"))
		return run_client(atoi(argv[2]));
	fprintf(stderr, "usage: %s arities | server PORT FILE [CERT KEY] | client PORT\n",
		argv[0]);
	return 2;
}
