/* SPDX-License-Identifier: ISC */
/* libhvuio: userspace Hyper-V VMBus devices over uio_hv_generic. */
#ifndef HVUIO_HVUIO_H
#define HVUIO_HVUIO_H

#include <hvuio/ring.h>
#include <hvuio/vmbus.h>
#include <hvuio/chan.h>
#include <hvuio/ic.h>
#include <hvuio/kvp_msg.h>
#include <hvuio/kvp_info.h>
#include <hvuio/kvp_pool.h>
#include <hvuio/kvp_service.h>

#endif
