/*
 * base64.c - base64 (RFC 4648 section 4, the standard alphabet) for the
 * classic lws_b64_* API.
 */
#include "libwebsockets.h"

#include <stddef.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Encodes in[0..in_len) into out with '=' padding and a NUL.  Returns the
 * output length without the NUL, or -1 when out_size cannot hold it all.
 */
int lws_b64_encode_string(const char *in, int in_len, char *out, int out_size)
{
	const unsigned char *src = (const unsigned char *)in;
	size_t n, need, i, o = 0;

	if (in_len < 0 || out_size <= 0)
		return -1;
	n = (size_t)in_len;
	need = (n + 2) / 3 * 4; /* every started 3-byte group becomes 4 chars */
	if (need >= (size_t)out_size)
		return -1; /* no room for the NUL; also keeps need below INT_MAX */

	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long group = (unsigned long)src[i] << 16 | src[i + 1] << 8 | src[i + 2];

		out[o++] = b64_alphabet[group >> 18];
		out[o++] = b64_alphabet[(group >> 12) & 63];
		out[o++] = b64_alphabet[(group >> 6) & 63];
		out[o++] = b64_alphabet[group & 63];
	}
	if (i < n) {
		/* 1 or 2 bytes left: 2 or 3 chars, padded to 4 */
		unsigned long group = (unsigned long)src[i] << 16;

		if (i + 1 < n)
			group |= (unsigned long)src[i + 1] << 8;
		out[o++] = b64_alphabet[group >> 18];
		out[o++] = b64_alphabet[(group >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(group >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Appends the top count bytes of the 24-bit group; -1 when out is full. */
static int put_bytes(unsigned long group, int count, char *out, int *len, int out_size)
{
	int k;

	if (out_size - *len < count)
		return -1;
	for (k = 0; k < count; k++)
		out[(*len)++] = (char)((group >> (16 - 8 * k)) & 0xff);
	return 0;
}

/*
 * Decodes the NUL-terminated string in into out.  Padding may be left out
 * wholly or in part; '=' present must follow a group of 2 or 3 chars, not
 * overfill it, and end the input.  Returns the decoded length, or -1 on a character outside the
 * alphabet, a dangling single character, or when the output does not fit in
 * out_size.  A NUL is appended when there is room for it (it is not counted
 * and not required: binary callers use the returned length).
 */
int lws_b64_decode_string(const char *in, char *out, int out_size)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned long group = 0;
	int chars = 0, len = 0, pad = 0;

	if (!in || out_size < 0)
		return -1;
	for (; *p && *p != '='; p++) {
		int v = b64_value(*p);

		if (v < 0)
			return -1;
		group = group << 6 | (unsigned long)v;
		if (++chars == 4) {
			if (put_bytes(group, 3, out, &len, out_size))
				return -1;
			group = 0;
			chars = 0;
		}
	}
	for (; *p == '='; p++)
		pad++;
	if (*p || chars == 1 || (pad && (chars < 2 || chars + pad > 4)))
		return -1;
	if (chars) {
		/* 2 chars hold 1 byte, 3 chars hold 2; left-align them in 24 bits */
		group <<= 6 * (4 - chars);
		if (put_bytes(group, chars - 1, out, &len, out_size))
			return -1;
	}
	if (len < out_size)
		out[len] = '\0';
	return len;
}
