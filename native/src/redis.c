/*
 * redis.c - the Redis Streams backplane of libwebsockets_broadcast.
 *
 * lws_context_attach_redis() makes every broadcast of the context also an
 * entry of one Redis stream (XADD key MAXLEN ~ N * o ORIGIN s SEQ p PROTOCOL
 * d DATA), and delivers the entries other processes add to it to the
 * connections of the named protocol here.  Two hiredis async connections,
 * both driven by the context's own loop (their descriptors are registered
 * through poll.c like any other, so external-poll users see them too):
 *
 *   writer  AUTH/SELECT/PING, then the XADDs of the outbox in order;
 *   reader  AUTH/SELECT/PING, XINFO STREAM (where to start; was it reset?),
 *           then XREAD BLOCK 0 from the last id delivered, again and again.
 *
 * Every broadcast is delivered locally at once and queued in the outbox,
 * which keeps it until Redis acknowledges the XADD; while Redis is
 * unreachable the outbox grows up to its limits (oldest dropped beyond them,
 * with a log line) and is published in order on reconnect.  An XADD whose
 * reply was lost with the connection is sent again: readers drop an entry
 * whose (origin, seq) they have seen, and skip their own origin's entries,
 * so nothing is delivered twice.  The reader resumes from the last id it
 * delivered, so nothing within the stream's retained window is lost; entries
 * trimmed before it read them show as gaps in a publisher's seq (logged).
 *
 * Reconnection uses the context's timer (exponential backoff); no thread,
 * no periodic wakeup while all is well.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>

#include "private.h"
#include "util.h"

#define ORIGIN_HEX 32
#define MAX_ORIGINS 1024  /* publishers remembered for de-duplication */
#define MAX_INFLIGHT 1024 /* XADDs sent and not acknowledged yet */
#define MAX_INFLIGHT_BYTES ((size_t)8 * 1024 * 1024) /* ... and their bytes */
#define XREAD_COUNT "64"

struct lws_redis_item {
	struct lws_redis_item *next;
	uint64_t seq;
	int protocol;
	uint8_t sent; /* XADD written, reply pending */
	size_t len;
	unsigned char data[];
};

struct lws_redis_origin {
	char id[ORIGIN_HEX + 1];
	uint64_t seq;  /* highest seq delivered from it */
	uint64_t used; /* for eviction: least recently seen goes */
};

struct lws_redis_link {
	struct lws_watch watch; /* LWS_FD_REDIS; first, see struct lws_watch */
	struct lws_redis *r;
	const char *name;
	redisAsyncContext *ac;
	int fd;
	int watched;
	uint32_t events;
	int ready;         /* setup replies in: usable */
	int backoff_ms;
	int64_t retry_at;  /* monotonic ms of the next connect, 0 = none */
	int64_t deadline;  /* connect/setup, or oldest unacknowledged XADD */
};

struct lws_redis {
	struct libwebsocket_context *context;
	char *host, *user, *pass, *key;
	int port, db;
	char origin[ORIGIN_HEX + 1];
	struct lws_redis_link writer, reader;
	int destroying;
	int outage_logged; /* "unreachable" said once per outage */
	int was_up;        /* both links were ready once */

	/* the outbox: broadcasts not acknowledged by Redis yet, oldest first */
	struct lws_redis_item *head, *tail;
	size_t count, bytes, inflight, inflight_bytes, dropped;
	uint64_t next_seq;

	/* the reader's position */
	int have_start;
	uint64_t last_ms, last_seq; /* last id delivered (or the start) */
	uint64_t lost;              /* entries never read: gaps in a publisher's seq */
	int64_t attach_ms;          /* wall clock at attach: the first start id */

	struct lws_redis_origin *origins;
	size_t n_origins;
	uint64_t use_clock;

	/* options */
	long long max_message, maxlen, pending_max, pending_bytes;
	long long backoff_min, backoff_max, timeout_ms;
};

static void link_connect(struct lws_redis_link *l);
static void writer_flush(struct lws_redis *r);
static void reader_next(struct lws_redis *r);

/* ---- the URL ---- */

static char *dup_range(const char *a, const char *b)
{
	char *s = malloc((size_t)(b - a) + 1);
	if (s) {
		memcpy(s, a, (size_t)(b - a));
		s[b - a] = '\0';
	}
	return s;
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(struct lws_redis *r, const char *url)
{
	if (strncmp(url, "redis://", 8)) {
		lwsl_err("redis: '%s' is not a redis:// URL\n", url);
		return -1;
	}
	const char *p = url + 8, *end = p + strlen(p);
	const char *slash = strchr(p, '/');
	const char *hostend = slash ? slash : end;
	const char *at = memrchr(p, '@', (size_t)(hostend - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (colon > p && !(r->user = dup_range(p, colon)))
				return -1;
			if (!(r->pass = dup_range(colon + 1, at)))
				return -1;
		} else if (!(r->pass = dup_range(p, at))) {
			return -1;
		}
		p = at + 1;
	}
	const char *portsep = NULL;
	const char *hs = p, *he;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(hostend - p));
		if (!close)
			goto bad;
		hs = p + 1;
		he = close;
		if (close + 1 < hostend) {
			if (close[1] != ':')
				goto bad;
			portsep = close + 1;
		}
	} else {
		portsep = memchr(p, ':', (size_t)(hostend - p));
		he = portsep ? portsep : hostend;
	}
	if (he == hs)
		goto bad;
	if (!(r->host = dup_range(hs, he)))
		return -1;
	r->port = 6379;
	if (portsep) {
		char *e;
		long v = strtol(portsep + 1, &e, 10);
		if (e != hostend || portsep + 1 == hostend || v < 1 || v > 65535)
			goto bad;
		r->port = (int)v;
	}
	if (slash && slash[1]) {
		char *e;
		long v = strtol(slash + 1, &e, 10);
		if (*e || v < 0 || v > 100000)
			goto bad;
		r->db = (int)v;
	}
	return 0;
bad:
	lwsl_err("redis: cannot parse the URL (redis://[[user]:password@]host[:port][/db])\n");
	return -1;
}

/* ---- stream ids ---- */

static int parse_id(const char *s, size_t len, uint64_t *ms, uint64_t *seq)
{
	char buf[48];
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *e;
	errno = 0;
	*ms = strtoull(buf, &e, 10);
	*seq = 0;
	if (*e == '-')
		*seq = strtoull(e + 1, &e, 10);
	return *e || errno ? -1 : 0;
}

static int id_cmp(uint64_t ams, uint64_t aseq, uint64_t bms, uint64_t bseq)
{
	if (ams != bms)
		return ams < bms ? -1 : 1;
	return aseq < bseq ? -1 : aseq > bseq;
}

/* ---- the event hooks: hiredis asks, poll.c registers ---- */

static void ev_set(struct lws_redis_link *l, uint32_t add, uint32_t del)
{
	if (!l->ac)
		return;
	uint32_t to = (l->events | add) & ~del;
	struct libwebsocket_context *context = l->r->context;
	if (!l->watched) {
		if (lws_poll_add(context, l->fd, l, to))
			return; /* logged; the connect deadline ends the attempt */
		l->watched = 1;
	} else if (to != l->events) {
		lws_poll_change(context, l->fd, l, l->events, to);
	}
	l->events = to;
}

static void ev_add_read(void *p) { ev_set(p, EPOLLIN, 0); }
static void ev_del_read(void *p) { ev_set(p, 0, EPOLLIN); }
static void ev_add_write(void *p) { ev_set(p, EPOLLOUT, 0); }
static void ev_del_write(void *p) { ev_set(p, 0, EPOLLOUT); }

static int both_ready(const struct lws_redis *r)
{
	return r->writer.ready && r->reader.ready;
}

/* The connection is gone (hiredis frees it after this). */
static void ev_cleanup(void *p)
{
	struct lws_redis_link *l = p;
	struct lws_redis *r = l->r;
	int was_ready = l->ready;
	const char *why = l->ac && l->ac->errstr && l->ac->err ? l->ac->errstr : "closed";
	char whybuf[128];
	snprintf(whybuf, sizeof whybuf, "%s", why);
	int fd = l->fd, watched = l->watched;
	l->ac = NULL;
	l->ready = 0;
	l->watched = 0;
	l->events = 0;
	l->deadline = 0;
	if (l == &r->writer) {
		/* what was sent and not acknowledged is sent again */
		r->inflight = 0;
		r->inflight_bytes = 0;
		for (struct lws_redis_item *it = r->head; it; it = it->next)
			it->sent = 0;
	}
	if (watched)
		lws_poll_del(r->context, fd, l);
	if (r->destroying)
		return;
	if (!r->outage_logged) {
		r->outage_logged = 1;
		if (was_ready || r->was_up)
			lwsl_err("redis: lost the %s connection to %s:%d (%s); broadcasting "
				 "locally, reconnecting\n", l->name, r->host, r->port, whybuf);
		else
			lwsl_err("redis: cannot reach %s:%d (%s); broadcasting locally, "
				 "retrying\n", r->host, r->port, whybuf);
	}
	int64_t now = lws_now_ms();
	l->retry_at = now + l->backoff_ms;
	l->backoff_ms = l->backoff_ms * 2 > r->backoff_max ? (int)r->backoff_max
							    : l->backoff_ms * 2;
}

/* Drop it now (after the running callback, if in one): a pending XREAD BLOCK
 * would hold off redisAsyncDisconnect forever. */
static void link_drop(struct lws_redis_link *l)
{
	if (l->ac)
		redisAsyncFree(l->ac);
}

static void link_ready(struct lws_redis_link *l)
{
	struct lws_redis *r = l->r;
	l->ready = 1;
	l->deadline = 0;
	l->backoff_ms = (int)r->backoff_min;
	if (both_ready(r)) {
		if (r->outage_logged || !r->was_up)
			lwsl_notice("redis: connected to %s:%d, stream '%s'\n", r->host, r->port,
				    r->key);
		r->outage_logged = 0;
		r->was_up = 1;
		if (r->dropped) {
			lwsl_err("redis: %zu broadcasts were dropped while Redis was "
				 "unreachable (pending limit)\n", r->dropped);
			r->dropped = 0;
		}
	}
}

/* ---- setup: AUTH, SELECT, PING ---- */

static int reply_failed(struct lws_redis_link *l, const redisReply *reply, const char *what)
{
	if (!reply)
		return 1; /* the connection is going away */
	if (reply->type == REDIS_REPLY_ERROR) {
		if (!l->r->outage_logged) {
			l->r->outage_logged = 1;
			lwsl_err("redis: %s failed: %s; retrying\n", what, reply->str);
		}
		link_drop(l);
		return 1;
	}
	return 0;
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	reply_failed(priv, reply, "AUTH");
}

static void on_select(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	reply_failed(priv, reply, "SELECT");
}

static void on_xinfo(redisAsyncContext *ac, void *reply, void *priv);

static void on_ping(redisAsyncContext *ac, void *reply, void *priv)
{
	struct lws_redis_link *l = priv;
	struct lws_redis *r = l->r;
	if (reply_failed(l, reply, "PING") || !l->ac)
		return;
	if (l == &r->writer) {
		link_ready(l);
		writer_flush(r);
	} else {
		const char *argv[] = {"XINFO", "STREAM", r->key};
		redisAsyncCommandArgv(ac, on_xinfo, l, 3, argv, NULL);
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	(void)ac;
	(void)status; /* a failure frees the context: ev_cleanup reports it */
}

static void link_connect(struct lws_redis_link *l)
{
	struct lws_redis *r = l->r;
	l->retry_at = 0;
	redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
	if (!ac || ac->err) {
		if (!r->outage_logged) {
			r->outage_logged = 1;
			lwsl_err("redis: cannot reach %s:%d (%s); broadcasting locally, retrying\n",
				 r->host, r->port, ac ? ac->errstr : "out of memory");
		}
		if (ac)
			redisAsyncFree(ac);
		l->retry_at = lws_now_ms() + l->backoff_ms;
		l->backoff_ms = l->backoff_ms * 2 > r->backoff_max ? (int)r->backoff_max
								    : l->backoff_ms * 2;
		return;
	}
	l->ac = ac;
	l->fd = ac->c.fd;
	l->watched = 0;
	l->events = 0;
	l->deadline = lws_now_ms() + r->timeout_ms;
	redisEnableKeepAlive(&ac->c);
	ac->ev.data = l;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	redisAsyncSetConnectCallback(ac, on_connect);
	if (r->pass) {
		if (r->user) {
			const char *argv[] = {"AUTH", r->user, r->pass};
			redisAsyncCommandArgv(ac, on_auth, l, 3, argv, NULL);
		} else {
			const char *argv[] = {"AUTH", r->pass};
			redisAsyncCommandArgv(ac, on_auth, l, 2, argv, NULL);
		}
	}
	if (r->db)
		redisAsyncCommand(ac, on_select, l, "SELECT %d", r->db);
	redisAsyncCommand(ac, on_ping, l, "PING");
}

/* ---- the writer: the outbox in order ---- */

static void item_pop(struct lws_redis *r)
{
	struct lws_redis_item *it = r->head;
	r->head = it->next;
	if (!r->head)
		r->tail = NULL;
	r->count--;
	r->bytes -= it->len;
	free(it);
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	struct lws_redis *r = priv;
	redisReply *rep = reply;
	if (!rep || !r->head || !r->head->sent)
		return; /* the connection went: the outbox is sent again */
	/* refused (OOM, READONLY after a failover, an ACL change...): kept, and
	 * sent again after a reconnect with backoff; the outbox limits bound it */
	if (reply_failed(&r->writer, rep, "XADD"))
		return;
	r->inflight_bytes -= r->head->len;
	item_pop(r);
	r->inflight--;
	/* progress: the next unacknowledged one gets a fresh deadline */
	r->writer.deadline = r->inflight ? lws_now_ms() + r->timeout_ms : 0;
	writer_flush(r);
}

static void writer_flush(struct lws_redis *r)
{
	struct lws_redis_link *l = &r->writer;
	if (!l->ready || !l->ac)
		return;
	char maxlen[24], seq[24];
	snprintf(maxlen, sizeof maxlen, "%lld", r->maxlen);
	for (struct lws_redis_item *it = r->head;
	     it && r->inflight < MAX_INFLIGHT &&
	     (!r->inflight || r->inflight_bytes + it->len <= MAX_INFLIGHT_BYTES);
	     it = it->next) {
		if (it->sent)
			continue;
		snprintf(seq, sizeof seq, "%" PRIu64, it->seq);
		const char *pname = r->context->protocols[it->protocol].name;
		const char *argv[] = {"XADD", r->key, "MAXLEN", "~", maxlen, "*", "o", r->origin,
				      "s",    seq,    "p",      pname, "d", (const char *)it->data};
		size_t argl[14];
		for (int i = 0; i < 13; i++)
			argl[i] = strlen(argv[i]);
		argl[13] = it->len;
		if (redisAsyncCommandArgv(l->ac, on_xadd, r, 14, argv, argl) != REDIS_OK)
			return;
		if (!r->inflight)
			l->deadline = lws_now_ms() + r->timeout_ms;
		it->sent = 1;
		r->inflight++;
		r->inflight_bytes += it->len;
	}
}

/* Keep the outbox within its limits: the oldest unsent ones go. */
static void outbox_trim(struct lws_redis *r)
{
	while (r->count > (size_t)r->pending_max || r->bytes > (size_t)r->pending_bytes) {
		struct lws_redis_item **pp = &r->head;
		while (*pp && (*pp)->sent)
			pp = &(*pp)->next;
		struct lws_redis_item *it = *pp;
		if (!it || it == r->tail)
			return; /* only the newest or sent ones: let them be */
		*pp = it->next;
		r->count--;
		r->bytes -= it->len;
		if (!r->dropped)
			lwsl_err("redis: more than %lld broadcasts (%lld bytes) wait for Redis: "
				 "dropping the oldest\n", r->pending_max, r->pending_bytes);
		r->dropped++;
		free(it);
	}
}

int lws_redis_check_size(struct libwebsocket_context *context, size_t len)
{
	struct lws_redis *r = context->redis;
	if (r && len > (size_t)r->max_message) {
		lwsl_err("broadcast of %zu bytes refused: larger than the Redis backplane's "
			 "limit of %lld\n", len, r->max_message);
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

void lws_redis_publish(struct libwebsocket_context *context,
		       const struct libwebsocket_protocols *protocol,
		       const unsigned char *buf, size_t len)
{
	struct lws_redis *r = context->redis;
	if (!r || r->destroying || len > (size_t)r->max_message)
		return;
	struct lws_redis_item *it = malloc(sizeof *it + len + 1);
	if (!it) {
		lwsl_err("redis: out of memory: broadcast not published\n");
		return;
	}
	it->next = NULL;
	it->seq = ++r->next_seq;
	it->protocol = (int)(protocol - context->protocols);
	it->sent = 0;
	it->len = len;
	if (len)
		memcpy(it->data, buf, len);
	it->data[len] = '\0';
	if (r->tail)
		r->tail->next = it;
	else
		r->head = it;
	r->tail = it;
	r->count++;
	r->bytes += len;
	outbox_trim(r);
	writer_flush(r);
}

/* ---- the reader ---- */

static const redisReply *info_field(const redisReply *rep, const char *name)
{
	for (size_t i = 0; i + 1 < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(rep->element[i]->str, name))
			return rep->element[i + 1];
	return NULL;
}

static void on_xinfo(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	struct lws_redis_link *l = priv;
	struct lws_redis *r = l->r;
	redisReply *rep = reply;
	if (!rep || !l->ac)
		return;
	/* no stream yet: an empty one */
	uint64_t g_ms = 0, g_seq = 0;
	if (rep->type == REDIS_REPLY_ARRAY) {
		const redisReply *v = info_field(rep, "last-generated-id");
		if (v && v->type == REDIS_REPLY_STRING)
			parse_id(v->str, v->len, &g_ms, &g_seq);
	} else if (rep->type == REDIS_REPLY_ERROR && !strstr(rep->str, "no such key")) {
		reply_failed(l, rep, "XINFO STREAM");
		return;
	}

	if (!r->have_start) {
		/* the first time: the entries added since the attach */
		r->have_start = 1;
		r->last_ms = (uint64_t)r->attach_ms;
		r->last_seq = 0;
	} else if (id_cmp(g_ms, g_seq, r->last_ms, r->last_seq) < 0) {
		/* Redis came back without its data: every entry is new */
		lwsl_err("redis: stream '%s' was reset (its last id is before ours): reading "
			 "it from the start\n", r->key);
		r->last_ms = r->last_seq = 0;
	}
	/* what was trimmed away meanwhile shows as gaps in the publishers' seqs */
	link_ready(l);
	reader_next(r);
}

static struct lws_redis_origin *origin_slot(struct lws_redis *r, const char *id, size_t len)
{
	struct lws_redis_origin *lru = NULL;
	for (size_t i = 0; i < r->n_origins; i++) {
		struct lws_redis_origin *o = &r->origins[i];
		if (strlen(o->id) == len && !memcmp(o->id, id, len))
			return o;
		if (!lru || o->used < lru->used)
			lru = o;
	}
	struct lws_redis_origin *o = r->n_origins < MAX_ORIGINS ? &r->origins[r->n_origins++] : lru;
	memcpy(o->id, id, len);
	o->id[len] = '\0';
	o->seq = 0;
	return o;
}

static void deliver(struct lws_redis *r, const redisReply *fields)
{
	const redisReply *o = NULL, *s = NULL, *p = NULL, *d = NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len != 1)
			continue;
		switch (k->str[0]) {
		case 'o': o = v; break;
		case 's': s = v; break;
		case 'p': p = v; break;
		case 'd': d = v; break;
		}
	}
	if (!o || !s || !p || !d || o->len > ORIGIN_HEX)
		return; /* not one of ours */
	if (o->len == strlen(r->origin) && !memcmp(o->str, r->origin, o->len))
		return; /* delivered here when it was made */
	uint64_t ms, seq;
	if (parse_id(s->str, s->len, &ms, &seq))
		return;
	struct lws_redis_origin *slot = origin_slot(r, o->str, o->len);
	slot->used = ++r->use_clock;
	if (ms <= slot->seq)
		return; /* sent again after a lost reply: delivered already */
	if (slot->seq && ms > slot->seq + 1)
		r->lost += ms - slot->seq - 1; /* trimmed before we read them */
	slot->seq = ms;

	struct libwebsocket_context *context = r->context;
	const struct libwebsocket_protocols *protocol = NULL;
	for (int i = 0; i < context->num_protocols; i++)
		if (context->protocols[i].name && strlen(context->protocols[i].name) == p->len &&
		    !memcmp(context->protocols[i].name, p->str, p->len)) {
			protocol = &context->protocols[i];
			break;
		}
	if (!protocol)
		return;
	/* the callback may write it in place: pre- and post-padding around it */
	unsigned char *block = NULL, *buf;
	if (d->len <= LWS_RX_BUFFER_SIZE) {
		buf = context->rx + LWS_SEND_BUFFER_PRE_PADDING;
	} else {
		block = malloc(LWS_SEND_BUFFER_PRE_PADDING + d->len + LWS_SEND_BUFFER_POST_PADDING);
		if (!block) {
			lwsl_err("redis: out of memory for a %zu-byte broadcast\n", d->len);
			return;
		}
		buf = block + LWS_SEND_BUFFER_PRE_PADDING;
	}
	memcpy(buf, d->str, d->len);
	lws_broadcast_dispatch(context, protocol, buf, d->len);
	free(block);
}

static void on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	struct lws_redis *r = priv;
	redisReply *rep = reply;
	if (!rep || !r->reader.ac)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		reply_failed(&r->reader, rep, "XREAD");
		return;
	}
	if (rep->type == REDIS_REPLY_ARRAY) {
		for (size_t k = 0; k < rep->elements; k++) {
			const redisReply *stream = rep->element[k];
			if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
			    stream->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			const redisReply *entries = stream->element[1];
			for (size_t i = 0; i < entries->elements; i++) {
				const redisReply *e = entries->element[i];
				uint64_t ms, seq;
				if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
				    e->element[0]->type != REDIS_REPLY_STRING ||
				    parse_id(e->element[0]->str, e->element[0]->len, &ms, &seq))
					continue;
				r->last_ms = ms;
				r->last_seq = seq;
				if (e->element[1]->type == REDIS_REPLY_ARRAY)
					deliver(r, e->element[1]);
				if (!r->reader.ac || r->destroying)
					return;
			}
		}
	}
	if (r->lost) {
		lwsl_err("redis: %" PRIu64 " broadcasts were lost: stream '%s' dropped them "
			 "(MAXLEN, or a publisher's pending limit) before this process read them\n",
			 r->lost, r->key);
		r->lost = 0;
	}
	reader_next(r);
}

static void reader_next(struct lws_redis *r)
{
	if (!r->reader.ac || r->destroying)
		return;
	char id[48];
	snprintf(id, sizeof id, "%" PRIu64 "-%" PRIu64, r->last_ms, r->last_seq);
	const char *argv[] = {"XREAD", "COUNT", XREAD_COUNT, "BLOCK", "0", "STREAMS", r->key, id};
	redisAsyncCommandArgv(r->reader.ac, on_xread, r, 8, argv, NULL);
}

/* ---- the loop's side ---- */

static void redis_ready(struct libwebsocket_context *context, struct lws_watch *w,
			uint32_t events)
{
	(void)context;
	struct lws_redis_link *l = (struct lws_redis_link *)w;
	if (l->ac && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		redisAsyncHandleRead(l->ac);
	if (l->ac && (events & EPOLLOUT))
		redisAsyncHandleWrite(l->ac);
}

int64_t lws_redis_due(struct libwebsocket_context *context)
{
	struct lws_redis *r = context->redis;
	if (!r)
		return 0;
	int64_t due = 0;
	const struct lws_redis_link *links[] = {&r->writer, &r->reader};
	for (int i = 0; i < 2; i++) {
		int64_t t[] = {links[i]->retry_at, links[i]->deadline};
		for (int j = 0; j < 2; j++)
			if (t[j] && (!due || t[j] < due))
				due = t[j];
	}
	return due;
}

void lws_redis_tick(struct libwebsocket_context *context, int64_t now)
{
	struct lws_redis *r = context->redis;
	struct lws_redis_link *links[] = {&r->writer, &r->reader};
	for (int i = 0; i < 2; i++) {
		struct lws_redis_link *l = links[i];
		if (l->deadline && l->deadline <= now && l->ac) {
			l->deadline = 0;
			if (!r->outage_logged) {
				r->outage_logged = 1;
				lwsl_err("redis: %s:%d did not answer within %lld ms; broadcasting "
					 "locally, reconnecting\n", r->host, r->port, r->timeout_ms);
			}
			/* both: a reader blocked in XREAD would not notice by itself
			 * (ev_cleanup schedules the retries) */
			for (int j = 0; j < 2; j++)
				if (links[j]->ac)
					redisAsyncFree(links[j]->ac);
		}
	}
	for (int i = 0; i < 2; i++)
		if (links[i]->retry_at && links[i]->retry_at <= now && !links[i]->ac)
			link_connect(links[i]);
}

/* ---- the public API ---- */

static void random_origin(char out[ORIGIN_HEX + 1])
{
	unsigned char raw[ORIGIN_HEX / 2];
	if (lws_os_random(raw, sizeof raw)) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		snprintf((char *)raw, sizeof raw, "%ld%ld", (long)tv.tv_sec, (long)tv.tv_usec);
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[ORIGIN_HEX] = '\0';
}

static void redis_free(struct lws_redis *r)
{
	free(r->host);
	free(r->user);
	free(r->pass);
	free(r->key);
	free(r->origins);
	while (r->head)
		item_pop(r);
	free(r);
}

int lws_context_attach_redis(struct libwebsocket_context *context, const char *url,
			     const char *stream_key)
{
	if (!context || !url || !stream_key || !*stream_key) {
		lwsl_err("attach_redis: a context, a URL and a stream key are needed\n");
		errno = EINVAL;
		return -1;
	}
	if (context->redis) {
		lwsl_err("attach_redis: the context is attached already\n");
		errno = EALREADY;
		return -1;
	}
	if (!lws_on_loop_thread(context)) {
		lwsl_err("attach_redis: call it from the thread that runs the service loop\n");
		errno = EPERM;
		return -1;
	}
	struct lws_redis *r = calloc(1, sizeof *r);
	if (!r) {
		errno = ENOMEM;
		return -1;
	}
	r->context = context;
	if (parse_url(r, url)) {
		redis_free(r);
		errno = EINVAL;
		return -1;
	}
	r->key = strdup(stream_key);
	r->origins = calloc(MAX_ORIGINS, sizeof *r->origins);
	if (!r->key || !r->origins) {
		redis_free(r);
		errno = ENOMEM;
		return -1;
	}
	r->max_message = 1024 * 1024;
	r->maxlen = 10000;
	r->pending_max = 10000;
	r->pending_bytes = 64LL * 1024 * 1024;
	r->backoff_min = 100;
	r->backoff_max = 5000;
	r->timeout_ms = 5000;
	random_origin(r->origin);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	r->attach_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	struct lws_redis_link *links[] = {&r->writer, &r->reader};
	const char *names[] = {"writer", "reader"};
	for (int i = 0; i < 2; i++) {
		links[i]->watch.kind = LWS_FD_REDIS;
		links[i]->watch.ready = redis_ready;
		links[i]->r = r;
		links[i]->name = names[i];
		links[i]->fd = -1;
		links[i]->backoff_ms = (int)r->backoff_min;
	}
	context->redis = r;
	context->backplane_due = lws_redis_due; /* poll.c's timer asks it */
	link_connect(&r->writer);
	link_connect(&r->reader);
	lws_timer_update(context);
	return 0;
}

int lws_context_redis_option(struct libwebsocket_context *context,
			     enum lws_redis_option option, long long value)
{
	struct lws_redis *r = context ? context->redis : NULL;
	if (!r) {
		lwsl_err("redis_option: the context is not attached to Redis\n");
		errno = EINVAL;
		return -1;
	}
	long long *slot = NULL;
	long long min = 1, max = LLONG_MAX;
	switch (option) {
	case LWS_REDIS_MAX_MESSAGE:
		slot = &r->max_message;
		max = 512LL * 1024 * 1024; /* Redis' largest bulk string */
		break;
	case LWS_REDIS_STREAM_MAXLEN: slot = &r->maxlen; break;
	case LWS_REDIS_PENDING_MAX: slot = &r->pending_max; break;
	case LWS_REDIS_PENDING_BYTES: slot = &r->pending_bytes; break;
	case LWS_REDIS_RECONNECT_MIN_MS: slot = &r->backoff_min; max = 3600000; break;
	case LWS_REDIS_RECONNECT_MAX_MS: slot = &r->backoff_max; max = 3600000; break;
	case LWS_REDIS_TIMEOUT_MS: slot = &r->timeout_ms; max = 3600000; break;
	}
	if (!slot || value < min || value > max) {
		lwsl_err("redis_option: option %d value %lld out of range\n", (int)option, value);
		errno = EINVAL;
		return -1;
	}
	*slot = value;
	if (r->backoff_max < r->backoff_min)
		r->backoff_max = r->backoff_min;
	if (option == LWS_REDIS_RECONNECT_MIN_MS) {
		r->writer.backoff_ms = r->reader.backoff_ms = (int)value;
	}
	outbox_trim(r);
	return 0;
}

int lws_context_redis_state(struct libwebsocket_context *context)
{
	struct lws_redis *r = context ? context->redis : NULL;
	if (!r)
		return 0;
	return both_ready(r) ? 2 : 1;
}

void lws_redis_destroy(struct libwebsocket_context *context)
{
	struct lws_redis *r = context->redis;
	if (!r)
		return;
	r->destroying = 1;
	size_t unsent = r->count - r->inflight;
	if (r->writer.ac)
		redisAsyncFree(r->writer.ac);
	if (r->reader.ac)
		redisAsyncFree(r->reader.ac);
	if (unsent)
		lwsl_warn("redis: %zu broadcasts not published: the context is destroyed\n",
			  unsent);
	context->redis = NULL;
	context->backplane_due = NULL;
	redis_free(r);
}
