/*
 * http_file.c - libwebsockets_serve_http_file: status and headers, then the
 * file with sendfile(2) as the socket takes it, never blocking the loop and
 * never holding the file in memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"

/* bytes handed to one sendfile call: big enough to fill a socket buffer */
#define LWS_SENDFILE_CHUNK (1024 * 1024)

int libwebsockets_serve_http_file(struct libwebsocket_context *context,
				  struct libwebsocket *wsi, const char *file,
				  const char *content_type)
{
	(void)context;
	if (wsi->state != LWS_STATE_HTTP_HEAD || wsi->file_fd >= 0 || wsi->http_replied) {
		lwsl_err("serve_http_file: the connection is not waiting for an HTTP answer\n");
		return -1;
	}

	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		lwsl_info("serve_http_file: cannot serve %s: %s\n", file,
			  fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		lws_http_refuse(wsi, 404, "Not found.", NULL);
		return -1;
	}

	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 200 OK\r\n"
			 "Server: pylws\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %lld\r\n"
			 "\r\n",
			 content_type ? content_type : "application/octet-stream",
			 (long long)st.st_size);
	if (n < 0 || (size_t)n >= sizeof head ||
	    lws_out_send(wsi, (const uint8_t *)head, (size_t)n, NULL, 0)) {
		close(fd);
		return -1;
	}
	wsi->http_replied = 1;
	wsi->file_fd = fd;
	wsi->file_off = 0;
	/* HEAD: the same head, no body; completed by the loop as a sent file */
	wsi->file_left = wsi->http_head_only ? 0 : st.st_size;
	lws_conn_update_events(wsi); /* POLLOUT drives the rest */
	return 0;
}

/*
 * sendfile() has no MSG_NOSIGNAL: SIGPIPE is held back in this thread while
 * it runs, and one it raised is taken before the old mask returns, so a peer
 * that reset the connection never kills the program.
 */
static ssize_t sendfile_nosignal(int out_fd, int in_fd, off_t *off, size_t len)
{
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t n = sendfile(out_fd, in_fd, off, len);
	int err = errno;
	if (n < 0 && err == EPIPE && !sigismember(&old, SIGPIPE)) {
		const struct timespec now = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &now) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return n;
}

/* The file is out: tell protocols[0]; then the next request, or close. */
static void file_complete(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	lws_http_file_abort(wsi);
	wsi->http_head_only = 0; /* the answer is complete */
	int close_now = lws_call(context, &context->protocols[0], wsi,
				 LWS_CALLBACK_HTTP_FILE_COMPLETION, wsi->user_space, NULL, 0);
	if (wsi->state != LWS_STATE_HTTP_HEAD)
		return;
	if (close_now || wsi->close_after_file) {
		lws_conn_close(wsi, -1, NULL);
		return;
	}
	wsi->http_replied = 0;
	lws_conn_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE,
			     context->handshake_timeout);
	lws_conn_update_events(wsi);
}

/*
 * Returns 1 when the file is all sent (LWS_CALLBACK_HTTP_FILE_COMPLETION has
 * then been given, whoever called), 0 when more is to come, -1 on error.
 */
int libwebsockets_serve_http_file_fragment(struct libwebsocket_context *context,
					   struct libwebsocket *wsi)
{
	(void)context;
	if (wsi->file_fd < 0)
		return -1;
	/* the headers (and anything queued before) go first */
	if (wsi->out.len > wsi->out.off || wsi->context->corked == wsi)
		return 0;

	while (wsi->ssl && wsi->file_left > 0) {
		/* TLS cannot use sendfile: read a piece, encrypt it, and go on
		 * only while the socket takes it all */
		uint8_t piece[16384];
		size_t want = wsi->file_left < (long long)sizeof piece ? (size_t)wsi->file_left
								       : sizeof piece;
		ssize_t n = pread(wsi->file_fd, piece, want, (off_t)wsi->file_off);
		if (n <= 0) {
			lwsl_err("fd %d: reading the file being served failed\n", wsi->fd);
			return -1;
		}
		if (lws_out_send(wsi, piece, (size_t)n, NULL, 0))
			return -1;
		wsi->file_off += n;
		wsi->file_left -= n;
		if (wsi->out.len > wsi->out.off && wsi->file_left)
			return 0;
	}
	while (wsi->file_left > 0) {
		off_t off = (off_t)wsi->file_off;
		size_t chunk = wsi->file_left < LWS_SENDFILE_CHUNK ? (size_t)wsi->file_left
								    : LWS_SENDFILE_CHUNK;
		ssize_t n = sendfile_nosignal(wsi->fd, wsi->file_fd, &off, chunk);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			lwsl_info("fd %d: sendfile: %s\n", wsi->fd, strerror(errno));
			return -1;
		}
		if (n == 0) {
			lwsl_err("fd %d: the file being served shrank\n", wsi->fd);
			return -1;
		}
		wsi->file_off += n;
		wsi->file_left -= n;
	}
	file_complete(wsi);
	return 1;
}

void lws_http_file_continue(struct libwebsocket *wsi)
{
	struct libwebsocket_context *context = wsi->context;
	/* 1: file_complete() did the rest; 0: POLLOUT brings more */
	if (libwebsockets_serve_http_file_fragment(context, wsi) < 0) {
		lws_http_file_abort(wsi);
		lws_conn_close(wsi, -1, NULL);
	}
}
