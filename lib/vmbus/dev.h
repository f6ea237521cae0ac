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

struct hv_dev_map {
	void *addr;
	size_t len;       /* what was mapped */
	uint64_t size;    /* what sysfs says */
};

struct hv_dev {
	int fd;                 /* /dev/uioN, or the sim socket */
	bool sim;
	atomic_bool gone;       /* rescinded: nothing touches the device again */
	char instance[HV_VMBUS_GUID_STRLEN];
	char *dev_dir;          /* ROOT/sys/bus/vmbus/devices/<instance> */
	uint32_t relid;
	int32_t monitor_id;
	size_t page_size;
	size_t ring_size;       /* of the primary channel, each direction */
	unsigned int nmaps;
	struct hv_dev_map maps[HV_VMBUS_MAX_MAPS];
	int monitor_map;        /* index of "monitor_page", -1 if none */
	uint8_t *monitor_page;  /* its mapping */
	_Atomic uint32_t events;
	atomic_bool primary_open;
};

/* Interrupt the host for a channel; monitor_id < 0: not monitored. */
int hv_dev_signal(struct hv_dev *dev, int32_t monitor_id);

/* Is ring_size possible for a ring of this device? */
bool hv_dev_ring_size_ok(const struct hv_dev *dev, uint64_t ring_size);

#endif
