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
	/* let it answer what came last */
	for (int i = 0; i < 3 && *budget > 0; i++, --*budget) {
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
