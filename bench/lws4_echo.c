/*
 * lws4_echo.c - a WebSocket echo server on libwebsockets 4.x (Debian's
 * libwebsockets-dev), the peer `lws4` of bench/run.py.  Written for this
 * benchmark from the libwebsockets 4.x API documentation.
 *
 *   cc -O2 -o lws4_echo lws4_echo.c $(pkg-config --cflags --libs libwebsockets)
 *   ./lws4_echo --port 9000
 *
 * Every piece received is echoed as one frame with the same type, the pieces
 * of a message keeping their order and the message's FIN.  A piece is written
 * at once when nothing waits before it and the socket takes it; otherwise it
 * is copied to the connection's queue and written on SERVER_WRITEABLE, and
 * reading pauses (rx flow control) while more than 4 MiB wait.  128 KiB
 * receive buffer, no extensions, 127.0.0.1 only.
 */
#include <libwebsockets.h>

#include <stdlib.h>
#include <string.h>

#define RX_BUF (128 * 1024)
#define PAUSE_AT (4u * 1024 * 1024)

struct piece {
	struct piece *next;
	size_t len;
	int flags;
	unsigned char buf[]; /* LWS_PRE + len */
};

struct session {
	struct piece *head, *tail;
	size_t queued;
	int paused;
	int binary; /* type of the message in progress */
};

static void queue_free(struct session *s)
{
	while (s->head) {
		struct piece *p = s->head;
		s->head = p->next;
		free(p);
	}
	s->tail = NULL;
	s->queued = 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct session *s = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof *s);
		break;

	case LWS_CALLBACK_RECEIVE: {
		int first = lws_is_first_fragment(wsi);
		if (first)
			s->binary = lws_frame_is_binary(wsi);
		int flags = lws_write_ws_flags(s->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT, first,
					       lws_is_final_fragment(wsi));
		struct piece *p = malloc(sizeof *p + LWS_PRE + len);
		if (!p)
			return -1;
		p->next = NULL;
		p->len = len;
		p->flags = flags;
		if (len)
			memcpy(p->buf + LWS_PRE, in, len);
		if (!s->head && !lws_send_pipe_choked(wsi)) {
			/* lws keeps what the socket does not take and writes it first */
			int n = lws_write(wsi, p->buf + LWS_PRE, len, (enum lws_write_protocol)flags);
			free(p);
			return n < (int)len ? -1 : 0;
		}
		if (s->tail)
			s->tail->next = p;
		else
			s->head = p;
		s->tail = p;
		s->queued += len;
		if (s->queued > PAUSE_AT && !s->paused) {
			s->paused = 1;
			lws_rx_flow_control(wsi, 0);
		}
		lws_callback_on_writable(wsi);
		break;
	}

	case LWS_CALLBACK_SERVER_WRITEABLE:
		while (s->head && !lws_send_pipe_choked(wsi)) {
			struct piece *p = s->head;
			int n = lws_write(wsi, p->buf + LWS_PRE, p->len,
					  (enum lws_write_protocol)p->flags);
			s->head = p->next;
			if (!s->head)
				s->tail = NULL;
			s->queued -= p->len;
			free(p);
			if (n < 0)
				return -1;
		}
		if (s->paused && s->queued < PAUSE_AT / 2) {
			s->paused = 0;
			lws_rx_flow_control(wsi, 1);
		}
		if (s->head)
			lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_CLOSED:
		queue_free(s);
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{"echo", callback, sizeof(struct session), RX_BUF, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *context;
	int port = 9000;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: lws4_echo [--port N]\n");
			return 2;
		}
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "lws4_echo: lws_create_context failed\n");
		return 1;
	}
	printf("lws4_echo: libwebsockets %s on 127.0.0.1:%d\n", lws_get_library_version(), port);
	fflush(stdout);
	/* runs until killed: SIGTERM's default action ends it at once (a flag
	 * set by a handler would only be seen when lws_service() returns) */
	while (lws_service(context, 0) >= 0)
		;
	lws_context_destroy(context);
	return 1;
}
