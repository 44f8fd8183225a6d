/*
 * input.c - the read path, the mirror of output.c.  A connection's ready
 * handler (conn.c) calls lws_conn_readable: bytes come through its read
 * layer (wsi->rx_layer, else the socket through TLS) into the context's
 * receive buffer and go, by state, to the HTTP head reader (requests, one
 * pipelined request after another), the client's handshake answer
 * (context->client_ops) or the frame engine, whose events become callbacks:
 * data through the extensions (ext_rx.c) or straight to lws_conn_deliver
 * (deliver.c), control frames answered here.
 *
 * Invariant: bytes are parsed in the order they arrived and none is parsed
 * twice or dropped while the connection lives.  What cannot be parsed now
 * (the user paused reception, a file is going out, an extension suspended
 * its output) is stashed in wsi->rx_stash, reading is turned off until it
 * is parsed (lws_conn_update_events), and lws_conn_resume_rx parses it
 * first, on a later turn of the loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"

/* ---- receiving WebSocket frames ---- */

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
	if (!wsi->peer_gone) {
		lws_send_control(wsi, LWS_OP_CLOSE, payload, len >= 2 ? 2 : 0);
		wsi->close_status_sent = len >= 2 ? (uint16_t)(payload[0] << 8 | payload[1]) : 0;
	}
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
			wsi->context->client_ops->fail(wsi, why);
		else
			lws_conn_kill(wsi); /* plain HTTP or garbage on a TLS port */
		return;
	}
	lws_conn_update_events(wsi);
	if (!n)
		return;
	if (wsi->is_client)
		wsi->context->client_ops->send_request(wsi);
	else
		lws_conn_readable(wsi); /* the request may have come with the handshake */
}

/* ---- readiness ---- */

void lws_conn_peer_closed(struct libwebsocket *wsi)
{
	wsi->peer_gone = 1;
	if (wsi->state < LWS_STATE_HTTP_HEAD) {
		wsi->context->client_ops->fail(wsi, "the server closed the connection during the handshake");
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
		context->client_ops->connected(wsi); /* an error shows here as POLLERR */
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
		lws_conn_peer_closed(wsi);
		return;
	}
	if (n == 0) {
		lws_conn_peer_closed(wsi);
		return;
	}

	/* writes to this connection from its callbacks are gathered and sent
	 * with one syscall below */
	context->corked = wsi;
	switch (wsi->state) {
	case LWS_STATE_CLIENT_AWAIT_101:
		context->client_ops->readable(wsi, buf, (size_t)n);
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
