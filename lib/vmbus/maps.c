/* SPDX-License-Identifier: ISC */
/*
 * Facts behind this file: drivers/uio/uio_hv_generic.c names the maps
 * (txrx_rings, int_page, monitor_page, then "recv:%u" and "send:%u" with
 * the GPADL handles of a NIC's buffers) and uio lists them as maps/mapN
 * from 0 up (drivers/uio/uio.c). The addresses are hv_dev_open's; the
 * names are read back from sysfs, through the discovery code, when asked.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/maps.h"
#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "dev.h"
#include "discover.h"
#include "sysfs.h"

_Static_assert(HV_VMBUS_MAP_NAME_SIZE == sizeof(((struct hv_vmbus_map *)0)->name),
	       "map names as discovery reads them");

HV_EXPORT unsigned int hv_dev_map_count(const struct hv_dev *dev)
{
	return dev ? dev->nmaps : 0;
}

/* The device as sysfs shows it now; its root is dev_dir without the tail. */
static int maps_read(const struct hv_dev *dev, struct hv_vmbus_device *d)
{
	static const char tail[] = "/sys/bus/vmbus/devices/";
	size_t n = strlen(dev->dev_dir), t = strlen(tail) + strlen(dev->instance);
	char root[PATH_MAX];
	int err;

	if (n < t || n - t >= sizeof(root) ||
	    strncmp(dev->dev_dir + n - t, tail, strlen(tail)) != 0)
		return -ESTALE;
	memcpy(root, dev->dev_dir, n - t);
	root[n - t] = '\0';
	memset(d, 0, sizeof(*d));
	err = vmbus_device_read(n - t ? root : "/", dev->instance, d);
	if (err)
		return err == -ENOENT ? -ESTALE : err;
	if (d->nmaps != dev->nmaps) {
		free(d->channels);
		return -ESTALE;
	}
	for (unsigned int i = 0; i < d->nmaps; i++) {
		if (d->maps[i].size != dev->maps[i].size) {
			free(d->channels);
			return -ESTALE;
		}
	}
	return 0;
}

HV_EXPORT int hv_dev_map_get(const struct hv_dev *dev, unsigned int index, void **addr,
			     uint64_t *size, char name[HV_VMBUS_MAP_NAME_SIZE])
{
	struct hv_vmbus_device d;
	int err;

	if (!dev)
		return -EINVAL;
	if (index >= dev->nmaps)
		return -ENOENT;
	if (name) {
		err = maps_read(dev, &d);
		if (err)
			return err;
		memcpy(name, d.maps[index].name, HV_VMBUS_MAP_NAME_SIZE);
		name[HV_VMBUS_MAP_NAME_SIZE - 1] = '\0';
		free(d.channels);
	}
	if (addr)
		*addr = dev->maps[index].addr;
	if (size)
		*size = dev->maps[index].size;
	return 0;
}

/* "recv" matches "recv:<anything>"; other names match whole. */
static bool map_name_match(const char *map, const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(map, name))
		return true;
	return (!strcmp(name, "recv") || !strcmp(name, "send")) &&
	       !strncmp(map, name, n) && map[n] == ':';
}

HV_EXPORT int hv_dev_map_find(const struct hv_dev *dev, const char *name, unsigned int *index)
{
	struct hv_vmbus_device d;
	int err;

	if (!dev || !name || !index)
		return -EINVAL;
	err = maps_read(dev, &d);
	if (err)
		return err;
	err = -ENOENT;
	for (unsigned int i = 0; i < d.nmaps; i++) {
		if (map_name_match(d.maps[i].name, name)) {
			*index = i;
			err = 0;
			break;
		}
	}
	free(d.channels);
	return err;
}

HV_EXPORT int hv_dev_gpadl_get(const struct hv_dev *dev, const char *buffer, uint32_t *gpadl)
{
	char name[HV_VMBUS_MAP_NAME_SIZE];
	unsigned int i;
	int64_t v;
	int err;

	if (!dev || !buffer || !gpadl || (strcmp(buffer, "recv") && strcmp(buffer, "send")))
		return -EINVAL;
	err = hv_dev_map_find(dev, buffer, &i);
	if (!err)
		err = hv_dev_map_get(dev, i, NULL, NULL, name);
	if (err)
		return err;
	/* A handle of 0 is no GPADL (the kernel never hands one out). */
	err = vmbus_parse_int(name + strlen(buffer) + 1, 1, UINT32_MAX, &v);
	if (err)
		return -EBADMSG;
	*gpadl = (uint32_t)v;
	return 0;
}
