/*
 * poll.c - every descriptor the library watches is registered here: in the
 * context's epoll set (the internal loop), in the fd table that
 * libwebsocket_service_fd looks descriptors up in, and announced to
 * protocols[0] through the ADD/DEL/SET_MODE/CLEAR_MODE_POLL_FD callbacks for
 * programs that poll the descriptors themselves.
 *
 * Also the context's timer: a timerfd armed while timeouts or deferred work
 * are pending, so a program that only calls libwebsocket_service_fd for the
 * descriptors it was given is woken for them too; no polling needed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "private.h"

/* epoll and poll use the same bits for what we ask for */
_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT, "epoll/poll bits differ");

static struct libwebsocket *owner_wsi(void *owner)
{
	return ((struct lws_watch *)owner)->kind == LWS_FD_CONN ? owner : NULL;
}

static void announce(struct libwebsocket_context *context, void *owner,
		     enum libwebsocket_callback_reasons reason, int fd, uint32_t events)
{
	lws_call(context, &context->protocols[0], owner_wsi(owner), reason,
		 (void *)(intptr_t)fd, NULL, events);
}

static int table_set(struct libwebsocket_context *context, int fd, void *owner)
{
	if ((size_t)fd >= context->fd_table_size) {
		size_t size = context->fd_table_size ? context->fd_table_size : 64;
		while (size <= (size_t)fd)
			size *= 2;
		void **table = realloc(context->fd_table, size * sizeof *table);
		if (!table)
			return -1;
		memset(table + context->fd_table_size, 0,
		       (size - context->fd_table_size) * sizeof *table);
		context->fd_table = table;
		context->fd_table_size = size;
	}
	context->fd_table[fd] = owner;
	return 0;
}

void *lws_poll_owner(struct libwebsocket_context *context, int fd)
{
	if (fd < 0 || (size_t)fd >= context->fd_table_size)
		return NULL;
	return context->fd_table[fd];
}

int lws_poll_add(struct libwebsocket_context *context, int fd, void *owner,
		 uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = owner};
	if (table_set(context, fd, owner) ||
	    epoll_ctl(context->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		lwsl_err("cannot watch fd %d: %s\n", fd, strerror(errno));
		if ((size_t)fd < context->fd_table_size)
			context->fd_table[fd] = NULL;
		return -1;
	}
	announce(context, owner, LWS_CALLBACK_ADD_POLL_FD, fd, events);
	return 0;
}

void lws_poll_change(struct libwebsocket_context *context, int fd, void *owner,
		     uint32_t from, uint32_t to)
{
	struct epoll_event ev = {.events = to, .data.ptr = owner};
	if (epoll_ctl(context->epfd, EPOLL_CTL_MOD, fd, &ev))
		lwsl_err("epoll_ctl mod fd %d: %s\n", fd, strerror(errno));
	if (to & ~from)
		announce(context, owner, LWS_CALLBACK_SET_MODE_POLL_FD, fd, to & ~from);
	if (from & ~to)
		announce(context, owner, LWS_CALLBACK_CLEAR_MODE_POLL_FD, fd, from & ~to);
}

void lws_poll_del(struct libwebsocket_context *context, int fd, void *owner)
{
	epoll_ctl(context->epfd, EPOLL_CTL_DEL, fd, NULL);
	if ((size_t)fd < context->fd_table_size && context->fd_table[fd] == owner)
		context->fd_table[fd] = NULL;
	announce(context, owner, LWS_CALLBACK_DEL_POLL_FD, fd, 0);
}

/* ---- the timer ---- */

/* the timerfd expired: the loop runs its due work after this batch */
static void timer_fired(struct libwebsocket_context *context, struct lws_watch *w,
			uint32_t events)
{
	(void)w;
	(void)events;
	uint64_t expirations;
	ssize_t n = read(context->timer.fd, &expirations, sizeof expirations);
	(void)n;
	context->timer_due = 0; /* one-shot: it needs arming again */
}

int lws_timer_init(struct libwebsocket_context *context)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -1;
	context->timer.watch.kind = LWS_FD_TIMER;
	context->timer.watch.ready = timer_fired;
	context->timer.fd = fd;
	return lws_poll_add(context, fd, &context->timer, EPOLLIN);
}

/* When the loop must wake next: now (deferred work), the next once-a-second
 * timeout check, or never (0). */
static int64_t timer_due(struct libwebsocket_context *context)
{
	if (context->client_failures || context->rx_resumes)
		return 1; /* a moment in the past: at once */
	int64_t due = 0;
	if (context->timeouts_armed)
		due = context->next_timeout_check > 1 ? context->next_timeout_check : 1;
	if (context->ext_conns) {
		int64_t tick = context->next_1hz > 1 ? context->next_1hz : 1;
		due = due && due < tick ? due : tick;
	}
	if (context->accept_resume_at) /* the listeners are watched again then */
		due = due && due < context->accept_resume_at ? due : context->accept_resume_at;
	if (lws_limits_need_tick(context)) {
		int64_t tick = context->next_limits_tick > 1 ? context->next_limits_tick : 1;
		due = due && due < tick ? due : tick;
	}
	int64_t redis = context->backplane_due ? context->backplane_due(context) : 0;
	if (redis)
		due = due && due < redis ? due : redis;
	return due;
}

void lws_timer_update(struct libwebsocket_context *context)
{
	if (!context->timer.watch.kind)
		return; /* not created yet, or already gone */
	int64_t due = timer_due(context);
	if (due == context->timer_due)
		return;
	/* absolute monotonic time; 1 ms is long past and fires at once */
	struct itimerspec its = {0};
	its.it_value.tv_sec = (time_t)(due / 1000);
	its.it_value.tv_nsec = (long)(due % 1000) * 1000000L;
	if (timerfd_settime(context->timer.fd, TFD_TIMER_ABSTIME, &its, NULL))
		lwsl_err("timerfd_settime: %s\n", strerror(errno));
	context->timer_due = due;
}
