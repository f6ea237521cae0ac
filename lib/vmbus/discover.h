/* SPDX-License-Identifier: ISC */
/* Discovery internals shared with binding. Private to lib/vmbus. */
#ifndef HVUIO_VMBUS_DISCOVER_H
#define HVUIO_VMBUS_DISCOVER_H

#include "hvuio/vmbus.h"

/*
 * Read the device ROOT/sys/bus/vmbus/devices/<name> into dev (which owns
 * dev->channels afterwards). -EBADMSG for a malformed or incomplete one.
 */
int vmbus_device_read(const char *root, const char *name, struct hv_vmbus_device *dev);

#endif
