/*
 * gather.c - writes made outside the library's callbacks, gathered.
 *
 * While a connection's input is dispatched its writes are corked and go out
 * together at the end (output.c).  An event-loop layer whose handlers write
 * later, outside any dispatch (the asyncio layer's send()), asks for the same:
 * lws_gather_writes(wsi) corks wsi (sending first what another connection had
 * gathered), lws_gather_flush(context) sends what was gathered.  Every
 * service call begins with lws_gather_flush, so a dispatch never finds another
 * connection's bytes in the cork.  Internal: the Python binding's asyncio
 * layer calls these through cffi; they are not part of the C API.
 */
#include "private.h"

void lws_gather_writes(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	if (context->corked == wsi)
		return;
	if (context->corked)
		lws_out_uncork(context);
	if (wsi->state != LWS_STATE_WS)
		return; /* closing or gone: nothing to gather for */
	context->corked = wsi;
}

void lws_gather_flush(struct libwebsocket_context *context)
{
	if (context->corked)
		lws_out_uncork(context);
}
