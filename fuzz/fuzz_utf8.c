/*
 * fuzz_utf8.c - the incremental UTF-8 validator (native/src/utf8.c),
 * differential against a plain reference decoder written here from RFC 3629
 * (decode each sequence to its code point, then refuse overlong forms,
 * surrogates and values above U+10FFFF), and checked for any split of the
 * input: validating in pieces (sizes from the input) ends in the same
 * verdict, and rejects at the same byte.
 *
 * Input: [rng_len][rng bytes][text...]
 */
#include "common.h"
#include "frame.h"

/*
 * The reference: the number of bytes of s that form a valid prefix before
 * the first byte that makes it invalid; *complete is 1 when s ends between
 * characters.  Returns len when all of s is valid (maybe incomplete).
 */
static size_t ref_valid_prefix(const uint8_t *s, size_t len, int *complete)
{
	size_t i = 0;
	*complete = 1;
	while (i < len) {
		uint8_t c = s[i];
		size_t need;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			need = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			need = 2, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return i; /* a continuation byte or F8..FF as a lead */
		}
		/* the first byte of the sequence at which it is known to be bad:
		 * the lead itself when no continuation can make it valid */
		uint32_t lead_lo = cp << (6 * need), lead_hi = lead_lo | ((1u << (6 * need)) - 1);
		if (lead_hi < min || lead_lo > 0x10FFFF)
			return i;
		size_t k;
		for (k = 1; k <= need; k++) {
			if (i + k == len) {
				/* incomplete: bad already if no continuation can
				 * make it valid; decided on the bits so far */
				uint32_t lo = cp << (6 * (need - k + 1));
				uint32_t hi = lo | ((1u << (6 * (need - k + 1))) - 1);
				int can = hi >= min && lo <= 0x10FFFF &&
					  !(lo >= 0xD800 && hi <= 0xDFFF);
				if (!can)
					return i + k - 1;
				*complete = 0;
				return len;
			}
			uint8_t cc = s[i + k];
			if ((cc & 0xC0) != 0x80)
				return i + k;
			cp = cp << 6 | (cc & 0x3F);
			/* after each byte: can the remaining ones still make it valid? */
			size_t rest = need - k;
			uint32_t lo = cp << (6 * rest);
			uint32_t hi = lo | ((1u << (6 * rest)) - 1);
			if (hi < min || lo > 0x10FFFF || (lo >= 0xD800 && hi <= 0xDFFF))
				return i + k;
		}
		i += need + 1;
	}
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t rng_len = data[0] % 16;
	data++;
	size--;
	if (rng_len > size)
		rng_len = size;
	struct fuzz_rng rng;
	fuzz_rng_init(&rng, data, rng_len);
	data += rng_len;
	size -= rng_len;

	uint8_t *s = fuzz_dup(data, size);
	int complete;
	size_t good = ref_valid_prefix(s, size, &complete);
	uint32_t whole = lws_utf8_validate(0, s, size);

	if (good < size) {
		FUZZ_ASSERT(whole == LWS_UTF8_REJECT, "reference rejects at byte %zu, lws accepts",
			    good);
		/* lws must reject exactly at that byte: accept the prefix before it */
		FUZZ_ASSERT(lws_utf8_validate(0, s, good) != LWS_UTF8_REJECT,
			    "lws rejects before byte %zu", good);
	} else {
		FUZZ_ASSERT(whole != LWS_UTF8_REJECT, "lws rejects valid UTF-8");
		FUZZ_ASSERT((whole == 0) == complete, "lws state %#x, reference complete=%d", whole,
			    complete);
	}

	/* in pieces: the same verdict */
	uint32_t st = 0;
	size_t pos = 0;
	while (pos < size && st != LWS_UTF8_REJECT) {
		size_t n = fuzz_rng_chunk(&rng, size - pos);
		st = lws_utf8_validate(st, s + pos, n);
		pos += n;
	}
	FUZZ_ASSERT(st == whole || (st == LWS_UTF8_REJECT) == (whole == LWS_UTF8_REJECT),
		    "pieces end in %#x, whole in %#x", st, whole);
	FUZZ_ASSERT(whole == LWS_UTF8_REJECT || st == whole, "pieces end in %#x, whole in %#x",
		    st, whole);
	free(s);
	return 0;
}
