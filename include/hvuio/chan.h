/* SPDX-License-Identifier: ISC */
/*
 * hv_dev and hv_chan: an opened VMBus device and its channels.
 *
 * hv_dev_open opens /dev/uioN of a device bound to uio_hv_generic (the
 * channel opens with the host at that moment), or a sim device when the
 * node is a socket (see hvsim(8)); everything after that runs the same
 * code. A device has one event counter for all its channels: after an
 * event, look at every channel.
 *
 * Errors are negative errnos. -ENODEV from any call means the host
 * rescinded the device (read of /dev/uioN gave EIO, or the sim socket
 * closed): close everything and look for the device again, it may come
 * back under another uio node. The rescind is noticed when the library
 * reads or writes the descriptor (hv_dev_ack, hv_chan_wait, a signal to
 * the host); from then on every call that touches the device fails.
 *
 * Thread safety: one thread at a time receives on a channel and one sends
 * on it (they may be different threads); different channels are
 * independent. Since the device has one event counter, let one thread
 * sleep on it (hv_chan_wait, or poll on hv_dev_fd and then look at every
 * channel).
 */
#ifndef HVUIO_CHAN_H
#define HVUIO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <hvuio/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hv_dev;
struct hv_chan;

/*
 * Open the device whose instance GUID is `instance` under `root`. Returns
 * 0, -ENOENT (no such device), -ENXIO (not bound to uio_hv_generic),
 * -EBADMSG (sysfs or the sim handshake says something impossible, such as
 * a ring size that is not a whole number of pages), -ETIMEDOUT (a sim
 * host that sent no maps within 5 seconds), -EINVAL, -ENOMEM, the errors
 * of hv_vmbus_list_new, or the errno of open, connect or mmap.
 */
int hv_dev_open(const char *root, const char *instance, struct hv_dev **ret);
/* Unmap and close. Every channel of the device must be closed first. */
void hv_dev_close(struct hv_dev *dev);

/*
 * Interrupts on sub-channels. Before d062463edf17 (mainline 6.16; 6.12.59,
 * 6.6.118, 6.1.159, 5.15.197) the kernel dereferences NULL when the host
 * interrupts a sub-channel, so there a sub-channel keeps its interrupt
 * masked and hv_chan_wait polls it (hv_chan(3), KERNELS).
 */
enum hv_chan_sub_irq {
	HV_CHAN_SUB_IRQ_AUTO,   /* from the kernel's release, else a probe, else polled */
	HV_CHAN_SUB_IRQ_ON,     /* interrupts, even on a kernel they would crash */
	HV_CHAN_SUB_IRQ_OFF,    /* always polled */
};

/* Choose before the first hv_chan_open_sub. Returns 0 or -EINVAL. */
int hv_dev_sub_irq_set(struct hv_dev *dev, enum hv_chan_sub_irq mode);
/*
 * What was decided and why, in one sentence naming the kernel and the
 * commit (valid while the device is open). *on is false until known.
 */
void hv_dev_sub_irq_get(const struct hv_dev *dev, bool *on, const char **why);

/* The pollable descriptor: readable when the event counter moved. */
int hv_dev_fd(const struct hv_dev *dev);
const char *hv_dev_instance(const struct hv_dev *dev);

/*
 * Consume the pending events without blocking; *count (may be NULL) gets
 * the device's cumulative event count. Returns 0, -EAGAIN if there was
 * none, -ENODEV on rescind.
 */
int hv_dev_ack(struct hv_dev *dev, uint32_t *count);

/*
 * The primary channel, on map 0 of the device. -EBUSY if it is open
 * already, -ENODEV, -ENOMEM, or -EBADMSG for impossible ring indices.
 */
int hv_chan_open(struct hv_dev *dev, struct hv_chan **ret);
/*
 * A subchannel, from channels/<relid>/ring. -ENOENT if the host has not
 * offered it (yet), -EBADMSG if the file's size is not two rings of
 * whole pages, the errno of open or mmap otherwise. Open each subchannel
 * once.
 */
int hv_chan_open_sub(struct hv_dev *dev, uint32_t relid, struct hv_chan **ret);
void hv_chan_close(struct hv_chan *chan);

uint32_t hv_chan_relid(const struct hv_chan *chan);
struct hv_ring *hv_chan_tx_ring(struct hv_chan *chan);
struct hv_ring *hv_chan_rx_ring(struct hv_chan *chan);

/*
 * Busy-poll mode keeps the receive interrupt masked: the host never
 * interrupts and hv_chan_wait spins on the ring. Off by default.
 */
void hv_chan_set_busy_poll(struct hv_chan *chan, bool on);

/*
 * Wait until the channel has a packet to read: drains nothing itself, but
 * unmasks the interrupt, re-checks the ring, and only then sleeps on the
 * device. timeout_ms < 0 waits for ever. Returns 0 when there is data
 * (or when the ring is broken, which the next receive reports),
 * -ETIMEDOUT, -EINTR, -ENODEV.
 */
int hv_chan_wait(struct hv_chan *chan, int timeout_ms);

/*
 * Send one in-band packet (HV_RING_PKT_DATA_INBAND), signalling the host only
 * when the ring says so. Returns as hv_chan_sendv.
 */
int hv_chan_send(struct hv_chan *chan, const void *data, size_t len,
		 uint64_t trans_id, uint16_t flags);
/*
 * Send a packet of any type; iov holds what follows the 16-byte
 * descriptor (type-specific header, then payload). Returns 0, -EAGAIN
 * when the ring is full, -ENODEV, and the errors of hv_ring_write. After
 * -EAGAIN, hv_ring_set_pending_send_size on hv_chan_tx_ring makes the
 * host interrupt once there is room.
 */
int hv_chan_sendv(struct hv_chan *chan, const struct hv_ring_pkt_info *info,
		  const struct iovec *iov, unsigned int iovcnt);

/* One range of a transfer-page packet (HV_RING_PKT_DATA_USING_XFER_PAGES). */
struct hv_chan_xfer_range {
	uint32_t byte_count;
	uint32_t byte_offset;
};

/*
 * A received packet. For HV_RING_PKT_DATA_USING_XFER_PAGES and
 * HV_RING_PKT_DATA_USING_GPA_DIRECT the type-specific header has been checked
 * against header_len and is described in `xfer` / `gpa`.
 */
struct hv_chan_pkt {
	uint16_t type;
	uint16_t flags;
	uint64_t trans_id;
	const uint8_t *payload;
	uint32_t payload_len;
	uint32_t header_len;
	const uint8_t *header;  /* the whole header, descriptor included */
	union {
		struct {
			uint16_t pageset_id;
			uint8_t sender_owns;
			uint32_t range_count;
			const struct hv_chan_xfer_range *ranges;
		} xfer;
		struct {
			uint32_t range_count;
			const uint8_t *ranges;  /* {len, offset, pfn[]} records */
		} gpa;
	};
};

/*
 * Receive up to `max` packets zero-copy. They stay valid until
 * hv_chan_recv_done, which releases them and signals the host when the
 * ring rules say so. *count gets the number received (0 with -EAGAIN).
 * Returns 0, -EAGAIN, -EBADMSG (the host broke the ring protocol, or a
 * packet's type-specific header does not fit its header_len; the packets
 * before the bad one are returned), -EMSGSIZE (a packet larger than
 * HV_RING_DEFAULT_MAX_PKT was dropped; the packets before it are
 * returned), -EINVAL (max is 0), -ENODEV. A batch may stop early: after a
 * packet that wrapped around the ring end (it lives in a one-packet
 * buffer), so call again after hv_chan_recv_done until -EAGAIN.
 * The bytes behind the pointers are shared with the host, which may
 * change them at any time: copy before parsing.
 */
int hv_chan_recv_batch(struct hv_chan *chan, struct hv_chan_pkt *pkts,
		       unsigned int max, unsigned int *count);
/* End the batch. Returns 0, or -ENODEV (the ring is left alone). */
int hv_chan_recv_done(struct hv_chan *chan);

/*
 * Receive one packet into buf, whole (the payload pointers point into
 * buf): what a parser of host data should use, since the host cannot
 * change a copy. buf must be 8-byte aligned. Returns 0, -EAGAIN,
 * -ENOBUFS if buf is too small (nothing is consumed), -EBADMSG, -EMSGSIZE
 * (as hv_chan_recv_batch; the packet is consumed), -EINVAL (buf not
 * aligned), -EBUSY (inside a batch), -ENODEV.
 */
int hv_chan_recv(struct hv_chan *chan, void *buf, size_t buflen,
		 struct hv_chan_pkt *pkt);

#ifdef __cplusplus
}
#endif

#endif
