/*
 * sha1.c - SHA-1 (FIPS 180-4 section 6.1), only for the WebSocket handshake
 * (RFC 6455 uses it as a fingerprint, not for security).
 */
#include "libwebsockets.h"

#include <stdint.h>
#include <string.h>

#define SHA1_BLOCK 64
#define SHA1_DIGEST 20

static inline uint32_t rotl32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static inline uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* One 512-bit block into the hash state (FIPS 180-4 6.1.2 step 1-4). */
static void sha1_block(uint32_t h[5], const unsigned char *block)
{
	uint32_t w[80];
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	int t;

	for (t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (t = 16; t < 80; t++)
		w[t] = rotl32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

	for (t = 0; t < 80; t++) {
		uint32_t f, k, temp;

		if (t < 20) {
			f = (b & c) | (~b & d); /* Ch */
			k = 0x5a827999;
		} else if (t < 40) {
			f = b ^ c ^ d; /* Parity */
			k = 0x6ed9eba1;
		} else if (t < 60) {
			f = (b & c) | (b & d) | (c & d); /* Maj */
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		temp = rotl32(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rotl32(b, 30);
		b = a;
		a = temp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

/*
 * The classic API: digest of d[0..n) into md (20 bytes), returning md.  md must
 * not be NULL (OpenSSL's static-buffer fallback would be shared mutable state).
 */
unsigned char *libwebsockets_SHA1(const unsigned char *d, size_t n, unsigned char *md)
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	/* the last partial block, 0x80, zeros and the 64-bit length fit in two blocks */
	unsigned char tail[2 * SHA1_BLOCK] = { 0 };
	size_t whole = n - n % SHA1_BLOCK;
	size_t rest = n - whole;
	size_t tail_len = rest + 1 + 8 <= SHA1_BLOCK ? SHA1_BLOCK : 2 * SHA1_BLOCK;
	uint64_t bits = (uint64_t)n * 8; /* FIPS 180-4 5.1.1: length mod 2^64 */
	size_t i;

	if (!md)
		return NULL;
	for (i = 0; i < whole; i += SHA1_BLOCK)
		sha1_block(h, d + i);
	if (rest)
		memcpy(tail, d + whole, rest);
	tail[rest] = 0x80;
	store_be32(tail + tail_len - 8, (uint32_t)(bits >> 32));
	store_be32(tail + tail_len - 4, (uint32_t)bits);
	for (i = 0; i < tail_len; i += SHA1_BLOCK)
		sha1_block(h, tail + i);

	for (i = 0; i < SHA1_DIGEST / 4; i++)
		store_be32(md + 4 * i, h[i]);
	return md;
}
