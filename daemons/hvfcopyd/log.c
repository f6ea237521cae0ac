/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static bool to_stderr = true;
static bool debug_on;

void log_init(bool foreground, bool debug)
{
	to_stderr = foreground;
	debug_on = debug;
	if (!foreground)
		openlog("hvfcopyd", LOG_PID, LOG_DAEMON);
}

static __attribute__((format(printf, 2, 0))) void log_v(int prio, const char *fmt, va_list ap)
{
	char line[4096];

	if (prio == LOG_DEBUG && !debug_on)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (to_stderr) {
		fprintf(stderr, "<%d>%s\n", prio, line);
		fflush(stderr);
	} else {
		syslog(prio, "%s", line);
	}
}

#define LOG_FN(name, prio) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_v(prio, fmt, ap); \
		va_end(ap); \
	}

LOG_FN(log_err, LOG_ERR)
LOG_FN(log_warn, LOG_WARNING)
LOG_FN(log_notice, LOG_NOTICE)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)

char *log_path(const char *src, char *dst, size_t size)
{
	size_t n = 0;

	if (size < 8) {
		if (size)
			dst[0] = '\0';
		return dst;
	}
	dst[n++] = '"';
	for (const unsigned char *s = (const unsigned char *)src; *s; s++) {
		char esc[5];
		size_t k;

		if (*s == '"' || *s == '\\') {
			esc[0] = '\\'; esc[1] = (char)*s; k = 2;
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			k = 4;
		} else {
			esc[0] = (char)*s; k = 1;
		}
		/* Room for this, the closing quote, "..." and the NUL. */
		if (n + k + 5 > size) {
			memcpy(dst + n, "\"...", 4);
			dst[n + 4] = '\0';
			return dst;
		}
		memcpy(dst + n, esc, k);
		n += k;
	}
	dst[n++] = '"';
	dst[n] = '\0';
	return dst;
}
