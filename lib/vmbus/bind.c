/* SPDX-License-Identifier: ISC */
/*
 * Binding a device to a driver through sysfs, the way Linux's
 * drivers/uio/uio_hv_generic.c documents it in its header comment:
 * uio_hv_generic has no ID table, so a device reaches it through its
 * driver_override (drivers/hv/vmbus_drv.c, driver_override_store; every
 * kernel since 4.18) or by adding its class GUID to the driver's new_id
 * (new_id_store, which takes the GUID without braces). bind and unbind
 * take the instance GUID, the device's sysfs name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "discover.h"
#include "sysfs.h"

#define UIO_DRIVER "uio_hv_generic"

static int write_attr(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, err = 0;

	/* No O_CREAT: a sysfs file that is missing must not be made up. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	/* A store method consumes the whole buffer or fails it. */
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	if (close(fd) < 0 && !err && errno != EINTR)
		err = -errno;
	return err;
}

static int driver_write(const char *root, const char *driver, const char *file, const char *text)
{
	char path[PATH_MAX];
	int err;

	err = vmbus_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/drivers/%s/%s", root, driver, file);
	if (err)
		return err;
	return write_attr(path, text);
}

static int driver_loaded(const char *root, const char *driver)
{
	char path[PATH_MAX];
	struct stat st;
	int err;

	err = vmbus_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/drivers/%s", root, driver);
	if (err)
		return err;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENODEV;
}

/* Does a process hold ROOT/dev/uioN open? Processes we may not look at are skipped. */
static int uio_busy(const char *root, int uio_index)
{
	char proc[PATH_MAX], fddir[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
	char want[PATH_MAX], want_real[PATH_MAX], rroot[PATH_MAX];
	struct dirent *pe, *fe;
	DIR *pd, *fd;
	int busy = 0, err;
	ssize_t n;

	if (strcmp(root, "/") == 0)
		err = vmbus_sysfs_path(want, sizeof(want), "/dev/uio%d", uio_index);
	else
		err = vmbus_sysfs_path(want, sizeof(want), "%s/dev/uio%d", root, uio_index);
	if (err)
		return err;
	/* The links name the file as the kernel resolves it: without ".." or symlinks. */
	want_real[0] = '\0';
	if (realpath(root, rroot) &&
	    vmbus_sysfs_path(want_real, sizeof(want_real), "%s/dev/uio%d",
			     strcmp(rroot, "/") ? rroot : "", uio_index))
		want_real[0] = '\0';

	err = vmbus_sysfs_path(proc, sizeof(proc), "%s/proc", root);
	if (err)
		return err;
	pd = opendir(proc);
	if (!pd)
		return errno == ENOENT ? 0 : -errno;
	while (!busy && (pe = readdir(pd))) {
		int64_t pid;

		if (vmbus_parse_int(pe->d_name, 1, INT32_MAX, &pid) < 0)
			continue;
		if (vmbus_sysfs_path(fddir, sizeof(fddir), "%s/%s/fd", proc, pe->d_name))
			continue;
		fd = opendir(fddir);
		if (!fd)
			continue;
		while ((fe = readdir(fd))) {
			if (fe->d_name[0] == '.')
				continue;
			if (vmbus_sysfs_path(link, sizeof(link), "%s/%s", fddir, fe->d_name))
				continue;
			n = readlink(link, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, want) == 0 ||
			    (want_real[0] && strcmp(target, want_real) == 0)) {
				busy = 1;
				break;
			}
		}
		closedir(fd);
	}
	closedir(pd);
	return busy;
}

/* Read the device, or -ENOENT when root has none of that name. */
static int device_get(const char *root, const char *instance, struct hv_vmbus_device *dev)
{
	char guid[HV_VMBUS_GUID_STRLEN], path[PATH_MAX];
	struct stat st;
	int err;

	memset(dev, 0, sizeof(*dev));
	if (vmbus_guid_parse(instance, true, guid) < 0)
		return -EINVAL;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/devices/%s", root, guid);
	if (err)
		return err;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	return vmbus_device_read(root, guid, dev);
}

static int check_busy(const char *root, const struct hv_vmbus_device *dev)
{
	int busy;

	if (dev->uio_index < 0)
		return 0;
	busy = uio_busy(root, dev->uio_index);
	if (busy < 0)
		return busy;
	return busy ? -EBUSY : 0;
}

static bool valid_driver(const char *driver)
{
	size_t len = driver ? strlen(driver) : 0;

	return len > 0 && len < sizeof(((struct hv_vmbus_device *)0)->driver) &&
	       !strchr(driver, '/') && strcmp(driver, ".") && strcmp(driver, "..");
}

HV_EXPORT int hv_vmbus_bind(const char *root, const char *instance, const char *driver)
{
	struct hv_vmbus_device dev, now;
	char path[PATH_MAX];
	struct stat st;
	int err;

	if (!root || !instance || !valid_driver(driver))
		return -EINVAL;
	err = device_get(root, instance, &dev);
	if (err)
		return err;
	if (strcmp(dev.driver, driver) == 0)
		goto out;
	err = driver_loaded(root, driver);
	if (err)
		goto out;
	/*
	 * hv_uio_probe refused channels without a monitor page, and so every
	 * integration service, until the 6.10 series "uio_hv_generic: Enable
	 * interrupt for low speed VMBus devices". Say so instead of letting
	 * the bind fail with the kernel's bare ENOTSUPP.
	 */
	if (strcmp(driver, UIO_DRIVER) == 0 && dev.monitor_id < 0) {
		struct hv_vmbus_kernel k = { .sz = sizeof(k) };

		err = hv_vmbus_kernel_get(root, &k);
		if (err < 0)
			goto out;
		if (k.nonmonitored != 1) {
			err = -EOPNOTSUPP;
			goto out;
		}
	}
	err = check_busy(root, &dev);
	if (err)
		goto out;
	if (dev.driver[0]) {
		err = driver_loaded(root, dev.driver);
		if (!err)
			err = driver_write(root, dev.driver, "unbind", dev.instance);
		if (err)
			goto out;
	}
	err = vmbus_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/devices/%s/driver_override",
			       root, dev.instance);
	if (err)
		goto out;
	if (stat(path, &st) == 0) {
		err = write_attr(path, driver);
		if (!err)
			err = driver_write(root, driver, "bind", dev.instance);
		goto out;
	}
	/* new_id probes every unbound device of the class; EEXIST: the id was there. */
	err = driver_write(root, driver, "new_id", dev.class_id);
	if (err && err != -EEXIST)
		goto out;
	err = vmbus_device_read(root, dev.instance, &now);
	if (err)
		goto out;
	if (strcmp(now.driver, driver) != 0)
		err = driver_write(root, driver, "bind", dev.instance);
	free(now.channels);
out:
	free(dev.channels);
	return err;
}

HV_EXPORT int hv_vmbus_unbind(const char *root, const char *instance)
{
	struct hv_vmbus_device dev;
	int err;

	if (!root || !instance)
		return -EINVAL;
	err = device_get(root, instance, &dev);
	if (err)
		return err;
	if (!dev.driver[0])
		goto out;
	err = driver_loaded(root, dev.driver);
	if (!err)
		err = check_busy(root, &dev);
	if (!err)
		err = driver_write(root, dev.driver, "unbind", dev.instance);
out:
	free(dev.channels);
	return err;
}
