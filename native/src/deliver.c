/*
 * deliver.c - a piece of a received WebSocket message handed to the user:
 * LWS_CALLBACK_RECEIVE (server) or LWS_CALLBACK_CLIENT_RECEIVE (client).
 * Every piece the frame engine (input.c) or the extensions (ext_rx.c) give
 * the user passes through lws_conn_deliver, the one place to change how
 * messages reach the user's callback.
 */
#include "private.h"

/* The RECEIVE call itself, for one piece (or, gathered, one whole message). */
static int deliver_piece(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
{
	wsi->rx_final = (uint8_t)final;
	if (lws_call(wsi->context, wsi->protocol, wsi,
		     wsi->is_client ? LWS_CALLBACK_CLIENT_RECEIVE : LWS_CALLBACK_RECEIVE,
		     wsi->user_space, data, len)) {
		lws_conn_close(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
		return 1;
	}
	/* the callback may have closed us (a pause is the caller's business:
	 * an extension still has output for bytes already taken from the parser) */
	return wsi->state != LWS_STATE_WS;
}

static int deliver_whole(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
{
	switch (lws_msg_gather(wsi, &data, &len, final, lws_msg_limit(wsi))) {
	case LWS_MSG_KEEP:
		return 0;
	case LWS_MSG_TOO_BIG:
		lws_msg_release(wsi);
		lws_conn_close(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
		return 1;
	case LWS_MSG_NO_MEMORY:
		lws_msg_release(wsi);
		lws_conn_close(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return 1;
	}
	int rc = deliver_piece(wsi, data, len, 1);
	lws_msg_release(wsi); /* the callback is done with it */
	return rc;
}

int lws_conn_deliver(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
{
	if (wsi->whole_msgs || wsi->msg) /* lws_set_whole_messages: message.c gathers */
		return deliver_whole(wsi, data, len, final);
	return deliver_piece(wsi, data, len, final);
}

/*
 * lws_conn_deliver with a 0 byte at data[len] during the callback, as the
 * classic library promised (programs use `in` as a C string), and the byte
 * that was there put back after it: the next frame's header may sit there,
 * not parsed yet.  data[len] must be writable: the receive buffer and the
 * stash keep one byte of room past what they hold.
 */
int lws_conn_deliver_cstr(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
{
	if (!data) {
		/* an empty piece an extension gave as NULL: "" all the same */
		uint8_t empty = 0;
		return lws_conn_deliver(wsi, &empty, 0, final);
	}
	/* not written when already 0: an extension's output may be a constant */
	uint8_t saved = data[len];
	if (saved)
		data[len] = 0;
	int r = lws_conn_deliver(wsi, data, len, final);
	if (saved)
		data[len] = saved;
	return r;
}
