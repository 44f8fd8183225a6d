/*
 * fakewsi.h - a real context (no listener, every built-in extension) made
 * once per fuzzer process, and bare connection structs on it, for harnesses
 * that call the extension host and the extensions directly (no socket).
 */
#ifndef PYLWS_FUZZ_FAKEWSI_H
#define PYLWS_FUZZ_FAKEWSI_H

#include "common.h"
#include "private.h"

static int fuzz_proto_cb(struct libwebsocket_context *context, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	(void)context, (void)wsi, (void)reason, (void)user, (void)in, (void)len;
	return 0; /* every extension confirmed, everything accepted */
}

static struct libwebsocket_protocols fuzz_protocols[] = {
	{.name = "fuzz", .callback = fuzz_proto_cb},
	{.name = NULL, .callback = NULL},
};

static inline struct libwebsocket_context *fuzz_context(void)
{
	static struct libwebsocket_context *ctx;
	if (!ctx) {
		lws_set_log_level(0, NULL);
		ctx = libwebsocket_create_context(CONTEXT_PORT_NO_LISTEN, NULL, fuzz_protocols,
						  libwebsocket_internal_extensions, NULL, NULL,
						  NULL, -1, -1,
						  LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME, NULL);
		if (!ctx)
			abort();
	}
	return ctx;
}

static inline struct libwebsocket *fuzz_wsi(int is_client)
{
	struct libwebsocket *wsi = calloc(1, sizeof *wsi);
	if (!wsi)
		abort();
	wsi->watch.kind = LWS_FD_CONN;
	wsi->fd = -1;
	wsi->context = fuzz_context();
	wsi->protocol = &fuzz_protocols[0];
	wsi->state = LWS_STATE_WS;
	wsi->is_client = (uint8_t)is_client;
	wsi->file_fd = -1;
	return wsi;
}

static inline void fuzz_wsi_free(struct libwebsocket *wsi)
{
	lws_ext_destroy(wsi);
	free(wsi);
}

#endif /* PYLWS_FUZZ_FAKEWSI_H */
