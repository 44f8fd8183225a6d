/*
 * bench_http.c - throughput of lws_http_parse_request on typical WebSocket
 * upgrade requests (a browser's and the Python websockets library's).  Not a test; build with -O2:
 *   gcc -std=c11 -O2 -Inative/include -Inative/src native/src/http.c \
 *       native/tests/bench_http.c -o /tmp/bench_http && /tmp/bench_http
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include "http.h"

#include <stdio.h>
#include <time.h>

static const char browser_request[] =
	"GET /chat HTTP/1.1\r\n"
	"Host: example.com:8000\r\n"
	"Connection: Upgrade\r\n"
	"Pragma: no-cache\r\n"
	"Cache-Control: no-cache\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/120.0.0.0 Safari/537.36\r\n"
	"Upgrade: websocket\r\n"
	"Origin: http://example.com:8000\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Accept-Language: en-US,en;q=0.9\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	"\r\n";

static const char websockets_lib_request[] =
	"GET /echo HTTP/1.1\r\n"
	"Host: localhost:8765\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	"User-Agent: Python/3.11 websockets/12.0\r\n"
	"\r\n";

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(const char *name, const char *request, size_t len)
{
	const long iterations = 5000000;
	struct lws_http_head head;
	volatile size_t sink = 0; /* keeps the parse from being optimised away */
	double start, elapsed;
	long i;

	if (lws_http_parse_request(request, len, &head) != (int)len) {
		fprintf(stderr, "%s: request does not parse\n", name);
		return 1;
	}
	start = now_seconds();
	for (i = 0; i < iterations; i++) {
		/* a volatile length stops the compiler hoisting the parse out */
		volatile size_t n = len;

		sink += (size_t)lws_http_parse_request(request, n, &head) + head.num_headers;
	}
	elapsed = now_seconds() - start;
	printf("%-14s %3zu bytes %2zu headers: %.0f parses/s, %.1f ns/parse, %.0f MB/s\n",
	       name, len, head.num_headers, iterations / elapsed, elapsed / iterations * 1e9,
	       iterations * (double)len / elapsed / 1e6);
	return sink == 0;
}

int main(void)
{
	int failed = bench("browser", browser_request, sizeof(browser_request) - 1);

	failed |= bench("websockets lib", websockets_lib_request,
			sizeof(websockets_lib_request) - 1);
	return failed;
}
