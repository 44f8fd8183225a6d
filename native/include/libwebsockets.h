/*
 * libwebsockets.h - the public API of pylws: the classic (early-2013) libwebsockets
 * interface, implemented from its documentation.
 *
 * Programs written for that generation of the API compile against this header
 * unchanged: identifiers, enum order and values and struct field order follow it.
 * Everything declared here works as documented; functions of the classic API that
 * are not implemented yet are not declared.  A few additions, marked "pylws
 * addition", set limits the classic API had no way to set.
 */
#ifndef PYLWS_LIBWEBSOCKETS_H
#define PYLWS_LIBWEBSOCKETS_H

/*
 * What the classic header brought in on POSIX systems, and programs of that
 * generation rely on: struct pollfd and POLLIN/POLLOUT/POLLERR/POLLHUP for the
 * external-poll callbacks (a file-scope `struct pollfd pollfds[100]`), and
 * <unistd.h>'s close(), usleep() and friends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <poll.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every function and object of the API is declared through LWS_EXTERN, which
 * marks it exported (LWS_VISIBLE).  The library itself is compiled with hidden
 * visibility, so libpylws.so exports exactly what this header declares and
 * nothing of its internals (tests/test_exports.py compares the two).
 */
#ifndef LWS_VISIBLE
#if defined(__GNUC__) || defined(__clang__)
#define LWS_VISIBLE __attribute__((visibility("default")))
#else
#define LWS_VISIBLE
#endif
#endif

#ifndef LWS_EXTERN
#define LWS_EXTERN extern LWS_VISIBLE
#endif

#define CONTEXT_PORT_NO_LISTEN 0
/* pylws addition: as libwebsocket_create_context's port, listen on a port the
 * system chooses (lws_context_listen_port says which) */
#define LWS_CONTEXT_PORT_ANY (-1)
#define MAX_MUX_RECURSION 2
#define LWS_SEND_BUFFER_PRE_PADDING (4 + 10 + (2 * MAX_MUX_RECURSION))
#define LWS_SEND_BUFFER_POST_PADDING 4

enum lws_log_levels {
	LLL_ERR = 1 << 0,
	LLL_WARN = 1 << 1,
	LLL_INFO = 1 << 2,
	LLL_DEBUG = 1 << 3,
	LLL_PARSER = 1 << 4,
	LLL_HEADER = 1 << 5,
	LLL_EXT = 1 << 6,
	LLL_CLIENT = 1 << 7,

	LLL_COUNT = 8 /* set to count of valid flags */
};

/* printf-style logging into the library's log (pylws provides the later macros) */
#if defined(__GNUC__) || defined(__clang__)
#define LWS_FORMAT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LWS_FORMAT_PRINTF(f, a)
#endif
LWS_EXTERN void _lws_log(int filter, const char *format, ...) LWS_FORMAT_PRINTF(2, 3);
#define lwsl_err(...) _lws_log(LLL_ERR, __VA_ARGS__)
#define lwsl_warn(...) _lws_log(LLL_WARN, __VA_ARGS__)
#define lwsl_notice(...) _lws_log(LLL_WARN, __VA_ARGS__)
#define lwsl_info(...) _lws_log(LLL_INFO, __VA_ARGS__)
#define lwsl_debug(...) _lws_log(LLL_DEBUG, __VA_ARGS__)
#define lwsl_parser(...) _lws_log(LLL_PARSER, __VA_ARGS__)
#define lwsl_header(...) _lws_log(LLL_HEADER, __VA_ARGS__)
#define lwsl_ext(...) _lws_log(LLL_EXT, __VA_ARGS__)
#define lwsl_client(...) _lws_log(LLL_CLIENT, __VA_ARGS__)
/* later programs name a NOTICE level; here it is WARN, where lwsl_notice logs */
#define LLL_NOTICE LLL_WARN
/* hex and ASCII of size bytes at buf, 16 a line, logged at LLL_DEBUG */
LWS_EXTERN void lwsl_hexdump(void *buf, size_t size);

enum libwebsocket_context_options {
	LWS_SERVER_OPTION_DEFEAT_CLIENT_MASK = 1,
	LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT = 2,
	LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME = 4,
	/* pylws: the listen socket takes SO_REUSEPORT, so several processes (each
	 * with its own context, all with this option) share the port and the
	 * kernel spreads new connections across them (see lws_start_workers) */
	LWS_SERVER_OPTION_REUSEPORT = 1 << 24,
	/* pylws addition: server connections are told of pongs too, with
	 * LWS_CALLBACK_CLIENT_RECEIVE_PONG (for keepalive pings they send) */
	LWS_SERVER_OPTION_REPORT_PONGS = 1 << 25, /* far from the classic bits (1, 2, 4, later 8...) */
};

/*
 * RECEIVE and CLIENT_RECEIVE: in/len is a piece of a message, and in[len] is a
 * 0 byte, as in the classic library: a text piece may be used as a C string
 * (strlen, strcmp, printf("%s")) for the duration of the callback.  The same
 * holds for CLIENT_RECEIVE_PONG's payload, CLOSED's close payload, HTTP's URI
 * and the lws_tokens of FILTER_PROTOCOL_CONNECTION.  An extension that points
 * PACKET_RX_PREPARSE's token at its own buffer leaves one byte of room after
 * token_len for it (LWS_SEND_BUFFER_POST_PADDING is enough).
 */
enum libwebsocket_callback_reasons {
	LWS_CALLBACK_ESTABLISHED,
	LWS_CALLBACK_CLIENT_CONNECTION_ERROR,
	LWS_CALLBACK_CLIENT_ESTABLISHED,
	LWS_CALLBACK_CLOSED, /* pylws: in/len = the peer's close payload (code, reason) if any */
	LWS_CALLBACK_RECEIVE,
	LWS_CALLBACK_CLIENT_RECEIVE,
	LWS_CALLBACK_CLIENT_RECEIVE_PONG,
	LWS_CALLBACK_CLIENT_WRITEABLE,
	LWS_CALLBACK_SERVER_WRITEABLE,
	LWS_CALLBACK_HTTP,
	LWS_CALLBACK_HTTP_FILE_COMPLETION,
	LWS_CALLBACK_BROADCAST,
	LWS_CALLBACK_FILTER_NETWORK_CONNECTION,
	LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION,
	LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS,
	LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS,
	LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION,
	LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER,
	LWS_CALLBACK_CONFIRM_EXTENSION_OKAY,
	LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED,
	/* external poll loop support calls */
	LWS_CALLBACK_ADD_POLL_FD,
	LWS_CALLBACK_DEL_POLL_FD,
	LWS_CALLBACK_SET_MODE_POLL_FD,
	LWS_CALLBACK_CLEAR_MODE_POLL_FD,
};

enum libwebsocket_extension_callback_reasons {
	LWS_EXT_CALLBACK_SERVER_CONTEXT_CONSTRUCT,
	LWS_EXT_CALLBACK_CLIENT_CONTEXT_CONSTRUCT,
	LWS_EXT_CALLBACK_SERVER_CONTEXT_DESTRUCT,
	LWS_EXT_CALLBACK_CLIENT_CONTEXT_DESTRUCT,
	LWS_EXT_CALLBACK_CONSTRUCT,
	LWS_EXT_CALLBACK_CLIENT_CONSTRUCT,
	LWS_EXT_CALLBACK_CHECK_OK_TO_REALLY_CLOSE,
	LWS_EXT_CALLBACK_CHECK_OK_TO_PROPOSE_EXTENSION,
	LWS_EXT_CALLBACK_DESTROY,
	LWS_EXT_CALLBACK_DESTROY_ANY_WSI_CLOSING,
	LWS_EXT_CALLBACK_ANY_WSI_ESTABLISHED,
	LWS_EXT_CALLBACK_PACKET_RX_PREPARSE,
	LWS_EXT_CALLBACK_PACKET_TX_PRESEND,
	LWS_EXT_CALLBACK_PACKET_TX_DO_SEND,
	LWS_EXT_CALLBACK_HANDSHAKE_REPLY_TX,
	LWS_EXT_CALLBACK_FLUSH_PENDING_TX,
	LWS_EXT_CALLBACK_EXTENDED_PAYLOAD_RX,
	LWS_EXT_CALLBACK_CAN_PROXY_CLIENT_CONNECTION,
	LWS_EXT_CALLBACK_1HZ,
	LWS_EXT_CALLBACK_REQUEST_ON_WRITEABLE,
	LWS_EXT_CALLBACK_IS_WRITEABLE,
	LWS_EXT_CALLBACK_PAYLOAD_TX,
	LWS_EXT_CALLBACK_PAYLOAD_RX,
};

enum libwebsocket_write_protocol {
	LWS_WRITE_TEXT,
	LWS_WRITE_BINARY,
	LWS_WRITE_CONTINUATION,
	LWS_WRITE_HTTP,

	/* special 04+ opcodes */
	LWS_WRITE_CLOSE,
	LWS_WRITE_PING,
	LWS_WRITE_PONG,

	/* flags */
	LWS_WRITE_NO_FIN = 0x40,
	/* client packet payload goes out on wire unmunged, only useful for
	 * security tests since normal servers cannot decode the content */
	LWS_WRITE_CLIENT_IGNORE_XOR_MASK = 0x80
};

/*
 * A header of the client's handshake: token points into the request and is
 * NUL-terminated there (token[token_len] == '\0', so it prints with %s);
 * token == NULL when the header was absent.  FILTER_PROTOCOL_CONNECTION's
 * 'user' is an array of WSI_TOKEN_COUNT of them, indexed by lws_token_indexes.
 */
struct lws_tokens {
	char *token;
	int token_len;
};

enum lws_token_indexes {
	WSI_TOKEN_GET_URI,
	WSI_TOKEN_HOST,
	WSI_TOKEN_CONNECTION,
	WSI_TOKEN_KEY1,
	WSI_TOKEN_KEY2,
	WSI_TOKEN_PROTOCOL,
	WSI_TOKEN_UPGRADE,
	WSI_TOKEN_ORIGIN,
	WSI_TOKEN_DRAFT,
	WSI_TOKEN_CHALLENGE,

	/* new for 04 */
	WSI_TOKEN_KEY,
	WSI_TOKEN_VERSION,
	WSI_TOKEN_SWORIGIN,

	/* new for 05 */
	WSI_TOKEN_EXTENSIONS,

	/* client receives these */
	WSI_TOKEN_ACCEPT,
	WSI_TOKEN_NONCE,
	WSI_TOKEN_HTTP,
	WSI_TOKEN_MUXURL,

	/* always last real token index */
	WSI_TOKEN_COUNT,
};

/*
 * RFC 6455 close status codes (section 7.4.1).  NOSTATUS asks
 * libwebsocket_close_and_free_session for a close frame without a code.
 */
enum lws_close_status {
	LWS_CLOSE_STATUS_NOSTATUS = 0,
	LWS_CLOSE_STATUS_NORMAL = 1000,
	LWS_CLOSE_STATUS_GOINGAWAY = 1001,
	LWS_CLOSE_STATUS_PROTOCOL_ERR = 1002,
	LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE = 1003,
	LWS_CLOSE_STATUS_RESERVED = 1004,
	LWS_CLOSE_STATUS_NO_STATUS = 1005,
	LWS_CLOSE_STATUS_ABNORMAL_CLOSE = 1006,
	LWS_CLOSE_STATUS_INVALID_PAYLOAD = 1007,
	LWS_CLOSE_STATUS_POLICY_VIOLATION = 1008,
	LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE = 1009,
	LWS_CLOSE_STATUS_EXTENSION_REQUIRED = 1010,
	LWS_CLOSE_STATUS_UNEXPECTED_CONDITION = 1011,
	LWS_CLOSE_STATUS_TLS_FAILURE = 1015,
};

/* Why a connection has a pending timeout (libwebsocket_set_timeout). */
enum pending_timeout {
	NO_PENDING_TIMEOUT = 0,
	PENDING_TIMEOUT_AWAITING_PROXY_RESPONSE,
	PENDING_TIMEOUT_AWAITING_CONNECT_RESPONSE,
	PENDING_TIMEOUT_ESTABLISH_WITH_SERVER,
	PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE,
	PENDING_TIMEOUT_AWAITING_PING,
	PENDING_TIMEOUT_CLOSE_ACK,
	PENDING_TIMEOUT_AWAITING_EXTENSION_CONNECT_RESPONSE,
	PENDING_TIMEOUT_SENT_CLIENT_HANDSHAKE,
	PENDING_TIMEOUT_SSL_ACCEPT,
};

struct libwebsocket;
struct libwebsocket_context;
struct libwebsocket_extension;

typedef int (callback_function)(struct libwebsocket_context *context,
				struct libwebsocket *wsi,
				enum libwebsocket_callback_reasons reason,
				void *user, void *in, size_t len);

typedef int (extension_callback_function)(struct libwebsocket_context *context,
				struct libwebsocket_extension *ext,
				struct libwebsocket *wsi,
				enum libwebsocket_extension_callback_reasons reason,
				void *user, void *in, size_t len);

/*
 * One protocol the server speaks.  An array of these, ended by an entry whose
 * callback is NULL, goes to libwebsocket_create_context; the library fills in
 * the last four members.
 */
struct libwebsocket_protocols {
	const char *name;
	callback_function *callback;
	size_t per_session_data_size;

	/* below are filled in by the library */
	struct libwebsocket_context *owning_server;
	int broadcast_socket_port;
	int broadcast_socket_user_fd;
	int protocol_index;
};

/* An extension; an array ends with an entry whose callback is NULL. */
struct libwebsocket_extension {
	const char *name;
	extension_callback_function *callback;
	size_t per_session_data_size;
	void *per_context_private_data;
};

/*
 * The built-in extensions, ended by a NULL callback: pass this array as
 * create_context's `extensions` to enable them.  In the order a client offers
 * them: "permessage-deflate" (RFC 7692: context takeover and window bits
 * negotiated both ways), "deflate-frame" and its alias
 * "x-webkit-deflate-frame" (each data frame compressed on its own), and
 * "deflate-stream" (the whole byte stream after the handshake compressed).
 * A connection uses one of them at most: a server takes the first the
 * client offers.
 */
LWS_EXTERN struct libwebsocket_extension libwebsocket_internal_extensions[];

/* ---- context ---- */

LWS_EXTERN struct libwebsocket_context *
libwebsocket_create_context(int port, const char *interf,
			    struct libwebsocket_protocols *protocols,
			    struct libwebsocket_extension *extensions,
			    const char *ssl_cert_filepath,
			    const char *ssl_private_key_filepath,
			    const char *ssl_ca_filepath,
			    int gid, int uid, unsigned int options,
			    void *user);

/*
 * The older forms of libwebsocket_create_context compile too (C and C++, no
 * flag to set): a macro counts the arguments and calls the 11-argument
 * function above, whose address (&libwebsocket_create_context, or the name
 * without parentheses) is unaffected.
 *   11: (port, interf, protocols, extensions, ssl_cert_filepath,
 *        ssl_private_key_filepath, ssl_ca_filepath, gid, uid, options, user)
 *   10: (port, interf, protocols, extensions, ssl_cert_filepath,
 *        ssl_private_key_filepath, gid, uid, options, user)    2012-10 .. 2013-01
 *    9: (port, interf, protocols, extensions, ssl_cert_filepath,
 *        ssl_private_key_filepath, gid, uid, options)          2011-03 .. 2012-10
 * The missing arguments are NULL (no CA file, no user pointer).  Other
 * counts do not compile.  Write (libwebsocket_create_context)(...) to call
 * the function itself without the macro.
 *
 * How: LWS_ARITY_PICK_n_ takes the arguments followed by one name per
 * count, highest first, and yields the name in the position that the count
 * of arguments selects; the names past the lowest accepted count keep at
 * least one argument in the '...' for every accepted count, which ISO C
 * before C23 and C++ before C++20 require (-pedantic).
 */
#define LWS_ARITY_PICK_11_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, name, ...) name
#define LWS_ARITY_PICK_4_(a1, a2, a3, a4, name, ...) name
#define LWS_CREATE_CONTEXT_11_(...) libwebsocket_create_context(__VA_ARGS__)
#define LWS_CREATE_CONTEXT_10_(port, interf, protocols, extensions, cert, key, gid, uid,   \
			       options, user)                                      \
	libwebsocket_create_context(port, interf, protocols, extensions, cert, key, NULL,  \
				    gid, uid, options, user)
#define LWS_CREATE_CONTEXT_9_(port, interf, protocols, extensions, cert, key, gid, uid,    \
			      options)                                             \
	libwebsocket_create_context(port, interf, protocols, extensions, cert, key, NULL,  \
				    gid, uid, options, NULL)
#define libwebsocket_create_context(...)                                                 \
	LWS_ARITY_PICK_11_(__VA_ARGS__, LWS_CREATE_CONTEXT_11_, LWS_CREATE_CONTEXT_10_,    \
			   LWS_CREATE_CONTEXT_9_, LWS_CC_BAD_, LWS_CC_BAD_, LWS_CC_BAD_,   \
			   LWS_CC_BAD_, LWS_CC_BAD_, LWS_CC_BAD_, LWS_CC_BAD_, LWS_CC_BAD_)  \
	(__VA_ARGS__)
#define LWS_CC_BAD_(...) lws_create_context_takes_9_10_or_11_arguments

LWS_EXTERN void libwebsocket_context_destroy(struct libwebsocket_context *context);

LWS_EXTERN void *libwebsocket_context_user(struct libwebsocket_context *context);

LWS_EXTERN int libwebsocket_service(struct libwebsocket_context *context, int timeout_ms);

/*
 * For programs with their own poll loop: every descriptor the library opens,
 * closes or changes interest in is announced to protocols[0] through
 * LWS_CALLBACK_ADD_POLL_FD, DEL_POLL_FD, SET_MODE_POLL_FD and CLEAR_MODE_POLL_FD
 * (user = the fd, len = the POLLIN/POLLOUT bits).  When poll says one is
 * ready, pass its pollfd here.  Timeouts and deferred work need nothing more:
 * the library's own timer descriptor is announced like the others and becomes
 * ready when they are due.  pollfd may be NULL (just run what is due).
 * Returns 0 when serviced (revents is cleared), 1 when the descriptor is not
 * the library's, <0 on a fatal error.
 */
LWS_EXTERN int libwebsocket_service_fd(struct libwebsocket_context *context,
				       struct pollfd *pollfd);

LWS_EXTERN int libwebsockets_fork_service_loop(struct libwebsocket_context *context);

LWS_EXTERN const char *libwebsocket_canonical_hostname(struct libwebsocket_context *context);

/* ---- client connections ---- */

LWS_EXTERN struct libwebsocket *
libwebsocket_client_connect(struct libwebsocket_context *clients,
			    const char *address, int port, int ssl_connection,
			    const char *path, const char *host, const char *origin,
			    const char *protocol, int ietf_version_or_minus_one);

LWS_EXTERN struct libwebsocket *
libwebsocket_client_connect_extended(struct libwebsocket_context *clients,
				     const char *address, int port, int ssl_connection,
				     const char *path, const char *host, const char *origin,
				     const char *protocol, int ietf_version_or_minus_one,
				     void *userdata);

/* ---- connections ----
 *
 * Threads: callbacks run on the thread that calls libwebsocket_service (or
 * service_fd).  From any other thread only these may be called, and they take
 * effect on the loop's thread shortly after: libwebsocket_callback_on_writable,
 * libwebsocket_callback_on_writable_all_protocol, libwebsockets_broadcast,
 * libwebsocket_close_and_free_session and libwebsocket_rx_flow_control.  A
 * request for a connection that has closed meanwhile is dropped; never use a
 * wsi after its CLOSED callback.
 */

LWS_EXTERN int libwebsocket_write(struct libwebsocket *wsi, unsigned char *buf,
				  size_t len, enum libwebsocket_write_protocol protocol);

LWS_EXTERN int libwebsocket_callback_on_writable(struct libwebsocket_context *context,
						 struct libwebsocket *wsi);

LWS_EXTERN int libwebsocket_callback_on_writable_all_protocol(
	const struct libwebsocket_protocols *protocol);

LWS_EXTERN int lws_send_pipe_choked(struct libwebsocket *wsi);

LWS_EXTERN int libwebsocket_rx_flow_control(struct libwebsocket *wsi, int enable);

LWS_EXTERN int libwebsockets_broadcast(const struct libwebsocket_protocols *protocol,
				       unsigned char *buf, size_t len);

LWS_EXTERN void libwebsocket_close_and_free_session(struct libwebsocket_context *context,
						    struct libwebsocket *wsi,
						    enum lws_close_status reason);

LWS_EXTERN void libwebsocket_set_timeout(struct libwebsocket *wsi,
					 enum pending_timeout reason, int secs);

LWS_EXTERN int libwebsocket_get_socket_fd(struct libwebsocket *wsi);

LWS_EXTERN const struct libwebsocket_protocols *
libwebsockets_get_protocol(struct libwebsocket *wsi);

LWS_EXTERN void *libwebsocket_ensure_user_space(struct libwebsocket *wsi);

LWS_EXTERN void libwebsockets_hangup_on_client(struct libwebsocket_context *context, int fd);

LWS_EXTERN void libwebsockets_get_peer_addresses(int fd, char *name, int name_len,
						 char *rip, int rip_len);

/*
 * The later 7-argument form, (context, wsi, fd, name, name_len, rip,
 * rip_len), compiles too: a macro counts the arguments (see
 * libwebsocket_create_context); context and wsi are evaluated and not needed.
 */
#define LWS_ARITY_PICK_7_(a1, a2, a3, a4, a5, a6, a7, name, ...) name
#define LWS_PEER_ADDRESSES_5_(...) libwebsockets_get_peer_addresses(__VA_ARGS__)
#define LWS_PEER_ADDRESSES_7_(context, wsi, fd, name, name_len, rip, rip_len)              \
	((void)(context), (void)(wsi),                                                     \
	 libwebsockets_get_peer_addresses(fd, name, name_len, rip, rip_len))
#define LWS_PEER_ADDRESSES_BAD_(...) lws_get_peer_addresses_takes_5_or_7_arguments
#define libwebsockets_get_peer_addresses(...)                                            \
	LWS_ARITY_PICK_7_(__VA_ARGS__, LWS_PEER_ADDRESSES_7_, LWS_PEER_ADDRESSES_BAD_,     \
			  LWS_PEER_ADDRESSES_5_, LWS_PEER_ADDRESSES_BAD_,                  \
			  LWS_PEER_ADDRESSES_BAD_)                                         \
	(__VA_ARGS__)

/* ---- HTTP ---- */

LWS_EXTERN int libwebsockets_serve_http_file(struct libwebsocket_context *context,
					     struct libwebsocket *wsi, const char *file,
					     const char *content_type);

/*
 * The 3-argument form that preceded this one, (wsi, file, content_type),
 * compiles too: a macro counts the arguments (see libwebsocket_create_context)
 * and passes context as NULL, which the function does not need.
 */
#define LWS_SERVE_HTTP_FILE_4_(...) libwebsockets_serve_http_file(__VA_ARGS__)
#define LWS_SERVE_HTTP_FILE_3_(wsi, file, content_type)                                  \
	libwebsockets_serve_http_file(NULL, wsi, file, content_type)
#define libwebsockets_serve_http_file(...)                                               \
	LWS_ARITY_PICK_4_(__VA_ARGS__, LWS_SERVE_HTTP_FILE_4_, LWS_SERVE_HTTP_FILE_3_,     \
			  LWS_SHF_BAD_, LWS_SHF_BAD_)                                      \
	(__VA_ARGS__)
#define LWS_SHF_BAD_(...) lws_serve_http_file_takes_3_or_4_arguments

LWS_EXTERN int libwebsockets_serve_http_file_fragment(struct libwebsocket_context *context,
						      struct libwebsocket *wsi);

/* ---- inside a RECEIVE callback ---- */

LWS_EXTERN int libwebsocket_is_final_fragment(struct libwebsocket *wsi);

LWS_EXTERN unsigned char libwebsocket_get_reserved_bits(struct libwebsocket *wsi);

LWS_EXTERN int lws_frame_is_binary(struct libwebsocket *wsi);

LWS_EXTERN size_t libwebsockets_remaining_packet_payload(struct libwebsocket *wsi);

/*
 * pylws addition: with on != 0, wsi's RECEIVE callback gets every message
 * whole, in one call (in[len] == 0 after it, libwebsocket_is_final_fragment()
 * 1, lws_frame_is_binary() its type), gathered from its fragments (after
 * permessage-deflate or deflate-frame) by the library; a message that came as
 * one piece is not copied.  A message over the message size limit
 * (lws_set_max_message_size; 64 MiB when that is 0) closes with 1009.  Call it
 * in ESTABLISHED (or CLIENT_ESTABLISHED), or between messages; on == 0 goes
 * back to pieces from the next message.  Returns 0, or -1 (errno EINVAL) for a
 * NULL wsi.
 */
LWS_EXTERN int lws_set_whole_messages(struct libwebsocket *wsi, int on);

/*
 * pylws addition: the status code of the close frame this side sent on wsi
 * (libwebsocket_close_and_free_session's, an LWS_WRITE_CLOSE's, the one the
 * library sent itself: 1002 protocol error, 1007 bad UTF-8, 1009 message too
 * big, 1011, 1001 going away..., or the peer's code echoed back), e.g. in the
 * CLOSED callback, whose in/len carry only the peer's close payload.  0 when
 * no close frame was sent or it had no code; -1 (errno EINVAL) for a NULL wsi.
 */
LWS_EXTERN int lws_close_status_sent(const struct libwebsocket *wsi);

/* ---- utilities ---- */

LWS_EXTERN void lws_set_log_level(int level, void (*log_emit_function)(const char *line));

/* An emitter for lws_set_log_level that sends each line to syslog(3) (ERR,
 * WARN and INFO lines at those priorities, the rest at LOG_DEBUG), as the
 * classic demos did with lws_set_log_level(level, lwsl_emit_syslog). */
LWS_EXTERN void lwsl_emit_syslog(const char *line);

LWS_EXTERN int libwebsockets_get_random(struct libwebsocket_context *context,
					void *buf, int len);

LWS_EXTERN unsigned char *libwebsockets_SHA1(const unsigned char *d, size_t n,
					     unsigned char *md);

LWS_EXTERN int lws_b64_encode_string(const char *in, int in_len, char *out, int out_size);

LWS_EXTERN int lws_b64_decode_string(const char *in, char *out, int out_size);

/* ---- pylws additions: limits the classic API could not set ---- */

/*
 * Largest message (sum of its fragments' payloads) a connection may receive;
 * a larger one is closed with 1009.  0 = no limit.  Default 64 MiB.
 */
LWS_EXTERN void lws_set_max_message_size(struct libwebsocket_context *context,
					 size_t bytes);

/*
 * pylws: the same limit for one connection (its messages from now on; call it
 * in ESTABLISHED or CLIENT_ESTABLISHED), e.g. when the connections of one
 * context need different limits.  A later lws_set_max_message_size of the
 * context sets it again.  Returns 0, or -1 (errno EINVAL) for a NULL wsi.
 */
LWS_EXTERN int lws_set_wsi_max_message_size(struct libwebsocket *wsi, size_t bytes);

/*
 * Seconds a new connection has to send a complete HTTP request head before it
 * is dropped (an incomplete one gets "408 Request Timeout").  Default 10.
 * Client connections made after the call get the same time from
 * libwebsocket_client_connect to the server's 101 (lookup and connect
 * included): past it, CLIENT_CONNECTION_ERROR.
 */
LWS_EXTERN void lws_set_handshake_timeout(struct libwebsocket_context *context,
					  int secs);

/*
 * Context-wide limits: lws_context_set_limit(context, LWS_LIMIT_..., value)
 * sets one (returns 0, or -1 with errno EINVAL for an unknown limit or a value
 * out of range), lws_context_get_limit reads it back (-1 for an unknown one).
 * They apply at once, to the connections already open too.  0 turns a limit
 * off, except LWS_LIMIT_KEEPALIVE_PONG_SECS (1 or more).
 *
 * LWS_LIMIT_MAX_CONNECTIONS: accepted connections open at once.  One more is
 *	answered "503 Service Unavailable" (nothing on a TLS port) and closed
 *	at once; the open ones are not affected.  Default: the descriptor limit
 *	(RLIMIT_NOFILE) when the context was made, less 32.
 * LWS_LIMIT_OUTPUT_TOTAL: bytes of output queued (written, not yet taken by
 *	the peers' sockets) for all connections together.  Reached: no
 *	connection with queued output is read until the total falls to 3/4 of
 *	it, and a write that would make a connection's queue larger than its
 *	share (the limit over the connections with queued output) fails and
 *	cuts that connection -- a write answering the connection's own input
 *	(in its RECEIVE or WRITEABLE callback) only once the total is twice
 *	the limit.  Default 256 MiB.
 * LWS_LIMIT_OUTPUT_PAUSE: queued bytes above which a server connection is not
 *	read until they drain (a peer that sends without reading).  Default 4 MiB.
 * LWS_LIMIT_OUTPUT_MAX: queued bytes one connection may have; a write beyond
 *	it fails (-1) and cuts the connection.  Default 256 MiB.
 * LWS_LIMIT_OUTPUT_STALL_SECS: a connection with queued output whose peer
 *	takes none of it for this long is cut (CLOSED follows).  Default 60.
 * LWS_LIMIT_KEEPALIVE_IDLE_SECS: an established connection that receives no
 *	frame (or part of one) for this long is sent a ping; time while it is
 *	not read (libwebsocket_rx_flow_control, output limits) does not count.
 *	Default 0: off, connections are never closed for being quiet (the
 *	classic behaviour).
 * LWS_LIMIT_KEEPALIVE_PONG_SECS: after that ping, seconds a frame (the pong or
 *	any other) has to arrive; else the connection is closed with 1011
 *	"keepalive timeout", without waiting for the peer (CLOSED follows).
 *	Default 10.
 */
enum lws_limit {
	LWS_LIMIT_MAX_CONNECTIONS,
	LWS_LIMIT_OUTPUT_TOTAL,
	LWS_LIMIT_OUTPUT_PAUSE,
	LWS_LIMIT_OUTPUT_MAX,
	LWS_LIMIT_OUTPUT_STALL_SECS,
	LWS_LIMIT_KEEPALIVE_IDLE_SECS,
	LWS_LIMIT_KEEPALIVE_PONG_SECS,

	LWS_LIMIT_COUNT /* the number of limits */
};

LWS_EXTERN int lws_context_set_limit(struct libwebsocket_context *context,
				     enum lws_limit limit, long value);

LWS_EXTERN long lws_context_get_limit(struct libwebsocket_context *context,
				      enum lws_limit limit);

/*
 * For language bindings: the protocol whose callback the library is calling
 * right now on this context (NULL outside callbacks).
 */
LWS_EXTERN const struct libwebsocket_protocols *
lws_calling_protocol(struct libwebsocket_context *context);

/*
 * For language bindings: 'gone' is called once for every connection the
 * context drops, after the connection's last callback (CLOSED, if it had one,
 * and the external-poll DEL_POLL_FD); from then on the wsi must not be passed
 * to any function (its memory is freed at the end of the service call).
 * Connections dropped by libwebsocket_context_destroy are reported too.
 * NULL (the default) reports nothing.  Call it from the service loop's thread.
 */
LWS_EXTERN void lws_set_conn_gone_notify(struct libwebsocket_context *context,
					 void (*gone)(struct libwebsocket_context *context,
						      struct libwebsocket *wsi));

/*
 * For language bindings: 1 when 'wsi' is one of the context's connections
 * not dropped yet, else 0.  Compares addresses only (never reads *wsi), so any
 * pointer may be asked about; it walks the context's connections.
 */
LWS_EXTERN int lws_conn_is_live(struct libwebsocket_context *context,
				const struct libwebsocket *wsi);

/*
 * The port the context listens on (the one the system chose for
 * LWS_CONTEXT_PORT_ANY), or CONTEXT_PORT_NO_LISTEN (0) when it does not
 * listen.  pylws also takes a host name ("localhost") as the 'interf' of
 * libwebsocket_create_context when no interface has that name: it listens on
 * the name's first IPv4 address (else its first IPv6 one).
 */
LWS_EXTERN int lws_context_listen_port(struct libwebsocket_context *context);

/*
 * Inside the LWS_CALLBACK_HTTP, FILTER_PROTOCOL_CONNECTION and ESTABLISHED
 * callbacks of a server connection: the HTTP request head as received (the
 * request line, then every header line, each ending in LF; the parser may
 * have overwritten the CR before it, and the byte after the path, with a
 * NUL), its length in *len.  NULL (and *len 0) anywhere else.
 */
LWS_EXTERN const char *lws_request_head(struct libwebsocket *wsi, size_t *len);

/*
 * pylws addition: inside a server connection's
 * LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION callback, add the header line
 * "name: value" to the 101 Switching Protocols answer (after the library's
 * own lines; e.g. "Server", "Set-Cookie").  Returns 0, or -1 with errno set:
 * EINVAL for a NULL or empty name, a name that is not an HTTP token (RFC
 * 9110 5.6.2), a NULL value, or a value holding CR, LF or another control
 * character but tab (no header injection); EPERM outside that callback;
 * E2BIG when the added lines would pass 4 KiB; ENOMEM.
 *
 * pylws: a FILTER_PROTOCOL_CONNECTION callback may also answer the request
 * itself with libwebsocket_write(..., LWS_WRITE_HTTP) (a 401 with
 * WWW-Authenticate, a 403 with a page): the upgrade is then refused with
 * that answer instead of the library's 403, and the connection closed once
 * it is sent.
 */
LWS_EXTERN int lws_add_response_header(struct libwebsocket *wsi, const char *name,
				       const char *value);

/*
 * The client side's counterpart: inside a client connection's
 * LWS_CALLBACK_CLIENT_CONNECTION_ERROR callback, when the server's answer
 * arrived (a refused handshake: "401 Unauthorized", a 404, a 101 that fails a
 * check), and inside its LWS_CALLBACK_CLIENT_ESTABLISHED callback: the answer's
 * head as received (status line, then every header line, each ending in
 * CRLF, then the empty line), its length in *len.  The body follows it at
 * head + *len, *body_len bytes: as much of it as came with the head or
 * before the connection failed, at most its Content-Length; for a refused
 * answer announcing a Content-Length, the library waits for that many bytes
 * (within the handshake timeout) as far as head and body fit in 16 KiB.
 * Always 0 in ESTABLISHED (what follows a 101 is frames).  NULL (and 0s)
 * anywhere else, and when the connection failed before a whole head came
 * (refused, timed out, TLS...).  len and body_len may be NULL.
 */
LWS_EXTERN const char *lws_client_response_head(struct libwebsocket *wsi, size_t *len,
						 size_t *body_len);

/*
 * libwebsocket_write for a buffer without the pre/post padding: the library
 * copies it at most once.  Same return value and protocol flags.
 */
LWS_EXTERN int lws_write_unpadded(struct libwebsocket *wsi, const unsigned char *buf,
				  size_t len, enum libwebsocket_write_protocol protocol);

/*
 * pylws: the Redis backplane of libwebsockets_broadcast (scale-out).
 *
 * After lws_context_attach_redis(context, "redis://[[user]:password@]host[:port][/db]",
 * stream_key), a libwebsockets_broadcast(protocol, buf, len) of the context
 * (from its loop, another thread or a forked process) is delivered here at once
 * and added to the Redis stream stream_key (one stream for all protocols; each
 * entry holds the protocol name, the data, and the publishing context's origin
 * id and sequence number); every other attached context, in any process or
 * host, delivers it to its own connections of the protocol with the same
 * name: once each, in the publisher's order.  The context's loop drives two
 * hiredis connections (writer and reader), announced through
 * LWS_CALLBACK_ADD_POLL_FD & co like the other descriptors; no thread.
 *
 * Redis unreachable at attach or later: the context serves and broadcasts
 * locally, logs once, and reconnects with backoff; the broadcasts made
 * meanwhile (up to LWS_REDIS_PENDING_MAX / _BYTES, the oldest dropped beyond,
 * logged) are published on reconnect, in order.  Each context reads from the
 * last entry it delivered, so after a reconnect (or a Redis restart with
 * persistence) it delivers what it missed, unless the stream was trimmed past it
 * (XADD MAXLEN ~ LWS_REDIS_STREAM_MAXLEN): then a log line gives the count lost
 * (the gaps in each publisher's sequence numbers).
 * The first read starts at the attach time (stream ids are Redis' clock).
 * Host names are resolved blocking at each connect: prefer an address.
 *
 * Call it from the loop's thread once, before or while serving; it returns 0
 * (even when Redis is unreachable now) or -1 on a bad argument (errno set).
 * Attached, a broadcast larger than LWS_REDIS_MAX_MESSAGE fails (returns -1,
 * errno EMSGSIZE) without being delivered anywhere.  The context destroyed,
 * broadcasts not yet acknowledged by Redis are lost (logged with the count).
 */
LWS_EXTERN int lws_context_attach_redis(struct libwebsocket_context *context,
					const char *url, const char *stream_key);

enum lws_redis_option {
	LWS_REDIS_MAX_MESSAGE = 1,  /* bytes of one broadcast; default 1 MiB, max 512 MiB */
	LWS_REDIS_STREAM_MAXLEN,    /* entries the stream keeps (approximately); 10000 */
	LWS_REDIS_PENDING_MAX,      /* broadcasts kept while Redis is away; 10000 */
	LWS_REDIS_PENDING_BYTES,    /* their bytes; default 64 MiB */
	LWS_REDIS_RECONNECT_MIN_MS, /* first reconnect delay, doubling; 100 */
	LWS_REDIS_RECONNECT_MAX_MS, /* longest one; 5000 */
	LWS_REDIS_TIMEOUT_MS,       /* connect, or an XADD unanswered: reconnect; 5000 */
};

/* Set an option of an attached context, from the loop's thread: 0, or -1 (not
 * attached, value out of range: errno EINVAL). */
LWS_EXTERN int lws_context_redis_option(struct libwebsocket_context *context,
					enum lws_redis_option option, long long value);

/* 0 not attached, 1 attached but not connected (now), 2 connected and reading */
LWS_EXTERN int lws_context_redis_state(struct libwebsocket_context *context);

/*
 * pylws: start n worker processes (n >= 1) for a server listening with
 * LWS_SERVER_OPTION_REUSEPORT.  Call it before creating the context: each
 * worker gets its index (0 .. n-1) as the return value and goes on to create its
 * own context.  The calling process supervises: it returns once every worker
 * has exited, forwarding SIGTERM, SIGINT and SIGHUP to them all (so they stop
 * together); a worker that dies does not stop the others.  It returns -2 when
 * every worker exited with 0 (or by the signal forwarded), -3 when one failed
 * (another exit status, or killed by another signal: logged).  Workers get SIGTERM
 * when the supervisor dies.  -1 if no worker could be started (errno set; the
 * ones started are stopped).
 */
LWS_EXTERN int lws_start_workers(int n);

/*
 * In the LWS_CALLBACK_CLIENT_CONNECTION_ERROR callback of a wss:// client
 * connection whose server certificate was refused ("TLS: server certificate
 * refused: ..."): OpenSSL's X509_V_ERR_* code for why.  0 (X509_V_OK) when
 * the certificate was not refused, or the connection has no TLS (yet).
 */
LWS_EXTERN long lws_tls_verify_error(const struct libwebsocket *wsi);

#ifdef __cplusplus
}
#endif

#endif /* PYLWS_LIBWEBSOCKETS_H */
