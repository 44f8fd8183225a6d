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

/* What an epoll event's data.ptr points at: each starts with a struct
 * lws_watch, whose ready handler the loop calls (service.c names no
 * subsystem); kind tells connections (LWS_FD_CONN) from the others and 0
 * means "not set up". */
enum lws_fd_kind {
	LWS_FD_LISTENER = 1,
	LWS_FD_CONN,
	LWS_FD_RESOLVER,  /* a client name lookup finished */
	LWS_FD_BROADCAST, /* a broadcast from another process */
	LWS_FD_TIMER,     /* timeouts or deferred work are due */
	LWS_FD_WAKE,      /* another thread queued a request */
	LWS_FD_REDIS,     /* a Redis backplane connection (redis.c) */
};

struct lws_watch;
/* The descriptor is ready: events are epoll's (or poll's: the same bits). */
typedef void (*lws_ready_fn)(struct libwebsocket_context *context, struct lws_watch *w,
			     uint32_t events);
struct lws_watch {
	enum lws_fd_kind kind;
	lws_ready_fn ready;
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
	struct lws_watch watch; /* first: see struct lws_watch */
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

/* What a read layer returns when it has no bytes (> 0) to give. */
enum lws_read_result {
	LWS_READ_EOF = 0,       /* the peer closed (FIN, TLS close_notify) */
	LWS_READ_ERROR = -1,    /* socket or TLS error (errno set for the socket) */
	LWS_READ_AGAIN = -2,    /* nothing to parse now: wait for readiness */
	LWS_READ_BAD_DATA = -3, /* the layer's input is invalid (deflate-stream) */
};

/* A read layer between the socket and the parsers (deflate-stream), set on
 * the connection (wsi->rx_layer) by the extension that brings it. */
struct lws_read_layer {
	/* like recv() into buf: bytes (> 0) or an enum lws_read_result */
	ssize_t (*read)(struct libwebsocket *wsi, uint8_t *buf, size_t cap);
	/* bytes that came with the handshake: 0 kept for the next read, -1 out
	 * of memory, 1 the layer does not apply yet (parse them now) */
	int (*hold)(struct libwebsocket *wsi, const uint8_t *data, size_t len);
};

struct libwebsocket {
	struct lws_watch watch; /* LWS_FD_CONN; first, see struct lws_watch */
	struct libwebsocket_context *context;
	struct libwebsocket *prev, *next; /* context's list of connections */
	uint64_t serial;                  /* order of creation in the context (wake.c) */

	enum lws_conn_state state;
	int fd;
	const struct libwebsocket_protocols *protocol;
	void *user_space;
	uint8_t user_space_external; /* user_space not ours to free */

	uint32_t epoll_events;  /* what epoll watches now */
	uint8_t want_writable;  /* WRITEABLE callback requested */
	uint8_t established;    /* ESTABLISHED was called: CLOSED is owed */
	uint8_t close_sent;
	uint16_t close_status_sent; /* its code (0: none), lws_close_status_sent */
	uint8_t closing;        /* lws_conn_close began: no more writes */
	uint8_t peer_close_len; /* the peer's close payload, for CLOSED's in/len */
	uint8_t peer_close[LWS_MAX_CONTROL_PAYLOAD + 1]; /* + its 0 byte */
	uint8_t peer_gone;      /* EOF or socket error: nothing more to write */
	uint8_t tx_in_message;  /* we sent a data frame without FIN */
	uint8_t rx_final;       /* the RECEIVE being delivered ends its message */
	uint8_t http_replied;   /* the HTTP callback wrote something */
	uint8_t in_filter;      /* in FILTER_PROTOCOL_CONNECTION (lws_add_response_header) */
	uint8_t ietf_version;
	uint8_t is_client;      /* we connected out: we mask, the peer must not */
	uint8_t rx_frame;       /* limits.c: a frame (or part of one) arrived since the last tick */
	uint8_t whole_msgs;     /* lws_set_whole_messages: deliver whole messages (message.c) */

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

	/* libwebsockets_serve_http_file in progress: file_fd >= 0 */
	int file_fd;
	enum pending_timeout timeout_reason; /* of timeout_at */
	long long file_off, file_left;

	/* extensions negotiated on this connection (ext.c) */
	struct lws_ext_active ext[LWS_MAX_ACTIVE_EXT];
	uint8_t num_ext;
	uint8_t tx_opcode, tx_fin;  /* the frame extensions are asked to transform */
	uint32_t ext_utf8;          /* UTF-8 state of transformed text */
	struct lws_ds *ds;          /* deflate-stream's state, when negotiated */
	const struct lws_read_layer *rx_layer; /* NULL: lws_read_socket */
	uint64_t ext_msg_size;      /* transformed bytes of the message so far */
	/* received payload an extension still has output for, suspended
	 * (budget spent, or reception paused) and resumed by lws_ext_rx_resume;
	 * the frame parser's state as the extension saw it (allocated at the
	 * connection's first suspension: most connections never have one, and a
	 * parser is a quarter of a connection's size) */
	uint8_t ext_rx_pending;
	uint8_t ext_rx_final;
	uint8_t ext_flags[LWS_MAX_ACTIVE_EXT]; /* each one's LWS_EXTF_* (its description) */
	uint64_t ext_rx_turn;       /* the service turn ext_rx_used counts for */
	size_t ext_rx_used;         /* transformed bytes delivered in that turn */
	struct lws_frame_parser *ext_rx_parser;

	/* client connections until established (client.c) */
	struct lws_client *client;

	/* the request head being handled (lws_request_head), NULL otherwise */
	const char *req_head;
	size_t req_head_len;

	/* at most this many bytes of them */
#define LWS_RESP_HEADERS_MAX 4096
	/* header lines added to the 101 (lws_add_response_header), NULL if none */
	char *resp_headers;
	size_t resp_headers_len;

	/* HTTP request head gathered across reads (NULL when it came whole) */
	char *head_buf;
	size_t head_len;

	struct lws_frame_parser parser;
	struct lws_outq out;

	int64_t timeout_at; /* monotonic ms, 0 = none */

	/* limits.c: since when queued output waits (ms, set while out is not
	 * empty, renewed when the peer takes some); keepalive */
	int64_t out_since;
	int64_t quiet_since;   /* no frame received since (ms, 0 = not yet seen) */
	int64_t ping_at;       /* keepalive ping sent at (ms), 0 = none outstanding */
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

	/* client side (client.c); client_ops is how the layers below reach it,
	 * set at the first client connection */
	const struct lws_client_ops *client_ops;
	/* the server's answer a client callback may read (lws_client_response_head):
	 * set around CLIENT_CONNECTION_ERROR and CLIENT_ESTABLISHED only, so it
	 * lives here rather than in every connection */
	struct {
		const struct libwebsocket *wsi;
		const char *head; /* in wsi->head_buf */
		size_t head_len, body_len;
	} answer;
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
	/* when the backplane's timer is due (monotonic ms, 0 = none); set by
	 * redis.c while attached, so poll.c's timer need not name it */
	int64_t (*backplane_due)(struct libwebsocket_context *context);
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

/* ---- call.c: the bottom (calls no other file of the core) ---- */
int lws_call(struct libwebsocket_context *context,
	     const struct libwebsocket_protocols *protocol,
	     struct libwebsocket *wsi, enum libwebsocket_callback_reasons reason,
	     void *user, void *in, size_t len);
/* monotonic clock in milliseconds */
int64_t lws_now_ms(void);
/* timeouts are checked this often while any is pending */
#define LWS_TIMEOUT_CHECK_MS 250

/* ---- thread.c: asking the loop from another thread ---- */
/* A request queued by lws_request_from_thread, carried out by wake.c. */
struct lws_request {
	enum lws_request_kind kind;
	struct libwebsocket *wsi;
	const struct libwebsocket_protocols *protocol;
	int arg;
	uint64_t made_before; /* connections with a lower serial existed when it was asked */
	size_t len;
	struct lws_request *next;
	unsigned char data[]; /* broadcast payload, after pre-padding */
};
int lws_on_loop_thread(struct libwebsocket_context *context);
int lws_request_from_thread(struct libwebsocket_context *context,
			    enum lws_request_kind kind, struct libwebsocket *wsi,
			    const struct libwebsocket_protocols *protocol, int arg,
			    const unsigned char *data, size_t len);

/* ---- wsi.c: a connection's basics (below every layer of the connection) ---- */
/* What epoll watches on wsi follows its state, queue and pause. */
void lws_conn_update_events(struct libwebsocket *wsi);
void lws_conn_set_timeout(struct libwebsocket *wsi, enum pending_timeout reason,
			  int secs);
/* The handshake succeeded: frames from now on. */
void lws_conn_start_ws(struct libwebsocket *wsi);
/* Stop sending a file (libwebsockets_serve_http_file); nothing if none. */
void lws_http_file_abort(struct libwebsocket *wsi);
/* Server side: stop reading wsi, it has this much output queued? */
int lws_limits_choked(const struct libwebsocket *wsi, size_t queued);

/* ---- mask.c: client frame masks, beside the write path ---- */
/* 4 fresh mask bytes from the context's random pool (LWS_RANDOM_POOL) */
void lws_mask_key(struct libwebsocket_context *context, uint8_t mask[4]);

/* ---- limits.c ---- */
void lws_limits_init(struct libwebsocket_context *context);
/* A connection's queue went from 'before' bytes to what it holds now. */
void lws_limits_output(struct libwebsocket *wsi, size_t before);
/* May wsi's queue grow by len?  0 yes, else the reason it may not. */
const char *lws_limits_output_refused(struct libwebsocket *wsi, size_t len);
/* Accept one more connection?  No: answered (503) and closed here. */
int lws_limits_refuse_accept(struct libwebsocket_context *context, int fd, int tls);
/* Keepalive and stalled output, once a second while either may apply (inline:
 * poll.c's timer asks it and limits.c is above poll.c). */
static inline int lws_limits_need_tick(const struct libwebsocket_context *context);
/* ---- keepalive.c: that tick (stalled output cut, keepalive pings) ---- */
void lws_limits_tick(struct libwebsocket_context *context, int64_t now);

/* ---- conn.c ---- */
/* The one connection allocator (server and client): zeroed, with its ready
 * handler, fd, serial, state and protocols[0]; not yet on the context's list. */
struct libwebsocket *lws_conn_alloc(struct libwebsocket_context *context, int fd,
				    enum lws_conn_state state);
/* Onto the context's list of live connections. */
void lws_conn_link(struct libwebsocket *wsi);
/* An accepted socket: allocated, watched, linked, TLS started when the
 * context has it.  NULL: the caller closes fd. */
struct libwebsocket *lws_conn_new(struct libwebsocket_context *context, int fd);
/* The socket can take more (from the connection's ready handler). */
void lws_conn_writable(struct libwebsocket *wsi);
/* wsi->timeout_at passed (service.c checks them). */
void lws_conn_timed_out(struct libwebsocket *wsi);

/* ---- close.c: every way a connection ends ---- */
/* Close: send a close frame with 'status' (and reason) where the protocol
 * allows, call CLOSED once, then flush and shut down. status < 0: no frame. */
void lws_conn_close(struct libwebsocket *wsi, int status, const char *reason);
/* Drop the socket now; the struct is freed at the end of service. */
void lws_conn_kill(struct libwebsocket *wsi);
void lws_conn_free(struct libwebsocket *wsi);

/* ---- deliver.c: received message pieces to the user ---- */
/* A piece of a received message for the user's callback (RECEIVE or
 * CLIENT_RECEIVE); nonzero = stop (closed, or no longer established). */
int lws_conn_deliver(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);
/* The same with a 0 byte at data[len] during the callback (data[len] must be
 * writable; the byte there is put back). */
int lws_conn_deliver_cstr(struct libwebsocket *wsi, uint8_t *data, size_t len, int final);

/* ---- input.c: the read path ---- */
/* The socket is readable (or the read layer holds more). */
void lws_conn_readable(struct libwebsocket *wsi);
/* EOF or a read error: the peer is gone; close (or fail the client). */
void lws_conn_peer_closed(struct libwebsocket *wsi);
/* Parse what was stashed, for the connections whose reception resumed. */
void lws_conn_resume_rx(struct libwebsocket_context *context);
/* The next pipelined HTTP request, once the answer to the last went out. */
void lws_conn_http_continue(struct libwebsocket *wsi);
/* Advance a TLS handshake on wsi. */
void lws_conn_tls_step(struct libwebsocket *wsi);
/* Frames arrived on an established connection (buf has pre-padding room). */
void lws_conn_ws_receive(struct libwebsocket *wsi, uint8_t *buf, size_t len);
/* Bytes that came in with the handshake: parsed now, or held by the read
 * layer (deflate-stream) for the next read. */
void lws_conn_ws_input(struct libwebsocket *wsi, uint8_t *buf, size_t len);

/* ---- client.c ---- */
/* What input.c, conn.c and close.c need of client.c for client connections
 * (context->client_ops): they sit below it, so they cannot call it by name. */
struct lws_client_ops {
	void (*connected)(struct libwebsocket *wsi);
	void (*readable)(struct libwebsocket *wsi, uint8_t *buf, size_t len);
	void (*send_request)(struct libwebsocket *wsi);
	void (*fail)(struct libwebsocket *wsi, const char *why);
	void (*free)(struct libwebsocket *wsi);
};
/* Socket event on a client connection that is not established yet. */
void lws_client_readable(struct libwebsocket *wsi, uint8_t *buf, size_t len);
void lws_client_connected(struct libwebsocket *wsi);
/* Report CLIENT_CONNECTION_ERROR (once) and drop the connection. */
void lws_client_fail(struct libwebsocket *wsi, const char *why);
void lws_client_report_failures(struct libwebsocket_context *context);
void lws_client_free(struct libwebsocket *wsi);
void lws_client_context_destroy(struct libwebsocket_context *context);
/* TCP (and TLS) are up: send the opening handshake. */
void lws_client_send_request(struct libwebsocket *wsi);

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
/* What the host must know of an extension beyond the public struct (whose
 * layout the classic API fixes): each built-in extension describes itself
 * with one of these, beside its entry in libwebsocket_internal_extensions. */
#define LWS_EXTF_RSV1 0x01        /* it sets RSV1 on the frames it transforms */
#define LWS_EXTF_PER_MESSAGE 0x02 /* ... and only on a message's first frame */
#define LWS_EXTF_COMPRESSION 0x04 /* one compression extension per connection */
struct lws_ext_desc {
	extension_callback_function *callback; /* the extension it describes */
	unsigned flags;                        /* LWS_EXTF_* */
	/* (LWS_EXTF_RSV1) its received output is about to be suspended: copy the
	 * input it has not used yet into its own memory.  0, or -1. */
	int (*rx_keep)(void *user);
};
/* ext's description; NULL for a user's extension (no flags). */
const struct lws_ext_desc *lws_ext_desc_of(const struct libwebsocket_extension *ext);
/* permessage-deflate's and deflate-frame's rx_keep */
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

/* ---- wake.c: the loop's side of requests from other threads ---- */
int lws_wake_init(struct libwebsocket_context *context);
void lws_wake_destroy(struct libwebsocket_context *context);

/* ---- tls.c ---- */
int lws_tls_server_init(struct libwebsocket_context *context, const char *cert,
			const char *key, const char *ca);
int lws_tls_accept_start(struct libwebsocket *wsi);
int lws_tls_client_start(struct libwebsocket *wsi, int ssl_connection, const char *host);
/* 1 done, 0 under way, -1 failed (why filled in) */
int lws_tls_handshake(struct libwebsocket *wsi, char *why, size_t why_size);
/* bytes read, or LWS_READ_EOF (close_notify), _ERROR, _AGAIN */
ssize_t lws_tls_read(struct libwebsocket *wsi, uint8_t *buf, size_t len);
/* The bottom read layer: bytes from the socket, through TLS when the
 * connection has it (sets wsi->rx_more when OpenSSL holds more). */
ssize_t lws_read_socket(struct libwebsocket *wsi, uint8_t *buf, size_t cap);
/* TLS close_notify (if TLS) and the TCP FIN: nothing more will be sent. */
void lws_conn_shut_write(struct libwebsocket *wsi);
/* bytes written, 0 when it would block, -1 on error */
ssize_t lws_tls_write(struct libwebsocket *wsi, const uint8_t *buf, size_t len);
void lws_tls_free(struct libwebsocket *wsi);
/* Send the TLS close_notify (once; best effort). */
void lws_tls_close_notify(struct libwebsocket *wsi);
void lws_tls_context_destroy(struct libwebsocket_context *context);

/* ---- http_file.c ---- */
/* The socket can take more and a file is being sent: send the next part. */
void lws_http_file_continue(struct libwebsocket *wsi);

/* ---- broadcast.c ---- */
int lws_broadcast_init(struct libwebsocket_context *context);
void lws_broadcast_destroy(struct libwebsocket_context *context);
/* ---- fanout.c ---- */
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
/* monotonic ms the backplane's timer is due, 0 = none; tick runs what is due */
int64_t lws_redis_due(struct libwebsocket_context *context);
void lws_redis_tick(struct libwebsocket_context *context, int64_t now);
void lws_redis_destroy(struct libwebsocket_context *context);

/* ---- accept.c: the listeners ---- */
/* A listener is readable (its struct lws_watch's ready handler). */
void lws_accept_ready(struct libwebsocket_context *context, struct lws_watch *w,
		      uint32_t events);
/* The back-off after running out of descriptors is over: watch them again
 * (the loop calls it when accept_resume_at is due). */
void lws_accept_resume(struct libwebsocket_context *context);

/* ---- net.c ---- */
void lws_canonical_hostname_init(struct libwebsocket_context *context);

/* ---- gather.c: writes outside a dispatch, gathered (the asyncio layer) ---- */
/* Cork wsi's writes (what another connection gathered is sent first). */
void lws_gather_writes(struct libwebsocket *wsi);
/* Send what was gathered; every service call begins with it. */
void lws_gather_flush(struct libwebsocket_context *context);

/* ---- message.c: whole-message delivery (lws_set_whole_messages) ---- */
enum { LWS_MSG_KEEP, LWS_MSG_WHOLE, LWS_MSG_TOO_BIG, LWS_MSG_NO_MEMORY };
/* Take a piece: KEEP (gathered, more to come), WHOLE (*data, *len: the whole
 * message, data[len] == 0 when gathered), TOO_BIG (over max), NO_MEMORY. */
int lws_msg_gather(struct libwebsocket *wsi, uint8_t **data, size_t *len, int final,
		   size_t max);
/* Free what was gathered (after the whole message was delivered, or at close). */
void lws_msg_release(struct libwebsocket *wsi);
/* The largest message gathered: the message size limit, or the default. */
size_t lws_msg_limit(const struct libwebsocket *wsi);

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

/* ---- limits.c (inline) ---- */
static inline int lws_limits_need_tick(const struct libwebsocket_context *context)
{
	return (context->limits[LWS_LIMIT_KEEPALIVE_IDLE_SECS] && context->conns) ||
	       (context->limits[LWS_LIMIT_OUTPUT_STALL_SECS] && context->out_conns);
}

/* ---- ext.c, ext_rx.c (inline: both call them) ---- */
/* Call the connection's i-th active extension. */
static inline int lws_ext_call(struct libwebsocket *wsi, int i,
			       enum libwebsocket_extension_callback_reasons reason, void *in,
			       size_t len)
{
	struct lws_ext_active *a = &wsi->ext[i];
	return a->ext->callback(wsi->context, a->ext, wsi, reason, a->user, in, len);
}

/* Is a per-message extension (permessage-deflate) active on wsi? */
static inline int lws_ext_per_message(const struct libwebsocket *wsi)
{
	for (int i = 0; i < wsi->num_ext; i++)
		if (wsi->ext_flags[i] & LWS_EXTF_PER_MESSAGE)
			return 1;
	return 0;
}

#endif /* PYLWS_PRIVATE_H */
