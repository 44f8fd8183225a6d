/*
 * ext_rx.c - received payload through a connection's extensions to the user
 * (lws_conn_deliver), with the per-turn budget and suspension of output an
 * extension still holds (resumed by lws_conn_resume_rx).  Above the
 * extension host (ext.c: negotiation, the transmit hook, the per-connection
 * calls closing needs) and close.c: a peer's bad data closes the connection.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "private.h"

/* "More output" answers in a row without output: an extension stuck. */
#define LWS_EXT_MAX_IDLE_MORE 64

/* A piece of the (transformed) message for the user. */
static int deliver(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
{
	struct lws_frame_parser *p = &wsi->parser;
	if (p->msg_rsv || p->text_unchecked) {
		/* transformed text: the parser could not check it, we do */
		wsi->ext_msg_size += len;
		if (p->max_message_size && wsi->ext_msg_size > p->max_message_size) {
			lws_conn_close(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				       "message too big after decompression");
			return 1;
		}
		if (p->msg_opcode == LWS_OP_TEXT) {
			wsi->ext_utf8 = lws_utf8_validate(wsi->ext_utf8, data, len);
			if (wsi->ext_utf8 == LWS_UTF8_REJECT || (final && wsi->ext_utf8)) {
				lws_conn_close(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
					       "invalid UTF-8 in text");
				return 1;
			}
		}
	}
	if (final) {
		wsi->ext_msg_size = 0;
		wsi->ext_utf8 = 0;
	}
	/* in[len] == 0 for the callback (classic).  A piece the extensions left
	 * in place already has it (input.c's on_data); one in a user extension's
	 * own buffer gets it here, in the byte of room the extension leaves after
	 * its output (the Python binding leaves LWS_SEND_BUFFER_POST_PADDING);
	 * the built-in compression extensions end their own output with it. */
	for (int i = 0; i < wsi->num_ext; i++)
		if (wsi->ext_flags[i] & LWS_EXTF_COMPRESSION)
			return lws_conn_deliver(wsi, data, len, final);
	return lws_conn_deliver_cstr(wsi, data, len, final);
}

/* May the output of extension i be suspended (its unused input kept)? */
static int suspendable(struct libwebsocket *wsi, int i)
{
	return (wsi->ext_flags[i] & LWS_EXTF_RSV1) != 0;
}

/* Has wsi had its share of transformed bytes in this turn of the loop? */
static int budget_spent(struct libwebsocket *wsi)
{
	if (wsi->ext_rx_turn != wsi->context->turn) {
		wsi->ext_rx_turn = wsi->context->turn;
		wsi->ext_rx_used = 0;
	}
	return wsi->ext_rx_used >= LWS_EXT_RX_BUDGET;
}

/*
 * Received data goes through the extensions in the reverse of the order they
 * transform what is sent (RFC 6455 9.1): from the last negotiated to the
 * first.  outer: i is the extension that gets the frame parser's pieces;
 * only there may output be suspended for a later turn.
 */
static int rx_through(struct libwebsocket *wsi, int i, struct lws_tokens tok, int final,
		      int outer)
{
	if (i < 0)
		return deliver(wsi, (uint8_t *)tok.token, (size_t)tok.token_len, final);
	int idle = 0;
	for (;;) {
		struct lws_tokens t = tok;
		wsi->rx_final = (uint8_t)final; /* extensions may ask */
		int n = lws_ext_call(wsi, i, LWS_EXT_CALLBACK_PACKET_RX_PREPARSE, &t, 0);
		if (n < 0) {
			lws_conn_close(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
				       "an extension could not decode the payload");
			return 1;
		}
		int more = n > 0;
		if (t.token_len > 0) {
			idle = 0;
			wsi->ext_rx_used += (size_t)t.token_len;
		} else if (more && ++idle > LWS_EXT_MAX_IDLE_MORE) {
			/* never loop without progress */
			lws_conn_close(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
				       "an extension made no progress decoding the payload");
			return 1;
		}
		if ((t.token_len > 0 || (!more && final)) &&
		    rx_through(wsi, i - 1, t, final && !more, 0))
			return 1;
		if (!more)
			return 0;
		tok.token = NULL;
		tok.token_len = 0;
		if (outer && suspendable(wsi, i) && (wsi->rx_paused || budget_spent(wsi))) {
			/* the rest in a later turn: other connections go first,
			 * and a paused connection gets nothing more */
			if (!wsi->ext_rx_parser)
				wsi->ext_rx_parser = malloc(sizeof *wsi->ext_rx_parser);
			if (!wsi->ext_rx_parser || lws_ext_desc_of(wsi->ext[i].ext)->rx_keep(wsi->ext[i].user)) {
				lws_conn_close(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
					       "out of memory");
				return 1;
			}
			wsi->ext_rx_pending = 1;
			wsi->ext_rx_final = (uint8_t)final;
			*wsi->ext_rx_parser = wsi->parser;
			if (!wsi->rx_paused) {
				wsi->context->rx_resumes++;
				lws_timer_update(wsi->context);
			}
			return 1;
		}
	}
}

int lws_ext_rx(struct libwebsocket *wsi, uint8_t *data, size_t len, int final)
{
	struct lws_frame_parser *p = &wsi->parser;
	/* RFC 7692 5.1/6.1: RSV1 marks a message, never a continuation frame
	 * (deflate-frame marks frames, continuations too) */
	if (p->opcode == LWS_OP_CONTINUATION && p->rsv && lws_ext_per_message(wsi)) {
		lws_conn_close(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, "RSV1 on a continuation frame");
		return 1;
	}
	budget_spent(wsi); /* a new turn starts a new count */
	struct lws_tokens tok = {(char *)data, (int)len};
	return rx_through(wsi, wsi->num_ext - 1, tok, final, 1);
}

int lws_ext_rx_resume(struct libwebsocket *wsi)
{
	if (!wsi->ext_rx_pending)
		return 0;
	if (wsi->state != LWS_STATE_WS) {
		wsi->ext_rx_pending = 0; /* closing: data is dropped now */
		return 0;
	}
	if (wsi->rx_paused)
		return 1;
	if (budget_spent(wsi)) {
		wsi->context->rx_resumes++; /* the next turn, then */
		return 1;
	}
	/* the extension and the user see the frame the output belongs to (the
	 * parser has moved past its end); the parser's own state comes back after */
	struct lws_frame_parser now = wsi->parser;
	wsi->parser = *wsi->ext_rx_parser;
	wsi->ext_rx_pending = 0;
	struct lws_tokens tok = {NULL, 0};
	int rc = rx_through(wsi, wsi->num_ext - 1, tok, wsi->ext_rx_final, 1);
	wsi->parser = now;
	return rc;
}
