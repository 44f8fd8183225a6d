/*
 * wake.c - requests from threads other than the one running the service
 * loop.  libwebsocket_callback_on_writable(_all_protocol),
 * libwebsockets_broadcast, libwebsocket_close_and_free_session and
 * libwebsocket_rx_flow_control may be called from any thread: off the loop
 * thread they queue a request and wake the loop through an eventfd, and the
 * loop carries it out.  A request for a connection that has closed by then is
 * dropped.  Everything else must be called from the loop thread (callbacks
 * run there).  This file is the loop's side (the eventfd's ready handler
 * carries requests out by calling those functions again); the asking side,
 * which those functions call, is thread.c, below them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "private.h"

static void wake_requests(struct libwebsocket_context *context, struct lws_watch *w,
			  uint32_t events);

int lws_wake_init(struct libwebsocket_context *context)
{
	pthread_mutex_init(&context->requests_lock, NULL);
	context->requests_lock_ready = 1;
	atomic_store(&context->loop_thread, (uintptr_t)pthread_self());
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -1;
	context->wake.watch.kind = LWS_FD_WAKE;
	context->wake.watch.ready = wake_requests;
	context->wake.fd = fd;
	return lws_poll_add(context, fd, &context->wake, EPOLLIN);
}

/*
 * Is the request's connection still live?  It may have been freed since the
 * request was queued, so it is looked for among the live ones by address
 * before anything in it is read; and a connection made after the request at
 * the same address (memory reused) is another one.
 */
static int live(struct libwebsocket_context *context, const struct lws_request *r)
{
	for (struct libwebsocket *c = context->conns; c; c = c->next)
		if (c == r->wsi)
			return c->serial < r->made_before && c->state < LWS_STATE_DRAINING;
	return 0;
}

static void carry_out(struct libwebsocket_context *context, struct lws_request *r)
{
	switch (r->kind) {
	case LWS_REQ_WRITABLE:
		if (live(context, r))
			libwebsocket_callback_on_writable(context, r->wsi);
		break;
	case LWS_REQ_WRITABLE_ALL:
		libwebsocket_callback_on_writable_all_protocol(r->protocol);
		break;
	case LWS_REQ_CLOSE:
		if (live(context, r))
			lws_conn_close(r->wsi, r->arg, NULL);
		break;
	case LWS_REQ_FLOW:
		if (live(context, r))
			libwebsocket_rx_flow_control(r->wsi, r->arg);
		break;
	case LWS_REQ_BROADCAST:
		libwebsockets_broadcast(r->protocol, r->data + LWS_SEND_BUFFER_PRE_PADDING,
					r->len);
		break;
	}
}

/* the wake eventfd is readable: carry out what other threads queued */
static void wake_requests(struct libwebsocket_context *context, struct lws_watch *w,
			  uint32_t events)
{
	(void)w;
	(void)events;
	uint64_t count;
	ssize_t n = read(context->wake.fd, &count, sizeof count);
	(void)n;

	pthread_mutex_lock(&context->requests_lock);
	struct lws_request *r = context->requests;
	context->requests = context->requests_tail = NULL;
	pthread_mutex_unlock(&context->requests_lock);

	while (r) {
		struct lws_request *next = r->next;
		carry_out(context, r);
		free(r);
		r = next;
	}
}

void lws_wake_destroy(struct libwebsocket_context *context)
{
	if (!context->requests_lock_ready)
		return;
	struct lws_request *r = context->requests;
	while (r) {
		struct lws_request *next = r->next;
		free(r);
		r = next;
	}
	context->requests = context->requests_tail = NULL;
	pthread_mutex_destroy(&context->requests_lock);
	context->requests_lock_ready = 0;
}
