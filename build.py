"""cffi builder for pylws_ffi (API mode, out-of-line).

``python build.py OUT.c`` writes the C source of the extension module
``pylws_ffi._pylws_cffi``; meson compiles it and links it with the static core
(see meson.build).  The cdef below restates native/include/libwebsockets.h in
the subset of C that cffi parses (no attributes, no macros with arguments);
tests/test_binding.py checks that it names every function and enum member of
the header, so the two cannot drift apart silently.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and __spec__ is not None and __spec__.name == "build":
    # `python -m build` run in the checkout finds this file first (the working
    # directory leads sys.path) instead of the pypa `build` tool that makes the
    # sdist and wheel: hand over to that tool.  meson runs this file by its path
    # (`python build.py OUT.c`, no __spec__), which never comes here.
    import importlib.util
    import os
    import runpy

    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.modules.pop("build", None)
    if importlib.util.find_spec("build") is None:
        sys.exit("python -m build: the pypa build tool is not installed (pip install build)")
    runpy.run_module("build", run_name="__main__", alter_sys=True)
    sys.exit(0)

import cffi

CDEF = r"""
/* ---- constants ---- */
#define CONTEXT_PORT_NO_LISTEN ...
#define LWS_CONTEXT_PORT_ANY ...
#define MAX_MUX_RECURSION ...
#define LWS_SEND_BUFFER_PRE_PADDING ...
#define LWS_SEND_BUFFER_POST_PADDING ...

enum lws_log_levels {
    LLL_ERR = 1,
    LLL_WARN = 2,
    LLL_INFO = 4,
    LLL_DEBUG = 8,
    LLL_PARSER = 16,
    LLL_HEADER = 32,
    LLL_EXT = 64,
    LLL_CLIENT = 128,
    LLL_COUNT = 8
};

enum libwebsocket_context_options {
    LWS_SERVER_OPTION_DEFEAT_CLIENT_MASK = 1,
    LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT = 2,
    LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME = 4,
    LWS_SERVER_OPTION_REPORT_PONGS = 33554432,
    LWS_SERVER_OPTION_REUSEPORT = 16777216
};

enum libwebsocket_callback_reasons {
    LWS_CALLBACK_ESTABLISHED,
    LWS_CALLBACK_CLIENT_CONNECTION_ERROR,
    LWS_CALLBACK_CLIENT_ESTABLISHED,
    LWS_CALLBACK_CLOSED,
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
    LWS_CALLBACK_ADD_POLL_FD,
    LWS_CALLBACK_DEL_POLL_FD,
    LWS_CALLBACK_SET_MODE_POLL_FD,
    LWS_CALLBACK_CLEAR_MODE_POLL_FD
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
    LWS_EXT_CALLBACK_PAYLOAD_RX
};

enum libwebsocket_write_protocol {
    LWS_WRITE_TEXT,
    LWS_WRITE_BINARY,
    LWS_WRITE_CONTINUATION,
    LWS_WRITE_HTTP,
    LWS_WRITE_CLOSE,
    LWS_WRITE_PING,
    LWS_WRITE_PONG,
    LWS_WRITE_NO_FIN = 0x40,
    LWS_WRITE_CLIENT_IGNORE_XOR_MASK = 0x80
};

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
    WSI_TOKEN_KEY,
    WSI_TOKEN_VERSION,
    WSI_TOKEN_SWORIGIN,
    WSI_TOKEN_EXTENSIONS,
    WSI_TOKEN_ACCEPT,
    WSI_TOKEN_NONCE,
    WSI_TOKEN_HTTP,
    WSI_TOKEN_MUXURL,
    WSI_TOKEN_COUNT
};

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
    LWS_CLOSE_STATUS_TLS_FAILURE = 1015
};

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
    PENDING_TIMEOUT_SSL_ACCEPT
};

/* ---- types ---- */
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

struct libwebsocket_protocols {
    const char *name;
    callback_function *callback;
    size_t per_session_data_size;
    struct libwebsocket_context *owning_server;
    int broadcast_socket_port;
    int broadcast_socket_user_fd;
    int protocol_index;
};

struct libwebsocket_extension {
    const char *name;
    extension_callback_function *callback;
    size_t per_session_data_size;
    void *per_context_private_data;
};

/* ---- log ---- */
void _lws_log(int filter, const char *format, ...);
void lwsl_hexdump(void *buf, size_t size);
void lws_set_log_level(int level, void (*log_emit_function)(const char *line));
void lwsl_emit_syslog(const char *line);

/* ---- context ---- */
struct libwebsocket_context *
libwebsocket_create_context(int port, const char *interf,
                            struct libwebsocket_protocols *protocols,
                            struct libwebsocket_extension *extensions,
                            const char *ssl_cert_filepath,
                            const char *ssl_private_key_filepath,
                            const char *ssl_ca_filepath,
                            int gid, int uid, unsigned int options,
                            void *user);
void libwebsocket_context_destroy(struct libwebsocket_context *context);
void *libwebsocket_context_user(struct libwebsocket_context *context);
int libwebsocket_service(struct libwebsocket_context *context, int timeout_ms);

/* ---- connections ---- */
int libwebsocket_write(struct libwebsocket *wsi, unsigned char *buf,
                       size_t len, enum libwebsocket_write_protocol protocol);
int libwebsocket_callback_on_writable(struct libwebsocket_context *context,
                                      struct libwebsocket *wsi);
int lws_send_pipe_choked(struct libwebsocket *wsi);
void libwebsocket_close_and_free_session(struct libwebsocket_context *context,
                                         struct libwebsocket *wsi,
                                         enum lws_close_status reason);
void libwebsocket_set_timeout(struct libwebsocket *wsi,
                              enum pending_timeout reason, int secs);
int libwebsocket_get_socket_fd(struct libwebsocket *wsi);
const struct libwebsocket_protocols *libwebsockets_get_protocol(struct libwebsocket *wsi);
void *libwebsocket_ensure_user_space(struct libwebsocket *wsi);

/* ---- client connections ---- */
struct libwebsocket *
libwebsocket_client_connect(struct libwebsocket_context *context,
                            const char *address, int port, int ssl_connection,
                            const char *path, const char *host, const char *origin,
                            const char *protocol, int ietf_version_or_minus_one);
struct libwebsocket *
libwebsocket_client_connect_extended(struct libwebsocket_context *context,
                                     const char *address, int port, int ssl_connection,
                                     const char *path, const char *host,
                                     const char *origin, const char *protocol,
                                     int ietf_version_or_minus_one, void *userdata);

/* ---- extensions ---- */
extern struct libwebsocket_extension libwebsocket_internal_extensions[];

/* ---- external poll loops ---- */
struct pollfd { int fd; short events; short revents; };
#define POLLIN ...
#define POLLOUT ...
#define POLLERR ...
#define POLLHUP ...
int libwebsocket_service_fd(struct libwebsocket_context *context, struct pollfd *pollfd);

/* ---- server services ---- */
int libwebsockets_fork_service_loop(struct libwebsocket_context *context);
const char *libwebsocket_canonical_hostname(struct libwebsocket_context *context);
int libwebsocket_callback_on_writable_all_protocol(
    const struct libwebsocket_protocols *protocol);
int libwebsocket_rx_flow_control(struct libwebsocket *wsi, int enable);
int libwebsockets_broadcast(const struct libwebsocket_protocols *protocol,
                            unsigned char *buf, size_t len);
void libwebsockets_hangup_on_client(struct libwebsocket_context *context, int fd);
void libwebsockets_get_peer_addresses(int fd, char *name, int name_len,
                                      char *rip, int rip_len);
int libwebsockets_serve_http_file(struct libwebsocket_context *context,
                                  struct libwebsocket *wsi, const char *file,
                                  const char *content_type);
int libwebsockets_serve_http_file_fragment(struct libwebsocket_context *context,
                                           struct libwebsocket *wsi);

/* ---- inside a RECEIVE callback ---- */
int libwebsocket_is_final_fragment(struct libwebsocket *wsi);
unsigned char libwebsocket_get_reserved_bits(struct libwebsocket *wsi);
int lws_frame_is_binary(struct libwebsocket *wsi);
int lws_close_status_sent(const struct libwebsocket *wsi);
size_t libwebsockets_remaining_packet_payload(struct libwebsocket *wsi);
int lws_set_whole_messages(struct libwebsocket *wsi, int on);

/* ---- utilities ---- */
int libwebsockets_get_random(struct libwebsocket_context *context, void *buf, int len);
unsigned char *libwebsockets_SHA1(const unsigned char *d, size_t n, unsigned char *md);
int lws_b64_encode_string(const char *in, int in_len, char *out, int out_size);
int lws_b64_decode_string(const char *in, char *out, int out_size);

/* ---- pylws additions ---- */
enum lws_limit {
    LWS_LIMIT_MAX_CONNECTIONS,
    LWS_LIMIT_OUTPUT_TOTAL,
    LWS_LIMIT_OUTPUT_PAUSE,
    LWS_LIMIT_OUTPUT_MAX,
    LWS_LIMIT_OUTPUT_STALL_SECS,
    LWS_LIMIT_KEEPALIVE_IDLE_SECS,
    LWS_LIMIT_KEEPALIVE_PONG_SECS,
    LWS_LIMIT_COUNT
};
int lws_context_set_limit(struct libwebsocket_context *context, enum lws_limit limit, long value);
long lws_context_get_limit(struct libwebsocket_context *context, enum lws_limit limit);
void lws_set_max_message_size(struct libwebsocket_context *context, size_t bytes);
int lws_set_wsi_max_message_size(struct libwebsocket *wsi, size_t bytes);
void lws_set_handshake_timeout(struct libwebsocket_context *context, int secs);
const struct libwebsocket_protocols *lws_calling_protocol(struct libwebsocket_context *context);
void lws_set_conn_gone_notify(struct libwebsocket_context *context,
                              void (*gone)(struct libwebsocket_context *, struct libwebsocket *));
int lws_conn_is_live(struct libwebsocket_context *context, const struct libwebsocket *wsi);
int lws_context_listen_port(struct libwebsocket_context *context);
const char *lws_request_head(struct libwebsocket *wsi, size_t *len);
int lws_add_response_header(struct libwebsocket *wsi, const char *name, const char *value);
const char *lws_client_response_head(struct libwebsocket *wsi, size_t *len, size_t *body_len);
int lws_write_unpadded(struct libwebsocket *wsi, const unsigned char *buf,
                       size_t len, enum libwebsocket_write_protocol protocol);
long lws_tls_verify_error(const struct libwebsocket *wsi);

/* ---- OpenSSL: the few calls made on the pointers the OpenSSL callbacks pass
 * (the SSL_CTX of LOAD_EXTRA_*_VERIFY_CERTS, the X509_STORE_CTX and SSL of
 * PERFORM_CLIENT_CERT_VERIFICATION): the libssl the core is linked with ---- */
typedef ... SSL_CTX;
typedef ... SSL;
typedef ... SSL_METHOD;
typedef ... X509;
typedef ... X509_NAME;
typedef ... X509_STORE_CTX;
#define SSL_FILETYPE_PEM ...
#define X509_V_OK ...
const SSL_METHOD *TLS_method(void);
SSL_CTX *SSL_CTX_new(const SSL_METHOD *method);
void SSL_CTX_free(SSL_CTX *ctx);
int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *cafile, const char *capath);
int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file);
int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type);
int SSL_CTX_check_private_key(const SSL_CTX *ctx);
int SSL_is_server(const SSL *ssl);
SSL_CTX *SSL_get_SSL_CTX(const SSL *ssl);
X509 *X509_STORE_CTX_get_current_cert(const X509_STORE_CTX *ctx);
int X509_STORE_CTX_get_error_depth(const X509_STORE_CTX *ctx);
X509_NAME *X509_get_subject_name(const X509 *x);
char *X509_NAME_oneline(const X509_NAME *a, char *buf, int size);
const char *X509_verify_cert_error_string(long n);
unsigned long ERR_get_error(void);
void ERR_clear_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);

/* ---- scale-out: the Redis backplane, worker processes ---- */
int lws_context_attach_redis(struct libwebsocket_context *context, const char *url,
                             const char *stream_key);
enum lws_redis_option {
    LWS_REDIS_MAX_MESSAGE = 1,
    LWS_REDIS_STREAM_MAXLEN,
    LWS_REDIS_PENDING_MAX,
    LWS_REDIS_PENDING_BYTES,
    LWS_REDIS_RECONNECT_MIN_MS,
    LWS_REDIS_RECONNECT_MAX_MS,
    LWS_REDIS_TIMEOUT_MS
};
int lws_context_redis_option(struct libwebsocket_context *context,
                             enum lws_redis_option option, long long value);
int lws_context_redis_state(struct libwebsocket_context *context);
/* C programs; Python: pylws_ffi.start_workers (os.fork keeps the interpreter sane) */
int lws_start_workers(int n);

/* ---- internal, for the asyncio layer (native/src/gather.c; not in the C API) ---- */
void lws_gather_writes(struct libwebsocket *wsi);
void lws_gather_flush(struct libwebsocket_context *context);

/* ---- trampolines: C calls these, they call Python (pylws_ffi/dispatch.py, log.py) ---- */
extern "Python" int _pylws_protocol_callback(struct libwebsocket_context *,
                                             struct libwebsocket *,
                                             enum libwebsocket_callback_reasons,
                                             void *, void *, size_t);
extern "Python" int _pylws_extension_callback(struct libwebsocket_context *,
                                              struct libwebsocket_extension *,
                                              struct libwebsocket *,
                                              enum libwebsocket_extension_callback_reasons,
                                              void *, void *, size_t);
/* RECEIVE and CLIENT_RECEIVE in a context of the asyncio layer: the payload
 * typed char *, so Python makes bytes of it with no cast, and what the
 * layer would ask next (PYLWS_RECEIVED_* bits) */
#define PYLWS_RECEIVED_BINARY ...
#define PYLWS_RECEIVED_FINAL ...
extern "Python" int _pylws_receive_callback(struct libwebsocket_context *,
                                            struct libwebsocket *,
                                            enum libwebsocket_callback_reasons,
                                            void *, char *, size_t, int);
/* the asyncio layer's protocol callback (SOURCE below): those two reasons to
 * _pylws_receive_callback, every other to _pylws_protocol_callback */
int _pylws_aio_protocol_callback(struct libwebsocket_context *, struct libwebsocket *,
                                 enum libwebsocket_callback_reasons, void *, void *, size_t);
/* the asyncio layer's send(): lws_write_unpadded, unless the output is choked */
#define PYLWS_CHOKED ...
int _pylws_aio_write(struct libwebsocket *, const unsigned char *, size_t,
                     enum libwebsocket_write_protocol);
extern "Python" void _pylws_log_emit(const char *);
extern "Python" void _pylws_conn_gone(struct libwebsocket_context *, struct libwebsocket *);
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
#: the module's C source: the headers the cdef restates
SOURCE = """\
#include <poll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "libwebsockets.h"
/* internal (native/src/gather.c): the asyncio layer's gathered writes */
void lws_gather_writes(struct libwebsocket *wsi);
void lws_gather_flush(struct libwebsocket_context *context);

/* cffi defines the extern "Python" functions further down, static */
static int _pylws_protocol_callback(struct libwebsocket_context *, struct libwebsocket *,
                                    enum libwebsocket_callback_reasons, void *, void *,
                                    size_t);
static int _pylws_receive_callback(struct libwebsocket_context *, struct libwebsocket *,
                                   enum libwebsocket_callback_reasons, void *, char *,
                                   size_t, int);
enum pylws_received { PYLWS_RECEIVED_BINARY = 1, PYLWS_RECEIVED_FINAL = 2 };

/* The callback of every protocol of a context of the asyncio layer: one
 * message of a connection goes to its own trampoline, which hands it to the
 * Connection (pylws_ffi/dispatch.py), with its type and whether it is the
 * last piece (two calls fewer from Python per message); everything else to
 * the common one. */
int _pylws_aio_protocol_callback(struct libwebsocket_context *context,
                                 struct libwebsocket *wsi,
                                 enum libwebsocket_callback_reasons reason, void *user,
                                 void *in, size_t len)
{
	if (reason == LWS_CALLBACK_RECEIVE || reason == LWS_CALLBACK_CLIENT_RECEIVE)
		return _pylws_receive_callback(
			context, wsi, reason, user, (char *)in, len,
			(lws_frame_is_binary(wsi) ? PYLWS_RECEIVED_BINARY : 0) |
				(libwebsocket_is_final_fragment(wsi) ? PYLWS_RECEIVED_FINAL : 0));
	return _pylws_protocol_callback(context, wsi, reason, user, in, len);
}

/* The asyncio layer's send(), with room: lws_write_unpadded's result, or
 * PYLWS_CHOKED (nothing written) while earlier output waits for the socket
 * (lws_send_pipe_choked), when send() waits for WRITEABLE first.  One call
 * from Python per message instead of two. */
enum pylws_aio_write { PYLWS_CHOKED = -2 };
int _pylws_aio_write(struct libwebsocket *wsi, const unsigned char *buf, size_t len,
                     enum libwebsocket_write_protocol kind)
{
	if (lws_send_pipe_choked(wsi))
		return PYLWS_CHOKED;
	return lws_write_unpadded(wsi, buf, len, kind);
}
"""
ffibuilder.set_source("pylws_ffi._pylws_cffi", SOURCE)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.c", file=sys.stderr)
        return 2
    ffibuilder.emit_c_code(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
