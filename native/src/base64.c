/*
 * base64.c - the classic lws_b64_* API: base64 (RFC 4648 section 4, the
 * standard alphabet) through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.
 *
 * What stays here is what those two do not do the classic way: the checks of
 * the output size (they write without bounds), and of the input to decode
 * (EVP_DecodeBlock skips surrounding whitespace, wants whole 4-char groups
 * and writes the padding out as zero bytes).
 */
#include "libwebsockets.h"

#include <openssl/evp.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Encodes in[0..in_len) into out with '=' padding and a NUL.  Returns the
 * output length without the NUL, or -1 when out_size cannot hold it all.
 */
int lws_b64_encode_string(const char *in, int in_len, char *out, int out_size)
{
	size_t need;

	if (in_len < 0 || out_size <= 0)
		return -1;
	need = ((size_t)in_len + 2) / 3 * 4; /* every started 3-byte group becomes 4 chars */
	if (need >= (size_t)out_size)
		return -1; /* no room for the NUL; also keeps need below INT_MAX */
	/* writes need chars and a NUL */
	return EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, in_len);
}

/* Decodes whole 4-char groups in[0..chars) (chars a multiple of 4, no '=')
 * into out, in pieces EVP_DecodeBlock's int length can take. */
static int decode_groups(const char *in, size_t chars, char *out)
{
	const size_t piece = (size_t)1 << 20; /* a multiple of 4 */

	while (chars) {
		size_t n = chars < piece ? chars : piece;

		if (EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n) < 0)
			return -1;
		in += n;
		out += n / 4 * 3;
		chars -= n;
	}
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
	size_t chars, whole, rest, pad, len;

	if (!in || out_size < 0)
		return -1;
	chars = strspn(in, b64_alphabet);
	pad = strspn(in + chars, "=");
	rest = chars % 4;
	if (in[chars + pad] || rest == 1 || (pad && (rest < 2 || rest + pad > 4)))
		return -1;
	whole = chars - rest;
	len = whole / 4 * 3 + (rest ? rest - 1 : 0); /* 2 chars hold 1 byte, 3 hold 2 */
	if (len > (size_t)out_size)
		return -1;
	if (decode_groups(in, whole, out))
		return -1;
	if (rest) {
		/* the last, short group: padded to 4 chars here, decoded aside (the
		 * padding comes out as zero bytes that out may have no room for) */
		char group[4] = { '=', '=', '=', '=' };
		unsigned char bytes[3];

		memcpy(group, in + whole, rest);
		if (EVP_DecodeBlock(bytes, (const unsigned char *)group, 4) < 0)
			return -1;
		memcpy(out + whole / 4 * 3, bytes, rest - 1);
	}
	if (len < (size_t)out_size)
		out[len] = '\0';
	return (int)len;
}
