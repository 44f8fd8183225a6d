/*
 * limits.c - what bounds a context as a whole (enum lws_limit): connections
 * accepted at once, output queued on all connections, output a peer leaves
 * unread, and the optional keepalive of quiet connections.  The once-a-second
 * tick that acts on stalled and quiet connections (closing them, pinging)
 * is keepalive.c, above the write path that calls the accounting here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "private.h"

/* the largest number of seconds a limit takes (keeps ms arithmetic far from
 * overflow) */
#define LWS_LIMIT_MAX_SECS 1000000000L

void lws_limits_init(struct libwebsocket_context *context)
{
	long max_conns = 0; /* no descriptor limit known: none */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t n = rl.rlim_cur > LWS_FD_RESERVE ? rl.rlim_cur - LWS_FD_RESERVE : 1;
		max_conns = n > INT32_MAX ? INT32_MAX : (long)n;
	}
	context->limits[LWS_LIMIT_MAX_CONNECTIONS] = max_conns;
	context->limits[LWS_LIMIT_OUTPUT_TOTAL] = (long)LWS_DEFAULT_OUTPUT_TOTAL;
	context->limits[LWS_LIMIT_OUTPUT_PAUSE] = (long)LWS_RX_PAUSE_QUEUED;
	context->limits[LWS_LIMIT_OUTPUT_MAX] = (long)LWS_MAX_QUEUED_OUTPUT;
	context->limits[LWS_LIMIT_OUTPUT_STALL_SECS] = LWS_DEFAULT_OUTPUT_STALL_SECS;
	context->limits[LWS_LIMIT_KEEPALIVE_IDLE_SECS] = 0;
	context->limits[LWS_LIMIT_KEEPALIVE_PONG_SECS] = LWS_DEFAULT_KEEPALIVE_PONG_SECS;
}

static size_t queued(const struct libwebsocket *wsi)
{
	return wsi->out.len - wsi->out.off;
}

/* Every server connection with queued output: reading on or off again. */
static void update_choked(struct libwebsocket_context *context)
{
	for (struct libwebsocket *wsi = context->conns; wsi; wsi = wsi->next)
		if (!wsi->is_client && queued(wsi))
			lws_conn_update_events(wsi);
}

/* Over the total from the limit on, under again at 3/4 of it. */
static void check_total(struct libwebsocket_context *context)
{
	size_t total = (size_t)context->limits[LWS_LIMIT_OUTPUT_TOTAL];
	uint8_t over = context->out_over;
	if (!total)
		over = 0;
	else if (!over && context->out_total >= total)
		over = 1;
	else if (over && context->out_total <= total / 4 * 3)
		over = 0;
	if (over == context->out_over)
		return;
	context->out_over = over;
	if (over)
		lwsl_warn("%zu bytes of output queued (limit %zu): not reading the "
			  "connections that have output waiting\n",
			  context->out_total, total);
	else
		lwsl_info("queued output down to %zu bytes: reading again\n", context->out_total);
	update_choked(context);
}

void lws_limits_output(struct libwebsocket *wsi, size_t before)
{
	struct libwebsocket_context *context = wsi->context;
	size_t after = queued(wsi);
	if (after == before)
		return;
	context->out_total += after - before; /* modular: a decrease wraps back */
	if (!before) {
		context->out_conns++;
		wsi->out_since = lws_now_ms();
	} else if (!after) {
		context->out_conns--;
		wsi->out_since = 0;
	} else if (after < before) {
		wsi->out_since = lws_now_ms(); /* the peer took some */
	}
	check_total(context);
}

const char *lws_limits_output_refused(struct libwebsocket *wsi, size_t len)
{
	struct libwebsocket_context *context = wsi->context;
	size_t have = queued(wsi);
	size_t max = (size_t)context->limits[LWS_LIMIT_OUTPUT_MAX];
	if (max && (len > max || have > max - len))
		return "output queue limit (LWS_LIMIT_OUTPUT_MAX) reached";
	if (context->out_over) {
		/* its share of the total: a connection hoarding more grows no more.
		 * What it gets in answer to its own input is bounded by not reading
		 * it: only past twice the limit does that count too. */
		size_t total = (size_t)context->limits[LWS_LIMIT_OUTPUT_TOTAL];
		int own = context->corked == wsi;
		int conns = context->out_conns + !have;
		size_t share = total / (size_t)conns;
		if ((!own || context->out_total / 2 >= total) && (len > share || have > share - len))
			return "the context's output limit (LWS_LIMIT_OUTPUT_TOTAL) is "
			       "reached and this connection holds more than its share";
	}
	return NULL;
}

int lws_limits_refuse_accept(struct libwebsocket_context *context, int fd, int tls)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				   "Content-Type: text/plain\r\n"
				   "Content-Length: 22\r\n"
				   "Connection: close\r\n"
				   "Retry-After: 5\r\n"
				   "\r\n"
				   "Too many connections.\n";
	long max = context->limits[LWS_LIMIT_MAX_CONNECTIONS];
	if (!max || context->accepted < max) {
		context->conns_full = 0;
		return 0;
	}
	if (!context->conns_full)
		lwsl_warn("%d connections open (LWS_LIMIT_MAX_CONNECTIONS): refusing new "
			  "ones\n",
			  context->accepted);
	context->conns_full = 1;
	if (!tls) {
		/* best effort: the socket is new and empty, it takes this at once */
		ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
		shutdown(fd, SHUT_WR);
	}
	close(fd);
	return 1;
}

int lws_context_set_limit(struct libwebsocket_context *context, enum lws_limit limit,
			  long value)
{
	if (!context || (unsigned)limit >= LWS_LIMIT_COUNT || value < 0) {
		errno = EINVAL;
		return -1;
	}
	switch (limit) {
	case LWS_LIMIT_MAX_CONNECTIONS:
		if (value > INT32_MAX) {
			errno = EINVAL;
			return -1;
		}
		break;
	case LWS_LIMIT_OUTPUT_STALL_SECS:
	case LWS_LIMIT_KEEPALIVE_IDLE_SECS:
	case LWS_LIMIT_KEEPALIVE_PONG_SECS:
		if (value > LWS_LIMIT_MAX_SECS ||
		    (limit == LWS_LIMIT_KEEPALIVE_PONG_SECS && value < 1)) {
			errno = EINVAL;
			return -1;
		}
		break;
	default:
		break;
	}
	context->limits[limit] = value;
	if (limit == LWS_LIMIT_OUTPUT_TOTAL)
		check_total(context);
	else if (limit == LWS_LIMIT_OUTPUT_PAUSE)
		update_choked(context);
	/* a tick may be needed now, or sooner */
	context->next_limits_tick = 0;
	lws_timer_update(context);
	return 0;
}

long lws_context_get_limit(struct libwebsocket_context *context, enum lws_limit limit)
{
	if (!context || (unsigned)limit >= LWS_LIMIT_COUNT) {
		errno = EINVAL;
		return -1;
	}
	return context->limits[limit];
}
