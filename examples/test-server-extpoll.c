/*
 * test-server-extpoll.c - the demo server (test-server.c) driven by its own
 * poll() loop instead of libwebsocket_service(): the classic "extpoll" way of
 * putting libwebsockets into a program that already has a poll array.
 *
 * The library announces every descriptor it watches to protocols[0]:
 *
 *   LWS_CALLBACK_ADD_POLL_FD         user = the fd, len = POLLIN/POLLOUT bits
 *   LWS_CALLBACK_DEL_POLL_FD         user = the fd
 *   LWS_CALLBACK_SET_MODE_POLL_FD    user = the fd, len = bits to add
 *   LWS_CALLBACK_CLEAR_MODE_POLL_FD  user = the fd, len = bits to remove
 *
 * (listen sockets, connections, its timer, its cross-thread wake descriptor,
 * ...), from inside libwebsocket_create_context and _context_destroy too.
 * This program keeps them in pollfds[], polls, and hands each ready entry to
 * libwebsocket_service_fd().  Timeouts need nothing more: the library's timer
 * is one of the descriptors.  Other descriptors of the program could sit in
 * the same array (service_fd returns 1 for those).
 *
 *   test-server-extpoll [--port 7681] [--interface IF] [--debug LLL_BITS]
 *                       [--resource-path DIR] [--ssl] [--cert FILE --key FILE]
 *                       [--workers N] [--redis URL]
 *
 * (the same command line as test-server: --ssl serves https:// and wss://.)
 */
#include "test-server-protocols.h"

#include <errno.h>
#include <poll.h>

/* ---- the poll array, kept from the four callbacks ---- */

static struct pollfd *pollfds;
static int count_pollfds, max_pollfds;
/* fd -> its index in pollfds, -1 when absent */
static int *fd_lookup;
static int fd_lookup_size;

static int grow(int fd)
{
	if (count_pollfds == max_pollfds) {
		int n = max_pollfds ? max_pollfds * 2 : 32;
		struct pollfd *p = realloc(pollfds, (size_t)n * sizeof *p);
		if (!p)
			return -1;
		pollfds = p;
		max_pollfds = n;
	}
	if (fd >= fd_lookup_size) {
		int n = fd_lookup_size ? fd_lookup_size : 64;
		while (n <= fd)
			n *= 2;
		int *l = realloc(fd_lookup, (size_t)n * sizeof *l);
		if (!l)
			return -1;
		for (int i = fd_lookup_size; i < n; i++)
			l[i] = -1;
		fd_lookup = l;
		fd_lookup_size = n;
	}
	return 0;
}

static struct pollfd *find_pollfd(int fd)
{
	if (fd < 0 || fd >= fd_lookup_size || fd_lookup[fd] < 0) {
		lwsl_err("extpoll: fd %d is not in the poll array\n", fd);
		return NULL;
	}
	return &pollfds[fd_lookup[fd]];
}

static int poll_callback(enum libwebsocket_callback_reasons reason, int fd, short bits)
{
	struct pollfd *p;

	switch (reason) {
	case LWS_CALLBACK_ADD_POLL_FD:
		if (grow(fd)) {
			lwsl_err("extpoll: out of memory\n");
			return 1;
		}
		fd_lookup[fd] = count_pollfds;
		pollfds[count_pollfds++] = (struct pollfd){ .fd = fd, .events = bits };
		break;

	case LWS_CALLBACK_DEL_POLL_FD:
		if (!find_pollfd(fd))
			break;
		/* the last entry takes its place */
		int i = fd_lookup[fd];
		fd_lookup[fd] = -1;
		if (i != --count_pollfds) {
			pollfds[i] = pollfds[count_pollfds];
			fd_lookup[pollfds[i].fd] = i;
		}
		break;

	case LWS_CALLBACK_SET_MODE_POLL_FD:
		if ((p = find_pollfd(fd)))
			p->events |= bits;
		break;

	case LWS_CALLBACK_CLEAR_MODE_POLL_FD:
		if ((p = find_pollfd(fd)))
			p->events &= (short)~bits;
		break;

	default:
		break;
	}
	return 0;
}

/* protocols[0]: the poll reasons here, the rest as in test-server */
static int callback_http_extpoll(struct libwebsocket_context *context,
				 struct libwebsocket *wsi,
				 enum libwebsocket_callback_reasons reason, void *user, void *in,
				 size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_ADD_POLL_FD:
	case LWS_CALLBACK_DEL_POLL_FD:
	case LWS_CALLBACK_SET_MODE_POLL_FD:
	case LWS_CALLBACK_CLEAR_MODE_POLL_FD:
		return poll_callback(reason, (int)(intptr_t)user, (short)len);
	default:
		return callback_http(context, wsi, reason, user, in, len);
	}
}

static struct libwebsocket_protocols protocols[] = DEMO_PROTOCOLS(callback_http_extpoll);

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct demo_options opt = { .port = 7681 };
	int rc = demo_setup(argc, argv, &opt);
	if (rc >= 0)
		return rc;
	unsigned options = 0;
	rc = demo_start_workers(&opt, &options); /* --workers: before any context */
	if (rc >= 0)
		return rc;

	struct libwebsocket_context *context =
		libwebsocket_create_context((int)opt.port, opt.interface, protocols, NULL, opt.cert,
					    opt.key, NULL, -1, -1, options, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		free(pollfds);
		free(fd_lookup);
		return 1;
	}
	/* --redis: its two descriptors come through ADD_POLL_FD like the others */
	if (demo_attach_redis(context, &opt)) {
		libwebsocket_context_destroy(context);
		free(pollfds);
		free(fd_lookup);
		return 2;
	}

	fprintf(stderr,
		"pylws test server (external poll) on %s, port %ld: open %s://127.0.0.1:%ld/\n"
		"(serving %s; %d descriptors in the poll array)\n",
		libwebsocket_canonical_hostname(context), opt.port, opt.use_ssl ? "https" : "http",
		opt.port, resource_path, count_pollfds);

	/* our poll loop, and every TICK_MS a WRITEABLE for each counter */
	long long next_tick = now_ms() + TICK_MS;
	rc = 0;
	while (!stop) {
		long long now = now_ms();
		if (now >= next_tick) {
			libwebsocket_callback_on_writable_all_protocol(
				&protocols[PROTOCOL_DUMB_INCREMENT]);
			next_tick += TICK_MS;
			if (next_tick <= now) /* we fell behind: no burst to catch up */
				next_tick = now + TICK_MS;
		}
		long long wait = next_tick - now;
		int n = poll(pollfds, (nfds_t)count_pollfds, (int)(wait > TICK_MS ? TICK_MS : wait));
		if (n < 0) {
			if (errno == EINTR)
				continue; /* a signal: look at stop */
			perror("poll");
			rc = 1;
			break;
		}
		/*
		 * Servicing one entry may add entries (at the end, perhaps moving
		 * the array: so service_fd gets a copy, never a pointer into it)
		 * or delete some (the last takes the deleted one's place).  An
		 * entry moved so is seen at the next poll: poll is level-triggered,
		 * nothing is lost.
		 */
		for (int i = 0; i < count_pollfds && n > 0; i++) {
			if (!pollfds[i].revents)
				continue;
			n--;
			struct pollfd ready = pollfds[i];
			pollfds[i].revents = 0;
			if (libwebsocket_service_fd(context, &ready) < 0) {
				rc = 1;
				stop = 1;
				break;
			}
		}
	}

	libwebsocket_context_destroy(context);
	mirror_free_ring();
	if (count_pollfds) {
		/* every ADD must have had its DEL */
		fprintf(stderr, "extpoll: %d descriptors left in the poll array\n", count_pollfds);
		rc = 1;
	}
	free(pollfds);
	free(fd_lookup);
	return rc;
}
