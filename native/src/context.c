/*
 * context.c - creating and destroying a context: protocols, listen sockets,
 * privileges, limits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "private.h"
#include "util.h"

static int count_protocols(struct libwebsocket_context *context,
			   struct libwebsocket_protocols *protocols)
{
	int n = 0;
	while (protocols[n].callback) {
		if (!protocols[n].name) {
			lwsl_err("protocol %d has no name\n", n);
			return -1;
		}
		protocols[n].owning_server = context;
		protocols[n].protocol_index = n;
		protocols[n].broadcast_socket_port = 0;
		protocols[n].broadcast_socket_user_fd = -1;
		n++;
	}
	return n;
}

/* interf is an address ("127.0.0.1", "::1") or an interface name ("lo"). */
static int resolve_interface(const char *interf, int port,
			     struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, interf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*sslen = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, interf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof *in6;
		return 0;
	}

	struct ifaddrs *ifs, *ifa;
	if (getifaddrs(&ifs))
		return -1;
	int found = -1;
	/* prefer the interface's IPv4 address, as the classic library did */
	for (int want = AF_INET; found && want; want = want == AF_INET ? AF_INET6 : 0) {
		for (ifa = ifs; ifa; ifa = ifa->ifa_next) {
			if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != want ||
			    strcmp(ifa->ifa_name, interf))
				continue;
			if (want == AF_INET) {
				memcpy(in4, ifa->ifa_addr, sizeof *in4);
				in4->sin_port = htons((uint16_t)port);
				*sslen = sizeof *in4;
			} else {
				memcpy(in6, ifa->ifa_addr, sizeof *in6);
				in6->sin6_port = htons((uint16_t)port);
				*sslen = sizeof *in6;
			}
			found = 0;
			break;
		}
	}
	freeifaddrs(ifs);
	if (!found)
		return 0;

	/* not an interface: a host name ("localhost"), its IPv4 address first */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(interf, NULL, &hints, &res)) {
		errno = ENODEV;
		return -1;
	}
	const struct addrinfo *pick = NULL;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    (!pick || (pick->ai_family == AF_INET6 && ai->ai_family == AF_INET)))
			pick = ai;
	if (pick && pick->ai_addrlen <= sizeof *ss) {
		memcpy(ss, pick->ai_addr, pick->ai_addrlen);
		*sslen = (socklen_t)pick->ai_addrlen;
		if (pick->ai_family == AF_INET)
			in4->sin_port = htons((uint16_t)port);
		else
			in6->sin6_port = htons((uint16_t)port);
		found = 0;
	} else {
		errno = ENODEV;
	}
	freeaddrinfo(res);
	return found;
}

static int open_listener(const struct sockaddr *sa, socklen_t salen, unsigned options)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if ((options & LWS_SERVER_OPTION_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (sa->sa_family == AF_INET6)
		/* all interfaces: one socket takes IPv6 and IPv4 */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (bind(fd, sa, salen) || listen(fd, SOMAXCONN)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int listen_on(struct libwebsocket_context *context, int port, const char *interf)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;

	if (port == LWS_CONTEXT_PORT_ANY)
		port = 0; /* bind() picks one */

	if (interf) {
		if (resolve_interface(interf, port, &ss, &sslen)) {
			lwsl_err("cannot listen on interface '%s': %s\n", interf,
				 strerror(errno));
			return -1;
		}
		fd = open_listener((struct sockaddr *)&ss, sslen, context->options);
	} else {
		struct sockaddr_in6 any6 = {.sin6_family = AF_INET6,
					    .sin6_port = htons((uint16_t)port),
					    .sin6_addr = IN6ADDR_ANY_INIT};
		fd = open_listener((struct sockaddr *)&any6, sizeof any6, context->options);
		if (fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
			/* no IPv6 on this host */
			struct sockaddr_in any4 = {.sin_family = AF_INET,
						   .sin_port = htons((uint16_t)port),
						   .sin_addr.s_addr = htonl(INADDR_ANY)};
			fd = open_listener((struct sockaddr *)&any4, sizeof any4, context->options);
		}
	}
	if (fd < 0) {
		lwsl_err("cannot listen on port %d: %s\n", port, strerror(errno));
		return -1;
	}

	/* LWS_CONTEXT_PORT_ANY: the port the system chose */
	struct sockaddr_storage bound;
	socklen_t boundlen = sizeof bound;
	if (!getsockname(fd, (struct sockaddr *)&bound, &boundlen))
		context->listen_port = ntohs(bound.ss_family == AF_INET6
						     ? ((struct sockaddr_in6 *)&bound)->sin6_port
						     : ((struct sockaddr_in *)&bound)->sin_port);

	struct lws_listener *l = &context->listeners[context->num_listeners++];
	l->watch.kind = LWS_FD_LISTENER;
	l->watch.ready = lws_accept_ready;
	l->fd = fd;
	return lws_poll_add(context, fd, l, EPOLLIN);
}

static int drop_privileges(int gid, int uid)
{
	/* the supplementary groups go too (root's would stay otherwise);
	 * without the privilege to change them there are none to drop */
	gid_t only = (gid_t)gid;
	if (gid != -1 && setgroups(1, &only) && errno != EPERM) {
		lwsl_err("setgroups(%d) failed: %s\n", gid, strerror(errno));
		return -1;
	}
	if (gid != -1 && setgid((gid_t)gid)) {
		lwsl_err("setgid(%d) failed: %s\n", gid, strerror(errno));
		return -1;
	}
	if (uid != -1 && setuid((uid_t)uid)) {
		lwsl_err("setuid(%d) failed: %s\n", uid, strerror(errno));
		return -1;
	}
	return 0;
}

static struct libwebsocket_context *fail(struct libwebsocket_context *context, int err)
{
	libwebsocket_context_destroy(context);
	errno = err;
	return NULL;
}

struct libwebsocket_context *
libwebsocket_create_context(int port, const char *interf,
			    struct libwebsocket_protocols *protocols,
			    struct libwebsocket_extension *extensions,
			    const char *ssl_cert_filepath,
			    const char *ssl_private_key_filepath,
			    const char *ssl_ca_filepath,
			    int gid, int uid, unsigned int options, void *user)
{

	if (!protocols || !protocols[0].callback) {
		lwsl_err("create_context: at least one protocol is needed\n");
		errno = EINVAL;
		return NULL;
	}
	if (port < LWS_CONTEXT_PORT_ANY || port > 65535) {
		lwsl_err("create_context: port %d out of range\n", port);
		errno = EINVAL;
		return NULL;
	}

	struct libwebsocket_context *context = calloc(1, sizeof *context);
	if (!context) {
		errno = ENOMEM;
		return NULL;
	}
	context->epfd = -1;
	context->protocols = protocols;
	context->extensions = extensions;
	context->options = options;
	context->user = user;
	context->listen_port = port;
	context->max_message_size = LWS_DEFAULT_MAX_MESSAGE;
	context->handshake_timeout = LWS_DEFAULT_HANDSHAKE_TIMEOUT;
	lws_limits_init(context);

	context->num_protocols = count_protocols(context, protocols);
	if (context->num_protocols < 0)
		return fail(context, EINVAL);

	/* + 1: the 0 byte after a delivered piece that ends the buffer */
	context->rx = malloc(LWS_SEND_BUFFER_PRE_PADDING + LWS_RX_BUFFER_SIZE + 1);
	context->cork = malloc(LWS_CORK_SIZE);
	if (!context->rx || !context->cork)
		return fail(context, ENOMEM);

	context->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (context->epfd < 0)
		return fail(context, errno);
	if (lws_timer_init(context) || lws_wake_init(context) || lws_broadcast_init(context))
		return fail(context, errno);
	lws_canonical_hostname_init(context);
	if (lws_ext_context_init(context))
		return fail(context, EINVAL);
	if (ssl_cert_filepath && port != CONTEXT_PORT_NO_LISTEN &&
	    lws_tls_server_init(context, ssl_cert_filepath, ssl_private_key_filepath,
				ssl_ca_filepath))
		return fail(context, EINVAL);

	if (port != CONTEXT_PORT_NO_LISTEN && listen_on(context, port, interf))
		return fail(context, errno);

	if (drop_privileges(gid, uid))
		return fail(context, EPERM);

	lwsl_info("context created, port %d\n", port);
	return context;
}

void *libwebsocket_context_user(struct libwebsocket_context *context)
{
	return context->user;
}

void libwebsocket_context_destroy(struct libwebsocket_context *context)
{
	if (!context)
		return;
	if (context->forked_child) {
		/* the parent of libwebsockets_fork_service_loop: stop the child,
		 * which serves the connections, before touching shared epoll state */
		kill(context->forked_child, SIGTERM);
		waitpid(context->forked_child, NULL, 0);
	}

	/* every open connection: CLOSED once, a best-effort close frame */
	while (context->conns) {
		struct libwebsocket *wsi = context->conns;
		if (wsi->state < LWS_STATE_DRAINING)
			lws_conn_close(wsi, LWS_CLOSE_STATUS_GOINGAWAY, NULL);
		if (wsi->state != LWS_STATE_DEAD && wsi->out.len > wsi->out.off &&
		    !wsi->peer_gone)
			lws_out_drain(wsi);
		lws_conn_kill(wsi);
	}
	while (context->zombies) {
		struct libwebsocket *wsi = context->zombies;
		context->zombies = wsi->next;
		lws_conn_free(wsi);
	}
	lws_redis_destroy(context);
	lws_client_context_destroy(context);
	lws_ext_context_destroy(context);
	lws_broadcast_destroy(context);
	lws_tls_context_destroy(context);
	lws_wake_destroy(context);
	/* closed below: lws_timer_update must not arm it any more */
	int had_timer = context->timer.watch.kind != 0;
	context->timer.watch.kind = 0;

	for (int n = 0; n < context->num_listeners; n++) {
		lws_poll_del(context, context->listeners[n].fd, &context->listeners[n]);
		close(context->listeners[n].fd);
	}
	if (had_timer) {
		lws_poll_del(context, context->timer.fd, &context->timer);
		close(context->timer.fd);
	}
	if (context->wake.watch.kind) {
		lws_poll_del(context, context->wake.fd, &context->wake);
		close(context->wake.fd);
	}
	free(context->fd_table);
	if (context->epfd >= 0)
		close(context->epfd);
	free(context->rx);
	free(context->cork);
	free(context);
}

int libwebsockets_get_random(struct libwebsocket_context *context, void *buf, int len)
{
	(void)context;
	if (len <= 0)
		return 0;
	if (lws_os_random(buf, (size_t)len))
		return -1;
	return len;
}

void lws_set_max_message_size(struct libwebsocket_context *context, size_t bytes)
{
	context->max_message_size = bytes;
	for (struct libwebsocket *wsi = context->conns; wsi; wsi = wsi->next)
		wsi->parser.max_message_size = bytes;
}

int lws_set_wsi_max_message_size(struct libwebsocket *wsi, size_t bytes)
{
	if (!wsi) {
		errno = EINVAL;
		return -1;
	}
	wsi->parser.max_message_size = bytes;
	return 0;
}

void lws_set_handshake_timeout(struct libwebsocket_context *context, int secs)
{
	context->handshake_timeout = secs > 0 ? secs : LWS_DEFAULT_HANDSHAKE_TIMEOUT;
}

int lws_context_listen_port(struct libwebsocket_context *context)
{
	return context->num_listeners ? context->listen_port : CONTEXT_PORT_NO_LISTEN;
}

void lws_set_conn_gone_notify(struct libwebsocket_context *context,
			      void (*gone)(struct libwebsocket_context *context,
					   struct libwebsocket *wsi))
{
	context->conn_gone = gone;
}

int lws_conn_is_live(struct libwebsocket_context *context, const struct libwebsocket *wsi)
{
	for (const struct libwebsocket *c = context->conns; c; c = c->next)
		if (c == wsi)
			return 1;
	return 0;
}
