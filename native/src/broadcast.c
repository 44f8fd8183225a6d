/*
 * broadcast.c - libwebsockets_broadcast (libwebsockets_fork_service_loop is in
 * service.c).
 *
 * Called in the process that runs the service loop, a broadcast calls the
 * protocol's callback with LWS_CALLBACK_BROADCAST for each of its connections
 * at once.  Called in another process forked from it (by
 * libwebsockets_fork_service_loop or any fork), it is sent as one datagram
 * through the protocol's broadcast socket (broadcast_socket_user_fd), which the
 * loop reads and dispatches in turn.  A datagram holds BROADCAST_INLINE_MAX
 * bytes at most; a larger message is written to a memfd whose descriptor
 * travels instead (SCM_RIGHTS), so any size "just works".  The socket is one end of a UNIX
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "private.h"

/* well inside a UNIX datagram socket's default send buffer */
#define BROADCAST_INLINE_MAX (64 * 1024)

static void broadcast_ready(struct libwebsocket_context *context, struct lws_watch *w,
			    uint32_t events);

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
		l->watch.kind = LWS_FD_BROADCAST;
		l->watch.ready = broadcast_ready;
		l->fd = sv[0];
		l->protocol_index = i;
		context->protocols[i].broadcast_socket_user_fd = sv[1];
		context->protocols[i].broadcast_socket_port = 0;

		if (lws_poll_add(context, l->fd, l, EPOLLIN))
			return -1;
	}
	return 0;
}

/* A broadcast made in this context's processes: here, and through Redis if attached. */
static void dispatch_broadcast(struct libwebsocket_context *context,
			       const struct libwebsocket_protocols *protocol,
			       unsigned char *buf, size_t len)
{
	lws_broadcast_dispatch(context, protocol, buf, len);
	if (context->redis)
		lws_redis_publish(context, protocol, buf, len);
}

static int send_inline(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n != len)
		errno = EMSGSIZE;
	return n >= 0 && (size_t)n == len ? 0 : -1;
}

/* The message in a memfd; the datagram carries its length and descriptor. */
static int send_by_memfd(int fd, const unsigned char *buf, size_t len)
{
	if (len > LWS_MAX_QUEUED_OUTPUT) {
		errno = EMSGSIZE;
		return -1;
	}
	int mfd = memfd_create("pylws-broadcast", MFD_CLOEXEC);
	if (mfd < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(mfd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(mfd);
			return -1;
		}
		done += (size_t)n;
	}
	uint64_t size = len;
	struct iovec iov = {&size, sizeof size};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = control.buf, .msg_controllen = sizeof control.buf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &mfd, sizeof mfd);
	ssize_t n;
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	int err = errno;
	close(mfd); /* the loop holds its own copy now */
	errno = err;
	return n == (ssize_t)sizeof size ? 0 : -1;
}

/* A large broadcast's memfd: read into padded memory and dispatched. */
static void dispatch_memfd(struct libwebsocket_context *context,
			   const struct libwebsocket_protocols *protocol, int mfd, uint64_t len)
{
	struct stat st;
	if (fstat(mfd, &st) || (uint64_t)st.st_size < len || len > LWS_MAX_QUEUED_OUTPUT) {
		lwsl_err("broadcast: a large message came with a bad memfd\n");
		return;
	}
	unsigned char *block =
		malloc(LWS_SEND_BUFFER_PRE_PADDING + (size_t)len + LWS_SEND_BUFFER_POST_PADDING);
	if (!block) {
		lwsl_err("broadcast: out of memory for a %llu-byte message\n",
			 (unsigned long long)len);
		return;
	}
	unsigned char *buf = block + LWS_SEND_BUFFER_PRE_PADDING;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(mfd, buf + done, (size_t)len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done == len)
		dispatch_broadcast(context, protocol, buf, (size_t)len);
	else
		lwsl_err("broadcast: cannot read a large message\n");
	free(block);
}

int libwebsockets_broadcast(const struct libwebsocket_protocols *protocol,
			    unsigned char *buf, size_t len)
{
	struct libwebsocket_context *context = protocol->owning_server;
	if (!context) {
		lwsl_err("broadcast: the protocol belongs to no context\n");
		return -1;
	}
	if (lws_redis_check_size(context, len))
		return -1;
	if ((int)getpid() == context->service_pid) {
		if (!lws_on_loop_thread(context))
			return lws_request_from_thread(context, LWS_REQ_BROADCAST, NULL,
						       protocol, 0, buf, len);
		dispatch_broadcast(context, protocol, buf, len);
		return 0;
	}
	/* another process: through the socket, as one message */
	int rc = len <= BROADCAST_INLINE_MAX
			 ? send_inline(protocol->broadcast_socket_user_fd, buf, len)
			 : send_by_memfd(protocol->broadcast_socket_user_fd, buf, len);
	if (rc)
		lwsl_err("broadcast from another process failed: %s\n", strerror(errno));
	return rc;
}

/* the loop's end of a protocol's broadcast socket is readable */
static void broadcast_ready(struct libwebsocket_context *context, struct lws_watch *w,
			    uint32_t events)
{
	(void)events;
	struct lws_listener *l = (struct lws_listener *)w;
	unsigned char *buf = context->rx + LWS_SEND_BUFFER_PRE_PADDING;
	/* a few messages per wakeup, so broadcasts cannot starve connections */
	const struct libwebsocket_protocols *protocol = &context->protocols[l->protocol_index];
	for (int i = 0; i < 16; i++) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = {buf, LWS_RX_BUFFER_SIZE};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof control.buf};
		ssize_t n = recvmsg(l->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int mfd;
			memcpy(&mfd, CMSG_DATA(cm), sizeof mfd);
			uint64_t len;
			if (n == (ssize_t)sizeof len) {
				memcpy(&len, buf, sizeof len);
				dispatch_memfd(context, protocol, mfd, len);
			}
			close(mfd);
			continue;
		}
		dispatch_broadcast(context, protocol, buf, (size_t)n);
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
