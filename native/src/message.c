/*
 * message.c - whole-message delivery (lws_set_whole_messages).
 *
 * A connection that asked for it gets each received message in one RECEIVE
 * call: the pieces the frame parser (or, after permessage-deflate, the
 * extensions) hand on are gathered here, and the callback sees the whole
 * payload with a 0 byte after it, libwebsocket_is_final_fragment() == 1 and
 * lws_frame_is_binary() telling its type.  A message that arrives as one
 * piece is delivered from where it lies, without a copy.  Control frames
 * between fragments are handled as always (they never come here); text was
 * validated as UTF-8 piece by piece before it gets here, so the whole is too.
 *
 * The gathered bytes are bounded by the message size limit
 * (lws_set_max_message_size; LWS_DEFAULT_MAX_MESSAGE when that is 0): the
 * parser and the extension host already refuse a longer message with 1009,
 * this checks again so that no limit at all cannot mean unbounded memory.
 */
#include "private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct lws_msg {
	size_t len, cap;
	uint8_t data[]; /* cap bytes, + 1 for the 0 after a delivered message */
};

size_t lws_msg_limit(const struct libwebsocket *wsi)
{
	size_t max = (size_t)wsi->parser.max_message_size;
	return max ? max : (size_t)LWS_DEFAULT_MAX_MESSAGE;
}

int lws_msg_gather(struct libwebsocket *wsi, uint8_t **data, size_t *len, int final,
		   size_t max)
{
	struct lws_msg *m = wsi->msg;
	if (!m && final) {
		/* the whole message in one piece: delivered where it is */
		return *len > max ? LWS_MSG_TOO_BIG : LWS_MSG_WHOLE;
	}
	size_t have = m ? m->len : 0;
	if (*len > max || have > max - *len)
		return LWS_MSG_TOO_BIG;
	size_t need = have + *len;
	if (!m || need > m->cap) {
		size_t cap = m ? m->cap : 0;
		if (cap < 256)
			cap = 256;
		while (cap < need)
			cap = cap > max / 2 ? max : cap * 2;
		struct lws_msg *grown = realloc(m, sizeof *m + cap + 1);
		if (!grown)
			return LWS_MSG_NO_MEMORY;
		if (!m)
			grown->len = 0;
		grown->cap = cap;
		m = wsi->msg = grown;
	}
	if (*len)
		memcpy(m->data + m->len, *data, *len);
	m->len = need;
	if (!final)
		return LWS_MSG_KEEP;
	m->data[m->len] = 0; /* the classic promise: in[len] == 0 */
	*data = m->data;
	*len = m->len;
	return LWS_MSG_WHOLE;
}

void lws_msg_release(struct libwebsocket *wsi)
{
	free(wsi->msg);
	wsi->msg = NULL;
}

int lws_set_whole_messages(struct libwebsocket *wsi, int on)
{
	if (!wsi) {
		errno = EINVAL;
		return -1;
	}
	wsi->whole_msgs = on ? 1 : 0;
	return 0;
}
