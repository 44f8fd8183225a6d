/*
 * connfuzz.h - driving a real connection of a context through
 * libwebsocket_service from a harness: the harness holds the peer's end of a
 * socket, writes the fuzz input to it in chunks, services the context after
 * each chunk (timeout 0: nothing waits) and reads and drops what the library
 * answers.  Every step is bounded.
 */
#ifndef PYLWS_FUZZ_CONNFUZZ_H
#define PYLWS_FUZZ_CONNFUZZ_H

#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "private.h"

#define CONN_MAX_SERVICE 4000 /* service calls per input, at most */

/*
 * Every close the library decides goes through lws_conn_close; the
 * whole-connection harnesses link with -Wl,--wrap=lws_conn_close (build.sh
 * reads the link-flags line below) and see each reason.  The
 * extension host closes with 1011 "made no progress" when an extension
 * answers "more" without output 64 times in a row (ext.c): a guard against
 * a livelock that must never fire for the built-in extensions, so it is a
 * finding here (issue 10 defect 1 would end there now instead of spinning).
 * Calls inside close.c itself are not wrapped (they never carry that reason).
 *
 * FUZZ_LDFLAGS: -Wl,--wrap=lws_conn_close
 */
void __real_lws_conn_close(struct libwebsocket *wsi, int status, const char *reason);
void __wrap_lws_conn_close(struct libwebsocket *wsi, int status, const char *reason);
void __wrap_lws_conn_close(struct libwebsocket *wsi, int status, const char *reason)
{
	FUZZ_ASSERT(!reason || !strstr(reason, "no progress"),
		    "close %d \"%s\": a built-in extension made no progress", status, reason);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "close %d %s\n", status, reason ? reason : "");
	__real_lws_conn_close(wsi, status, reason);
}

/*
 * A RECEIVE / CLIENT_RECEIVE piece: the classic library promised in[len] == 0
 * (programs use `in` as a C string), through the extensions too (issue 10:
 * NUL after pieces; the compression extensions end their output with it).
 * Reading in[len] lets ASan see a piece at the very end of its buffer.
 */
static inline void conn_check_piece(const void *in, size_t len)
{
	FUZZ_ASSERT(in, "a %zu-byte piece at NULL", len);
	FUZZ_ASSERT(((const char *)in)[len] == 0, "a %zu-byte piece without the 0 after it",
		    len);
}

/*
 * Whole-message mode (lws_set_whole_messages, message.c), the same bits of the
 * mode byte in both connection harnesses (bits 5-7 were unused: the seeds and
 * reproducers written before have them 0 and mean what they meant):
 *   mode & 0x20  the input is played twice, on two connections: first with the
 *                pieces delivered as they come, then with whole messages asked
 *                for at ESTABLISHED.  Every message of the second run must be
 *                one final RECEIVE within the size limit, and the messages of
 *                both runs (length, type, bytes: a 64-bit hash) the same, up
 *                to where the shorter run ended (a run can stop earlier: its
 *                service budget, message.c's own 1009, an echo that failed).
 *   mode >> 6    the context's message size limit for the input's connections
 *                (lws_set_max_message_size): 1 MiB (as before), none (message.c
 *                bounds a whole message by its own 64 MiB), 100 or 4096 bytes
 */
#define CONN_WHOLE 0x20
#define CONN_LOG_MAX 4096 /* messages compared per run, at most */

static inline size_t conn_mode_limit(unsigned mode)
{
	static const size_t limits[4] = {1 << 20, 0, 100, 4096};
	return limits[(mode >> 6) & 3];
}

struct conn_msg {
	uint64_t hash;
	size_t len;
	int binary;
};

struct conn_run {
	int whole;     /* this run asked for whole messages */
	size_t limit;  /* the message size limit, 0 = none */
	uint64_t hash; /* the message being received in pieces, so far */
	size_t len, n;
	struct conn_msg msgs[CONN_LOG_MAX];
};

/* the piece run (every input has one), the whole run; the current one */
static struct conn_run conn_runs[2], *conn_run;

/* Before a run's connection is made (it takes the context's limit then). */
static inline void conn_run_start(struct libwebsocket_context *ctx, int i, unsigned mode)
{
	lws_set_max_message_size(ctx, conn_mode_limit(mode));
	conn_run = &conn_runs[i];
	conn_run->whole = i == 1;
	conn_run->limit = conn_mode_limit(mode);
	conn_run->hash = 0xcbf29ce484222325u; /* FNV-1a */
	conn_run->len = conn_run->n = 0;
}

/* ESTABLISHED / CLIENT_ESTABLISHED: whole messages if this run asks */
static inline void conn_run_established(struct libwebsocket *wsi)
{
	if (conn_run && conn_run->whole)
		FUZZ_ASSERT(!lws_set_whole_messages(wsi, 1), "lws_set_whole_messages failed");
}

/* A RECEIVE / CLIENT_RECEIVE piece: checked and recorded. */
static inline void conn_run_piece(struct libwebsocket *wsi, const void *in, size_t len)
{
	conn_check_piece(in, len);
	struct conn_run *r = conn_run;
	if (!r)
		return;
	int final = libwebsocket_is_final_fragment(wsi);
	if (r->whole) {
		/* message.c bounds it by its own 64 MiB when there is no limit */
		size_t max = r->limit ? r->limit : (size_t)LWS_DEFAULT_MAX_MESSAGE;
		FUZZ_ASSERT(final, "whole-message mode delivered a %zu-byte piece", len);
		FUZZ_ASSERT(len <= max, "a %zu-byte whole message past the limit %zu", len, max);
	}
	/* pieces too: the parser and the extensions close with 1009 first */
	FUZZ_ASSERT(!r->limit || len <= r->limit - r->len,
		    "%zu + %zu bytes of a message past the limit %zu", r->len, len, r->limit);
	const uint8_t *p = in;
	for (size_t i = 0; i < len; i++)
		r->hash = (r->hash ^ p[i]) * 0x100000001b3u;
	r->len += len;
	if (!final)
		return;
	if (r->n < CONN_LOG_MAX)
		r->msgs[r->n] = (struct conn_msg){r->hash, r->len, lws_frame_is_binary(wsi)};
	r->n++;
	r->hash = 0xcbf29ce484222325u;
	r->len = 0;
}

/* After the input's run(s): with CONN_WHOLE, the same messages in both runs,
 * as far as both got. */
static inline void conn_runs_end(unsigned mode)
{
	if (!(mode & CONN_WHOLE)) {
		conn_run = NULL;
		return;
	}
	size_t n = conn_runs[0].n < conn_runs[1].n ? conn_runs[0].n : conn_runs[1].n;
	if (n > CONN_LOG_MAX)
		n = CONN_LOG_MAX;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "messages: %zu in pieces, %zu whole\n", conn_runs[0].n,
			conn_runs[1].n);
	for (size_t i = 0; i < n; i++) {
		const struct conn_msg *a = &conn_runs[0].msgs[i], *b = &conn_runs[1].msgs[i];
		FUZZ_ASSERT(a->len == b->len && a->binary == b->binary && a->hash == b->hash,
			    "message %zu: %zu bytes (binary %d) in pieces, %zu (binary %d) whole%s",
			    i, a->len, a->binary, b->len, b->binary,
			    a->len == b->len ? ", other bytes" : "");
	}
	conn_run = NULL;
}

/* Read and drop what the library sent; keep the last bytes in *keep if asked. */
static inline size_t conn_drain(int fd, char *keep, size_t keep_cap, size_t *keep_len)
{
	static char buf[65536];
	size_t total = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0)
			return total;
		total += (size_t)n;
		if (keep && *keep_len < keep_cap) {
			size_t take = (size_t)n < keep_cap - *keep_len ? (size_t)n
								  : keep_cap - *keep_len;
			memcpy(keep + *keep_len, buf, take);
			*keep_len += take;
		}
	}
}

/* Has a connection received data whose transformed output waits for a turn? */
static inline int conn_rx_pending(const struct libwebsocket_context *ctx)
{
	for (const struct libwebsocket *wsi = ctx->conns; wsi; wsi = wsi->next)
		if (wsi->ext_rx_pending)
			return 1;
	return 0;
}

/* Write all of data to the peer socket in chunks, servicing after each. */
static inline void conn_feed(struct libwebsocket_context *ctx, int peer, const uint8_t *data,
			     size_t len, struct fuzz_rng *rng, int *budget)
{
	size_t pos = 0;
	while (pos < len && *budget > 0) {
		size_t n = fuzz_rng_chunk(rng, len - pos);
		ssize_t w = send(peer, data + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN)
			return; /* the library closed: the rest is not read */
		if (w > 0)
			pos += (size_t)w;
		libwebsocket_service(ctx, 0);
		--*budget;
		conn_drain(peer, NULL, 0, NULL);
	}
	/* let it answer what came last, and deliver what it still holds (an
	 * extension's output goes on a budget per turn: a 64 MiB message inflated
	 * from 64 KiB takes about a thousand calls) */
	for (int i = 0; (i < 3 || conn_rx_pending(ctx)) && *budget > 0; i++, --*budget) {
		libwebsocket_service(ctx, 0);
		conn_drain(peer, NULL, 0, NULL);
	}
}

/*
 * The peer goes away; the context must free every connection on its own
 * within a bounded number of service calls (else: a finding, the connection
 * would be held forever).
 */
static inline void conn_finish(struct libwebsocket_context *ctx, int peer)
{
	shutdown(peer, SHUT_WR);
	for (int i = 0; i < 200 && ctx->conns; i++) {
		libwebsocket_service(ctx, 0);
		conn_drain(peer, NULL, 0, NULL);
		if (i == 20)
			shutdown(peer, SHUT_RDWR); /* it may wait for us to read */
	}
	close(peer);
	for (int i = 0; i < 50 && ctx->conns; i++)
		libwebsocket_service(ctx, 0);
	FUZZ_ASSERT(!ctx->conns, "a connection outlived its peer by 250 service calls (state %d)",
		    ctx->conns ? (int)ctx->conns->state : -1);
	libwebsocket_service(ctx, 0); /* frees the zombies */
}

#endif /* PYLWS_FUZZ_CONNFUZZ_H */
