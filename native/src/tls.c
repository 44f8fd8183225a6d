/*
 * tls.c - OpenSSL glue: the server's and the client's SSL_CTX, non-blocking
 * handshakes, and reads/writes that the connection and output layers use in
 * place of recv/sendmsg when a connection is TLS.
 *
 * Certificate checks: a server started with LWS_SERVER_OPTION_REQUIRE_VALID_
 * OPENSSL_CLIENT_CERT demands a client certificate that verifies against
 * ssl_ca_filepath (and whatever LOAD_EXTRA_SERVER_VERIFY_CERTS added), and asks
 * protocols[0] through OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION, whose nonzero
 * return fails it.  Unlike the classic library, a certificate that OpenSSL
 * found invalid is not accepted just because the callback returned 0, and
 * the callback gets the real context and connection instead of NULLs.
 * Clients: ssl_connection 1 verifies the server against the system CAs and
 * its host name (SNI sent); 2 also accepts a self-signed server certificate.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "private.h"

static void log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	int any = 0;
	while ((e = ERR_get_error())) {
		ERR_error_string_n(e, buf, sizeof buf);
		lwsl_err("%s: %s\n", what, buf);
		any = 1;
	}
	if (!any)
		lwsl_err("%s\n", what);
}

static struct libwebsocket *wsi_of(X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	return ssl ? SSL_get_app_data(ssl) : NULL;
}

/* ---- the socket BIO ----
 * OpenSSL's own socket BIO writes with write(2): a peer that went away would
 * raise SIGPIPE and kill the program.  A library must not change the
 * process's signal handling, so TLS bytes go through this BIO, which sends
 * with MSG_NOSIGNAL. */

static int bio_fd(BIO *bio)
{
	return (int)(intptr_t)BIO_get_data(bio);
}

static int bio_write(BIO *bio, const char *buf, int len)
{
	BIO_clear_retry_flags(bio);
	ssize_t n = send(bio_fd(bio), buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(bio);
	return (int)n;
}

static int bio_read(BIO *bio, char *buf, int len)
{
	BIO_clear_retry_flags(bio);
	ssize_t n = recv(bio_fd(bio), buf, (size_t)len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(bio);
	return (int)n;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	(void)bio;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP;
}

static int bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static BIO *socket_bio(struct libwebsocket_context *context, int fd)
{
	if (!context->bio_method) {
		BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
					     "pylws socket");
		if (!m || !BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
		    !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
			BIO_meth_free(m);
			return NULL;
		}
		context->bio_method = m;
	}
	BIO *bio = BIO_new(context->bio_method);
	if (bio)
		BIO_set_data(bio, (void *)(intptr_t)fd);
	return bio;
}

/* Attach the connection's socket to ssl through our BIO. */
static int set_socket(struct libwebsocket *wsi, SSL *ssl)
{
	BIO *bio = socket_bio(wsi->context, wsi->fd);
	if (!bio)
		return -1;
	SSL_set_bio(ssl, bio, bio); /* ssl owns it now (one reference for both) */
	return 0;
}

/* ---- server ---- */

static int verify_client_cert(int preverify_ok, X509_STORE_CTX *store)
{
	struct libwebsocket *wsi = wsi_of(store);
	if (!wsi)
		return 0;
	struct libwebsocket_context *context = wsi->context;
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	int refused = lws_call(context, &context->protocols[0], wsi,
			       LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION, store, ssl,
			       (size_t)preverify_ok);
	return preverify_ok && !refused;
}

int lws_tls_server_init(struct libwebsocket_context *context, const char *cert,
			const char *key, const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		log_ssl_errors("TLS: cannot create the server context");
		return -1;
	}
	context->ssl_ctx = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_ssl_errors("TLS: cannot load the server certificate");
		lwsl_err("TLS: certificate file: %s\n", cert);
		return -1;
	}
	if (!key || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		log_ssl_errors("TLS: cannot load the private key");
		lwsl_err("TLS: private key file: %s\n", key ? key : "(none given)");
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_errors("TLS: the private key does not match the certificate");
		return -1;
	}
	if (ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		log_ssl_errors("TLS: cannot load the CA file");
		lwsl_err("TLS: CA file: %s\n", ca);
		return -1;
	}
	if (ca) {
		/* the certificate request names them, so a client picks the right one */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (context->options & LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
				   verify_client_cert);
		/* TLS 1.3 session tickets would skip the check on resumption */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	if (lws_call(context, &context->protocols[0], NULL,
		     LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS, ctx, NULL, 0)) {
		lwsl_err("TLS: LOAD_EXTRA_SERVER_VERIFY_CERTS failed\n");
		return -1;
	}
	return 0;
}

int lws_tls_accept_start(struct libwebsocket *wsi)
{
	SSL *ssl = SSL_new(wsi->context->ssl_ctx);
	if (!ssl || set_socket(wsi, ssl)) {
		SSL_free(ssl);
		return -1;
	}
	SSL_set_app_data(ssl, wsi);
	SSL_set_accept_state(ssl);
	wsi->ssl = ssl;
	wsi->tls_handshaking = 1;
	return 0;
}

/* ---- client ---- */

static int verify_server_cert(int preverify_ok, X509_STORE_CTX *store)
{
	struct libwebsocket *wsi = wsi_of(store);
	if (preverify_ok || !wsi)
		return preverify_ok;
	int err = X509_STORE_CTX_get_error(store);
	/* ssl_connection 2: a self-signed server certificate is fine */
	return wsi->tls_allow_self_signed && (err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
					      err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
}

static SSL_CTX *client_ctx(struct libwebsocket_context *context)
{
	if (context->ssl_client_ctx)
		return context->ssl_client_ctx;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		log_ssl_errors("TLS: cannot create the client context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a TLS 1.2 server's renegotiation would make writes wait for reads */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_server_cert);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		lwsl_warn("TLS: the system CA certificates could not be loaded\n");
	context->ssl_client_ctx = ctx;
	if (lws_call(context, &context->protocols[0], NULL,
		     LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS, ctx, NULL, 0))
		lwsl_warn("TLS: LOAD_EXTRA_CLIENT_VERIFY_CERTS returned nonzero\n");
	return ctx;
}

int lws_tls_client_start(struct libwebsocket *wsi, int ssl_connection, const char *host)
{
	SSL_CTX *ctx = client_ctx(wsi->context);
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	if (!ssl || set_socket(wsi, ssl)) {
		SSL_free(ssl);
		return -1;
	}
	SSL_set_app_data(ssl, wsi);
	SSL_set_connect_state(ssl);
	wsi->tls_allow_self_signed = ssl_connection == 2;

	/* the name the certificate must carry: a DNS name (with SNI) or an IP */
	unsigned char ip[16];
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	wsi->ssl = ssl;
	wsi->tls_handshaking = 1;
	return 0;
}

/* ---- both ---- */

/* The X509_V_ERR_* code of a certificate refused in wsi's handshake, or
 * X509_V_OK (a self-signed one is not refused when allowed). */
static long verify_error(const struct libwebsocket *wsi)
{
	long verify = SSL_get_verify_result(wsi->ssl);
	int accepted = wsi->tls_allow_self_signed &&
		       (verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
			verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
	return accepted ? X509_V_OK : verify;
}

long lws_tls_verify_error(const struct libwebsocket *wsi)
{
	if (!wsi || !wsi->ssl || !wsi->is_client)
		return X509_V_OK;
	return verify_error(wsi);
}

/* Why a client handshake failed, into buf. */
static const char *handshake_error(struct libwebsocket *wsi, char *buf, size_t size)
{
	long verify = verify_error(wsi);
	if (verify != X509_V_OK)
		snprintf(buf, size, "TLS: server certificate refused: %s",
			 X509_verify_cert_error_string(verify));
	else
		snprintf(buf, size, "TLS handshake failed: %s",
			 ERR_peek_last_error() ? ERR_reason_error_string(ERR_peek_last_error())
						: "the connection closed");
	ERR_clear_error();
	return buf;
}

int lws_tls_handshake(struct libwebsocket *wsi, char *why, size_t why_size)
{
	ERR_clear_error();
	int n = SSL_do_handshake(wsi->ssl);
	if (n == 1) {
		wsi->tls_handshaking = 0;
		wsi->tls_want_write = 0;
		return 1;
	}
	switch (SSL_get_error(wsi->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		wsi->tls_want_write = 0;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		wsi->tls_want_write = 1;
		return 0;
	default:
		handshake_error(wsi, why, why_size);
		lwsl_info("fd %d: %s\n", wsi->fd, why);
		return -1;
	}
}

ssize_t lws_tls_read(struct libwebsocket *wsi, uint8_t *buf, size_t len)
{
	size_t got = 0;
	/* every record already here: the socket may not wake us for them */
	while (got < len) {
		ERR_clear_error();
		int n = SSL_read(wsi->ssl, buf + got, (int)(len - got > INT32_MAX ? INT32_MAX
										    : len - got));
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		int err = SSL_get_error(wsi->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE && !got) {
			/* OpenSSL must send (e.g. a key update's answer) into a full
			 * socket first: read again when it can */
			wsi->tls_want_write = 1;
			lws_conn_update_events(wsi);
		}
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			break;
		if (got)
			break; /* report the error on the next call */
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0; /* close_notify */
		return err == SSL_ERROR_SYSCALL && !ERR_peek_error() ? 0 : -1;
	}
	wsi->rx_more = got == len && SSL_pending(wsi->ssl) > 0;
	return got ? (ssize_t)got : LWS_READ_AGAIN;
}

ssize_t lws_tls_write(struct libwebsocket *wsi, const uint8_t *buf, size_t len)
{
	if (!len)
		return 0;
	ERR_clear_error();
	int n = SSL_write(wsi->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	if (n > 0)
		return n;
	int err = SSL_get_error(wsi->ssl, n);
	if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
		return 0;
	return -1;
}

void lws_tls_close_notify(struct libwebsocket *wsi)
{
	if (!wsi->ssl || wsi->tls_closed || wsi->tls_handshaking || wsi->peer_gone)
		return;
	wsi->tls_closed = 1;
	ERR_clear_error();
	SSL_shutdown(wsi->ssl); /* best effort: a full socket just loses it */
	ERR_clear_error();
}

void lws_tls_free(struct libwebsocket *wsi)
{
	if (!wsi->ssl)
		return;
	lws_tls_close_notify(wsi);
	SSL_free(wsi->ssl);
	wsi->ssl = NULL;
}

void lws_tls_context_destroy(struct libwebsocket_context *context)
{
	SSL_CTX_free(context->ssl_ctx);
	SSL_CTX_free(context->ssl_client_ctx);
	context->ssl_ctx = context->ssl_client_ctx = NULL;
	BIO_meth_free(context->bio_method);
	context->bio_method = NULL;
}

/* Our last byte is out: TLS close_notify first, then the TCP FIN. */
void lws_conn_shut_write(struct libwebsocket *wsi)
{
	if (wsi->ssl)
		lws_tls_close_notify(wsi);
	shutdown(wsi->fd, SHUT_WR);
}

ssize_t lws_read_socket(struct libwebsocket *wsi, uint8_t *buf, size_t cap)
{
	if (wsi->ssl)
		return lws_tls_read(wsi, buf, cap);
	ssize_t n = recv(wsi->fd, buf, cap, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return LWS_READ_AGAIN;
	return n < 0 ? LWS_READ_ERROR : n;
}
