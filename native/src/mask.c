/*
 * mask.c - the masks of the frames a client sends (RFC 6455 5.3): 4 bytes
 * each, unpredictable, taken from a pool of OS randomness the context
 * refills LWS_RANDOM_POOL bytes at a time (one getrandom() per 1024 frames).
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "util.h"

void lws_mask_key(struct libwebsocket_context *context, uint8_t mask[4])
{
	if (context->random_left < 4) {
		if (lws_os_random(context->random_pool, sizeof context->random_pool)) {
			lwsl_err("no randomness from the OS for frame masks\n");
			abort(); /* a predictable mask would be a security hole */
		}
		context->random_left = sizeof context->random_pool;
	}
	context->random_left -= 4;
	memcpy(mask, context->random_pool + context->random_left, 4);
}
