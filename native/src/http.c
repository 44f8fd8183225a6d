/*
 * http.c - HTTP/1.x message head parsing (RFC 9112), pure and zero-copy.
 *
 * The parser is restartable by re-running it: the caller keeps appending bytes
 * and calls again from the start of the buffer.  So every step checks the end
 * of the input first and answers LWS_HTTP_INCOMPLETE there, and otherwise
 * rejects a byte the grammar cannot allow as soon as it is seen, so a peer
 * sending junk is told 400 at once instead of after it fills the buffer.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

enum { HTTP_OK = 0 };

/* Byte classes; one table lookup per byte keeps the scanning loops tight. */
enum {
	CLASS_TOKEN = 1,  /* tchar (RFC 9110 5.6.2): methods, header names */
	CLASS_TARGET = 2, /* request-target: visible ASCII (URIs are ASCII, RFC 3986) */
	CLASS_VALUE = 4,  /* field-value / reason-phrase: HTAB, SP, VCHAR, obs-text */
};

#define T CLASS_TOKEN
#define P CLASS_TARGET
#define V CLASS_VALUE
#define OBS_TEXT_ROW V, V, V, V, V, V, V, V
static const unsigned char byte_class[256] = {
	/* 00 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 08 */ 0, V, 0, 0, 0, 0, 0, 0,
	/* 10 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 18 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 20 */ V, T | P | V, P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 28 */ P | V, P | V, T | P | V, T | P | V, P | V, T | P | V, T | P | V, P | V,
	/* 30 */ T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 38 */ T | P | V, T | P | V, P | V, P | V, P | V, P | V, P | V, P | V,
	/* 40 */ P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 48 */ T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 50 */ T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 58 */ T | P | V, T | P | V, T | P | V, P | V, P | V, P | V, T | P | V, T | P | V,
	/* 60 */ T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 68 */ T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 70 */ T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V, T | P | V,
	/* 78 */ T | P | V, T | P | V, T | P | V, P | V, T | P | V, P | V, T | P | V, 0,
	/* 80 */ OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW,
	/* a0 */ OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW,
	/* c0 */ OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW,
	/* e0 */ OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW, OBS_TEXT_ROW,
};
#undef OBS_TEXT_ROW
#undef T
#undef P
#undef V

static inline int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The first byte at or after p not in the class, or end. */
static inline const char *skip_class(const char *p, const char *end, unsigned char cls)
{
	while (p < end && (byte_class[(unsigned char)*p] & cls))
		p++;
	return p;
}

static inline const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/* Consumes "\r\n" or "\n" at *pp. */
static int expect_line_end(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p == end)
		return LWS_HTTP_INCOMPLETE;
	if (*p == '\r' && ++p == end)
		return LWS_HTTP_INCOMPLETE;
	if (*p != '\n')
		return LWS_HTTP_MALFORMED; /* includes a bare CR, which RFC 9112 2.2 forbids */
	*pp = p + 1;
	return HTTP_OK;
}

/*
 * "HTTP/1.0" or "HTTP/1.1".  A partial version is compared as far as it goes,
 * so "HTTP/2" or junk is refused before the line is complete.
 */
static int parse_version(const char **pp, const char *end, int *minor_version)
{
	static const char prefix[] = "HTTP/1.";
	const size_t prefix_len = sizeof(prefix) - 1;
	const char *p = *pp;
	size_t avail = (size_t)(end - p);

	if (memcmp(p, prefix, avail < prefix_len ? avail : prefix_len) != 0)
		return LWS_HTTP_MALFORMED;
	if (avail <= prefix_len)
		return LWS_HTTP_INCOMPLETE;
	if (p[prefix_len] != '0' && p[prefix_len] != '1')
		return LWS_HTTP_MALFORMED;
	*minor_version = p[prefix_len] - '0';
	*pp = p + prefix_len + 1;
	return HTTP_OK;
}

/* A non-empty run of the class followed by sep (not consumed) into *start, *len. */
static int parse_word(const char **pp, const char *end, unsigned char cls, char sep,
		      const char **start, size_t *len)
{
	const char *p = skip_class(*pp, end, cls);

	if (p == end)
		return LWS_HTTP_INCOMPLETE;
	if (p == *pp || *p != sep)
		return LWS_HTTP_MALFORMED;
	*start = *pp;
	*len = (size_t)(p - *pp);
	*pp = p;
	return HTTP_OK;
}

/* request-line = method SP request-target SP HTTP-version CRLF */
static int parse_request_line(const char **pp, const char *end, struct lws_http_head *head)
{
	int rc = parse_word(pp, end, CLASS_TOKEN, ' ', &head->method, &head->method_len);

	if (rc != HTTP_OK)
		return rc;
	++*pp;
	rc = parse_word(pp, end, CLASS_TARGET, ' ', &head->path, &head->path_len);
	if (rc != HTTP_OK)
		return rc;
	++*pp;
	rc = parse_version(pp, end, &head->minor_version);
	if (rc != HTTP_OK)
		return rc;
	return expect_line_end(pp, end);
}

/*
 * status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF
 * The SP before an empty reason is often left out by servers; accept that.
 */
static int parse_status_line(const char **pp, const char *end, struct lws_http_head *head)
{
	const char *p = *pp;
	int rc = parse_version(&p, end, &head->minor_version);
	int i;

	if (rc != HTTP_OK)
		return rc;
	if (p == end)
		return LWS_HTTP_INCOMPLETE;
	if (*p++ != ' ')
		return LWS_HTTP_MALFORMED;
	head->status = 0;
	for (i = 0; i < 3; i++, p++) {
		if (p == end)
			return LWS_HTTP_INCOMPLETE;
		if (*p < '0' || *p > '9' || (i == 0 && *p == '0'))
			return LWS_HTTP_MALFORMED;
		head->status = head->status * 10 + (*p - '0');
	}
	if (p == end)
		return LWS_HTTP_INCOMPLETE;
	if (*p == ' ')
		p++;
	else if (*p != '\r' && *p != '\n')
		return LWS_HTTP_MALFORMED; /* a fourth digit, or junk */
	head->reason = p;
	p = skip_class(p, end, CLASS_VALUE);
	head->reason_len = (size_t)(p - head->reason);
	*pp = p;
	return expect_line_end(pp, end);
}

/* field-line = field-name ":" OWS field-value OWS CRLF */
static int parse_header_line(const char **pp, const char *end, struct lws_http_header *hdr)
{
	const char *p = *pp;
	const char *value_end;
	/* no blank is allowed before ':' (RFC 9112 5.1), so ':' must end the token */
	int rc = parse_word(&p, end, CLASS_TOKEN, ':', &hdr->name, &hdr->name_len);

	if (rc != HTTP_OK)
		return rc;
	p = skip_blanks(p + 1, end);
	hdr->value = p;
	p = skip_class(p, end, CLASS_VALUE);
	value_end = p;
	rc = expect_line_end(&p, end);
	if (rc != HTTP_OK)
		return rc;
	while (value_end > hdr->value && is_blank(value_end[-1]))
		value_end--;
	hdr->value_len = (size_t)(value_end - hdr->value);
	*pp = p;
	return HTTP_OK;
}

/* Header lines up to and including the empty line that ends the head. */
static int parse_header_lines(const char **pp, const char *end, struct lws_http_head *head)
{
	int rc;

	head->num_headers = 0;
	for (;;) {
		if (*pp == end)
			return LWS_HTTP_INCOMPLETE;
		if (**pp == '\r' || **pp == '\n')
			return expect_line_end(pp, end);
		/* a line starting with a blank is obs-fold, refused (RFC 9112 5.2) */
		if (is_blank(**pp) || head->num_headers == LWS_HTTP_MAX_HEADERS)
			return LWS_HTTP_MALFORMED;
		rc = parse_header_line(pp, end, &head->headers[head->num_headers]);
		if (rc != HTTP_OK)
			return rc;
		head->num_headers++;
	}
}

typedef int (*start_line_parser)(const char **pp, const char *end,
				 struct lws_http_head *head);

static int parse_head(const char *buf, size_t len, struct lws_http_head *head,
		      start_line_parser parse_start_line, int skip_empty_line)
{
	const char *end, *p = buf;
	int rc;

	if (len == 0)
		return LWS_HTTP_INCOMPLETE; /* and buf may be NULL */
	/* the result is an int: never look at more than INT_MAX bytes */
	end = buf + (len > INT_MAX ? INT_MAX : len);
	/* RFC 9112 2.2: a server SHOULD ignore an empty line before a request */
	if (skip_empty_line && (*p == '\r' || *p == '\n')) {
		rc = expect_line_end(&p, end);
		if (rc != HTTP_OK)
			return rc;
	}
	rc = parse_start_line(&p, end, head);
	if (rc == HTTP_OK)
		rc = parse_header_lines(&p, end, head);
	if (rc == LWS_HTTP_INCOMPLETE && len > INT_MAX)
		return LWS_HTTP_MALFORMED;
	return rc == HTTP_OK ? (int)(p - buf) : rc;
}

int lws_http_parse_request(const char *buf, size_t len, struct lws_http_head *head)
{
	head->status = 0;
	head->reason = NULL;
	head->reason_len = 0;
	head->num_headers = 0;
	return parse_head(buf, len, head, parse_request_line, 1);
}

int lws_http_parse_response(const char *buf, size_t len, struct lws_http_head *head)
{
	head->method = NULL;
	head->method_len = 0;
	head->path = NULL;
	head->path_len = 0;
	head->num_headers = 0;
	return parse_head(buf, len, head, parse_status_line, 0);
}

/* ASCII-only case folding: header names are ASCII and locale must not matter. */
static inline unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static int equal_ignoring_case(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

const struct lws_http_header *lws_http_find(const struct lws_http_head *head,
					    const char *name)
{
	size_t name_len = strlen(name);
	size_t i;

	for (i = 0; i < head->num_headers; i++) {
		const struct lws_http_header *hdr = &head->headers[i];

		if (hdr->name_len == name_len && equal_ignoring_case(hdr->name, name, name_len))
			return hdr;
	}
	return NULL;
}

int lws_http_list_has(const char *value, size_t value_len, const char *token)
{
	const char *p = value, *end;
	size_t token_len = strlen(token);

	if (value_len == 0 || token_len == 0)
		return 0; /* value may be NULL; an empty item never counts as a match */
	end = value + value_len;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma ? comma : end;
		const char *item = skip_blanks(p, item_end);

		while (item_end > item && is_blank(item_end[-1]))
			item_end--;
		if ((size_t)(item_end - item) == token_len &&
		    equal_ignoring_case(item, token, token_len))
			return 1;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}
