/*
 * fuzz_http.c - the HTTP/1.x head parser (native/src/http.c): requests and
 * responses, on an exact-size heap copy (any over-read is an ASan finding).
 *
 * Checked: the result is a length within the input, LWS_HTTP_INCOMPLETE or
 * LWS_HTTP_MALFORMED; every pointer it returns lies inside the head; names
 * are non-empty tokens, values carry no blanks at their ends; the parser is
 * restartable as http.c promises: a prefix of a complete head is INCOMPLETE,
 * a prefix found MALFORMED stays MALFORMED however many bytes follow, and
 * bytes after a complete head do not change its length.  lws_http_find and
 * lws_http_list_has run over what was found.
 */
#include "common.h"
#include "http.h"

static int inside(const char *p, size_t len, const char *buf, size_t n)
{
	return len == 0 || (p >= buf && p + len <= buf + n);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void check_head(const char *buf, int rc, const struct lws_http_head *h, int request)
{
	size_t n = (size_t)rc;
	FUZZ_ASSERT(h->num_headers <= LWS_HTTP_MAX_HEADERS, "%zu headers", h->num_headers);
	FUZZ_ASSERT(h->minor_version == 0 || h->minor_version == 1, "HTTP/1.%d",
		    h->minor_version);
	if (request) {
		FUZZ_ASSERT(h->method_len > 0 && inside(h->method, h->method_len, buf, n),
			    "method outside the head");
		FUZZ_ASSERT(h->path_len > 0 && inside(h->path, h->path_len, buf, n),
			    "path outside the head");
		FUZZ_ASSERT(h->status == 0, "status in a request");
	} else {
		FUZZ_ASSERT(h->status >= 100 && h->status <= 999, "status %d", h->status);
		FUZZ_ASSERT(inside(h->reason, h->reason_len, buf, n), "reason outside the head");
	}
	for (size_t i = 0; i < h->num_headers; i++) {
		const struct lws_http_header *hd = &h->headers[i];
		FUZZ_ASSERT(hd->name_len > 0 && inside(hd->name, hd->name_len, buf, n),
			    "header name outside the head");
		FUZZ_ASSERT(inside(hd->value, hd->value_len, buf, n), "value outside the head");
		for (size_t k = 0; k < hd->name_len; k++)
			FUZZ_ASSERT(hd->name[k] != ':' && !is_blank(hd->name[k]) &&
					    (unsigned char)hd->name[k] > 0x20,
				    "bad byte in a header name");
		if (hd->value_len)
			FUZZ_ASSERT(!is_blank(hd->value[0]) && !is_blank(hd->value[hd->value_len - 1]),
				    "value not trimmed");
		for (size_t k = 0; k < hd->value_len; k++)
			FUZZ_ASSERT(hd->value[k] != '\r' && hd->value[k] != '\n' && hd->value[k],
				    "CR, LF or NUL in a value");
		/* the list helper walks every value */
		(void)lws_http_list_has(hd->value, hd->value_len, "upgrade");
		(void)lws_http_list_has(hd->value, hd->value_len, "websocket");
	}
	static const char *const names[] = {"Host", "Upgrade", "Connection", "Sec-WebSocket-Key",
					    "Sec-WebSocket-Extensions", "Content-Length", "x"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const struct lws_http_header *f = lws_http_find(h, names[i]);
		FUZZ_ASSERT(!f || (f >= h->headers && f < h->headers + h->num_headers),
			    "find returned a foreign header");
	}
}

typedef int (*parse_fn)(const char *, size_t, struct lws_http_head *);

static void one(parse_fn parse, int request, const uint8_t *data, size_t size, size_t cut)
{
	struct lws_http_head head;
	char *buf = (char *)fuzz_dup(data, size);
	int rc = parse(buf, size, &head);

	FUZZ_ASSERT(rc == LWS_HTTP_INCOMPLETE || rc == LWS_HTTP_MALFORMED ||
			    (rc > 0 && (size_t)rc <= size),
		    "result %d for %zu bytes", rc, size);
	if (rc > 0)
		check_head(buf, rc, &head, request);

	/* a prefix (an exact-size copy of it) */
	if (size) {
		size_t k = cut % (size + 1);
		char *pre = (char *)fuzz_dup(data, k);
		struct lws_http_head ph;
		int prc = parse(pre, k, &ph);
		if (rc > 0 && k < (size_t)rc)
			FUZZ_ASSERT(prc == LWS_HTTP_INCOMPLETE,
				    "prefix %zu of a %d-byte head gave %d", k, rc, prc);
		if (rc > 0 && k >= (size_t)rc)
			FUZZ_ASSERT(prc == rc, "prefix %zu gave %d, whole %d", k, prc, rc);
		if (prc == LWS_HTTP_MALFORMED)
			FUZZ_ASSERT(rc == LWS_HTTP_MALFORMED,
				    "prefix %zu malformed, whole gave %d", k, rc);
		free(pre);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut = 0;
	if (size >= 2) {
		cut = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
	}
	one(lws_http_parse_request, 1, data, size, cut);
	one(lws_http_parse_response, 0, data, size, cut);
	return 0;
}
