/* SPDX-License-Identifier: ISC */
/*
 * Logging for hvfcopyd: in the foreground to standard error with the
 * "<N>" priority prefix of sd-daemon(3), else to syslog(3).
 */
#ifndef HVFCOPYD_LOG_H
#define HVFCOPYD_LOG_H

#include <stdbool.h>
#include <stddef.h>

void log_init(bool foreground, bool debug);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A host-chosen path made safe for one log line: it is quoted, and a
 * quote, backslash, control byte or DEL becomes \", \\ or \xHH. Bytes of
 * UTF-8 text are kept (the codec only passes valid UTF-8). Cut with
 * "..." if it would not fit. Returns dst.
 */
char *log_path(const char *src, char *dst, size_t size);

#endif
