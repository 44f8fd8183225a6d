/*
 * log.c - the library's log.
 *
 * lws_set_log_level takes no context, so the level and the emitter are the
 * one piece of process-wide state the classic API requires; they are set by
 * the program (usually once, at start) and only read elsewhere.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "private.h"

static int log_level = LLL_ERR | LLL_WARN;
static void (*log_emit)(const char *line);

static const char *const level_names[LLL_COUNT] = {
	"ERR", "WARN", "INFO", "DEBUG", "PARSER", "HEADER", "EXT", "CLIENT",
};

void lws_set_log_level(int level, void (*log_emit_function)(const char *line))
{
	log_level = level;
	if (log_emit_function)
		log_emit = log_emit_function;
}

void lwsl_hexdump(void *buf, size_t size)
{
	const unsigned char *p = buf;
	if (!(log_level & LLL_DEBUG) || !p)
		return;
	for (size_t off = 0; off < size; off += 16) {
		char line[16 * 3 + 2 + 16 + 1];
		size_t n = 0, k;
		for (k = 0; k < 16; k++)
			n += (size_t)(off + k < size ? snprintf(line + n, sizeof line - n, "%02X ",
								p[off + k])
						     : snprintf(line + n, sizeof line - n, "   "));
		line[n++] = ' ';
		for (k = 0; k < 16 && off + k < size; k++)
			line[n++] = p[off + k] >= 32 && p[off + k] < 127 ? (char)p[off + k] : '.';
		line[n] = '\0';
		_lws_log(LLL_DEBUG, "%04zX: %s\n", off, line);
	}
}

void lwsl_emit_syslog(const char *line)
{
	/* the priority from the level _lws_log wrote after the time stamp */
	const char *lvl = strstr(line, "] ");
	int prio = LOG_DEBUG;
	if (lvl && !strncmp(lvl + 2, "ERR:", 4))
		prio = LOG_ERR;
	else if (lvl && !strncmp(lvl + 2, "WARN:", 5))
		prio = LOG_WARNING;
	else if (lvl && !strncmp(lvl + 2, "INFO:", 5))
		prio = LOG_INFO;
	syslog(prio, "%s", line);
}

static const char *level_name(int filter)
{
	for (int n = 0; n < LLL_COUNT; n++)
		if (filter & (1 << n))
			return level_names[n];
	return "?";
}

void _lws_log(int filter, const char *format, ...)
{
	if (!(log_level & filter))
		return;

	char line[1024];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int n = snprintf(line, sizeof line, "[%lld.%03ld] %s: ", (long long)ts.tv_sec,
			 ts.tv_nsec / 1000000, level_name(filter));

	va_list ap;
	va_start(ap, format);
	vsnprintf(line + n, sizeof line - (size_t)n, format, ap);
	va_end(ap);

	/* one line per message, whatever the caller put at the end */
	size_t len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';

	if (log_emit) {
		log_emit(line);
		return;
	}
	fprintf(stderr, "%s\n", line);
}
