/* SPDX-License-Identifier: ISC */
/*
 * Channels: two rings over a mapped region, TX (guest to host) first,
 * and the device's descriptor for interrupts both ways.
 *
 * Every signalling decision comes from lib/ring; this file only carries
 * it out. The receive interrupt mask is ours to keep in the ring header:
 * kernels before the fix for CVE-2025-40048 set it to 1 on their own
 * (hv_uio_channel_cb and hv_uio_open in Linux's uio_hv_generic.c), and a
 * write of 1 to /dev/uioN clears it on every channel at once, so neither
 * can be relied on. Unmasking is followed by a look at the ring before
 * sleeping, because the host interrupts only when the ring goes from
 * empty to non-empty.
 *
 * A sub-channel is masked from the moment it is mapped. Where its kernel
 * lacks d062463edf17 (dev.c decides) it stays masked and is polled: the
 * first host interrupt on it would be a NULL dereference in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hvuio/chan.h"
#include "hvuio/ring.h"
#include "lib/common/compiler.h"
#include "dev.h"
#include "sysfs.h"

/* Type-specific headers, after the 16-byte descriptor (Linux's hyperv.h). */
struct vmtransfer_page_packet_header {
	uint8_t desc[HV_RING_DESC_SIZE];
	uint16_t xfer_pageset_id;
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_cnt;
	/* struct vmtransfer_page_range { u32 byte_count; u32 byte_offset; }[] */
} __attribute__((packed));
_Static_assert(sizeof(struct vmtransfer_page_packet_header) == 24, "vmtransfer_page_packet_header");
_Static_assert(sizeof(struct hv_chan_xfer_range) == 8, "vmtransfer_page_range");

struct vmdata_gpa_direct {
	uint8_t desc[HV_RING_DESC_SIZE];
	uint32_t reserved;
	uint32_t range_cnt;
	/* struct gpa_range { u32 byte_count; u32 byte_offset; u64 pfn[]; }[] */
} __attribute__((packed));
_Static_assert(sizeof(struct vmdata_gpa_direct) == 24, "vmdata_gpa_direct");

#define VMBUS_GPA_RANGE_HDR 8u
/* PFNs count Hyper-V pages, 4 KiB whatever the guest's page size. */
#define VMBUS_HYP_PAGE_SIZE 4096u

/* How often a busy-polling wait re-masks and looks for a rescind. */
#define CHAN_POLL_CHECK_SPINS 4096u
/* How often a polled sub-channel looks at its ring while nothing else wakes it. */
#define CHAN_SUB_POLL_MS 1

struct hv_chan {
	struct hv_dev *dev;
	uint32_t relid;
	int32_t monitor_id;
	bool primary;
	bool busy_poll;
	bool in_batch;
	uint8_t *region;          /* TX ring, then RX ring */
	size_t region_len;        /* what to unmap: 0 for the primary's map 0 */
	size_t ring_size;
	struct hv_ring *tx, *rx;
	struct hv_ring_iter it;
};

static int chan_new(struct hv_dev *dev, uint8_t *region, size_t ring_size,
		    struct hv_chan **ret)
{
	struct hv_chan *chan;
	int err;

	chan = calloc(1, sizeof(*chan));
	if (!chan)
		return -ENOMEM;
	chan->dev = dev;
	chan->region = region;
	chan->ring_size = ring_size;
	/* The guest's page holds the header; the host's 4 KiB sit at its start. */
	err = hv_ring_new(region, ring_size, dev->page_size, 0, &chan->tx);
	if (!err)
		err = hv_ring_new(region + ring_size, ring_size, dev->page_size, 0,
				  &chan->rx);
	if (err) {
		hv_ring_free(chan->tx);
		free(chan);
		return err;
	}
	*ret = chan;
	return 0;
}

HV_EXPORT int hv_chan_open(struct hv_dev *dev, struct hv_chan **ret)
{
	bool was = false;
	int err;

	if (!dev || !ret)
		return -EINVAL;
	if (atomic_load(&dev->gone))
		return -ENODEV;
	/* Two ring objects on one ring would each trust their own indices. */
	if (!atomic_compare_exchange_strong(&dev->primary_open, &was, true))
		return -EBUSY;
	err = chan_new(dev, dev->maps[0].addr, dev->ring_size, ret);
	if (err) {
		atomic_store(&dev->primary_open, false);
		return err;
	}
	(*ret)->relid = dev->relid;
	(*ret)->monitor_id = dev->monitor_id;
	(*ret)->primary = true;
	return 0;
}

HV_EXPORT int hv_chan_open_sub(struct hv_dev *dev, uint32_t relid, struct hv_chan **ret)
{
	char path[PATH_MAX];
	struct hv_chan *chan;
	struct stat st;
	void *region = MAP_FAILED;
	int64_t monitor_id = -1;
	int fd, err;

	if (!dev || !ret)
		return -EINVAL;
	if (atomic_load(&dev->gone))
		return -ENODEV;
	err = vmbus_sysfs_path(path, sizeof(path), "%s/channels/%u/ring", dev->dev_dir, relid);
	if (err)
		return err;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	/*
	 * The file holds both rings (Linux's hv_uio_ring_mmap); its size is
	 * the only reliable source of theirs, since kernels change the
	 * subchannel ring size independently of map 0 (the fix of
	 * tools/hv/hv_fcopy_uio_daemon.c, commit a4131a50d072, reads it the
	 * same way).
	 */
	err = -EBADMSG;
	if (st.st_size <= 0 || st.st_size % 2 ||
	    !vmbus_dev_ring_size_ok(dev, (uint64_t)st.st_size / 2))
		goto out;
	region = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (region == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	/* The file exists only for a monitored channel. */
	err = vmbus_sysfs_path(path, sizeof(path), "%s/channels/%u/monitor_id",
			       dev->dev_dir, relid);
	if (!err)
		err = vmbus_sysfs_read_int(path, 0, UINT8_MAX, &monitor_id);
	if (err == -ENOENT)
		monitor_id = -1;
	else if (err)
		goto out;
	err = chan_new(dev, region, (size_t)st.st_size / 2, &chan);
	if (err)
		goto out;
	chan->relid = relid;
	chan->monitor_id = (int32_t)monitor_id;
	chan->region_len = (size_t)st.st_size;
	/*
	 * Masked at once: a crash-window kernel (b15b7d2a1b09 without
	 * d062463edf17) left it unmasked, and the host may write any time.
	 */
	hv_ring_intr_mask(chan->rx);
	vmbus_dev_sub_irq_decide(dev, chan->region + chan->ring_size,
				 (uint8_t *)dev->maps[0].addr + dev->ring_size);
	*ret = chan;
	region = MAP_FAILED;
	err = 0;
out:
	if (region != MAP_FAILED)
		munmap(region, (size_t)st.st_size);
	close(fd);
	return err;
}

HV_EXPORT void hv_chan_close(struct hv_chan *chan)
{
	if (!chan)
		return;
	hv_ring_free(chan->tx);
	hv_ring_free(chan->rx);
	if (chan->region_len)
		munmap(chan->region, chan->region_len);
	if (chan->primary)
		atomic_store(&chan->dev->primary_open, false);
	free(chan);
}

HV_EXPORT uint32_t hv_chan_relid(const struct hv_chan *chan)
{
	return chan->relid;
}

HV_EXPORT struct hv_ring *hv_chan_tx_ring(struct hv_chan *chan)
{
	return chan->tx;
}

HV_EXPORT struct hv_ring *hv_chan_rx_ring(struct hv_chan *chan)
{
	return chan->rx;
}

/* May the host interrupt us for this channel? */
static bool chan_irq_ok(const struct hv_chan *chan)
{
	return chan->primary || atomic_load(&chan->dev->sub_irq) == 1;
}

HV_EXPORT void hv_chan_set_busy_poll(struct hv_chan *chan, bool on)
{
	chan->busy_poll = on;
	if (on || !chan_irq_ok(chan))
		hv_ring_intr_mask(chan->rx);
}

/* Is there something to read? A broken ring counts: reading it reports it. */
static bool chan_rx_ready(struct hv_chan *chan)
{
	struct hv_ring_iter it;

	return hv_ring_iter_begin(chan->rx, &it) != -EAGAIN;
}

static int64_t chan_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1: for ever), at least 0. */
static int chan_left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - chan_now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static int chan_wait_busy(struct hv_chan *chan, int64_t deadline)
{
	struct pollfd pfd = { .fd = chan->dev->fd, .events = POLLIN };
	unsigned int spins;
	int err;

	hv_ring_intr_mask(chan->rx);
	for (spins = 1;; spins++) {
		if (chan_rx_ready(chan))
			return 0;
		if (spins % CHAN_POLL_CHECK_SPINS)
			continue;
		/*
		 * Now and then, not on every spin: the store takes the
		 * header's cache line from the host. Any write of 1 to
		 * the device, another channel's included, clears the
		 * mask of every channel.
		 */
		hv_ring_intr_mask(chan->rx);
		/* Events here are stray interrupts or the rescind: consume them. */
		if (poll(&pfd, 1, 0) > 0) {
			err = hv_dev_ack(chan->dev, NULL);
			if (err == -ENODEV)
				return err;
		}
		if (deadline >= 0 && chan_now_ms() >= deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
}

/*
 * A sub-channel that must not take interrupts: masked, a look at the
 * ring every CHAN_SUB_POLL_MS, sooner when the device has an event (the
 * primary's interrupts, a rescind).
 */
static int chan_wait_polled(struct hv_chan *chan, int64_t deadline)
{
	struct pollfd pfd = { .fd = chan->dev->fd, .events = POLLIN };
	int left, r, err;

	for (;;) {
		/* A write of 1 for another channel may have unmasked it. */
		hv_ring_intr_mask(chan->rx);
		if (chan_rx_ready(chan))
			return 0;
		left = chan_left_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left < 0 || left > CHAN_SUB_POLL_MS ? CHAN_SUB_POLL_MS : left);
		if (r < 0)
			return -errno;
		if (r > 0) {
			err = hv_dev_ack(chan->dev, NULL);
			if (err && err != -EAGAIN)
				return err;
		}
	}
}

HV_EXPORT int hv_chan_wait(struct hv_chan *chan, int timeout_ms)
{
	struct pollfd pfd = { .fd = chan->dev->fd, .events = POLLIN };
	int64_t deadline = timeout_ms < 0 ? -1 : chan_now_ms() + timeout_ms;
	int r, err;

	if (atomic_load(&chan->dev->gone))
		return -ENODEV;
	if (chan->busy_poll)
		return chan_wait_busy(chan, deadline);
	if (!chan_irq_ok(chan))
		return chan_wait_polled(chan, deadline);
	for (;;) {
		/* Unmask, then look: a packet that came while masked raised nothing. */
		hv_ring_intr_unmask(chan->rx);
		if (chan_rx_ready(chan))
			return 0;
		r = poll(&pfd, 1, chan_left_ms(deadline));
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		/* One counter for every channel of the device: look again. */
		err = hv_dev_ack(chan->dev, NULL);
		if (err && err != -EAGAIN)
			return err;
	}
}

static int chan_signal(struct hv_chan *chan)
{
	int err = vmbus_dev_signal(chan->dev, chan->relid, chan->monitor_id);

	/*
	 * uio_hv_generic's write of 1 has just unmasked the primary, and
	 * with d062463edf17 every sub-channel (hv_uio_irqcontrol).
	 */
	if (chan->busy_poll || !chan_irq_ok(chan))
		hv_ring_intr_mask(chan->rx);
	return err;
}

HV_EXPORT int hv_chan_sendv(struct hv_chan *chan, const struct hv_ring_pkt_info *info,
			    const struct iovec *iov, unsigned int iovcnt)
{
	bool sig;
	int err;

	if (atomic_load(&chan->dev->gone))
		return -ENODEV;
	err = hv_ring_send(chan->tx, info, iov, iovcnt, &sig);
	if (err)
		return err;
	return sig ? chan_signal(chan) : 0;
}

HV_EXPORT int hv_chan_send(struct hv_chan *chan, const void *data, size_t len,
			   uint64_t trans_id, uint16_t flags)
{
	const struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_INBAND,
		.flags = flags,
		.header_len = HV_RING_DESC_SIZE,
		.trans_id = trans_id,
	};
	struct iovec iov = { (void *)data, len };

	return hv_chan_sendv(chan, &info, &iov, len ? 1 : 0);
}

static uint32_t chan_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

/*
 * The ranges of a GPA-direct packet, each {len, offset, pfn[n]} with n
 * the number of Hyper-V pages that offset and length span (Linux's
 * struct gpa_range). The host chooses all three, so each step is checked
 * in 64 bits before it moves on.
 */
static int chan_check_gpa(const uint8_t *hdr, uint32_t header_len, uint32_t count)
{
	uint64_t off = sizeof(struct vmdata_gpa_direct);
	uint32_t i;

	for (i = 0; i < count; i++) {
		uint64_t len, ofs, pages;

		if (off + VMBUS_GPA_RANGE_HDR > header_len)
			return -EBADMSG;
		len = chan_get32(hdr + off);
		ofs = chan_get32(hdr + off + 4);
		pages = (ofs + len + VMBUS_HYP_PAGE_SIZE - 1) / VMBUS_HYP_PAGE_SIZE;
		off += VMBUS_GPA_RANGE_HDR;
		if (pages > (header_len - off) / sizeof(uint64_t))
			return -EBADMSG;
		off += pages * sizeof(uint64_t);
	}
	return 0;
}

static int chan_pkt_fill(struct hv_chan_pkt *p, const struct hv_ring_pkt *rp)
{
	const uint8_t *h = rp->data;
	uint32_t count;

	memset(p, 0, sizeof(*p));
	p->type = rp->type;
	p->flags = rp->flags;
	p->trans_id = rp->trans_id;
	p->header = h;
	p->header_len = rp->header_len;
	p->payload = hv_ring_pkt_payload(rp);
	p->payload_len = hv_ring_pkt_payload_len(rp);

	switch (rp->type) {
	case HV_RING_PKT_DATA_USING_XFER_PAGES: {
		struct vmtransfer_page_packet_header x;

		if (rp->header_len < sizeof(x))
			return -EBADMSG;
		memcpy(&x, h, sizeof(x));
		count = le32toh(x.range_cnt);
		if (count > (rp->header_len - sizeof(x)) / sizeof(struct hv_chan_xfer_range))
			return -EBADMSG;
		p->xfer.pageset_id = le16toh(x.xfer_pageset_id);
		p->xfer.sender_owns = x.sender_owns_set;
		p->xfer.range_count = count;
		p->xfer.ranges = (const struct hv_chan_xfer_range *)(h + sizeof(x));
		break;
	}
	case HV_RING_PKT_DATA_USING_GPA_DIRECT: {
		struct vmdata_gpa_direct g;

		if (rp->header_len < sizeof(g))
			return -EBADMSG;
		memcpy(&g, h, sizeof(g));
		count = le32toh(g.range_cnt);
		/* Bound the walk before it starts: each range takes 8 bytes at least. */
		if (count > (rp->header_len - sizeof(g)) / VMBUS_GPA_RANGE_HDR ||
		    chan_check_gpa(h, rp->header_len, count))
			return -EBADMSG;
		p->gpa.range_count = count;
		p->gpa.ranges = h + sizeof(g);
		break;
	}
	default:
		break;
	}
	return 0;
}

/* Did the ring hand out its bounce buffer rather than the ring itself? */
static bool chan_bounced(const struct hv_chan *chan, const struct hv_ring_pkt *rp)
{
	const uint8_t *rx = chan->region + chan->ring_size;

	return rp->data < rx || rp->data >= rx + chan->ring_size;
}

static int chan_commit(struct hv_chan *chan)
{
	bool sig = false;

	if (!chan->in_batch)
		return 0;
	hv_ring_iter_commit(&chan->it, &sig);
	chan->in_batch = false;
	return sig ? chan_signal(chan) : 0;
}

HV_EXPORT int hv_chan_recv_batch(struct hv_chan *chan, struct hv_chan_pkt *pkts,
				 unsigned int max, unsigned int *count)
{
	struct hv_ring_pkt rp;
	unsigned int n = 0;
	int err = 0, cerr;

	*count = 0;
	if (atomic_load(&chan->dev->gone))
		return -ENODEV;
	if (max == 0)
		return -EINVAL;
	if (!chan->in_batch) {
		err = hv_ring_iter_begin(chan->rx, &chan->it);
		if (err)
			return err;
		chan->in_batch = true;
	}
	while (n < max) {
		err = hv_ring_iter_next(&chan->it, &rp);
		if (err == -EAGAIN) {
			err = 0;
			break;
		}
		if (err)
			break;
		err = chan_pkt_fill(&pkts[n], &rp);
		if (err)
			break;
		n++;
		/* The next packet could wrap too and overwrite this one. */
		if (chan_bounced(chan, &rp))
			break;
	}
	*count = n;
	if (n)
		return err;
	/*
	 * Nothing to hand out: release what was skipped (oversized or
	 * malformed packets) now, since no recv_done is coming for it.
	 */
	cerr = chan_commit(chan);
	if (err)
		return err;
	return cerr ? cerr : -EAGAIN;
}

HV_EXPORT int hv_chan_recv_done(struct hv_chan *chan)
{
	if (atomic_load(&chan->dev->gone)) {
		chan->in_batch = false;
		return -ENODEV;
	}
	return chan_commit(chan);
}

HV_EXPORT int hv_chan_recv(struct hv_chan *chan, void *buf, size_t buflen,
			   struct hv_chan_pkt *pkt)
{
	struct hv_ring_pkt rp;
	bool sig = false;
	int err, serr;

	if (atomic_load(&chan->dev->gone))
		return -ENODEV;
	/* The packet views of a batch would move under its owner. */
	if (chan->in_batch)
		return -EBUSY;
	/* The type-specific headers are read through typed pointers. */
	if ((uintptr_t)buf & 7u)
		return -EINVAL;
	err = hv_ring_recv(chan->rx, buf, buflen, &rp, NULL, &sig);
	if (!err)
		err = chan_pkt_fill(pkt, &rp);
	serr = sig ? chan_signal(chan) : 0;
	return err ? err : serr;
}
