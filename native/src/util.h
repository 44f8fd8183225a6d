/*
 * util.h - SHA-1, base64, the WebSocket accept key and OS randomness.
 * (libwebsockets_SHA1, lws_b64_* are public and declared in libwebsockets.h.)
 */
#ifndef PYLWS_UTIL_H
#define PYLWS_UTIL_H

#include <stddef.h>

/* Length of a Sec-WebSocket-Accept value: base64 of 20 bytes. */
#define LWS_ACCEPT_LEN 28

/*
 * Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2):
 * base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
 * Writes LWS_ACCEPT_LEN chars and a NUL into out.
 */
void lws_accept_key(const char *key, size_t key_len, char out[LWS_ACCEPT_LEN + 1]);

/* Fill buf with len bytes from the OS (getrandom). Returns 0, or -1 on failure. */
int lws_os_random(void *buf, size_t len);

#endif /* PYLWS_UTIL_H */
