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
/* After accept() failed for want of descriptors (EMFILE, ENFILE) or memory,
 * the listeners are not watched for this long, or until a connection closes:
 * a listener that stays ready must not spin the loop (and flood the log). */
#define LWS_ACCEPT_BACKOFF_MS 250

static void watch_listeners(struct libwebsocket_context *context, int on)
{
	for (int i = 0; i < context->num_listeners; i++) {
		struct lws_listener *l = &context->listeners[i];
		lws_poll_change(context, l->fd, l, on ? 0 : EPOLLIN, on ? EPOLLIN : 0);
	}
}

/* No descriptor for the next connection: stop watching the listeners for a
 * while, with one log line per episode. */
static void accept_starved(struct libwebsocket_context *context, int err)
{
	int64_t now = lws_now_ms();
	if (!context->accept_starved++) {
		context->accept_starved_since = now;
		lwsl_warn("accept: %s: new connections wait until a descriptor is free\n",
			  strerror(err));
	}
	if (!context->accept_resume_at)
		watch_listeners(context, 0);
	context->accept_resume_at = now + LWS_ACCEPT_BACKOFF_MS;
	lws_timer_update(context);
}

void lws_accept_fd_freed(struct libwebsocket_context *context)
{
	if (context->accept_resume_at > 1) {
		context->accept_resume_at = 1; /* try again after this turn */
		lws_timer_update(context);
	}
}

static void accept_connections(struct libwebsocket_context *context,
			       struct lws_listener *l)
{
	if (context->accept_resume_at)
		return; /* backing off (an external poll loop may still report it) */
	for (int n = 0; n < LWS_ACCEPT_BATCH; n++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				accept_starved(context, err);
				return;
			}
			if (err != EAGAIN && err != EINTR && err != ECONNABORTED)
				lwsl_warn("accept: %s\n", strerror(err));
			break;
		}
		if (lws_limits_refuse_accept(context, fd, context->ssl_ctx != NULL))
			continue; /* LWS_LIMIT_MAX_CONNECTIONS: answered 503 and closed */
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
	if (context->accept_starved) {
		lwsl_warn("accept: accepting again; %u attempts failed for want of "
			  "descriptors in %lld ms\n",
			  context->accept_starved,
			  (long long)(lws_now_ms() - context->accept_starved_since));
		context->accept_starved = 0;
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
	/* readable, unless reading was turned off earlier in this batch (e.g.
	 * the context's output limit was reached): the event is stale */
	int stale = !(events & (EPOLLHUP | EPOLLERR)) && !(wsi->epoll_events & EPOLLIN) &&
		    !wsi->tls_handshaking && wsi->state >= LWS_STATE_HTTP_HEAD;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !stale)
		lws_conn_readable(wsi);
	if (wsi->state != LWS_STATE_DEAD && (events & EPOLLOUT))
		lws_conn_writable(wsi);
}

/* What runs after every batch of events, whoever drives the loop. */
static void after_events(struct libwebsocket_context *context)
{
	if (context->ext_conns)
		lws_ext_tick(context, lws_now_ms());
	if (lws_limits_need_tick(context)) {
		/* keepalive and stalled output, once a second */
		int64_t now = lws_now_ms();
		if (!context->next_limits_tick) {
			context->next_limits_tick = now + 1000;
		} else if (now >= context->next_limits_tick) {
			context->next_limits_tick = now + 1000;
			lws_limits_tick(context, now);
		}
	} else {
		context->next_limits_tick = 0;
	}
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
	if (context->accept_resume_at && lws_now_ms() >= context->accept_resume_at) {
		context->accept_resume_at = 0;
		watch_listeners(context, 1);
	}
	if (context->redis) {
		int64_t due = lws_redis_due(context);
		if (due && due <= lws_now_ms())
			lws_redis_tick(context, lws_now_ms());
	}
	free_zombies(context);
	lws_timer_update(context);
	context->turn++;
}

int libwebsocket_service(struct libwebsocket_context *context, int timeout_ms)
{
	struct epoll_event events[LWS_MAX_EVENTS];

	atomic_store(&context->loop_thread, (uintptr_t)pthread_self());
	lws_gather_flush(context); /* gather.c */
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
	lws_gather_flush(context); /* gather.c: no dispatch finds others' bytes corked */
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
