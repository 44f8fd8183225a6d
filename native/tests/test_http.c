/*
 * test_http.c - unit tests of the HTTP head parser (http.h).
 *
 * Every parse runs on an exactly sized heap copy of its input, so under
 * AddressSanitizer a read past len fails the test run.
 */
#include "http.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

#define LIT(s) s, sizeof(s) - 1

static const char browser_request[] =
	"GET /chat?room=1 HTTP/1.1\r\n"
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
	"Sec-WebSocket-Protocol: chat, superchat\r\n"
	"User-Agent: Python/3.11 websockets/12.0\r\n"
	"\r\n";

static const char upgrade_response[] =
	"HTTP/1.1 101 Switching Protocols\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	"\r\n";

typedef int (*parser_fn)(const char *buf, size_t len, struct lws_http_head *head);

/* An exactly sized copy, so ASan flags any read past len. */
static char *exact_copy(const char *s, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (len)
		memcpy(copy, s, len);
	return copy;
}

/* Parses an exact copy; the copy outlives the call so results can be checked. */
struct parsed {
	char *buf;
	int rc;
	struct lws_http_head head;
};

static struct parsed parse_with(parser_fn parse, const char *s, size_t len)
{
	struct parsed r;

	r.buf = exact_copy(s, len);
	r.rc = parse(r.buf, len, &r.head);
	return r;
}

static int rc_of(parser_fn parse, const char *s, size_t len)
{
	struct parsed r = parse_with(parse, s, len);

	free(r.buf);
	return r.rc;
}

static int request_rc(const char *s, size_t len)
{
	return rc_of(lws_http_parse_request, s, len);
}

static int response_rc(const char *s, size_t len)
{
	return rc_of(lws_http_parse_response, s, len);
}

static int span_is(const char *p, size_t len, const char *expected)
{
	return p && len == strlen(expected) && memcmp(p, expected, len) == 0;
}

static int header_is(const struct lws_http_head *head, size_t i, const char *name,
		     const char *value)
{
	return i < head->num_headers &&
	       span_is(head->headers[i].name, head->headers[i].name_len, name) &&
	       span_is(head->headers[i].value, head->headers[i].value_len, value);
}

/* Each proper prefix must be INCOMPLETE; the whole must parse to its length. */
static int every_prefix_incomplete(parser_fn parse, const char *s, size_t len)
{
	size_t n;

	for (n = 0; n < len; n++)
		if (rc_of(parse, s, n) != LWS_HTTP_INCOMPLETE)
			return 0;
	return rc_of(parse, s, len) == (int)len;
}

/* The length of the shortest prefix found MALFORMED, or 0 if none is. */
static size_t first_malformed_prefix(parser_fn parse, const char *s, size_t len)
{
	size_t n;

	for (n = 0; n <= len; n++)
		if (rc_of(parse, s, n) == LWS_HTTP_MALFORMED)
			return n;
	return 0;
}

static void test_browser_request(void)
{
	struct parsed r = parse_with(lws_http_parse_request, LIT(browser_request));

	CHECK_EQ(r.rc, sizeof(browser_request) - 1);
	CHECK(span_is(r.head.method, r.head.method_len, "GET"));
	CHECK(span_is(r.head.path, r.head.path_len, "/chat?room=1"));
	CHECK_EQ(r.head.minor_version, 1);
	CHECK_EQ(r.head.status, 0);
	CHECK(r.head.reason == NULL);
	CHECK_EQ(r.head.reason_len, 0);
	CHECK_EQ(r.head.num_headers, 12);
	CHECK(header_is(&r.head, 0, "Host", "example.com:8000"));
	CHECK(header_is(&r.head, 1, "Connection", "Upgrade"));
	CHECK(header_is(&r.head, 4, "User-Agent",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
			"Chrome/120.0.0.0 Safari/537.36"));
	CHECK(header_is(&r.head, 6, "Origin", "http://example.com:8000"));
	CHECK(header_is(&r.head, 10, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(header_is(&r.head, 11, "Sec-WebSocket-Extensions",
			"permessage-deflate; client_max_window_bits"));
	/* zero-copy: results point into the buffer */
	CHECK(r.head.method == r.buf);
	CHECK(r.head.headers[0].name == r.buf + strlen("GET /chat?room=1 HTTP/1.1\r\n"));
	free(r.buf);
}

static void test_websockets_library_request(void)
{
	struct parsed r = parse_with(lws_http_parse_request, LIT(websockets_lib_request));

	CHECK_EQ(r.rc, sizeof(websockets_lib_request) - 1);
	CHECK(span_is(r.head.path, r.head.path_len, "/echo"));
	CHECK_EQ(r.head.num_headers, 8);
	CHECK(header_is(&r.head, 0, "Host", "localhost:8765"));
	CHECK(header_is(&r.head, 3, "Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw=="));
	CHECK(header_is(&r.head, 6, "Sec-WebSocket-Protocol", "chat, superchat"));
	CHECK(header_is(&r.head, 7, "User-Agent", "Python/3.11 websockets/12.0"));
	free(r.buf);
}

static void test_every_prefix_is_incomplete(void)
{
	CHECK(every_prefix_incomplete(lws_http_parse_request, LIT(browser_request)));
	CHECK(every_prefix_incomplete(lws_http_parse_request, LIT(websockets_lib_request)));
	CHECK(every_prefix_incomplete(lws_http_parse_request,
				      LIT("GET / HTTP/1.0\nA:\nB: x \n\n")));
	CHECK(every_prefix_incomplete(lws_http_parse_response, LIT(upgrade_response)));
	CHECK(every_prefix_incomplete(lws_http_parse_response,
				      LIT("HTTP/1.1 204\r\nX-Y:\t\r\n\r\n")));
}

static void test_null_buffer_with_zero_length(void)
{
	struct lws_http_head head;

	CHECK_EQ(lws_http_parse_request(NULL, 0, &head), LWS_HTTP_INCOMPLETE);
	CHECK_EQ(lws_http_parse_response(NULL, 0, &head), LWS_HTTP_INCOMPLETE);
}

static void test_bytes_after_head_are_not_consumed(void)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x85junk";
	struct parsed r = parse_with(lws_http_parse_request, LIT(s));

	CHECK_EQ(r.rc, strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
	free(r.buf);
}

static void test_no_headers(void)
{
	struct parsed r = parse_with(lws_http_parse_request, LIT("OPTIONS * HTTP/1.0\r\n\r\n"));

	CHECK_EQ(r.rc, 22);
	CHECK(span_is(r.head.method, r.head.method_len, "OPTIONS"));
	CHECK(span_is(r.head.path, r.head.path_len, "*"));
	CHECK_EQ(r.head.minor_version, 0);
	CHECK_EQ(r.head.num_headers, 0);
	free(r.buf);
}

static void test_bare_lf_line_ends(void)
{
	static const char s[] = "GET /x HTTP/1.1\nHost: h\r\nUpgrade: websocket\n\n";
	struct parsed r = parse_with(lws_http_parse_request, LIT(s));

	CHECK_EQ(r.rc, sizeof(s) - 1);
	CHECK_EQ(r.head.num_headers, 2);
	CHECK(header_is(&r.head, 0, "Host", "h"));
	CHECK(header_is(&r.head, 1, "Upgrade", "websocket"));
	free(r.buf);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\n\r\n")), 17);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\n\n")), 17);
}

static void test_values_trimmed(void)
{
	static const char s[] = "GET / HTTP/1.1\r\n"
				"A:   spaced  out \t \r\n"
				"B:\r\n"
				"C: \t \r\n"
				"D:x\r\n"
				"E: in\tside\r\n"
				"F: caf\xc3\xa9\r\n"
				"\r\n";
	struct parsed r = parse_with(lws_http_parse_request, LIT(s));

	CHECK_EQ(r.rc, sizeof(s) - 1);
	CHECK_EQ(r.head.num_headers, 6);
	CHECK(header_is(&r.head, 0, "A", "spaced  out"));
	CHECK(header_is(&r.head, 1, "B", ""));
	CHECK(header_is(&r.head, 2, "C", ""));
	CHECK(header_is(&r.head, 3, "D", "x"));
	CHECK(header_is(&r.head, 4, "E", "in\tside"));
	CHECK(header_is(&r.head, 5, "F", "caf\xc3\xa9")); /* obs-text is allowed */
	free(r.buf);
}

static void test_duplicates_kept_in_order(void)
{
	static const char s[] = "GET / HTTP/1.1\r\nX: 1\r\nY: 2\r\nx: 3\r\n\r\n";
	struct parsed r = parse_with(lws_http_parse_request, LIT(s));

	CHECK_EQ(r.rc, sizeof(s) - 1);
	CHECK_EQ(r.head.num_headers, 3);
	CHECK(header_is(&r.head, 0, "X", "1"));
	CHECK(header_is(&r.head, 1, "Y", "2"));
	CHECK(header_is(&r.head, 2, "x", "3"));
	CHECK(lws_http_find(&r.head, "x") == &r.head.headers[0]);
	free(r.buf);
}

static void test_leading_empty_line_ignored(void)
{
	struct parsed r = parse_with(lws_http_parse_request, LIT("\r\nGET / HTTP/1.1\r\n\r\n"));

	CHECK_EQ(r.rc, 20);
	CHECK(r.head.method == r.buf + 2);
	free(r.buf);
	CHECK_EQ(request_rc(LIT("\nGET / HTTP/1.1\n\n")), 17);
	CHECK_EQ(request_rc(LIT("\r")), LWS_HTTP_INCOMPLETE);
	CHECK_EQ(request_rc(LIT("\rG")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("\r\n\r\nGET / HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
}

static void test_malformed_request_line(void)
{
	CHECK_EQ(request_rc(LIT("G(T / HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET\t/ HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT(" GET / HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET  / HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / \r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /  HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1 \r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /a\x01 HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /a\x7f HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /a\tb HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /a\0b HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\rX\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\r\n\r\n")), LWS_HTTP_MALFORMED);
}

static void test_malformed_version(void)
{
	CHECK_EQ(request_rc(LIT("GET / HTTP/2.0\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.2\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.10\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/0.9\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / http/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1x\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / FTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET /\r\n")), LWS_HTTP_MALFORMED); /* HTTP/0.9 form */

	struct parsed r = parse_with(lws_http_parse_request, LIT("GET / HTTP/1.0\r\n\r\n"));
	CHECK_EQ(r.rc, 18);
	CHECK_EQ(r.head.minor_version, 0);
	free(r.buf);
}

static void test_malformed_header_lines(void)
{
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\n: v\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX Y: v\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX@: v\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX\xc3\xa9: v\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nFoo\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nFoo\n\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nFoo : v\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nFoo\t: v\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\n Host: a\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\x1f\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\0\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX\0: a\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\r\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("GET / HTTP/1.1\r\nX: a\r\n\rX")), LWS_HTTP_MALFORMED);
}

/* A request with count headers "H<i>: v<i>" into a heap buffer. */
static char *request_with_headers(int count, size_t *len)
{
	char *buf = malloc(32 + (size_t)count * 16);
	size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	int i;

	for (i = 0; i < count; i++)
		n += (size_t)sprintf(buf + n, "H%d: v%d\r\n", i, i);
	n += (size_t)sprintf(buf + n, "\r\n");
	*len = n;
	return buf;
}

static void test_header_count_limit(void)
{
	size_t len;
	char *s = request_with_headers(LWS_HTTP_MAX_HEADERS, &len);
	struct parsed r = parse_with(lws_http_parse_request, s, len);

	CHECK_EQ(r.rc, len);
	CHECK_EQ(r.head.num_headers, 64);
	CHECK(header_is(&r.head, 63, "H63", "v63"));
	free(r.buf);
	free(s);

	s = request_with_headers(LWS_HTTP_MAX_HEADERS + 1, &len);
	CHECK_EQ(request_rc(s, len), LWS_HTTP_MALFORMED);
	/* refused at the first byte of the 65th header line */
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request, s, len),
		 (size_t)(strstr(s, "H64:") - s) + 1);
	free(s);
}

static void test_garbage_detected_early(void)
{
	static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	unsigned int seed = 12345;
	int i, all_found = 1;
	size_t total_found_at = 0;

	CHECK_EQ(request_rc(tls_hello, 1), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("\x00")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("\xff")), LWS_HTTP_MALFORMED);
	CHECK_EQ(request_rc(LIT("{")), LWS_HTTP_MALFORMED);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request, LIT("GE\x80T / HTTP/1.1")), 3);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request, LIT("GET /\x01\x02\x03\x04")), 6);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request, LIT("GET / HTTP/2 ...")), 12);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request, LIT("GET / XTTP/1.1")), 7);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request, LIT("GET / HTTP/1.1\r\nHo\x00st")), 19);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_request,
					LIT("GET / HTTP/1.1\r\nHost: a\x02 more")), 24);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_response, LIT("SSH-2.0-OpenSSH")), 1);
	CHECK_EQ(first_malformed_prefix(lws_http_parse_response, LIT("HTTP/1.1 2x")), 11);

	/* random binary junk: refused within its 16 bytes, mostly at once */
	for (i = 0; i < 2000; i++) {
		char junk[16];
		size_t k, found;

		for (k = 0; k < sizeof(junk); k++) {
			seed = seed * 1103515245u + 12345u;
			junk[k] = (char)(seed >> 16);
		}
		found = first_malformed_prefix(lws_http_parse_request, junk, sizeof(junk));
		if (found == 0)
			all_found = 0;
		total_found_at += found;
	}
	CHECK(all_found);
	CHECK(total_found_at < 2000 * 3); /* on average within the first 3 bytes */
}

/*
 * Random mutations of a valid request: the answer must be monotonic in the
 * prefix length (INCOMPLETE until it is final, then never changes) and a
 * success must only point inside the buffer.
 */
static void test_mutations_consistent_over_prefixes(void)
{
	unsigned int seed = 99;
	size_t len = sizeof(websockets_lib_request) - 1;
	int i, consistent = 1, in_bounds = 1;
	char *s = malloc(len);

	for (i = 0; i < 300; i++) {
		int m, final = LWS_HTTP_INCOMPLETE;
		size_t n, h;

		memcpy(s, websockets_lib_request, len);
		for (m = 0; m < 3; m++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % len;
			seed = seed * 1103515245u + 12345u;
			s[at] = (char)(seed >> 16);
		}
		for (n = 0; n <= len; n++) {
			struct parsed r = parse_with(lws_http_parse_request, s, n);

			if (final != LWS_HTTP_INCOMPLETE && r.rc != final)
				consistent = 0;
			if (r.rc != LWS_HTTP_INCOMPLETE)
				final = r.rc;
			for (h = 0; r.rc > 0 && h < r.head.num_headers; h++) {
				const struct lws_http_header *hd = &r.head.headers[h];

				if (hd->name < r.buf ||
				    hd->value + hd->value_len > r.buf + r.rc)
					in_bounds = 0;
			}
			free(r.buf);
		}
	}
	free(s);
	CHECK(consistent);
	CHECK(in_bounds);
}

static void test_upgrade_response(void)
{
	struct parsed r = parse_with(lws_http_parse_response, LIT(upgrade_response));

	CHECK_EQ(r.rc, sizeof(upgrade_response) - 1);
	CHECK_EQ(r.head.status, 101);
	CHECK(span_is(r.head.reason, r.head.reason_len, "Switching Protocols"));
	CHECK_EQ(r.head.minor_version, 1);
	CHECK(r.head.method == NULL && r.head.method_len == 0);
	CHECK(r.head.path == NULL && r.head.path_len == 0);
	CHECK_EQ(r.head.num_headers, 3);
	CHECK(header_is(&r.head, 0, "Upgrade", "websocket"));
	CHECK(header_is(&r.head, 2, "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	free(r.buf);
}

static void test_other_responses(void)
{
	struct parsed r = parse_with(lws_http_parse_response,
				     LIT("HTTP/1.0 404 Not Found\nContent-Length: 0\n\n"));

	CHECK_EQ(r.rc, 42);
	CHECK_EQ(r.head.status, 404);
	CHECK_EQ(r.head.minor_version, 0);
	CHECK(span_is(r.head.reason, r.head.reason_len, "Not Found"));
	CHECK(header_is(&r.head, 0, "Content-Length", "0"));
	free(r.buf);

	r = parse_with(lws_http_parse_response, LIT("HTTP/1.1 200\r\n\r\n"));
	CHECK_EQ(r.rc, 16);
	CHECK_EQ(r.head.status, 200);
	CHECK_EQ(r.head.reason_len, 0);
	free(r.buf);

	r = parse_with(lws_http_parse_response, LIT("HTTP/1.1 500 \r\n\r\n"));
	CHECK_EQ(r.rc, 17);
	CHECK_EQ(r.head.status, 500);
	CHECK_EQ(r.head.reason_len, 0);
	free(r.buf);
}

static void test_malformed_responses(void)
{
	CHECK_EQ(response_rc(LIT("HTTP/1.1 20 OK\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 2000 OK\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 abc OK\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 099 X\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 -01 X\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1  200 OK\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 101\tSwitching\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 101 Bad\x01\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/2 200 OK\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("\r\nHTTP/1.1 200 OK\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n")),
		 LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("HTTP/1.1 101 OK\r\n folded\r\n\r\n")), LWS_HTTP_MALFORMED);
	CHECK_EQ(response_rc(LIT("GET / HTTP/1.1\r\n\r\n")), LWS_HTTP_MALFORMED);
}

static void test_find(void)
{
	struct parsed r = parse_with(lws_http_parse_request, LIT(browser_request));
	const struct lws_http_header *h;

	h = lws_http_find(&r.head, "sec-websocket-key");
	CHECK(h && span_is(h->value, h->value_len, "dGhlIHNhbXBsZSBub25jZQ=="));
	h = lws_http_find(&r.head, "UPGRADE");
	CHECK(h && span_is(h->value, h->value_len, "websocket"));
	CHECK(lws_http_find(&r.head, "Sec-WebSocket-Protocol") == NULL);
	CHECK(lws_http_find(&r.head, "Hos") == NULL);
	CHECK(lws_http_find(&r.head, "Host2") == NULL);
	CHECK(lws_http_find(&r.head, "") == NULL);
	free(r.buf);
}

static int list_has(const char *value, const char *token)
{
	char *copy = exact_copy(value, strlen(value));
	int found = lws_http_list_has(copy, strlen(value), token);

	free(copy);
	return found;
}

static void test_list_has(void)
{
	CHECK(list_has("keep-alive, Upgrade", "upgrade"));
	CHECK(list_has("Upgrade", "upgrade"));
	CHECK(list_has("UPGRADE", "Upgrade"));
	CHECK(list_has(" \tupgrade\t ", "upgrade"));
	CHECK(list_has("a,upgrade,b", "upgrade"));
	CHECK(list_has(",, upgrade ,", "upgrade"));
	CHECK(list_has("keep-alive,Upgrade", "keep-alive"));
	CHECK(!list_has("Upgrade2", "upgrade"));
	CHECK(!list_has("xupgrade", "upgrade"));
	CHECK(!list_has("upgra", "upgrade"));
	CHECK(!list_has("up grade", "upgrade"));
	CHECK(!list_has("keep-alive", "upgrade"));
	CHECK(!list_has("", "upgrade"));
	CHECK(!list_has(" , ,", "upgrade"));
	CHECK(!list_has("a, ,b", ""));
	CHECK(!lws_http_list_has(NULL, 0, "upgrade"));
	/* only value_len bytes count */
	CHECK(!lws_http_list_has("keep-alive, Upgrade", 12, "upgrade"));
	CHECK(lws_http_list_has("keep-alive, Upgrade", 10, "keep-alive"));
}

int main(void)
{
	RUN(test_browser_request);
	RUN(test_websockets_library_request);
	RUN(test_every_prefix_is_incomplete);
	RUN(test_null_buffer_with_zero_length);
	RUN(test_bytes_after_head_are_not_consumed);
	RUN(test_no_headers);
	RUN(test_bare_lf_line_ends);
	RUN(test_values_trimmed);
	RUN(test_duplicates_kept_in_order);
	RUN(test_leading_empty_line_ignored);
	RUN(test_malformed_request_line);
	RUN(test_malformed_version);
	RUN(test_malformed_header_lines);
	RUN(test_header_count_limit);
	RUN(test_garbage_detected_early);
	RUN(test_mutations_consistent_over_prefixes);
	RUN(test_upgrade_response);
	RUN(test_other_responses);
	RUN(test_malformed_responses);
	RUN(test_find);
	RUN(test_list_has);
	return CHECK_SUMMARY();
}
