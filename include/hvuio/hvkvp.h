/* SPDX-License-Identifier: ISC */
/*
 * libhvkvp: the Hyper-V KVP (Data Exchange) service on libhvuio: the wire
 * codec, the pool store and its files, Auto pool values and IP info, the
 * request handler and its transports. Every header has its own extern "C"
 * guard.
 */
#ifndef HVUIO_HVKVP_H
#define HVUIO_HVKVP_H

#include <hvuio/hvuio.h>
#include <hvuio/kvp_msg.h>
#include <hvuio/kvp_info.h>
#include <hvuio/kvp_pool.h>
#include <hvuio/kvp_service.h>

#endif
