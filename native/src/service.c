/*
 * service.c - the event loop: epoll, handing each ready descriptor to its own
 * ready handler (struct lws_watch: accept.c's, conn.c's, ...), the work due
 * after every batch (timeouts, ticks, deferred work), freeing closed
 * connections; and libwebsockets_fork_service_loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "private.h"

#define LWS_MAX_EVENTS 256

static void check_timeouts(struct libwebsocket_context *context, int64_t now)
{
	struct libwebsocket *wsi = context->conns, *next;
	for (; wsi; wsi = next) {
		next = wsi->next;
		if (wsi->timeout_at && wsi->timeout_at <= now)
			lws_conn_timed_out(wsi);
	}
}

static void free_zombies(struct libwebsocket_context *context)
{
	while (context->zombies) {
		struct libwebsocket *wsi = context->zombies;
		context->zombies = wsi->next;
		lws_conn_free(wsi);
	}
}

/* One ready descriptor: owner is what poll.c registered it with, a record
 * whose first member is a struct lws_watch holding its ready handler. */
static void dispatch(struct libwebsocket_context *context, void *owner, uint32_t events)
{
	struct lws_watch *w = owner;
	w->ready(context, w, events);
}

/* What runs after every batch of events, whoever drives the loop. */
static void after_events(struct libwebsocket_context *context)
{
	if (context->ext_conns)
		lws_ext_tick(context, lws_now_ms());
	if (lws_limits_need_tick(context)) {
		/* keepalive and stalled output, once a second */
		int64_t now = lws_now_ms();
		if (!context->next_limits_tick) {
			context->next_limits_tick = now + 1000;
		} else if (now >= context->next_limits_tick) {
			context->next_limits_tick = now + 1000;
			lws_limits_tick(context, now);
		}
	} else {
		context->next_limits_tick = 0;
	}
	if (context->timeouts_armed) {
		int64_t now = lws_now_ms();
		if (now >= context->next_timeout_check) {
			context->next_timeout_check = now + LWS_TIMEOUT_CHECK_MS;
			check_timeouts(context, now);
		}
	}
	if (context->client_failures)
		lws_client_report_failures(context);
	if (context->rx_resumes)
		lws_conn_resume_rx(context);
	if (context->accept_resume_at && lws_now_ms() >= context->accept_resume_at)
		lws_accept_resume(context);
	if (context->redis) {
		int64_t due = lws_redis_due(context);
		if (due && due <= lws_now_ms())
			lws_redis_tick(context, lws_now_ms());
	}
	free_zombies(context);
	lws_timer_update(context);
	context->turn++;
}

int libwebsocket_service(struct libwebsocket_context *context, int timeout_ms)
{
	struct epoll_event events[LWS_MAX_EVENTS];

	atomic_store(&context->loop_thread, (uintptr_t)pthread_self());
	lws_gather_flush(context); /* gather.c */
	/* deferred work and timeouts wake us through the context's timerfd */
	int n = epoll_wait(context->epfd, events, LWS_MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0; /* a signal: let the caller look at it */
		lwsl_err("epoll_wait: %s\n", strerror(errno));
		return -1;
	}

	for (int i = 0; i < n; i++)
		dispatch(context, events[i].data.ptr, events[i].events);
	after_events(context);
	return 0;
}

int libwebsocket_service_fd(struct libwebsocket_context *context, struct pollfd *pollfd)
{
	atomic_store(&context->loop_thread, (uintptr_t)pthread_self());
	lws_gather_flush(context); /* gather.c: no dispatch finds others' bytes corked */
	int rc = 0;
	if (pollfd && pollfd->revents) {
		void *owner = lws_poll_owner(context, pollfd->fd);
		if (owner) {
			/* poll and epoll share the bit values on Linux */
			dispatch(context, owner, (uint32_t)pollfd->revents);
			pollfd->revents = 0;
		} else {
			rc = 1; /* not one of ours */
		}
	}
	after_events(context);
	return rc;
}

/* The loop in a child process; the caller goes on and may broadcast to it
 * (broadcast.c carries the messages across). */
int libwebsockets_fork_service_loop(struct libwebsocket_context *context)
{
	pid_t pid = fork();
	if (pid < 0) {
		lwsl_err("fork_service_loop: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		/* the caller goes on; it may broadcast, the child serves */
		context->forked_child = (int)pid;
		context->service_pid = (int)pid;
		return 0;
	}

	context->service_pid = (int)getpid();
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* die with the parent */
	if (getppid() == 1)
		_exit(0);
	while (libwebsocket_service(context, 1000) >= 0)
		;
	_exit(0);
}
