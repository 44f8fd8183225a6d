/*
 * service.c - the event loop: epoll, accepting, dispatching readiness to
 * connections, timeouts, and freeing closed connections.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

static void check_timeouts(struct libwebsocket_context *context, int64_t now)
{
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (wsi->timeout_at && wsi->timeout_at <= now)
			lws_conn_timed_out(wsi);
	}
}

static void free_zombies(struct libwebsocket_context *context)
{
	while (context->zombies) {
		struct libwebsocket *wsi = context->zombies;
		context->zombies = wsi->next;
		lws_conn_free(wsi);
	}
}

/* One ready descriptor: owner is what poll.c registered it with. */
static void dispatch(struct libwebsocket_context *context, void *owner, uint32_t events)
{
	switch (*(enum lws_fd_kind *)owner) {
	case LWS_FD_LISTENER:
		accept_connections(context, owner);
		return;
	case LWS_FD_RESOLVER:
		lws_client_lookups_done(context);
		return;
	case LWS_FD_BROADCAST:
		lws_broadcast_readable(context, owner);
		return;
	case LWS_FD_TIMER:
		lws_timer_fired(context);
		return;
	case LWS_FD_WAKE:
		lws_wake_requests(context);
		return;
	case LWS_FD_REDIS:
		lws_redis_ready(context, owner, events);
		return;
	case LWS_FD_CONN:
		break;
	}

	struct libwebsocket *wsi = owner;
	if (wsi->state == LWS_STATE_DEAD)
		return; /* closed earlier in this batch */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		lws_conn_readable(wsi);
	if (wsi->state != LWS_STATE_DEAD && (events & EPOLLOUT))
		lws_conn_writable(wsi);
}

/* What runs after every batch of events, whoever drives the loop. */
static void after_events(struct libwebsocket_context *context)
{
	if (context->ext_conns)
		lws_ext_tick(context, lws_now_ms());
	if (context->timeouts_armed) {
		int64_t now = lws_now_ms();
		if (now >= context->next_timeout_check) {
			context->next_timeout_check = now + LWS_TIMEOUT_CHECK_MS;
			check_timeouts(context, now);
		}
	}
	if (context->client_failures)
		lws_client_report_failures(context);
	if (context->rx_resumes)
		lws_conn_resume_rx(context);
	if (context->redis) {
		int64_t due = lws_redis_due(context);
		if (due && due <= lws_now_ms())
			lws_redis_tick(context, lws_now_ms());
	}
	free_zombies(context);
	lws_timer_update(context);
}

int libwebsocket_service(struct libwebsocket_context *context, int timeout_ms)
{
	struct epoll_event events[LWS_MAX_EVENTS];

	atomic_store(&context->loop_thread, (uintptr_t)pthread_self());
	/* deferred work and timeouts wake us through the context's timerfd */
	int n = epoll_wait(context->epfd, events, LWS_MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0; /* a signal: let the caller look at it */
		lwsl_err("epoll_wait: %s\n", strerror(errno));
		return -1;
	}

	for (int i = 0; i < n; i++)
		dispatch(context, events[i].data.ptr, events[i].events);
	after_events(context);
	return 0;
}

int libwebsocket_service_fd(struct libwebsocket_context *context, struct pollfd *pollfd)
{
	atomic_store(&context->loop_thread, (uintptr_t)pthread_self());
	int rc = 0;
	if (pollfd && pollfd->revents) {
		void *owner = lws_poll_owner(context, pollfd->fd);
		if (owner) {
			/* poll and epoll share the bit values on Linux */
			dispatch(context, owner, (uint32_t)pollfd->revents);
			pollfd->revents = 0;
		} else {
			rc = 1; /* not one of ours */
		}
	}
	after_events(context);
	return rc;
}
