/* SPDX-License-Identifier: ISC */
/*
 * Opening a device: its sysfs description, its maps, its events, the
 * signal to the host, and what its kernel allows on sub-channels.
 *
 * The node itself (a real /dev/uioN or a sim socket) is behind
 * struct vmbus_dev_ops: dev_uio.c and dev_sim.c. Everything here runs the
 * same for both.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hvuio/chan.h"
#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "dev.h"
#include "hvuio_private.h"
#include "sysfs.h"

/* Hyper-V allows 128 monitored channels (4 trigger groups of 32). */
#define VMBUS_MONITOR_MAX_ID 128

/*
 * struct hv_monitor_page (Linux's include/hyperv/hvgdk_mini.h, DPDK's
 * rte_vmbus_reg.h): after an 8-byte trigger state come four trigger
 * groups of {u32 pending, u32 armed}. Only the pending words matter here.
 */
#define VMBUS_MONITOR_TRIGGER_GROUP_OFF 8u
#define VMBUS_MONITOR_TRIGGER_GROUP_SIZE 8u
#define VMBUS_MONITOR_MIN_SIZE 0x28u
/*
 * The interrupt page: 2 KiB of host-to-guest bits, then 2 KiB of
 * guest-to-host ones, bit N for relid N (Linux's vmbus_send_interrupt,
 * DPDK's vmbus_send_interrupt).
 */
#define VMBUS_INT_PAGE_SIZE 4096u
#define VMBUS_INT_SEND_OFF 2048u
/* How long the probe waits for a sim host to act on a write() (a kernel acts at once). */
#define SUB_PROBE_MS 2000

bool vmbus_dev_ring_size_ok(const struct hv_dev *dev, uint64_t ring_size)
{
	/*
	 * A header page and at least one page of data, in whole Hyper-V
	 * pages (the same check as DPDK's vmbus_uio_map_subchan).
	 */
	return ring_size > dev->page_size && ring_size % 4096 == 0 &&
	       ring_size <= INT32_MAX;
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
		    d->maps[i].size >= VMBUS_MONITOR_MIN_SIZE)
			dev->monitor_map = (int)i;
		if (!strcmp(d->maps[i].name, "int_page") && d->maps[i].size >= VMBUS_INT_PAGE_SIZE)
			dev->int_map = (int)i;
	}
	dev->nmaps = d->nmaps;
	/* TX ring first, then RX, each half of map 0 (DPDK's vmbus_uio_map_primary). */
	if (d->maps[0].size % 2 || !vmbus_dev_ring_size_ok(dev, d->maps[0].size / 2))
		goto out;
	dev->ring_size = d->maps[0].size / 2;
	dev->relid = d->relid;
	dev->monitor_id = d->monitor_id;
	memcpy(dev->instance, d->instance, sizeof(dev->instance));
	*uio_index = d->uio_index;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/sys/bus/vmbus/devices/%s", root,
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

/* An op's -ENODEV: the node said the device is gone; nothing touches it again. */
static int dev_node_err(struct hv_dev *dev, int err)
{
	if (err == -ENODEV)
		atomic_store(&dev->gone, true);
	return err;
}

static int dev_node_write(struct hv_dev *dev, uint32_t value)
{
	return dev_node_err(dev, dev->ops->write(dev, value));
}

static void sub_irq_initial(struct hv_dev *dev)
{
	const struct hv_vmbus_kernel *k = &dev->kernel;
	const char *rel = k->release[0] ? k->release : "(unknown)";
	int n = 0;

	switch (dev->sub_irq_mode) {
	case HV_CHAN_SUB_IRQ_ON:
		atomic_store(&dev->sub_irq, 1);
		snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
			 "sub-channel interrupts forced on (kernel %s%s)", rel,
			 k->subchannel_events == 1 ? "" :
			 ", which may lack d062463edf17 and crash on them");
		return;
	case HV_CHAN_SUB_IRQ_OFF:
		atomic_store(&dev->sub_irq, 0);
		snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
			 "sub-channels polled, as asked (kernel %s)", rel);
		return;
	case HV_CHAN_SUB_IRQ_AUTO:
		break;
	}
	if (k->subchannel_events == 1) {
		atomic_store(&dev->sub_irq, 1);
		snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
			 "kernel %s has d062463edf17: sub-channels take interrupts%s", rel,
			 k->subchannel_signal == 1 ? " and write() signals them" :
			 ", signalled through the interrupt page");
		return;
	}
	if (k->subchannel_events == -1) {
		atomic_store(&dev->sub_irq, -1);
		snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
			 "kernel %s is a distribution's: d062463edf17 is probed when the first "
			 "sub-channel opens", rel);
		return;
	}
	atomic_store(&dev->sub_irq, 0);
	n = snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
		     "kernel %s lacks d062463edf17 (6.16; 6.12.59, 6.6.118, 6.1.159, 5.15.197): "
		     "a sub-channel interrupt would dereference NULL in hv_uio_channel_cb, so "
		     "sub-channels are polled", rel);
	if (k->user_mask == 1 && n > 0 && (size_t)n < sizeof(dev->sub_irq_why))
		snprintf(dev->sub_irq_why + n, sizeof(dev->sub_irq_why) - (size_t)n,
			 "; it no longer masks new sub-channels (b15b7d2a1b09), so a host "
			 "that offers one may crash it before it is opened");
}

static _Atomic uint32_t *hdr_mask(uint8_t *hdr)
{
	/* struct hv_ring_buffer: write_index, read_index, interrupt_mask. */
	return (_Atomic uint32_t *)(hdr + 8);
}

static int64_t dev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The probe, made safe: a write of 0 sets the mask of
 * every channel to 1 on kernels with d062463edf17 (or its reduced
 * backport) and only the primary's before. Both masks are first set to
 * 2, which the host takes as masked too, so no channel is unmasked at
 * any moment; the primary's 2 turning into 1 says the write took effect
 * (at once on a kernel, when the host reads it on a sim).
 */
void vmbus_dev_sub_irq_decide(struct hv_dev *dev, uint8_t *sub_rx_hdr, uint8_t *primary_rx_hdr)
{
	_Atomic uint32_t *pm = hdr_mask(primary_rx_hdr), *sm = hdr_mask(sub_rx_hdr);
	const char *rel = dev->kernel.release[0] ? dev->kernel.release : "(unknown)";
	uint32_t old = atomic_load(pm);
	int64_t end;
	bool answered, fixed;
	int err;

	if (atomic_load(&dev->sub_irq) != -1)
		return;
	atomic_store(pm, 2);
	atomic_store(sm, 2);
	err = dev_node_write(dev, 0);
	end = dev_now_ms() + SUB_PROBE_MS;
	while (!err && atomic_load(pm) == 2 && dev_now_ms() < end)
		sched_yield();
	answered = !err && atomic_load(pm) != 2;
	fixed = answered && atomic_load(sm) == 1;
	atomic_store(sm, 1);
	atomic_store(pm, old);
	if (!answered) {
		atomic_store(&dev->sub_irq, 0);
		snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
			 "kernel %s: the probe for d062463edf17 got no answer (%s), so "
			 "sub-channels are polled", rel, err ? strerror(-err) : "timeout");
		return;
	}
	atomic_store(&dev->sub_irq, fixed);
	snprintf(dev->sub_irq_why, sizeof(dev->sub_irq_why),
		 fixed ? "kernel %s: a write of 0 masked the sub-channel, so it has "
			 "d062463edf17: sub-channels take interrupts" :
			 "kernel %s: a write of 0 left the sub-channel alone, so it lacks "
			 "d062463edf17 (a sub-channel interrupt would dereference NULL): "
			 "sub-channels are polled", rel);
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
	dev->int_map = -1;
	dev->page_size = (size_t)page;
	atomic_init(&dev->gone, false);
	atomic_init(&dev->events, 0);
	atomic_init(&dev->primary_open, false);
	atomic_init(&dev->sub_irq, 0);

	err = dev_describe(dev, root, instance, &uio_index);
	if (err)
		goto out;
	/* A release that cannot be read or parsed leaves every fix unknown. */
	dev->kernel.sz = sizeof(dev->kernel);
	if (hv_vmbus_kernel_get(root, &dev->kernel) < 0) {
		dev->kernel.distribution = true;
		dev->kernel.subchannel_events = dev->kernel.subchannel_signal = -1;
	}
	sub_irq_initial(dev);
	err = vmbus_sysfs_path(path, sizeof(path), "%s/dev/uio%d", root, uio_index);
	if (err)
		goto out;
	if (stat(path, &st) < 0) {
		err = -errno;
		goto out;
	}
	dev->ops = S_ISSOCK(st.st_mode) ? &vmbus_dev_sim_ops : &vmbus_dev_uio_ops;
	err = dev->ops->open(dev, path);
	if (err)
		goto out;
	if (dev->monitor_map > 0)
		dev->monitor_page = dev->maps[dev->monitor_map].addr;
	if (dev->int_map > 0)
		dev->int_page = dev->maps[dev->int_map].addr;
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
	return dev->ops == &vmbus_dev_sim_ops;
}

HV_EXPORT const char *hv_dev_instance(const struct hv_dev *dev)
{
	return dev->instance;
}

HV_EXPORT int hv_dev_sub_irq_set(struct hv_dev *dev, enum hv_chan_sub_irq mode)
{
	if (mode != HV_CHAN_SUB_IRQ_AUTO && mode != HV_CHAN_SUB_IRQ_ON &&
	    mode != HV_CHAN_SUB_IRQ_OFF)
		return -EINVAL;
	dev->sub_irq_mode = mode;
	sub_irq_initial(dev);
	return 0;
}

HV_EXPORT void hv_dev_sub_irq_get(const struct hv_dev *dev, bool *on, const char **why)
{
	if (on)
		*on = atomic_load(&dev->sub_irq) == 1;
	if (why)
		*why = dev->sub_irq_why;
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
	while ((err = dev->ops->read_event(dev, &v)) >= 0) {
		any = true;
		if (err == 0)
			atomic_store_explicit(&dev->events, v, memory_order_relaxed);
	}
	if (err != -EAGAIN)
		return dev_node_err(dev, err);
	if (count)
		*count = atomic_load_explicit(&dev->events, memory_order_relaxed);
	return any ? 0 : -EAGAIN;
}

static void bit_set(uint8_t *words, uint32_t bit)
{
	_Atomic uint32_t *w = (_Atomic uint32_t *)(words + 4 * (bit / 32));

	atomic_fetch_or(w, 1u << (bit % 32));
}

int vmbus_dev_signal(struct hv_dev *dev, uint32_t relid, int32_t monitor_id)
{
	if (atomic_load(&dev->gone))
		return -ENODEV;
	/*
	 * The channel's bit in the guest-to-host half of the interrupt
	 * page first, as Linux's vmbus_setevent and vmbus_set_event do for
	 * every channel: the host finds a sub-channel there that a write()
	 * of this kernel does not signal (DPDK's vmbus_send_interrupt).
	 */
	if (dev->int_page && relid < 8 * (VMBUS_INT_PAGE_SIZE - VMBUS_INT_SEND_OFF))
		bit_set(dev->int_page + VMBUS_INT_SEND_OFF, relid);
	if (monitor_id >= 0 && monitor_id < VMBUS_MONITOR_MAX_ID && dev->monitor_page) {
		/*
		 * A monitored channel is signalled without a hypercall: its
		 * bit in the pending word of its trigger group, which the
		 * host scans (vmbus_setevent; DPDK's vmbus_set_monitor).
		 */
		bit_set(dev->monitor_page + VMBUS_MONITOR_TRIGGER_GROUP_OFF +
			VMBUS_MONITOR_TRIGGER_GROUP_SIZE * ((uint32_t)monitor_id / 32),
			(uint32_t)monitor_id % 32);
		return 0;
	}
	return dev_node_write(dev, 1);
}
