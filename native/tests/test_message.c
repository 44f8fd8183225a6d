/*
 * test_message.c - whole-message gathering (message.c, lws_set_whole_messages):
 * pieces kept until the final one, the whole handed on with a 0 byte after it,
 * a one-piece message handed on where it lies, the size bound.
 */
#include "private.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

static struct libwebsocket *new_wsi(void)
{
	struct libwebsocket *wsi = calloc(1, sizeof *wsi);
	CHECK(wsi != NULL);
	return wsi;
}

static void test_one_piece_is_not_copied(void)
{
	struct libwebsocket *wsi = new_wsi();
	uint8_t piece[] = "hello";
	uint8_t *data = piece;
	size_t len = 5;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 1, 100), LWS_MSG_WHOLE);
	CHECK(data == piece);
	CHECK_EQ(len, 5);
	CHECK(wsi->msg == NULL);
	free(wsi);
}

static void test_pieces_are_joined(void)
{
	struct libwebsocket *wsi = new_wsi();
	const char *pieces[] = {"he", "", "llo ", "world"};
	for (int i = 0; i < 4; i++) {
		uint8_t *data = (uint8_t *)pieces[i];
		size_t len = strlen(pieces[i]);
		int r = lws_msg_gather(wsi, &data, &len, i == 3, 100);
		if (i < 3) {
			CHECK_EQ(r, LWS_MSG_KEEP);
			continue;
		}
		CHECK_EQ(r, LWS_MSG_WHOLE);
		CHECK_EQ(len, 11);
		CHECK(!memcmp(data, "hello world", 11));
		CHECK_EQ(data[len], 0);
	}
	lws_msg_release(wsi);
	CHECK(wsi->msg == NULL);
	/* the next message starts empty */
	uint8_t *data = (uint8_t *)"x";
	size_t len = 1;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 0, 100), LWS_MSG_KEEP);
	data = (uint8_t *)"";
	len = 0;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 1, 100), LWS_MSG_WHOLE);
	CHECK_EQ(len, 1);
	CHECK(data[0] == 'x' && data[1] == 0);
	lws_msg_release(wsi);
	free(wsi);
}

static void test_one_mib_in_small_pieces(void)
{
	struct libwebsocket *wsi = new_wsi();
	size_t total = 1 << 20, step = 1000, sent = 0;
	uint8_t *src = malloc(total);
	CHECK(src != NULL);
	for (size_t i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 7);
	int r = LWS_MSG_KEEP;
	uint8_t *data = NULL;
	size_t len = 0;
	while (sent < total) {
		size_t n = total - sent < step ? total - sent : step;
		data = src + sent;
		len = n;
		sent += n;
		r = lws_msg_gather(wsi, &data, &len, sent == total, total);
		if (sent < total)
			CHECK_EQ(r, LWS_MSG_KEEP);
	}
	CHECK_EQ(r, LWS_MSG_WHOLE);
	CHECK_EQ(len, total);
	CHECK(!memcmp(data, src, total));
	CHECK_EQ(data[total], 0);
	lws_msg_release(wsi);
	free(src);
	free(wsi);
}

static void test_over_the_bound(void)
{
	struct libwebsocket *wsi = new_wsi();
	uint8_t piece[16] = {0};
	uint8_t *data = piece;
	size_t len = 11;
	/* one piece over it */
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 1, 10), LWS_MSG_TOO_BIG);
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 0, 10), LWS_MSG_TOO_BIG);
	/* the pieces together over it; exactly the bound is fine */
	len = 6;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 0, 10), LWS_MSG_KEEP);
	len = 4;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 0, 10), LWS_MSG_KEEP);
	len = 1;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 1, 10), LWS_MSG_TOO_BIG);
	len = 0;
	CHECK_EQ(lws_msg_gather(wsi, &data, &len, 1, 10), LWS_MSG_WHOLE);
	CHECK_EQ(len, 10);
	lws_msg_release(wsi);
	free(wsi);
}

static void test_limit_follows_the_message_size(void)
{
	struct libwebsocket *wsi = new_wsi();
	wsi->parser.max_message_size = 1234;
	CHECK_EQ(lws_msg_limit(wsi), 1234);
	wsi->parser.max_message_size = 0; /* no limit set: still bounded */
	CHECK_EQ(lws_msg_limit(wsi), LWS_DEFAULT_MAX_MESSAGE);
	CHECK_EQ(lws_set_whole_messages(wsi, 7), 0);
	CHECK_EQ(wsi->whole_msgs, 1);
	CHECK_EQ(lws_set_whole_messages(wsi, 0), 0);
	CHECK_EQ(wsi->whole_msgs, 0);
	CHECK_EQ(lws_set_whole_messages(NULL, 1), -1);
	free(wsi);
}

int main(void)
{
	RUN(test_one_piece_is_not_copied);
	RUN(test_pieces_are_joined);
	RUN(test_one_mib_in_small_pieces);
	RUN(test_over_the_bound);
	RUN(test_limit_follows_the_message_size);
	return CHECK_SUMMARY();
}
