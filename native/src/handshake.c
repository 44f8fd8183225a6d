/*
 * handshake.c - what the server does with a complete HTTP request head: the
 * RFC 6455 opening handshake (section 4.2), or the HTTP callback, or an HTTP
 * error that says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "util.h"

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	default: return "Internal Server Error";
	}
}

void lws_http_refuse(struct libwebsocket *wsi, int status, const char *why,
		     const char *extra_headers)
{
	char page[512];
	int n = snprintf(page, sizeof page,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n"
			 "%s\r\n"
			 "%s%s",
			 status, status_text(status), strlen(why) + 1,
			 extra_headers ? extra_headers : "",
			 wsi->http_head_only ? "" : why, /* HEAD: no body */
			 wsi->http_head_only ? "" : "\n");
	if (n > 0 && (size_t)n < sizeof page)
		lws_out_send(wsi, (const uint8_t *)page, (size_t)n, NULL, 0);
	lwsl_info("fd %d: HTTP %d: %s\n", wsi->fd, status, why);
	lws_conn_close(wsi, -1, NULL);
}

static int header_is(const struct lws_http_head *req, const char *name, const char *token)
{
	const struct lws_http_header *h = lws_http_find(req, name);
	return h && lws_http_list_has(h->value, h->value_len, token);
}

/* Sec-WebSocket-Version as a number, -1 when absent or not a number */
static int ws_version(const struct lws_http_head *req)
{
	const struct lws_http_header *h = lws_http_find(req, "Sec-WebSocket-Version");
	if (!h || !h->value_len || h->value_len > 3)
		return -1;
	int v = 0;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return -1;
		v = v * 10 + (h->value[i] - '0');
	}
	return v;
}

/* A valid key is base64 of 16 bytes: 24 characters. */
static int key_is_valid(const struct lws_http_header *key)
{
	char in[32], out[32];
	if (!key || key->value_len != 24)
		return 0;
	memcpy(in, key->value, 24);
	in[24] = '\0';
	return lws_b64_decode_string(in, out, sizeof out) == 16;
}

static const struct libwebsocket_protocols *
find_protocol(struct libwebsocket_context *context, const char *name, size_t len)
{
	for (int i = 0; i < context->num_protocols; i++) {
		const char *p = context->protocols[i].name;
		if (strlen(p) == len && !memcmp(p, name, len))
			return &context->protocols[i];
	}
	return NULL;
}

/*
 * The first protocol the client lists that we serve, across every
 * Sec-WebSocket-Protocol header.  *asked tells whether the client listed any.
 */
static const struct libwebsocket_protocols *
choose_protocol(struct libwebsocket_context *context, const struct lws_http_head *req,
		int *asked)
{
	*asked = 0;
	for (size_t h = 0; h < req->num_headers; h++) {
		const struct lws_http_header *hd = &req->headers[h];
		if (hd->name_len != 22 || strncasecmp(hd->name, "Sec-WebSocket-Protocol", 22))
			continue;
		const char *p = hd->value, *end = hd->value + hd->value_len;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *item_end = comma ? comma : end;
			const char *s = p, *e = item_end;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e > s) {
				*asked = 1;
				const struct libwebsocket_protocols *found =
					find_protocol(context, s, (size_t)(e - s));
				if (found)
					return found;
			}
			p = item_end + 1;
		}
	}
	return *asked ? NULL : &context->protocols[0];
}

static void fill_tokens(char *head, const struct lws_http_head *req,
			struct lws_tokens tokens[WSI_TOKEN_COUNT])
{
	static const char *const names[WSI_TOKEN_COUNT] = {
		[WSI_TOKEN_HOST] = "Host",
		[WSI_TOKEN_CONNECTION] = "Connection",
		[WSI_TOKEN_KEY1] = "Sec-WebSocket-Key1",
		[WSI_TOKEN_KEY2] = "Sec-WebSocket-Key2",
		[WSI_TOKEN_PROTOCOL] = "Sec-WebSocket-Protocol",
		[WSI_TOKEN_UPGRADE] = "Upgrade",
		[WSI_TOKEN_ORIGIN] = "Origin",
		[WSI_TOKEN_DRAFT] = "Sec-WebSocket-Draft",
		[WSI_TOKEN_KEY] = "Sec-WebSocket-Key",
		[WSI_TOKEN_VERSION] = "Sec-WebSocket-Version",
		[WSI_TOKEN_SWORIGIN] = "Sec-WebSocket-Origin",
		[WSI_TOKEN_EXTENSIONS] = "Sec-WebSocket-Extensions",
		[WSI_TOKEN_ACCEPT] = "Sec-WebSocket-Accept",
		[WSI_TOKEN_NONCE] = "Sec-WebSocket-Nonce",
	};
	memset(tokens, 0, sizeof(struct lws_tokens) * WSI_TOKEN_COUNT);
	tokens[WSI_TOKEN_GET_URI].token = head + (req->path - head);
	tokens[WSI_TOKEN_GET_URI].token_len = (int)req->path_len;
	for (int i = 0; i < WSI_TOKEN_COUNT; i++) {
		if (!names[i])
			continue;
		const struct lws_http_header *h = lws_http_find(req, names[i]);
		if (h) {
			tokens[i].token = head + (h->value - head);
			tokens[i].token_len = (int)h->value_len;
		}
	}
	/*
	 * Classic programs print tokens with %s: end each in place.  What follows
	 * a value is blank, CR or LF, and the head is only read through the
	 * parsed (pointer, length) pairs from here on.
	 */
	for (int i = 0; i < WSI_TOKEN_COUNT; i++)
		if (tokens[i].token)
			tokens[i].token[tokens[i].token_len] = '\0';
}

static int send_switching_protocols(struct libwebsocket *wsi,
				    const struct lws_http_header *key, int asked,
				    const char *extensions)
{
	char accept[LWS_ACCEPT_LEN + 1], reply[1536 + LWS_RESP_HEADERS_MAX];
	lws_accept_key(key->value, key->value_len, accept);

	int n = snprintf(reply, sizeof reply,
			 "HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n"
			 "%s%s%s"
			 "%s%.*s"
			 "\r\n",
			 accept, asked ? "Sec-WebSocket-Protocol: " : "",
			 asked ? wsi->protocol->name : "", asked ? "\r\n" : "", extensions,
			 (int)wsi->resp_headers_len,
			 wsi->resp_headers ? wsi->resp_headers : "");
	if (n < 0 || (size_t)n >= sizeof reply)
		return -1;
	return lws_out_send(wsi, (const uint8_t *)reply, (size_t)n, NULL, 0);
}

static int upgrade(struct libwebsocket *wsi, char *head, const struct lws_http_head *req)
{
	struct libwebsocket_context *context = wsi->context;

	if (req->method_len != 3 || memcmp(req->method, "GET", 3) || req->minor_version < 1) {
		lws_http_refuse(wsi, 400, "A WebSocket upgrade must be an HTTP/1.1 GET.", NULL);
		return -1;
	}
	if (!header_is(req, "Connection", "upgrade")) {
		lws_http_refuse(wsi, 400, "The Connection header must include Upgrade.", NULL);
		return -1;
	}
	int version = ws_version(req);
	if (version != 13 && version != 8 && version != 7) {
		lws_http_refuse(wsi, 426, "This server speaks WebSocket version 13 (RFC 6455).",
				"Sec-WebSocket-Version: 13\r\n");
		return -1;
	}
	const struct lws_http_header *key = lws_http_find(req, "Sec-WebSocket-Key");
	if (!key_is_valid(key)) {
		lws_http_refuse(wsi, 400, "Sec-WebSocket-Key is missing or not 16 bytes of base64.",
				NULL);
		return -1;
	}
	int asked;
	const struct libwebsocket_protocols *protocol = choose_protocol(context, req, &asked);
	if (!protocol) {
		lws_http_refuse(wsi, 400,
				"None of the subprotocols in Sec-WebSocket-Protocol is served here.",
				NULL);
		return -1;
	}

	/* the connection is the chosen protocol's from here on, the filter
	 * included (libwebsockets_get_protocol(wsi) in it names that protocol,
	 * as classically); a fresh, zeroed per-session area for it comes after
	 * the filter (an HTTP request on this connection may have used
	 * protocols[0]'s) */
	if (wsi->user_space && !wsi->user_space_external) {
		free(wsi->user_space);
		wsi->user_space = NULL;
	}
	wsi->protocol = protocol;

	struct lws_tokens tokens[WSI_TOKEN_COUNT];
	fill_tokens(head, req, tokens);
	/* to the protocol the client will get (the classic library's choice) */
	wsi->in_filter = 1;
	int refused = lws_call(context, protocol, wsi, LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION,
			       tokens, NULL, 0);
	wsi->in_filter = 0;
	if (wsi->state == LWS_STATE_HTTP_HEAD && wsi->http_replied) {
		/* the filter answered the request itself (LWS_WRITE_HTTP): that
		 * answer refuses the upgrade; closed once it is out */
		lws_conn_close(wsi, -1, NULL);
		return -1;
	}
	if (refused) {
		lws_http_refuse(wsi, 403, "The server refused this connection.", NULL);
		return -1;
	}
	if (wsi->state != LWS_STATE_HTTP_HEAD)
		return -1;

	wsi->ietf_version = (uint8_t)version;
	if (protocol->per_session_data_size && !libwebsocket_ensure_user_space(wsi)) {
		lws_http_refuse(wsi, 500, "Out of memory.", NULL);
		return -1;
	}
	char extensions[1024];
	if (lws_ext_server_negotiate(wsi, req, extensions, sizeof extensions)) {
		lws_http_refuse(wsi, 500, "Extension negotiation failed.", NULL);
		return -1;
	}
	if (send_switching_protocols(wsi, key, asked, extensions)) {
		lws_conn_close(wsi, -1, NULL);
		return -1;
	}
	free(wsi->resp_headers);
	wsi->resp_headers = NULL;
	wsi->resp_headers_len = 0;

	uint8_t rsv_allowed = wsi->parser.rsv_allowed; /* claimed by extensions */
	lws_conn_start_ws(wsi);
	wsi->parser.rsv_allowed = rsv_allowed;
	wsi->established = 1;
	lws_ext_broadcast(wsi, LWS_EXT_CALLBACK_ANY_WSI_ESTABLISHED);
	if (lws_call(context, protocol, wsi, LWS_CALLBACK_ESTABLISHED, wsi->user_space,
		     NULL, 0))
		lws_conn_close(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
	return wsi->state == LWS_STATE_WS ? 0 : -1;
}

/* Does the client expect the connection to stay open after the answer? */
static int keep_alive(const struct lws_http_head *req)
{
	if (header_is(req, "Connection", "close"))
		return 0;
	/* bodies are not read here yet: do not mistake one for the next request */
	const struct lws_http_header *cl = lws_http_find(req, "Content-Length");
	if ((cl && !(cl->value_len == 1 && cl->value[0] == '0')) ||
	    lws_http_find(req, "Transfer-Encoding"))
		return 0;
	return req->minor_version >= 1 || header_is(req, "Connection", "keep-alive");
}

static int serve_http(struct libwebsocket *wsi, const struct lws_http_head *req)
{
	struct libwebsocket_context *context = wsi->context;

	/* 'in' is the path as a C string: the byte after it is the blank
	 * before the version, which nobody needs any more */
	char *path = (char *)req->path;
	path[req->path_len] = '\0';

	wsi->http_replied = 0;
	wsi->protocol = &context->protocols[0];
	void *user = libwebsocket_ensure_user_space(wsi);
	int n = lws_call(context, wsi->protocol, wsi, LWS_CALLBACK_HTTP, user, path,
			 req->path_len);
	if (wsi->state != LWS_STATE_HTTP_HEAD)
		return -1; /* the callback closed it */
	if (!wsi->http_replied) {
		lws_http_refuse(wsi, 404, "Not found.", NULL);
		return -1;
	}
	if (wsi->file_fd >= 0) {
		/* serve_http_file: the loop sends it, then decides */
		wsi->close_after_file = n || !keep_alive(req);
		return 0;
	}
	wsi->http_head_only = 0; /* the answer is complete */
	if (n || !keep_alive(req)) {
		lws_conn_close(wsi, -1, NULL);
		return -1;
	}
	lws_conn_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE,
			     context->handshake_timeout);
	return 0;
}

/* Content-Length: 1*DIGIT, or a list of the same 1*DIGIT (RFC 9110 8.6).
 * Compares with and updates *seen, *seen_len (0 before the first length);
 * 0 when valid. */
static int content_length_ok(const struct lws_http_header *h, const char **seen,
			     size_t *seen_len)
{
	const char *p = h->value, *end = h->value + h->value_len;
	do {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *s = p, *e = comma ? comma : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		/* digits only; more than 18 of them is no length we could read */
		if (e == s || e - s > 18)
			return -1;
		for (const char *d = s; d < e; d++)
			if (*d < '0' || *d > '9')
				return -1;
		while (e - s > 1 && *s == '0')
			s++;
		if (*seen_len && ((size_t)(e - s) != *seen_len || memcmp(s, *seen, *seen_len)))
			return -1; /* two different lengths */
		*seen = s;
		*seen_len = (size_t)(e - s);
		p = comma ? comma + 1 : end;
	} while (p < end);
	return 0;
}

/*
 * How the request's body is delimited (RFC 9112 6.3): a length or chunked.
 * Anything ambiguous is refused and the connection closed, so that no byte of
 * a body is ever taken for the next request (request smuggling).  0 = fine.
 */
static int check_body_framing(struct libwebsocket *wsi, const struct lws_http_head *req,
			      int *has_body)
{
	const char *length = NULL;
	size_t length_len = 0;
	const struct lws_http_header *te = NULL;
	int codings = 0, chunked_at = 0, other_coding = 0;

	for (size_t i = 0; i < req->num_headers; i++) {
		const struct lws_http_header *h = &req->headers[i];
		if (h->name_len == 14 && !strncasecmp(h->name, "Content-Length", 14)) {
			if (content_length_ok(h, &length, &length_len)) {
				lws_http_refuse(wsi, 400,
						"Content-Length is not one valid length.", NULL);
				return -1;
			}
		} else if (h->name_len == 17 && !strncasecmp(h->name, "Transfer-Encoding", 17)) {
			te = h;
			const char *p = h->value, *end = h->value + h->value_len;
			while (p < end) {
				const char *comma = memchr(p, ',', (size_t)(end - p));
				const char *s = p, *e = comma ? comma : end;
				while (s < e && (*s == ' ' || *s == '\t'))
					s++;
				while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
					e--;
				if (e > s) {
					codings++;
					if (e - s == 7 && !strncasecmp(s, "chunked", 7))
						chunked_at = chunked_at ? -1 : codings;
					else
						other_coding = 1;
				}
				p = comma ? comma + 1 : end;
			}
		}
	}
	if (te && length_len) {
		lws_http_refuse(wsi, 400,
				"Transfer-Encoding and Content-Length together are ambiguous.",
				NULL);
		return -1;
	}
	if (te && (chunked_at != codings || !codings)) {
		/* chunked missing, twice, or not last: the length is unknowable */
		lws_http_refuse(wsi, 400, "The body's transfer coding must end with chunked.",
				NULL);
		return -1;
	}
	if (te && other_coding) {
		lws_http_refuse(wsi, 501, "Only the chunked transfer coding is understood.",
				NULL);
		return -1;
	}
	/* leading zeros are gone: "0" is the only empty body */
	*has_body = te || (length_len && !(length_len == 1 && length[0] == '0'));
	return 0;
}

static int handle_request(struct libwebsocket *wsi, char *head,
			  const struct lws_http_head *req)
{
	/* HEAD is answered with the head of the GET answer only (RFC 9110 9.3.2) */
	wsi->http_head_only = req->method_len == 4 && !memcmp(req->method, "HEAD", 4);
	wsi->http_head_scan = 0;
	wsi->http_replied = 0; /* of this request (an earlier one's was sent) */
	int has_body;
	if (check_body_framing(wsi, req, &has_body))
		return -1;
	if (header_is(req, "Upgrade", "websocket")) {
		if (has_body) {
			/* the bytes after the head are frames: none can be a body */
			lws_http_refuse(wsi, 400, "A WebSocket upgrade request has no body.",
					NULL);
			return -1;
		}
		return upgrade(wsi, head, req);
	}
	if (lws_http_find(req, "Sec-WebSocket-Key")) {
		lws_http_refuse(wsi, 400, "A WebSocket handshake needs \"Upgrade: websocket\".",
				NULL);
		return -1;
	}
	return serve_http(wsi, req);
}

int lws_handshake_request(struct libwebsocket *wsi, char *head, size_t len,
			  const struct lws_http_head *req)
{
	/* the callbacks made meanwhile may read it (lws_request_head); the
	 * struct outlives the call even when they close the connection */
	wsi->req_head = head;
	wsi->req_head_len = len;
	int n = handle_request(wsi, head, req);
	wsi->req_head = NULL;
	wsi->req_head_len = 0;
	return n;
}

const char *lws_request_head(struct libwebsocket *wsi, size_t *len)
{
	*len = wsi->req_head ? wsi->req_head_len : 0;
	return wsi->req_head;
}

/* RFC 9110 5.6.2: tchar */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int lws_add_response_header(struct libwebsocket *wsi, const char *name, const char *value)
{
	if (!wsi || !name || !*name || !value) {
		errno = EINVAL;
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (!is_tchar(*p)) {
			errno = EINVAL;
			return -1;
		}
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			errno = EINVAL;
			return -1;
		}
	/* only while the filter decides on an upgrade: req_head is set and no
	 * answer has been written */
	if (wsi->is_client || wsi->state != LWS_STATE_HTTP_HEAD || !wsi->req_head ||
	    wsi->http_replied || !wsi->in_filter) {
		errno = EPERM;
		return -1;
	}
	size_t name_len = strlen(name), value_len = strlen(value);
	size_t line = name_len + 2 + value_len + 2;
	if (line > LWS_RESP_HEADERS_MAX - wsi->resp_headers_len) {
		errno = E2BIG;
		return -1;
	}
	char *buf = realloc(wsi->resp_headers, wsi->resp_headers_len + line + 1);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	char *at = buf + wsi->resp_headers_len;
	memcpy(at, name, name_len);
	memcpy(at + name_len, ": ", 2);
	memcpy(at + name_len + 2, value, value_len);
	memcpy(at + name_len + 2 + value_len, "\r\n", 3);
	wsi->resp_headers = buf;
	wsi->resp_headers_len += line;
	return 0;
}
