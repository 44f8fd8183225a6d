/*
 * test_ext_params.c - the built-in compression extensions' parameter
 * parsing, through their public callbacks (libwebsocket_internal_extensions)
 * as the extension host calls them: CONSTRUCT with the client's offer,
 * CLIENT_CONSTRUCT with the server's answer.  Each input is a heap string of
 * exactly its size, so ASan reports a read past its end (issue 10, defect 7:
 * `permessage-deflate; a"="10` made parse_params step past the NUL).
 */
#include "libwebsockets.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

/* The extension's answer to params (0 = accepted), the string on the heap. */
static int construct(int index, enum libwebsocket_extension_callback_reasons reason,
		     const char *params)
{
	struct libwebsocket_extension *ext = &libwebsocket_internal_extensions[index];
	size_t len = strlen(params);
	char *copy = malloc(len + 1);
	void *user = calloc(1, ext->per_session_data_size ? ext->per_session_data_size : 1);
	memcpy(copy, params, len + 1);
	int rc = ext->callback(NULL, ext, NULL, reason, user, copy, len);
	ext->callback(NULL, ext, NULL, LWS_EXT_CALLBACK_DESTROY, user, NULL, 0);
	free(user);
	free(copy);
	return rc;
}

#define PMD 0   /* permessage-deflate */
#define FRAME 1 /* deflate-frame */

static void test_unbalanced_quote_in_a_name(void)
{
	/* as next_offer hands them on: blanks dropped, quotes kept */
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "a\"=\"10") != 0);
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CLIENT_CONSTRUCT, "a\"=\"10") != 0);
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "server_max_window_bits=\"10") != 0);
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "client_max_window_bits=\"") != 0);
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "\"") != 0);
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "a=\"") != 0);
	CHECK(construct(FRAME, LWS_EXT_CALLBACK_CONSTRUCT, "max_window_bits=\"") != 0);
	CHECK(construct(FRAME, LWS_EXT_CALLBACK_CONSTRUCT, "a\"=\"10") != 0);
}

static void test_good_parameters_still_accepted(void)
{
	CHECK_EQ(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, ""), 0);
	CHECK_EQ(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "client_max_window_bits"), 0);
	CHECK_EQ(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "server_max_window_bits=\"10\""), 0);
	CHECK_EQ(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT,
			   "server_no_context_takeover;client_max_window_bits=\"12\""),
		 0);
	CHECK_EQ(construct(PMD, LWS_EXT_CALLBACK_CLIENT_CONSTRUCT,
			   "client_max_window_bits=\"9\";server_no_context_takeover"),
		 0);
	CHECK_EQ(construct(FRAME, LWS_EXT_CALLBACK_CONSTRUCT, "max_window_bits=\"10\""), 0);
	CHECK(construct(PMD, LWS_EXT_CALLBACK_CONSTRUCT, "server_max_window_bits=\"10\"x") != 0);
}

int main(void)
{
	RUN(test_unbalanced_quote_in_a_name);
	RUN(test_good_parameters_still_accepted);
	return CHECK_SUMMARY();
}
