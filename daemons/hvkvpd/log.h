/* SPDX-License-Identifier: ISC */
/*
 * Logging for hvkvpd (and hvfcopyd, which shares it; syslog lines carry
 * the program's name). In the foreground every line goes to standard error
 * with the "<N>" priority prefix of sd-daemon(3), which journald turns into
 * the line's priority; in the background to syslog(3). Debug lines are
 * dropped unless -d was given.
 */
#ifndef HVKVPD_LOG_H
#define HVKVPD_LOG_H

#include <stdbool.h>
#include <stddef.h>

void log_init(bool foreground, bool debug);
bool log_debug_enabled(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Make `len` bytes of untrusted text safe to print: backslash, control
 * characters, C1 controls and bytes that are not valid UTF-8 become
 * vis(3)-style escapes (\n, \t, \\, \ooo); valid UTF-8 text is kept. The
 * result is cut short with "..." if it would not fit `size`. Returns dst.
 */
char *log_escape(const char *src, size_t len, char *dst, size_t size);

/* Room log_escape needs for `n` input bytes, worst case, with its NUL. */
#define LOG_ESCAPE_SIZE(n) (4 * (n) + 4)

#endif
