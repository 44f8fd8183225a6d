/*
 * A minimal program in the classic style: a WebSocket echo server that
 * echoes whole messages, however the peer fragmented them.
 *
 *   cc echo_min.c $(pkg-config --cflags --libs pylws) -o echo_min
 *   ./echo_min 7681
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define MAX_MESSAGE (1 << 20)

/* one per connection: the library allocates it (per_session_data_size)
 * zeroed, and frees it after LWS_CALLBACK_CLOSED */
struct session {
	unsigned char *buf; /* LWS_SEND_BUFFER_PRE_PADDING, message, POST_PADDING */
	size_t len;
};

static int callback_echo(struct libwebsocket_context *context, struct libwebsocket *wsi,
			 enum libwebsocket_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct session *s = user;
	(void)context;

	switch (reason) {
	case LWS_CALLBACK_RECEIVE: {
		if (s->len + len > MAX_MESSAGE)
			return -1; /* nonzero closes the connection */
		unsigned char *p = realloc(s->buf, LWS_SEND_BUFFER_PRE_PADDING + s->len + len +
							   LWS_SEND_BUFFER_POST_PADDING);
		if (!p)
			return -1;
		s->buf = p;
		memcpy(s->buf + LWS_SEND_BUFFER_PRE_PADDING + s->len, in, len);
		s->len += len;
		if (!libwebsocket_is_final_fragment(wsi))
			return 0; /* more of this message to come */
		int n = libwebsocket_write(wsi, s->buf + LWS_SEND_BUFFER_PRE_PADDING, s->len,
					   lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY
								    : LWS_WRITE_TEXT);
		s->len = 0;
		return n < 0 ? -1 : 0;
	}
	case LWS_CALLBACK_CLOSED:
		free(s->buf);
		s->buf = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static struct libwebsocket_protocols protocols[] = {
	/* name, callback, per_session_data_size, then four members the library
	 * fills in (written out here only to keep -Wextra quiet) */
	{ "echo", callback_echo, sizeof(struct session), NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 } /* the end */
};

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7681;
	struct libwebsocket_context *context = libwebsocket_create_context(
		port, NULL, protocols, libwebsocket_internal_extensions, NULL, NULL, NULL, -1, -1,
		0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}
	printf("listening on ws://127.0.0.1:%d/\n", port);
	fflush(stdout);
	while (libwebsocket_service(context, 1000) >= 0)
		;
	libwebsocket_context_destroy(context);
	return 0;
}
