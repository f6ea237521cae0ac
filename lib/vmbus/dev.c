/* SPDX-License-Identifier: ISC */
/*
 * Opening a device: its uio node, its maps, its events and the signal to
 * the host.
 *
 * A real device is /dev/uioN of uio_hv_generic; a sim device is a
 * SOCK_SEQPACKET socket at the same path whose peer plays the host and
 * hands over the maps as file descriptors. Only hv_dev_open's mapping
 * step, hv_dev_ack's read and hv_dev_signal's write tell the two apart.
 *
 * uio facts used here (Linux's drivers/uio/uio.c): map N is selected by
 * the mmap offset N * page size; read() takes exactly 4 bytes, returns
 * the cumulative event count and fails with EIO once the device is gone;
 * write() takes exactly 4 bytes. uio_hv_generic's write of 1 also makes
 * the kernel signal the host for a channel that is not monitored
 * (hv_uio_irqcontrol in drivers/uio/uio_hv_generic.c).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hvuio/chan.h"
#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "dev.h"
#include "hvuio_private.h"
#include "sysfs.h"

/* How long a sim host may take to send its maps after the connect. */
#define SIM_HANDSHAKE_MS 5000
/* Room for more descriptors than a host may send, to catch one that lies. */
#define SIM_MAX_FDS 16
/* Hyper-V allows 128 monitored channels (4 trigger groups of 32). */
#define HV_MONITOR_MAX_ID 128

/*
 * struct hv_monitor_page (Linux's include/hyperv/hvgdk_mini.h, DPDK's
 * rte_vmbus_reg.h): after an 8-byte trigger state come four trigger
 * groups of {u32 pending, u32 armed}. Only the pending words matter here.
 */
#define HV_MONITOR_TRIGGER_GROUP_OFF 8u
#define HV_MONITOR_TRIGGER_GROUP_SIZE 8u
#define HV_MONITOR_MIN_SIZE 0x28u

bool hv_dev_ring_size_ok(const struct hv_dev *dev, uint64_t ring_size)
{
	/*
	 * A header page and at least one page of data, in whole Hyper-V
	 * pages (the same check as DPDK's vmbus_uio_map_subchan).
	 */
	return ring_size > dev->page_size && ring_size % 4096 == 0 &&
	       ring_size <= INT32_MAX;
}

static void dev_close_fds(const int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * The sim handshake: one message of a 4-byte map count with that many
 * descriptors, map 0 first. Whatever arrives is closed again unless it
 * is exactly what sysfs announced.
 */
static int dev_sim_receive_maps(struct hv_dev *dev, int *fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SIM_MAX_FDS * sizeof(int))];
	} ctl;
	struct pollfd pfd = { .fd = dev->fd, .events = POLLIN };
	uint32_t count;
	struct iovec iov = { &count, sizeof(count) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	int got[SIM_MAX_FDS];
	unsigned int ngot = 0, i;
	ssize_t n;
	int err, r;

	do
		r = poll(&pfd, 1, SIM_HANDSHAKE_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	do
		n = recvmsg(dev->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Collect every descriptor first, so that every error path closes all. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t k, nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(fd));
			if (ngot < SIM_MAX_FDS)
				got[ngot++] = fd;
			else
				close(fd);
		}
	}

	err = -EBADMSG;
	/* No message at all (the host hung up) or one of the wrong shape. */
	if (n != sizeof(count) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		goto out;
	count = le32toh(count);
	if (count != dev->nmaps || count != ngot)
		goto out;
	for (i = 0; i < ngot; i++)
		fds[i] = got[i];
	return 0;
out:
	dev_close_fds(got, ngot);
	return err;
}

static int dev_map_sim(struct hv_dev *dev)
{
	int fds[HV_VMBUS_MAX_MAPS];
	unsigned int i;
	int err;

	err = dev_sim_receive_maps(dev, fds);
	if (err)
		return err;
	for (i = 0; i < dev->nmaps; i++) {
		struct hv_dev_map *m = &dev->maps[i];
		struct stat st;
		void *p;

		if (fstat(fds[i], &st) < 0) {
			err = -errno;
			goto out;
		}
		/* A short file would turn an access into SIGBUS. */
		if (st.st_size < 0 || (uint64_t)st.st_size < m->size) {
			err = -EBADMSG;
			goto out;
		}
		p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (p == MAP_FAILED) {
			err = -errno;
			goto out;
		}
		m->addr = p;
		m->len = m->size;
	}
	err = 0;
out:
	dev_close_fds(fds, dev->nmaps);
	return err;
}

static int dev_map_uio(struct hv_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->nmaps; i++) {
		struct hv_dev_map *m = &dev->maps[i];
		size_t len = (m->size + dev->page_size - 1) & ~(dev->page_size - 1);
		void *p;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
			 (off_t)i * (off_t)dev->page_size);
		if (p == MAP_FAILED)
			return -errno;
		m->addr = p;
		m->len = len;
	}
	return 0;
}

static int dev_connect_sim(struct hv_dev *dev, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	dev->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (dev->fd < 0)
		return -errno;
	do
		r = connect(dev->fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* Take what the device needs from discovery; the list is freed after. */
static int dev_describe(struct hv_dev *dev, const char *root, const char *instance,
			int *uio_index)
{
	const struct hv_vmbus_device *d;
	struct hv_vmbus_list *list;
	char path[PATH_MAX];
	unsigned int i;
	int err;

	err = hv_vmbus_list_new(root, &list);
	if (err)
		return err;
	err = -ENOENT;
	d = hv_vmbus_list_find(list, instance);
	if (!d)
		goto out;
	err = -ENXIO;
	if (d->uio_index < 0)
		goto out;
	err = -EBADMSG;
	if (d->nmaps < 1 || d->nmaps > HV_VMBUS_MAX_MAPS)
		goto out;
	for (i = 0; i < d->nmaps; i++) {
		/* A map the address space could not hold is a lie. */
		if (d->maps[i].size == 0 || d->maps[i].size > SIZE_MAX / 4)
			goto out;
		dev->maps[i].size = d->maps[i].size;
		if (!strcmp(d->maps[i].name, "monitor_page") &&
		    d->maps[i].size >= HV_MONITOR_MIN_SIZE)
			dev->monitor_map = (int)i;
	}
	dev->nmaps = d->nmaps;
	/* TX ring first, then RX, each half of map 0 (DPDK's vmbus_uio_map_primary). */
	if (d->maps[0].size % 2 || !hv_dev_ring_size_ok(dev, d->maps[0].size / 2))
		goto out;
	dev->ring_size = d->maps[0].size / 2;
	dev->relid = d->relid;
	dev->monitor_id = d->monitor_id;
	memcpy(dev->instance, d->instance, sizeof(dev->instance));
	*uio_index = d->uio_index;
	err = hv_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/devices/%s", root,
		       d->instance);
	if (err)
		goto out;
	err = -ENOMEM;
	dev->dev_dir = strdup(path);
	if (!dev->dev_dir)
		goto out;
	err = 0;
out:
	hv_vmbus_list_free(list);
	return err;
}

HV_EXPORT int hv_dev_open(const char *root, const char *instance, struct hv_dev **ret)
{
	char path[PATH_MAX];
	struct hv_dev *dev;
	struct stat st;
	long page;
	int uio_index, err;

	if (!root || !instance || !ret)
		return -EINVAL;
	page = sysconf(_SC_PAGESIZE);
	if (page < 4096)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd = -1;
	dev->monitor_map = -1;
	dev->page_size = (size_t)page;
	atomic_init(&dev->gone, false);
	atomic_init(&dev->events, 0);
	atomic_init(&dev->primary_open, false);

	err = dev_describe(dev, root, instance, &uio_index);
	if (err)
		goto out;
	err = hv_sysfs_path(path, sizeof(path), "%s/dev/uio%d", root, uio_index);
	if (err)
		goto out;
	if (stat(path, &st) < 0) {
		err = -errno;
		goto out;
	}
	dev->sim = S_ISSOCK(st.st_mode);
	if (dev->sim) {
		err = dev_connect_sim(dev, path);
		if (!err)
			err = dev_map_sim(dev);
	} else {
		/*
		 * Opening makes the kernel open the channel with the host
		 * (hv_uio_open). O_NONBLOCK lets hv_dev_ack drain without
		 * sleeping; uio ignores it for write().
		 */
		dev->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		err = dev->fd < 0 ? -errno : dev_map_uio(dev);
	}
	if (err)
		goto out;

	if (dev->monitor_map > 0)
		dev->monitor_page = dev->maps[dev->monitor_map].addr;
	*ret = dev;
	return 0;
out:
	hv_dev_close(dev);
	return err;
}

HV_EXPORT void hv_dev_close(struct hv_dev *dev)
{
	unsigned int i;

	if (!dev)
		return;
	for (i = 0; i < dev->nmaps; i++)
		if (dev->maps[i].addr)
			munmap(dev->maps[i].addr, dev->maps[i].len);
	if (dev->fd >= 0)
		close(dev->fd);
	free(dev->dev_dir);
	free(dev);
}

HV_EXPORT int hv_dev_fd(const struct hv_dev *dev)
{
	return dev->fd;
}

HV_EXPORT bool hv_dev_is_sim(const struct hv_dev *dev)
{
	return dev->sim;
}

HV_EXPORT const char *hv_dev_instance(const struct hv_dev *dev)
{
	return dev->instance;
}

static int dev_gone(struct hv_dev *dev)
{
	atomic_store(&dev->gone, true);
	return -ENODEV;
}

/* One event, 0; none pending, -EAGAIN; rescind, -ENODEV. */
static int dev_read_event(struct hv_dev *dev, uint32_t *value)
{
	uint32_t v;
	ssize_t n;

	for (;;) {
		if (dev->sim)
			n = recv(dev->fd, &v, sizeof(v), MSG_DONTWAIT);
		else
			n = read(dev->fd, &v, sizeof(v));
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EIO || errno == ECONNRESET)
			return dev_gone(dev);
		return -errno;
	}
	/* A socket that read 0 bytes was closed by the host: a rescind. */
	if (n == 0)
		return dev_gone(dev);
	/*
	 * A sim message of another size is still an interrupt (the host
	 * asked us to look at the rings), but its value means nothing.
	 */
	if (n != sizeof(v))
		return 1;
	*value = le32toh(v);
	return 0;
}

HV_EXPORT int hv_dev_ack(struct hv_dev *dev, uint32_t *count)
{
	bool any = false;
	uint32_t v;
	int err;

	if (atomic_load(&dev->gone))
		return -ENODEV;
	/*
	 * uio answers a second read with EAGAIN (it reports the counter
	 * once per change); a socket queues one message per interrupt.
	 * Either way, read until nothing is left.
	 */
	while ((err = dev_read_event(dev, &v)) >= 0) {
		any = true;
		if (err == 0)
			atomic_store_explicit(&dev->events, v, memory_order_relaxed);
	}
	if (err != -EAGAIN)
		return err;
	if (count)
		*count = atomic_load_explicit(&dev->events, memory_order_relaxed);
	return any ? 0 : -EAGAIN;
}

int hv_dev_signal(struct hv_dev *dev, int32_t monitor_id)
{
	const uint32_t one = htole32(1);
	ssize_t n;

	if (atomic_load(&dev->gone))
		return -ENODEV;
	if (monitor_id >= 0 && monitor_id < HV_MONITOR_MAX_ID && dev->monitor_page) {
		/*
		 * A monitored channel is signalled without a hypercall: set
		 * its bit in the pending word of its trigger group, and the
		 * host finds it when it scans the page (Linux's
		 * drivers/hv/channel.c vmbus_setevent, DPDK's
		 * vmbus_set_monitor).
		 */
		_Atomic uint32_t *pending = (_Atomic uint32_t *)(dev->monitor_page +
			HV_MONITOR_TRIGGER_GROUP_OFF +
			HV_MONITOR_TRIGGER_GROUP_SIZE * ((uint32_t)monitor_id / 32));

		atomic_fetch_or(pending, 1u << ((uint32_t)monitor_id % 32));
		return 0;
	}
	for (;;) {
		if (dev->sim)
			n = send(dev->fd, &one, sizeof(one), MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(dev->fd, &one, sizeof(one));
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n == sizeof(one))
		return 0;
	if (n >= 0)
		return -EIO;
	/*
	 * A full socket means the host has interrupts from us it has not
	 * read yet; it looks at the rings for each, so one more adds
	 * nothing.
	 */
	if (dev->sim && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (errno == EIO || errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
		return dev_gone(dev);
	return -errno;
}
