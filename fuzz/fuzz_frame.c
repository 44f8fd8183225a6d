/*
 * fuzz_frame.c - the RFC 6455 frame parser (native/src/frame.c), differential:
 * the whole input parsed in one call must give the same events as the same
 * bytes fed in chunks whose sizes come from the input, with callbacks that
 * stop the parser at input-chosen points (the rest is fed again, as input.c
 * does after flow control).
 *
 * Input: [cfg][maxsz][rng_len][rng bytes...][stream...]
 *   cfg bits: 0 expect_masked, 1 allow_unmasked, 2-4 rsv_allowed, 5 text_unchecked
 *   maxsz: 0 = no message limit, else maxsz * 37 bytes
 * Events are normalised: data pieces are joined (chunking splits them
 * differently), frame ends, message ends and control frames are recorded.
 * After a protocol violation the data of the frame in progress is dropped
 * from both logs (the whole run may refuse a frame whose first bytes a
 * chunked run already delivered), and the close codes must agree.
 */
#include "common.h"
#include "frame.h"

struct log {
	uint8_t *b;
	size_t len, cap;
	size_t committed; /* length at the last frame end / control event */
};

static void log_put(struct log *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		while (cap < l->len + n)
			cap *= 2;
		l->b = realloc(l->b, cap);
		if (!l->b)
			abort();
		l->cap = cap;
	}
	memcpy(l->b + l->len, p, n);
	l->len += n;
}

static void log_u8(struct log *l, uint8_t v)
{
	log_put(l, &v, 1);
}

struct run {
	struct log log;
	struct fuzz_rng *stops; /* NULL: never stop */
	int in_data;            /* data bytes since the last marker */
};

static void begin_data(struct run *r)
{
	if (!r->in_data) {
		log_u8(&r->log, 'D');
		r->in_data = 1;
	}
}

static int should_stop(struct run *r)
{
	return r->stops && (fuzz_rng_next(r->stops) & 7) == 0;
}

static int on_data(void *ud, struct lws_frame_parser *p, uint8_t *data, size_t len, int final)
{
	struct run *r = ud;
	uint64_t left = p->payload_len - p->payload_done;

	FUZZ_ASSERT(p->msg_opcode == LWS_OP_TEXT || p->msg_opcode == LWS_OP_BINARY,
		    "data outside a message (opcode %u)", p->msg_opcode);
	FUZZ_ASSERT(!final || (left == 0 && p->fin), "final piece with %llu bytes left",
		    (unsigned long long)left);
	if (p->max_message_size)
		FUZZ_ASSERT(p->msg_size <= p->max_message_size, "message grew past the limit");
	begin_data(r);
	log_put(&r->log, data, len);
	if (left == 0) {
		/* the end of a frame: its properties as the owner sees them */
		uint8_t mark[5] = {'F', p->opcode, p->fin, p->rsv, (uint8_t)final};
		r->in_data = 0;
		log_put(&r->log, mark, sizeof mark);
		log_u8(&r->log, p->msg_opcode);
		log_u8(&r->log, p->msg_rsv);
		r->log.committed = r->log.len;
	}
	return should_stop(r);
}

static int on_control(void *ud, struct lws_frame_parser *p, int opcode, uint8_t *payload,
		      size_t len)
{
	struct run *r = ud;
	uint8_t mark[3] = {'C', (uint8_t)opcode, (uint8_t)len};

	FUZZ_ASSERT(len <= LWS_MAX_CONTROL_PAYLOAD, "control payload of %zu bytes", len);
	FUZZ_ASSERT(opcode == LWS_OP_CLOSE || opcode == LWS_OP_PING || opcode == LWS_OP_PONG,
		    "control opcode %d", opcode);
	if (opcode == LWS_OP_CLOSE && len >= 2)
		FUZZ_ASSERT(lws_close_code_valid((unsigned)payload[0] << 8 | payload[1]),
			    "close frame with an invalid code delivered");
	(void)p;
	/* a control frame may come between two pieces of the same data frame? no:
	 * only between frames; so the data run before it is complete */
	r->in_data = 0;
	log_put(&r->log, mark, sizeof mark);
	log_put(&r->log, payload, len);
	r->log.committed = r->log.len;
	return should_stop(r);
}

static const struct lws_frame_events events = {on_data, on_control};

static void configure(struct lws_frame_parser *p, uint8_t cfg, uint8_t maxsz)
{
	memset(p, 0, sizeof *p);
	p->expect_masked = cfg & 1;
	p->allow_unmasked = (cfg >> 1) & 1;
	p->rsv_allowed = (uint8_t)(((cfg >> 2) & 7) << 4);
	p->text_unchecked = (cfg >> 5) & 1;
	p->max_message_size = maxsz ? (uint64_t)maxsz * 37 : 0;
	lws_frame_parser_reset(p);
}

/* Feed buf[0..len) in one call (no stops).  Returns bytes consumed. */
static size_t run_whole(struct lws_frame_parser *p, struct run *r, uint8_t *buf, size_t len)
{
	size_t n = lws_frame_parse(p, buf, len, &events, r);
	FUZZ_ASSERT(n <= len, "consumed %zu of %zu", n, len);
	FUZZ_ASSERT(n == len || p->error, "whole run stopped at %zu of %zu without an error", n,
		    len);
	return n;
}

static void run_chunked(struct lws_frame_parser *p, struct run *r, uint8_t *buf, size_t len,
			struct fuzz_rng *chunks)
{
	size_t pos = 0;
	while (pos < len && !p->error) {
		size_t chunk = fuzz_rng_chunk(chunks, len - pos);
		size_t end = pos + chunk;
		/* a stopped parse resumes with the unparsed rest of the chunk */
		while (pos < end && !p->error) {
			size_t n = lws_frame_parse(p, buf + pos, end - pos, &events, r);
			FUZZ_ASSERT(n <= end - pos, "consumed more than given");
			FUZZ_ASSERT(n > 0 || p->error || end == pos,
				    "no progress without an error");
			pos += n;
		}
	}
	if (p->error)
		FUZZ_ASSERT(lws_frame_parse(p, buf, len, &events, r) == 0,
			    "parser went on after an error");
}

static void settle(struct run *r, const struct lws_frame_parser *p)
{
	if (p->error) /* drop the partly delivered frame */
		r->log.len = r->log.committed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint8_t cfg = data[0], maxsz = data[1];
	size_t rng_len = data[2] % 32;
	data += 3;
	size -= 3;
	if (rng_len > size)
		rng_len = size;
	struct fuzz_rng chunks, stops;
	fuzz_rng_init(&chunks, data, rng_len);
	fuzz_rng_init(&stops, data, rng_len);
	stops.x ^= 0x5bd1e995u;
	data += rng_len;
	size -= rng_len;

	struct lws_frame_parser pa, pb;
	struct run ra = {0}, rb = {0};
	uint8_t *a = fuzz_dup(data, size), *b = fuzz_dup(data, size);

	configure(&pa, cfg, maxsz);
	configure(&pb, cfg, maxsz);
	run_whole(&pa, &ra, a, size);
	rb.stops = &stops;
	run_chunked(&pb, &rb, b, size, &chunks);
	settle(&ra, &pa);
	settle(&rb, &pb);

	FUZZ_ASSERT(pa.error == pb.error, "whole: close %u (%s), chunked: close %u (%s)",
		    pa.error, pa.error_reason ? pa.error_reason : "-", pb.error,
		    pb.error_reason ? pb.error_reason : "-");
	FUZZ_ASSERT(!pa.error || pa.error == 1002 || pa.error == 1007 || pa.error == 1009,
		    "unexpected close code %u", pa.error);
	FUZZ_ASSERT(!pa.error || pa.error_reason, "error without a reason");
	FUZZ_ASSERT(ra.log.len == rb.log.len && (!ra.log.len || !memcmp(ra.log.b, rb.log.b, ra.log.len)),
		    "whole and chunked events differ (%zu vs %zu log bytes)", ra.log.len,
		    rb.log.len);

	/* the header writer: what it writes parses back to the same header */
	if (size >= 2) {
		uint8_t hdr[LWS_MAX_FRAME_HEADER], mask[4] = {data[0], data[1], 1, 2};
		uint64_t len = (uint64_t)data[0] << (data[1] & 31);
		int masked = data[1] >> 7;
		size_t n = lws_frame_header(hdr, LWS_OP_BINARY, 1, 0, len, masked ? mask : NULL);
		FUZZ_ASSERT(n == lws_frame_header_len(len, masked), "header length disagrees");
		struct lws_frame_parser ph;
		configure(&ph, masked ? 1 : 0, 0);
		FUZZ_ASSERT(lws_frame_parse(&ph, hdr, n, &(struct lws_frame_events){0}, NULL) == n,
			    "own header not parsed");
		FUZZ_ASSERT(len >> 63 || (!ph.error && ph.payload_len == len),
			    "own header parsed to %llu (error %u)",
			    (unsigned long long)ph.payload_len, ph.error);
	}
	free(a);
	free(b);
	free(ra.log.b);
	free(rb.log.b);
	return 0;
}
