/*
 * sha1.c - libwebsockets_SHA1, the classic API's SHA-1, from OpenSSL (which
 * the core links for TLS anyway).  Only the WebSocket handshake uses it
 * (RFC 6455 uses it as a fingerprint, not for security).
 */
#include "libwebsockets.h"

#include <openssl/evp.h>

/* Writes the 20-byte digest of d[0..n) to md and returns md; NULL when md is
 * NULL or OpenSSL cannot compute it (e.g. a provider without SHA-1). */
unsigned char *libwebsockets_SHA1(const unsigned char *d, size_t n, unsigned char *md)
{
	static const unsigned char nothing[1];

	if (!md)
		return NULL;
	if (EVP_Digest(n ? d : nothing, n, md, NULL, EVP_sha1(), NULL) != 1)
		return NULL;
	return md;
}
