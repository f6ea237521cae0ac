/* SPDX-License-Identifier: ISC */
/*
 * libhvuio: userspace Hyper-V VMBus devices over uio_hv_generic (rings,
 * devices and channels, the IC framework, the file copy codec). The KVP service is libhvkvp's,
 * <hvuio/hvkvp.h>. Every header has its own extern "C" guard.
 */
#ifndef HVUIO_HVUIO_H
#define HVUIO_HVUIO_H

#include <hvuio/ring.h>
#include <hvuio/vmbus.h>
#include <hvuio/chan.h>
#include <hvuio/maps.h>
#include <hvuio/ic.h>
#include <hvuio/fcopy_msg.h>
#include <hvuio/utf8.h>

#endif
