/*
 * test_frame.c - the frame engine's contract, proved on byte streams.
 *
 * Every stream is fed whole, one byte at a time, at random split points and
 * with a callback that stops after every event (resuming with the rest); all
 * must give the same event log.  Each input chunk is a fresh heap block of
 * exactly its size and is freed after use, so ASan catches any read past it
 * and any pointer the parser keeps into it.
 *
 * The log has one record per data frame (payload gathered from its pieces)
 * and per control frame, e.g.  T+"Hel" P"x" T"lo"  then E1002 on a
 * violation.  Kind: T/B data frame of a text/binary message, C/P/O close,
 * ping, pong; '+' when FIN is clear; r<hex> for RSV bits; payloads longer
 * than 48 bytes as #length:fnv1a.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frame.h"

#define LOG_MAX 16384
#define REPR_MAX 256

/* -------------------------------------------------------------- helpers */

static uint32_t rng_next(uint32_t *s)
{
	/* xorshift32: deterministic, so a failure is reproducible */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static uint32_t fnv1a(const uint8_t *d, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *d++) * 16777619u;
	return h;
}

static void ref_mask(uint8_t *d, size_t n, const uint8_t mask[4], uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		d[i] ^= mask[(off + i) % 4];
}

/* The log form of a payload. */
static void repr(char *out, const uint8_t *d, size_t n)
{
	size_t i, at = 0;

	if (n > 48) {
		snprintf(out, REPR_MAX, "#%zu:%08x", n, (unsigned)fnv1a(d, n));
		return;
	}
	out[at++] = '"';
	for (i = 0; i < n; i++) {
		if (d[i] >= 0x20 && d[i] < 0x7F && d[i] != '"' && d[i] != '\\')
			out[at++] = (char)d[i];
		else
			at += (size_t)snprintf(out + at, 5, "\\x%02x", d[i]);
	}
	out[at++] = '"';
	out[at] = '\0';
}

/* ------------------------------------------------------- stream building */

struct stream {
	uint8_t *b;
	size_t n, cap;
	unsigned frames;
};

static void put_bytes(struct stream *s, const void *d, size_t n)
{
	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2 + 64;
		s->b = realloc(s->b, s->cap);
	}
	if (n)
		memcpy(s->b + s->n, d, n);
	s->n += n;
}

static void stream_free(struct stream *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

/* A varying mask per frame; frame 3 uses the all-zero mask. */
static void make_mask(unsigned k, uint8_t mask[4])
{
	int i;

	for (i = 0; i < 4; i++)
		mask[i] = (uint8_t)(k == 3 ? 0 : 0xA5 ^ (k * 37 + (unsigned)i * 101));
}

/* A frame with an explicit header; the payload is masked by the reference. */
static void put_raw_frame(struct stream *s, const uint8_t *hdr, size_t hlen,
			  const void *payload, size_t len)
{
	size_t at;

	put_bytes(s, hdr, hlen);
	at = s->n;
	put_bytes(s, payload, len);
	if (hdr[1] & 0x80)
		ref_mask(s->b + at, len, hdr + hlen - 4, 0);
}

static void put_frame_rsv(struct stream *s, int masked, int op, int fin,
			  uint8_t rsv, const void *payload, size_t len)
{
	uint8_t hdr[LWS_MAX_FRAME_HEADER], mask[4];
	size_t h;

	make_mask(s->frames++, mask);
	h = lws_frame_header(hdr, op, fin, rsv, len, masked ? mask : NULL);
	put_raw_frame(s, hdr, h, payload, len);
}

static void put_frame(struct stream *s, int masked, int op, int fin,
		      const void *payload, size_t len)
{
	put_frame_rsv(s, masked, op, fin, 0, payload, len);
}

/* A frame from a client (masked) with a string payload. */
#define CLIENT(s, op, fin, lit) put_frame(s, 1, op, fin, lit, sizeof(lit) - 1)

/* ------------------------------------------------------------- recording */

struct rec {
	char log[LOG_MAX];
	size_t log_len;
	uint8_t *frame; /* payload of the data frame being delivered */
	size_t frame_len, frame_cap;
	uint32_t text_state; /* the delivered text, validated again */
	int events, pieces, empty_pieces, ctl_in_place;
	size_t delivered;
	int stop_every, stop_at, stopped;
	const uint8_t *chunk; /* the input being parsed */
	size_t chunk_len;
};

static void log_add(struct rec *r, const char *text)
{
	size_t n = strlen(text);

	CHECK(r->log_len + n < LOG_MAX);
	if (r->log_len + n >= LOG_MAX)
		return;
	memcpy(r->log + r->log_len, text, n + 1);
	r->log_len += n;
}

static void log_frame(struct rec *r, char kind, int fin, uint8_t rsv,
		      const uint8_t *d, size_t n)
{
	char head[16], body[REPR_MAX];

	snprintf(head, sizeof(head), "%c%s", kind, fin ? "" : "+");
	if (rsv)
		snprintf(head + strlen(head), 8, "r%02x", rsv);
	repr(body, d, n);
	log_add(r, head);
	log_add(r, body);
	log_add(r, " ");
}

static int inside_chunk(const struct rec *r, const uint8_t *d, size_t n)
{
	return d >= r->chunk && d + n <= r->chunk + r->chunk_len;
}

static int decide_stop(struct rec *r)
{
	int stop;

	r->events++;
	stop = r->stop_every || r->events == r->stop_at;
	r->stopped |= stop;
	return stop;
}

static void keep_piece(struct rec *r, const uint8_t *d, size_t n)
{
	if (r->frame_len + n > r->frame_cap) {
		r->frame_cap = (r->frame_len + n) * 2;
		r->frame = realloc(r->frame, r->frame_cap);
	}
	if (n)
		memcpy(r->frame + r->frame_len, d, n);
	r->frame_len += n;
}

/* Text must never reach the owner invalid, not even a piece of it. */
static void recheck_text(struct rec *r, struct lws_frame_parser *p,
			 const uint8_t *d, size_t n, int final)
{
	if (p->msg_opcode != LWS_OP_TEXT || p->msg_rsv)
		return;
	r->text_state = lws_utf8_validate(r->text_state, d, n);
	CHECK(r->text_state != LWS_UTF8_REJECT);
	if (final) {
		CHECK_EQ(r->text_state, 0);
		r->text_state = 0;
	}
}

static int on_data(void *ud, struct lws_frame_parser *p, uint8_t *data,
		   size_t len, int final)
{
	struct rec *r = ud;
	int frame_end = p->payload_done == p->payload_len;

	CHECK(inside_chunk(r, data, len));
	CHECK(p->msg_opcode == LWS_OP_TEXT || p->msg_opcode == LWS_OP_BINARY);
	CHECK(len > 0 || p->payload_len == 0);
	CHECK_EQ(r->frame_len + len, p->payload_done);
	CHECK_EQ(!!final, frame_end && p->fin);
	recheck_text(r, p, data, len, final);
	keep_piece(r, data, len);
	r->pieces++;
	r->empty_pieces += len == 0;
	r->delivered += len;
	if (frame_end) {
		log_frame(r, p->msg_opcode == LWS_OP_TEXT ? 'T' : 'B', p->fin,
			  p->rsv, r->frame, r->frame_len);
		r->frame_len = 0;
	}
	return decide_stop(r);
}

static int on_control(void *ud, struct lws_frame_parser *p, int opcode,
		      uint8_t *payload, size_t len)
{
	struct rec *r = ud;
	char kind = opcode == LWS_OP_CLOSE  ? 'C'
		    : opcode == LWS_OP_PING ? 'P'
		    : opcode == LWS_OP_PONG ? 'O'
					    : '?';

	CHECK(len <= LWS_MAX_CONTROL_PAYLOAD);
	CHECK_EQ(len, p->payload_len);
	CHECK(payload == p->ctl_buf || inside_chunk(r, payload, len));
	r->ctl_in_place += payload != p->ctl_buf;
	log_frame(r, kind, 1, p->rsv, payload, len);
	return decide_stop(r);
}

static const struct lws_frame_events events = {on_data, on_control};

/* ----------------------------------------------------------------- feeding */

enum mode { WHOLE, BYTES, STOP_EVERY, RANDOM };
static const char *const mode_names[] = {"whole", "bytes", "stop-every",
					 "random"};

/* Parse one chunk, resuming after each stop. */
static void feed_chunk(struct lws_frame_parser *p, uint8_t *chunk, size_t n,
		       struct rec *r)
{
	size_t off = 0, got;
	int before;

	r->chunk = chunk;
	r->chunk_len = n;
	while (off < n) {
		before = r->events;
		r->stopped = 0;
		got = lws_frame_parse(p, chunk + off, n - off, &events, r);
		CHECK(got <= n - off);
		off += got;
		if (r->stop_every)
			CHECK(r->events - before <= 1);
		if (p->error) {
			CHECK(p->error_reason != NULL);
			return;
		}
		CHECK(off == n || r->stopped);
		if (off < n && !r->stopped)
			return;
	}
}

static size_t chunk_size(enum mode mode, uint32_t *rng, size_t left,
			 size_t max_chunk)
{
	size_t c = left;

	if (mode == BYTES)
		c = 1;
	else if (mode == RANDOM)
		c = 1 + rng_next(rng) % max_chunk;
	return c < left ? c : left;
}

static void rec_init(struct rec *r)
{
	free(r->frame);
	memset(r, 0, sizeof(*r));
}

/* Feed a stream to a fresh parser with cfg's configuration. */
static void feed(const struct lws_frame_parser *cfg, const struct stream *s,
		 enum mode mode, uint32_t seed, struct rec *r,
		 struct lws_frame_parser *out)
{
	static const size_t max_chunks[] = {2, 3, 7, 17, 130, 1000, 70000};
	struct lws_frame_parser p = *cfg;
	uint32_t rng = seed * 2654435761u + 12345;
	size_t at = 0, max_chunk = max_chunks[seed % 7];
	char err[16];

	lws_frame_parser_reset(&p);
	rec_init(r);
	r->stop_every = mode == STOP_EVERY;
	while (at < s->n && !p.error) {
		size_t c = chunk_size(mode, &rng, s->n - at, max_chunk);
		uint8_t *chunk = malloc(c);

		memcpy(chunk, s->b + at, c);
		feed_chunk(&p, chunk, c, r);
		free(chunk);
		at += c;
	}
	if (p.error) {
		snprintf(err, sizeof(err), "E%u", (unsigned)p.error);
		log_add(r, err);
	}
	if (out)
		*out = p;
}

#define RANDOM_SEEDS 28

/* The same log, whatever the split. */
static void expect_log(const struct lws_frame_parser *cfg,
		       const struct stream *s, const char *want)
{
	struct rec r = {0};
	int mode;
	uint32_t seed;

	for (mode = WHOLE; mode <= RANDOM; mode++) {
		int runs = mode == RANDOM ? RANDOM_SEEDS : 1;

		for (seed = 1; seed <= (uint32_t)runs; seed++) {
			feed(cfg, s, (enum mode)mode, seed, &r, NULL);
			if (strcmp(r.log, want)) {
				fprintf(stderr, "  %s (seed %u)\n   got: %s\n"
					"  want: %s\n", mode_names[mode],
					(unsigned)seed, r.log, want);
				check_failures_in_test++;
				goto done;
			}
		}
	}
done:
	rec_init(&r);
}

static struct lws_frame_parser server_cfg(void)
{
	struct lws_frame_parser p;

	memset(&p, 0, sizeof(p));
	p.expect_masked = 1;
	return p;
}

static struct lws_frame_parser client_cfg(void)
{
	struct lws_frame_parser p;

	memset(&p, 0, sizeof(p));
	return p;
}

/* A stream of one frame from a client. */
#define ONE_FRAME(op, fin, lit)                                                \
	do {                                                                   \
		stream_free(&s);                                               \
		CLIENT(&s, op, fin, lit);                                      \
	} while (0)

/* ------------------------------------------------------ basic delivery */

static void test_text_and_binary_from_client(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	CLIENT(&s, LWS_OP_TEXT, 1, "Hello");
	CLIENT(&s, LWS_OP_BINARY, 1, "\x00\x01\x02\xff");
	expect_log(&cfg, &s, "T\"Hello\" B\"\\x00\\x01\\x02\\xff\" ");
	stream_free(&s);
}

static void test_text_and_binary_from_server(void)
{
	struct lws_frame_parser cfg = client_cfg();
	struct stream s = {0};

	put_frame(&s, 0, LWS_OP_TEXT, 1, "Hello", 5);
	put_frame(&s, 0, LWS_OP_BINARY, 1, "\x00\x01", 2);
	put_frame(&s, 0, LWS_OP_PING, 1, "p", 1);
	expect_log(&cfg, &s, "T\"Hello\" B\"\\x00\\x01\" P\"p\" ");
	stream_free(&s);
}

static void test_empty_frames_delivered_once(void)
{
	struct lws_frame_parser cfg = server_cfg(), p;
	struct stream s = {0};
	struct rec r = {0};

	CLIENT(&s, LWS_OP_TEXT, 1, "");
	CLIENT(&s, LWS_OP_BINARY, 0, "");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "");
	CLIENT(&s, LWS_OP_PING, 1, "");
	CLIENT(&s, LWS_OP_PONG, 1, "");
	CLIENT(&s, LWS_OP_CLOSE, 1, "");
	expect_log(&cfg, &s, "T\"\" B+\"\" B\"\" P\"\" O\"\" C\"\" ");
	feed(&cfg, &s, BYTES, 0, &r, &p);
	CHECK_EQ(r.pieces, 3);
	CHECK_EQ(r.empty_pieces, 3);
	rec_init(&r);
	stream_free(&s);
}

static void test_many_frames_in_one_buffer(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};
	char want[LOG_MAX], body[REPR_MAX];
	uint8_t payload[300];
	uint32_t rng = 7;
	size_t i, k, at = 0;

	for (i = 1; i <= 300; i += 13) {
		for (k = 0; k < i; k++)
			payload[k] = (uint8_t)rng_next(&rng);
		put_frame(&s, 1, LWS_OP_BINARY, 1, payload, i);
		repr(body, payload, i);
		at += (size_t)snprintf(want + at, sizeof(want) - at, "B%s ", body);
	}
	expect_log(&cfg, &s, want);
	stream_free(&s);
}

/* Pieces of a frame count down p->payload_len - p->payload_done. */
struct countdown {
	uint64_t last_left;
	int pieces, bad;
};

static int countdown_on_data(void *ud, struct lws_frame_parser *p,
			     uint8_t *data, size_t len, int final)
{
	struct countdown *c = ud;
	uint64_t left = p->payload_len - p->payload_done;

	(void)data;
	(void)final;
	c->bad += left + len != c->last_left;
	c->last_left = left;
	c->pieces++;
	return 0;
}

static void test_split_frame_reports_bytes_to_come(void)
{
	struct lws_frame_parser p = server_cfg();
	struct lws_frame_events ev = {countdown_on_data, NULL};
	struct countdown c = {1000, 0, 0};
	uint8_t payload[1000] = {0};
	struct stream s = {0};
	size_t at = 0;

	lws_frame_parser_reset(&p);
	put_frame(&s, 1, LWS_OP_BINARY, 1, payload, sizeof(payload));
	while (at < s.n) {
		size_t n = s.n - at < 97 ? s.n - at : 97;

		CHECK_EQ(lws_frame_parse(&p, s.b + at, n, &ev, &c), n);
		at += n;
	}
	CHECK_EQ(c.bad, 0);
	CHECK_EQ(c.last_left, 0);
	CHECK(c.pieces > 10);
	stream_free(&s);
}

/* -------------------------------------------------------------- text */

static void test_utf8_character_split_across_fragments(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	CLIENT(&s, LWS_OP_TEXT, 0, "h\xE2");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "\x82");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "\xACllo");
	expect_log(&cfg, &s, "T+\"h\\xe2\" T+\"\\x82\" T\"\\xacllo\" ");
	stream_free(&s);

	CLIENT(&s, LWS_OP_TEXT, 0, "\xF0");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "\x9F");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "\x98");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "\x80");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "");
	expect_log(&cfg, &s,
		   "T+\"\\xf0\" T+\"\\x9f\" T+\"\\x98\" T+\"\\x80\" T\"\" ");
	stream_free(&s);
}

static void test_invalid_utf8_in_middle_fragment(void)
{
	struct lws_frame_parser cfg = server_cfg(), p;
	struct stream s = {0};
	struct rec r = {0};

	CLIENT(&s, LWS_OP_TEXT, 0, "abc");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "d\xC0" "e");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "f");
	expect_log(&cfg, &s, "T+\"abc\" E1007");
	/* whole: nothing of the bad fragment is delivered */
	feed(&cfg, &s, WHOLE, 0, &r, &p);
	CHECK_EQ(r.delivered, 3);
	CHECK_EQ(p.error, 1007);
	/* bytewise: its valid prefix "d" is, the bad byte is not */
	feed(&cfg, &s, BYTES, 0, &r, &p);
	CHECK_EQ(r.delivered, 4);
	rec_init(&r);
	stream_free(&s);
}

static void test_invalid_utf8_fails_before_frame_ends(void)
{
	struct lws_frame_parser cfg = server_cfg(), p;
	struct stream s = {0};
	struct rec r = {0};
	size_t header = 6;

	CLIENT(&s, LWS_OP_TEXT, 1, "abc\xED\xA0\x80" "def"); /* a surrogate */
	expect_log(&cfg, &s, "E1007");
	feed(&cfg, &s, BYTES, 0, &r, &p);
	CHECK_EQ(r.delivered, 4); /* "abc" and the ED lead byte */
	/* fail fast: detected at the A0, without waiting for the rest */
	lws_frame_parser_reset(&p);
	CHECK_EQ(lws_frame_parse(&p, s.b, header + 5, &events, &r), header);
	CHECK_EQ(p.error, 1007);
	rec_init(&r);
	stream_free(&s);
}

static void test_text_ending_inside_a_character(void)
{
	struct lws_frame_parser cfg = server_cfg(), p;
	struct stream s = {0};
	struct rec r = {0};

	CLIENT(&s, LWS_OP_TEXT, 1, "a\xE2\x82");
	expect_log(&cfg, &s, "E1007");
	feed(&cfg, &s, WHOLE, 0, &r, &p);
	CHECK_EQ(r.delivered, 0);
	feed(&cfg, &s, BYTES, 0, &r, &p);
	CHECK_EQ(r.delivered, 2); /* the last piece would end the text */
	stream_free(&s);

	CLIENT(&s, LWS_OP_TEXT, 0, "a\xE2");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "");
	expect_log(&cfg, &s, "T+\"a\\xe2\" E1007");
	rec_init(&r);
	stream_free(&s);
}

/* Autobahn 6.4.1-6.4.4: the fragment that makes the text invalid fails. */
static void test_autobahn_fail_fast_fragments(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	CLIENT(&s, LWS_OP_TEXT, 0, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "\xf4\x90\x80\x80");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "edited");
	expect_log(&cfg, &s,
		   "T+\"\\xce\\xba\\xe1\\xbd\\xb9\\xcf\\x83\\xce\\xbc\\xce\\xb5\" "
		   "E1007");
	stream_free(&s);

	CLIENT(&s, LWS_OP_TEXT, 0,
	       "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "\x90");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "\x80\x80" "edited");
	expect_log(&cfg, &s,
		   "T+\"\\xce\\xba\\xe1\\xbd\\xb9\\xcf\\x83\\xce\\xbc\\xce\\xb5"
		   "\\xf4\" E1007");
	stream_free(&s);
}

static void test_binary_is_not_validated(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	CLIENT(&s, LWS_OP_BINARY, 0, "\xC0");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "\xFF\xE2");
	expect_log(&cfg, &s, "B+\"\\xc0\" B\"\\xff\\xe2\" ");
	stream_free(&s);
}

/* ------------------------------------------------------- control frames */

static void test_ping_inside_fragmented_message(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	CLIENT(&s, LWS_OP_TEXT, 0, "Hel");
	CLIENT(&s, LWS_OP_PING, 1, "x");
	CLIENT(&s, LWS_OP_CONTINUATION, 0, "l");
	CLIENT(&s, LWS_OP_PONG, 1, "");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "o");
	CLIENT(&s, LWS_OP_TEXT, 1, "next");
	expect_log(&cfg, &s, "T+\"Hel\" P\"x\" T+\"l\" O\"\" T\"o\" T\"next\" ");
	stream_free(&s);
}

static void test_control_frame_rules(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};
	uint8_t big[126];
	char want[REPR_MAX + 8], body[REPR_MAX];

	memset(big, 'z', sizeof(big));
	ONE_FRAME(LWS_OP_PING, 0, "frag");
	expect_log(&cfg, &s, "E1002");
	ONE_FRAME(LWS_OP_CLOSE, 0, "");
	expect_log(&cfg, &s, "E1002");

	stream_free(&s);
	put_frame(&s, 1, LWS_OP_PING, 1, big, 126);
	expect_log(&cfg, &s, "E1002");
	stream_free(&s);
	put_frame(&s, 1, LWS_OP_PONG, 1, big, 126);
	expect_log(&cfg, &s, "E1002");
	stream_free(&s);
	put_frame(&s, 1, LWS_OP_PING, 1, big, 125);
	repr(body, big, 125);
	snprintf(want, sizeof(want), "P%s ", body);
	expect_log(&cfg, &s, want);
	stream_free(&s);
}

static void test_control_payload_in_place_or_gathered(void)
{
	struct lws_frame_parser cfg = server_cfg(), p;
	struct stream s = {0};
	struct rec r = {0};

	CLIENT(&s, LWS_OP_PING, 1, "hello");
	feed(&cfg, &s, WHOLE, 0, &r, &p);
	CHECK_EQ(r.ctl_in_place, 1);
	feed(&cfg, &s, BYTES, 0, &r, &p);
	CHECK_EQ(r.ctl_in_place, 0);
	CHECK(strcmp(r.log, "P\"hello\" ") == 0);
	rec_init(&r);
	stream_free(&s);
}

static void put_close(struct stream *s, unsigned code, const char *reason,
		      size_t reason_len)
{
	uint8_t payload[LWS_MAX_CONTROL_PAYLOAD + 8];

	payload[0] = (uint8_t)(code >> 8);
	payload[1] = (uint8_t)code;
	memcpy(payload + 2, reason, reason_len);
	put_frame(s, 1, LWS_OP_CLOSE, 1, payload, 2 + reason_len);
}

static void test_close_payloads(void)
{
	static const unsigned bad_codes[] = {0,    999,  1004, 1005, 1006,
					     1012, 1015, 1016, 1100, 2000,
					     2999, 5000, 65535};
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};
	char reason[123], want[REPR_MAX + 8], body[REPR_MAX];
	size_t i;

	ONE_FRAME(LWS_OP_CLOSE, 1, "");
	expect_log(&cfg, &s, "C\"\" ");
	ONE_FRAME(LWS_OP_CLOSE, 1, "\x03");
	expect_log(&cfg, &s, "E1002");
	ONE_FRAME(LWS_OP_CLOSE, 1, "\x03\xe8");
	expect_log(&cfg, &s, "C\"\\x03\\xe8\" ");
	ONE_FRAME(LWS_OP_CLOSE, 1, "\x0f\xa0" "bye \xE2\x82\xAC");
	expect_log(&cfg, &s, "C\"\\x0f\\xa0bye \\xe2\\x82\\xac\" ");

	for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		stream_free(&s);
		put_close(&s, bad_codes[i], "", 0);
		expect_log(&cfg, &s, "E1002");
	}
	/* Autobahn 7.5.1: reason with a surrogate; and a truncated character */
	stream_free(&s);
	put_close(&s, 1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
			    "\xed\xa0\x80" "edited", 20);
	expect_log(&cfg, &s, "E1007");
	stream_free(&s);
	put_close(&s, 1000, "ok\xE2\x82", 4);
	expect_log(&cfg, &s, "E1007");
	/* the largest close: 2 + 123 bytes */
	stream_free(&s);
	memset(reason, 'r', sizeof(reason));
	put_close(&s, 4999, reason, sizeof(reason));
	{
		uint8_t payload[125];

		payload[0] = 4999 >> 8;
		payload[1] = 4999 & 0xFF;
		memcpy(payload + 2, reason, sizeof(reason));
		repr(body, payload, sizeof(payload));
	}
	snprintf(want, sizeof(want), "C%s ", body);
	expect_log(&cfg, &s, want);
	stream_free(&s);
}

static void test_close_code_valid_matches_autobahn(void)
{
	/* case7_7_X.py (valid) and case7_9_X.py (invalid), 7.13.x (5000, 65535) */
	static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007,
					 1008, 1009, 1010, 1011, 3000,
					 3999, 4000, 4999};
	static const unsigned invalid[] = {0,    999,  1004, 1005, 1006,
					   1016, 1100, 2000, 2999, 5000,
					   65535};
	unsigned code, bad = 0;
	size_t i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		CHECK(lws_close_code_valid(valid[i]));
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		CHECK(!lws_close_code_valid(invalid[i]));
	for (code = 0; code < 70000; code++) {
		int want = (code >= 1000 && code <= 1003) ||
			   (code >= 1007 && code <= 1011) ||
			   (code >= 3000 && code <= 4999);

		bad += !lws_close_code_valid(code) != !want;
	}
	CHECK_EQ(bad, 0);
	CHECK(!lws_close_code_valid(0xFFFFFFFFu));
}

/* -------------------------------------------------------- header rules */

static void test_rsv_bits(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	put_frame_rsv(&s, 1, LWS_OP_TEXT, 1, LWS_RSV1, "abc", 3);
	expect_log(&cfg, &s, "E1002");
	stream_free(&s);
	put_frame_rsv(&s, 1, LWS_OP_BINARY, 1, LWS_RSV2, "abc", 3);
	expect_log(&cfg, &s, "E1002");
	stream_free(&s);
	put_frame_rsv(&s, 1, LWS_OP_PING, 1, LWS_RSV3, "abc", 3);
	expect_log(&cfg, &s, "E1002");
	stream_free(&s);

	/* an extension claims RSV1: its frames pass, their text is its job */
	cfg.rsv_allowed = LWS_RSV1;
	put_frame_rsv(&s, 1, LWS_OP_TEXT, 0, LWS_RSV1, "\xff\xfe", 2);
	put_frame_rsv(&s, 1, LWS_OP_CONTINUATION, 1, 0, "\xc0", 1);
	put_frame_rsv(&s, 1, LWS_OP_TEXT, 1, 0, "plain", 5);
	expect_log(&cfg, &s, "T+r40\"\\xff\\xfe\" T\"\\xc0\" T\"plain\" ");
	stream_free(&s);
	put_frame_rsv(&s, 1, LWS_OP_TEXT, 1, LWS_RSV1 | LWS_RSV2, "abc", 3);
	expect_log(&cfg, &s, "E1002");
	stream_free(&s);
	/* without RSV bits, text is still checked */
	put_frame_rsv(&s, 1, LWS_OP_TEXT, 1, 0, "\xc0", 1);
	expect_log(&cfg, &s, "E1007");
	stream_free(&s);
}

static void test_reserved_opcodes(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};
	int op;

	for (op = 3; op <= 15; op++) {
		if (op >= LWS_OP_CLOSE && op <= LWS_OP_PONG)
			continue;
		stream_free(&s);
		put_frame(&s, 1, op, 1, "x", 1);
		expect_log(&cfg, &s, "E1002");
		/* also between fragments */
		stream_free(&s);
		CLIENT(&s, LWS_OP_TEXT, 0, "a");
		put_frame(&s, 1, op, 1, "", 0);
		expect_log(&cfg, &s, "T+\"a\" E1002");
	}
	stream_free(&s);
}

static void test_masking_rules(void)
{
	struct lws_frame_parser server = server_cfg(), client = client_cfg();
	struct stream s = {0};

	put_frame(&s, 0, LWS_OP_TEXT, 1, "hi", 2);
	expect_log(&server, &s, "E1002");
	server.allow_unmasked = 1;
	expect_log(&server, &s, "T\"hi\" ");
	stream_free(&s);
	put_frame(&s, 1, LWS_OP_TEXT, 1, "hi", 2);
	expect_log(&server, &s, "T\"hi\" "); /* masked still fine */
	expect_log(&client, &s, "E1002");    /* a server must not mask */
	stream_free(&s);
}

/* Rules of the first two bytes do not wait for the rest of the header. */
static void test_header_start_fails_fast(void)
{
	struct lws_frame_parser p = client_cfg();
	uint8_t masked_64[2] = {0x82, 0xFF};
	uint8_t rsv[1] = {0xC2};
	struct rec r = {0};

	lws_frame_parser_reset(&p);
	lws_frame_parse(&p, masked_64, 2, &events, &r);
	CHECK_EQ(p.error, 1002);
	lws_frame_parser_reset(&p);
	CHECK_EQ(p.error, 0);
	CHECK(p.error_reason == NULL);
	lws_frame_parse(&p, rsv, 1, &events, &r);
	CHECK_EQ(p.error, 0); /* one byte: not judged yet */
	lws_frame_parse(&p, masked_64 + 1, 1, &events, &r);
	CHECK_EQ(p.error, 1002);
	CHECK_EQ(r.events, 0);
}

static void put_header_64(struct stream *s, uint8_t b0, uint64_t len,
			  int masked)
{
	uint8_t h[14];
	size_t n = 0;
	int i;

	h[n++] = b0;
	h[n++] = (uint8_t)((masked ? 0x80 : 0) | 127);
	for (i = 7; i >= 0; i--)
		h[n++] = (uint8_t)(len >> (8 * i));
	if (masked) {
		make_mask(1, h + n);
		n += 4;
	}
	put_bytes(s, h, n);
}

static void test_length_with_top_bit_refused_at_header(void)
{
	struct lws_frame_parser p = server_cfg();
	struct stream s = {0};
	struct rec r = {0};

	put_header_64(&s, 0x82, (uint64_t)1 << 63, 1);
	expect_log(&p, &s, "E1002");
	lws_frame_parser_reset(&p);
	lws_frame_parse(&p, s.b, s.n, &events, &r); /* the header alone */
	CHECK_EQ(p.error, 1002);
	stream_free(&s);

	put_header_64(&s, 0x82, UINT64_MAX, 0);
	p = client_cfg();
	expect_log(&p, &s, "E1002");
	stream_free(&s);

	/* 2^63 - 1 is legal: the parser just waits for the payload */
	put_header_64(&s, 0x82, ((uint64_t)1 << 63) - 1, 1);
	put_bytes(&s, "abc", 3);
	p = server_cfg();
	expect_log(&p, &s, "");
	stream_free(&s);
	rec_init(&r);
}

static void test_non_minimal_lengths_accepted(void)
{
	struct lws_frame_parser cfg = server_cfg();
	uint8_t h16[8] = {0x82, 0x80 | 126, 0, 5};
	uint8_t h64[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5};
	struct stream s = {0};

	make_mask(9, h16 + 4);
	make_mask(10, h64 + 10);
	put_raw_frame(&s, h16, 8, "abcde", 5);
	put_raw_frame(&s, h64, 14, "fghij", 5);
	expect_log(&cfg, &s, "B\"abcde\" B\"fghij\" ");
	stream_free(&s);
}

static void test_fragmentation_sequence_rules(void)
{
	struct lws_frame_parser cfg = server_cfg();
	struct stream s = {0};

	ONE_FRAME(LWS_OP_CONTINUATION, 1, "a");
	expect_log(&cfg, &s, "E1002");
	ONE_FRAME(LWS_OP_CONTINUATION, 0, "");
	expect_log(&cfg, &s, "E1002");

	stream_free(&s);
	CLIENT(&s, LWS_OP_TEXT, 0, "a");
	CLIENT(&s, LWS_OP_TEXT, 1, "b");
	expect_log(&cfg, &s, "T+\"a\" E1002");
	stream_free(&s);
	CLIENT(&s, LWS_OP_BINARY, 0, "a");
	CLIENT(&s, LWS_OP_TEXT, 0, "b");
	expect_log(&cfg, &s, "B+\"a\" E1002");
	stream_free(&s);
	CLIENT(&s, LWS_OP_BINARY, 1, "a");
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "b");
	expect_log(&cfg, &s, "B\"a\" E1002");
	stream_free(&s);
}

/* ------------------------------------------------------ message size */

static void test_max_message_size(void)
{
	struct lws_frame_parser cfg = server_cfg(), p;
	char want[REPR_MAX + 32], body[REPR_MAX];
	uint8_t a[200];
	struct stream s = {0};
	struct rec r = {0};

	memset(a, 'a', sizeof(a));
	cfg.max_message_size = 10;

	put_frame(&s, 1, LWS_OP_BINARY, 1, a, 10);
	put_frame(&s, 1, LWS_OP_TEXT, 1, a, 10); /* the count restarts */
	expect_log(&cfg, &s, "B\"aaaaaaaaaa\" T\"aaaaaaaaaa\" ");
	stream_free(&s);

	put_frame(&s, 1, LWS_OP_BINARY, 1, a, 11);
	expect_log(&cfg, &s, "E1009");
	/* fail fast: the header alone is enough */
	p = cfg;
	lws_frame_parser_reset(&p);
	lws_frame_parse(&p, s.b, 6, &events, &r);
	CHECK_EQ(p.error, 1009);
	CHECK_EQ(r.events, 0);
	stream_free(&s);

	/* across fragments, with a control frame (not counted) between */
	put_frame(&s, 1, LWS_OP_TEXT, 0, a, 6);
	put_frame(&s, 1, LWS_OP_PING, 1, a, 100);
	put_frame(&s, 1, LWS_OP_CONTINUATION, 1, a, 4);
	repr(body, a, 100);
	snprintf(want, sizeof(want), "T+\"aaaaaa\" P%s T\"aaaa\" ", body);
	expect_log(&cfg, &s, want);
	stream_free(&s);
	put_frame(&s, 1, LWS_OP_TEXT, 0, a, 6);
	put_frame(&s, 1, LWS_OP_CONTINUATION, 0, a, 0);
	put_frame(&s, 1, LWS_OP_CONTINUATION, 1, a, 5);
	expect_log(&cfg, &s, "T+\"aaaaaa\" T+\"\" E1009");
	stream_free(&s);

	/* a huge announced length against a limit */
	put_header_64(&s, 0x82, ((uint64_t)1 << 63) - 1, 1);
	expect_log(&cfg, &s, "E1009");
	stream_free(&s);
	rec_init(&r);
}

/* ------------------------------------------------------------ round trips */

static void check_header_encoding(uint64_t len, int masked)
{
	static const uint8_t mask[4] = {1, 2, 3, 4};
	uint8_t h[LWS_MAX_FRAME_HEADER];
	size_t n = lws_frame_header(h, LWS_OP_TEXT, 0, LWS_RSV1 | LWS_RSV3,
				    len, masked ? mask : NULL);
	unsigned len7 = len < 126 ? (unsigned)len : len <= 0xFFFF ? 126 : 127;

	CHECK_EQ(n, lws_frame_header_len(len, masked));
	CHECK_EQ(h[0], 0x51);
	CHECK_EQ(h[1], (masked ? 0x80 : 0) | len7);
	if (masked)
		CHECK(memcmp(h + n - 4, mask, 4) == 0);
}

/* Build with lws_frame_header + lws_mask, parse back under every split. */
static void round_trip(size_t len, int masked, int op)
{
	struct lws_frame_parser cfg = masked ? server_cfg() : client_cfg();
	uint8_t h[LWS_MAX_FRAME_HEADER], mask[4] = {0x12, 0xAB, 0x00, 0xFE};
	uint8_t *payload = malloc(len + 1);
	char want[REPR_MAX + 8], body[REPR_MAX];
	struct stream s = {0};
	uint32_t rng = (uint32_t)len + 99;
	size_t i, hn, at;

	for (i = 0; i < len; i++)
		payload[i] = op == LWS_OP_TEXT ? (uint8_t)('a' + i % 26)
					       : (uint8_t)rng_next(&rng);
	hn = lws_frame_header(h, op, 1, 0, len, masked ? mask : NULL);
	CHECK_EQ(hn, lws_frame_header_len(len, masked));
	put_bytes(&s, h, hn);
	at = s.n;
	put_bytes(&s, payload, len);
	if (masked)
		lws_mask(s.b + at, len, mask, 0);
	repr(body, payload, len);
	snprintf(want, sizeof(want), "%c%s ", op == LWS_OP_TEXT ? 'T' : 'B',
		 body);
	expect_log(&cfg, &s, want);
	free(payload);
	stream_free(&s);
}

static void test_round_trips(void)
{
	static const size_t lens[] = {0,   1,     125,   126,
				      127, 65535, 65536, 70000};
	size_t i;
	int masked;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (masked = 0; masked <= 1; masked++) {
			check_header_encoding(lens[i], masked);
			round_trip(lens[i], masked, LWS_OP_TEXT);
			round_trip(lens[i], masked, LWS_OP_BINARY);
		}
	}
	check_header_encoding((uint64_t)1 << 40, 1);
	CHECK_EQ(lws_frame_header_len(125, 0), 2);
	CHECK_EQ(lws_frame_header_len(126, 0), 4);
	CHECK_EQ(lws_frame_header_len(65535, 1), 8);
	CHECK_EQ(lws_frame_header_len(65536, 1), 14);
}

static void test_mask_matches_reference(void)
{
	static const uint8_t mask[4] = {0x6D, 0xB6, 0xB2, 0x80};
	static const uint64_t offsets[] = {0, 1, 2, 3, 4, 5, 6, 7,
					   ((uint64_t)1 << 32) + 3,
					   UINT64_MAX};
	uint8_t orig[1100], want[1100], got[1100 + 8];
	uint32_t rng = 5;
	size_t i, o, align, len, bad = 0;

	for (i = 0; i < sizeof(orig); i++)
		orig[i] = (uint8_t)rng_next(&rng);
	for (o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
		for (align = 0; align < 8; align++) {
			for (len = 0; len <= 1100; len += len < 64 ? 1 : 259) {
				uint8_t *d = got + align;

				memcpy(want, orig, len);
				ref_mask(want, len, mask, offsets[o]);
				memcpy(d, orig, len);
				lws_mask(d, len, mask, offsets[o]);
				bad += memcmp(d, want, len) != 0;
				/* masking twice restores the data */
				lws_mask(d, len, mask, offsets[o]);
				bad += memcmp(d, orig, len) != 0;
			}
		}
	}
	CHECK_EQ(bad, 0);
}

/* The masked copy equals memcpy + lws_mask, for every alignment of either
 * side, length and mask phase, and leaves the source as it was. */
static void test_mask_copy_matches_mask(void)
{
	static const uint8_t mask[4] = {0x3C, 0x01, 0xF7, 0x9A};
	static const uint64_t offsets[] = {0, 1, 2, 3, 5, UINT64_MAX};
	uint8_t orig[1100 + 8], want[1100], got[1100 + 8];
	uint32_t rng = 11;
	size_t i, o, sa, da, len, bad = 0;

	for (i = 0; i < sizeof(orig); i++)
		orig[i] = (uint8_t)rng_next(&rng);
	for (o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++)
		for (sa = 0; sa < 8; sa += 3)
			for (da = 0; da < 8; da++)
				for (len = 0; len <= 1100; len += len < 64 ? 1 : 259) {
					memcpy(want, orig + sa, len);
					lws_mask(want, len, mask, offsets[o]);
					memset(got, 0xAA, sizeof(got));
					lws_mask_copy(got + da, orig + sa, len, mask, offsets[o]);
					bad += memcmp(got + da, want, len) != 0;
					/* nothing written outside dst */
					for (i = 0; i < da; i++)
						bad += got[i] != 0xAA;
					for (i = da + len; i < sizeof(got); i++)
						bad += got[i] != 0xAA;
				}
	CHECK_EQ(bad, 0);
}

/* Masking in two parts, the second at the right offset, equals one call. */
static void test_mask_in_parts(void)
{
	static const uint8_t mask[4] = {0xDE, 0xAD, 0xBE, 0xEF};
	uint8_t whole[100], parts[100];
	size_t cut, bad = 0;

	for (cut = 0; cut <= sizeof(whole); cut++) {
		memset(whole, 0x33, sizeof(whole));
		memset(parts, 0x33, sizeof(parts));
		lws_mask(whole, sizeof(whole), mask, 2);
		lws_mask(parts, cut, mask, 2);
		lws_mask(parts + cut, sizeof(parts) - cut, mask, 2 + cut);
		bad += memcmp(whole, parts, sizeof(whole)) != 0;
	}
	CHECK_EQ(bad, 0);
}

/* --------------------------------------------------- stopping and errors */

static void test_stop_on_callback_and_resume(void)
{
	struct lws_frame_parser p = server_cfg();
	struct stream s = {0};
	struct rec r = {0};
	size_t got, at;

	CLIENT(&s, LWS_OP_PING, 1, "ab");     /* 8 bytes */
	CLIENT(&s, LWS_OP_TEXT, 1, "hello");  /* 11 bytes */
	CLIENT(&s, LWS_OP_CLOSE, 1, "\x03\xe8"); /* 8 bytes */
	CHECK_EQ(s.n, 27);

	lws_frame_parser_reset(&p);
	r.chunk = s.b;
	r.chunk_len = s.n;
	r.stop_at = 1;
	got = lws_frame_parse(&p, s.b, s.n, &events, &r);
	CHECK_EQ(got, 8);
	CHECK(strcmp(r.log, "P\"ab\" ") == 0);
	r.stop_at = 2;
	at = got;
	got = lws_frame_parse(&p, s.b + at, s.n - at, &events, &r);
	CHECK_EQ(got, 11);
	CHECK(strcmp(r.log, "P\"ab\" T\"hello\" ") == 0);
	at += got;
	got = lws_frame_parse(&p, s.b + at, s.n - at, &events, &r);
	CHECK_EQ(got, 8);
	CHECK(strcmp(r.log, "P\"ab\" T\"hello\" C\"\\x03\\xe8\" ") == 0);
	CHECK_EQ(p.error, 0);
	rec_init(&r);
	stream_free(&s);
}

/* A stop inside a frame split across reads, on a piece. */
static void test_stop_on_a_piece(void)
{
	struct lws_frame_parser p = server_cfg();
	struct stream s = {0};
	struct rec r = {0};
	size_t got;

	CLIENT(&s, LWS_OP_BINARY, 1, "0123456789");  /* 16 bytes */
	CLIENT(&s, LWS_OP_BINARY, 1, "x");
	lws_frame_parser_reset(&p);
	r.chunk = s.b;
	r.chunk_len = s.n;
	r.stop_at = 1;
	got = lws_frame_parse(&p, s.b, 9, &events, &r); /* header + "012" */
	CHECK_EQ(got, 9);
	CHECK_EQ(r.delivered, 3);
	r.stop_at = 2;
	got = lws_frame_parse(&p, s.b + 9, s.n - 9, &events, &r);
	CHECK_EQ(got, 7); /* the rest of the first frame, then stop */
	CHECK_EQ(r.delivered, 10);
	got = lws_frame_parse(&p, s.b + 16, s.n - 16, &events, &r);
	CHECK_EQ(got, s.n - 16);
	CHECK(strcmp(r.log, "B\"0123456789\" B\"x\" ") == 0);
	rec_init(&r);
	stream_free(&s);
}

static void test_error_is_sticky_and_reset_keeps_config(void)
{
	struct lws_frame_parser p = server_cfg();
	struct stream s = {0};
	struct rec r = {0};

	p.max_message_size = 77;
	p.allow_unmasked = 1;
	p.rsv_allowed = LWS_RSV1;
	lws_frame_parser_reset(&p);
	CLIENT(&s, LWS_OP_CONTINUATION, 1, "a");
	CLIENT(&s, LWS_OP_TEXT, 1, "b");
	r.chunk = s.b;
	r.chunk_len = s.n;
	lws_frame_parse(&p, s.b, s.n, &events, &r);
	CHECK_EQ(p.error, 1002);
	CHECK(p.error_reason != NULL);
	CHECK_EQ(lws_frame_parse(&p, s.b + 7, s.n - 7, &events, &r), 0);
	CHECK_EQ(r.events, 0);

	lws_frame_parser_reset(&p);
	CHECK_EQ(p.error, 0);
	CHECK_EQ(p.msg_opcode, 0);
	CHECK_EQ(p.max_message_size, 77);
	CHECK_EQ(p.expect_masked, 1);
	CHECK_EQ(p.allow_unmasked, 1);
	CHECK_EQ(p.rsv_allowed, LWS_RSV1);
	CHECK_EQ(lws_frame_parse(&p, s.b + 7, s.n - 7, &events, &r), s.n - 7);
	CHECK(strcmp(r.log, "T\"b\" ") == 0);
	stream_free(&s);
	rec_init(&r);
}

static void test_empty_input(void)
{
	struct lws_frame_parser p = server_cfg();
	struct rec r = {0};
	uint8_t b[1];

	lws_frame_parser_reset(&p);
	CHECK_EQ(lws_frame_parse(&p, b, 0, &events, &r), 0);
	CHECK_EQ(p.error, 0);
	CHECK_EQ(r.events, 0);
}

/* Callbacks are optional. */
static void test_null_callbacks(void)
{
	struct lws_frame_parser p = server_cfg();
	struct lws_frame_events none = {NULL, NULL};
	struct stream s = {0};

	CLIENT(&s, LWS_OP_TEXT, 1, "abc");
	CLIENT(&s, LWS_OP_PING, 1, "abc");
	lws_frame_parser_reset(&p);
	CHECK_EQ(lws_frame_parse(&p, s.b, s.n, &none, NULL), s.n);
	CHECK_EQ(p.error, 0);
	stream_free(&s);
}

int main(void)
{
	RUN(test_text_and_binary_from_client);
	RUN(test_text_and_binary_from_server);
	RUN(test_empty_frames_delivered_once);
	RUN(test_many_frames_in_one_buffer);
	RUN(test_split_frame_reports_bytes_to_come);
	RUN(test_utf8_character_split_across_fragments);
	RUN(test_invalid_utf8_in_middle_fragment);
	RUN(test_invalid_utf8_fails_before_frame_ends);
	RUN(test_text_ending_inside_a_character);
	RUN(test_autobahn_fail_fast_fragments);
	RUN(test_binary_is_not_validated);
	RUN(test_ping_inside_fragmented_message);
	RUN(test_control_frame_rules);
	RUN(test_control_payload_in_place_or_gathered);
	RUN(test_close_payloads);
	RUN(test_close_code_valid_matches_autobahn);
	RUN(test_rsv_bits);
	RUN(test_reserved_opcodes);
	RUN(test_masking_rules);
	RUN(test_header_start_fails_fast);
	RUN(test_length_with_top_bit_refused_at_header);
	RUN(test_non_minimal_lengths_accepted);
	RUN(test_fragmentation_sequence_rules);
	RUN(test_max_message_size);
	RUN(test_round_trips);
	RUN(test_mask_matches_reference);
	RUN(test_mask_copy_matches_mask);
	RUN(test_mask_in_parts);
	RUN(test_stop_on_callback_and_resume);
	RUN(test_stop_on_a_piece);
	RUN(test_error_is_sticky_and_reset_keeps_config);
	RUN(test_empty_input);
	RUN(test_null_callbacks);
	return CHECK_SUMMARY();
}
