/*
 * close.c - every way a connection ends: lws_conn_close (a close frame where
 * the protocol allows, CLOSED once, then drain: flush, FIN, a short linger),
 * lws_conn_kill (the socket dropped now; each layer lets go of the
 * connection: its client state, a file being sent, extensions, TLS, queued
 * output) and lws_conn_free at the end of the turn.  It calls the layers
 * below it (output, extensions, TLS) and, for client connections, client.c
 * through context->client_ops, which client.c sets: the layers above close
 * connections, so close.c names none of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"

static void free_user_space(struct libwebsocket *wsi)
{
	if (!wsi->user_space_external)
		free(wsi->user_space);
	wsi->user_space = NULL;
}

/* A descriptor was closed: listeners waiting for one (accept.c backing off
 * after EMFILE) are watched again after this turn. */
static void fd_freed(struct libwebsocket_context *context)
{
	if (context->accept_resume_at > 1) {
		context->accept_resume_at = 1;
		lws_timer_update(context);
	}
}

void lws_conn_kill(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	if (wsi->state == LWS_STATE_DEAD)
		return;
	if (wsi->state < LWS_STATE_DRAINING && wsi->established) {
		wsi->established = 0;
		lws_call(context, wsi->protocol, wsi, LWS_CALLBACK_CLOSED,
			 wsi->user_space, NULL, 0);
	}
	wsi->state = LWS_STATE_DEAD;
	if (context->corked == wsi) {
		context->corked = NULL;
		context->cork_len = 0;
	}
	lws_conn_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (wsi->client)
		context->client_ops->free(wsi);
	lws_http_file_abort(wsi);
	lws_ext_closing(wsi);
	lws_ext_destroy(wsi);
	lws_tls_free(wsi);
	lws_out_discard(wsi);
	if (!wsi->is_client)
		context->accepted--;
	if (wsi->fd >= 0) {
		lws_poll_del(context, wsi->fd, wsi);
		close(wsi->fd);
		wsi->fd = -1;
		fd_freed(context);
	}

	/* off the live list, onto the list freed at the end of service: a
	 * callback up the stack may still hold this wsi */
	if (wsi->prev)
		wsi->prev->next = wsi->next;
	else
		context->conns = wsi->next;
	if (wsi->next)
		wsi->next->prev = wsi->prev;
	wsi->prev = NULL;
	wsi->next = context->zombies;
	context->zombies = wsi;
	if (context->conn_gone)
		context->conn_gone(context, wsi);
}

void lws_conn_free(struct libwebsocket *wsi)
{
	if (wsi->client)
		wsi->context->client_ops->free(wsi);
	free_user_space(wsi);
	free(wsi->rx_stash);
	lws_msg_release(wsi);
	free(wsi->head_buf);
	free(wsi->resp_headers);
	free(wsi->out.buf);
	free(wsi->ext_rx_parser);
	free(wsi);
}

/* Queue a close frame: status 0 = no code, < 0 = none at all. */
static void send_close_frame(struct libwebsocket *wsi, int status, const char *reason)
{
	uint8_t payload[LWS_MAX_CONTROL_PAYLOAD];
	size_t len = 0;

	if (status < 0 || wsi->close_sent || wsi->peer_gone)
		return;
	/* 1005, 1006 and 1015 describe a close; they are never sent */
	if (status == LWS_CLOSE_STATUS_NO_STATUS || status == LWS_CLOSE_STATUS_ABNORMAL_CLOSE ||
	    status == LWS_CLOSE_STATUS_TLS_FAILURE)
		return;
	if (status > 0) {
		payload[0] = (uint8_t)(status >> 8);
		payload[1] = (uint8_t)status;
		len = 2;
		if (reason) {
			size_t rlen = strlen(reason);
			if (rlen > sizeof payload - 2)
				rlen = sizeof payload - 2;
			memcpy(payload + 2, reason, rlen);
			len += rlen;
		}
	}
	lws_send_control(wsi, LWS_OP_CLOSE, payload, len);
	wsi->close_sent = 1;
	wsi->close_status_sent = (uint16_t)(status > 0 ? status : 0);
}

/* No more callbacks: flush what is queued, send FIN, wait briefly for the
 * peer's FIN so our last bytes are not lost to a reset. */
static void start_draining(struct libwebsocket *wsi)
{
	lws_http_file_abort(wsi); /* else reading stays off and the FIN unseen */
	free_user_space(wsi);
	free(wsi->head_buf);
	wsi->head_buf = NULL;
	wsi->req_head = NULL; /* it may have been head_buf */
	wsi->req_head_len = 0;
	wsi->want_writable = 0;
	wsi->state = LWS_STATE_DRAINING;

	if (wsi->peer_gone) {
		lws_conn_kill(wsi);
		return;
	}
	lws_conn_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, LWS_CLOSE_LINGER_SECS);
	if (wsi->context->corked != wsi && wsi->out.len == wsi->out.off)
		lws_conn_shut_write(wsi);
	lws_conn_update_events(wsi);
}

void lws_conn_close(struct libwebsocket *wsi, int status, const char *reason)
{
	if (wsi->state >= LWS_STATE_DRAINING || wsi->closing)
		return;
	if (wsi->state < LWS_STATE_HTTP_HEAD) {
		wsi->context->client_ops->fail(wsi, "closed before the handshake completed");
		return;
	}
	wsi->closing = 1; /* writes from the CLOSED callback must not follow the close */
	if (wsi->num_ext)
		/* informational: the close goes ahead whatever they answer */
		lws_ext_broadcast(wsi, LWS_EXT_CALLBACK_CHECK_OK_TO_REALLY_CLOSE);
	if (wsi->state == LWS_STATE_WS || wsi->state == LWS_STATE_WS_CLOSING)
		send_close_frame(wsi, status, reason);
	if (wsi->established) {
		wsi->established = 0;
		lws_call(wsi->context, wsi->protocol, wsi, LWS_CALLBACK_CLOSED, wsi->user_space,
			 wsi->peer_close_len ? wsi->peer_close : NULL, wsi->peer_close_len);
	}
	start_draining(wsi);
}

void libwebsocket_close_and_free_session(struct libwebsocket_context *context,
					 struct libwebsocket *wsi,
					 enum lws_close_status reason)
{
	context = wsi->context;
	if (!lws_on_loop_thread(context)) {
		lws_request_from_thread(context, LWS_REQ_CLOSE, wsi, NULL, (int)reason, NULL, 0);
		return;
	}
	lws_conn_close(wsi, (int)reason, NULL);
}
