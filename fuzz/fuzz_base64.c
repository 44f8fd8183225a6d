/*
 * fuzz_base64.c - lws_b64_encode_string / lws_b64_decode_string
 * (native/src/base64.c): encoding then decoding gives the input back; the
 * encoder's length is 4 * ceil(n / 3) and it refuses an output that is one
 * byte short; decoding arbitrary text (an exact-size C string) into outputs
 * of a small size (from the input) never writes past out_size and answers
 * -1 or a length that fits (the NUL is added only when there is room).
 *
 * Input: [out_size byte][bytes...]
 */
#include "common.h"
#include "libwebsockets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 16)
		return 0;
	int small = data[0];
	data++;
	size--;

	/* round trip */
	int need = (int)((size + 2) / 3 * 4);
	char *enc = malloc((size_t)need + 1);
	if (!enc)
		abort();
	int n = lws_b64_encode_string((const char *)data, (int)size, enc, need + 1);
	FUZZ_ASSERT(n == need, "encoded %zu bytes to %d chars, want %d", size, n, need);
	FUZZ_ASSERT(enc[n] == '\0', "no NUL after the encoding");
	FUZZ_ASSERT(lws_b64_encode_string((const char *)data, (int)size, enc, need) == -1,
		    "encoding fit in a buffer without room for the NUL");
	n = lws_b64_encode_string((const char *)data, (int)size, enc, need + 1);
	char *dec = malloc(size + 1);
	if (!dec)
		abort();
	int m = lws_b64_decode_string(enc, dec, (int)size + 1);
	FUZZ_ASSERT(m == (int)size, "decoded %d bytes, encoded %zu", m, size);
	FUZZ_ASSERT(!size || !memcmp(dec, data, size), "round trip changed the bytes");
	free(dec);
	free(enc);

	/* decoding arbitrary text into an exact-size output */
	char *text = fuzz_strdup(data, size);
	char *out = malloc((size_t)small + 1);
	if (!out)
		abort();
	int r = lws_b64_decode_string(text, out, small);
	FUZZ_ASSERT(r == -1 || (r >= 0 && r <= small), "decode answered %d for out_size %d", r,
		    small);
	free(out);
	/* and into a large one: never more than 3 bytes per 4 chars (+ a NUL) */
	out = malloc(size + 4);
	if (!out)
		abort();
	r = lws_b64_decode_string(text, out, (int)size + 4);
	FUZZ_ASSERT(r == -1 || (size_t)r <= (strlen(text) + 3) / 4 * 3, "decode answered %d", r);
	free(out);
	free(text);
	return 0;
}
