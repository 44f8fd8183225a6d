/*
 * min_echo.c - a minimal hand-written WebSocket echo server, as a reference
 * ceiling for bench/run.py (the server `min`) and a fast peer to check that
 * echo_load is not the bottleneck.  Not a conforming server: it assumes a
 * well-behaved client (no UTF-8 checks, no limits beyond memory), answers the
 * handshake, then echoes every frame back unmasked, frame for frame, streaming
 * (pings become pongs, a close is echoed and ends the connection).
 *
 *   gcc -O2 -march=native -o min_echo min_echo.c -lcrypto
 *   ./min_echo --port 9000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	int fd, open, closing, want_out;
	int in_payload, skip, op;
	uint8_t mask[4];
	unsigned moff;
	uint64_t left;
	uint8_t *in, *out;
	size_t in_len, in_cap, out_off, out_len, out_cap;
};

static int epfd;

static void grow(uint8_t **b, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap *= 2;
	*b = realloc(*b, *cap);
	if (!*b) {
		perror("realloc");
		exit(1);
	}
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void set_out_interest(struct conn *c, int want)
{
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
	if (c->want_out != want) {
		c->want_out = want;
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

/* returns -1 when the connection should go */
static int flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			c->out_off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			set_out_interest(c, 1);
			return 0;
		}
		return -1;
	}
	c->out_off = c->out_len = 0;
	set_out_interest(c, 0);
	return c->closing ? -1 : 0;
}

static void unmask_copy(uint8_t *restrict d, const uint8_t *restrict s, size_t n,
			const uint8_t *mask)
{
	uint64_t m;
	size_t i = 0;
	memcpy(&m, mask, 4);
	memcpy((uint8_t *)&m + 4, mask, 4);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, s + i, 8);
		v ^= m;
		memcpy(d + i, &v, 8);
	}
	for (; i < n; i++)
		d[i] = s[i] ^ mask[i & 3];
}

static int handshake(struct conn *c)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char *end, *k, *e, buf[128], resp[256];
	uint8_t dig[20];
	unsigned char acc[64];
	size_t klen;
	int n;

	c->in[c->in_len] = 0;
	end = strstr((char *)c->in, "\r\n\r\n");
	if (!end)
		return c->in_len > 8000 ? -1 : 0;
	k = strcasestr((char *)c->in, "\r\nSec-WebSocket-Key:");
	if (!k)
		return -1;
	k += 20;
	while (*k == ' ')
		k++;
	e = strstr(k, "\r\n");
	while (e > k && e[-1] == ' ')
		e--;
	klen = (size_t)(e - k);
	if (klen > 64)
		return -1;
	memcpy(buf, k, klen);
	memcpy(buf + klen, guid, sizeof guid - 1);
	SHA1((unsigned char *)buf, klen + sizeof guid - 1, dig);
	EVP_EncodeBlock(acc, dig, 20);
	n = snprintf(resp, sizeof resp,
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
	grow(&c->out, &c->out_cap, c->out_len + (size_t)n);
	memcpy(c->out + c->out_len, resp, (size_t)n);
	c->out_len += (size_t)n;
	c->open = 1;
	return (int)(end + 4 - (char *)c->in);
}

/*
 * Stream the frames in c->in[0, in_len) back: a frame header is echoed as soon
 * as it is complete, and payload is unmasked into the output as it arrives,
 * so large frames are never buffered whole.  Returns bytes consumed or -1.
 */
static long frames(struct conn *c)
{
	size_t pos = 0;
	while (pos < c->in_len) {
		if (c->left == 0 && !c->in_payload) {
			uint8_t *h = c->in + pos, b0;
			size_t hl = 2, avail = c->in_len - pos;
			uint64_t len;
			uint8_t *o;
			if (avail < 2)
				break;
			b0 = h[0];
			len = h[1] & 0x7f;
			if (!(h[1] & 0x80))
				return -1;
			if (len == 126) {
				len = avail >= 4 ? (uint64_t)h[2] << 8 | h[3] : 0;
				hl = 4;
			} else if (len == 127) {
				int i;
				hl = 10;
				len = 0;
				if (avail >= 10)
					for (i = 0; i < 8; i++)
						len = len << 8 | h[2 + i];
			}
			if (avail < hl + 4)
				break;
			memcpy(c->mask, h + hl, 4);
			c->op = b0 & 0x0f;
			pos += hl + 4;
			c->left = len;
			c->moff = 0;
			c->in_payload = 1;
			if (c->op == 0x8)
				c->closing = 1;
			if (c->op == 0x9)
				b0 = 0x8A;
			if (c->op == 0xA)
				c->skip = 1;
			else {
				c->skip = 0;
				grow(&c->out, &c->out_cap, c->out_len + 10);
				o = c->out + c->out_len;
				o[0] = b0;
				if (len < 126) {
					o[1] = (uint8_t)len;
					c->out_len += 2;
				} else if (len < 65536) {
					o[1] = 126;
					o[2] = (uint8_t)(len >> 8);
					o[3] = (uint8_t)len;
					c->out_len += 4;
				} else {
					int i;
					o[1] = 127;
					for (i = 0; i < 8; i++)
						o[2 + i] = (uint8_t)(len >> (56 - 8 * i));
					c->out_len += 10;
				}
			}
		}
		{
			size_t n = c->in_len - pos;
			if (n > c->left)
				n = (size_t)c->left;
			if (!c->skip) {
				uint8_t m[4];
				int k;
				for (k = 0; k < 4; k++)
					m[k] = c->mask[(c->moff + k) & 3];
				grow(&c->out, &c->out_cap, c->out_len + n);
				unmask_copy(c->out + c->out_len, c->in + pos, n, m);
				c->out_len += n;
			}
			pos += n;
			c->left -= n;
			c->moff = (c->moff + n) & 3;
			if (c->left == 0) {
				c->in_payload = 0;
				if (c->closing)
					return (long)c->in_len; /* ignore anything after a close */
			}
		}
	}
	return (long)pos;
}

static int on_read(struct conn *c)
{
	for (;;) {
		ssize_t r;
		long used;
		size_t want;
		grow(&c->in, &c->in_cap, c->in_len + 65536 + 1);
		want = c->in_cap - c->in_len - 1;
		r = recv(c->fd, c->in + c->in_len, want, 0);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->in_len += (size_t)r;
		if (!c->open) {
			int hs = handshake(c);
			if (hs <= 0)
				return hs;
			memmove(c->in, c->in + hs, c->in_len - (size_t)hs);
			c->in_len -= (size_t)hs;
		}
		used = frames(c);
		if (used < 0)
			return -1;
		if (used) {
			memmove(c->in, c->in + used, c->in_len - (size_t)used);
			c->in_len -= (size_t)used;
		}
		if (flush(c))
			return -1;
		if ((size_t)r < want)
			return 0; /* short read: drained */
	}
}

int main(int argc, char **argv)
{
	int port = 9000, lfd, one = 1, i;
	struct sockaddr_in sa;
	struct epoll_event ev, evs[256];

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1024)) {
		perror("bind/listen");
		return 1;
	}
	epfd = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	fprintf(stderr, "min_echo listening on 127.0.0.1:%d\n", port);
	for (;;) {
		int n = epoll_wait(epfd, evs, 256, -1);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof *c);
					c->fd = fd;
					c->in_cap = c->out_cap = 128 * 1024;
					c->in = malloc(c->in_cap);
					c->out = malloc(c->out_cap);
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && flush(c)) {
				conn_free(c);
				continue;
			}
			if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && on_read(c))
				conn_free(c);
		}
	}
}
