/*
 * conn.c - one connection: the allocator (accepted and client connections
 * alike), its ready handler (readable -> input.c, writable here: queued
 * output, a file being sent, the WRITEABLE callback), its timeouts and the
 * public requests for WRITEABLE.  Its life: accept -> HTTP head (input.c,
 * handshake.c) -> WebSocket (input.c, output.c) -> closing (close.c) -> freed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"

/* ---- lifecycle ---- */

static void conn_ready(struct libwebsocket_context *context, struct lws_watch *w,
		       uint32_t events);

struct libwebsocket *lws_conn_alloc(struct libwebsocket_context *context, int fd,
				    enum lws_conn_state state)
{
	struct libwebsocket *wsi = calloc(1, sizeof *wsi);
	if (!wsi)
		return NULL;
	wsi->watch.kind = LWS_FD_CONN;
	wsi->watch.ready = conn_ready;
	wsi->fd = fd;
	wsi->file_fd = -1;
	wsi->context = context;
	wsi->serial = atomic_fetch_add(&context->next_serial, 1);
	wsi->state = state;
	wsi->protocol = &context->protocols[0];
	return wsi;
}

void lws_conn_link(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	wsi->next = context->conns;
	if (context->conns)
		context->conns->prev = wsi;
	context->conns = wsi;
}

struct libwebsocket *lws_conn_new(struct libwebsocket_context *context, int fd)
{
	struct libwebsocket *wsi = lws_conn_alloc(context, fd, LWS_STATE_HTTP_HEAD);
	if (!wsi)
		return NULL;

	int one = 1;
	/* small frames go out at once; we batch writes ourselves */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	wsi->epoll_events = EPOLLIN;
	if (lws_poll_add(context, fd, wsi, EPOLLIN)) {
		free(wsi);
		return NULL;
	}

	lws_conn_link(wsi);
	context->accepted++; /* LWS_LIMIT_MAX_CONNECTIONS */

	lws_conn_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE,
			     context->handshake_timeout);
	if (context->ssl_ctx && lws_tls_accept_start(wsi)) {
		lwsl_err("fd %d: cannot start TLS\n", fd);
		lws_conn_kill(wsi);
	}
	return wsi;
}

void lws_conn_timed_out(struct libwebsocket *wsi)
{
	lwsl_info("fd %d: timeout (reason %d)\n", wsi->fd, wsi->timeout_reason);
	lws_conn_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	switch (wsi->state) {
	case LWS_STATE_CLIENT_RESOLVING:
		wsi->context->client_ops->fail(wsi, "timed out looking up the host name");
		break;
	case LWS_STATE_CLIENT_CONNECTING:
		wsi->context->client_ops->fail(wsi, "timed out connecting");
		break;
	case LWS_STATE_CLIENT_AWAIT_101:
		wsi->context->client_ops->fail(wsi, "timed out waiting for the handshake answer");
		break;
	case LWS_STATE_HTTP_HEAD:
		if (wsi->head_len)
			lws_http_refuse(wsi, 408, "The request head did not arrive in time.",
					NULL);
		else
			lws_conn_kill(wsi); /* idle keep-alive or silent client */
		break;
	case LWS_STATE_WS_CLOSING:
		/* the peer never answered our close frame */
		lws_conn_close(wsi, -1, NULL);
		break;
	case LWS_STATE_DRAINING:
		lws_conn_kill(wsi);
		break;
	default:
		lws_conn_close(wsi, LWS_CLOSE_STATUS_GOINGAWAY, "timeout");
		break;
	}
}

void lws_conn_writable(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;

	if (wsi->state == LWS_STATE_CLIENT_CONNECTING) {
		context->client_ops->connected(wsi);
		return;
	}
	if (wsi->tls_handshaking) {
		lws_conn_tls_step(wsi);
		return;
	}
	if (wsi->tls_want_write) {
		/* a TLS read was waiting to write: the socket has room now */
		wsi->tls_want_write = 0;
		lws_conn_readable(wsi);
		if (wsi->state == LWS_STATE_DEAD)
			return;
		lws_conn_update_events(wsi);
	}
	if (wsi->out.len > wsi->out.off) {
		if (lws_out_drain(wsi)) {
			lws_conn_peer_closed(wsi);
			return;
		}
		if (wsi->out.len > wsi->out.off)
			return; /* still choked */
	}
	if (wsi->state == LWS_STATE_HTTP_HEAD && wsi->file_fd < 0 && wsi->rx_stash) {
		/* the answers are out: the pipelined requests behind them */
		lws_conn_http_continue(wsi);
		return;
	}
	if (wsi->state == LWS_STATE_DRAINING) {
		lws_conn_shut_write(wsi);
		lws_conn_update_events(wsi);
		return;
	}
	if (wsi->file_fd >= 0) {
		lws_http_file_continue(wsi);
		if (wsi->file_fd < 0 && wsi->state == LWS_STATE_HTTP_HEAD && wsi->rx_stash)
			lws_conn_http_continue(wsi); /* requests that came meanwhile */
		return;
	}
	if (!wsi->want_writable || wsi->state != LWS_STATE_WS) {
		wsi->want_writable = 0;
		lws_conn_update_events(wsi);
		return;
	}

	wsi->want_writable = 0;
	context->corked = wsi;
	if (wsi->num_ext)
		lws_ext_broadcast(wsi, LWS_EXT_CALLBACK_IS_WRITEABLE);
	if (lws_call(context, wsi->protocol, wsi,
		     wsi->is_client ? LWS_CALLBACK_CLIENT_WRITEABLE : LWS_CALLBACK_SERVER_WRITEABLE,
		     wsi->user_space, NULL, 0))
		lws_conn_close(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
	lws_out_uncork(context);
	lws_conn_update_events(wsi);
}

/* ---- public accessors ---- */

/* A connection's descriptor is ready (its struct lws_watch's handler). */
static void conn_ready(struct libwebsocket_context *context, struct lws_watch *w,
		       uint32_t events)
{
	(void)context;
	struct libwebsocket *wsi = (struct libwebsocket *)w;
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

int libwebsocket_callback_on_writable(struct libwebsocket_context *context,
				      struct libwebsocket *wsi)
{
	context = wsi->context;
	if (!lws_on_loop_thread(context))
		return lws_request_from_thread(context, LWS_REQ_WRITABLE, wsi, NULL, 0, NULL, 0)
			       ? -1
			       : 1;
	if (wsi->state != LWS_STATE_WS)
		return -1;
	if (wsi->num_ext && !wsi->want_writable)
		lws_ext_broadcast(wsi, LWS_EXT_CALLBACK_REQUEST_ON_WRITEABLE);
	wsi->want_writable = 1;
	lws_conn_update_events(wsi);
	return 1;
}

int libwebsocket_callback_on_writable_all_protocol(const struct libwebsocket_protocols *protocol)
{
	struct libwebsocket_context *context = protocol->owning_server;
	if (!context)
		return -1;
	if (!lws_on_loop_thread(context))
		return lws_request_from_thread(context, LWS_REQ_WRITABLE_ALL, NULL, protocol, 0,
					       NULL, 0);
	for (struct libwebsocket *wsi = context->conns; wsi; wsi = wsi->next)
		if (wsi->protocol == protocol && wsi->state == LWS_STATE_WS)
			libwebsocket_callback_on_writable(context, wsi);
	return 0;
}
