/*
 * keepalive.c - the once-a-second tick of the limits (limits.c holds their
 * values and the output accounting): a connection whose peer took none of
 * its queued output for LWS_LIMIT_OUTPUT_STALL_SECS is cut, and a quiet one
 * gets a keepalive ping (LWS_LIMIT_KEEPALIVE_IDLE_SECS) and is closed when
 * the pong does not come (LWS_LIMIT_KEEPALIVE_PONG_SECS).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "private.h"

static size_t queued(const struct libwebsocket *wsi)
{
	return wsi->out.len - wsi->out.off;
}

/* The peer took none of the queued output for too long: cut it. */
static void stalled(struct libwebsocket *wsi, int64_t now)
{
	lwsl_warn("fd %d: the peer took none of %zu queued bytes for %lld s "
		  "(LWS_LIMIT_OUTPUT_STALL_SECS): closing\n",
		  wsi->fd, queued(wsi), (long long)((now - wsi->out_since) / 1000));
	wsi->peer_gone = 1; /* no close frame: it would wait behind the rest */
	shutdown(wsi->fd, SHUT_RDWR);
	if (wsi->state < LWS_STATE_DRAINING)
		lws_conn_close(wsi, -1, NULL);
	else
		lws_conn_kill(wsi);
}

static void keepalive(struct libwebsocket *wsi, int64_t now, int64_t idle_ms, int64_t pong_ms)
{
	static const uint8_t payload[] = "keepalive";
	/* not read meanwhile (the user paused it, or its output is choked):
	 * the peer's silence tells nothing */
	int not_reading = wsi->rx_paused || wsi->rx_stash || !(wsi->epoll_events & EPOLLIN);
	if (wsi->rx_frame || !wsi->quiet_since || not_reading) {
		wsi->rx_frame = 0;
		wsi->quiet_since = now;
		wsi->ping_at = 0;
		return;
	}
	if (wsi->ping_at) {
		if (now - wsi->ping_at < pong_ms)
			return;
		lwsl_info("fd %d: no answer to the keepalive ping: closing\n", wsi->fd);
		lws_conn_close(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "keepalive timeout");
		if (wsi->state == LWS_STATE_DRAINING)
			lws_conn_kill(wsi); /* the peer does not answer: no lingering */
		return;
	}
	if (now - wsi->quiet_since >= idle_ms) {
		wsi->ping_at = now;
		lws_send_control(wsi, LWS_OP_PING, payload, sizeof payload - 1);
	}
}

void lws_limits_tick(struct libwebsocket_context *context, int64_t now)
{
	int64_t stall_ms = (int64_t)context->limits[LWS_LIMIT_OUTPUT_STALL_SECS] * 1000;
	int64_t idle_ms = (int64_t)context->limits[LWS_LIMIT_KEEPALIVE_IDLE_SECS] * 1000;
	int64_t pong_ms = (int64_t)context->limits[LWS_LIMIT_KEEPALIVE_PONG_SECS] * 1000;
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (stall_ms && queued(wsi) && wsi->out_since && now - wsi->out_since >= stall_ms &&
		    !wsi->peer_gone) {
			stalled(wsi, now);
			continue;
		}
		if (idle_ms && wsi->state == LWS_STATE_WS && !wsi->closing)
			keepalive(wsi, now, idle_ms, pong_ms);
	}
}
