/*
 * output.c - the write path.  A frame header is written in place in the
 * caller's pre-padding; bytes go out with one sendmsg() where possible.
 * While a connection's input is dispatched its writes are gathered (corked)
 * and sent together when the dispatch ends.  What the socket does not take is
 * queued in order and sent when it becomes writable; nothing is dropped and
 * nothing overtakes queued bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "private.h"

static size_t queued(const struct libwebsocket *wsi)
{
	return wsi->out.len - wsi->out.off;
}

/* Queue len more bytes on wsi; NULL, or why they may not be queued. */
static const char *outq_append(struct libwebsocket *wsi, const uint8_t *data, size_t len)
{
	struct lws_outq *q = &wsi->out;
	if (!len)
		return NULL;
	const char *refused = lws_limits_output_refused(wsi, len);
	if (refused)
		return refused;
	size_t before = queued(wsi);
	if (q->len + len > q->cap && q->off) {
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + len > q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 4096;
		while (cap < q->len + len)
			cap *= 2;
		uint8_t *buf = realloc(q->buf, cap);
		if (!buf)
			return "out of memory";
		q->buf = buf;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, data, len);
	q->len += len;
	lws_limits_output(wsi, before);
	return NULL;
}

static void outq_reset(struct libwebsocket *wsi)
{
	/* an idle connection keeps no output buffer */
	size_t before = queued(wsi);
	free(wsi->out.buf);
	memset(&wsi->out, 0, sizeof wsi->out);
	lws_limits_output(wsi, before);
}

void lws_out_discard(struct libwebsocket *wsi)
{
	outq_reset(wsi);
}

/*
 * Output that can neither go out nor be queued would leave a torn frame on
 * the wire: the connection is cut instead (the loop sees the hangup and runs
 * CLOSED), and nothing more is written to it.
 */
static void abort_output(struct libwebsocket *wsi, const char *why)
{
	lwsl_err("fd %d: %s: closing the connection\n", wsi->fd, why);
	wsi->peer_gone = 1;
	shutdown(wsi->fd, SHUT_RDWR);
}

/* sendmsg without SIGPIPE; returns bytes sent, 0 when the socket is full,
 * -1 on a socket error */
static ssize_t send_iov(int fd, struct iovec *iov, int count)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
	for (;;) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -1;
	}
}

/* TLS has no gather-write: the pieces go one after the other */
static ssize_t send_iov_tls(struct libwebsocket *wsi, struct iovec *iov, int count)
{
	size_t total = 0;
	for (int i = 0; i < count; i++) {
		ssize_t n = lws_tls_write(wsi, iov[i].iov_base, iov[i].iov_len);
		if (n < 0)
			return total ? (ssize_t)total : -1;
		total += (size_t)n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return (ssize_t)total;
}

/* Send iov now; queue whatever the socket did not take. */
static int send_or_queue(struct libwebsocket *wsi, struct iovec *iov, int count)
{
	ssize_t sent = wsi->ssl ? send_iov_tls(wsi, iov, count) : send_iov(wsi->fd, iov, count);
	if (sent < 0) {
		lwsl_info("fd %d: send: %s\n", wsi->fd, strerror(errno));
		wsi->peer_gone = 1; /* epoll reports the error; the read side closes */
		return -1;
	}
	size_t skip = (size_t)sent;
	for (int i = 0; i < count; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		const char *refused = outq_append(wsi, (const uint8_t *)iov[i].iov_base + skip,
						  iov[i].iov_len - skip);
		if (refused) {
			abort_output(wsi, refused);
			return -1;
		}
		skip = 0;
	}
	if (queued(wsi))
		lws_conn_update_events(wsi);
	return 0;
}

/* Bytes as they go on the wire: sent, gathered (corked) or queued. */
static int send_wire(struct libwebsocket *wsi, const uint8_t *a, size_t alen,
		     const uint8_t *b, size_t blen)
{
	struct libwebsocket_context *context = wsi->context;

	if (queued(wsi)) {
		/* choked: everything goes behind what is waiting, all or nothing */
		const char *refused = lws_limits_output_refused(wsi, alen + blen);
		if (!refused)
			refused = outq_append(wsi, a, alen);
		if (!refused)
			refused = outq_append(wsi, b, blen);
		if (refused) {
			abort_output(wsi, refused);
			return -1;
		}
		return 0;
	}

	struct iovec iov[3];
	int count = 0;
	if (context->corked == wsi) {
		if (context->cork_len + alen + blen <= LWS_CORK_SIZE) {
			if (alen)
				memcpy(context->cork + context->cork_len, a, alen);
			context->cork_len += alen;
			if (blen)
				memcpy(context->cork + context->cork_len, b, blen);
			context->cork_len += blen;
			return 0;
		}
		/* too big to gather: send the gathered bytes and this together */
		if (context->cork_len)
			iov[count++] = (struct iovec){context->cork, context->cork_len};
		context->cork_len = 0;
	}
	if (alen)
		iov[count++] = (struct iovec){(void *)a, alen};
	if (blen)
		iov[count++] = (struct iovec){(void *)b, blen};
	return count ? send_or_queue(wsi, iov, count) : 0;
}

int lws_out_send(struct libwebsocket *wsi, const uint8_t *a, size_t alen,
		 const uint8_t *b, size_t blen)
{
	if (wsi->state == LWS_STATE_DEAD || wsi->peer_gone)
		return -1;
	if (lws_ds_active(wsi)) {
		/* deflate-stream: what goes out is the compressed stream; the
		 * writes of a dispatch (corked) are flushed once, at uncork */
		const uint8_t *z;
		size_t zlen;
		int batch = wsi->context->corked == wsi;
		if (lws_ds_deflate(wsi, a, alen, b, blen, !batch, &z, &zlen))
			return -1;
		return zlen ? send_wire(wsi, z, zlen, NULL, 0) : 0;
	}
	return send_wire(wsi, a, alen, b, blen);
}

void lws_out_uncork(struct libwebsocket_context *context)
{
	struct libwebsocket *wsi = context->corked;
	if (wsi && lws_ds_unflushed(wsi) && wsi->state != LWS_STATE_DEAD && !wsi->peer_gone) {
		/* deflate-stream: the dispatch's writes, flushed once */
		const uint8_t *z;
		size_t zlen;
		if (lws_ds_deflate(wsi, NULL, 0, NULL, 0, 1, &z, &zlen))
			abort_output(wsi, "deflate-stream: cannot compress");
		else if (zlen)
			send_wire(wsi, z, zlen, NULL, 0);
	}
	if (!wsi)
		return;
	if (context->cork_len) {
		/* still corked meanwhile: the limits count it as wsi's own output */
		struct iovec iov = {context->cork, context->cork_len};
		context->cork_len = 0;
		if (queued(wsi)) {
			const char *refused = outq_append(wsi, iov.iov_base, iov.iov_len);
			if (refused)
				abort_output(wsi, refused);
		} else if (!wsi->peer_gone)
			send_or_queue(wsi, &iov, 1);
	}
	context->corked = NULL;
	if (wsi->state == LWS_STATE_DRAINING && !queued(wsi))
		lws_conn_shut_write(wsi);
	lws_conn_update_events(wsi);
}

int lws_out_drain(struct libwebsocket *wsi)
{
	size_t before = queued(wsi);
	ssize_t n = 0;
	while (queued(wsi)) {
		struct iovec iov = {wsi->out.buf + wsi->out.off, queued(wsi)};
		n = wsi->ssl ? send_iov_tls(wsi, &iov, 1) : send_iov(wsi->fd, &iov, 1);
		if (n <= 0)
			break;
		wsi->out.off += (size_t)n;
	}
	lws_limits_output(wsi, before);
	if (n < 0)
		return -1;
	if (!queued(wsi))
		outq_reset(wsi);
	lws_conn_update_events(wsi);
	return 0;
}

int lws_send_pipe_choked(struct libwebsocket *wsi)
{
	return queued(wsi) > 0;
}

/*
 * Header, then payload masked with mask (a client's frame), leaving the
 * caller's payload untouched: the masked copy is made on the stack when small.
 */
static int send_masked(struct libwebsocket *wsi, const uint8_t *hdr, size_t hlen,
		       const uint8_t *payload, size_t len, const uint8_t mask[4])
{
	uint8_t small[4096];
	uint8_t *copy = len <= sizeof small ? small : malloc(len);
	if (!copy)
		return -1;
	if (len)
		lws_mask_copy(copy, payload, len, mask, 0);
	int rc = lws_out_send(wsi, hdr, hlen, len ? copy : NULL, len);
	if (copy != small)
		free(copy);
	return rc;
}

int lws_send_control(struct libwebsocket *wsi, int opcode, const uint8_t *payload,
		     size_t len)
{
	uint8_t hdr[LWS_MAX_FRAME_HEADER], mask[4];
	if (!wsi->is_client)
		return lws_out_send(wsi, hdr, lws_frame_header(hdr, opcode, 1, 0, len, NULL),
				    payload, len);
	lws_mask_key(wsi->context, mask);
	size_t hlen = lws_frame_header(hdr, opcode, 1, 0, len, mask);
	return send_masked(wsi, hdr, hlen, payload, len, mask);
}

static const uint8_t write_opcodes[] = {
	[LWS_WRITE_TEXT] = LWS_OP_TEXT,
	[LWS_WRITE_BINARY] = LWS_OP_BINARY,
	[LWS_WRITE_CONTINUATION] = LWS_OP_CONTINUATION,
	[LWS_WRITE_CLOSE] = LWS_OP_CLOSE,
	[LWS_WRITE_PING] = LWS_OP_PING,
	[LWS_WRITE_PONG] = LWS_OP_PONG,
};

/* Check a write against the message state; returns the opcode or -1. */
static int frame_opcode(struct libwebsocket *wsi, int kind, int fin, size_t len)
{
	if (kind < 0 || kind > LWS_WRITE_PONG || kind == LWS_WRITE_HTTP) {
		lwsl_err("libwebsocket_write: unknown write protocol %d\n", kind);
		return -1;
	}
	int opcode = write_opcodes[kind];
	if (opcode & 0x8) {
		if (len > LWS_MAX_CONTROL_PAYLOAD || !fin) {
			lwsl_err("libwebsocket_write: control frames carry at most 125 "
				 "bytes and cannot be fragmented\n");
			return -1;
		}
		return opcode;
	}
	if (opcode == LWS_OP_CONTINUATION && !wsi->tx_in_message) {
		lwsl_err("libwebsocket_write: CONTINUATION without a message begun "
			 "with LWS_WRITE_NO_FIN\n");
		return -1;
	}
	if (opcode != LWS_OP_CONTINUATION && wsi->tx_in_message) {
		lwsl_err("libwebsocket_write: the previous message is unfinished; "
			 "continue it with LWS_WRITE_CONTINUATION\n");
		return -1;
	}
	return opcode;
}

/*
 * Of an answer to HEAD, the bytes up to the blank line that ends its head:
 * the body the callback wrote as for GET is dropped (RFC 9110 9.3.2), or a
 * keep-alive client would read it as the next answer.  http_head_scan: 0 in
 * a line, 1 after its LF, 2 after LF CR, 3 the head is complete.
 */
static size_t head_only(struct libwebsocket *wsi, const uint8_t *buf, size_t len)
{
	uint8_t s = wsi->http_head_scan;
	size_t i = 0;
	for (; i < len && s < 3; i++) {
		if (buf[i] == '\n')
			s = s ? 3 : 1;
		else
			s = buf[i] == '\r' && s == 1 ? 2 : 0;
	}
	wsi->http_head_scan = s;
	return i;
}

static int write_http(struct libwebsocket *wsi, const uint8_t *buf, size_t len)
{
	if (wsi->state != LWS_STATE_HTTP_HEAD) {
		lwsl_err("libwebsocket_write: LWS_WRITE_HTTP on a connection that is "
			 "not answering an HTTP request\n");
		return -1;
	}
	wsi->http_replied = 1;
	if (wsi->http_head_only)
		len = head_only(wsi, buf, len);
	return lws_out_send(wsi, buf, len, NULL, 0);
}

/*
 * One frame out.  in_place: buf has LWS_SEND_BUFFER_PRE_PADDING bytes before
 * it for the header, so header and payload go out as one piece.
 */
static int write_frame(struct libwebsocket *wsi, uint8_t *buf, size_t len,
		       enum libwebsocket_write_protocol protocol, int in_place)
{
	int kind = protocol & ~(LWS_WRITE_NO_FIN | LWS_WRITE_CLIENT_IGNORE_XOR_MASK);
	int fin = !(protocol & LWS_WRITE_NO_FIN);

	if (kind == LWS_WRITE_HTTP)
		return write_http(wsi, buf, len) ? -1 : (int)(len > INT_MAX ? INT_MAX : len);
	if (wsi->state != LWS_STATE_WS || wsi->closing)
		return -1;
	int opcode = frame_opcode(wsi, kind, fin, len);
	if (opcode < 0)
		return -1;
	if (opcode == LWS_OP_CLOSE) /* read before the mask is applied in place */
		wsi->close_status_sent = len >= 2 ? (uint16_t)(buf[0] << 8 | buf[1]) : 0;

	/* extensions (e.g. permessage-deflate) may replace the payload */
	uint8_t rsv = 0;
	size_t wire_len = len;
	uint8_t *payload = buf;
	if (wsi->num_ext && !(opcode & 0x8)) {
		if (lws_ext_tx(wsi, opcode, fin, &payload, &wire_len, &rsv))
			return -1;
		if (payload != buf)
			in_place = 0;
	}

	/* a client masks every frame with a fresh mask (RFC 6455 5.3) */
	uint8_t mask[4];
	int masked = wsi->is_client && !(protocol & LWS_WRITE_CLIENT_IGNORE_XOR_MASK);
	if (masked)
		lws_mask_key(wsi->context, mask);

	int rc;
	if (in_place) {
		/* the classic contract: header and mask applied in the caller's buffer */
		size_t hlen = lws_frame_header_len(wire_len, masked);
		lws_frame_header(buf - hlen, opcode, fin, rsv, wire_len, masked ? mask : NULL);
		if (masked)
			lws_mask(buf, wire_len, mask, 0);
		rc = lws_out_send(wsi, buf - hlen, hlen + wire_len, NULL, 0);
	} else {
		uint8_t hdr[LWS_MAX_FRAME_HEADER];
		size_t hlen =
			lws_frame_header(hdr, opcode, fin, rsv, wire_len, masked ? mask : NULL);
		rc = masked ? send_masked(wsi, hdr, hlen, payload, wire_len, mask)
			    : lws_out_send(wsi, hdr, hlen, payload, wire_len);
	}
	if (rc)
		return -1;

	if (!(opcode & 0x8))
		wsi->tx_in_message = !fin;
	if (opcode == LWS_OP_CLOSE) {
		/* the peer's close frame (or a timeout) finishes it */
		wsi->close_sent = 1;
		wsi->state = LWS_STATE_WS_CLOSING;
		lws_conn_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, LWS_CLOSE_LINGER_SECS);
	}
	return (int)(len > INT_MAX ? INT_MAX : len);
}

int libwebsocket_write(struct libwebsocket *wsi, unsigned char *buf, size_t len,
		       enum libwebsocket_write_protocol protocol)
{
	return write_frame(wsi, buf, len, protocol, 1);
}

int lws_write_unpadded(struct libwebsocket *wsi, const unsigned char *buf, size_t len,
		       enum libwebsocket_write_protocol protocol)
{
	return write_frame(wsi, (uint8_t *)buf, len, protocol, 0);
}
