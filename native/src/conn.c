/*
 * conn.c - one connection's life: accept -> HTTP head -> WebSocket ->
 * closing -> freed.  Reads land in the context's receive buffer and go to the
 * HTTP parser or the frame engine; frame events become protocol callbacks.
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
	lws_client_free(wsi);
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
	lws_client_free(wsi);
	free_user_space(wsi);
	free(wsi->rx_stash);
	free(wsi->head_buf);
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
		lws_client_fail(wsi, "closed before the handshake completed");
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

void lws_conn_timed_out(struct libwebsocket *wsi)
{
	lwsl_info("fd %d: timeout (reason %d)\n", wsi->fd, wsi->timeout_reason);
	lws_conn_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	switch (wsi->state) {
	case LWS_STATE_CLIENT_RESOLVING:
		lws_client_fail(wsi, "timed out looking up the host name");
		break;
	case LWS_STATE_CLIENT_CONNECTING:
		lws_client_fail(wsi, "timed out connecting");
		break;
	case LWS_STATE_CLIENT_AWAIT_101:
		lws_client_fail(wsi, "timed out waiting for the handshake answer");
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

/* ---- receiving WebSocket frames ---- */

int lws_conn_deliver(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
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

static int on_data(void *ud, struct lws_frame_parser *p, uint8_t *data, size_t len,
		   int final)
{
	struct libwebsocket *wsi = ud;
	(void)p;
	wsi->rx_frame = 1; /* keepalive: the peer is there */
	if (wsi->state != LWS_STATE_WS)
		return 0; /* after our close frame, data is read and dropped */
	if (wsi->num_ext) {
		/* a piece the extensions pass on as it is ends in a 0 byte too */
		uint8_t saved = data[len];
		data[len] = 0;
		int stop = lws_ext_rx(wsi, data, len, final);
		data[len] = saved;
		return stop || wsi->state != LWS_STATE_WS || wsi->rx_paused;
	}
	return lws_conn_deliver_cstr(wsi, data, len, final) || wsi->rx_paused;
}

static void on_close_frame(struct libwebsocket *wsi, uint8_t *payload, size_t len)
{
	/* CLOSED gets it as in/len (status code, then the reason) */
	memcpy(wsi->peer_close, payload, len);
	wsi->peer_close[len] = 0; /* the reason prints with %s (after the 2-byte code) */
	wsi->peer_close_len = (uint8_t)len;
	if (wsi->state == LWS_STATE_WS_CLOSING) {
		/* the answer to our close: done */
		lws_conn_close(wsi, -1, NULL);
		return;
	}
	/* echo the status code (RFC 6455 5.5.1), then finish */
	if (!wsi->peer_gone)
		lws_send_control(wsi, LWS_OP_CLOSE, payload, len >= 2 ? 2 : 0);
	wsi->close_sent = 1;
	lws_conn_close(wsi, -1, NULL);
}

static int on_control(void *ud, struct lws_frame_parser *p, int opcode,
		      uint8_t *payload, size_t len)
{
	struct libwebsocket *wsi = ud;
	wsi->rx_frame = 1; /* keepalive: the peer is there (a pong, or any control) */
	if (p->rsv) {
		/* only possible with an extension claiming RSV bits: never on control */
		lws_conn_close(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, "RSV bits on a control frame");
		return 1;
	}
	switch (opcode) {
	case LWS_OP_PING:
		if (wsi->state == LWS_STATE_WS)
			lws_send_control(wsi, LWS_OP_PONG, payload, len);
		return 0;
	case LWS_OP_PONG:
		if (wsi->state != LWS_STATE_WS ||
		    (!wsi->is_client &&
		     !(wsi->context->options & LWS_SERVER_OPTION_REPORT_PONGS)))
			return 0; /* servers are told of pongs only when they ask */
		{
			/* payload[len] is ours: the receive buffer's room, or ctl_buf's */
			uint8_t saved = payload[len];
			payload[len] = 0;
			int n = lws_call(wsi->context, wsi->protocol, wsi,
					 LWS_CALLBACK_CLIENT_RECEIVE_PONG, wsi->user_space, payload,
					 len);
			payload[len] = saved;
			if (n) {
				lws_conn_close(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
				return 1;
			}
		}
		return wsi->state != LWS_STATE_WS;
	case LWS_OP_CLOSE:
		on_close_frame(wsi, payload, len);
		return 1;
	}
	return 0;
}

static const struct lws_frame_events frame_events = {
	.on_data = on_data,
	.on_control = on_control,
};

/*
 * Keep bytes read but not parsed because the user paused reception; they are
 * parsed first when it is resumed.  Pre-padding room stays before them, as in
 * the receive buffer.
 */
static void stash_rx(struct libwebsocket *wsi, const uint8_t *data, size_t len)
{
	/* appended: bytes read later go behind the ones kept earlier */
	size_t have = wsi->rx_stash ? wsi->rx_stash_len : 0;
	/* + 1: room for the 0 byte after a delivered piece (lws_conn_deliver_cstr) */
	uint8_t *stash = realloc(wsi->rx_stash, LWS_SEND_BUFFER_PRE_PADDING + have + len + 1);
	if (!stash) {
		lws_conn_close(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	memcpy(stash + LWS_SEND_BUFFER_PRE_PADDING + have, data, len);
	wsi->rx_stash = stash;
	wsi->rx_stash_len = have + len;
	lws_conn_update_events(wsi); /* nothing more is read until it is parsed */
}

/* Take the stash to parse it: (data, len), or NULL.  The caller frees *block. */
static uint8_t *take_stash(struct libwebsocket *wsi, size_t *len, uint8_t **block)
{
	*block = wsi->rx_stash;
	*len = wsi->rx_stash_len;
	wsi->rx_stash = NULL;
	wsi->rx_stash_len = 0;
	return *block ? *block + LWS_SEND_BUFFER_PRE_PADDING : NULL;
}

/* Parse what was stashed for connections whose reception was resumed. */
void lws_conn_resume_rx(struct libwebsocket_context *context)
{
	context->rx_resumes = 0;
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (wsi->ext_rx_pending) {
			/* an extension's output for bytes already parsed goes first */
			context->corked = wsi;
			int again = lws_ext_rx_resume(wsi);
			lws_out_uncork(context);
			if (again)
				continue;
		}
		if (wsi->rx_more && !wsi->rx_stash && !wsi->rx_paused &&
		    wsi->state < LWS_STATE_DRAINING && wsi->state >= LWS_STATE_CLIENT_AWAIT_101) {
			wsi->rx_more = 0;
			lws_conn_readable(wsi);
			continue;
		}
		if (wsi->state == LWS_STATE_HTTP_HEAD) {
			/* pipelined requests that waited for their turn */
			lws_conn_http_continue(wsi);
			if (wsi->rx_more && !wsi->rx_paused && wsi->state == LWS_STATE_HTTP_HEAD)
				context->rx_resumes++;
			continue;
		}
		if (!wsi->rx_stash || wsi->rx_paused || wsi->state != LWS_STATE_WS)
			continue;
		size_t len;
		uint8_t *block, *data = take_stash(wsi, &len, &block);
		context->corked = wsi;
		lws_conn_ws_receive(wsi, data, len); /* may stash again if paused again */
		lws_out_uncork(context);
		free(block);
		if (wsi->rx_more && !wsi->rx_paused)
			context->rx_resumes++; /* the read layer still holds input */
	}
}

int libwebsocket_rx_flow_control(struct libwebsocket *wsi, int enable)
{
	if (!lws_on_loop_thread(wsi->context))
		return lws_request_from_thread(wsi->context, LWS_REQ_FLOW, wsi, NULL, !!enable,
					       NULL, 0);
	if (wsi->state >= LWS_STATE_DRAINING)
		return -1;
	wsi->rx_paused = !enable;
	if (enable && (wsi->rx_stash || wsi->rx_more || wsi->ext_rx_pending)) {
		wsi->context->rx_resumes++;
		lws_timer_update(wsi->context);
	}
	lws_conn_update_events(wsi);
	return 0;
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

void lws_conn_ws_input(struct libwebsocket *wsi, uint8_t *buf, size_t len)
{
	int held = wsi->rx_layer && wsi->rx_layer->hold ? wsi->rx_layer->hold(wsi, buf, len) : 1;
	if (held > 0) {
		lws_conn_ws_receive(wsi, buf, len);
		return;
	}
	if (held < 0) {
		lws_conn_close(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	wsi->rx_more = 1; /* inflated and parsed by the next turn of the loop */
	wsi->context->rx_resumes++;
}

/* Parse received frames; payload is delivered straight from buf. */
void lws_conn_ws_receive(struct libwebsocket *wsi, uint8_t *buf, size_t len)
{
	struct lws_frame_parser *p = &wsi->parser;
	int held = wsi->ext_rx_pending && wsi->state == LWS_STATE_WS;
	if (wsi->rx_paused || held) {
		/* e.g. frames that came with the handshake, ESTABLISHED paused us;
		 * or an extension's output waits for a later turn (ext.c) */
		stash_rx(wsi, buf, len);
		return;
	}
	size_t used = lws_frame_parse(p, buf, len, &frame_events, wsi);

	if (p->error) {
		lwsl_info("fd %d: protocol error %d: %s\n", wsi->fd, p->error,
			  p->error_reason ? p->error_reason : "");
		if (wsi->state == LWS_STATE_WS || wsi->state == LWS_STATE_WS_CLOSING)
			lws_conn_close(wsi, p->error, p->error_reason);
		return;
	}
	if (used < len && (wsi->rx_paused || wsi->ext_rx_pending) && wsi->state == LWS_STATE_WS)
		stash_rx(wsi, buf + used, len - used);
}

void lws_conn_start_ws(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	struct lws_frame_parser *p = &wsi->parser;

	lws_frame_parser_reset(p);
	p->max_message_size = context->max_message_size;
	p->expect_masked = 1;
	p->allow_unmasked = !!(context->options & LWS_SERVER_OPTION_DEFEAT_CLIENT_MASK);
	p->rsv_allowed = 0;
	wsi->state = LWS_STATE_WS;
	lws_conn_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
}

/* ---- receiving the HTTP request head ---- */

static int head_append(struct libwebsocket *wsi, const uint8_t *data, size_t len)
{
	if (!wsi->head_buf) {
		wsi->head_buf = malloc(LWS_MAX_HTTP_HEAD);
		if (!wsi->head_buf)
			return -1;
	}
	size_t room = LWS_MAX_HTTP_HEAD - wsi->head_len;
	if (len > room)
		len = room;
	memcpy(wsi->head_buf + wsi->head_len, data, len);
	wsi->head_len += len;
	return 0;
}

/* Requests one read (or one turn of the loop) answers at most; pipelined
 * requests beyond them wait for the next turn, so other connections are served
 * in between. */
#define LWS_HTTP_PIPELINE_BATCH 32

/* Must the next pipelined request wait?  Yes while a file goes out, while the
 * answers so far are not all taken by the socket (a client that pipelines and
 * never reads gets no more answers queued), or while the user paused reception. */
static int http_must_wait(const struct libwebsocket *wsi)
{
	return wsi->file_fd >= 0 || wsi->out.len > wsi->out.off || wsi->rx_paused;
}

/*
 * Bytes arrived while reading a request head.  The head is parsed in place
 * when it arrives in one read (the usual case) and gathered otherwise.
 * Bytes after the head (a client may send frames at once) are parsed as frames.
 * Pipelined requests are answered in a loop (never by recursion), at most
 * LWS_HTTP_PIPELINE_BATCH now: the rest are kept as when reception is paused
 * and parsed by the next turn of the loop, or once the answers so far are out.
 */
static void http_receive(struct libwebsocket *wsi, uint8_t *data, size_t len)
{
	int answered = 0;
next_request:;
	struct lws_http_head req;
	char *head = (char *)data;
	size_t have = len;

	if (wsi->head_len) {
		size_t before = wsi->head_len;
		if (head_append(wsi, data, len))
			goto oom;
		head = wsi->head_buf;
		have = wsi->head_len;
		/* what did not fit stays counted in len - (head_len - before) */
		len -= wsi->head_len - before;
		data += wsi->head_len - before;
	} else {
		data += len;
		len = 0;
	}

	int n = lws_http_parse_request(head, have, &req);
	if (n == LWS_HTTP_MALFORMED) {
		lws_http_refuse(wsi, 400, "The request is not valid HTTP/1.1.", NULL);
		return;
	}
	if (n > LWS_MAX_HTTP_HEAD || (n == LWS_HTTP_INCOMPLETE && have >= LWS_MAX_HTTP_HEAD)) {
		lws_http_refuse(wsi, 431, "The request head is too large.", NULL);
		return;
	}
	if (n == LWS_HTTP_INCOMPLETE) {
		if (!wsi->head_len && head_append(wsi, (uint8_t *)head, have))
			goto oom;
		return;
	}

	/* the bytes after the head: in the gathered buffer, or in data */
	size_t extra = have - (size_t)n;
	uint8_t *after = (uint8_t *)head + n;
	if (wsi->head_len) {
		/* move them (and anything past the gather buffer) into the
		 * receive buffer so frames are parsed with room before them */
		uint8_t *rx = wsi->context->rx + LWS_SEND_BUFFER_PRE_PADDING;
		if (extra + len > LWS_RX_BUFFER_SIZE)
			len = 0; /* cannot happen: head_buf <= rx size */
		memmove(rx + extra, data, len);
		memcpy(rx, after, extra);
		after = rx;
		extra += len;
	}

	if (lws_handshake_request(wsi, head, (size_t)n, &req))
		return;

	free(wsi->head_buf);
	wsi->head_buf = NULL;
	wsi->head_len = 0;

	if (extra && wsi->state == LWS_STATE_WS)
		lws_conn_ws_input(wsi, after, extra);
	else if (extra && wsi->state == LWS_STATE_HTTP_HEAD && http_must_wait(wsi))
		stash_rx(wsi, after, extra); /* the next requests wait for the answer */
	else if (extra && wsi->state == LWS_STATE_HTTP_HEAD &&
		 ++answered >= LWS_HTTP_PIPELINE_BATCH) {
		stash_rx(wsi, after, extra); /* others' turn: parsed by the next one */
		wsi->context->rx_resumes++;
		lws_timer_update(wsi->context);
	} else if (extra && wsi->state == LWS_STATE_HTTP_HEAD) {
		data = after; /* a pipelined request */
		len = extra;
		goto next_request;
	}
	return;
oom:
	lwsl_err("out of memory reading a request head\n");
	lws_conn_kill(wsi);
}

/* Parse the requests that arrived while earlier answers were going out, or
 * that waited for their turn. */
void lws_conn_http_continue(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	if (wsi->state != LWS_STATE_HTTP_HEAD || http_must_wait(wsi))
		return;
	size_t len;
	uint8_t *block, *data = take_stash(wsi, &len, &block);
	if (!data)
		return;
	context->corked = wsi;
	http_receive(wsi, data, len);
	lws_out_uncork(context);
	free(block);
	lws_conn_update_events(wsi);
}

/* ---- TLS ---- */

void lws_conn_tls_step(struct libwebsocket *wsi)
{
	char why[256];
	int n = lws_tls_handshake(wsi, why, sizeof why);
	if (n < 0) {
		if (wsi->is_client)
			lws_client_fail(wsi, why);
		else
			lws_conn_kill(wsi); /* plain HTTP or garbage on a TLS port */
		return;
	}
	lws_conn_update_events(wsi);
	if (!n)
		return;
	if (wsi->is_client)
		lws_client_send_request(wsi);
	else
		lws_conn_readable(wsi); /* the request may have come with the handshake */
}

/* ---- readiness ---- */

static void peer_closed(struct libwebsocket *wsi)
{
	wsi->peer_gone = 1;
	if (wsi->state < LWS_STATE_HTTP_HEAD) {
		lws_client_fail(wsi, "the server closed the connection during the handshake");
		return;
	}
	if (wsi->state == LWS_STATE_DRAINING)
		lws_conn_kill(wsi);
	else
		lws_conn_close(wsi, -1, NULL);
}

void lws_conn_readable(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	uint8_t *buf = context->rx + LWS_SEND_BUFFER_PRE_PADDING;

	if (wsi->state == LWS_STATE_CLIENT_CONNECTING) {
		lws_client_connected(wsi); /* an error shows here as POLLERR */
		return;
	}
	if (wsi->tls_handshaking) {
		lws_conn_tls_step(wsi);
		return;
	}
	/* through the connection's read layer (deflate-stream), else the
	 * socket (through TLS when the connection has it) */
	ssize_t n = wsi->rx_layer ? wsi->rx_layer->read(wsi, buf, LWS_RX_BUFFER_SIZE)
				  : lws_read_socket(wsi, buf, LWS_RX_BUFFER_SIZE);
	if (wsi->rx_more)
		context->rx_resumes++; /* the read layer holds more: read again soon */
	if (n == LWS_READ_AGAIN)
		return;
	if (n == LWS_READ_BAD_DATA) {
		lws_conn_close(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
			       "deflate-stream: bad compressed data");
		return;
	}
	if (n < 0) {
		lwsl_info("fd %d: read: %s\n", wsi->fd, wsi->ssl ? "TLS error" : strerror(errno));
		peer_closed(wsi);
		return;
	}
	if (n == 0) {
		peer_closed(wsi);
		return;
	}

	/* writes to this connection from its callbacks are gathered and sent
	 * with one syscall below */
	context->corked = wsi;
	switch (wsi->state) {
	case LWS_STATE_CLIENT_AWAIT_101:
		lws_client_readable(wsi, buf, (size_t)n);
		break;
	case LWS_STATE_HTTP_HEAD:
		if (wsi->file_fd >= 0 || wsi->rx_stash)
			stash_rx(wsi, buf, (size_t)n); /* behind the file or earlier bytes */
		else
			http_receive(wsi, buf, (size_t)n);
		break;
	case LWS_STATE_WS:
	case LWS_STATE_WS_CLOSING:
		if (wsi->rx_stash)
			stash_rx(wsi, buf, (size_t)n); /* order: behind the kept bytes */
		else
			lws_conn_ws_receive(wsi, buf, (size_t)n);
		break;
	default:
		break; /* draining: the peer's last bytes are dropped */
	}
	lws_out_uncork(context);
}

void lws_conn_writable(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;

	if (wsi->state == LWS_STATE_CLIENT_CONNECTING) {
		lws_client_connected(wsi);
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
			peer_closed(wsi);
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
