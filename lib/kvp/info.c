/* SPDX-License-Identifier: ISC */
/*
 * The hv_kvp_info context and the text helpers shared by the Auto pool
 * and IP info: every string we send must fit what the host accepts, and
 * what Linux's hv_utils passes on without cutting it (1022 UTF-16 units
 * for a value, drivers/hv/hv_kvp.c process_ib_ipinfo/kvp_respond_to_host
 * bounds), so lists are cut at a whole item and text at a whole character.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvuio/ic.h"
#include "hvuio/kvp_info.h"
#include "hvuio/utf8.h"
#include "lib/common/compiler.h"
#include "info_private.h"

HV_EXPORT int hv_kvp_info_new(const char *root, struct hv_kvp_info **ret)
{
	struct hv_kvp_info *info;
	size_t len;

	if (!ret)
		return -EINVAL;
	if (!root || !*root)
		root = "/";
	if (root[0] != '/')
		return -EINVAL;
	len = strlen(root);
	while (len > 0 && root[len - 1] == '/')
		len--;
	/* Room for the longest relative path we append. */
	if (len + 128 >= sizeof(info->root))
		return -ENAMETOOLONG;
	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	memcpy(info->root, root, len);
	info->root[len] = '\0';
	info->hook_timeout_ms = HV_KVP_INFO_HOOK_TIMEOUT_MS;
	pthread_mutex_init(&info->lock, NULL);
	*ret = info;
	return 0;
}

HV_EXPORT struct hv_kvp_info *hv_kvp_info_free(struct hv_kvp_info *info)
{
	if (info) {
		free(info->hook);
		free(info->ifconfig);
		pthread_mutex_destroy(&info->lock);
		free(info);
	}
	return NULL;
}

static int program_set(char **slot, unsigned int *timeout, const char *path,
		       unsigned int timeout_ms)
{
	char *copy = NULL;

	if (path && path[0] != '/')
		return -EINVAL;
	if (path) {
		if (strlen(path) >= PATH_MAX)
			return -ENAMETOOLONG;
		copy = strdup(path);
		if (!copy)
			return -ENOMEM;
	}
	free(*slot);
	*slot = copy;
	*timeout = timeout_ms ? timeout_ms : HV_KVP_INFO_HOOK_TIMEOUT_MS;
	return 0;
}

HV_EXPORT int hv_kvp_info_hook_set(struct hv_kvp_info *info, const char *path,
				   unsigned int timeout_ms)
{
	if (!info)
		return -EINVAL;
	return program_set(&info->hook, &info->hook_timeout_ms, path, timeout_ms);
}

HV_EXPORT int hv_kvp_info_ifconfig_set(struct hv_kvp_info *info, const char *path,
				       unsigned int timeout_ms)
{
	if (!info)
		return -EINVAL;
	return program_set(&info->ifconfig, &info->hook_timeout_ms, path, timeout_ms);
}

HV_EXPORT int hv_kvp_info_state_dir_set(struct hv_kvp_info *info, const char *dir)
{
	if (!info)
		return -EINVAL;
	if (!dir) {
		info->state_dir[0] = '\0';
		return 0;
	}
	if (strlen(dir) >= sizeof(info->state_dir) - 64)
		return -ENAMETOOLONG;
	strcpy(info->state_dir, dir);
	return 0;
}

HV_EXPORT int hv_kvp_info_runner_set(struct hv_kvp_info *info, hv_kvp_ip_runner_fn *fn,
				     void *ctx)
{
	if (!info)
		return -EINVAL;
	info->runner = fn;
	info->runner_ctx = ctx;
	return 0;
}

HV_EXPORT uint32_t hv_kvp_info_status(uint8_t op, int err)
{
	if (err == 0)
		return HV_IC_S_OK;
	switch (op) {
	case HV_KVP_OP_ENUMERATE:
		return err == -ENOENT ? HV_IC_S_CONT : HV_IC_E_FAIL;
	case HV_KVP_OP_SET_IP_INFO:
		/* Linux's tools/hv/hv_kvp_daemon.c: kvp_get_if_name failing is
		 * HV_IC_GUID_NOTFOUND, an unparsable address HV_IC_INVALIDARG. */
		if (err == -ENODEV)
			return HV_IC_GUID_NOTFOUND;
		if (err == -EINVAL)
			return HV_IC_INVALIDARG;
		return HV_IC_E_FAIL;
	default:
		/* GET_IP_INFO for an unknown MAC is HV_IC_E_FAIL in Linux too. */
		return HV_IC_E_FAIL;
	}
}

int kvp_info_path(const struct hv_kvp_info *info, char *buf, size_t size,
		  const char *fmt, ...)
{
	va_list ap;
	int n, m;

	n = snprintf(buf, size, "%s/", info->root);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= size - (size_t)n)
		return -ENAMETOOLONG;
	return 0;
}

long kvp_info_file_read(const char *path, size_t max, char **ret)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	long err;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	/* One byte past `max` tells an over-long file from one that fits. */
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			err = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
	err = (long)len;
out:
	free(buf);
	close(fd);
	return err;
}

void kvp_list_init(struct kvp_list *l, char *buf, size_t size, size_t units_max)
{
	memset(l, 0, sizeof(*l));
	l->buf = buf;
	l->size = size;
	l->units_max = units_max;
	if (size)
		buf[0] = '\0';
}

int kvp_list_add(struct kvp_list *l, const char *item)
{
	size_t n = strlen(item), u = kvp_utf16_units(item);
	size_t sep = l->trailing || l->count ? 1 : 0;

	if (l->full || l->len + sep + n + 1 > l->size ||
	    l->units + sep + u > l->units_max) {
		l->full = true;
		return -ENOSPC;
	}
	if (sep && !l->trailing)
		l->buf[l->len++] = ';';
	memcpy(l->buf + l->len, item, n);
	l->len += n;
	if (l->trailing)
		l->buf[l->len++] = ';';
	l->buf[l->len] = '\0';
	l->units += sep + u;
	l->count++;
	return 0;
}

size_t kvp_utf16_units(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t units = 0, n;
	uint32_t cp;

	while (*p) {
		n = hv_utf8_decode(p, strnlen((const char *)p, 4), &cp);
		if (!n)
			n = 1;
		units += cp >= 0x10000 ? 2 : 1;
		p += n;
	}
	return units;
}

void kvp_text_fit(char *s, size_t size, size_t units_max)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = 0, units = 0, n;
	uint32_t cp;

	while (p[len]) {
		n = hv_utf8_decode(p + len, strnlen((const char *)p + len, 4), &cp);
		if (!n || cp < 0x20 || cp == 0x7f) {
			p[len] = '?';
			n = 1;
			cp = '?';
		}
		if (len + n + 1 > size || units + (cp >= 0x10000 ? 2 : 1) > units_max)
			break;
		units += cp >= 0x10000 ? 2 : 1;
		len += n;
	}
	p[len] = '\0';
}
