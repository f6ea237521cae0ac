/* SPDX-License-Identifier: ISC */
/*
 * Strict readers for sysfs attributes. The formats are those of Linux's
 * drivers/hv/vmbus_drv.c (*_show: "%d\n", "{%pUl}\n") and
 * drivers/uio/uio.c (map size "%pa\n", offset "0x%llx\n").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/common/compiler.h"
#include "sysfs.h"

int vmbus_sysfs_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int vmbus_sysfs_read_str(const char *path, char *buf, size_t size)
{
	/* One byte past the longest attribute, so that a longer file is seen. */
	char tmp[VMBUS_SYSFS_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int fd, err = 0;

	if (size < 1)
		return -EINVAL;
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < sizeof(tmp)) {
		n = read(fd, tmp + len, sizeof(tmp) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == sizeof(tmp)) {
		err = -EBADMSG;
		goto out;
	}
	if (len > 0 && tmp[len - 1] == '\n')
		len--;
	if (len >= size || memchr(tmp, '\0', len) || memchr(tmp, '\n', len)) {
		err = -EBADMSG;
		goto out;
	}
	memcpy(buf, tmp, len);
	buf[len] = '\0';
out:
	close(fd);
	return err ? err : (int)len;
}

int vmbus_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	bool neg = false;
	uint64_t v = 0, limit;

	if (*s == '-' && min < 0) {
		neg = true;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -EBADMSG;
	/* "007" is not how the kernel prints a number. */
	if (s[0] == '0' && s[1] != '\0')
		return -EBADMSG;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EBADMSG;
		if (v > (limit - (uint64_t)(*s - '0')) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (neg) {
		int64_t sv = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;

		if (sv < min || sv > max)
			return -EBADMSG;
		*ret = sv;
		return 0;
	}
	if ((int64_t)v < min || (int64_t)v > max)
		return -EBADMSG;
	*ret = (int64_t)v;
	return 0;
}

int vmbus_sysfs_read_int(const char *path, int64_t min, int64_t max, int64_t *ret)
{
	char buf[32];
	int n;

	n = vmbus_sysfs_read_str(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	return vmbus_parse_int(buf, min, max, ret);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vmbus_sysfs_read_hex(const char *path, uint64_t *ret)
{
	char buf[32];
	uint64_t v = 0;
	int n, i, d;

	n = vmbus_sysfs_read_str(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (n < 3 || n > 18 || buf[0] != '0' || buf[1] != 'x')
		return -EBADMSG;
	for (i = 2; i < n; i++) {
		d = hex_digit(buf[i]);
		if (d < 0)
			return -EBADMSG;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return 0;
}

int vmbus_guid_parse(const char *s, bool lax, char out[HV_VMBUS_GUID_STRLEN])
{
	size_t len = strlen(s), i;
	char tmp[HV_VMBUS_GUID_STRLEN];

	if (lax && len == 38 && s[0] == '{' && s[37] == '}') {
		s++;
		len -= 2;
	}
	if (len != 36)
		return -EINVAL;
	for (i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -EINVAL;
			tmp[i] = c;
			continue;
		}
		if (hex_digit(c) < 0 || (!lax && c >= 'A' && c <= 'F'))
			return -EINVAL;
		tmp[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	tmp[36] = '\0';
	memcpy(out, tmp, HV_VMBUS_GUID_STRLEN);
	return 0;
}

int vmbus_sysfs_read_guid(const char *path, char out[HV_VMBUS_GUID_STRLEN])
{
	char buf[64];
	int n;

	n = vmbus_sysfs_read_str(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (n != 38 || buf[0] != '{' || buf[37] != '}')
		return -EBADMSG;
	buf[37] = '\0';
	return vmbus_guid_parse(buf + 1, false, out) ? -EBADMSG : 0;
}
