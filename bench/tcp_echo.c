/*
 * tcp_echo.c - raw TCP echo server (no WebSocket): the baseline `tcp` of
 * bench/run.py, driven by `echo_load --raw`.  Every byte read is written back
 * in order; while the socket does not take it all, the connection stops
 * reading until it drains (the same flow control a WebSocket echo has).
 * epoll, non-blocking, one 256 KiB buffer per connection.
 *
 *   gcc -O2 -o tcp_echo tcp_echo.c && ./tcp_echo --port 9000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

struct conn {
	int fd;
	size_t off, len; /* buf[off, len) still to write back */
	unsigned char buf[BUF];
};

static int set_events(int epfd, struct conn *c, unsigned ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void drop(int epfd, struct conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* write what is pending; 1 when all of it went, 0 when the socket is full,
 * -1 on error */
static int flush_pending(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n > 0) {
			c->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN ? 0 : -1;
	}
	c->off = c->len = 0;
	return 1;
}

static void on_event(int epfd, struct conn *c, unsigned ev)
{
	if (ev & (EPOLLERR | EPOLLHUP)) {
		drop(epfd, c);
		return;
	}
	if (c->off < c->len) {
		int r = flush_pending(c);
		if (r < 0) {
			drop(epfd, c);
			return;
		}
		if (r == 0)
			return; /* still waiting for EPOLLOUT */
		set_events(epfd, c, EPOLLIN);
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->buf, BUF, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			drop(epfd, c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		c->off = 0;
		c->len = (size_t)n;
		int r = flush_pending(c);
		if (r < 0) {
			drop(epfd, c);
			return;
		}
		if (r == 0) {
			set_events(epfd, c, EPOLLOUT);
			return;
		}
		if ((size_t)n < BUF)
			return; /* drained (level-triggered: epoll tells us again) */
	}
}

int main(int argc, char **argv)
{
	int port = 9000, one = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: tcp_echo [--port N]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 512)) {
		perror("tcp_echo: listen");
		return 1;
	}
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
	printf("tcp_echo: listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(epfd, evs, 256, -1);
		if (n < 0 && errno != EINTR) {
			perror("tcp_echo: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c) {
				on_event(epfd, c, evs[i].events);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					break;
				c = malloc(sizeof *c);
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				c->off = c->len = 0;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
				if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ce)) {
					close(fd);
					free(c);
				}
			}
		}
	}
}
