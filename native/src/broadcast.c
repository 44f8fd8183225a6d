/*
 * broadcast.c - libwebsockets_broadcast and libwebsockets_fork_service_loop.
 *
 * Called in the process that runs the service loop, a broadcast calls the
 * protocol's callback with LWS_CALLBACK_BROADCAST for each of its connections
 * at once.  Called in another process forked from it (by
 * libwebsockets_fork_service_loop or any fork), it is sent as one datagram
 * through the protocol's broadcast socket (broadcast_socket_user_fd), which the
 * loop reads and dispatches in turn.  The socket is one end of a UNIX
 * socketpair, not a TCP port: only processes forked from the context's can
 * reach it, so no other local user can inject broadcasts (broadcast_socket_port
 * is therefore 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "private.h"

int lws_broadcast_init(struct libwebsocket_context *context)
{
	context->service_pid = (int)getpid();
	context->broadcast = calloc((size_t)context->num_protocols, sizeof *context->broadcast);
	if (!context->broadcast)
		return -1;

	for (int i = 0; i < context->num_protocols; i++) {
		struct lws_listener *l = &context->broadcast[i];
		int sv[2];
		l->fd = -1;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
			return -1;
		/* the loop's end never blocks; writers may wait for room */
		fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
		l->kind = LWS_FD_BROADCAST;
		l->fd = sv[0];
		l->protocol_index = i;
		context->protocols[i].broadcast_socket_user_fd = sv[1];
		context->protocols[i].broadcast_socket_port = 0;

		if (lws_poll_add(context, l->fd, l, EPOLLIN))
			return -1;
	}
	return 0;
}

static void dispatch_broadcast(struct libwebsocket_context *context,
			       const struct libwebsocket_protocols *protocol,
			       unsigned char *buf, size_t len)
{
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		/* a callback may close any connection: closed ones move to the
		 * zombie list but stay allocated, so the walk stays valid */
		next = wsi->next;
		if (wsi->protocol != protocol || wsi->state != LWS_STATE_WS)
			continue;
		if (lws_call(context, protocol, wsi, LWS_CALLBACK_BROADCAST, wsi->user_space, buf, len))
			lws_conn_close(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
	}
}

int libwebsockets_broadcast(const struct libwebsocket_protocols *protocol,
			    unsigned char *buf, size_t len)
{
	struct libwebsocket_context *context = protocol->owning_server;
	if (!context) {
		lwsl_err("broadcast: the protocol belongs to no context\n");
		return -1;
	}
	if ((int)getpid() == context->service_pid) {
		if (!lws_on_loop_thread(context))
			return lws_request_from_thread(context, LWS_REQ_BROADCAST, NULL,
						       protocol, 0, buf, len);
		dispatch_broadcast(context, protocol, buf, len);
		return 0;
	}
	/* another process: through the socket, as one message */
	ssize_t n;
	do
		n = send(protocol->broadcast_socket_user_fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != len) {
		lwsl_err("broadcast from another process failed: %s\n",
			 n < 0 ? strerror(errno) : "short send");
		return -1;
	}
	return 0;
}

void lws_broadcast_readable(struct libwebsocket_context *context, struct lws_listener *l)
{
	unsigned char *buf = context->rx + LWS_SEND_BUFFER_PRE_PADDING;
	/* a few messages per wakeup, so broadcasts cannot starve connections */
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(l->fd, buf, LWS_RX_BUFFER_SIZE, MSG_DONTWAIT);
		if (n < 0)
			return;
		dispatch_broadcast(context, &context->protocols[l->protocol_index], buf,
				   (size_t)n);
	}
}

void lws_broadcast_destroy(struct libwebsocket_context *context)
{
	if (!context->broadcast)
		return;
	for (int i = 0; i < context->num_protocols; i++) {
		if (context->broadcast[i].fd >= 0) {
			lws_poll_del(context, context->broadcast[i].fd, &context->broadcast[i]);
			close(context->broadcast[i].fd);
		}
		if (context->protocols[i].broadcast_socket_user_fd >= 0)
			close(context->protocols[i].broadcast_socket_user_fd);
		context->protocols[i].broadcast_socket_user_fd = -1;
	}
	free(context->broadcast);
	context->broadcast = NULL;
}

int libwebsockets_fork_service_loop(struct libwebsocket_context *context)
{
	pid_t pid = fork();
	if (pid < 0) {
		lwsl_err("fork_service_loop: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		/* the caller goes on; it may broadcast, the child serves */
		context->forked_child = (int)pid;
		context->service_pid = (int)pid;
		return 0;
	}

	context->service_pid = (int)getpid();
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* die with the parent */
	if (getppid() == 1)
		_exit(0);
	while (libwebsocket_service(context, 1000) >= 0)
		;
	_exit(0);
}
