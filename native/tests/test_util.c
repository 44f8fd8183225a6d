/*
 * test_util.c - unit tests of SHA-1, base64, the accept key and lws_os_random.
 */
#include "libwebsockets.h"
#include "util.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

/* The digest of len bytes as lower-case hex, compared with expected. */
static int sha1_hex_is(const void *data, size_t len, const char *expected)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[20];
	char text[41];
	int i;

	if (libwebsockets_SHA1(data, len, md) != md)
		return 0;
	for (i = 0; i < 20; i++) {
		text[2 * i] = hex[md[i] >> 4];
		text[2 * i + 1] = hex[md[i] & 15];
	}
	text[40] = '\0';
	return strcmp(text, expected) == 0;
}

static int sha1_of_as_is(size_t count, const char *expected)
{
	char *data = malloc(count ? count : 1);
	int ok;

	memset(data, 'a', count);
	ok = sha1_hex_is(data, count, expected);
	free(data);
	return ok;
}

static void test_sha1_fips_vectors(void)
{
	CHECK(sha1_hex_is("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
	CHECK(sha1_hex_is(NULL, 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
	CHECK(sha1_hex_is("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d"));
	CHECK(sha1_hex_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
			  "84983e441c3bd26ebaae4aa1f95129e5e54670f1"));
	CHECK(sha1_hex_is("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
			  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 112,
			  "a49b2446a02c645bf419f995b67091253a04a259"));
	CHECK(sha1_of_as_is(1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"));
}

/* Lengths around the padding boundaries (55/56 bytes fit one or two blocks). */
static void test_sha1_block_boundaries(void)
{
	CHECK(sha1_of_as_is(55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"));
	CHECK(sha1_of_as_is(56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"));
	CHECK(sha1_of_as_is(63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"));
	CHECK(sha1_of_as_is(64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"));
	CHECK(sha1_of_as_is(65, "11655326c708d70319be2610e8a57d9a5b959d3b"));
	CHECK(sha1_of_as_is(119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"));
	CHECK(sha1_of_as_is(120, "f34c1488385346a55709ba056ddd08280dd4c6d6"));
	CHECK(sha1_of_as_is(127, "89d95fa32ed44a7c610b7ee38517ddf57e0bb975"));
	CHECK(sha1_of_as_is(128, "ad5b3fdbcb526778c2839d2f151ea753995e26a0"));
}

static int encodes_to(const char *in, const char *expected)
{
	char out[64];
	int len = lws_b64_encode_string(in, (int)strlen(in), out, (int)sizeof(out));

	return len == (int)strlen(expected) && strcmp(out, expected) == 0;
}

static int decodes_to(const char *in, const char *expected)
{
	char out[64];
	int len = lws_b64_decode_string(in, out, (int)sizeof(out));

	return len == (int)strlen(expected) && memcmp(out, expected, (size_t)len) == 0 &&
	       out[len] == '\0';
}

static int decode_rc(const char *in)
{
	char out[64];

	return lws_b64_decode_string(in, out, (int)sizeof(out));
}

static void test_base64_rfc4648_vectors(void)
{
	static const char *const vectors[][2] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		CHECK(encodes_to(vectors[i][0], vectors[i][1]));
		CHECK(decodes_to(vectors[i][1], vectors[i][0]));
	}
}

static void test_base64_decode_without_padding(void)
{
	CHECK(decodes_to("Zg", "f"));
	CHECK(decodes_to("Zm8", "fo"));
	CHECK(decodes_to("Zm9vYg", "foob"));
	CHECK(decodes_to("Zm9vYmE", "fooba"));
	CHECK(decodes_to("Zg=", "f")); /* partly padded */
}

static void test_base64_full_alphabet(void)
{
	static const unsigned char bytes[] = { 0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92,
					       0x8b, 0x30, 0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51,
					       0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f,
					       0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a,
					       0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3,
					       0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf };
	static const char text[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[80];

	CHECK_EQ(lws_b64_encode_string((const char *)bytes, (int)sizeof(bytes), out,
				       (int)sizeof(out)), 64);
	CHECK(strcmp(out, text) == 0);
	CHECK_EQ(lws_b64_decode_string(text, out, (int)sizeof(out)), 48);
	CHECK(memcmp(out, bytes, sizeof(bytes)) == 0);
}

static void test_base64_output_too_small(void)
{
	char out[16];

	/* "foo" needs 4 chars and a NUL */
	CHECK_EQ(lws_b64_encode_string("foo", 3, out, 4), -1);
	CHECK_EQ(lws_b64_encode_string("foo", 3, out, 5), 4);
	CHECK_EQ(lws_b64_encode_string("", 0, out, 0), -1);
	CHECK_EQ(lws_b64_encode_string("", 0, out, 1), 0);
	CHECK_EQ(out[0], '\0');
	CHECK_EQ(lws_b64_encode_string("f", 1, out, 4), -1);
	CHECK_EQ(lws_b64_encode_string("x", -1, out, 16), -1);

	memset(out, '#', sizeof(out));
	CHECK_EQ(lws_b64_decode_string("Zm9vYmFy", out, 5), -1);
	CHECK_EQ(lws_b64_decode_string("Zm9vYmFy", out, 6), 6); /* exact fit, no NUL */
	CHECK(memcmp(out, "foobar", 6) == 0);
	CHECK_EQ(out[6], '#');
	CHECK_EQ(lws_b64_decode_string("Zm9vYg==", out, 3), -1);
	CHECK_EQ(lws_b64_decode_string("Zm9vYg==", out, 4), 4);
	CHECK_EQ(lws_b64_decode_string("", out, 0), 0);
}

static void test_base64_invalid_input(void)
{
	char out[16];

	CHECK_EQ(decode_rc("Zm9v!"), -1);
	CHECK_EQ(decode_rc("Zm 9v"), -1);
	CHECK_EQ(decode_rc("Zm9v\n"), -1);
	CHECK_EQ(decode_rc("Zm-_"), -1); /* the URL-safe alphabet is not this one */
	CHECK_EQ(decode_rc("Zm9v\xc3\xa9"), -1);
	CHECK_EQ(decode_rc("Z"), -1);      /* a lone char holds no whole byte */
	CHECK_EQ(decode_rc("Zm9vY"), -1);
	CHECK_EQ(decode_rc("="), -1);
	CHECK_EQ(decode_rc("===="), -1);
	CHECK_EQ(decode_rc("Z==="), -1);
	CHECK_EQ(decode_rc("Zg==="), -1);
	CHECK_EQ(decode_rc("Zm9v="), -1);
	CHECK_EQ(decode_rc("Zg==Zg=="), -1);
	CHECK_EQ(decode_rc("Zg=x"), -1);
	CHECK_EQ(lws_b64_decode_string(NULL, out, 16), -1);
}

/* A small deterministic generator, so a failure reproduces. */
static unsigned int next_random(unsigned int *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void test_base64_round_trip(void)
{
	unsigned int state = 2463534242u;
	int len, bad_length = 0, bad_round_trip = 0;

	for (len = 0; len <= 300; len++) {
		char in[300], encoded[401], decoded[301];
		int i, enc_len, dec_len;

		for (i = 0; i < len; i++)
			in[i] = (char)next_random(&state);
		enc_len = lws_b64_encode_string(in, len, encoded, (int)sizeof(encoded));
		if (enc_len != (len + 2) / 3 * 4 || (int)strlen(encoded) != enc_len)
			bad_length = 1;
		dec_len = lws_b64_decode_string(encoded, decoded, (int)sizeof(decoded));
		if (dec_len != len || memcmp(in, decoded, (size_t)len) != 0)
			bad_round_trip = 1;
	}
	CHECK(!bad_length);
	CHECK(!bad_round_trip);
}

static void test_accept_key_rfc6455_example(void)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	char out[LWS_ACCEPT_LEN + 1];

	lws_accept_key(key, strlen(key), out);
	CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
	CHECK_EQ(strlen(out), LWS_ACCEPT_LEN);
}

static void test_accept_key_odd_lengths(void)
{
	char key[200];
	char out[LWS_ACCEPT_LEN + 1];

	lws_accept_key("", 0, out);
	CHECK(strcmp(out, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=") == 0);
	memset(key, 'k', sizeof(key)); /* longer than the on-stack buffer */
	lws_accept_key(key, sizeof(key), out);
	CHECK(strcmp(out, "HXr7Nbki1tHdEVpq+a7G7IV4VJU=") == 0);
}

static void test_os_random(void)
{
	unsigned char a[32], b[32];
	size_t big = 1 << 20, i;
	unsigned char *buf = calloc(big, 1);
	int seen[256] = { 0 }, distinct = 0;

	CHECK_EQ(lws_os_random(a, sizeof(a)), 0);
	CHECK_EQ(lws_os_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK_EQ(lws_os_random(NULL, 0), 0);

	/* a large request is filled to its end (getrandom may return short) */
	CHECK_EQ(lws_os_random(buf, big), 0);
	for (i = 0; i < big; i++)
		seen[buf[i]] = 1;
	for (i = 0; i < 256; i++)
		distinct += seen[i];
	CHECK_EQ(distinct, 256);
	for (i = big - 64; i < big && buf[i] == 0; i++)
		;
	CHECK(i < big); /* the tail is not left zero */
	free(buf);
}

int main(void)
{
	RUN(test_sha1_fips_vectors);
	RUN(test_sha1_block_boundaries);
	RUN(test_base64_rfc4648_vectors);
	RUN(test_base64_decode_without_padding);
	RUN(test_base64_full_alphabet);
	RUN(test_base64_output_too_small);
	RUN(test_base64_invalid_input);
	RUN(test_base64_round_trip);
	RUN(test_accept_key_rfc6455_example);
	RUN(test_accept_key_odd_lengths);
	RUN(test_os_random);
	return CHECK_SUMMARY();
}
