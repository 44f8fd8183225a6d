/*
 * example-args.h - the number options of the C examples, read one way.
 *
 * Every number on their command lines is an integer in a stated range: the
 * whole argument must be one (no trailing text, no overflow), else the
 * example says "bad <what>: <text>" and exits.  The Python examples take
 * them the same way (examples/example_args.py, int_arg).
 */
#ifndef PYLWS_EXAMPLE_ARGS_H
#define PYLWS_EXAMPLE_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * *out = s read in base (0: decimal, 0x.. hex, 0.. octal, as strtoll) when it
 * is all digits and lies in min..max; else a message on stderr and -1.
 */
static inline int example_parse_int_base(const char *s, int base, const char *what,
					 long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, base);
	if (!*s || *end || errno || v < min || v > max) {
		fprintf(stderr, "bad %s: %s\n", what, s);
		return -1;
	}
	*out = v;
	return 0;
}

static inline int example_parse_int(const char *s, const char *what, long long min,
				    long long max, long long *out)
{
	return example_parse_int_base(s, 0, what, min, max, out);
}

#endif /* PYLWS_EXAMPLE_ARGS_H */
