/*
 * net.c - names and addresses: the peer's address and name, this host's
 * canonical name, hanging up on a connection by its fd.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "private.h"

/* How long a reverse lookup may hold up the loop before we give up on it. */
#define LWS_REVERSE_LOOKUP_MS 100
/* Lookups still running after their caller gave up, at most; past that the
 * numeric address is used at once, so a hanging resolver under a flood of
 * connections cannot pile up threads. */
#define LWS_REVERSE_LOOKUPS_MAX 4

/*
 * Process-wide, like the log level: libwebsockets_get_peer_addresses has no
 * context argument in this API generation.  Only a counter, touched atomically.
 */
static atomic_int lookups_running;

/* A reverse lookup shared by the caller and its thread: whoever is last frees it. */
struct reverse_lookup {
	atomic_int refs;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int done;
	struct sockaddr_storage sa;
	socklen_t salen;
	char name[NI_MAXHOST];
	int rc;
};

static void reverse_lookup_put(struct reverse_lookup *r)
{
	if (atomic_fetch_sub(&r->refs, 1) == 1) {
		atomic_fetch_sub(&lookups_running, 1);
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->done_cond);
		free(r);
	}
}

static void *reverse_lookup_thread(void *arg)
{
	struct reverse_lookup *r = arg;
	char name[NI_MAXHOST];
	int rc = getnameinfo((struct sockaddr *)&r->sa, r->salen, name, sizeof name, NULL, 0,
			     NI_NAMEREQD);
	pthread_mutex_lock(&r->lock);
	r->rc = rc;
	if (!rc)
		memcpy(r->name, name, sizeof name);
	r->done = 1;
	pthread_cond_signal(&r->done_cond);
	pthread_mutex_unlock(&r->lock);
	reverse_lookup_put(r);
	return NULL;
}

/* The name of sa, or 0 when no name came within LWS_REVERSE_LOOKUP_MS. */
static int bounded_reverse_lookup(const struct sockaddr_storage *sa, socklen_t salen,
				  char *name, size_t name_len)
{
	if (atomic_fetch_add(&lookups_running, 1) >= LWS_REVERSE_LOOKUPS_MAX) {
		atomic_fetch_sub(&lookups_running, 1);
		return 0;
	}
	struct reverse_lookup *r = calloc(1, sizeof *r);
	if (!r) {
		atomic_fetch_sub(&lookups_running, 1);
		return 0;
	}
	atomic_init(&r->refs, 2);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->done_cond, NULL);
	memcpy(&r->sa, sa, sizeof *sa);
	r->salen = salen;

	pthread_t thread;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, reverse_lookup_thread, r)) {
		pthread_attr_destroy(&attr);
		atomic_store(&r->refs, 1);
		reverse_lookup_put(r);
		return 0;
	}
	pthread_attr_destroy(&attr);

	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += LWS_REVERSE_LOOKUP_MS * 1000000L;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;

	int found = 0;
	pthread_mutex_lock(&r->lock);
	while (!r->done)
		if (pthread_cond_timedwait(&r->done_cond, &r->lock, &deadline) == ETIMEDOUT)
			break;
	if (r->done && !r->rc) {
		snprintf(name, name_len, "%s", r->name);
		found = 1;
	}
	pthread_mutex_unlock(&r->lock);
	reverse_lookup_put(r);
	return found;
}

/* an IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: unwrap it */
static void unmap_v4(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return;
	struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = in6->sin6_port};
	memcpy(&in4.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof *ss);
	memcpy(ss, &in4, sizeof in4);
	*len = sizeof in4;
}

void libwebsockets_get_peer_addresses(int fd, char *name, int name_len, char *rip,
				      int rip_len)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (name && name_len > 0)
		name[0] = '\0';
	if (rip && rip_len > 0)
		rip[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &len)) {
		lwsl_warn("get_peer_addresses: getpeername: %s\n", strerror(errno));
		return;
	}
	unmap_v4(&ss, &len);

	char numeric[NI_MAXHOST];
	if (getnameinfo((struct sockaddr *)&ss, len, numeric, sizeof numeric, NULL, 0,
			NI_NUMERICHOST))
		return;
	if (rip && rip_len > 0)
		snprintf(rip, (size_t)rip_len, "%s", numeric);
	if (name && name_len > 0 &&
	    !bounded_reverse_lookup(&ss, len, name, (size_t)name_len))
		snprintf(name, (size_t)name_len, "%s", numeric);
}

void lws_canonical_hostname_init(struct libwebsocket_context *context)
{
	char host[sizeof context->canonical_hostname];
	if (gethostname(host, sizeof host))
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(context->canonical_hostname, sizeof context->canonical_hostname, "%s", host);
	if (context->options & LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME)
		return;

	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME}, *res;
	if (!getaddrinfo(host, NULL, &hints, &res)) {
		if (res->ai_canonname)
			snprintf(context->canonical_hostname,
				 sizeof context->canonical_hostname, "%s", res->ai_canonname);
		freeaddrinfo(res);
	}
}

const char *libwebsocket_canonical_hostname(struct libwebsocket_context *context)
{
	return context->canonical_hostname;
}

void libwebsockets_hangup_on_client(struct libwebsocket_context *context, int fd)
{
	for (struct libwebsocket *wsi = context->conns; wsi; wsi = wsi->next) {
		if (wsi->fd == fd && wsi->state < LWS_STATE_DRAINING) {
			lws_conn_close(wsi, -1, NULL);
			return;
		}
	}
	lwsl_warn("hangup_on_client: no connection has fd %d\n", fd);
}
