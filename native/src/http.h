/*
 * http.h - HTTP/1.1 message head parsing.  Pure and zero-copy: the results
 * point into the caller's buffer, nothing is allocated or NUL-terminated.
 */
#ifndef PYLWS_HTTP_H
#define PYLWS_HTTP_H

#include <stddef.h>

#define LWS_HTTP_MAX_HEADERS 64

struct lws_http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing blanks trimmed */
	size_t value_len;
};

struct lws_http_head {
	/* request: method and target; response: unused (NULL, 0) */
	const char *method;
	size_t method_len;
	const char *path;
	size_t path_len;
	/* response: status code and reason phrase; request: 0 / NULL */
	int status;
	const char *reason;
	size_t reason_len;

	int minor_version; /* HTTP/1.x */
	struct lws_http_header headers[LWS_HTTP_MAX_HEADERS];
	size_t num_headers;
};

#define LWS_HTTP_INCOMPLETE (-2)
#define LWS_HTTP_MALFORMED (-1)

/*
 * Parse a request head ("GET /path HTTP/1.1\r\n" headers "\r\n") at the start
 * of buf.  Returns the length of the head including the final empty line,
 * LWS_HTTP_INCOMPLETE when more bytes are needed, or LWS_HTTP_MALFORMED (bad
 * request line, bad header line, not HTTP/1.x, more than LWS_HTTP_MAX_HEADERS
 * headers).  Bare "\n" line ends are accepted as well as "\r\n".
 */
int lws_http_parse_request(const char *buf, size_t len, struct lws_http_head *head);

/* The same for a response head ("HTTP/1.1 101 Switching Protocols\r\n"...). */
int lws_http_parse_response(const char *buf, size_t len, struct lws_http_head *head);

/* First header named name (case-insensitive), or NULL. */
const struct lws_http_header *lws_http_find(const struct lws_http_head *head,
					    const char *name);

/*
 * Nonzero when the comma-separated list value (e.g. "keep-alive, Upgrade")
 * holds token, compared case-insensitively, blanks around items ignored.
 */
int lws_http_list_has(const char *value, size_t value_len, const char *token);

#endif /* PYLWS_HTTP_H */
