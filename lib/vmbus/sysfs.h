/* SPDX-License-Identifier: ISC */
/*
 * Reading one sysfs attribute, strictly. Private to lib/vmbus.
 *
 * Every reader takes a path and returns 0 (or a length) or a negative
 * errno: the open's or read's errno as is (-ENOENT: the kernel hides the
 * attribute), -EBADMSG when the contents are not exactly in the format
 * the kernel prints. A value is never half-parsed or clamped.
 */
#ifndef HVUIO_VMBUS_SYSFS_H
#define HVUIO_VMBUS_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvuio/vmbus.h"

/* The longest attribute any reader accepts (sysfs shows at most a page). */
#define VMBUS_SYSFS_MAX 4096

/*
 * Build a path from a printf format into buf; -ENAMETOOLONG if it does
 * not fit.
 */
int vmbus_sysfs_path(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The whole file as one line: one trailing newline is removed; a file
 * with a NUL or a second line, a file over VMBUS_SYSFS_MAX bytes, or a line
 * that does not fit buf with its NUL is -EBADMSG. Returns the length of
 * the string left in buf ("" on any error).
 */
int vmbus_sysfs_read_str(const char *path, char *buf, size_t size);

/* "%d\n", "%u\n" or "%llu\n": a decimal in [min, max]. */
int vmbus_sysfs_read_int(const char *path, int64_t min, int64_t max, int64_t *ret);

/* "0x%016lx\n", "0x%llx\n", "%pa\n": 0x and 1 to 16 hex digits. */
int vmbus_sysfs_read_hex(const char *path, uint64_t *ret);

/* "{%pUl}\n" as class_id and device_id show it; out: no braces, lower case. */
int vmbus_sysfs_read_guid(const char *path, char out[HV_VMBUS_GUID_STRLEN]);

/*
 * Parse the 36-character GUID text in s (braces and upper case allowed
 * when lax, else exactly the lower-case form without braces) into out,
 * lower case, no braces. -EINVAL if s is not one.
 */
int vmbus_guid_parse(const char *s, bool lax, char out[HV_VMBUS_GUID_STRLEN]);

/* Strict decimal parse of s (no sign unless min < 0, no spaces, no +). */
int vmbus_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret);

#endif
