/*
 * util.c - the WebSocket accept key and OS randomness.
 */
#include "util.h"

#include "libwebsockets.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char websocket_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define GUID_LEN (sizeof(websocket_guid) - 1)

/* A valid key is 24 chars; room for generous ones avoids the heap. */
#define KEY_ON_STACK_MAX 128

void lws_accept_key(const char *key, size_t key_len, char out[LWS_ACCEPT_LEN + 1])
{
	char on_stack[KEY_ON_STACK_MAX + GUID_LEN];
	char *joined = on_stack;
	unsigned char digest[20];
	int sha1_ok;

	/* SHA-1 is one-shot here, so key and GUID are hashed from one buffer */
	if (key_len > KEY_ON_STACK_MAX) {
		joined = key_len <= SIZE_MAX - GUID_LEN ? malloc(key_len + GUID_LEN) : NULL;
		if (!joined) {
			out[0] = '\0'; /* no accept value can match: the handshake fails */
			return;
		}
	}
	if (key_len)
		memcpy(joined, key, key_len);
	memcpy(joined + key_len, websocket_guid, GUID_LEN);
	sha1_ok = libwebsockets_SHA1((const unsigned char *)joined, key_len + GUID_LEN, digest) != NULL;
	if (joined != on_stack)
		free(joined);
	if (!sha1_ok) {
		out[0] = '\0'; /* no accept value can match: the handshake fails */
		return;
	}
	lws_b64_encode_string((const char *)digest, (int)sizeof(digest), out, LWS_ACCEPT_LEN + 1);
}

int lws_os_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	/* getrandom may return fewer bytes than asked (large requests, signals) */
	while (len > 0) {
		ssize_t got = getrandom(p, len, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += got;
		len -= (size_t)got;
	}
	return 0;
}
