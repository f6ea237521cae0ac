/* SPDX-License-Identifier: ISC */
/*
 * The fcopy service on its VMBus channel (uio_hv_generic, or a sim
 * device), negotiated and answered as Linux's drivers/hv/hv_fcopy.c and
 * tools/hv/hv_fcopy_uio_daemon.c do: framework 3.0 and message 1.1 only,
 * a failed negotiation answered HV_E_FAIL with counts 0/0, every other
 * message answered in place (the whole payload back, flags
 * TRANSACTION|RESPONSE, the status in the IC header), other IC types on
 * this channel answered HV_E_FAIL as the uio daemon does.
 *
 * Unlike the uio daemon: ring sizes come from the device's maps (lib/vmbus),
 * every packet that is there is taken in one batch per wake-up, a
 * message too short for its structure is answered HV_E_FAIL instead of
 * ending the daemon, and after each answer the ring is watched for a
 * short while with the interrupt masked (--linger), since the host sends
 * the next fragment as soon as it has the answer: this saves the host an
 * interrupt and us a sleep per fragment. The watch yields the CPU at each
 * look, so that the host, and our writer thread, run whenever they can. Packets are copied out of the
 * shared ring before they are parsed: the host cannot change a copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <hvuio/chan.h>
#include <hvuio/ic.h>
#include <hvuio/ring.h>
#include <hvuio/vmbus.h>

#include "hvfcopyd.h"
#include "daemons/hvkvpd/log.h"

/* Packets taken per batch; the host keeps one transaction outstanding. */
#define BATCH 8
/*
 * One slot per packet of a batch: the largest message Linux accepts, a
 * WRITE of 28 + 6196 bytes, with room to spare (Linux's kernel driver
 * received into 8 KiB).
 */
#define SLOT_SIZE 8192

_Static_assert(SLOT_SIZE >= HV_IC_DATA_OFFSET + sizeof(struct hv_fcopy_wire_write),
	       "a slot holds the largest fcopy message");

int fc_chan_open(struct hvfcopyd *d)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *dev;
	int err;

	err = hv_vmbus_list_new(d->root, &list);
	if (err)
		goto out;
	dev = hv_vmbus_list_find(list, HV_FCOPY_GUID);
	if (!dev) {
		err = -ENOENT;
		goto out;
	}
	if (!d->buf) {
		d->buf_size = BATCH * SLOT_SIZE;
		if (posix_memalign((void **)&d->buf, 8, d->buf_size)) {
			d->buf = NULL;
			err = -ENOMEM;
			goto out;
		}
	}
	err = hv_dev_open(d->root, dev->instance, &d->dev);
	if (err)
		goto out;
	err = hv_chan_open(d->dev, &d->chan);
	if (err) {
		hv_dev_close(d->dev);
		d->dev = NULL;
		goto out;
	}
	d->negotiated = false;
out:
	hv_vmbus_list_free(list);
	return err;
}

void fc_chan_close(struct hvfcopyd *d)
{
	if (d->chan)
		hv_chan_close(d->chan);
	if (d->dev)
		hv_dev_close(d->dev);
	d->chan = NULL;
	d->dev = NULL;
}

static uint32_t negotiate(struct hvfcopyd *d, uint8_t *payload, size_t *len)
{
	const struct hv_ic_versions *versions;
	struct hv_ic_version fw, msg;
	size_t reply_len = *len;
	int err;

	err = hv_ic_guest_versions_get(HV_IC_MSGTYPE_FCOPY, &versions);
	if (!err)
		err = hv_ic_version_negotiate(payload, SLOT_SIZE, *len, versions, &fw, &msg,
					      &reply_len);
	if (err == 0) {
		d->negotiated = true;
		log_info("fcopy channel negotiated: framework %u.%u, message %u.%u",
			 fw.major, fw.minor, msg.major, msg.minor);
	} else {
		log_warn("the host's version negotiation failed: %s", strerror(-err));
	}
	*len = reply_len;
	return err ? HV_IC_E_FAIL : HV_IC_S_OK;
}

/* One message in its slot: decide, and turn it into its answer in place. */
static void message(struct hvfcopyd *d, uint8_t *payload, size_t *len)
{
	struct hv_fcopy_request req;
	struct hv_ic_hdr hdr;
	struct hv_ic_msg ic;
	uint32_t status;
	int err;

	memcpy(&hdr, payload + sizeof(struct hv_ic_pipe_hdr), sizeof(hdr));
	if (hdr.icmsgtype == HV_IC_MSGTYPE_NEGOTIATE) {
		negotiate(d, payload, len);
		return;
	}
	d->messages++;
	if (hdr.icmsgtype != HV_IC_MSGTYPE_FCOPY) {
		log_warn("IC message type %u on the fcopy channel: refused", hdr.icmsgtype);
		status = HV_IC_E_FAIL;
	} else if ((err = hv_ic_msg_parse(payload, *len, &ic)) < 0) {
		log_warn("an fcopy message whose IC header claims more than arrived: refused");
		status = HV_IC_E_FAIL;
	} else {
		/* Linux reads no icmsgsize: the message is what arrived after the headers. */
		err = hv_fcopy_msg_parse(payload + HV_IC_DATA_OFFSET, ic.avail, HV_FCOPY_LAYOUT_CHANNEL,
					 &req);
		status = err ? fc_copy_refuse(d, &req, err) : fc_copy_handle(d, &req);
	}
	hv_ic_response_prepare(payload, *len, status);
}

/* Send an answer; a full host ring is waited out (the host reads it). */
static int reply(struct hvfcopyd *d, const uint8_t *payload, size_t len, uint64_t trans_id)
{
	struct hv_ring *tx = hv_chan_tx_ring(d->chan);
	int err;

	for (;;) {
		err = hv_chan_send(d->chan, payload, len, trans_id, 0);
		if (err != -EAGAIN)
			break;
		/* Ask for an interrupt once there is room, then look again before sleeping. */
		hv_ring_set_pending_send_size(tx, (uint32_t)(HV_RING_DESC_SIZE + ((len + 7) & ~7u) +
							     HV_RING_TRAILER_SIZE + 8));
		err = hv_chan_send(d->chan, payload, len, trans_id, 0);
		if (err != -EAGAIN)
			break;
		/* The host's interrupt for room is a device event like any other. */
		{
			struct pollfd p = { .fd = hv_dev_fd(d->dev), .events = POLLIN };

			if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
				err = -errno;
				break;
			}
			err = hv_dev_ack(d->dev, NULL);
			if (err == -ENODEV)
				break;
		}
	}
	hv_ring_set_pending_send_size(tx, 0);
	if (err == -EBADMSG) {
		log_err("the host broke the ring protocol (impossible read index)");
		return -ENODEV;
	}
	if (err && err != -ENODEV)
		log_warn("sending an answer: %s", strerror(-err));
	return err == -ENODEV ? err : 0;
}

/* Take what the ring holds, up to BATCH packets, into private slots. */
static int take_batch(struct hvfcopyd *d, size_t *lens, uint64_t *ids, unsigned int *count)
{
	struct hv_chan_pkt pkts[BATCH];
	unsigned int n = 0, kept = 0;
	int err, done;

	err = hv_chan_recv_batch(d->chan, pkts, BATCH, &n);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t plen = pkts[i].payload_len;

		if (pkts[i].type != HV_RING_PKT_DATA_INBAND || plen > SLOT_SIZE) {
			log_warn("dropped a packet of type %u and %" PRIu32 " bytes",
				 pkts[i].type, plen);
			continue;
		}
		memcpy(d->buf + kept * SLOT_SIZE, pkts[i].payload, plen);
		lens[kept] = plen;
		ids[kept] = pkts[i].trans_id;
		kept++;
	}
	done = n ? hv_chan_recv_done(d->chan) : 0;
	*count = kept;
	if (err == -EMSGSIZE) {
		log_warn("dropped a packet larger than any fcopy message");
		err = 0;
	}
	if (err == -EAGAIN && n)
		err = 0;
	if (err == -EBADMSG) {
		log_err("the host broke the ring protocol (bad packet descriptor)");
		return -ENODEV;
	}
	return err ? err : done;
}

int fc_chan_serve(struct hvfcopyd *d)
{
	struct hv_ring *rx = hv_chan_rx_ring(d->chan);
	size_t lens[BATCH];
	uint64_t ids[BATCH];
	int err;

	err = hv_dev_ack(d->dev, NULL);
	if (err && err != -EAGAIN)
		return err;
	for (;;) {
		unsigned int count = 0;

		err = take_batch(d, lens, ids, &count);
		if (err == -EAGAIN) {
			/* Masked while lingering: the host sends no interrupt for the next one. */
			int64_t until = fc_now_us() + d->linger_us;

			hv_ring_intr_mask(rx);
			while (!hv_ring_read_avail(rx) && fc_now_us() < until)
				sched_yield();
			if (hv_ring_read_avail(rx))
				continue;
			/* Unmask, then look: what came while masked raised nothing. */
			if (hv_ring_intr_unmask(rx) == 0)
				return 0;
			continue;
		}
		if (err)
			return err == -ENODEV ? err : (log_warn("receiving: %s", strerror(-err)), 0);
		for (unsigned int i = 0; i < count; i++) {
			uint8_t *payload = d->buf + i * SLOT_SIZE;

			if (lens[i] < HV_IC_DATA_OFFSET) {
				log_warn("dropped a packet of %zu bytes, shorter than the IC header",
					 lens[i]);
				continue;
			}
			message(d, payload, &lens[i]);
			err = reply(d, payload, lens[i], ids[i]);
			if (err)
				return err;
		}
	}
}
