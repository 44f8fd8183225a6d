/*
 * ext.c - the extension host: negotiation of Sec-WebSocket-Extensions on
 * both sides, the extensions active on a connection, and the payload hooks.
 *
 * How an extension takes part (the reasons are the header's; the classic
 * document describes CONSTRUCT, CLIENT_CONSTRUCT, DESTROY, PACKET_RX_PREPARSE
 * and PACKET_TX_PRESEND, the rest are used as follows):
 * - SERVER/CLIENT_CONTEXT_CONSTRUCT and _DESTRUCT: once per context, user =
 *   per_context_private_data.
 * - CHECK_OK_TO_PROPOSE_EXTENSION (client): in = char ** write position in the
 *   handshake after "name", len = room: append "; param=value" to offer
 *   parameters; nonzero = do not offer.
 * - CONSTRUCT (server): in = the offer's parameters as a C string ("" when
 *   none), len its length; nonzero declines this offer (a later offer of
 *   the same extension may be taken).  user = the connection's extension area
 *   (per_session_data_size bytes, zeroed, freed by the library).
 * - HANDSHAKE_REPLY_TX (server): in = char ** write position after "name" in
 *   the 101 answer, len = room: append the accepted parameters.
 * - CLIENT_CONSTRUCT (client): in = the server's parameters for it; nonzero
 *   fails the connection.
 * - ANY_WSI_ESTABLISHED: the connection is established.
 * - PACKET_RX_PREPARSE: in = struct lws_tokens * pointing at received data
 *   payload; the extension may point it at its own buffer (kept valid until
 *   its next call) to change the payload.  A return > 0 means "more output
 *   for this input": the library delivers it and calls again with an empty
 *   input (token_len 0).  < 0 fails the connection with 1007; "more" with no
 *   output LWS_EXT_MAX_IDLE_MORE times in a row fails it with 1011 (never a
 *   loop without progress).  The built-in compression extensions' output is
 *   bounded per connection and turn of the loop (LWS_EXT_RX_BUDGET): past it,
 *   or when the user paused reception, the rest waits for a later turn
 *   (lws_ext_rx_resume), the bytes read after it kept unparsed meanwhile.
 * - PACKET_TX_PRESEND: the same for data frames about to be sent; a return
 *   > 0 asks for RSV1: on the message's first frame (permessage-deflate), on
 *   this frame (deflate-frame).
 * - 1HZ: once a second while the connection is established.
 * - REQUEST_ON_WRITEABLE: libwebsocket_callback_on_writable asked for a
 *   WRITEABLE callback on the connection (informational).
 * - IS_WRITEABLE: just before the protocol's WRITEABLE callback.
 * - CHECK_OK_TO_REALLY_CLOSE: before the connection closes; informational
 *   (the return value is ignored: the close goes ahead).
 * - DESTROY_ANY_WSI_CLOSING: to every extension of the context, active on
 *   the connection or not, when any connection ends (user =
 *   per_context_private_data), just before the active ones get DESTROY.
 * - FLUSH_PENDING_TX, PACKET_TX_DO_SEND, EXTENDED_PAYLOAD_RX,
 *   CAN_PROXY_CLIENT_CONNECTION, PAYLOAD_TX/RX: not delivered.  Payloads
 *   pass through PACKET_RX_PREPARSE / PACKET_TX_PRESEND (there is no second
 *   payload stage), an extension never holds output for the library to
 *   flush, and there is no proxying.
 * - DESTROY: the connection ends; free what the extension allocated.
 * Control frames never pass through extensions.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "private.h"

/* ---- context ---- */

int lws_ext_context_init(struct libwebsocket_context *context)
{
	struct libwebsocket_extension *ext = context->extensions;
	int n = 0;
	if (!ext)
		return 0;
	for (; ext[n].callback; n++) {
		if (!ext[n].name) {
			lwsl_err("extension %d has no name\n", n);
			return -1;
		}
		ext[n].callback(context, &ext[n], NULL,
				context->listen_port ? LWS_EXT_CALLBACK_SERVER_CONTEXT_CONSTRUCT
						     : LWS_EXT_CALLBACK_CLIENT_CONTEXT_CONSTRUCT,
				ext[n].per_context_private_data, NULL, 0);
	}
	context->num_extensions = n;
	return 0;
}

void lws_ext_context_destroy(struct libwebsocket_context *context)
{
	for (int n = 0; n < context->num_extensions; n++) {
		struct libwebsocket_extension *ext = &context->extensions[n];
		ext->callback(context, ext, NULL,
			      context->listen_port ? LWS_EXT_CALLBACK_SERVER_CONTEXT_DESTRUCT
						   : LWS_EXT_CALLBACK_CLIENT_CONTEXT_DESTRUCT,
			      ext->per_context_private_data, NULL, 0);
	}
	context->num_extensions = 0;
}

/* ---- per connection ---- */

void lws_ext_broadcast(struct libwebsocket *wsi, enum libwebsocket_extension_callback_reasons reason)
{
	for (int i = 0; i < wsi->num_ext; i++)
		lws_ext_call(wsi, i, reason, NULL, 0);
}

void lws_ext_tick(struct libwebsocket_context *context, int64_t now)
{
	if (now < context->next_1hz)
		return;
	context->next_1hz = now + 1000;
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (wsi->num_ext && wsi->state == LWS_STATE_WS)
			lws_ext_broadcast(wsi, LWS_EXT_CALLBACK_1HZ);
	}
}

void lws_ext_closing(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	for (int n = 0; n < context->num_extensions; n++) {
		struct libwebsocket_extension *ext = &context->extensions[n];
		ext->callback(context, ext, wsi, LWS_EXT_CALLBACK_DESTROY_ANY_WSI_CLOSING,
			      ext->per_context_private_data, NULL, 0);
	}
}

void lws_ext_destroy(struct libwebsocket *wsi)
{
	if (wsi->num_ext)
		wsi->context->ext_conns--;
	for (int i = 0; i < wsi->num_ext; i++) {
		lws_ext_call(wsi, i, LWS_EXT_CALLBACK_DESTROY, NULL, 0);
		free(wsi->ext[i].user);
		wsi->ext[i].user = NULL;
	}
	wsi->num_ext = 0;
	wsi->ext_rx_pending = 0;
	wsi->parser.rsv_allowed = 0;
	wsi->parser.text_unchecked = 0;
}

/* Make ext active on wsi: its area allocated, CONSTRUCT called.  0 = active. */
static int activate(struct libwebsocket *wsi, struct libwebsocket_extension *ext,
		    enum libwebsocket_extension_callback_reasons reason, const char *params)
{
	if (wsi->num_ext == LWS_MAX_ACTIVE_EXT)
		return -1;
	struct lws_ext_active *a = &wsi->ext[wsi->num_ext];
	a->ext = ext;
	a->user = ext->per_session_data_size ? calloc(1, ext->per_session_data_size) : NULL;
	if (ext->per_session_data_size && !a->user)
		return -1;
	if (ext->callback(wsi->context, ext, wsi, reason, a->user, (void *)params,
			  strlen(params))) {
		free(a->user);
		a->user = NULL;
		return -1;
	}
	const struct lws_ext_desc *desc = lws_ext_desc_of(ext);
	unsigned flags = desc ? desc->flags : 0;
	wsi->ext_flags[wsi->num_ext] = (uint8_t)flags;
	if (!wsi->num_ext++) {
		wsi->context->ext_conns++;
		lws_timer_update(wsi->context); /* LWS_EXT_CALLBACK_1HZ from now on */
	}
	if (flags & LWS_EXTF_RSV1) {
		wsi->parser.rsv_allowed |= LWS_RSV1;
		/* frame by frame: a message mixes transformed and plain frames */
		if (!(flags & LWS_EXTF_PER_MESSAGE))
			wsi->parser.text_unchecked = 1;
	}
	return 0;
}

/* ---- parsing Sec-WebSocket-Extensions ---- */

/*
 * The next offer in a header value: its name (name, name_len), and its parameters
 * copied (blanks around ';' and '=' dropped, quotes kept) into params.
 * Returns 0 at the end of the list, -1 when the value is malformed.
 */
static int next_offer(const char **pos, const char *end, const char **name, size_t *name_len,
		      char *params, size_t params_size)
{
	const char *p = *pos;
	while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
		p++;
	if (p == end)
		return 0;
	*name = p;
	while (p < end && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
		p++;
	*name_len = (size_t)(p - *name);
	if (!*name_len)
		return -1;

	size_t out = 0;
	int quoted = 0;
	while (p < end && (quoted || *p != ',')) {
		char c = *p++;
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == ' ' || c == '\t'))
			continue;
		if (out + 2 >= params_size)
			return -1;
		params[out++] = c;
	}
	if (quoted)
		return -1;
	params[out] = '\0';
	/* drop the ';' that separated the name from the first parameter */
	if (params[0] == ';')
		memmove(params, params + 1, out);
	*pos = p;
	return 1;
}

static struct libwebsocket_extension *
find_extension(struct libwebsocket_context *context, const char *name, size_t len)
{
	for (int n = 0; n < context->num_extensions; n++) {
		struct libwebsocket_extension *ext = &context->extensions[n];
		if (strlen(ext->name) == len && !strncasecmp(ext->name, name, len))
			return ext;
	}
	return NULL;
}

/* Is ext, or another compression extension (they exclude each other), active? */
static int is_active(struct libwebsocket *wsi, const struct libwebsocket_extension *ext)
{
	const struct lws_ext_desc *desc = lws_ext_desc_of(ext);
	unsigned compression = desc ? desc->flags & LWS_EXTF_COMPRESSION : 0;
	for (int i = 0; i < wsi->num_ext; i++)
		if (wsi->ext[i].ext == ext ||
		    (compression & wsi->ext_flags[i]))
			return 1;
	return 0;
}

/* ---- server side ---- */

int lws_ext_server_negotiate(struct libwebsocket *wsi, const struct lws_http_head *req,
			     char *reply, size_t reply_size)
{
	struct libwebsocket_context *context = wsi->context;
	char params[512];
	char *p = reply, *end = reply + reply_size;
	reply[0] = '\0';

	for (size_t h = 0; h < req->num_headers && context->num_extensions; h++) {
		const struct lws_http_header *hd = &req->headers[h];
		if (hd->name_len != 24 || strncasecmp(hd->name, "Sec-WebSocket-Extensions", 24))
			continue;
		const char *pos = hd->value, *vend = hd->value + hd->value_len, *name;
		size_t name_len;
		int n;
		while ((n = next_offer(&pos, vend, &name, &name_len, params, sizeof params)) > 0) {
			struct libwebsocket_extension *ext = find_extension(context, name, name_len);
			if (!ext || is_active(wsi, ext))
				continue;
			/* the first protocol may veto it */
			if (lws_call(context, &context->protocols[0], wsi,
				     LWS_CALLBACK_CONFIRM_EXTENSION_OKAY, wsi->user_space,
				     (void *)ext->name, 0))
				continue;
			if (activate(wsi, ext, LWS_EXT_CALLBACK_CONSTRUCT, params))
				continue;
			/* "Sec-WebSocket-Extensions: a; x, b" */
			int w = snprintf(p, (size_t)(end - p), "%s%s",
					 p == reply ? "Sec-WebSocket-Extensions: " : ", ", ext->name);
			if (w < 0 || w >= end - p)
				return -1;
			p += w;
			if (lws_ext_call(wsi, wsi->num_ext - 1, LWS_EXT_CALLBACK_HANDSHAKE_REPLY_TX, &p,
				     (size_t)(end - p - 3)))
				return -1;
		}
		if (n < 0)
			lwsl_info("fd %d: malformed Sec-WebSocket-Extensions ignored\n", wsi->fd);
	}
	if (p != reply) {
		if (end - p < 3)
			return -1;
		memcpy(p, "\r\n", 3);
	}
	return 0;
}

/* ---- client side ---- */

int lws_ext_client_offer(struct libwebsocket *wsi, char **pos, char *end)
{
	struct libwebsocket_context *context = wsi->context;
	char *p = *pos;
	int offered = 0;
	for (int n = 0; n < context->num_extensions; n++) {
		struct libwebsocket_extension *ext = &context->extensions[n];
		if (lws_call(context, &context->protocols[0], wsi,
			     LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED, wsi->user_space,
			     (void *)ext->name, 0))
			continue;
		char *mark = p;
		int w = snprintf(p, (size_t)(end - p), "%s%s",
				 offered ? ", " : "Sec-WebSocket-Extensions: ", ext->name);
		if (w < 0 || w >= end - p)
			return -1;
		p += w;
		if (ext->callback(context, ext, wsi, LWS_EXT_CALLBACK_CHECK_OK_TO_PROPOSE_EXTENSION,
				  NULL, &p, (size_t)(end - p))) {
			p = mark; /* the extension declined to be offered */
			*p = '\0';
			continue;
		}
		offered = 1;
	}
	if (offered) {
		if (end - p < 3)
			return -1;
		memcpy(p, "\r\n", 3);
		p += 2;
	}
	*pos = p;
	return 0;
}

/* The server's Sec-WebSocket-Extensions: NULL when acceptable, else why not. */
const char *lws_ext_client_accept(struct libwebsocket *wsi, const struct lws_http_head *res)
{
	struct libwebsocket_context *context = wsi->context;
	char params[512];
	for (size_t h = 0; h < res->num_headers; h++) {
		const struct lws_http_header *hd = &res->headers[h];
		if (hd->name_len != 24 || strncasecmp(hd->name, "Sec-WebSocket-Extensions", 24))
			continue;
		const char *pos = hd->value, *vend = hd->value + hd->value_len, *name;
		size_t name_len;
		int n;
		while ((n = next_offer(&pos, vend, &name, &name_len, params, sizeof params)) > 0) {
			struct libwebsocket_extension *ext = find_extension(context, name, name_len);
			if (!ext || is_active(wsi, ext) ||
			    lws_call(context, &context->protocols[0], wsi,
				     LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED, wsi->user_space,
				     (void *)ext->name, 0))
				return "the server chose an extension we did not offer";
			if (activate(wsi, ext, LWS_EXT_CALLBACK_CLIENT_CONSTRUCT, params))
				return "an extension refused the server's parameters";
		}
		if (n < 0)
			return "malformed Sec-WebSocket-Extensions in the answer";
	}
	return NULL;
}

/* ---- payload sent (received payload: ext_rx.c) ---- */

int lws_ext_tx(struct libwebsocket *wsi, int opcode, int fin, uint8_t **buf, size_t *len,
	       uint8_t *rsv)
{
	wsi->tx_opcode = (uint8_t)opcode;
	wsi->tx_fin = (uint8_t)fin;
	for (int i = 0; i < wsi->num_ext; i++) {
		struct lws_tokens t = {(char *)*buf, (int)*len};
		int n = lws_ext_call(wsi, i, LWS_EXT_CALLBACK_PACKET_TX_PRESEND, &t, 0);
		if (n < 0)
			return -1;
		unsigned f = wsi->ext_flags[i];
		int per_frame = (f & LWS_EXTF_RSV1) && !(f & LWS_EXTF_PER_MESSAGE);
		if (n > 0 && (opcode != LWS_OP_CONTINUATION || per_frame))
			*rsv |= LWS_RSV1;
		*buf = (uint8_t *)t.token;
		*len = (size_t)t.token_len;
	}
	return 0;
}
