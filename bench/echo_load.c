/*
 * echo_load.c - WebSocket echo load generator (RFC 6455 client).
 *
 * Opens N connections to a WebSocket echo server, performs the opening
 * handshake (checking the 101 and Sec-WebSocket-Accept), then keeps
 * `inflight` messages outstanding on every connection: each echoed message
 * that comes back complete is answered by a new one.  Writes are batched (all
 * the frames a connection may send go out in one send()), reads are batched
 * (one large recv(), every frame in it parsed).  Single-threaded, epoll,
 * edge-triggered; depends on libc only.
 *
 * Prints one machine-readable line at the end:
 *   result conns=100 inflight=10 size=64 ... msgs=N secs=S msg_per_s=X
 *          MB_per_s=Y p50_us=.. p99_us=.. errors=0
 * and exits non-zero on any protocol error, on a server-initiated close, or
 * when the server stalls.
 *
 * Build: gcc -O2 -march=native -o echo_load echo_load.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* options                                                                   */

static struct {
	const char *host;
	const char *port;
	const char *path;
	const char *protocol;
	int conns;
	int inflight;
	size_t size;
	size_t frag;       /* 0 = one frame per message, else max payload/frame */
	double duration;   /* seconds of measurement (when count == 0) */
	uint64_t count;    /* messages to measure; 0 = use duration */
	double warmup;     /* seconds before measuring */
	double timeout;    /* stall / connect timeout, seconds */
	int text;
	int verify;
	int quiet;
	int busy;          /* spin on epoll_wait(0) instead of sleeping */
	int raw;           /* raw TCP echo: no handshake, no frames */
	size_t rbuf;
} opt = {
	.host = "127.0.0.1",
	.port = "9000",
	.path = "/",
	.conns = 1,
	.inflight = 1,
	.size = 64,
	.duration = 5.0,
	.warmup = 1.0,
	.timeout = 10.0,
	.rbuf = 256 * 1024,
};

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("echo_load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* splitmix64: plenty for masking keys and handshake nonces */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(void)
{
	uint64_t s = 0;
	if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
		s = now_ns() ^ ((uint64_t)getpid() << 32);
	rng_state = s;
}

/* ------------------------------------------------------------------------ */
/* SHA-1 (FIPS 180-4) and base64, just enough for Sec-WebSocket-Accept       */

struct sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t buf[64];
	size_t have;
};

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(struct sha1 *s, const uint8_t *b)
{
	uint32_t w[80], a, bb, c, d, e, f, k, t;
	int i;
	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = s->h[0]; bb = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (bb & c) | (~bb & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = bb ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (bb & c) | (bb & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = bb ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d; d = c; c = rol32(bb, 30); bb = a; a = t;
	}
	s->h[0] += a; s->h[1] += bb; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe,
				       0x10325476, 0xc3d2e1f0};
	memcpy(s->h, iv, sizeof iv);
	s->len = 0;
	s->have = 0;
}

static void sha1_update(struct sha1 *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	s->len += n;
	while (n) {
		size_t take = 64 - s->have;
		if (take > n)
			take = n;
		memcpy(s->buf + s->have, p, take);
		s->have += take;
		p += take;
		n -= take;
		if (s->have == 64) {
			sha1_block(s, s->buf);
			s->have = 0;
		}
	}
}

static void sha1_final(struct sha1 *s, uint8_t out[20])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, lenb[8];
	int i;
	sha1_update(s, &pad, 1);
	while (s->have != 56)
		sha1_update(s, &zero, 1);
	for (i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(s, lenb, 8);
	for (i = 0; i < 20; i++)
		out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = 0;
}

/* accept = base64(SHA-1(key + GUID)), RFC 6455 section 4.2.2 */
static void ws_accept(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	struct sha1 s;
	uint8_t dig[20];
	sha1_init(&s);
	sha1_update(&s, key, strlen(key));
	sha1_update(&s, guid, sizeof guid - 1);
	sha1_final(&s, dig);
	base64(dig, 20, out);
}

/* ------------------------------------------------------------------------ */
/* payloads                                                                  */

/*
 * Every message is the shared pattern, with its first PREFIX bytes replaced by
 * the message's sequence number on its connection in lowercase hex (ASCII, so
 * text messages stay valid UTF-8).  Servers echo in order, so with --verify
 * each echoed byte can be checked against what was sent, in a streaming way.
 */
#define PREFIX 16
static uint8_t *pattern;

static void make_pattern(void)
{
	size_t i;
	pattern = xmalloc(opt.size + 1);
	for (i = 0; i < opt.size; i++)
		pattern[i] = opt.text ? (uint8_t)(' ' + (i * 7 + i / 95) % 95)
				      : (uint8_t)((i * 131 + (i >> 8) * 29 + 7) & 0xff);
}

static void seq_hex(uint64_t seq, uint8_t out[PREFIX])
{
	static const char hx[] = "0123456789abcdef";
	int i;
	for (i = PREFIX - 1; i >= 0; i--, seq >>= 4)
		out[i] = (uint8_t)hx[seq & 15];
}

/* dst = src ^ mask (mask phase starts at 0), 8 bytes at a time; the loop
 * counts words, the form compilers vectorize (see lws_mask in frame.c) */
static void mask_copy(uint8_t *restrict dst, const uint8_t *restrict src,
		      size_t n, const uint8_t mask[4])
{
	uint64_t m;
	size_t words = n / 8;
	memcpy(&m, mask, 4);
	memcpy((uint8_t *)&m + 4, mask, 4);
	for (size_t w = 0; w < words; w++) {
		uint64_t v;
		memcpy(&v, src + 8 * w, 8);
		v ^= m;
		memcpy(dst + 8 * w, &v, 8);
	}
	for (size_t i = words * 8; i < n; i++)
		dst[i] = src[i] ^ mask[i & 3];
}

/* ------------------------------------------------------------------------ */
/* connections                                                               */

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSING, C_DONE };

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9,
       OP_PONG = 10 };

struct conn {
	int fd;
	int idx;
	int state;

	/* handshake */
	char accept[29];
	char *hs;          /* response bytes gathered so far */
	size_t hs_len;

	/* transmit: out[off, len) is unsent */
	uint8_t *out;
	size_t out_cap, out_off, out_len;
	uint64_t sent;     /* messages queued */
	uint64_t recvd;    /* echoes completed */
	uint64_t *ts;      /* send time of message seq, at ts[seq % inflight] */

	/* receive parser */
	uint8_t hdr[14];
	uint8_t hdr_have;
	uint8_t in_payload;
	uint8_t f_op, f_fin;
	uint64_t f_left;   /* payload bytes of the current frame still to come */
	uint8_t msg_op;    /* data message in progress (0 = none) */
	uint64_t msg_len;  /* its payload bytes so far */
	uint8_t ctl[125];
	uint8_t ctl_len;
};

static struct conn *conns;
static int epfd;
static uint8_t *rbuf;

/* global counters */
static uint64_t g_now, g_sent, g_recvd, g_limit = UINT64_MAX;
static uint64_t g_last_progress;
static int g_sending, g_measuring, g_open, g_closed, g_errors;
static uint64_t g_nrecv, g_nsend, g_nwait; /* syscall counters */

/* latency histogram: log2 buckets with 16 linear sub-buckets, in ns */
#define HBITS 4
static uint64_t hist[64 << HBITS];
static uint64_t hist_n;

static void hist_add(uint64_t ns)
{
	unsigned idx;
	if (ns < (1u << HBITS)) {
		idx = (unsigned)ns;
	} else {
		int e = 63 - __builtin_clzll(ns);
		idx = (unsigned)((e - HBITS + 1) << HBITS) |
		      (unsigned)((ns >> (e - HBITS)) & ((1u << HBITS) - 1));
	}
	hist[idx]++;
	hist_n++;
}

static double hist_pct(double q)
{
	uint64_t want, acc = 0;
	unsigned i;
	if (!hist_n)
		return 0;
	want = (uint64_t)(q * (double)hist_n);
	if (want >= hist_n)
		want = hist_n - 1;
	for (i = 0; i < sizeof hist / sizeof hist[0]; i++) {
		acc += hist[i];
		if (acc > want) {
			/* midpoint of the bucket */
			if (i < (1u << HBITS))
				return i;
			unsigned e = (i >> HBITS) + HBITS - 1;
			double lo = (double)(1ull << e) +
				    (double)(i & ((1u << HBITS) - 1)) * (double)(1ull << (e - HBITS));
			return lo + (double)(1ull << (e - HBITS)) / 2;
		}
	}
	return 0;
}

static void conn_error(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "echo_load: conn %d: ", c->idx);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	g_errors++;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->state != C_DONE) {
		if (c->state >= C_OPEN)
			g_open--;
		c->state = C_DONE;
		g_closed++;
	}
}

/* make room for n more bytes in the output buffer */
static uint8_t *out_reserve(struct conn *c, size_t n)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (c->out_len + n > c->out_cap) {
			size_t cap = c->out_cap * 2;
			if (cap < c->out_len + n)
				cap = c->out_len + n;
			c->out = realloc(c->out, cap);
			if (!c->out)
				die("out of memory");
			c->out_cap = cap;
		}
	}
	return c->out + c->out_len;
}

/* write a masked frame header; returns its length, mask in mask[] */
static size_t put_header(uint8_t *o, int op, int fin, uint64_t len, uint8_t mask[4])
{
	size_t h = 2;
	uint32_t r = (uint32_t)rng_next();
	o[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (len < 126) {
		o[1] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		o[1] = 0x80 | 126;
		o[2] = (uint8_t)(len >> 8);
		o[3] = (uint8_t)len;
		h = 4;
	} else {
		int i;
		o[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			o[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(mask, &r, 4);
	memcpy(o + h, mask, 4);
	return h + 4;
}

static void queue_control(struct conn *c, int op, const uint8_t *p, size_t n)
{
	uint8_t mask[4];
	uint8_t *o = out_reserve(c, 14 + n);
	size_t h = put_header(o, op, 1, n, mask);
	mask_copy(o + h, p, n, mask);
	c->out_len += h + n;
}

/* queue the next message of this connection (one or more frames) */
static void queue_message(struct conn *c)
{
	size_t size = opt.size, frag = opt.frag ? opt.frag : (size ? size : 1);
	size_t nframes = size ? (size + frag - 1) / frag : 1;
	uint8_t pre[PREFIX];
	uint8_t *o = out_reserve(c, size + 14 * nframes);
	size_t off = 0, w = 0;
	int first = 1;

	seq_hex(c->sent, pre);
	if (opt.raw) {
		/* raw TCP: the payload alone, echoed byte for byte */
		memcpy(o, pattern, size);
		memcpy(o, pre, size < PREFIX ? size : PREFIX);
		w = size;
		goto queued;
	}
	do {
		uint8_t mask[4];
		size_t n = size - off < frag ? size - off : frag;
		size_t h = put_header(o + w, first ? (opt.text ? OP_TEXT : OP_BINARY) : OP_CONT,
				      off + n == size, n, mask);
		uint8_t *d = o + w + h;
		mask_copy(d, pattern + off, n, mask);
		/* overwrite the sequence prefix part that lies in this frame */
		for (size_t i = off; i < PREFIX && i < off + n; i++)
			d[i - off] = pre[i] ^ mask[(i - off) & 3];
		w += h + n;
		off += n;
		first = 0;
	} while (off < size);
queued:
	c->out_len += w;
	c->ts[c->sent % (uint64_t)opt.inflight] = g_now;
	c->sent++;
	g_sent++;
}

static void flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		g_nsend++;
		if (r > 0) {
			c->out_off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* EPOLLOUT (edge) tells us when to go on */
		conn_error(c, "send: %s", r < 0 ? strerror(errno) : "sent 0");
		return;
	}
	c->out_off = c->out_len = 0;
}

static void top_up(struct conn *c)
{
	if (!g_sending || c->state != C_OPEN)
		return;
	while (c->sent - c->recvd < (uint64_t)opt.inflight && g_sent < g_limit)
		queue_message(c);
}

/* ------------------------------------------------------------------------ */
/* receive path: incremental frame parser                                    */

static int verify_chunk(struct conn *c, const uint8_t *d, size_t n)
{
	uint64_t off = c->msg_len;
	size_t i = 0;
	if (off < PREFIX) {
		uint8_t pre[PREFIX];
		seq_hex(c->recvd, pre);
		for (; i < n && off + i < PREFIX && off + i < opt.size; i++)
			if (d[i] != pre[off + i]) {
				conn_error(c, "payload mismatch in message %" PRIu64
					   " at byte %" PRIu64 " (sequence prefix)",
					   c->recvd, off + i);
				return -1;
			}
	}
	if (i < n && memcmp(d + i, pattern + off + i, n - i) != 0) {
		conn_error(c, "payload mismatch in message %" PRIu64 " within bytes %"
			   PRIu64 "..%" PRIu64, c->recvd, off + i, off + n);
		return -1;
	}
	return 0;
}

static void message_done(struct conn *c)
{
	if (g_measuring)
		hist_add(g_now - c->ts[c->recvd % (uint64_t)opt.inflight]);
	c->recvd++;
	g_recvd++;
}

/* a frame header is complete in h; returns -1 on protocol error */
static int frame_begin(struct conn *c, const uint8_t *h)
{
	uint8_t b0 = h[0], b1 = h[1];
	uint64_t len = b1 & 0x7f;
	int op = b0 & 0x0f;

	if (b1 & 0x80) {
		conn_error(c, "server sent a masked frame");
		return -1;
	}
	if (b0 & 0x70) {
		conn_error(c, "server sent RSV bits 0x%02x with no extension", b0 & 0x70);
		return -1;
	}
	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
	} else if (len == 127) {
		int i;
		len = 0;
		for (i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		if (len >> 63) {
			conn_error(c, "frame length has the top bit set");
			return -1;
		}
	}
	c->f_op = (uint8_t)op;
	c->f_fin = (b0 & 0x80) != 0;
	c->f_left = len;
	switch (op) {
	case OP_CLOSE:
	case OP_PING:
	case OP_PONG:
		if (!c->f_fin || len > 125) {
			conn_error(c, "bad control frame (opcode %d, fin %d, len %" PRIu64 ")",
				   op, c->f_fin, len);
			return -1;
		}
		c->ctl_len = 0;
		return 0;
	case OP_CONT:
		if (!c->msg_op) {
			conn_error(c, "continuation frame with no message in progress");
			return -1;
		}
		break;
	case OP_TEXT:
	case OP_BINARY:
		if (c->msg_op) {
			conn_error(c, "new data frame inside a fragmented message");
			return -1;
		}
		if (op != (opt.text ? OP_TEXT : OP_BINARY)) {
			conn_error(c, "echo came back as %s", op == OP_TEXT ? "text" : "binary");
			return -1;
		}
		c->msg_op = (uint8_t)op;
		c->msg_len = 0;
		break;
	default:
		conn_error(c, "reserved opcode 0x%x", op);
		return -1;
	}
	if (c->msg_len + len > opt.size) {
		conn_error(c, "echoed message longer than sent (%" PRIu64 " > %zu)",
			   c->msg_len + len, opt.size);
		return -1;
	}
	return 0;
}

static int frame_end(struct conn *c)
{
	switch (c->f_op) {
	case OP_PING:
		if (c->state == C_OPEN)
			queue_control(c, OP_PONG, c->ctl, c->ctl_len);
		return 0;
	case OP_PONG:
		return 0;
	case OP_CLOSE: {
		unsigned code = c->ctl_len >= 2 ? (unsigned)c->ctl[0] << 8 | c->ctl[1] : 1005;
		if (c->state == C_CLOSING) {
			close(c->fd);
			c->fd = -1;
			c->state = C_DONE;
			g_closed++;
			return -1; /* stop parsing: connection is finished */
		}
		conn_error(c, "server closed the connection (code %u, reason '%.*s')", code,
			   c->ctl_len > 2 ? c->ctl_len - 2 : 0, (const char *)c->ctl + 2);
		return -1;
	}
	}
	if (!c->f_fin)
		return 0;
	if (c->msg_len != opt.size) {
		conn_error(c, "echoed message has %" PRIu64 " bytes, sent %zu", c->msg_len,
			   opt.size);
		return -1;
	}
	if (c->recvd >= c->sent) {
		conn_error(c, "server sent a message that was never sent");
		return -1;
	}
	c->msg_op = 0;
	message_done(c);
	return 0;
}

static size_t hdr_size(uint8_t b1)
{
	size_t l = b1 & 0x7f;
	return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

/* parse n bytes of the server stream; -1 when the connection is finished */
static int parse(struct conn *c, uint8_t *p, size_t n)
{
	uint8_t *end = p + n;
	while (p < end) {
		if (!c->in_payload) {
			const uint8_t *h;
			size_t avail = (size_t)(end - p);
			if (c->hdr_have == 0 && avail >= 2 && avail >= hdr_size(p[1])) {
				h = p; /* fast path: whole header in this buffer */
				p += hdr_size(p[1]);
			} else {
				size_t need, take;
				while (c->hdr_have < 2 && p < end)
					c->hdr[c->hdr_have++] = *p++;
				if (c->hdr_have < 2)
					break;
				need = hdr_size(c->hdr[1]);
				take = need - c->hdr_have;
				if (take > (size_t)(end - p))
					take = (size_t)(end - p);
				memcpy(c->hdr + c->hdr_have, p, take);
				c->hdr_have += (uint8_t)take;
				p += take;
				if (c->hdr_have < need)
					break;
				h = c->hdr;
				c->hdr_have = 0;
			}
			if (frame_begin(c, h))
				return -1;
			if (c->f_left == 0) {
				if (frame_end(c))
					return -1;
				continue;
			}
			c->in_payload = 1;
		}
		size_t take = (size_t)(end - p);
		if (take > c->f_left)
			take = (size_t)c->f_left;
		if (c->f_op >= OP_CLOSE) {
			memcpy(c->ctl + c->ctl_len, p, take);
			c->ctl_len += (uint8_t)take;
		} else {
			if (opt.verify && verify_chunk(c, p, take))
				return -1;
			c->msg_len += take;
		}
		p += take;
		c->f_left -= take;
		if (c->f_left == 0) {
			c->in_payload = 0;
			if (frame_end(c))
				return -1;
		}
	}
	return 0;
}

/* raw TCP: every opt.size bytes echoed complete a message */
static int parse_raw(struct conn *c, const uint8_t *p, size_t n)
{
	while (n) {
		size_t take = opt.size - (size_t)c->msg_len;
		if (take > n)
			take = n;
		if (c->recvd >= c->sent) {
			conn_error(c, "server sent bytes that were never sent");
			return -1;
		}
		if (opt.verify && verify_chunk(c, p, take))
			return -1;
		c->msg_len += take;
		p += take;
		n -= take;
		if (c->msg_len == opt.size) {
			c->msg_len = 0;
			message_done(c);
		}
	}
	return 0;
}

/* raw TCP: the connection is open as soon as it is connected */
static void raw_open(struct conn *c)
{
	c->state = C_OPEN;
	g_open++;
	g_last_progress = g_now;
	top_up(c);
	flush_out(c);
}

/* ------------------------------------------------------------------------ */
/* handshake                                                                 */

static void send_request(struct conn *c)
{
	uint8_t nonce[16];
	char key[25], req[1024];
	uint64_t a = rng_next(), b = rng_next();
	int n;
	memcpy(nonce, &a, 8);
	memcpy(nonce + 8, &b, 8);
	base64(nonce, 16, key);
	ws_accept(key, c->accept);
	n = snprintf(req, sizeof req,
		     "GET %s HTTP/1.1\r\n"
		     "Host: %s:%s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "%s%s%s"
		     "\r\n",
		     opt.path, opt.host, opt.port, key,
		     opt.protocol ? "Sec-WebSocket-Protocol: " : "",
		     opt.protocol ? opt.protocol : "", opt.protocol ? "\r\n" : "");
	memcpy(out_reserve(c, (size_t)n), req, (size_t)n);
	c->out_len += (size_t)n;
	c->state = C_HANDSHAKE;
	c->hs = xmalloc(8192);
	c->hs_len = 0;
	flush_out(c);
}

/* does the comma-separated header value contain token (case-insensitive)? */
static int has_token(const char *v, size_t vlen, const char *tok)
{
	size_t tl = strlen(tok), i = 0;
	while (i < vlen) {
		size_t s, e;
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < vlen && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return 1;
	}
	return 0;
}

/* returns bytes of the response consumed, 0 if incomplete, -1 on error */
static long check_response(struct conn *c)
{
	char *h = c->hs, *end, *line, *eol;
	int got_upgrade = 0, got_conn = 0, got_accept = 0;
	h[c->hs_len] = 0;
	end = strstr(h, "\r\n\r\n");
	if (!end)
		return 0;
	if (strncmp(h, "HTTP/1.1 101", 12) != 0 || (h[12] != ' ' && h[12] != '\r')) {
		eol = strstr(h, "\r\n");
		conn_error(c, "handshake refused: %.*s", (int)(eol - h), h);
		return -1;
	}
	line = strstr(h, "\r\n") + 2;
	while (line < end + 2) {
		char *colon, *v;
		size_t nlen, vlen;
		eol = strstr(line, "\r\n");
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon) {
			conn_error(c, "malformed header line in the response");
			return -1;
		}
		nlen = (size_t)(colon - line);
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vlen = (size_t)(eol - v);
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
#define HNAME(s) (nlen == sizeof(s) - 1 && strncasecmp(line, s, nlen) == 0)
		if (HNAME("Upgrade")) {
			got_upgrade = vlen == 9 && strncasecmp(v, "websocket", 9) == 0;
		} else if (HNAME("Connection")) {
			got_conn = has_token(v, vlen, "upgrade");
		} else if (HNAME("Sec-WebSocket-Accept")) {
			if (vlen != 28 || memcmp(v, c->accept, 28) != 0) {
				conn_error(c, "bad Sec-WebSocket-Accept '%.*s' (want %s)",
					   (int)vlen, v, c->accept);
				return -1;
			}
			got_accept = 1;
		} else if (HNAME("Sec-WebSocket-Extensions")) {
			conn_error(c, "server accepted an extension we did not offer: %.*s",
				   (int)vlen, v);
			return -1;
		}
#undef HNAME
		line = eol + 2;
	}
	if (!got_upgrade || !got_conn || !got_accept) {
		conn_error(c, "101 response lacks %s", !got_upgrade ? "Upgrade: websocket"
						   : !got_conn  ? "Connection: Upgrade"
								: "Sec-WebSocket-Accept");
		return -1;
	}
	return (long)(end + 4 - h);
}

/* ------------------------------------------------------------------------ */
/* event handling                                                            */

static void on_readable(struct conn *c)
{
	for (;;) {
		ssize_t r;
		if (c->state == C_HANDSHAKE) {
			r = recv(c->fd, c->hs + c->hs_len, 8191 - c->hs_len, 0);
			if (r > 0) {
				long used;
				c->hs_len += (size_t)r;
				used = check_response(c);
				if (used < 0)
					return;
				if (used == 0) {
					if (c->hs_len >= 8191) {
						conn_error(c, "handshake response too large");
						return;
					}
					continue;
				}
				c->state = C_OPEN;
				g_open++;
				g_last_progress = g_now;
				if (c->hs_len > (size_t)used) {
					/* frames right behind the 101 */
					size_t extra = c->hs_len - (size_t)used;
					memcpy(rbuf, c->hs + used, extra);
					free(c->hs);
					c->hs = NULL;
					if (parse(c, rbuf, extra))
						return;
				} else {
					free(c->hs);
					c->hs = NULL;
				}
				top_up(c);
				flush_out(c);
				continue;
			}
		} else {
			r = recv(c->fd, rbuf, opt.rbuf, 0);
			g_nrecv++;
			if (r > 0) {
				if (opt.raw ? parse_raw(c, rbuf, (size_t)r) : parse(c, rbuf, (size_t)r))
					return;
				if ((size_t)r < opt.rbuf)
					break; /* short read: the socket is drained */
				continue;
			}
		}
		if (r == 0) {
			if (c->state == C_CLOSING) {
				close(c->fd);
				c->fd = -1;
				c->state = C_DONE;
				g_closed++;
			} else {
				conn_error(c, "server closed the TCP connection");
			}
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_error(c, "recv: %s", strerror(errno));
		return;
	}
	top_up(c);
	flush_out(c);
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->state == C_DONE)
		return;
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_error(c, "connect: %s", strerror(err));
			return;
		}
		if (opt.raw)
			raw_open(c);
		else
			send_request(c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		on_readable(c);
	if (c->state != C_DONE && (ev & EPOLLOUT) && c->out_off < c->out_len)
		flush_out(c);
}

static void start_connect(struct conn *c, const struct addrinfo *ai)
{
	int one = 1;
	struct epoll_event ev;
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       ai->ai_protocol);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl: %s", strerror(errno));
	c->state = C_CONNECTING;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		if (opt.raw)
			raw_open(c);
		else
			send_request(c);
	}
	else if (errno != EINPROGRESS)
		conn_error(c, "connect: %s", strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */

static void usage(FILE *f)
{
	fputs("usage: echo_load [options]\n"
	      "  -H, --host HOST       server address (default 127.0.0.1)\n"
	      "  -p, --port PORT       server port (default 9000)\n"
	      "      --path PATH       request path (default /)\n"
	      "      --protocol NAME   send Sec-WebSocket-Protocol: NAME\n"
	      "  -c, --conns N         connections (default 1)\n"
	      "  -i, --inflight N      messages outstanding per connection (default 1)\n"
	      "  -s, --size BYTES      message payload size; k/m suffixes (default 64)\n"
	      "  -d, --duration SECS   measure for SECS seconds (default 5)\n"
	      "  -n, --count N         measure exactly N messages instead\n"
	      "  -w, --warmup SECS     load before measuring (default 1)\n"
	      "  -t, --text            text messages (default binary)\n"
	      "  -b, --binary          binary messages\n"
	      "  -f, --frag BYTES      send each message as frames of at most BYTES\n"
	      "  -V, --verify          check every echoed byte, not only lengths\n"
	      "      --timeout SECS    connect / stall timeout (default 10)\n"
	      "      --rbuf BYTES      recv() buffer size (default 256k)\n"
	      "      --busy-poll       never sleep in epoll_wait (burns the load CPU)\n"
	      "      --raw             raw TCP echo (no WebSocket): SIZE bytes out, the\n"
	      "                        same bytes back (bench/tcp_echo.c)\n"
	      "  -q, --quiet           no progress messages on stderr\n"
	      "      --selftest        check SHA-1 / Sec-WebSocket-Accept and exit\n",
	      f);
}

static uint64_t parse_size(const char *s)
{
	char *e;
	double v = strtod(s, &e);
	if (e == s || v < 0)
		die("bad size '%s'", s);
	if (*e == 'k' || *e == 'K')
		v *= 1024, e++;
	else if (*e == 'm' || *e == 'M')
		v *= 1024 * 1024, e++;
	else if (*e == 'g' || *e == 'G')
		v *= 1024.0 * 1024 * 1024, e++;
	if (*e == 'i' || *e == 'I')
		e++;
	if (*e == 'b' || *e == 'B')
		e++;
	if (*e)
		die("bad size '%s'", s);
	return (uint64_t)v;
}

static int selftest(void)
{
	char out[29];
	struct sha1 s;
	uint8_t d[20];
	char hex[41];
	int i, ok = 1;
	ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out);
	if (strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0)
		ok = 0, fprintf(stderr, "accept: got %s\n", out);
	sha1_init(&s);
	sha1_update(&s, "abc", 3);
	sha1_final(&s, d);
	for (i = 0; i < 20; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	if (strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") != 0)
		ok = 0, fprintf(stderr, "sha1(abc): got %s\n", hex);
	sha1_init(&s);
	for (i = 0; i < 1000000; i++)
		sha1_update(&s, "a", 1);
	sha1_final(&s, d);
	for (i = 0; i < 20; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	if (strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") != 0)
		ok = 0, fprintf(stderr, "sha1(a*1e6): got %s\n", hex);
	puts(ok ? "selftest ok" : "selftest FAILED");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"host", 1, 0, 'H'},     {"port", 1, 0, 'p'},   {"path", 1, 0, 'P'},
		{"protocol", 1, 0, 'R'}, {"conns", 1, 0, 'c'},  {"inflight", 1, 0, 'i'},
		{"size", 1, 0, 's'},     {"duration", 1, 0, 'd'}, {"count", 1, 0, 'n'},
		{"warmup", 1, 0, 'w'},   {"text", 0, 0, 't'},   {"binary", 0, 0, 'b'},
		{"frag", 1, 0, 'f'},     {"verify", 0, 0, 'V'}, {"timeout", 1, 0, 'T'},
		{"rbuf", 1, 0, 'B'},     {"quiet", 0, 0, 'q'},  {"selftest", 0, 0, 'S'},
		{"busy-poll", 0, 0, 'U'}, {"raw", 0, 0, 'W'},
		{"help", 0, 0, 'h'},     {0, 0, 0, 0}};
	struct addrinfo hints, *ai;
	struct epoll_event *evs;
	uint64_t sc0[3] = {0, 0, 0}, sc1[3] = {0, 0, 0};
	uint64_t t_start, t0 = 0, t1 = 0, recvd_at_t0 = 0, msgs = 0, deadline = 0;
	int o, i, rc;
	enum { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_CLOSE } ph;

	while ((o = getopt_long(argc, argv, "H:p:c:i:s:d:n:w:tbf:Vqh", lo, NULL)) != -1) {
		switch (o) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = optarg; break;
		case 'P': opt.path = optarg; break;
		case 'R': opt.protocol = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'i': opt.inflight = atoi(optarg); break;
		case 's': opt.size = (size_t)parse_size(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.count = strtoull(optarg, NULL, 10); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 't': opt.text = 1; break;
		case 'b': opt.text = 0; break;
		case 'f': opt.frag = (size_t)parse_size(optarg); break;
		case 'V': opt.verify = 1; break;
		case 'T': opt.timeout = atof(optarg); break;
		case 'B': opt.rbuf = (size_t)parse_size(optarg); break;
		case 'q': opt.quiet = 1; break;
		case 'U': opt.busy = 1; break;
		case 'W': opt.raw = 1; break;
		case 'S': return selftest();
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || opt.conns < 1 || opt.inflight < 1 || opt.rbuf < 64 ||
	    (opt.count == 0 && opt.duration <= 0) || opt.warmup < 0 || opt.timeout <= 0 ||
	    (opt.raw && (opt.size == 0 || opt.frag || opt.protocol))) {
		usage(stderr);
		return 2;
	}
	rng_seed();
	make_pattern();
	rbuf = xmalloc(opt.rbuf);
	evs = xmalloc(sizeof *evs * 512);
	conns = calloc((size_t)opt.conns, sizeof *conns);
	if (!conns)
		die("out of memory");

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(opt.host, opt.port, &hints, &ai)) != 0)
		die("%s:%s: %s", opt.host, opt.port, gai_strerror(rc));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));

	g_now = t_start = now_ns();
	g_last_progress = g_now;
	for (i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		size_t frames = opt.frag && opt.size ? (opt.size + opt.frag - 1) / opt.frag : 1;
		c->idx = i;
		c->out_cap = (size_t)opt.inflight * (opt.size + 14 * frames) + 512;
		c->out = xmalloc(c->out_cap);
		c->ts = calloc((size_t)opt.inflight, sizeof *c->ts);
		if (!c->ts)
			die("out of memory");
		start_connect(c, ai);
	}
	freeaddrinfo(ai);

	ph = PH_CONNECT;
	for (;;) {
		int n, timeout_ms = 100;
		uint64_t last_recvd = g_recvd;

		g_now = now_ns();
		if (g_errors)
			break;
		if (ph == PH_CONNECT) {
			if (g_open == opt.conns) {
				if (!opt.quiet)
					fprintf(stderr, "echo_load: %d connections open in %.1f ms\n",
						opt.conns, (double)(g_now - t_start) / 1e6);
				ph = PH_WARMUP;
				t0 = g_now + (uint64_t)(opt.warmup * 1e9);
				if (opt.count && opt.warmup <= 0)
					g_limit = opt.count;
				g_sending = 1;
				for (i = 0; i < opt.conns; i++) {
					top_up(&conns[i]);
					flush_out(&conns[i]);
				}
				g_last_progress = g_now;
			} else if (g_now - t_start > (uint64_t)(opt.timeout * 1e9)) {
				fprintf(stderr, "echo_load: only %d of %d connections opened in %.0f s\n",
					g_open, opt.conns, opt.timeout);
				g_errors++;
				break;
			}
		}
		if (ph == PH_WARMUP && g_now >= t0) {
			ph = PH_MEASURE;
			t0 = g_now;
			recvd_at_t0 = g_recvd;
			sc0[0] = g_nrecv, sc0[1] = g_nsend, sc0[2] = g_nwait;
			g_measuring = 1;
			if (opt.count)
				g_limit = g_recvd + opt.count;
			else
				deadline = t0 + (uint64_t)(opt.duration * 1e9);
		}
		if (ph == PH_MEASURE &&
		    (opt.count ? g_recvd - recvd_at_t0 >= opt.count : g_now >= deadline)) {
			t1 = g_now;
			msgs = g_recvd - recvd_at_t0;
			sc1[0] = g_nrecv, sc1[1] = g_nsend, sc1[2] = g_nwait;
			g_measuring = 0;
			g_sending = 0;
			ph = PH_CLOSE;
			deadline = g_now + 2000000000ull;
			for (i = 0; i < opt.conns; i++) {
				struct conn *c = &conns[i];
				static const uint8_t bye[2] = {0x03, 0xe8}; /* 1000 */
				if (c->state != C_OPEN)
					continue;
				if (opt.raw) {
					/* raw TCP: half-close; the server's EOF ends it */
					c->state = C_CLOSING;
					c->out_off = c->out_len = 0; /* unsent: dropped */
					shutdown(c->fd, SHUT_WR);
					continue;
				}
				queue_control(c, OP_CLOSE, bye, 2);
				c->state = C_CLOSING;
				flush_out(c);
			}
		}
		if (ph == PH_CLOSE) {
			if (g_closed == opt.conns)
				break;
			if (g_now >= deadline) {
				if (!opt.quiet)
					fprintf(stderr, "echo_load: %d connections did not finish "
						"the closing handshake in 2 s\n", opt.conns - g_closed);
				break;
			}
		}
		if (ph == PH_WARMUP || ph == PH_MEASURE) {
			uint64_t until = ph == PH_WARMUP ? t0 : (opt.count ? 0 : deadline);
			if (until) {
				uint64_t left = until > g_now ? until - g_now : 0;
				timeout_ms = (int)((left + 999999) / 1000000);
				if (timeout_ms > 100)
					timeout_ms = 100;
			}
			if (g_now - g_last_progress > (uint64_t)(opt.timeout * 1e9)) {
				fprintf(stderr, "echo_load: no echo for %.0f s (sent %" PRIu64
					", received %" PRIu64 ")\n", opt.timeout, g_sent, g_recvd);
				g_errors++;
				break;
			}
		}

		n = epoll_wait(epfd, evs, 512, opt.busy && ph != PH_CONNECT ? 0 : timeout_ms);
		g_nwait++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		g_now = now_ns();
		for (i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
		if (g_recvd != last_recvd)
			g_last_progress = g_now;
	}

	if (ph < PH_CLOSE || t1 == 0) {
		/* aborted before the measurement finished */
		t1 = g_now;
		msgs = ph >= PH_MEASURE ? g_recvd - recvd_at_t0 : 0;
		if (ph < PH_MEASURE)
			t0 = t1;
	}
	{
		double secs = (double)(t1 - t0) / 1e9;
		double rate = secs > 0 ? (double)msgs / secs : 0;
		printf("result conns=%d inflight=%d size=%zu frag=%zu type=%s msgs=%" PRIu64
		       " secs=%.4f msg_per_s=%.0f MB_per_s=%.2f p50_us=%.1f p99_us=%.1f"
		       " recv_calls=%" PRIu64 " send_calls=%" PRIu64 " waits=%" PRIu64
		       " errors=%d\n",
		       opt.conns, opt.inflight, opt.size, opt.frag, opt.text ? "text" : "binary",
		       msgs, secs, rate, rate * (double)opt.size / 1e6, hist_pct(0.50) / 1e3,
		       hist_pct(0.99) / 1e3, sc1[0] - sc0[0], sc1[1] - sc0[1], sc1[2] - sc0[2],
		       g_errors);
	}
	fflush(stdout);
	return g_errors ? 1 : 0;
}
