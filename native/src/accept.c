/*
 * accept.c - the listeners' ready handler: accepting connections in bounded
 * batches, the LWS_LIMIT_MAX_CONNECTIONS and FILTER_NETWORK_CONNECTION
 * refusals, and backing off while the process has no descriptor to spare.
 * context.c opens the listeners and sets this handler on them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"

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

void lws_accept_ready(struct libwebsocket_context *context, struct lws_watch *w,
		      uint32_t events)
{
	(void)events;
	struct lws_listener *l = (struct lws_listener *)w;
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

void lws_accept_resume(struct libwebsocket_context *context)
{
	context->accept_resume_at = 0;
	watch_listeners(context, 1);
}
