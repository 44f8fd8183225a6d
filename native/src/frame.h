/*
 * frame.h - the RFC 6455 frame engine.  Pure: no sockets, no allocation, no
 * logging.  The connection layer feeds it bytes and gets events back.
 *
 * Parsing is incremental: any split of the stream (one byte at a time
 * included) produces the same events as the whole buffer.  Payload is unmasked
 * in place in the caller's buffer and handed out as pointers into it
 * (zero copy); only control-frame payloads, which must arrive whole, are
 * gathered into the parser's own 125-byte buffer when they straddle reads.
 */
#ifndef PYLWS_FRAME_H
#define PYLWS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum lws_opcode {
	LWS_OP_CONTINUATION = 0x0,
	LWS_OP_TEXT = 0x1,
	LWS_OP_BINARY = 0x2,
	LWS_OP_CLOSE = 0x8,
	LWS_OP_PING = 0x9,
	LWS_OP_PONG = 0xA,
};

/* RSV bits as they sit in the first header byte */
#define LWS_RSV1 0x40
#define LWS_RSV2 0x20
#define LWS_RSV3 0x10

#define LWS_MAX_CONTROL_PAYLOAD 125
#define LWS_MAX_FRAME_HEADER 14 /* 2 + 8 extended length + 4 mask */

struct lws_frame_parser {
	/* ---- configuration: set by the owner, may change between calls ---- */
	uint64_t max_message_size; /* 0 = unlimited; else a larger message -> 1009 */
	uint8_t expect_masked;     /* 1: frames must be masked (we are a server) */
	uint8_t allow_unmasked;    /* with expect_masked: accept unmasked too */
	uint8_t rsv_allowed;       /* RSV bits (LWS_RSV*) an active extension claims */
	uint8_t text_unchecked;    /* an extension transforms frames one by one
				    * (deflate-frame): it checks all text, even
				    * the frames it leaves as they are */

	/* ---- state: private to frame.c except where noted ---- */
	uint8_t state;             /* where in the frame the next byte goes */
	uint8_t hdr[LWS_MAX_FRAME_HEADER];
	uint8_t hdr_have;          /* header bytes gathered so far */
	uint8_t hdr_need;          /* header bytes this frame's header has */

	/* the frame being parsed (readable by the owner inside callbacks) */
	uint8_t opcode;            /* this frame's opcode */
	uint8_t fin;               /* this frame's FIN bit */
	uint8_t rsv;               /* this frame's RSV bits (LWS_RSV*) */
	uint8_t masked;
	uint8_t mask[4];
	uint64_t payload_len;      /* this frame's payload length */
	uint64_t payload_done;     /* payload bytes of this frame consumed so far */

	/* the data message in progress (readable by the owner) */
	uint8_t msg_opcode;        /* LWS_OP_TEXT / LWS_OP_BINARY, 0 = none */
	uint8_t msg_rsv;           /* RSV bits of this message's frames so far, ORed;
				    * nonzero = an extension transformed the payload
				    * (e.g. deflate), so the parser does NOT check its
				    * UTF-8: the extension layer must, after inflating */
	uint64_t msg_size;         /* payload bytes of this message so far */
	uint32_t utf8_state;       /* lws_utf8_validate state across fragments */

	/* control frame gathering */
	uint8_t ctl_len;
	uint8_t ctl_buf[LWS_MAX_CONTROL_PAYLOAD + 1]; /* + 1: the owner may put a 0
							* byte after the payload */

	/* ---- result ---- */
	uint16_t error;            /* close code of the violation (1002/1007/1009), 0 = none */
	const char *error_reason;  /* static text explaining it, for logs and the close reason */
};

struct lws_frame_events {
	/*
	 * A piece of a TEXT/BINARY message's payload, unmasked, and for text
	 * already checked to be valid UTF-8 so far.  'final' is nonzero when the
	 * piece ends the message (FIN frame and no payload left).  (Text whose
	 * frames carry RSV bits is extension data and is not checked: see
	 * msg_rsv.)  An empty frame is reported once with len 0.  The owner may
	 * read p->msg_opcode, p->msg_rsv, p->fin, p->rsv and
	 * (p->payload_len - p->payload_done) == bytes of this frame still to
	 * come.  The bytes before 'data' belong to frames already
	 * parsed, so the owner may write a frame header there.
	 * Return nonzero to stop parsing right after this piece.
	 */
	int (*on_data)(void *ud, struct lws_frame_parser *p,
		       uint8_t *data, size_t len, int final);
	/*
	 * A complete control frame (CLOSE, PING, PONG), payload unmasked.  A
	 * CLOSE's payload has been validated (empty, or a valid code followed by
	 * valid UTF-8).  Return nonzero to stop parsing right after it.
	 */
	int (*on_control)(void *ud, struct lws_frame_parser *p, int opcode,
			  uint8_t *payload, size_t len);
};

/* Zero the state; configuration fields are kept. */
void lws_frame_parser_reset(struct lws_frame_parser *p);

/*
 * Parse len bytes from buf (unmasking in place).  Returns the number of bytes
 * consumed: all of them, unless a callback returned nonzero (the rest is
 * unparsed and may be fed again later) or a protocol violation was found
 * (p->error is then set and parsing must not continue).
 */
size_t lws_frame_parse(struct lws_frame_parser *p, uint8_t *buf, size_t len,
		       const struct lws_frame_events *ev, void *ud);

/*
 * Write a frame header for a payload of len bytes into out (at least
 * LWS_MAX_FRAME_HEADER bytes).  mask NULL = unmasked.  Returns its length.
 */
size_t lws_frame_header(uint8_t *out, int opcode, int fin, uint8_t rsv,
			uint64_t len, const uint8_t *mask);

/* Bytes lws_frame_header writes for this payload length. */
size_t lws_frame_header_len(uint64_t len, int masked);

/*
 * XOR data with mask, as if data started at byte 'offset' of the masked
 * payload (offset % 4 picks the starting mask byte).  Word at a time.
 */
void lws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* dst = src masked as lws_mask would (the two must not overlap): a masked
 * copy of a payload the caller keeps, in one pass. */
void lws_mask_copy(uint8_t *restrict dst, const uint8_t *restrict src, size_t len,
		   const uint8_t mask[4], uint64_t offset);

/* Nonzero when a peer may send this close code (RFC 6455 7.4, as Autobahn grades it). */
int lws_close_code_valid(unsigned code);

/*
 * Incremental UTF-8 validation.  state starts at 0.  Returns the new state, or
 * LWS_UTF8_REJECT as soon as a byte makes the sequence invalid (overlong
 * forms, surrogates and code points above U+10FFFF are invalid at the first
 * byte that shows it).  A complete text ends in state 0.
 */
#define LWS_UTF8_REJECT 0xffffffffu
uint32_t lws_utf8_validate(uint32_t state, const uint8_t *s, size_t len);

#endif /* PYLWS_FRAME_H */
