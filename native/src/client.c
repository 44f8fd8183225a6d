/*
 * client.c - outgoing connections: name lookup, non-blocking connect, the
 * client side of the RFC 6455 opening handshake (section 4.1) and its checks.
 * Once established a client connection is served by the same frame engine
 * and write path as a server connection (input.c, output.c).
 *
 * Host names are looked up on a short-lived thread (getaddrinfo blocks), which
 * signals the loop through an eventfd; numeric addresses need no lookup.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"
#include "util.h"

/* What a client connection needs until it is established. */
struct lws_client {
	char *address, *path, *host, *origin, *protocols;
	int port;
	int version;
	char accept[LWS_ACCEPT_LEN + 1]; /* the Sec-WebSocket-Accept we expect */
	struct addrinfo *addrs, *next_addr;
	struct lws_lookup *lookup;
	const char *failure; /* found before the caller got the wsi: reported later */
	int ssl_connection;  /* 0 ws://, 1 wss://, 2 wss:// accepting self-signed */
	char *tls_name;      /* the name the server's certificate must carry */
	uint8_t reported;    /* CLIENT_CONNECTION_ERROR was delivered */
};

struct lws_lookup {
	pthread_t thread;
	char host[256];
	char port[8];
	struct addrinfo *result;
	int rc;
	atomic_int done;
	int notify_fd;
	struct libwebsocket *wsi; /* NULL once the connection gave up on it */
	struct lws_lookup *next;
};

/* ---- failure ---- */

void lws_client_free(struct libwebsocket *wsi)
{
	struct lws_client *c = wsi->client;
	if (!c)
		return;
	if (c->lookup)
		c->lookup->wsi = NULL; /* the thread finishes; the context frees it */
	free(c->address);
	free(c->path);
	free(c->host);
	free(c->origin);
	free(c->protocols);
	free(c->tls_name);
	if (c->addrs)
		freeaddrinfo(c->addrs);
	free(c);
	wsi->client = NULL;
}

/* The body an answer announces (Content-Length, capped past what head_buf
 * holds); SIZE_MAX when it does not say (none, or not a number). */
static size_t announced_body(const struct lws_http_head *res)
{
	const struct lws_http_header *h = lws_http_find(res, "Content-Length");
	if (!h || !h->value_len)
		return SIZE_MAX;
	size_t want = 0;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return SIZE_MAX;
		if (want <= LWS_MAX_HTTP_HEAD) /* past it: more than can be kept */
			want = want * 10 + (size_t)(h->value[i] - '0');
	}
	return want;
}

/* The body bytes the callbacks see: what arrived, up to the announced size. */
static size_t answer_body_len(const struct lws_http_head *res, size_t arrived)
{
	size_t want = announced_body(res);
	return want < arrived ? want : arrived;
}

/* Let the callback about to run read the server's answer in head_buf, if a
 * whole head is there (lws_client_response_head); 0 when there is none. */
static int expose_answer(struct libwebsocket *wsi)
{
	struct lws_http_head res;
	if (!wsi->head_buf || !wsi->head_len)
		return 0;
	int n = lws_http_parse_response(wsi->head_buf, wsi->head_len, &res);
	if (n <= 0)
		return 0;
	struct libwebsocket_context *context = wsi->context;
	context->answer.wsi = wsi;
	context->answer.head = wsi->head_buf;
	context->answer.head_len = (size_t)n;
	context->answer.body_len = answer_body_len(&res, wsi->head_len - (size_t)n);
	return 1;
}

static void unexpose_answer(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	if (context->answer.wsi == wsi)
		memset(&context->answer, 0, sizeof context->answer);
}

const char *lws_client_response_head(struct libwebsocket *wsi, size_t *len, size_t *body_len)
{
	/* head_buf may have been freed by a close inside the callback */
	const struct libwebsocket_context *context = wsi->context;
	int valid = context->answer.wsi == wsi && context->answer.head &&
		    context->answer.head == (const char *)wsi->head_buf;
	if (len)
		*len = valid ? context->answer.head_len : 0;
	if (body_len)
		*body_len = valid ? context->answer.body_len : 0;
	return valid ? context->answer.head : NULL;
}

void lws_client_fail(struct libwebsocket *wsi, const char *why)
{
	struct lws_client *c = wsi->client;
	if (!c || c->reported || wsi->state == LWS_STATE_DEAD)
		return;
	c->reported = 1;
	lwsl_info("client connection to %s:%d failed: %s\n", c->address, c->port, why);
	if (wsi->state == LWS_STATE_CLIENT_AWAIT_101)
		expose_answer(wsi); /* a refused handshake: its status, headers, body */
	lws_call(wsi->context, wsi->protocol, wsi, LWS_CALLBACK_CLIENT_CONNECTION_ERROR,
		 wsi->user_space, (void *)why, strlen(why));
	unexpose_answer(wsi);
	lws_conn_kill(wsi);
}

/* A failure found inside libwebsocket_client_connect: the caller does not
 * have the wsi yet, so the callback comes from the next service. */
static void fail_later(struct libwebsocket *wsi, const char *why)
{
	wsi->client->failure = why;
	wsi->context->client_failures++;
	lws_timer_update(wsi->context); /* reported from the next service */
}

void lws_client_report_failures(struct libwebsocket_context *context)
{
	struct libwebsocket *wsi = context->conns, *next;
	context->client_failures = 0;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (wsi->client && wsi->client->failure)
			lws_client_fail(wsi, wsi->client->failure);
	}
}

/* ---- connecting ---- */

static int connect_next(struct libwebsocket *wsi);

static void connect_failed(struct libwebsocket *wsi, int err)
{
	static const char *const refused = "connection refused";
	if (wsi->client->next_addr && !connect_next(wsi))
		return; /* another address of the name */
	const char *why = err == ECONNREFUSED ? refused
			  : err == ETIMEDOUT  ? "connect timed out"
			  : err == ENETUNREACH || err == EHOSTUNREACH
				  ? "network unreachable"
				  : "connect failed";
	lws_client_fail(wsi, why);
}

/* Start a non-blocking connect to the next address.  0 = under way. */
static int connect_next(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	struct addrinfo *ai = wsi->client->next_addr;
	wsi->client->next_addr = ai->ai_next;

	if (wsi->fd >= 0) {
		lws_poll_del(context, wsi->fd, wsi);
		close(wsi->fd);
		wsi->fd = -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	wsi->fd = fd;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		wsi->fd = -1;
		if (wsi->client->next_addr)
			return connect_next(wsi);
		errno = err;
		return -1;
	}
	wsi->state = LWS_STATE_CLIENT_CONNECTING;
	wsi->epoll_events = EPOLLOUT;
	return lws_poll_add(context, fd, wsi, EPOLLOUT);
}

static void start_connecting(struct libwebsocket *wsi, struct addrinfo *addrs)
{
	wsi->client->addrs = addrs;
	wsi->client->next_addr = addrs;
	if (connect_next(wsi))
		connect_failed(wsi, errno);
}

/* ---- name lookup ---- */

static void *lookup_thread(void *arg)
{
	struct lws_lookup *l = arg;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_ADDRCONFIG};
	l->rc = getaddrinfo(l->host, l->port, &hints, &l->result);
	atomic_store_explicit(&l->done, 1, memory_order_release);
	uint64_t one = 1;
	ssize_t n = write(l->notify_fd, &one, sizeof one);
	(void)n; /* an eventfd write of 1 cannot fail short of overflow */
	return NULL;
}

static void lookups_done(struct libwebsocket_context *context, struct lws_watch *w,
			 uint32_t events);

static int resolver_fd(struct libwebsocket_context *context)
{
	if (context->resolver.watch.kind)
		return context->resolver.fd;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -1;
	context->resolver.watch.kind = LWS_FD_RESOLVER;
	context->resolver.watch.ready = lookups_done;
	context->resolver.fd = fd;
	return lws_poll_add(context, fd, &context->resolver, EPOLLIN) ? -1 : fd;
}

static int start_lookup(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	struct lws_client *c = wsi->client;
	struct lws_lookup *l = calloc(1, sizeof *l);
	if (!l)
		return -1;
	snprintf(l->host, sizeof l->host, "%s", c->address);
	snprintf(l->port, sizeof l->port, "%d", c->port);
	l->notify_fd = resolver_fd(context);
	l->wsi = wsi;
	if (l->notify_fd < 0 || pthread_create(&l->thread, NULL, lookup_thread, l)) {
		free(l);
		return -1;
	}
	l->next = context->lookups;
	context->lookups = l;
	c->lookup = l;
	return 0;
}

/* a name lookup thread finished (the resolver eventfd is readable) */
static void lookups_done(struct libwebsocket_context *context, struct lws_watch *w,
			 uint32_t events)
{
	(void)w;
	(void)events;
	uint64_t count;
	ssize_t n = read(context->resolver.fd, &count, sizeof count);
	(void)n;

	struct lws_lookup **pp = &context->lookups;
	while (*pp) {
		struct lws_lookup *l = *pp;
		if (!atomic_load_explicit(&l->done, memory_order_acquire)) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		pthread_join(l->thread, NULL);
		struct libwebsocket *wsi = l->wsi;
		if (!wsi) {
			if (l->result)
				freeaddrinfo(l->result);
		} else {
			wsi->client->lookup = NULL;
			if (l->rc)
				lws_client_fail(wsi, l->rc == EAI_NONAME
							     ? "unknown host name"
							     : "host name lookup failed");
			else
				start_connecting(wsi, l->result);
		}
		free(l);
	}
}

void lws_client_context_destroy(struct libwebsocket_context *context)
{
	while (context->lookups) {
		struct lws_lookup *l = context->lookups;
		context->lookups = l->next;
		pthread_join(l->thread, NULL); /* bounded by the resolver's timeout */
		if (l->result)
			freeaddrinfo(l->result);
		free(l);
	}
	if (context->resolver.watch.kind) {
		lws_poll_del(context, context->resolver.fd, &context->resolver);
		close(context->resolver.fd);
	}
}

/* ---- the handshake ---- */

static int append_headers(struct libwebsocket *wsi, char **p, char *end)
{
	struct libwebsocket_context *context = wsi->context;
	char *start = *p;
	/* the user's headers, as the specification shows: in is a char **, len
	 * the room left.  Its return value means nothing (the example returns 1
	 * when it has no room and adds nothing), as in the classic library. */
	if (lws_call(context, &context->protocols[0], wsi,
		     LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER, NULL, p, (size_t)(end - *p)))
		lwsl_info("APPEND_HANDSHAKE_HEADER returned nonzero (ignored)\n");
	if (*p < start || *p > end) {
		lwsl_err("APPEND_HANDSHAKE_HEADER moved the write position out of the buffer\n");
		return -1;
	}
	return 0;
}

static int send_request(struct libwebsocket *wsi)
{
	struct lws_client *c = wsi->client;
	uint8_t nonce[16];
	char key[32], req[4096];

	if (lws_os_random(nonce, sizeof nonce))
		return -1;
	lws_b64_encode_string((const char *)nonce, sizeof nonce, key, sizeof key);
	lws_accept_key(key, strlen(key), c->accept);

	char *p = req, *end = req + sizeof req - 3;
	p += snprintf(p, (size_t)(end - p),
		      "GET %s HTTP/1.1\r\n"
		      "Host: %s\r\n"
		      "Upgrade: websocket\r\n"
		      "Connection: Upgrade\r\n"
		      "Sec-WebSocket-Key: %s\r\n"
		      "Sec-WebSocket-Version: %d\r\n",
		      c->path, c->host, key, c->version);
	if (c->origin && p < end)
		p += snprintf(p, (size_t)(end - p), "%s: %s\r\n",
			      c->version == 13 ? "Origin" : "Sec-WebSocket-Origin", c->origin);
	if (c->protocols[0] && p < end)
		p += snprintf(p, (size_t)(end - p), "Sec-WebSocket-Protocol: %s\r\n",
			      c->protocols);
	if (p >= end || lws_ext_client_offer(wsi, &p, end))
		return -1;
	if (append_headers(wsi, &p, end))
		return -1;
	memcpy(p, "\r\n", 2);
	p += 2;
	return lws_out_send(wsi, (const uint8_t *)req, (size_t)(p - req), NULL, 0);
}

void lws_client_connected(struct libwebsocket *wsi)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(wsi->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		connect_failed(wsi, err);
		return;
	}
	wsi->state = LWS_STATE_CLIENT_AWAIT_101;
	if (wsi->client->ssl_connection) {
		if (lws_tls_client_start(wsi, wsi->client->ssl_connection, wsi->client->tls_name)) {
			lws_client_fail(wsi, "could not start TLS");
			return;
		}
		lws_conn_tls_step(wsi); /* the request follows the TLS handshake */
		return;
	}
	lws_conn_update_events(wsi);
	lws_client_send_request(wsi);
}

void lws_client_send_request(struct libwebsocket *wsi)
{
	if (send_request(wsi))
		lws_client_fail(wsi, "could not send the handshake request");
}

/* Did we ask for this subprotocol? */
static int asked_for(const char *list, const char *name, size_t len)
{
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && t[-1] == ' ')
			t--;
		if ((size_t)(t - p) == len && !memcmp(p, name, len))
			return 1;
		p = e;
	}
	return 0;
}

static const struct libwebsocket_protocols *
context_protocol(struct libwebsocket_context *context, const char *name, size_t len)
{
	for (int i = 0; i < context->num_protocols; i++)
		if (strlen(context->protocols[i].name) == len &&
		    !memcmp(context->protocols[i].name, name, len))
			return &context->protocols[i];
	return NULL;
}

/* The server's answer: NULL when it accepts us as we asked, else why not. */
static const char *check_answer(struct libwebsocket *wsi, const struct lws_http_head *res)
{
	struct lws_client *c = wsi->client;
	const struct lws_http_header *h;

	if (res->status != 101)
		return "the server did not answer 101 Switching Protocols";
	h = lws_http_find(res, "Upgrade");
	if (!h || !lws_http_list_has(h->value, h->value_len, "websocket"))
		return "the answer lacks \"Upgrade: websocket\"";
	h = lws_http_find(res, "Connection");
	if (!h || !lws_http_list_has(h->value, h->value_len, "upgrade"))
		return "the answer lacks \"Connection: Upgrade\"";
	h = lws_http_find(res, "Sec-WebSocket-Accept");
	if (!h || h->value_len != LWS_ACCEPT_LEN || memcmp(h->value, c->accept, LWS_ACCEPT_LEN))
		return "wrong Sec-WebSocket-Accept";
	h = lws_http_find(res, "Sec-WebSocket-Protocol");
	if (h) {
		if (!asked_for(c->protocols, h->value, h->value_len))
			return "the server chose a subprotocol we did not ask for";
		const struct libwebsocket_protocols *p =
			context_protocol(wsi->context, h->value, h->value_len);
		if (p && p != wsi->protocol) {
			/* the per-session area belongs to the chosen protocol */
			if (!wsi->user_space_external) {
				free(wsi->user_space);
				wsi->user_space = NULL;
			}
			wsi->protocol = p;
			if (!wsi->user_space_external &&
			    p->per_session_data_size && !libwebsocket_ensure_user_space(wsi))
				return "out of memory";
		}
	}
	return lws_ext_client_accept(wsi, res);
}

/* head_buf still holds the 101 answer (for lws_client_response_head in the
 * ESTABLISHED callback); it is freed here. */
static void established(struct libwebsocket *wsi, uint8_t *extra, size_t extra_len)
{
	uint8_t rsv_allowed = wsi->parser.rsv_allowed; /* claimed by extensions */
	lws_client_free(wsi);
	lws_conn_start_ws(wsi);
	wsi->parser.expect_masked = 0;
	wsi->parser.allow_unmasked = 0;
	wsi->parser.rsv_allowed = rsv_allowed;
	wsi->established = 1;
	lws_ext_broadcast(wsi, LWS_EXT_CALLBACK_ANY_WSI_ESTABLISHED);
	expose_answer(wsi);
	int refused = lws_call(wsi->context, wsi->protocol, wsi, LWS_CALLBACK_CLIENT_ESTABLISHED,
			       wsi->user_space, NULL, 0);
	unexpose_answer(wsi);
	free(wsi->head_buf); /* NULL if the callback closed the connection */
	wsi->head_buf = NULL;
	wsi->head_len = 0;
	if (refused) {
		lws_conn_close(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
		return;
	}
	if (extra_len && wsi->state == LWS_STATE_WS)
		lws_conn_ws_input(wsi, extra, extra_len);
}

/* Bytes of the server's answer arrived (buf is in the receive buffer). */
void lws_client_readable(struct libwebsocket *wsi, uint8_t *buf, size_t len)
{
	if (wsi->state != LWS_STATE_CLIENT_AWAIT_101)
		return;
	if (!wsi->head_buf && !(wsi->head_buf = malloc(LWS_MAX_HTTP_HEAD))) {
		lws_client_fail(wsi, "out of memory");
		return;
	}
	size_t room = LWS_MAX_HTTP_HEAD - wsi->head_len;
	size_t take = len < room ? len : room;
	memcpy(wsi->head_buf + wsi->head_len, buf, take);
	wsi->head_len += take;

	struct lws_http_head res;
	int n = lws_http_parse_response(wsi->head_buf, wsi->head_len, &res);
	if (n == LWS_HTTP_INCOMPLETE) {
		if (wsi->head_len >= LWS_MAX_HTTP_HEAD)
			lws_client_fail(wsi, "the server's answer is too large");
		return;
	}
	if (n < 0) {
		lws_client_fail(wsi, "the server's answer is not HTTP");
		return;
	}
	if (res.status != 101) {
		/* refused: wait for the body it announces, as far as head_buf
		 * holds it (the handshake timeout bounds the wait), so that the
		 * CONNECTION_ERROR callback can read it */
		size_t arrived = wsi->head_len - (size_t)n;
		size_t want = announced_body(&res);
		if (want != SIZE_MAX && want > arrived && wsi->head_len < LWS_MAX_HTTP_HEAD)
			return;
	}
	const char *why = check_answer(wsi, &res);
	if (why) {
		lws_client_fail(wsi, why);
		return;
	}

	/* frames that came with the answer: the part of head_buf after the
	 * head, then what did not fit in head_buf; put them back in the
	 * receive buffer, where they have room before them */
	size_t in_head = wsi->head_len - (size_t)n, rest = len - take;
	memmove(buf + in_head, buf + take, rest);
	memcpy(buf, wsi->head_buf + n, in_head);
	wsi->head_len = (size_t)n; /* the head alone, for the ESTABLISHED callback */
	established(wsi, buf, in_head + rest);
}

/* ---- libwebsocket_client_connect ---- */

static char *copy(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int version_of(int ietf_version_or_minus_one)
{
	switch (ietf_version_or_minus_one) {
	case -1:
	case 13: return 13;
	case 7: return 7;
	case 8: return 8;
	default: return -1;
	}
}

/* Is host already in its Host-header form ("[::1]", "[::1]:8080", "name:8080")?
 * Else it is a bare name or IPv4 address, or a bare IPv6 address (two colons
 * or more). */
static int host_is_formed(const char *host)
{
	const char *colon = strchr(host, ':');
	return host[0] == '[' || (colon && !strchr(colon + 1, ':'));
}

/* Host header: the name, with the port unless it is the default one; a bare
 * IPv6 address gets its brackets, a formed host is sent as it is. */
static char *host_header(const char *host, int port, int tls)
{
	if (host_is_formed(host))
		return strdup(host);
	char buf[300];
	int literal_v6 = strchr(host, ':') != NULL;
	if (port == (tls ? 443 : 80))
		snprintf(buf, sizeof buf, literal_v6 ? "[%s]" : "%s", host);
	else
		snprintf(buf, sizeof buf, literal_v6 ? "[%s]:%d" : "%s:%d", host, port);
	return strdup(buf);
}

/* The name a server certificate must carry: host without port or brackets. */
static char *tls_name_of(const char *host)
{
	if (!host_is_formed(host))
		return strdup(host);
	if (host[0] == '[')
		return strndup(host + 1, strcspn(host + 1, "]"));
	return strndup(host, strcspn(host, ":")); /* "name:port" */
}

static const struct libwebsocket_protocols *
first_asked_protocol(struct libwebsocket_context *context, const char *list)
{
	const char *e = list;
	while (*e && *e != ',' && *e != ' ')
		e++;
	const struct libwebsocket_protocols *p =
		context_protocol(context, list, (size_t)(e - list));
	return p ? p : &context->protocols[0];
}

static struct lws_client *new_client(const char *address, int port, const char *path,
				     const char *host, const char *origin,
				     const char *protocol, int version, int tls)
{
	struct lws_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->address = copy(address);
	c->port = port;
	c->version = version;
	c->path = copy(path && *path ? path : "/");
	c->host = host_header(host && *host ? host : address, port, tls);
	c->origin = origin && *origin ? copy(origin) : NULL;
	c->protocols = copy(protocol ? protocol : "");
	if (!c->address || !c->path || !c->host || !c->protocols ||
	    (origin && *origin && !c->origin)) {
		free(c->address);
		free(c->path);
		free(c->host);
		free(c->origin);
		free(c->protocols);
		free(c);
		return NULL;
	}
	return c;
}

static struct addrinfo *numeric_address(const char *address, int port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	char service[8];
	struct addrinfo *res;
	snprintf(service, sizeof service, "%d", port);
	return getaddrinfo(address, service, &hints, &res) ? NULL : res;
}

/* What the layers below (input.c, conn.c, close.c) call for a client
 * connection: they cannot name this file, which calls them. */
static const struct lws_client_ops client_ops = {
	.connected = lws_client_connected,
	.readable = lws_client_readable,
	.send_request = lws_client_send_request,
	.fail = lws_client_fail,
	.free = lws_client_free,
};

struct libwebsocket *
libwebsocket_client_connect_extended(struct libwebsocket_context *context,
				     const char *address, int port, int ssl_connection,
				     const char *path, const char *host, const char *origin,
				     const char *protocol, int ietf_version_or_minus_one,
				     void *userdata)
{
	int version = version_of(ietf_version_or_minus_one);

	if (!context || !address || !*address || port <= 0 || port > 65535) {
		lwsl_err("client_connect: an address and a port 1-65535 are needed\n");
		errno = EINVAL;
		return NULL;
	}
	if (strlen(address) > 253) {
		lwsl_err("client_connect: address too long\n");
		errno = EINVAL;
		return NULL;
	}
	if (ssl_connection < 0 || ssl_connection > 2) {
		lwsl_err("client_connect: ssl_connection must be 0, 1 or 2\n");
		errno = EINVAL;
		return NULL;
	}
	if (version < 0) {
		lwsl_err("client_connect: WebSocket version %d is not spoken; use -1 (13), "
			 "13, 8 or 7\n", ietf_version_or_minus_one);
		errno = EPROTONOSUPPORT;
		return NULL;
	}

	context->client_ops = &client_ops; /* the layers below call us through it */
	struct libwebsocket *wsi = lws_conn_alloc(context, -1, LWS_STATE_CLIENT_RESOLVING);
	if (!wsi) {
		errno = ENOMEM;
		return NULL;
	}
	wsi->client =
		new_client(address, port, path, host, origin, protocol, version, ssl_connection != 0);
	if (wsi->client) {
		wsi->client->ssl_connection = ssl_connection;
		wsi->client->tls_name = tls_name_of(host && *host ? host : address);
	}
	if (!wsi->client || !wsi->client->tls_name) {
		lws_client_free(wsi);
		free(wsi);
		errno = ENOMEM;
		return NULL;
	}
	wsi->is_client = 1;
	wsi->ietf_version = (uint8_t)version;
	wsi->protocol = first_asked_protocol(context, wsi->client->protocols);
	if (userdata) {
		wsi->user_space = userdata;
		wsi->user_space_external = 1;
	} else if (wsi->protocol->per_session_data_size &&
		   !libwebsocket_ensure_user_space(wsi)) {
		lws_client_free(wsi);
		free(wsi);
		errno = ENOMEM;
		return NULL;
	}

	lws_conn_link(wsi);
	lws_conn_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_CONNECT_RESPONSE,
			     context->handshake_timeout);

	struct addrinfo *numeric = numeric_address(address, port);
	if (numeric) {
		wsi->client->addrs = wsi->client->next_addr = numeric;
		if (connect_next(wsi))
			fail_later(wsi, errno == ECONNREFUSED ? "connection refused"
							      : "connect failed");
	} else if (start_lookup(wsi)) {
		fail_later(wsi, "could not start the host name lookup");
	}
	return wsi;
}

struct libwebsocket *
libwebsocket_client_connect(struct libwebsocket_context *context, const char *address,
			    int port, int ssl_connection, const char *path,
			    const char *host, const char *origin, const char *protocol,
			    int ietf_version_or_minus_one)
{
	return libwebsocket_client_connect_extended(context, address, port, ssl_connection,
						    path, host, origin, protocol,
						    ietf_version_or_minus_one, NULL);
}
