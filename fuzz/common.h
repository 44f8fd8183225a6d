/*
 * common.h - small helpers shared by the libFuzzer harnesses (fuzz/fuzz_*.c).
 * Harness code only: nothing here is part of the library.
 */
#ifndef PYLWS_FUZZ_COMMON_H
#define PYLWS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A finding: print why and abort, so libFuzzer saves the input as a crash. */
#define FUZZ_ASSERT(cond, ...)                                                        \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "FUZZ ASSERTION FAILED %s:%d: %s: ", __FILE__, \
				__LINE__, #cond);                                     \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

/*
 * A deterministic byte source for decisions (chunk sizes, when a callback
 * stops) taken from part of the fuzz input, so the same input always makes
 * the same choices.  Past its end it repeats its bytes.  An empty one always
 * answers all ones: the largest chunk, no stop, the first choice of a "% n"
 * (so a seed without decision bytes is fed whole).
 */
struct fuzz_rng {
	const uint8_t *p;
	size_t len, pos;
	uint32_t x;
};

static inline void fuzz_rng_init(struct fuzz_rng *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->x = 0x9e3779b9u;
}

static inline uint32_t fuzz_rng_next(struct fuzz_rng *r)
{
	if (!r->len)
		return 0xffffffffu;
	uint8_t b = r->p[r->pos++ % r->len];
	/* mix in a counter so a short seed still varies */
	r->x = r->x * 1664525u + 1013904223u + b;
	return b | ((r->x >> 16) & 0xff00u);
}

/* A chunk size in 1..max, small ones more likely (byte-at-a-time included). */
static inline size_t fuzz_rng_chunk(struct fuzz_rng *r, size_t max)
{
	uint32_t v = fuzz_rng_next(r);
	size_t n;
	switch (v & 3) {
	case 0: n = 1; break;
	case 1: n = 1 + ((v >> 2) & 7); break;
	case 2: n = 1 + ((v >> 2) & 255); break;
	default: n = 1 + (v >> 2); break;
	}
	if (n > max)
		n = max;
	return n ? n : 1;
}

/* An exact-size heap copy, so ASan sees any read past its end. */
/* The input's head, shared by the harnesses that need one: a mode byte, then a
 * count (0..31) of bytes that seed the random chunking; the rest is the
 * peer's data.  0 when the input is too short or longer than max. */
static inline int fuzz_split(const uint8_t **data, size_t *size, size_t max, unsigned *mode,
			     struct fuzz_rng *rng)
{
	if (*size < 2 || *size > max)
		return 0;
	*mode = (*data)[0];
	size_t rng_len = (*data)[1] % 32;
	*data += 2;
	*size -= 2;
	if (rng_len > *size)
		rng_len = *size;
	fuzz_rng_init(rng, *data, rng_len);
	*data += rng_len;
	*size -= rng_len;
	return 1;
}

static inline uint8_t *fuzz_dup(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	if (!c)
		abort();
	if (len)
		memcpy(c, p, len);
	return c;
}

/* The same with a terminating NUL: a C string of exactly len + 1 bytes. */
static inline char *fuzz_strdup(const uint8_t *p, size_t len)
{
	char *c = malloc(len + 1);
	if (!c)
		abort();
	if (len)
		memcpy(c, p, len);
	c[len] = '\0';
	return c;
}

#endif /* PYLWS_FUZZ_COMMON_H */
