/*
 * utf8.c - incremental UTF-8 validation (RFC 3629, Unicode 3.9 table 3-7).
 *
 * Well-formed sequences, by lead byte:
 *   00..7F                          one byte
 *   C2..DF  80..BF                  U+0080..U+07FF
 *   E0      A0..BF  80..BF          U+0800..U+0FFF   (80..9F would be overlong)
 *   E1..EC  80..BF  80..BF
 *   ED      80..9F  80..BF          U+D000..U+D7FF   (A0..BF would be surrogates)
 *   EE..EF  80..BF  80..BF
 *   F0      90..BF  80..BF  80..BF  U+10000..        (80..8F would be overlong)
 *   F1..F3  80..BF  80..BF  80..BF
 *   F4      80..8F  80..BF  80..BF  ..U+10FFFF       (90..BF would be too big)
 * Everything else (80..C1, F5..FF as a lead; a wrong byte where a
 * continuation is due) is rejected at that byte.  Only the second byte of a
 * sequence has a restricted range, so the state is simply: how many
 * continuation bytes are still due, and the range the next one must fall in.
 *
 * State layout: bits 0-7 bytes still due, 8-15 lowest and 16-23 highest
 * allowed next byte.  0 means "between characters"; a pending state is never
 * 0 (due >= 1) and never LWS_UTF8_REJECT (bits 24-31 are 0).
 */
#include <string.h>

#include "frame.h"

#define ASCII_HIGH_BITS 0x8080808080808080ull

static uint32_t pending(unsigned due, unsigned lo, unsigned hi)
{
	return (uint32_t)(due | lo << 8 | hi << 16);
}

/* State after a lead byte, from state 0. */
static uint32_t utf8_lead(uint8_t c)
{
	if (c < 0x80)
		return 0;
	if (c < 0xC2) /* stray continuation byte, or C0/C1 (always overlong) */
		return LWS_UTF8_REJECT;
	if (c < 0xE0)
		return pending(1, 0x80, 0xBF);
	if (c == 0xE0)
		return pending(2, 0xA0, 0xBF);
	if (c == 0xED)
		return pending(2, 0x80, 0x9F);
	if (c < 0xF0)
		return pending(2, 0x80, 0xBF);
	if (c == 0xF0)
		return pending(3, 0x90, 0xBF);
	if (c < 0xF4)
		return pending(3, 0x80, 0xBF);
	if (c == 0xF4)
		return pending(3, 0x80, 0x8F);
	return LWS_UTF8_REJECT; /* F5..FF: beyond U+10FFFF or not UTF-8 at all */
}

static uint32_t utf8_step(uint32_t state, uint8_t c)
{
	unsigned due = state & 0xFF, lo = (state >> 8) & 0xFF,
		 hi = (state >> 16) & 0xFF;

	if (!state)
		return utf8_lead(c);
	if (c < lo || c > hi)
		return LWS_UTF8_REJECT;
	return due == 1 ? 0 : pending(due - 1, 0x80, 0xBF);
}

/* Length of the run of ASCII bytes at the start of s, 8 bytes at a time. */
static size_t ascii_run(const uint8_t *s, size_t len)
{
	size_t i = 0;
	uint64_t w;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		if (w & ASCII_HIGH_BITS)
			break;
	}
	while (i < len && s[i] < 0x80)
		i++;
	return i;
}

uint32_t lws_utf8_validate(uint32_t state, const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len && state != LWS_UTF8_REJECT) {
		if (!state) {
			i += ascii_run(s + i, len - i);
			if (i == len)
				break;
		}
		state = utf8_step(state, s[i++]);
	}
	return state;
}
