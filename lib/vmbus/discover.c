/* SPDX-License-Identifier: ISC */
/*
 * Discovery: every VMBus device under ROOT/sys/bus/vmbus/devices as the
 * kernel shows it. File names and formats are those of Linux's
 * drivers/hv/vmbus_drv.c (device and channel attributes) and
 * drivers/uio/uio.c (uio maps); Documentation/ABI/stable/sysfs-bus-vmbus
 * says which kernel added which file, so a missing optional file is normal
 * and a malformed one is an error.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "discover.h"
#include "sysfs.h"

/* monitor_id is a u8 (offermsg.monitorid); relids are u32 printed as %d or %u. */
#define VMBUS_MONITOR_ID_MAX 255

/* Read an optional decimal: hidden (-ENOENT) or unreadable on a closed channel (-EINVAL) gives -1. */
static int read_opt(const char *dir, const char *name, int64_t min, int64_t max, int64_t *ret)
{
	char path[PATH_MAX];
	int err;

	err = vmbus_sysfs_path(path, sizeof(path), "%s/%s", dir, name);
	if (err)
		return err;
	err = vmbus_sysfs_read_int(path, min, max, ret);
	if (err == -ENOENT || err == -EINVAL) {
		*ret = -1;
		return 0;
	}
	return err;
}

static int read_maps(struct hv_vmbus_device *dev, const char *uio_dir)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	unsigned int k;
	int err, n;

	/* uio lists maps from 0 up to the first unused one (uio_dev_add_attributes). */
	for (k = 0; k < HV_VMBUS_MAX_MAPS; k++) {
		struct hv_vmbus_map *m = &dev->maps[k];

		err = vmbus_sysfs_path(dir, sizeof(dir), "%s/maps/map%u", uio_dir, k);
		if (err)
			return err;
		if (stat(dir, &st) < 0) {
			if (errno == ENOENT)
				break;
			return -errno;
		}
		err = vmbus_sysfs_path(path, sizeof(path), "%s/name", dir);
		if (err)
			return err;
		n = vmbus_sysfs_read_str(path, m->name, sizeof(m->name));
		if (n < 0)
			return n == -ENOENT ? -EBADMSG : n;
		if (n == 0)
			return -EBADMSG;
		err = vmbus_sysfs_path(path, sizeof(path), "%s/size", dir);
		if (!err)
			err = vmbus_sysfs_read_hex(path, &m->size);
		if (!err)
			err = vmbus_sysfs_path(path, sizeof(path), "%s/offset", dir);
		if (!err)
			err = vmbus_sysfs_read_hex(path, &m->offset);
		if (err)
			return err == -ENOENT ? -EBADMSG : err;
		/* A zero-size map is where uio stops; one listed anyway is a lie. */
		if (m->size == 0)
			return -EBADMSG;
		dev->nmaps = k + 1;
	}
	return 0;
}

/* The uio node: the lowest uio<digits> entry of uio/, as DPDK's vmbus_uio.c looks for it. */
static int read_uio(struct hv_vmbus_device *dev, const char *dev_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	int64_t best = -1, v;
	DIR *d;
	int err;

	dev->uio_index = -1;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/uio", dev_dir);
	if (err)
		return err;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "uio", 3) != 0)
			continue;
		if (vmbus_parse_int(de->d_name + 3, 0, INT_MAX, &v) < 0)
			continue;
		if (best < 0 || v < best)
			best = v;
	}
	closedir(d);
	if (best < 0)
		return 0;
	dev->uio_index = (int)best;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/uio/uio%d", dev_dir, dev->uio_index);
	if (err)
		return err;
	return read_maps(dev, path);
}

static int read_channel(struct hv_vmbus_channel *ch, const char *dir, uint32_t relid,
			uint32_t primary_relid)
{
	static const struct {
		const char *name;
		size_t off;
	} counters[] = {
		{ "in_mask", offsetof(struct hv_vmbus_channel, in_mask) },
		{ "out_mask", offsetof(struct hv_vmbus_channel, out_mask) },
		{ "read_avail", offsetof(struct hv_vmbus_channel, read_avail) },
		{ "write_avail", offsetof(struct hv_vmbus_channel, write_avail) },
		{ "interrupts", offsetof(struct hv_vmbus_channel, interrupts) },
		{ "events", offsetof(struct hv_vmbus_channel, events) },
		{ "intr_in_full", offsetof(struct hv_vmbus_channel, intr_in_full) },
		{ "intr_out_empty", offsetof(struct hv_vmbus_channel, intr_out_empty) },
		{ "out_full_first", offsetof(struct hv_vmbus_channel, out_full_first) },
		{ "out_full_total", offsetof(struct hv_vmbus_channel, out_full_total) },
	};
	char path[PATH_MAX];
	struct stat st;
	int64_t v;
	size_t i;
	int err;

	ch->relid = relid;
	/* subchannel_id came in 4.16; before that only the primary's relid tells. */
	err = read_opt(dir, "subchannel_id", 0, UINT16_MAX, &v);
	if (err)
		return err;
	ch->subchannel_id = v >= 0 ? (int32_t)v : (relid == primary_relid ? 0 : -1);
	err = read_opt(dir, "monitor_id", 0, VMBUS_MONITOR_ID_MAX, &v);
	if (err)
		return err;
	ch->monitor_id = (int32_t)v;
	err = read_opt(dir, "cpu", 0, INT32_MAX, &v);
	if (err)
		return err;
	ch->cpu = (int32_t)v;
	for (i = 0; i < ARRAY_SIZE(counters); i++) {
		err = read_opt(dir, counters[i].name, 0, INT64_MAX, &v);
		if (err)
			return err;
		memcpy((char *)ch + counters[i].off, &v, sizeof(v));
	}
	err = vmbus_sysfs_path(path, sizeof(path), "%s/ring", dir);
	if (err)
		return err;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		ch->ring_size = 0;
	} else {
		ch->ring_size = (uint64_t)st.st_size;
	}
	return 0;
}

static int channel_cmp(const void *a, const void *b)
{
	const struct hv_vmbus_channel *x = a, *y = b;
	bool px = x->subchannel_id == 0, py = y->subchannel_id == 0;

	if (px != py)
		return px ? -1 : 1;
	return x->relid < y->relid ? -1 : x->relid > y->relid;
}

static int read_channels(struct hv_vmbus_device *dev, const char *dev_dir)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct hv_vmbus_channel *chans = NULL, *tmp;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int64_t relid;
	DIR *d = NULL;
	int err;

	err = vmbus_sysfs_path(path, sizeof(path), "%s/channels", dev_dir);
	if (err)
		return err;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		/* The kernel names each channel's kobject "%u" of its relid. */
		if (vmbus_parse_int(de->d_name, 0, UINT32_MAX, &relid) < 0) {
			err = -EBADMSG;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			tmp = realloc(chans, cap * sizeof(*chans));
			if (!tmp) {
				err = -ENOMEM;
				goto out;
			}
			chans = tmp;
		}
		err = vmbus_sysfs_path(dir, sizeof(dir), "%s/%s", path, de->d_name);
		if (err)
			goto out;
		memset(&chans[n], 0, sizeof(chans[n]));
		err = read_channel(&chans[n], dir, (uint32_t)relid, dev->relid);
		if (err)
			goto out;
		n++;
	}
	if (errno) {
		err = -errno;
		goto out;
	}
	/* No channel yet (a device being laid out) leaves chans NULL, which qsort may not take. */
	if (n)
		qsort(chans, n, sizeof(*chans), channel_cmp);
	dev->channels = chans;
	dev->nchannels = n;
	chans = NULL;
out:
	free(chans);
	closedir(d);
	return err;
}

static int read_driver(struct hv_vmbus_device *dev, const char *dev_dir)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	int err;

	err = vmbus_sysfs_path(path, sizeof(path), "%s/driver", dev_dir);
	if (err)
		return err;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!*base || strlen(base) >= sizeof(dev->driver))
		return -EBADMSG;
	strcpy(dev->driver, base);
	return 0;
}

static int read_override(struct hv_vmbus_device *dev, const char *dev_dir)
{
	char path[PATH_MAX];
	int n;

	n = vmbus_sysfs_path(path, sizeof(path), "%s/driver_override", dev_dir);
	if (n)
		return n;
	n = vmbus_sysfs_read_str(path, dev->driver_override, sizeof(dev->driver_override));
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return n;
	/* driver_override_show prints the NULL pointer of an unset override. */
	if (strcmp(dev->driver_override, "(null)") == 0)
		dev->driver_override[0] = '\0';
	return 0;
}

int vmbus_device_read(const char *root, const char *name, struct hv_vmbus_device *dev)
{
	char dev_dir[PATH_MAX], path[PATH_MAX], id[HV_VMBUS_GUID_STRLEN];
	int64_t v;
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->uio_index = -1;
	/* Devices are named "%pUl" of the instance (vmbus_device_register). */
	if (vmbus_guid_parse(name, false, dev->instance) < 0)
		return -EBADMSG;
	err = vmbus_sysfs_path(dev_dir, sizeof(dev_dir), "%s/sys/bus/vmbus/devices/%s", root, name);
	if (err)
		return err;

	err = vmbus_sysfs_path(path, sizeof(path), "%s/class_id", dev_dir);
	if (!err)
		err = vmbus_sysfs_read_guid(path, dev->class_id);
	if (err)
		goto out;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/device_id", dev_dir);
	if (!err)
		err = vmbus_sysfs_read_guid(path, id);
	if (err)
		goto out;
	if (strcmp(id, dev->instance) != 0) {
		err = -EBADMSG;
		goto out;
	}
	dev->class_name = hv_vmbus_class_name(dev->class_id);
	err = vmbus_sysfs_path(path, sizeof(path), "%s/id", dev_dir);
	if (!err)
		err = vmbus_sysfs_read_int(path, 0, UINT32_MAX, &v);
	if (err)
		goto out;
	dev->relid = (uint32_t)v;
	err = read_opt(dev_dir, "monitor_id", 0, VMBUS_MONITOR_ID_MAX, &v);
	if (err)
		goto out;
	dev->monitor_id = (int32_t)v;
	err = read_driver(dev, dev_dir);
	if (!err)
		err = read_override(dev, dev_dir);
	if (!err)
		err = read_uio(dev, dev_dir);
	if (!err)
		err = read_channels(dev, dev_dir);
out:
	/* A required attribute that is missing is a broken tree, not a hidden file. */
	if (err == -ENOENT)
		err = -EBADMSG;
	if (err) {
		free(dev->channels);
		dev->channels = NULL;
		dev->nchannels = 0;
	}
	return err;
}

static int device_cmp(const void *a, const void *b)
{
	const struct hv_vmbus_device *x = a, *y = b;

	return strcmp(x->instance, y->instance);
}

HV_EXPORT void hv_vmbus_list_free(struct hv_vmbus_list *list)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < list->count; i++)
		free(list->devices[i].channels);
	free(list->devices);
	free(list);
}

HV_EXPORT int hv_vmbus_list_new(const char *root, struct hv_vmbus_list **ret)
{
	struct hv_vmbus_list *list = NULL;
	struct hv_vmbus_device *tmp;
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	size_t cap = 0;
	DIR *d = NULL;
	int err;

	if (!root || !ret)
		return -EINVAL;
	list = calloc(1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/devices", root);
	if (err)
		goto out;
	d = opendir(path);
	if (!d) {
		/* No VMBus on this machine (or under this root): nothing to list. */
		err = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (list->count == cap) {
			cap = cap ? cap * 2 : 8;
			tmp = realloc(list->devices, cap * sizeof(*tmp));
			if (!tmp) {
				err = -ENOMEM;
				goto out;
			}
			list->devices = tmp;
		}
		err = vmbus_device_read(root, de->d_name, &list->devices[list->count]);
		if (err == -EBADMSG) {
			char dev_dir[PATH_MAX];

			/* A device removed while we read it is gone, not malformed. */
			if (!vmbus_sysfs_path(dev_dir, sizeof(dev_dir), "%s/%s", path, de->d_name) &&
			    stat(dev_dir, &st) < 0 && errno == ENOENT)
				continue;
		}
		if (err)
			goto out;
		list->count++;
	}
	if (errno) {
		err = -errno;
		goto out;
	}
	if (list->count)
		qsort(list->devices, list->count, sizeof(*list->devices), device_cmp);
out:
	if (d)
		closedir(d);
	if (err) {
		hv_vmbus_list_free(list);
		return err;
	}
	*ret = list;
	return 0;
}

HV_EXPORT const struct hv_vmbus_device *hv_vmbus_list_find(const struct hv_vmbus_list *list,
							   const char *guid)
{
	char want[HV_VMBUS_GUID_STRLEN];
	size_t i;

	if (!list || !guid || vmbus_guid_parse(guid, true, want) < 0)
		return NULL;
	for (i = 0; i < list->count; i++)
		if (strcmp(list->devices[i].instance, want) == 0)
			return &list->devices[i];
	for (i = 0; i < list->count; i++)
		if (strcmp(list->devices[i].class_id, want) == 0)
			return &list->devices[i];
	return NULL;
}
