/*
 * fuzz_ext_negotiate.c - Sec-WebSocket-Extensions negotiation on both sides
 * (native/src/ext.c) and the built-in extensions' parameter parsers
 * (ext_deflate.c parse_params / frame_params, deflate-stream's check).
 *
 * Input: [mode][text...]
 *   mode % 3 == 0: text is a client's offer; the server negotiates
 *           (lws_ext_server_negotiate), its reply must be a well-formed header
 *           line, and a client that made that offer must accept the reply
 *           (lws_ext_client_accept): what a server chose, a client takes.
 *   mode % 3 == 1: text is a server's answer; the client checks it.
 *   mode % 3 == 2: text is one extension's parameter string, handed to each
 *           built-in extension's CONSTRUCT and CLIENT_CONSTRUCT as an
 *           exact-size C string (an over-read past its NUL is an ASan
 *           finding: issue 10 defect 7, `a"="10`).
 */
#define _GNU_SOURCE
#include "fakewsi.h"

static struct lws_http_head one_header(const char *value, size_t len)
{
	struct lws_http_head h;
	memset(&h, 0, sizeof h);
	h.num_headers = 1;
	h.headers[0].name = "Sec-WebSocket-Extensions";
	h.headers[0].name_len = 24;
	h.headers[0].value = value;
	h.headers[0].value_len = len;
	return h;
}

static void server_side(const uint8_t *data, size_t size)
{
	char *offer = (char *)fuzz_dup(data, size);
	struct lws_http_head req = one_header(offer, size);
	struct libwebsocket *wsi = fuzz_wsi(0);
	char reply[1024];
	memset(reply, 0x55, sizeof reply);

	int rc = lws_ext_server_negotiate(wsi, &req, reply, sizeof reply);
	FUZZ_ASSERT(rc == 0 || rc == -1, "negotiate returned %d", rc);
	FUZZ_ASSERT(wsi->num_ext <= LWS_MAX_ACTIVE_EXT, "%d extensions", wsi->num_ext);
	if (rc == 0) {
		size_t n = strnlen(reply, sizeof reply);
		FUZZ_ASSERT(n < sizeof reply, "reply not NUL-terminated");
		FUZZ_ASSERT((n == 0) == (wsi->num_ext == 0), "reply %zu bytes for %d extensions",
			    n, wsi->num_ext);
		if (n) {
			static const char start[] = "Sec-WebSocket-Extensions: ";
			FUZZ_ASSERT(n > sizeof start + 1 && !memcmp(reply, start, sizeof start - 1) &&
					    !memcmp(reply + n - 2, "\r\n", 2),
				    "reply not a header line: %s", reply);
			for (size_t i = 0; i < n - 2; i++)
				FUZZ_ASSERT(reply[i] >= 0x20 && reply[i] < 0x7f,
					    "byte %#x in the reply", (unsigned char)reply[i]);
			/* the client that offered this takes the server's choice */
			size_t vlen = n - 2 - (sizeof start - 1);
			char *value = (char *)fuzz_dup((const uint8_t *)reply + sizeof start - 1, vlen);
			struct lws_http_head res = one_header(value, vlen);
			struct libwebsocket *cl = fuzz_wsi(1);
			const char *why = lws_ext_client_accept(cl, &res);
			FUZZ_ASSERT(!why, "client refused the server's reply \"%.*s\": %s",
				    (int)vlen, value, why);
			FUZZ_ASSERT(cl->num_ext == wsi->num_ext, "client %d, server %d extensions",
				    cl->num_ext, wsi->num_ext);
			fuzz_wsi_free(cl);
			free(value);
		}
	}
	fuzz_wsi_free(wsi);
	free(offer);
}

static void client_side(const uint8_t *data, size_t size)
{
	char *answer = (char *)fuzz_dup(data, size);
	struct lws_http_head res = one_header(answer, size);
	struct libwebsocket *wsi = fuzz_wsi(1);
	const char *why = lws_ext_client_accept(wsi, &res);
	FUZZ_ASSERT(wsi->num_ext <= LWS_MAX_ACTIVE_EXT, "%d extensions", wsi->num_ext);
	(void)why;
	fuzz_wsi_free(wsi);
	free(answer);
}

static void params_direct(const uint8_t *data, size_t size)
{
	struct libwebsocket_context *ctx = fuzz_context();
	char *params = fuzz_strdup(data, size);
	size_t len = strlen(params); /* the host hands a C string */
	static const enum libwebsocket_extension_callback_reasons reasons[] = {
		LWS_EXT_CALLBACK_CONSTRUCT, LWS_EXT_CALLBACK_CLIENT_CONSTRUCT};

	for (struct libwebsocket_extension *ext = libwebsocket_internal_extensions;
	     ext->callback; ext++) {
		for (size_t r = 0; r < 2; r++) {
			struct libwebsocket *wsi = fuzz_wsi(r == 1);
			void *user = ext->per_session_data_size
					     ? calloc(1, ext->per_session_data_size)
					     : NULL;
			ext->callback(ctx, ext, wsi, reasons[r], user, params, len);
			ext->callback(ctx, ext, wsi, LWS_EXT_CALLBACK_DESTROY, user, NULL, 0);
			free(user);
			free(wsi);
		}
	}
	free(params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	switch (data[0] % 3) {
	case 0:
		server_side(data + 1, size - 1);
		break;
	case 1:
		client_side(data + 1, size - 1);
		break;
	default:
		params_direct(data + 1, size - 1);
		break;
	}
	return 0;
}
