/*
 * fuzz_client_answer.c - the client's check of a server's answer to its
 * opening handshake (native/src/client.c check_answer, which reads the
 * response head parsed by lws_http_parse_response and hands
 * Sec-WebSocket-Extensions to lws_ext_client_accept).  check_answer is
 * static, so this harness includes client.c itself (the archive's client.o is
 * then not linked) instead of changing the library for the fuzzer.
 *
 * Input: the server's answer (an exact-size heap copy).  The client asked
 * for subprotocols "fuzz, other" with the RFC 6455 sample key, so the
 * accepted answer carries Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
 * (the seeds do; fuzz/dict/http.dict has it too).
 */
#include "client.c"

#include "common.h"
#include "fakewsi.h"

#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *buf = (char *)fuzz_dup(data, size);
	struct lws_http_head res;
	int n = lws_http_parse_response(buf, size, &res);
	if (n > 0) {
		struct libwebsocket *wsi = fuzz_wsi(1);
		struct lws_client client;
		memset(&client, 0, sizeof client);
		client.protocols = "fuzz, other";
		lws_accept_key(SAMPLE_KEY, strlen(SAMPLE_KEY), client.accept);
		wsi->client = &client;
		wsi->state = LWS_STATE_CLIENT_AWAIT_101;
		const char *why = check_answer(wsi, &res);
		if (!why) {
			/* accepted: it must have been a real 101 with the right key */
			const struct lws_http_header *h = lws_http_find(&res, "Sec-WebSocket-Accept");
			FUZZ_ASSERT(res.status == 101 && h && h->value_len == LWS_ACCEPT_LEN &&
					    !memcmp(h->value, client.accept, LWS_ACCEPT_LEN),
				    "accepted an answer without the right Sec-WebSocket-Accept");
			FUZZ_ASSERT(wsi->protocol == &fuzz_protocols[0], "protocol changed");
		}
		FUZZ_ASSERT(wsi->num_ext <= LWS_MAX_ACTIVE_EXT, "%d extensions", wsi->num_ext);
		wsi->client = NULL;
		if (!wsi->user_space_external)
			free(wsi->user_space);
		fuzz_wsi_free(wsi);
	}
	free(buf);
	return 0;
}
