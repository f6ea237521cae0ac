/* SPDX-License-Identifier: ISC */
/*
 * The part of NVSP, the protocol of Hyper-V's synthetic NIC on its VMBus
 * channels, that hvpoll(8) speaks and hvsim(8) answers: version, the
 * receive and send buffers by GPADL handle, sub-channels, and received
 * RNDIS data. Message numbers and layouts from DPDK's
 * drivers/net/netvsc/hn_nvs.h and hn_rndis.h and Linux's
 * drivers/net/hyperv/hyperv_net.h; every message is 40 bytes on the
 * wire but the responses that carry tables. Private to tools/.
 */
#ifndef HVUIO_TOOLS_NVSP_H
#define HVUIO_TOOLS_NVSP_H

#include <stdint.h>

#define NVSP_TYPE_INIT           1
#define NVSP_TYPE_INIT_RESP      2
#define NVSP_TYPE_RXBUF_CONN     101
#define NVSP_TYPE_RXBUF_CONNRESP 102
#define NVSP_TYPE_CHIM_CONN      104
#define NVSP_TYPE_CHIM_CONNRESP  105
#define NVSP_TYPE_RNDIS          107
#define NVSP_TYPE_RNDIS_ACK      108
#define NVSP_TYPE_SUBCH_REQ      133  /* the response has the same number */

#define NVSP_STATUS_OK     1
#define NVSP_STATUS_FAILED 2

#define NVSP_VERSION_61    0x60001u
#define NVSP_RXBUF_SIG     0xcafe     /* the transfer page set of the receive buffer */
#define NVSP_CHIM_SIG      0xface
#define NVSP_SUBCH_OP_ALLOC 1
#define NVSP_RNDIS_MTYPE_DATA 0
#define NVSP_CHIM_IDX_INVALID 0xffffffffu

/* Linux's NETVSC_RECV_SECTION_SIZE and NETVSC_SEND_SECTION_SIZE. */
#define NVSP_RECV_SLOT_SIZE 1728u
#define NVSP_SEND_SECTION_SIZE 6144u

struct nvsp_init {
	uint32_t type, ver_min, ver_max;
	uint8_t rsvd[28];
} __attribute__((packed));

struct nvsp_init_resp {
	uint32_t type, ver, rsvd, status;
} __attribute__((packed));

/* RXBUF_CONN and CHIM_CONN: a buffer the guest hands over by GPADL. */
struct nvsp_buf_conn {
	uint32_t type, gpadl;
	uint16_t sig;
	uint8_t rsvd[30];
} __attribute__((packed));

struct nvsp_rxbuf_sect {
	uint32_t start, slotsz, slotcnt, end;
} __attribute__((packed));

struct nvsp_rxbuf_connresp {
	uint32_t type, status, nsect;
	struct nvsp_rxbuf_sect sect[1];
} __attribute__((packed));

struct nvsp_chim_connresp {
	uint32_t type, status, sectsz;
} __attribute__((packed));

/* SUBCH_REQ, and its response with status for op. */
struct nvsp_subch {
	uint32_t type, op_or_status, nsubch;
	uint8_t rsvd[28];
} __attribute__((packed));

/* The in-band part of a transfer-page packet of received frames. */
struct nvsp_rndis {
	uint32_t type, mtype, chim_idx, chim_sz;
	uint8_t rsvd[24];
} __attribute__((packed));

struct nvsp_rndis_ack {
	uint32_t type, status;
	uint8_t rsvd[32];
} __attribute__((packed));

/* RNDIS_PACKET_MSG, the header before each frame in the receive buffer. */
#define RNDIS_PACKET_MSG 1u
struct rndis_packet_msg {
	uint32_t type, len;
	uint32_t data_offset;   /* from the data_offset field itself */
	uint32_t data_len;
	uint32_t oob_offset, oob_len, oob_count;
	uint32_t pktinfo_offset, pktinfo_len;
	uint32_t vc_handle, reserved;
} __attribute__((packed));
#define RNDIS_DATA_OFFSET_BASE 8u

/* Reference sizes: hn_nvs.h (40 bytes a message), hn_rndis.h. */
_Static_assert(sizeof(struct nvsp_init) == 40, "hn_nvs_init");
_Static_assert(sizeof(struct nvsp_init_resp) == 16, "hn_nvs_init_resp");
_Static_assert(sizeof(struct nvsp_buf_conn) == 40, "hn_nvs_rxbuf_conn");
_Static_assert(sizeof(struct nvsp_rxbuf_connresp) == 28, "hn_nvs_rxbuf_connresp");
_Static_assert(sizeof(struct nvsp_chim_connresp) == 12, "hn_nvs_chim_connresp");
_Static_assert(sizeof(struct nvsp_subch) == 40, "hn_nvs_subch_req");
_Static_assert(sizeof(struct nvsp_rndis) == 40, "hn_nvs_rndis");
_Static_assert(sizeof(struct nvsp_rndis_ack) == 40, "hn_nvs_rndis_ack");
_Static_assert(sizeof(struct rndis_packet_msg) == 44, "rndis_packet_msg");

/*
 * FNV-1a, 64 bits, over the frames of a channel in order: hvsim prints
 * it for what it wrote, hvpoll for what it read.
 */
#define NVSP_FNV_OFFSET 0xcbf29ce484222325ull
static inline uint64_t nvsp_fnv(uint64_t h, const volatile uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#endif
