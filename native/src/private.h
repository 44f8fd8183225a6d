/*
 * private.h - the core's internal structures, shared by the I/O rooms
 * (context, service, conn, handshake, output).  The pure layers (frame, http,
 * util) do not include it.
 */
#ifndef PYLWS_PRIVATE_H
#define PYLWS_PRIVATE_H

#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "libwebsockets.h"
#include "frame.h"
#include "http.h"

/* Receive buffer shared by every connection of a context: one recv() fills it
 * and every frame in it is parsed and delivered before the next. */
#define LWS_RX_BUFFER_SIZE (256 * 1024)
/* Largest HTTP request head we accept (431 beyond). */
#define LWS_MAX_HTTP_HEAD 16384
/* Writes made while a connection's input is dispatched are gathered here and
 * sent with one syscall when the dispatch ends. */
#define LWS_CORK_SIZE (64 * 1024)
/* Defaults of the limits (enum lws_limit, limits.c).  Queued output above
 * which we stop reading a connection until it drains: a peer that sends
 * without reading cannot grow our memory without bound. */
#define LWS_RX_PAUSE_QUEUED (4u * 1024 * 1024)
/* Queued output beyond which libwebsocket_write fails (returns -1); also the
 * largest broadcast. */
#define LWS_MAX_QUEUED_OUTPUT ((size_t)256 * 1024 * 1024)
/* All connections' queued output together: beyond it, see lws_limits_output. */
#define LWS_DEFAULT_OUTPUT_TOTAL ((size_t)256 * 1024 * 1024)
/* Seconds queued output may wait without the peer taking a byte. */
#define LWS_DEFAULT_OUTPUT_STALL_SECS 60
#define LWS_DEFAULT_KEEPALIVE_PONG_SECS 10
/* Descriptors kept free of connections (files, listeners, timers, clients). */
#define LWS_FD_RESERVE 32
/* Seconds we wait for the peer to finish closing before dropping it. */
#define LWS_CLOSE_LINGER_SECS 5

#define LWS_DEFAULT_MAX_MESSAGE ((uint64_t)64 * 1024 * 1024)
#define LWS_DEFAULT_HANDSHAKE_TIMEOUT 10

/* Random bytes fetched from the OS at once for client frame masks. */
#define LWS_RANDOM_POOL 4096

/* What an epoll event's data.ptr points at: each starts with this tag. */
enum lws_fd_kind {
	LWS_FD_LISTENER = 1,
	LWS_FD_CONN,
	LWS_FD_RESOLVER,  /* a client name lookup finished */
	LWS_FD_BROADCAST, /* a broadcast from another process */
	LWS_FD_TIMER,     /* timeouts or deferred work are due */
	LWS_FD_WAKE,      /* another thread queued a request */
	LWS_FD_REDIS,     /* a Redis backplane connection (redis.c) */
};

/* What another thread may ask the loop to do (wake.c). */
enum lws_request_kind {
	LWS_REQ_WRITABLE,
	LWS_REQ_WRITABLE_ALL,
	LWS_REQ_CLOSE,
	LWS_REQ_FLOW,
	LWS_REQ_BROADCAST,
};

struct lws_listener {
	enum lws_fd_kind kind;
	int fd;
	int protocol_index; /* LWS_FD_BROADCAST: whose broadcasts arrive here */
};

enum lws_conn_state {
	LWS_STATE_CLIENT_RESOLVING,  /* client: looking up the server's name */
	LWS_STATE_CLIENT_CONNECTING, /* client: TCP connect in progress */
	LWS_STATE_CLIENT_AWAIT_101,  /* client: handshake sent, reading the answer */
	LWS_STATE_HTTP_HEAD,   /* reading an HTTP request head */
	LWS_STATE_WS,          /* WebSocket established */
	LWS_STATE_WS_CLOSING,  /* we sent a close frame, awaiting the peer's */
	LWS_STATE_DRAINING,    /* no more callbacks: flush output, then shut down */
	LWS_STATE_DEAD,        /* fd closed, waiting to be freed */
};

/* Output that the socket has not taken yet, kept in order. */
struct lws_outq {
	uint8_t *buf;
	size_t off; /* first unsent byte */
	size_t len; /* end of queued bytes */
	size_t cap;
};

#define LWS_MAX_ACTIVE_EXT 3

/* An extension negotiated on a connection, with its per-connection area. */
struct lws_ext_active {
	struct libwebsocket_extension *ext;
	void *user;
};

struct libwebsocket {
	enum lws_fd_kind kind; /* LWS_FD_CONN; first, see enum lws_fd_kind */
	int fd;
	struct libwebsocket_context *context;
	struct libwebsocket *prev, *next; /* context's list of connections */
	uint64_t serial;                  /* order of creation in the context (wake.c) */

	enum lws_conn_state state;
	const struct libwebsocket_protocols *protocol;
	void *user_space;
	uint8_t user_space_external; /* user_space not ours to free */

	uint32_t epoll_events;  /* what epoll watches now */
	uint8_t want_writable;  /* WRITEABLE callback requested */
	uint8_t established;    /* ESTABLISHED was called: CLOSED is owed */
	uint8_t close_sent;
	uint8_t closing;        /* lws_conn_close began: no more writes */
	uint8_t peer_close_len; /* the peer's close payload, for CLOSED's in/len */
	uint8_t peer_close[LWS_MAX_CONTROL_PAYLOAD + 1]; /* + its 0 byte */
	uint8_t peer_gone;      /* EOF or socket error: nothing more to write */
	uint8_t tx_in_message;  /* we sent a data frame without FIN */
	uint8_t rx_final;       /* the RECEIVE being delivered ends its message */
	uint8_t http_replied;   /* the HTTP callback wrote something */
	uint8_t ietf_version;
	uint8_t is_client;      /* we connected out: we mask, the peer must not */

	/* TLS (tls.c): all bytes go through ssl when it is set */
	struct ssl_st *ssl;
	uint8_t tls_handshaking;
	uint8_t tls_want_write;  /* the handshake waits for POLLOUT, not POLLIN */
	uint8_t rx_more;         /* the read layer holds more input (OpenSSL's decrypted
				  * bytes, deflate-stream's inflation): read again soon */
	uint8_t tls_allow_self_signed;
	uint8_t tls_closed;      /* close_notify sent */
	uint8_t rx_paused;      /* libwebsocket_rx_flow_control(wsi, 0) */
	uint8_t close_after_file; /* HTTP: close once the file is sent */
	uint8_t http_head_only;   /* answering a HEAD request: no body goes out */
	uint8_t http_head_scan;   /* how far the answer's head is written (output.c) */

	/* bytes read but not parsed while rx was paused (pre-padding before) */
	uint8_t *rx_stash;
	size_t rx_stash_len;

	/* lws_set_whole_messages: pieces of the message being gathered (message.c) */
	struct lws_msg *msg;
	uint8_t whole_msgs;

	/* libwebsockets_serve_http_file in progress: file_fd >= 0 */
	int file_fd;
	long long file_off, file_left;

	/* extensions negotiated on this connection (ext.c) */
	struct lws_ext_active ext[LWS_MAX_ACTIVE_EXT];
	uint8_t num_ext;
	uint8_t tx_opcode, tx_fin;  /* the frame extensions are asked to transform */
	uint32_t ext_utf8;          /* UTF-8 state of transformed text */
	struct lws_ds *ds;          /* deflate-stream's state, when negotiated */
	uint64_t ext_msg_size;      /* transformed bytes of the message so far */
	/* received payload an extension still has output for, suspended
	 * (budget spent, or reception paused) and resumed by lws_ext_rx_resume;
	 * the frame parser's state as the extension saw it (allocated at the
	 * connection's first suspension: most connections never have one, and a
	 * parser is a quarter of a connection's size) */
	uint8_t ext_rx_pending;
	uint8_t ext_rx_final;
	uint64_t ext_rx_turn;       /* the service turn ext_rx_used counts for */
	size_t ext_rx_used;         /* transformed bytes delivered in that turn */
	struct lws_frame_parser *ext_rx_parser;

	/* client connections until established (client.c) */
	struct lws_client *client;

	/* the request head being handled (lws_request_head), NULL otherwise */
	const char *req_head;
	size_t req_head_len;

	/* HTTP request head gathered across reads (NULL when it came whole) */
	char *head_buf;
	size_t head_len;

	struct lws_frame_parser parser;
	struct lws_outq out;

	int64_t timeout_at; /* monotonic ms, 0 = none */
	enum pending_timeout timeout_reason;

	/* limits.c: since when queued output waits (ms, set while out is not
	 * empty, renewed when the peer takes some); keepalive */
	int64_t out_since;
	int64_t quiet_since;   /* no frame received since (ms, 0 = not yet seen) */
	int64_t ping_at;       /* keepalive ping sent at (ms), 0 = none outstanding */
	uint8_t rx_frame;      /* a frame (or part of one) arrived since the last tick */
};

struct libwebsocket_context {
	int epfd;
	struct lws_listener listeners[2];
	int num_listeners;
	int listen_port;
	/* accept() ran out of descriptors (service.c): the listeners are not
	 * watched until this monotonic ms (1 = a connection closed: at once) */
	int64_t accept_resume_at;
	int64_t accept_starved_since;  /* when the episode began */
	unsigned accept_starved;       /* accepts failed in it; 0 = none */

	struct libwebsocket_protocols *protocols;
	int num_protocols;
	struct libwebsocket_extension *extensions;
	int num_extensions;
	unsigned int options;
	void *user;

	uint64_t max_message_size;
	int handshake_timeout;

	/* limits.c: enum lws_limit's values, and what they bound */
	long limits[LWS_LIMIT_COUNT];
	size_t out_total;   /* bytes queued on all connections */
	int out_conns;      /* connections with queued output */
	uint8_t out_over;   /* out_total reached LWS_LIMIT_OUTPUT_TOTAL (until 3/4) */
	uint8_t conns_full; /* refusing connections: LWS_LIMIT_MAX_CONNECTIONS (logged once) */
	int accepted;       /* live connections that were accepted */
	int64_t next_limits_tick; /* monotonic ms, 0 = no tick needed */

	struct libwebsocket *conns;  /* every live connection */
	struct libwebsocket *zombies; /* closed, freed at the end of service */
	int timeouts_armed;          /* connections with timeout_at set */
	int64_t next_timeout_check; /* monotonic ms */

	const struct libwebsocket_protocols *calling_protocol;
	/* lws_set_conn_gone_notify: told of every connection dropped */
	void (*conn_gone)(struct libwebsocket_context *context, struct libwebsocket *wsi);

	/* the connection whose input is being dispatched, and its gathered output */
	struct libwebsocket *corked;
	uint8_t *cork;
	size_t cork_len;

	uint8_t *rx; /* LWS_SEND_BUFFER_PRE_PADDING + LWS_RX_BUFFER_SIZE */

	/* client side (client.c) */
	struct lws_listener resolver;  /* eventfd: a name lookup finished */
	struct lws_lookup *lookups;    /* name lookups in progress */
	int client_failures;           /* connections with a failure to report */
	int rx_resumes;                /* connections with stashed rx to parse */
	int ext_conns;                 /* connections with extensions: 1 Hz ticks */
	uint64_t turn;                 /* turns of the loop (budgets per turn) */
	int64_t next_1hz;              /* monotonic ms of the next tick */

	/* broadcast (broadcast.c): one socket pair per protocol */
	struct lws_listener *broadcast;
	int service_pid;               /* the process that runs the service loop */
	int forked_child;              /* libwebsockets_fork_service_loop's child */
	struct lws_redis *redis;       /* the Redis backplane, if attached (redis.c) */
	char canonical_hostname[256];

	/* TLS (tls.c) */
	struct ssl_ctx_st *ssl_ctx;        /* the listen socket's, NULL: plain */
	struct ssl_ctx_st *ssl_client_ctx; /* for wss:// client connections */
	struct bio_method_st *bio_method;  /* sockets without SIGPIPE (tls.c) */

	/* every watched descriptor -> its owner (poll.c) */
	void **fd_table;
	size_t fd_table_size;
	struct lws_listener timer;
	int64_t timer_due; /* monotonic ms the timerfd is armed for, 0 = disarmed */

	/* requests from other threads (wake.c) */
	struct lws_listener wake;
	_Atomic uintptr_t loop_thread;
	_Atomic uint64_t next_serial;  /* the serial the next connection gets */
	pthread_mutex_t requests_lock;
	int requests_lock_ready;
	struct lws_request *requests, *requests_tail;
	uint8_t random_pool[LWS_RANDOM_POOL];
	size_t random_left;
};

/* ---- context.c ---- */
int lws_call(struct libwebsocket_context *context,
	     const struct libwebsocket_protocols *protocol,
	     struct libwebsocket *wsi, enum libwebsocket_callback_reasons reason,
	     void *user, void *in, size_t len);
/* monotonic clock in milliseconds */
int64_t lws_now_ms(void);
/* timeouts are checked this often while any is pending */
#define LWS_TIMEOUT_CHECK_MS 250

/* ---- limits.c ---- */
void lws_limits_init(struct libwebsocket_context *context);
/* A connection's queue went from 'before' bytes to what it holds now. */
void lws_limits_output(struct libwebsocket *wsi, size_t before);
/* May wsi's queue grow by len?  0 yes, else the reason it may not. */
const char *lws_limits_output_refused(struct libwebsocket *wsi, size_t len);
/* Server side: stop reading wsi, it has this much output queued? */
int lws_limits_choked(const struct libwebsocket *wsi, size_t queued);
/* Accept one more connection?  No: answered (503) and closed here. */
int lws_limits_refuse_accept(struct libwebsocket_context *context, int fd, int tls);
/* Keepalive and stalled output, once a second while either may apply. */
int lws_limits_need_tick(const struct libwebsocket_context *context);
void lws_limits_tick(struct libwebsocket_context *context, int64_t now);

/* ---- conn.c ---- */
struct libwebsocket *lws_conn_new(struct libwebsocket_context *context, int fd);
void lws_conn_readable(struct libwebsocket *wsi);
void lws_conn_writable(struct libwebsocket *wsi);
void lws_conn_timed_out(struct libwebsocket *wsi);
/* Close: send a close frame with 'status' (and reason) where the protocol
 * allows, call CLOSED once, then flush and shut down. status < 0: no frame. */
void lws_conn_close(struct libwebsocket *wsi, int status, const char *reason);
/* Drop the socket now; the struct is freed at the end of service. */
void lws_conn_kill(struct libwebsocket *wsi);
void lws_conn_free(struct libwebsocket *wsi);
/* TLS close_notify (if TLS) and the TCP FIN: nothing more will be sent. */
void lws_conn_shut_write(struct libwebsocket *wsi);
/* The handshake succeeded: frames from now on. */
void lws_conn_start_ws(struct libwebsocket *wsi);
void lws_conn_update_events(struct libwebsocket *wsi);
void lws_conn_set_timeout(struct libwebsocket *wsi, enum pending_timeout reason,
			  int secs);

/* ---- client.c ---- */
/* Socket event on a client connection that is not established yet. */
void lws_client_readable(struct libwebsocket *wsi, uint8_t *buf, size_t len);
void lws_client_connected(struct libwebsocket *wsi);
/* Report CLIENT_CONNECTION_ERROR (once) and drop the connection. */
void lws_client_fail(struct libwebsocket *wsi, const char *why);
void lws_client_lookups_done(struct libwebsocket_context *context);
void lws_client_report_failures(struct libwebsocket_context *context);
void lws_client_free(struct libwebsocket *wsi);
void lws_client_context_destroy(struct libwebsocket_context *context);
/* TCP (and TLS) are up: send the opening handshake. */
void lws_client_send_request(struct libwebsocket *wsi);
/* 4 fresh mask bytes from the context's random pool */
void lws_client_mask(struct libwebsocket_context *context, uint8_t mask[4]);

/* ---- ext.c: the extension host ---- */
int lws_ext_context_init(struct libwebsocket_context *context);
void lws_ext_context_destroy(struct libwebsocket_context *context);
void lws_ext_broadcast(struct libwebsocket *wsi,
		       enum libwebsocket_extension_callback_reasons reason);
void lws_ext_destroy(struct libwebsocket *wsi);
/* Server: accept offers; reply gets "Sec-WebSocket-Extensions: ...\r\n" or "". */
int lws_ext_server_negotiate(struct libwebsocket *wsi, const struct lws_http_head *req,
			     char *reply, size_t reply_size);
/* Client: append the offer header at *pos; check the answer (NULL = fine). */
int lws_ext_client_offer(struct libwebsocket *wsi, char **pos, char *end);
const char *lws_ext_client_accept(struct libwebsocket *wsi, const struct lws_http_head *res);
/* Received payload through the extensions to the user; nonzero = stop
 * (closed, or wsi->ext_rx_pending: output suspended until a later turn). */
int lws_ext_rx(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);
/* Go on with suspended output; nonzero = suspended again, or closed. */
int lws_ext_rx_resume(struct libwebsocket *wsi);
/* Transformed bytes one connection gets per turn of the loop before the
 * others get theirs (the rest waits for the next turn). */
#define LWS_EXT_RX_BUDGET (256 * 1024)
/* Payload to send through the extensions: may replace buf/len, add RSV bits. */
int lws_ext_tx(struct libwebsocket *wsi, int opcode, int fin, uint8_t **buf, size_t *len,
	       uint8_t *rsv);

/* LWS_EXT_CALLBACK_DESTROY_ANY_WSI_CLOSING to every extension of the context */
void lws_ext_closing(struct libwebsocket *wsi);
/* LWS_EXT_CALLBACK_1HZ to connections with extensions, when a second passed */
void lws_ext_tick(struct libwebsocket_context *context, int64_t now);

/* ---- ext_deflate.c, ext_deflate_stream.c: the built-in extensions ---- */
/* What the host must know of a built-in extension (0 for users' ones). */
#define LWS_EXTF_RSV1 0x01        /* it sets RSV1 on the frames it transforms */
#define LWS_EXTF_PER_MESSAGE 0x02 /* ... and only on a message's first frame */
#define LWS_EXTF_COMPRESSION 0x04 /* one compression extension per connection */
unsigned lws_ext_builtin_flags(const struct libwebsocket_extension *ext);
/* permessage-deflate / deflate-frame (LWS_EXTF_RSV1) about to be suspended:
 * copy the input it has not used yet into its own memory.  0, or -1. */
int lws_pmd_rx_keep(void *user);

/*
 * deflate-stream: every byte after the handshake, each way, is one DEFLATE
 * stream.  wsi->ds is its state, set when it was negotiated; it applies once
 * the connection is a WebSocket (the handshake itself is plain).
 */
struct lws_ds;
static inline int lws_ds_active(const struct libwebsocket *wsi)
{
	return wsi->ds && (wsi->state == LWS_STATE_WS || wsi->state == LWS_STATE_WS_CLOSING);
}
int lws_ds_callback(struct libwebsocket_context *context, struct libwebsocket_extension *ext,
		    struct libwebsocket *wsi, enum libwebsocket_extension_callback_reasons reason,
		    void *user, void *in, size_t len);
/* Read and inflate: like recv(), but -2 = nothing to parse yet, -3 = bad data. */
ssize_t lws_ds_read(struct libwebsocket *wsi, uint8_t *buf, size_t cap);
/* Bytes of the stream that came with the handshake: inflated on the next read. */
int lws_ds_hold(struct libwebsocket *wsi, const uint8_t *data, size_t len);
/* Deflate a then b (one frame).  flush: sync-flush, and *out, *out_len are all
 * the output since the last flush (the state's buffer); else the output
 * waits for a flush (*out_len 0): writes made while a connection's input is
 * dispatched are flushed once, at the end (lws_out_uncork). */
int lws_ds_deflate(struct libwebsocket *wsi, const uint8_t *a, size_t alen, const uint8_t *b,
		   size_t blen, int flush, const uint8_t **out, size_t *out_len);
/* Something was deflated without a flush since the last one. */
int lws_ds_unflushed(const struct libwebsocket *wsi);

/* ---- poll.c ---- */
int lws_poll_add(struct libwebsocket_context *context, int fd, void *owner,
		 uint32_t events);
void lws_poll_change(struct libwebsocket_context *context, int fd, void *owner,
		     uint32_t from, uint32_t to);
void lws_poll_del(struct libwebsocket_context *context, int fd, void *owner);
void *lws_poll_owner(struct libwebsocket_context *context, int fd);
int lws_timer_init(struct libwebsocket_context *context);
void lws_timer_update(struct libwebsocket_context *context);
void lws_timer_fired(struct libwebsocket_context *context);

/* ---- wake.c ---- */
int lws_wake_init(struct libwebsocket_context *context);
int lws_on_loop_thread(struct libwebsocket_context *context);
int lws_request_from_thread(struct libwebsocket_context *context,
			    enum lws_request_kind kind, struct libwebsocket *wsi,
			    const struct libwebsocket_protocols *protocol, int arg,
			    const unsigned char *data, size_t len);
void lws_wake_requests(struct libwebsocket_context *context);
void lws_wake_destroy(struct libwebsocket_context *context);

/* ---- tls.c ---- */
int lws_tls_server_init(struct libwebsocket_context *context, const char *cert,
			const char *key, const char *ca);
int lws_tls_accept_start(struct libwebsocket *wsi);
int lws_tls_client_start(struct libwebsocket *wsi, int ssl_connection, const char *host);
/* 1 done, 0 under way, -1 failed (why filled in) */
int lws_tls_handshake(struct libwebsocket *wsi, char *why, size_t why_size);
/* bytes read, 0 at the end, -1 on error, -2 when nothing is there yet */
ssize_t lws_tls_read(struct libwebsocket *wsi, uint8_t *buf, size_t len);
/* bytes written, 0 when it would block, -1 on error */
ssize_t lws_tls_write(struct libwebsocket *wsi, const uint8_t *buf, size_t len);
void lws_tls_free(struct libwebsocket *wsi);
/* Send the TLS close_notify (once; best effort). */
void lws_tls_close_notify(struct libwebsocket *wsi);
void lws_tls_context_destroy(struct libwebsocket_context *context);

/* ---- http_file.c ---- */
/* The socket can take more and a file is being sent: send the next part. */
void lws_http_file_continue(struct libwebsocket *wsi);
void lws_http_file_abort(struct libwebsocket *wsi);

/* ---- broadcast.c ---- */
int lws_broadcast_init(struct libwebsocket_context *context);
void lws_broadcast_readable(struct libwebsocket_context *context,
			    struct lws_listener *l);
void lws_broadcast_destroy(struct libwebsocket_context *context);
/* LWS_CALLBACK_BROADCAST to the protocol's connections here (nothing else) */
void lws_broadcast_dispatch(struct libwebsocket_context *context,
			    const struct libwebsocket_protocols *protocol,
			    unsigned char *buf, size_t len);

/* ---- redis.c: the broadcast backplane ---- */
/* -1 (errno EMSGSIZE, logged) when attached and len is above the limit */
int lws_redis_check_size(struct libwebsocket_context *context, size_t len);
/* a broadcast delivered here: queue it for the stream */
void lws_redis_publish(struct libwebsocket_context *context,
		       const struct libwebsocket_protocols *protocol,
		       const unsigned char *buf, size_t len);
void lws_redis_ready(struct libwebsocket_context *context, void *owner, uint32_t events);
/* monotonic ms the backplane's timer is due, 0 = none; tick runs what is due */
int64_t lws_redis_due(struct libwebsocket_context *context);
void lws_redis_tick(struct libwebsocket_context *context, int64_t now);
void lws_redis_destroy(struct libwebsocket_context *context);

/* ---- service.c ---- */
/* A descriptor was closed: listeners waiting for one are watched again. */
void lws_accept_fd_freed(struct libwebsocket_context *context);

/* ---- net.c ---- */
void lws_canonical_hostname_init(struct libwebsocket_context *context);

/* ---- conn.c: flow control ---- */
void lws_conn_resume_rx(struct libwebsocket_context *context);
void lws_conn_http_continue(struct libwebsocket *wsi);
/* Advance a TLS handshake on wsi. */
void lws_conn_tls_step(struct libwebsocket *wsi);
/* A piece of a received message for the user's callback; nonzero = stop. */
int lws_conn_deliver(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);
int lws_conn_deliver_cstr(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);
/* lws_conn_deliver without whole-message gathering: the RECEIVE call itself */
int lws_conn_deliver_piece(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);

/* ---- gather.c: writes outside a dispatch, gathered (the asyncio layer) ---- */
/* Cork wsi's writes (what another connection gathered is sent first). */
void lws_gather_writes(struct libwebsocket *wsi);
/* Send what was gathered; every service call begins with it. */
void lws_gather_flush(struct libwebsocket_context *context);

/* ---- message.c: whole-message delivery (lws_set_whole_messages) ---- */
enum { LWS_MSG_KEEP, LWS_MSG_WHOLE, LWS_MSG_TOO_BIG, LWS_MSG_NO_MEMORY };
/* Take a piece: KEEP (gathered, more to come), WHOLE (*data, *len is the whole
 * message, data[len] == 0 when gathered), TOO_BIG (over max), NO_MEMORY. */
int lws_msg_gather(struct libwebsocket *wsi, uint8_t **data, size_t *len, int final,
		   size_t max);
/* Free what was gathered (after the whole message was delivered, or at close). */
void lws_msg_release(struct libwebsocket *wsi);
/* The largest message gathered: the message size limit, or the default. */
size_t lws_msg_limit(const struct libwebsocket *wsi);
/* lws_conn_deliver for a connection that gets whole messages; nonzero = stop. */
int lws_msg_deliver(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);

/* ---- handshake.c ---- */
/* A complete request head is in head[0..len); handle it.  Returns 0 to go on
 * reading, -1 when the connection has been closed or refused. */
int lws_handshake_request(struct libwebsocket *wsi, char *head, size_t len,
			  const struct lws_http_head *req);
/* Answer with an HTTP error page and close after it is sent. */
void lws_http_refuse(struct libwebsocket *wsi, int status, const char *why,
		     const char *extra_headers);

/* ---- output.c ---- */
/* Queue/send bytes in order: a, then b (either may be empty). 0 or -1. */
int lws_out_send(struct libwebsocket *wsi, const uint8_t *a, size_t alen,
		 const uint8_t *b, size_t blen);
/* Send what the context gathered for the corked connection. */
void lws_out_uncork(struct libwebsocket_context *context);
/* Socket writable: push queued output. Returns -1 on a socket error. */
int lws_out_drain(struct libwebsocket *wsi);
/* Drop what is queued (the connection is gone). */
void lws_out_discard(struct libwebsocket *wsi);
int lws_send_control(struct libwebsocket *wsi, int opcode, const uint8_t *payload,
		     size_t len);

/* ---- conn.c: receiving ---- */
/* Frames arrived on an established connection (buf has pre-padding room). */
void lws_conn_ws_receive(struct libwebsocket *wsi, uint8_t *buf, size_t len);
/* Bytes that came in with the handshake: parsed now, or (deflate-stream)
 * inflated with the next read. */
void lws_conn_ws_input(struct libwebsocket *wsi, uint8_t *buf, size_t len);
/* Bytes from the socket, through TLS when the connection has it: as recv(),
 * but -2 = nothing now (sets wsi->rx_more when OpenSSL holds more). */
ssize_t lws_conn_read_raw(struct libwebsocket *wsi, uint8_t *buf, size_t cap);

#endif /* PYLWS_PRIVATE_H */
