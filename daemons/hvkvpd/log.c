/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <hvuio/utf8.h>

#include "log.h"

static bool to_stderr = true;
static bool debug_on;

void log_init(bool foreground, bool debug)
{
	to_stderr = foreground;
	debug_on = debug;
	if (!foreground)
		openlog(program_invocation_short_name, LOG_PID, LOG_DAEMON);
}

bool log_debug_enabled(void)
{
	return debug_on;
}

static __attribute__((format(printf, 2, 0))) void log_v(int prio, const char *fmt,
							  va_list ap)
{
	char line[2048];

	if (prio == LOG_DEBUG && !debug_on)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (to_stderr) {
		/* One write per line, so that lines of a restart do not interleave. */
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

char *log_escape(const char *src, size_t len, char *dst, size_t size)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;

	if (size == 0)
		return dst;
	while (i < len) {
		char tmp[8];
		size_t tlen, seq = 1;
		uint32_t cp;

		if (s[i] == '\\') {
			memcpy(tmp, "\\\\", 2); tlen = 2;
		} else if (s[i] == '\n') {
			memcpy(tmp, "\\n", 2); tlen = 2;
		} else if (s[i] == '\t') {
			memcpy(tmp, "\\t", 2); tlen = 2;
		} else if (s[i] == '\r') {
			memcpy(tmp, "\\r", 2); tlen = 2;
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			tmp[0] = (char)s[i]; tlen = 1;
		} else if (s[i] >= 0x80 && (seq = hv_utf8_decode(s + i, len - i, &cp)) != 0 &&
			   !(cp >= 0x80 && cp <= 0x9f)) {
			memcpy(tmp, s + i, seq); tlen = seq;
		} else {
			/* A control byte, a C1 control or a byte that is not UTF-8. */
			seq = 1;
			tlen = (size_t)snprintf(tmp, sizeof(tmp), "\\%03o", s[i]);
		}
		if (o + tlen + 4 > size) {
			/* Keep room for "..." and the NUL. */
			if (o + 4 <= size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, tlen);
		o += tlen;
		i += seq;
	}
	dst[o < size ? o : size - 1] = '\0';
	return dst;
}
