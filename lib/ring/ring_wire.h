/* SPDX-License-Identifier: ISC */
/*
 * The ring header and packet descriptor as the host lays them out
 * (struct hv_ring_buffer and struct vmpacket_descriptor in Linux's
 * include/linux/hyperv.h). Private to lib/ring.
 */
#ifndef HVUIO_RING_WIRE_H
#define HVUIO_RING_WIRE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Not packed: the fields the two sides exchange are C11 atomics, and every
 * one of them sits at its natural alignment, so the layout has no padding
 * (the asserts below prove it) and packing would only make atomic access
 * impossible.
 */
struct ring_hdr {
	_Atomic uint32_t write_index;     /* producer's: next byte it writes */
	_Atomic uint32_t read_index;      /* consumer's: next byte it reads */
	_Atomic uint32_t interrupt_mask;  /* consumer's: 1 = don't interrupt */
	_Atomic uint32_t pending_send_sz; /* producer's: wake me at this room */
	uint32_t reserved1[12];
	_Atomic uint32_t feature_bits;    /* producer's: FEAT_PENDING_SEND_SZ */
};

#define RING_FEAT_PENDING_SEND_SZ 0x1u

_Static_assert(offsetof(struct ring_hdr, write_index) == 0, "write_index");
_Static_assert(offsetof(struct ring_hdr, read_index) == 4, "read_index");
_Static_assert(offsetof(struct ring_hdr, interrupt_mask) == 8, "interrupt_mask");
_Static_assert(offsetof(struct ring_hdr, pending_send_sz) == 12, "pending_send_sz");
_Static_assert(offsetof(struct ring_hdr, feature_bits) == 64, "feature_bits");
_Static_assert(sizeof(struct ring_hdr) == 68, "struct hv_ring_buffer up to its padding");

struct vmpacket_descriptor {
	uint16_t type;
	uint16_t offset8;   /* header length in 8-byte units */
	uint16_t len8;      /* packet length in 8-byte units, trailer excluded */
	uint16_t flags;
	uint64_t trans_id;
} __attribute__((packed));

_Static_assert(sizeof(struct vmpacket_descriptor) == 16, "vmpacket_descriptor");

#endif
