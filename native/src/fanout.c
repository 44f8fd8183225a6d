/*
 * fanout.c - a broadcast delivered to this process's connections: the
 * protocol's established connections each get LWS_CALLBACK_BROADCAST.  Both
 * sources of broadcasts call it: broadcast.c (this context's processes) and
 * redis.c (the backplane), so it sits below both.
 */
#include "private.h"

void lws_broadcast_dispatch(struct libwebsocket_context *context,
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
