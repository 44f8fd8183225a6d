/*
 * wsi.c - a connection's basics that every layer above uses and that call no
 * layer of the connection back: its timeout, what epoll watches on it (and
 * the output limit that turns reading off), its user space and the getters
 * of the public API.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "private.h"

void lws_conn_set_timeout(struct libwebsocket *wsi, enum pending_timeout reason, int secs)
{
	struct libwebsocket_context *context = wsi->context;
	int was_armed = wsi->timeout_at != 0;

	if (reason == NO_PENDING_TIMEOUT || secs <= 0) {
		wsi->timeout_at = 0;
		wsi->timeout_reason = NO_PENDING_TIMEOUT;
	} else {
		wsi->timeout_at = lws_now_ms() + (int64_t)secs * 1000;
		wsi->timeout_reason = reason;
	}
	context->timeouts_armed += (wsi->timeout_at != 0) - was_armed;
	lws_timer_update(context); /* an external poll loop must be woken for it */
}

void libwebsocket_set_timeout(struct libwebsocket *wsi, enum pending_timeout reason,
			      int secs)
{
	if (wsi->state >= LWS_STATE_DRAINING)
		return; /* closing has its own timeout */
	lws_conn_set_timeout(wsi, reason, secs);
}

int lws_limits_choked(const struct libwebsocket *wsi, size_t queued_bytes)
{
	const struct libwebsocket_context *context = wsi->context;
	size_t pause = (size_t)context->limits[LWS_LIMIT_OUTPUT_PAUSE];
	if (wsi->is_client || !queued_bytes)
		return 0;
	/* a client is never paused: two of ours could deadlock on a big message */
	return (pause && queued_bytes >= pause) || context->out_over;
}

/* What epoll should watch on wsi now. */
static uint32_t wanted_events(const struct libwebsocket *wsi)
{
	if (wsi->state == LWS_STATE_CLIENT_CONNECTING)
		return EPOLLOUT;
	if (wsi->tls_handshaking)
		return wsi->tls_want_write ? EPOLLOUT : EPOLLIN;

	size_t queued = wsi->out.len - wsi->out.off;
	int sending_file = wsi->file_fd >= 0;
	/* a server stops reading a peer that sends without reading our answers
	 * (limits.c) */
	int choked = lws_limits_choked(wsi, queued);
	uint32_t want = 0;
	/* not reading either while the user paused us, a file goes out (the
	 * next request waits for it) or bytes already read wait to be parsed */
	if (!choked && !wsi->rx_paused && !sending_file && !wsi->rx_stash)
		want |= EPOLLIN;
	if (queued || wsi->want_writable || sending_file || wsi->tls_want_write)
		want |= EPOLLOUT;
	return want;
}

void lws_conn_update_events(struct libwebsocket *wsi)
{
	if (wsi->state == LWS_STATE_DEAD || wsi->fd < 0)
		return;
	uint32_t want = wanted_events(wsi);
	if (want == wsi->epoll_events)
		return;
	uint32_t was = wsi->epoll_events;
	wsi->epoll_events = want;
	lws_poll_change(wsi->context, wsi->fd, wsi, was, want);
}

int libwebsocket_get_socket_fd(struct libwebsocket *wsi)
{
	return wsi->fd;
}

const struct libwebsocket_protocols *libwebsockets_get_protocol(struct libwebsocket *wsi)
{
	return wsi->protocol;
}

void *libwebsocket_ensure_user_space(struct libwebsocket *wsi)
{
	if (!wsi->user_space && wsi->protocol->per_session_data_size) {
		wsi->user_space = calloc(1, wsi->protocol->per_session_data_size);
		wsi->user_space_external = 0;
	}
	return wsi->user_space;
}

int libwebsocket_is_final_fragment(struct libwebsocket *wsi)
{
	return wsi->rx_final;
}

unsigned char libwebsocket_get_reserved_bits(struct libwebsocket *wsi)
{
	/* in place, as the classic library kept them: RSV1 = 0x40, RSV2 = 0x20, RSV3 = 0x10 */
	return wsi->parser.rsv;
}

int lws_frame_is_binary(struct libwebsocket *wsi)
{
	return wsi->parser.msg_opcode == LWS_OP_BINARY;
}

int lws_close_status_sent(const struct libwebsocket *wsi)
{
	if (!wsi) {
		errno = EINVAL;
		return -1;
	}
	return wsi->close_status_sent;
}

size_t libwebsockets_remaining_packet_payload(struct libwebsocket *wsi)
{
	return (size_t)(wsi->parser.payload_len - wsi->parser.payload_done);
}

/* The handshake succeeded: frames from now on. */
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

/* Stop sending a file (libwebsockets_serve_http_file): close it. */
void lws_http_file_abort(struct libwebsocket *wsi)
{
	if (wsi->file_fd >= 0)
		close(wsi->file_fd);
	wsi->file_fd = -1;
	wsi->file_left = 0;
}
