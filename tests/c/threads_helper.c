/*
 * threads_helper.c - a C server for tests/test_threads.py: other threads call
 * libwebsocket_callback_on_writable(_all_protocol) and libwebsockets_broadcast
 * while the main thread runs the service loop.  Built into build-asan, so the
 * sanitizers check the cross-thread path for memory errors and leaks.
 *
 *   threads_helper serve PORT CLIENTS THREADS BROADCASTS WRITES
 *
 * Waits for CLIENTS WebSocket connections (protocol "threads", protocols[0]),
 * then starts THREADS threads.  Thread t, for seq = 0, 1, ...:
 *   - seq < BROADCASTS: libwebsockets_broadcast(&protocols[0], "b t seq");
 *     every connection writes it from its BROADCAST callback;
 *   - seq < WRITES: for every connection, queues "w t seq" on that
 *     connection's own queue (a mutex) and calls
 *     libwebsocket_callback_on_writable(context, wsi); the loop's
 *     SERVER_WRITEABLE callback writes what is queued, in order;
 *   - thread 0, every 16th seq: libwebsocket_callback_on_writable_all_protocol.
 * So every connection gets each "b t seq" and each "w t seq" exactly once,
 * and for each thread t in increasing seq.  The thread that finishes last
 * broadcasts "done" after its other requests: it reaches the loop after every
 * request of every thread (the queue is in order), so once a client has seen
 * "done" no request names its connection any more and it may close.
 * The helper exits 0 when all CLIENTS have closed, after destroying the context.
 *
 *   threads_helper race PORT
 *
 * The race every program with producer threads has: a thread that checks,
 * under a lock, that the connection is still open and calls
 * libwebsocket_callback_on_writable, while the loop is about to report the
 * connection CLOSED (whose callback takes the same lock to mark it closed).
 * Here the thread always wins: the CLOSED callback starts the thread and joins
 * it before marking the connection closed.  The request is made before
 * CLOSED returns, as the header allows; the loop must drop it without
 * touching the wsi, which it frees at the end of that service call when the
 * peer dropped the TCP connection.  The helper serves 1 s more, then exits 0.
 *
 * stdout, line-buffered: "ready PORT", "started", "threads-done",
 * "all-closed".  SIGTERM/SIGINT stop it cleanly too.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#define MSG_MAX 32

static volatile sig_atomic_t stop;
static struct libwebsocket_context *context;
static int want_clients, nthreads, nbroadcasts, nwrites;
static int race_mode;

/* ---- per-connection queues ---- */

struct conn {
	struct libwebsocket *wsi;
	pthread_mutex_t lock;
	char (*queue)[MSG_MAX]; /* nthreads * nwrites slots */
	size_t head, tail;
	int closed;
};

static struct conn *conns;
static int established, closed_count;
static atomic_int threads_left;
static pthread_t *threads;
static int threads_started, threads_joined;

struct session {
	int index;
};

static void queue_push(struct conn *c, const char *msg)
{
	pthread_mutex_lock(&c->lock);
	snprintf(c->queue[c->tail++], MSG_MAX, "%s", msg);
	pthread_mutex_unlock(&c->lock);
}

/* the next queued message into out; 0 if none */
static int queue_pop(struct conn *c, char *out)
{
	int got = 0;
	pthread_mutex_lock(&c->lock);
	if (c->head < c->tail) {
		memcpy(out, c->queue[c->head++], MSG_MAX);
		got = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return got;
}

static struct libwebsocket_protocols protocols[];

static int write_text(struct libwebsocket *wsi, const char *text)
{
	unsigned char buf[LWS_SEND_BUFFER_PRE_PADDING + MSG_MAX + LWS_SEND_BUFFER_POST_PADDING];
	size_t n = strlen(text);
	memcpy(buf + LWS_SEND_BUFFER_PRE_PADDING, text, n);
	return libwebsocket_write(wsi, buf + LWS_SEND_BUFFER_PRE_PADDING, n, LWS_WRITE_TEXT);
}

/* ---- the threads ---- */

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	int rounds = nbroadcasts > nwrites ? nbroadcasts : nwrites;
	char msg[MSG_MAX];

	for (int seq = 0; seq < rounds; seq++) {
		if (seq < nbroadcasts) {
			int n = snprintf(msg, sizeof msg, "b %d %d", t, seq);
			if (libwebsockets_broadcast(&protocols[0], (unsigned char *)msg, (size_t)n))
				fprintf(stderr, "broadcast failed\n");
		}
		if (seq < nwrites) {
			snprintf(msg, sizeof msg, "w %d %d", t, seq);
			for (int c = 0; c < want_clients; c++) {
				queue_push(&conns[c], msg);
				if (libwebsocket_callback_on_writable(context, conns[c].wsi) < 0)
					fprintf(stderr, "callback_on_writable failed\n");
			}
		}
		if (t == 0 && seq % 16 == 0)
			libwebsocket_callback_on_writable_all_protocol(&protocols[0]);
	}
	/* the last one out says "done", behind every request made before */
	if (atomic_fetch_sub(&threads_left, 1) == 1)
		libwebsockets_broadcast(&protocols[0], (unsigned char *)"done", 4);
	return NULL;
}

static void start_threads(void)
{
	threads = calloc((size_t)nthreads, sizeof *threads);
	atomic_store(&threads_left, nthreads);
	for (int t = 0; t < nthreads; t++)
		pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t);
	threads_started = 1;
	printf("started\n");
}

static void join_threads(void)
{
	if (!threads_started || threads_joined)
		return;
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	free(threads);
	threads = NULL;
	threads_joined = 1;
	printf("threads-done\n");
}

/* ---- race mode: a request made just before the connection closes ---- */

static void *request_writable(void *wsi)
{
	libwebsocket_callback_on_writable(context, wsi);
	return NULL;
}

static long long race_closed_at;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the protocol ---- */

static int callback_threads(struct libwebsocket_context *ctx, struct libwebsocket *wsi,
			    enum libwebsocket_callback_reasons reason, void *user, void *in,
			    size_t len)
{
	struct session *pss = user;
	(void)ctx;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (race_mode) {
			pss->index = 0;
			return 0;
		}
		if (established >= want_clients)
			return -1; /* more than asked for */
		pss->index = established++;
		conns[pss->index].wsi = wsi;
		if (established == want_clients)
			start_threads();
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		if (race_mode)
			return 0;
		struct conn *c = &conns[pss->index];
		char msg[MSG_MAX];
		while (queue_pop(c, msg)) {
			if (write_text(wsi, msg) < 0)
				return -1;
			if (lws_send_pipe_choked(wsi)) {
				libwebsocket_callback_on_writable(context, wsi);
				break;
			}
		}
		return 0;
	}

	case LWS_CALLBACK_BROADCAST:
		/* in has LWS_SEND_BUFFER_PRE_PADDING before it: write in place */
		return libwebsocket_write(wsi, in, len, LWS_WRITE_TEXT) < 0 ? -1 : 0;

	case LWS_CALLBACK_CLOSED:
		if (race_mode) {
			/* the producer thread got the lock first: its request is
			 * made before the connection is marked closed */
			pthread_t t;
			pthread_create(&t, NULL, request_writable, wsi);
			pthread_join(t, NULL);
			race_closed_at = now_ms();
			return 0;
		}
		conns[pss->index].closed = 1;
		closed_count++;
		return 0;

	default:
		return 0;
	}
}

static struct libwebsocket_protocols protocols[] = {
	{ "threads", callback_threads, sizeof(struct session), NULL, 0, 0, 0 },
	{ NULL, NULL, 0, NULL, 0, 0, 0 },
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: threads_helper serve PORT CLIENTS THREADS BROADCASTS WRITES\n"
			"       threads_helper race PORT\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	int port = atoi(argv[2]);
	if (!strcmp(argv[1], "serve") && argc == 7) {
		want_clients = atoi(argv[3]);
		nthreads = atoi(argv[4]);
		nbroadcasts = atoi(argv[5]);
		nwrites = atoi(argv[6]);
		if (want_clients < 1 || nthreads < 1 || nbroadcasts < 0 || nwrites < 0)
			return usage();
	} else if (!strcmp(argv[1], "race") && argc == 3) {
		race_mode = 1;
	} else {
		return usage();
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!race_mode) {
		conns = calloc((size_t)want_clients, sizeof *conns);
		for (int c = 0; c < want_clients; c++) {
			pthread_mutex_init(&conns[c].lock, NULL);
			conns[c].queue = calloc((size_t)nthreads * (size_t)nwrites + 1, MSG_MAX);
		}
	}

	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	context = libwebsocket_create_context(port, "127.0.0.1", protocols, NULL, NULL, NULL,
					      NULL, -1, -1, 0, NULL);
	if (!context) {
		perror("libwebsocket_create_context");
		return 1;
	}
	printf("ready %d\n", port);

	int rc = 0;
	while (!stop) {
		if (libwebsocket_service(context, 50) < 0) {
			rc = 1;
			break;
		}
		if (!race_mode && threads_started && atomic_load(&threads_left) == 0)
			join_threads();
		if (!race_mode && threads_joined && closed_count == want_clients) {
			printf("all-closed\n");
			break;
		}
		if (race_mode && race_closed_at && now_ms() - race_closed_at > 1000)
			break;
	}

	/* a stop before the threads finished: let them finish first */
	if (!race_mode && threads_started) {
		while (atomic_load(&threads_left) > 0)
			libwebsocket_service(context, 10);
		join_threads();
	}
	libwebsocket_context_destroy(context);
	if (!race_mode) {
		for (int c = 0; c < want_clients; c++) {
			pthread_mutex_destroy(&conns[c].lock);
			free(conns[c].queue);
		}
		free(conns);
	}
	return rc;
}
