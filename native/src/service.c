/*
 * service.c - the event loop: epoll, accepting, dispatching readiness to
 * connections, timeouts, and freeing closed connections.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"

#define LWS_MAX_EVENTS 256
/* accept() calls per listener readiness: enough to keep up, bounded so a
 * connection flood cannot starve established connections */
#define LWS_ACCEPT_BATCH 64

static void accept_connections(struct libwebsocket_context *context,
			       struct lws_listener *l)
{
	for (int n = 0; n < LWS_ACCEPT_BATCH; n++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				lwsl_warn("accept: %s\n", strerror(errno));
			return;
		}
		/* the first protocol may refuse by address before any byte is read */
		if (lws_call(context, &context->protocols[0], NULL,
			     LWS_CALLBACK_FILTER_NETWORK_CONNECTION,
			     (void *)(intptr_t)fd, NULL, 0)) {
			lwsl_info("connection on fd %d refused by filter\n", fd);
			close(fd);
			continue;
		}
		if (!lws_conn_new(context, fd))
			close(fd);
	}
}

static void check_timeouts(struct libwebsocket_context *context, time_t now)
{
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (wsi->timeout_at && wsi->timeout_at <= now)
			lws_conn_timed_out(wsi);
	}
}

/* epoll_wait timeout: the caller's, shortened to the next timeout check */
static int wait_ms(struct libwebsocket_context *context, int timeout_ms)
{
	if (context->client_failures || context->rx_resumes)
		return 0; /* work to do at once */
	if (!context->timeouts_armed)
		return timeout_ms;
	time_t now = lws_now();
	int until = context->next_timeout_check > now
			    ? (int)(context->next_timeout_check - now) * 1000
			    : 0;
	return timeout_ms < 0 || until < timeout_ms ? until : timeout_ms;
}

static void free_zombies(struct libwebsocket_context *context)
{
	while (context->zombies) {
		struct libwebsocket *wsi = context->zombies;
		context->zombies = wsi->next;
		lws_conn_free(wsi);
	}
}

static void dispatch(struct libwebsocket_context *context, struct epoll_event *ev)
{
	enum lws_fd_kind *kind = ev->data.ptr;

	if (*kind == LWS_FD_LISTENER) {
		accept_connections(context, (struct lws_listener *)kind);
		return;
	}
	if (*kind == LWS_FD_RESOLVER) {
		lws_client_lookups_done(context);
		return;
	}
	if (*kind == LWS_FD_BROADCAST) {
		lws_broadcast_readable(context, (struct lws_listener *)kind);
		return;
	}

	struct libwebsocket *wsi = (struct libwebsocket *)kind;
	if (wsi->state == LWS_STATE_DEAD)
		return; /* closed earlier in this batch */
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		lws_conn_readable(wsi);
	if (wsi->state != LWS_STATE_DEAD && (ev->events & EPOLLOUT))
		lws_conn_writable(wsi);
}

int libwebsocket_service(struct libwebsocket_context *context, int timeout_ms)
{
	struct epoll_event events[LWS_MAX_EVENTS];

	int n = epoll_wait(context->epfd, events, LWS_MAX_EVENTS,
			   wait_ms(context, timeout_ms));
	if (n < 0) {
		if (errno == EINTR)
			return 0; /* a signal: let the caller look at it */
		lwsl_err("epoll_wait: %s\n", strerror(errno));
		return -1;
	}

	for (int i = 0; i < n; i++)
		dispatch(context, &events[i]);

	if (context->timeouts_armed) {
		time_t now = lws_now();
		if (now >= context->next_timeout_check) {
			context->next_timeout_check = now + 1;
			check_timeouts(context, now);
		}
	}

	if (context->client_failures)
		lws_client_report_failures(context);
	if (context->rx_resumes)
		lws_conn_resume_rx(context);
	free_zombies(context);
	return 0;
}
