/*
 * bench_frame.c - throughput of the frame engine (not a test).
 *
 * Parses a buffer of masked client frames again and again for about a
 * second per case and prints frames/s and MB/s of payload.  Unmasking in
 * place flips the payload each pass, which is harmless for binary frames; the
 * text case uses an all-zero mask so its payload stays valid UTF-8 (the XOR
 * work is the same).  Then lws_utf8_validate alone, on ASCII and on mixed text.
 *
 * Build: cc -std=c11 -O2 -Inative/include -Inative/src native/src/frame.c
 *        native/src/utf8.c native/tests/bench_frame.c -o bench_frame
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"

#define TARGET_SECONDS 1.0
#define BUFFER_BYTES (4u << 20)

struct sink {
	uint64_t frames, bytes;
};

static double now(void)
{
	struct timespec ts;

	timespec_get(&ts, TIME_UTC);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int count_data(void *ud, struct lws_frame_parser *p, uint8_t *data,
		      size_t len, int final)
{
	struct sink *s = ud;

	(void)p;
	(void)data;
	s->bytes += len;
	s->frames += final != 0;
	return 0;
}

static const struct lws_frame_events events = {count_data, NULL};

/* A buffer of as many masked frames of this size as fit BUFFER_BYTES. */
static uint8_t *build_frames(int op, size_t payload, const uint8_t mask[4],
			     size_t *out_len)
{
	size_t one = lws_frame_header_len(payload, 1) + payload;
	size_t count = BUFFER_BYTES / one ? BUFFER_BYTES / one : 1, i, at = 0;
	uint8_t *buf = malloc(count * one);

	for (i = 0; i < count; i++) {
		at += lws_frame_header(buf + at, op, 1, 0, payload, mask);
		memset(buf + at, 'a' + (int)(i % 26), payload);
		lws_mask(buf + at, payload, mask, 0);
		at += payload;
	}
	*out_len = at;
	return buf;
}

/* Parse buf in reads of 'chunk' bytes (0 = all at once) until time is up. */
static void bench_parse(const char *name, int op, size_t payload,
			const uint8_t mask[4], size_t chunk)
{
	struct lws_frame_parser p;
	struct sink s = {0, 0};
	size_t len, at;
	uint8_t *buf = build_frames(op, payload, mask, &len);
	double t0 = now(), t = 0;

	memset(&p, 0, sizeof(p));
	p.expect_masked = 1;
	do {
		for (at = 0; at < len;) {
			size_t n = chunk && len - at > chunk ? chunk : len - at;

			at += lws_frame_parse(&p, buf + at, n, &events, &s);
		}
		if (p.error) {
			printf("%s: parse error %u (%s)\n", name,
			       (unsigned)p.error, p.error_reason);
			break;
		}
		t = now() - t0;
	} while (t < TARGET_SECONDS);
	printf("%-34s %10.2f M frames/s %10.1f MB/s\n", name,
	       (double)s.frames / t / 1e6, (double)s.bytes / t / 1e6);
	free(buf);
}

static void bench_utf8(const char *name, const char *unit, size_t unit_len)
{
	size_t len = BUFFER_BYTES / unit_len * unit_len, at;
	uint8_t *buf = malloc(len);
	uint64_t bytes = 0;
	uint32_t st = 0;
	double t0 = now(), t = 0;

	for (at = 0; at < len; at += unit_len)
		memcpy(buf + at, unit, unit_len);
	do {
		st |= lws_utf8_validate(0, buf, len);
		bytes += len;
		t = now() - t0;
	} while (t < TARGET_SECONDS);
	printf("%-34s %10.1f MB/s%s\n", name, (double)bytes / t / 1e6,
	       st ? "  (INVALID?)" : "");
	free(buf);
}

int main(void)
{
	static const uint8_t mask[4] = {0x37, 0xFA, 0x21, 0x3D};
	static const uint8_t zero_mask[4] = {0, 0, 0, 0};
	static const char mixed[] = "ascii words, caf\xC3\xA9, \xE2\x82\xAC"
				    "uro, \xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC"
				    "\xCE\xB5, \xF0\x9F\x98\x80 ";
	static const char cjk[] = "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE4"
				  "\xB8\xAD\xE6\x96\x87";
	static const char ascii[] = "The quick brown fox jumps over the lazy dog. ";

	bench_parse("64 B masked binary", LWS_OP_BINARY, 64, mask, 0);
	bench_parse("64 B masked binary, 64 KiB reads", LWS_OP_BINARY, 64,
		    mask, 65536);
	bench_parse("64 B masked text (ASCII)", LWS_OP_TEXT, 64, zero_mask, 0);
	bench_parse("64 KiB masked binary", LWS_OP_BINARY, 65536, mask, 0);
	bench_parse("64 KiB masked binary, 64 KiB reads", LWS_OP_BINARY,
		    65536, mask, 65536);
	bench_parse("64 KiB masked text (ASCII)", LWS_OP_TEXT, 65536,
		    zero_mask, 0);
	bench_utf8("utf8 validate: ASCII", ascii, sizeof(ascii) - 1);
	bench_utf8("utf8 validate: mixed 1-4 byte", mixed, sizeof(mixed) - 1);
	bench_utf8("utf8 validate: CJK (3 byte)", cjk, sizeof(cjk) - 1);
	return 0;
}
