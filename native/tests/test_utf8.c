/*
 * test_utf8.c - lws_utf8_validate against the definitions (RFC 3629) and an
 * independent, slow reference; reject positions are checked byte by byte,
 * because failing at the first impossible byte is part of the contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frame.h"

#define NO_REJECT ((size_t)-1)

/* ----------------------------------------------------------- reference */

/* Encode a code point (no checks: surrogates are encoded too). */
static size_t encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* Sequence length announced by a lead byte's bit pattern, 0 if none. */
static int ref_seq_len(uint8_t b)
{
	if (b < 0x80)
		return 1;
	if ((b & 0xE0) == 0xC0)
		return 2;
	if ((b & 0xF0) == 0xE0)
		return 3;
	if ((b & 0xF8) == 0xF0)
		return 4;
	return 0;
}

/*
 * Can the k bytes s (k <= len, all continuation bytes well-formed) be the
 * start of a valid len-byte character?  The code points they can still
 * become form the interval [lo, hi]; it must meet [min, max] of the length
 * outside the surrogates.
 */
static int ref_char_possible(const uint8_t *s, int k, int len)
{
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	static const uint32_t max_cp[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
	uint32_t lo, hi;
	int i;

	lo = s[0] & (0xFF >> (len + 1));
	for (i = 1; i < k; i++)
		lo = lo << 6 | (s[i] & 0x3F);
	hi = lo;
	for (; i < len; i++) {
		lo = lo << 6;
		hi = hi << 6 | 0x3F;
	}
	if (len == 1)
		return 1;
	if (hi < min_cp[len] || lo > max_cp[len])
		return 0;
	if (lo < min_cp[len])
		lo = min_cp[len];
	if (hi > max_cp[len])
		hi = max_cp[len];
	/* the interval is not wholly inside the surrogates */
	return lo < 0xD800 || hi > 0xDFFF;
}

/* Index of the first byte after which s cannot be a valid prefix. */
static size_t ref_reject_pos(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		int len = ref_seq_len(s[i]), k;

		if (!len)
			return i;
		for (k = 1; k <= len && i + (size_t)k <= n; k++) {
			if (k > 1 && (s[i + k - 1] & 0xC0) != 0x80)
				return i + k - 1;
			if (!ref_char_possible(s + i, k, len))
				return i + k - 1;
		}
		i += (size_t)len;
	}
	return NO_REJECT;
}

static int ref_complete(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n)
		i += (size_t)ref_seq_len(s[i]);
	return i == n;
}

/* ------------------------------------------------------------- helpers */

/* Feed one byte at a time; the index of the byte that gave REJECT. */
static size_t reject_pos_bytewise(const uint8_t *s, size_t n, uint32_t *end)
{
	uint32_t st = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		st = lws_utf8_validate(st, s + i, 1);
		if (st == LWS_UTF8_REJECT) {
			*end = st;
			return i;
		}
	}
	*end = st;
	return NO_REJECT;
}

/* Check validate() against the reference: whole, bytewise and split. */
static void check_against_ref(const uint8_t *s, size_t n)
{
	size_t want = ref_reject_pos(s, n), cut;
	uint32_t end, whole = lws_utf8_validate(0, s, n);

	CHECK_EQ(reject_pos_bytewise(s, n, &end), want);
	if (want != NO_REJECT) {
		CHECK_EQ(whole, LWS_UTF8_REJECT);
		return;
	}
	CHECK(whole != LWS_UTF8_REJECT);
	CHECK_EQ(whole == 0, ref_complete(s, n));
	CHECK_EQ(end, whole);
	for (cut = 0; cut <= n; cut++)
		CHECK_EQ(lws_utf8_validate(lws_utf8_validate(0, s, cut),
					   s + cut, n - cut), whole);
}

static int is_valid(const char *s, size_t n)
{
	return lws_utf8_validate(0, (const uint8_t *)s, n) == 0;
}

#define VALID(lit) is_valid(lit, sizeof(lit) - 1)

/* Where feeding the literal byte by byte rejects it. */
#define REJECT_AT(lit)                                                         \
	reject_pos_bytewise((const uint8_t *)(lit), sizeof(lit) - 1, &end)

/* --------------------------------------------------------------- tests */

static void test_valid_characters_of_each_length(void)
{
	CHECK(VALID(""));
	CHECK(VALID("hello"));
	CHECK(VALID("\xC2\xA2"));         /* U+00A2 */
	CHECK(VALID("\xE2\x82\xAC"));     /* U+20AC */
	CHECK(VALID("\xF0\xA4\xAD\xA2")); /* U+24B62 */
	CHECK(VALID("hello\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5world"));
}

static void test_boundary_code_points(void)
{
	static const uint32_t cps[] = {0x0,    0x7F,   0x80,    0x7FF,
				       0x800,  0xD7FF, 0xE000,  0xFFFD,
				       0xFFFE, 0xFFFF, 0x10000, 0x10FFFF};
	uint8_t b[4];
	size_t i, n, k;

	for (i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		n = encode(cps[i], b);
		CHECK_EQ(lws_utf8_validate(0, b, n), 0);
		/* every proper prefix is pending: neither 0 nor rejected */
		for (k = 1; k < n; k++) {
			uint32_t st = lws_utf8_validate(0, b, k);
			CHECK(st != 0 && st != LWS_UTF8_REJECT);
		}
	}
}

static void test_every_code_point(void)
{
	uint8_t b[4];
	uint32_t cp;
	size_t n;
	int bad_valid = 0, bad_surrogate = 0;

	for (cp = 0; cp <= 0x10FFFF; cp++) {
		uint32_t end;

		n = encode(cp, b);
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			/* ED A0..BF: rejected at the second byte */
			bad_surrogate += reject_pos_bytewise(b, n, &end) != 1;
		} else {
			bad_valid += lws_utf8_validate(0, b, n) != 0;
		}
	}
	CHECK_EQ(bad_valid, 0);
	CHECK_EQ(bad_surrogate, 0);
}

static void test_fail_fast_positions(void)
{
	uint32_t end;

	CHECK_EQ(REJECT_AT("\xC0"), 0); /* always overlong */
	CHECK_EQ(REJECT_AT("\xC1\xBF"), 0);
	CHECK_EQ(REJECT_AT("\xF5\x80\x80\x80"), 0); /* > U+10FFFF */
	CHECK_EQ(REJECT_AT("\xF8\x88\x80\x80\x80"), 0);
	CHECK_EQ(REJECT_AT("\xFE"), 0);
	CHECK_EQ(REJECT_AT("\xFF"), 0);
	CHECK_EQ(REJECT_AT("\x80"), 0); /* continuation with no lead */
	CHECK_EQ(REJECT_AT("ab\xBF"), 2);
	CHECK_EQ(REJECT_AT("\xE0\x80\xAF"), 1); /* overlong 3-byte */
	CHECK_EQ(REJECT_AT("\xE0\x9F\xBF"), 1);
	CHECK_EQ(REJECT_AT("\xE0\xA0\x80"), NO_REJECT);
	CHECK_EQ(REJECT_AT("\xED\xA0\x80"), 1); /* surrogate */
	CHECK_EQ(REJECT_AT("\xED\xBF\xBF"), 1);
	CHECK_EQ(REJECT_AT("\xED\x9F\xBF"), NO_REJECT);
	CHECK_EQ(REJECT_AT("\xF0\x80\x80\xAF"), 1); /* overlong 4-byte */
	CHECK_EQ(REJECT_AT("\xF0\x8F\xBF\xBF"), 1);
	CHECK_EQ(REJECT_AT("\xF0\x90\x80\x80"), NO_REJECT);
	CHECK_EQ(REJECT_AT("\xF4\x90\x80\x80"), 1); /* > U+10FFFF */
	CHECK_EQ(REJECT_AT("\xF4\xBF\xBF\xBF"), 1);
	CHECK_EQ(REJECT_AT("\xF4\x8F\xBF\xBF"), NO_REJECT);
	/* a non-continuation where a continuation is due */
	CHECK_EQ(REJECT_AT("\xC2\x41"), 1);
	CHECK_EQ(REJECT_AT("\xC2\xC2\xA2"), 1);
	CHECK_EQ(REJECT_AT("\xE2\x82\x41"), 2);
	CHECK_EQ(REJECT_AT("x\xF1\x80\x80\x41"), 4);
	CHECK_EQ(REJECT_AT("\xF1\x80\x80\xC0"), 3);
}

static void test_incomplete_sequences_pend(void)
{
	uint32_t end;

	CHECK_EQ(REJECT_AT("\xE2\x82"), NO_REJECT);
	CHECK(end != 0);
	CHECK_EQ(REJECT_AT("a\xF0\x9F\x98"), NO_REJECT);
	CHECK(end != 0);
	CHECK_EQ(REJECT_AT("\xDF"), NO_REJECT);
	CHECK(end != 0);
}

static void test_state_carries_across_calls(void)
{
	static const uint8_t s[] =
		"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80"
		"0123456789abcdef\xF4\x8F\xBF\xBF";
	size_t n = sizeof(s) - 1, a, b;

	for (a = 0; a <= n; a++) {
		for (b = a; b <= n; b++) {
			uint32_t st = lws_utf8_validate(0, s, a);

			st = lws_utf8_validate(st, s + a, b - a);
			st = lws_utf8_validate(st, s + b, n - b);
			CHECK_EQ(st, 0);
		}
	}
}

static void test_reject_is_sticky(void)
{
	CHECK_EQ(lws_utf8_validate(LWS_UTF8_REJECT, (const uint8_t *)"a", 1),
		 LWS_UTF8_REJECT);
	CHECK_EQ(lws_utf8_validate(LWS_UTF8_REJECT, NULL, 0), LWS_UTF8_REJECT);
	CHECK_EQ(lws_utf8_validate(0, NULL, 0), 0);
}

/* The ASCII fast path must find a bad byte at any position and alignment. */
static void test_ascii_fast_path_boundaries(void)
{
	uint8_t buf[80];
	size_t start, bad, n = 64;
	uint32_t end;

	for (start = 0; start < 8; start++) {
		for (bad = 0; bad < n; bad++) {
			uint8_t *s = buf + start;

			memset(s, 'a', n);
			s[bad] = 0x80;
			CHECK_EQ(reject_pos_bytewise(s, n, &end), bad);
			CHECK_EQ(lws_utf8_validate(0, s, n), LWS_UTF8_REJECT);
			/* and a valid 2-byte char there is accepted */
			s[bad] = 0xC3;
			if (bad + 1 < n) {
				s[bad + 1] = 0xA9;
				CHECK_EQ(lws_utf8_validate(0, s, n), 0);
			} else {
				CHECK(lws_utf8_validate(0, s, n) != 0);
			}
		}
	}
}

/* All 1- and 2-byte inputs, and 3- and 4-byte ones over interesting bytes. */
static void test_exhaustive_against_reference(void)
{
	static const uint8_t pick[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
				       0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF,
				       0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
				       0xFF};
	const size_t np = sizeof(pick);
	uint8_t s[4];
	unsigned a, b;
	size_t c, d;

	for (a = 0; a < 256; a++) {
		s[0] = (uint8_t)a;
		check_against_ref(s, 1);
		for (b = 0; b < 256; b++) {
			s[1] = (uint8_t)b;
			check_against_ref(s, 2);
			for (c = 0; c < np; c++) {
				s[2] = pick[c];
				check_against_ref(s, 3);
				if (a < 0xC0)
					continue;
				for (d = 0; d < np; d++) {
					s[3] = pick[d];
					check_against_ref(s, 4);
				}
			}
		}
	}
}

/* http://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt, as Autobahn 6.x sends them */
struct seq {
	int valid;
	const char *s;
	size_t n;
};

#define SEQ(valid, lit) {valid, lit, sizeof(lit) - 1}

static const struct seq autobahn_sequences[] = {
	SEQ(1, "hello\x24world"),
	SEQ(1, "hello\xC2\xA2world"),
	SEQ(1, "hello\xE2\x82\xACworld"),
	SEQ(1, "hello\xF0\xA4\xAD\xA2world"),
	SEQ(1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
	SEQ(1, "\x00"),
	SEQ(1, "\xc2\x80"),
	SEQ(1, "\xe0\xa0\x80"),
	SEQ(1, "\xf0\x90\x80\x80"),
	SEQ(0, "\xf8\x88\x80\x80\x80"),
	SEQ(0, "\xfc\x84\x80\x80\x80\x80"),
	SEQ(1, "\x7f"),
	SEQ(1, "\xdf\xbf"),
	SEQ(1, "\xef\xbf\xbf"),
	SEQ(1, "\xf4\x8f\xbf\xbf"),
	SEQ(0, "\xf7\xbf\xbf\xbf"),
	SEQ(0, "\xfb\xbf\xbf\xbf\xbf"),
	SEQ(0, "\xfd\xbf\xbf\xbf\xbf\xbf"),
	SEQ(1, "\xed\x9f\xbf"),
	SEQ(1, "\xee\x80\x80"),
	SEQ(1, "\xef\xbf\xbd"),
	SEQ(0, "\xf4\x90\x80\x80"),
	SEQ(0, "\x80"),
	SEQ(0, "\xbf"),
	SEQ(0, "\x80\xbf"),
	SEQ(0, "\x80\xbf\x80"),
	SEQ(0, "\x80\xbf\x80\xbf"),
	SEQ(0, "\xc0\x20\xc1\x20\xc2\x20"),
	SEQ(0, "\xe0\x20\xe1\x20"),
	SEQ(0, "\xf0\x20\xf1\x20"),
	SEQ(0, "\xf8\x20\xf9\x20"),
	SEQ(0, "\xfc\x20\xfd\x20"),
	SEQ(0, "\xc0"),
	SEQ(0, "\xe0\x80"),
	SEQ(0, "\xf0\x80\x80"),
	SEQ(0, "\xf8\x80\x80\x80"),
	SEQ(0, "\xfc\x80\x80\x80\x80"),
	SEQ(0, "\xdf"),
	SEQ(0, "\xef\xbf"),
	SEQ(0, "\xf7\xbf\xbf"),
	SEQ(0, "\xfb\xbf\xbf\xbf"),
	SEQ(0, "\xfd\xbf\xbf\xbf\xbf"),
	SEQ(0, "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
	       "\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"),
	SEQ(0, "\xfe"),
	SEQ(0, "\xff"),
	SEQ(0, "\xfe\xfe\xff\xff"),
	SEQ(0, "\xc0\xaf"),
	SEQ(0, "\xe0\x80\xaf"),
	SEQ(0, "\xf0\x80\x80\xaf"),
	SEQ(0, "\xf8\x80\x80\x80\xaf"),
	SEQ(0, "\xfc\x80\x80\x80\x80\xaf"),
	SEQ(0, "\xc1\xbf"),
	SEQ(0, "\xe0\x9f\xbf"),
	SEQ(0, "\xf0\x8f\xbf\xbf"),
	SEQ(0, "\xf8\x87\xbf\xbf\xbf"),
	SEQ(0, "\xfc\x83\xbf\xbf\xbf\xbf"),
	SEQ(0, "\xc0\x80"),
	SEQ(0, "\xe0\x80\x80"),
	SEQ(0, "\xf0\x80\x80\x80"),
	SEQ(0, "\xed\xa0\x80"),
	SEQ(0, "\xed\xad\xbf"),
	SEQ(0, "\xed\xae\x80"),
	SEQ(0, "\xed\xaf\xbf"),
	SEQ(0, "\xed\xb0\x80"),
	SEQ(0, "\xed\xbe\x80"),
	SEQ(0, "\xed\xbf\xbf"),
	SEQ(0, "\xed\xa0\x80\xed\xb0\x80"),
	SEQ(0, "\xed\xa0\x80\xed\xbf\xbf"),
	SEQ(0, "\xed\xad\xbf\xed\xb0\x80"),
	SEQ(0, "\xed\xaf\xbf\xed\xbf\xbf"),
	SEQ(1, "\xef\xbf\xbe"),
	SEQ(1, "\xef\xbf\xbf"),
	SEQ(1, "\xf1\x8f\xbf\xbe"),
	SEQ(1, "\xf3\xbf\xbf\xbf"),
	SEQ(1, "\xf4\x8f\xbf\xbe"),
	SEQ(1, "\xef\xbf\xb9"),
	SEQ(1, "\xef\xbf\xbd"),
	/* Autobahn 6.3.1 / 6.4.x payloads */
	SEQ(0, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
	       "\x65\x64\x69\x74\x65\x64"),
	SEQ(0, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"
	       "\x65\x64\x69\x74\x65\x64"),
};

static void test_autobahn_sequences(void)
{
	size_t i;

	for (i = 0; i < sizeof(autobahn_sequences) / sizeof(autobahn_sequences[0]); i++) {
		const struct seq *q = &autobahn_sequences[i];
		int ok = is_valid(q->s, q->n);

		if (ok != q->valid)
			fprintf(stderr, "sequence %zu: want %s\n", i,
				q->valid ? "valid" : "invalid");
		CHECK_EQ(ok, q->valid);
		check_against_ref((const uint8_t *)q->s, q->n);
	}
}

/* Every prefix of a valid text is a valid prefix (Autobahn 6.2.x). */
static void test_prefixes_of_valid_text(void)
{
	static const uint8_t s[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
	size_t k;

	for (k = 0; k <= sizeof(s) - 1; k++) {
		uint32_t st = lws_utf8_validate(0, s, k);

		CHECK(st != LWS_UTF8_REJECT);
		CHECK_EQ(st == 0, ref_complete(s, k));
	}
}

int main(void)
{
	RUN(test_valid_characters_of_each_length);
	RUN(test_boundary_code_points);
	RUN(test_every_code_point);
	RUN(test_fail_fast_positions);
	RUN(test_incomplete_sequences_pend);
	RUN(test_state_carries_across_calls);
	RUN(test_reject_is_sticky);
	RUN(test_ascii_fast_path_boundaries);
	RUN(test_exhaustive_against_reference);
	RUN(test_autobahn_sequences);
	RUN(test_prefixes_of_valid_text);
	return CHECK_SUMMARY();
}
