/*
 * thread.c - asking the loop from another thread: is this the loop thread,
 * and queue a request for it (carried out by wake.c's ready handler).  The
 * public functions that may be called from any thread call these; this file
 * calls none of them, so it sits below them.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

int lws_on_loop_thread(struct libwebsocket_context *context)
{
	return (uintptr_t)pthread_self() == atomic_load(&context->loop_thread);
}

int lws_request_from_thread(struct libwebsocket_context *context,
			    enum lws_request_kind kind, struct libwebsocket *wsi,
			    const struct libwebsocket_protocols *protocol, int arg,
			    const unsigned char *data, size_t len)
{
	struct lws_request *r = malloc(sizeof *r + LWS_SEND_BUFFER_PRE_PADDING + len +
				       LWS_SEND_BUFFER_POST_PADDING);
	if (!r)
		return -1;
	r->kind = kind;
	r->wsi = wsi;
	r->protocol = protocol;
	r->arg = arg;
	/* read from the context, not from wsi: it may be gone already */
	r->made_before = atomic_load(&context->next_serial);
	r->len = len;
	r->next = NULL;
	if (len)
		memcpy(r->data + LWS_SEND_BUFFER_PRE_PADDING, data, len);

	pthread_mutex_lock(&context->requests_lock);
	if (context->requests_tail)
		context->requests_tail->next = r;
	else
		context->requests = r;
	context->requests_tail = r;
	pthread_mutex_unlock(&context->requests_lock);

	uint64_t one = 1;
	ssize_t n = write(context->wake.fd, &one, sizeof one);
	(void)n; /* the counter cannot overflow at our rates */
	return 0;
}
