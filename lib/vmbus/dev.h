/* SPDX-License-Identifier: ISC */
/* What a channel needs of its device. Private to lib/vmbus. */
#ifndef HVUIO_VMBUS_DEV_H
#define HVUIO_VMBUS_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvuio/chan.h"
#include "hvuio/vmbus.h"

struct vmbus_dev_map {
	void *addr;
	size_t len;       /* what was mapped */
	uint64_t size;    /* what sysfs says */
};

/*
 * The two kinds of device node: /dev/uioN of uio_hv_generic (dev_uio.c)
 * and the sim socket (dev_sim.c). Only these open, map, read and write
 * the node; everything else is shared (dev.c), and dev.c alone records
 * that the device is gone when an op says -ENODEV.
 */
struct vmbus_dev_ops {
	/* Open the node at path and map every map of dev->maps. */
	int (*open)(struct hv_dev *dev, const char *path);
	/*
	 * One pending event: 0 with *value (the cumulative count), 1 for an
	 * event without a count, -EAGAIN for none, -ENODEV when the node
	 * says the device is gone, another negative errno.
	 */
	int (*read_event)(struct hv_dev *dev, uint32_t *value);
	/* The write() of a 32-bit value: 0, -ENODEV (gone), or -errno. */
	int (*write)(struct hv_dev *dev, uint32_t value);
};

extern const struct vmbus_dev_ops vmbus_dev_uio_ops;
/* Does this errno of a 4-byte read or write of /dev/uioN mean the device is gone? */
bool vmbus_dev_uio_errno_gone(int e);
extern const struct vmbus_dev_ops vmbus_dev_sim_ops;

struct hv_dev {
	int fd;                 /* /dev/uioN, or the sim socket */
	const struct vmbus_dev_ops *ops;
	atomic_bool gone;       /* rescinded: nothing touches the device again */
	char instance[HV_VMBUS_GUID_STRLEN];
	char *dev_dir;          /* ROOT/sys/bus/vmbus/devices/<instance> */
	uint32_t relid;
	int32_t monitor_id;
	size_t page_size;
	size_t ring_size;       /* of the primary channel, each direction */
	unsigned int nmaps;
	struct vmbus_dev_map maps[HV_VMBUS_MAX_MAPS];
	int monitor_map;        /* index of "monitor_page", -1 if none */
	int int_map;            /* index of "int_page", -1 if none */
	uint8_t *monitor_page;  /* their mappings */
	uint8_t *int_page;
	_Atomic uint32_t events;
	atomic_bool primary_open;
	/* What the kernel does to sub-channels (dev.c, hv_dev_sub_irq_get). */
	struct hv_vmbus_kernel kernel;
	enum hv_chan_sub_irq sub_irq_mode;
	atomic_int sub_irq;     /* 1 interrupts, 0 polled, -1 not decided yet */
	char sub_irq_why[256];
};

/*
 * Interrupt the host for a channel as the kernel would (vmbus_setevent):
 * relid's bit in the interrupt page, then the monitor bit of a monitored
 * channel (monitor_id >= 0) or the write of 1 for one without.
 */
int vmbus_dev_signal(struct hv_dev *dev, uint32_t relid, int32_t monitor_id);

/*
 * Decide, once, whether sub-channels may take interrupts; sub_rx is the
 * receiving ring header of the first sub-channel, masked, for the probe.
 */
void vmbus_dev_sub_irq_decide(struct hv_dev *dev, uint8_t *sub_rx_hdr, uint8_t *primary_rx_hdr);

/* Is ring_size possible for a ring of this device? */
bool vmbus_dev_ring_size_ok(const struct hv_dev *dev, uint64_t ring_size);

#endif
