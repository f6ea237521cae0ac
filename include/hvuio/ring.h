/* SPDX-License-Identifier: ISC */
/*
 * hv_ring: one VMBus ring buffer over a mapped region.
 *
 * A ring is a header page followed by a circular data area. One side
 * produces into it, the other consumes; a channel is two rings, one each
 * way. This module works on memory only: it makes no system call, does not
 * allocate on the data path and never logs. Whenever the peer must be
 * interrupted it says so through a `need_signal` out-parameter and leaves
 * the signalling to the caller (lib/vmbus writes to /dev/uioN).
 *
 * The peer is not trusted. Every index and length read from the shared
 * region is read once, checked against the ring size, and a violation
 * returns -EBADMSG without touching memory outside the region. Our own
 * indices are kept privately and never read back from shared memory.
 *
 * Thread safety: one consumer at a time per ring; producers either one at a
 * time (hv_ring_write/hv_ring_publish/hv_ring_send) or any number at once
 * with hv_ring_send_mp. Do not mix the two producer styles concurrently.
 */
#ifndef HVUIO_RING_H
#define HVUIO_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the ring header the host knows (struct hv_ring_buffer). */
#define HV_RING_HEADER_SIZE 4096u

/* VMBus packet types: VM_PKT_* of enum vmbus_packet_type in Linux's hyperv.h. */
#define HV_RING_PKT_INVALID                0x0
#define HV_RING_PKT_SYNCH                  0x1
#define HV_RING_PKT_ADD_XFER_PAGESET       0x2
#define HV_RING_PKT_RM_XFER_PAGESET        0x3
#define HV_RING_PKT_ESTABLISH_GPADL        0x4
#define HV_RING_PKT_TEARDOWN_GPADL         0x5
#define HV_RING_PKT_DATA_INBAND            0x6
#define HV_RING_PKT_DATA_USING_XFER_PAGES  0x7
#define HV_RING_PKT_DATA_USING_GPADL       0x8
#define HV_RING_PKT_DATA_USING_GPA_DIRECT  0x9
#define HV_RING_PKT_CANCEL_REQUEST         0xa
#define HV_RING_PKT_COMP                   0xb
#define HV_RING_PKT_DATA_USING_ADDITIONAL_PKT 0xc
#define HV_RING_PKT_ADDITIONAL_DATA        0xd

#define HV_RING_PKT_FLAG_COMPLETION_REQUESTED 0x1

/* Size of struct vmpacket_descriptor, the header every packet starts with. */
#define HV_RING_DESC_SIZE    16u
/* Size of the trailer that follows every packet (the previous indices). */
#define HV_RING_TRAILER_SIZE 8u

struct hv_ring;

/* What to put in the descriptor of a packet to send. */
struct hv_ring_pkt_info {
	uint16_t type;     /* VM_PKT_* */
	uint16_t flags;    /* VMBUS_DATA_PACKET_FLAG_* */
	/*
	 * Bytes of header, the 16-byte descriptor included, before the
	 * payload: 0 or 16 for a plain packet; more when the first iovecs
	 * carry a type-specific header (GPA direct, transfer pages). A
	 * multiple of 8.
	 */
	uint32_t header_len;
	uint64_t trans_id;
};

/*
 * A received packet. `data` points to the whole packet (descriptor first),
 * contiguous: in place in the ring when it does not wrap, otherwise in the
 * ring's bounce buffer. The descriptor fields are a private snapshot taken
 * once and checked; the bytes behind `data` are in shared memory and may
 * change under the reader's feet, so a caller that parses them must copy
 * first (hv_ring_recv does).
 */
struct hv_ring_pkt {
	uint16_t type;
	uint16_t flags;
	uint32_t header_len;   /* offset8 * 8: where the payload starts */
	uint32_t len;          /* len8 * 8: whole packet, padding included */
	uint64_t trans_id;
	const uint8_t *data;
};

static inline const uint8_t *hv_ring_pkt_payload(const struct hv_ring_pkt *p)
{
	return p->data + p->header_len;
}

static inline uint32_t hv_ring_pkt_payload_len(const struct hv_ring_pkt *p)
{
	return p->len - p->header_len;
}

/*
 * A batch being read. Fill with hv_ring_iter_begin, walk with
 * hv_ring_iter_next, end with hv_ring_iter_commit. Lives on the caller's
 * stack; its fields are private.
 */
struct hv_ring_iter {
	struct hv_ring *ring;
	uint32_t start;   /* read index at begin */
	uint32_t pos;     /* after the last packet returned */
	uint32_t end;     /* write index snapshot */
	uint32_t reserved[5];  /* room for later releases: the size stays */
};

/*
 * Attach to the ring at `region`, `region_size` bytes of which the first
 * `header_size` are the header page (the guest's page size; the host's
 * 4 KiB header sits at its start). The data area is the rest and must be a
 * multiple of 8 bytes and smaller than 2 GiB. `max_pkt_size` bounds the
 * packets the receive side accepts (the size of the bounce buffer used for
 * packets that wrap); 0 selects HV_RING_DEFAULT_MAX_PKT.
 *
 * The ring's current indices become the private ones, so a region can be
 * attached at any time; hv_ring_reset gives a fresh ring.
 *
 * Returns 0, -EINVAL for a bad geometry, -EBADMSG if the header holds
 * impossible indices, -ENOMEM.
 */
#define HV_RING_DEFAULT_MAX_PKT (64u * 1024u)
int hv_ring_new(void *region, size_t region_size, size_t header_size,
		uint32_t max_pkt_size, struct hv_ring **ret);
void hv_ring_free(struct hv_ring *ring);

/*
 * What the host does when it opens a channel (hv_ringbuffer_init): both
 * indices to 0, interrupt mask and pending send size cleared, and
 * feat_pending_send_sz set. Only the side that owns the region may call it
 * while the peer is not using the ring.
 */
void hv_ring_reset(struct hv_ring *ring);

/* Size of the data area in bytes. */
uint32_t hv_ring_data_size(const struct hv_ring *ring);

/* ---- producer side ---- */

/*
 * Copy one packet into the ring without making it visible: descriptor,
 * the iovecs, zero padding to 8 bytes, the trailer. Single producer only.
 * Returns 0, -EAGAIN when the ring lacks room (it is never filled
 * completely: a packet needs strictly fewer bytes than are free),
 * -EMSGSIZE if the packet could never fit, -EINVAL for a bad header_len,
 * -EBADMSG when the peer's read index is impossible.
 */
int hv_ring_write(struct hv_ring *ring, const struct hv_ring_pkt_info *info,
		  const struct iovec *iov, unsigned int iovcnt);

/*
 * Make everything written since the last publish visible with one index
 * store. *need_signal is set when the ring went from empty to non-empty
 * and the peer's interrupt mask is clear: the only case in which Hyper-V
 * wants an interrupt.
 */
void hv_ring_publish(struct hv_ring *ring, bool *need_signal);

/* hv_ring_write then hv_ring_publish. */
int hv_ring_send(struct hv_ring *ring, const struct hv_ring_pkt_info *info,
		 const struct iovec *iov, unsigned int iovcnt, bool *need_signal);

/*
 * Send one packet when several threads send on the ring: space is reserved
 * by compare-and-swap, threads copy in parallel and publish in reservation
 * order. Same returns as hv_ring_write.
 */
int hv_ring_send_mp(struct hv_ring *ring, const struct hv_ring_pkt_info *info,
		    const struct iovec *iov, unsigned int iovcnt,
		    bool *need_signal);

/*
 * Ask the consumer to signal us once `bytes` are free (0 withdraws the
 * request). Call it after -EAGAIN, then check the room again before
 * sleeping.
 */
void hv_ring_set_pending_send_size(struct hv_ring *ring, uint32_t bytes);

/* ---- consumer side ---- */

/*
 * Start a batch with the packets published so far. Returns 0, -EAGAIN if
 * there are none, -EBADMSG if the peer's write index is impossible.
 */
int hv_ring_iter_begin(struct hv_ring *ring, struct hv_ring_iter *it);

/*
 * The next packet of the batch, zero-copy. The view stays valid until the
 * commit, except for a packet that wrapped: that one lives in the bounce
 * buffer until the next call. Returns 0, -EAGAIN at the end of the batch,
 * -EBADMSG for a descriptor that cannot be true (the batch stops there and
 * nothing past it is consumed), -EMSGSIZE for a well-formed packet larger
 * than max_pkt_size (it is consumed and skipped).
 */
int hv_ring_iter_next(struct hv_ring_iter *it, struct hv_ring_pkt *pkt);

/*
 * Release the packets returned so far with one store of the read index.
 * *need_signal is set when the producer waits for room
 * (pending_send_sz) and this commit gave it enough. Returns the number of
 * bytes released, trailers included.
 */
uint32_t hv_ring_iter_commit(struct hv_ring_iter *it, bool *need_signal);

/*
 * Copy the next packet, whole, into buf and release it. pkt->data points
 * into buf. Returns 0, -EAGAIN when empty, -ENOBUFS when buf is smaller
 * than the packet (nothing consumed; *needed tells the size), -EBADMSG,
 * -EMSGSIZE as hv_ring_iter_next.
 */
int hv_ring_recv(struct hv_ring *ring, void *buf, size_t buflen,
		 struct hv_ring_pkt *pkt, uint32_t *needed, bool *need_signal);

/*
 * Receive-side interrupt mask. Unmasking returns the bytes readable after
 * a full fence: if it is not 0, drain again before sleeping, or a packet
 * that arrived while masked would never be signalled.
 */
void hv_ring_intr_mask(struct hv_ring *ring);
uint32_t hv_ring_intr_unmask(struct hv_ring *ring);

/* ---- counters ---- */

/* Bytes published by the producer and not yet released by the consumer. */
uint32_t hv_ring_read_avail(const struct hv_ring *ring);
/* Bytes free for the producer (a packet needs strictly fewer). */
uint32_t hv_ring_write_avail(const struct hv_ring *ring);

#ifdef __cplusplus
}
#endif

#endif
