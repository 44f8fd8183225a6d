/*
 * check.h - the tiny test harness of the C unit tests.  Each test file has a
 * main() that runs its tests with RUN(); CHECK failures print where and why.
 * The last line is "N passed, N failed" and the exit code is 1 on any failure.
 */
#ifndef PYLWS_CHECK_H
#define PYLWS_CHECK_H

#include <stdio.h>

static int check_failures_in_test;
static int tests_passed, tests_failed;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			check_failures_in_test++;                              \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);  \
		if (check_a_ != check_b_) {                                    \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s "   \
				"(%lld != %lld)\n", __FILE__, __LINE__, #a, #b, \
				check_a_, check_b_);                           \
			check_failures_in_test++;                              \
		}                                                              \
	} while (0)

#define RUN(test_fn)                                                           \
	do {                                                                   \
		check_failures_in_test = 0;                                    \
		test_fn();                                                     \
		if (check_failures_in_test) {                                  \
			tests_failed++;                                        \
			fprintf(stderr, "FAIL %s\n", #test_fn);                \
		} else {                                                       \
			tests_passed++;                                        \
			printf("ok   %s\n", #test_fn);                         \
		}                                                              \
	} while (0)

#define CHECK_SUMMARY()                                                        \
	(printf("%d passed, %d failed\n", tests_passed, tests_failed),         \
	 tests_failed ? 1 : 0)

#endif
