/*
 * call.c - the bottom of the I/O files: calling a protocol's callback and the
 * monotonic clock.  It calls no other file of the core, so every file may
 * call it without making a cycle.
 */
#define _GNU_SOURCE
#include <time.h>

#include "private.h"

int lws_call(struct libwebsocket_context *context,
	     const struct libwebsocket_protocols *protocol,
	     struct libwebsocket *wsi, enum libwebsocket_callback_reasons reason,
	     void *user, void *in, size_t len)
{
	/* remembered so a binding can tell which protocol entry is called */
	const struct libwebsocket_protocols *outer = context->calling_protocol;
	context->calling_protocol = protocol;
	int n = protocol->callback(context, wsi, reason, user, in, len);
	context->calling_protocol = outer;
	return n;
}

const struct libwebsocket_protocols *
lws_calling_protocol(struct libwebsocket_context *context)
{
	return context->calling_protocol;
}

int64_t lws_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
