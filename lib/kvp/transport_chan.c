/* SPDX-License-Identifier: ISC */
/*
 * The KVP service on its VMBus channel (uio_hv_generic or a sim device).
 *
 * As Linux's drivers/hv/hv_kvp.c (hv_kvp_onchannelcallback) does, it
 * drops packets shorter than the IC header and messages that are neither
 * NEGOTIATE nor KVPEXCHANGE, answers everything else in place with the
 * host's transaction id and packet flags 0, and negotiates from the
 * fw_versions / kvp_versions tables; the host keeps one KVP transaction
 * outstanding (the comment atop hv_kvp.c). On a uio channel the host's
 * NEGOTIATE may sit in the ring before we ever wait, with the interrupt
 * masked, so the ring is drained before the first sleep and looked at
 * again after every unmask.
 *
 * Choices where Linux gives no answer to copy:
 *  - an IC header whose icmsgsize claims more than arrived, and a KVP
 *    message the codec refuses, are answered HV_IC_E_FAIL with the body
 *    echoed (an unknown operation HV_IC_ERROR_NOT_SUPPORTED): the host waits
 *    for an answer to its one transaction, and Linux would have read past
 *    what arrived;
 *  - other IC types (heartbeat, shutdown, ... on the KVP channel) are
 *    dropped as Linux's KVP driver drops them: answering them the way
 *    Linux's heartbeat or shutdown driver would would act on a message the
 *    KVP service never offered to handle;
 *  - a packet larger than the buffer is consumed and dropped (Linux's
 *    ring read would refuse it and leave it in the ring for ever);
 *  - a reply the host's ring has no room for is held, with nothing more
 *    read, until the host makes room: we set pending_send_sz so that the
 *    host interrupts us then (the pending_send_sz rule of Linux's
 *    drivers/hv/ring_buffer.c;
 *    hv_ringbuffer_write gives up with -EAGAIN instead, and the util
 *    drivers lose the reply). Dropping it would leave the host waiting on
 *    its one transaction for nothing, and reading on would only stack up
 *    more replies that cannot go out;
 *  - a ring whose indices or descriptors cannot be true has no point to
 *    resume from (Linux's hv_pkt_iter_first guesses lengths and carries
 *    on; we do not act on guesses): the observer hears -ENOTRECOVERABLE and the
 *    caller reopens the device, which gives fresh rings.
 *
 * The one packet buffer: 16 KiB, what Linux's util drivers receive into
 * (four Hyper-V pages). The largest KVP message, IP info, is 7456 bytes
 * of payload behind a 16-byte descriptor, and a NEGOTIATE with the most
 * versions the protocol allows (100 of each kind) 836; so every message
 * Linux accepts fits twice over, and a negotiate reply (never shorter
 * than 44 bytes) always has room in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/chan.h"
#include "hvuio/ic.h"
#include "hvuio/kvp_msg.h"
#include "hvuio/kvp_service.h"
#include "hvuio/ring.h"
#include "hvuio/vmbus.h"
#include "lib/vmbus/hvuio_private.h"
#include "lib/common/compiler.h"
#include "transport.h"

#define KVP_CHAN_BUF_SIZE (4 * 4096)

_Static_assert(KVP_CHAN_BUF_SIZE >= 2 * (HV_RING_DESC_SIZE + HV_KVP_MSG_MAX_SIZE),
	       "the channel buffer holds the largest KVP message with margin");

HV_EXPORT int hv_kvp_transport_open_chan(const char *root, struct hv_kvp_transport **ret)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *d;
	struct hv_kvp_transport *t = NULL;
	int err;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (!root)
		root = "/";
	err = hv_vmbus_list_new(root, &list);
	if (err)
		goto out;
	d = hv_vmbus_list_find(list, HV_VMBUS_KVP_GUID);
	if (!d) {
		err = -ENOENT;
		goto out;
	}
	err = kvp_transport_alloc(&kvp_transport_chan_ops, KVP_CHAN_BUF_SIZE, &t);
	if (err)
		goto out;
	err = hv_dev_open(root, d->instance, &t->dev);
	if (err)
		goto out;
	err = hv_chan_open(t->dev, &t->chan);
	if (err)
		goto out;
	t->status.kind = hv_dev_is_sim(t->dev) ? "sim" : "uio";
	*ret = t;
	t = NULL;
out:
	hv_kvp_transport_close(t);
	hv_vmbus_list_free(list);
	return err;
}

static void chan_close(struct hv_kvp_transport *t)
{
	if (t->chan)
		hv_chan_close(t->chan);
	if (t->dev)
		hv_dev_close(t->dev);
}

static int chan_fd(const struct hv_kvp_transport *t)
{
	return hv_dev_fd(t->dev);
}

static int chan_set_busy_poll(struct hv_kvp_transport *t, bool on)
{
	t->busy_poll = on;
	hv_chan_set_busy_poll(t->chan, on);
	return 0;
}

static void chan_tell(hv_kvp_observer_fn *observer, void *ctx, const struct hv_kvp_event *ev)
{
	if (observer)
		observer(ctx, ev);
}

/*
 * The room a reply needs in the ring: descriptor, payload padded to 8,
 * trailer, and 8 more, since a packet must leave the ring not quite full.
 */
static uint32_t chan_reply_room(size_t len)
{
	return (uint32_t)(HV_RING_DESC_SIZE + ALIGN8(len) + HV_RING_TRAILER_SIZE + 8);
}

/*
 * Send the reply. When the host's ring is full, it is held (see the top
 * of the file): ev becomes the -EAGAIN event and the real one waits in
 * t->held_ev. Returns 0, -ENODEV, or -EBADMSG when the host's read index
 * cannot be true.
 */
static int chan_reply(struct hv_kvp_transport *t, uint8_t *payload, size_t len,
		      uint64_t trans_id, struct hv_kvp_event *ev)
{
	struct hv_ring *tx = hv_chan_tx_ring(t->chan);
	int err = hv_chan_send(t->chan, payload, len, trans_id, 0);

	if (err == -EAGAIN) {
		/* Ask first, then look again: the host may have read in between. */
		hv_ring_set_pending_send_size(tx, chan_reply_room(len));
		err = hv_chan_send(t->chan, payload, len, trans_id, 0);
		if (err == -EAGAIN) {
			t->held = true;
			t->held_payload = payload;
			t->held_len = len;
			t->held_trans_id = trans_id;
			t->held_ev = *ev;
			ev->error = -EAGAIN;
			ev->req = NULL;
			return 0;
		}
		hv_ring_set_pending_send_size(tx, 0);
	}
	if (err == -ENODEV || err == -EBADMSG)
		return err;
	if (err) {
		ev->error = err;
		ev->req = NULL;
		return 0;
	}
	ev->replied = true;
	return 0;
}

/* Send a held reply if the host has made room; -EAGAIN if it has not. */
static int chan_flush(struct hv_kvp_transport *t, hv_kvp_observer_fn *observer, void *ctx)
{
	int err;

	if (!t->held)
		return 0;
	err = hv_chan_send(t->chan, t->held_payload, t->held_len, t->held_trans_id, 0);
	if (err == -EAGAIN)
		return err;
	t->held = false;
	hv_ring_set_pending_send_size(hv_chan_tx_ring(t->chan), 0);
	if (err == -ENODEV || err == -EBADMSG)
		return err;
	if (err) {
		t->held_ev.error = err;
		t->held_ev.req = NULL;
	} else {
		t->held_ev.replied = true;
	}
	chan_tell(observer, ctx, &t->held_ev);
	return 0;
}

/* The host broke the ring protocol: say so once, and have the device reopened. */
static int chan_broken(hv_kvp_observer_fn *observer, void *ctx)
{
	struct hv_kvp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.error = -ENOTRECOVERABLE;
	chan_tell(observer, ctx, &ev);
	return -ENODEV;
}

static int chan_negotiate(struct hv_kvp_transport *t, uint8_t *payload, size_t len,
			  uint64_t trans_id, struct hv_kvp_event *ev)
{
	const struct hv_ic_versions *versions;
	size_t room = (size_t)(t->buf + t->buf_size - payload), reply_len;
	int err;

	err = hv_ic_guest_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &versions);
	if (err)
		return err;
	ev->negotiate = true;
	err = hv_ic_version_negotiate(payload, room, len, versions, &ev->fw, &ev->msg,
				      &reply_len);
	/* -EINVAL, -ENOBUFS: nothing to send; cannot happen with a whole IC header in 16 KiB. */
	if (err == -EINVAL || err == -ENOBUFS) {
		ev->error = err;
		return 0;
	}
	ev->error = err;
	ev->status = err ? HV_IC_E_FAIL : HV_IC_S_OK;
	t->status.negotiated = err == 0;
	t->status.fw = ev->fw;
	t->status.msg = ev->msg;
	return chan_reply(t, payload, reply_len, trans_id, ev);
}

static int chan_kvp(struct hv_kvp_transport *t, struct hv_kvp_handler *handler,
		    uint8_t *payload, size_t len, uint64_t trans_id, struct hv_kvp_event *ev)
{
	struct hv_ic_msg ic;
	int err;

	err = hv_ic_msg_parse(payload, len, &ic);
	if (!err)
		err = hv_kvp_msg_decode(payload, len, &t->req);
	if (err) {
		ev->status = err == -EOPNOTSUPP ? HV_IC_ERROR_NOT_SUPPORTED : HV_IC_E_FAIL;
		/* Only the IC header is needed to echo the body, and it is there. */
		hv_kvp_msg_reply_set(payload, len, ev->status, NULL);
		ev->error = err;
	} else {
		ev->req = &t->req;
		ev->status = kvp_transport_run(t, handler);
		if (hv_kvp_msg_reply_set(payload, len, ev->status, &t->reply) < 0) {
			ev->status = HV_IC_E_FAIL;
			hv_kvp_msg_reply_set(payload, len, HV_IC_E_FAIL, NULL);
		}
	}
	t->status.requests++;
	return chan_reply(t, payload, len, trans_id, ev);
}

static int chan_packet(struct hv_kvp_transport *t, const struct hv_chan_pkt *pkt,
		       struct hv_kvp_handler *handler, hv_kvp_observer_fn *observer,
		       void *ctx)
{
	/* The payload is in our buffer, a copy the host cannot change. */
	uint8_t *payload = t->buf + (pkt->payload - t->buf);
	size_t len = pkt->payload_len;
	struct hv_kvp_event ev;
	struct hv_ic_hdr hdr;
	int err = 0;

	memset(&ev, 0, sizeof(ev));
	if (len < HV_IC_DATA_OFFSET) {
		ev.error = -EBADMSG;
		goto out;
	}
	memcpy(&hdr, payload + sizeof(struct hv_ic_pipe_hdr), sizeof(hdr));
	switch (hdr.icmsgtype) {
	case HV_IC_MSGTYPE_NEGOTIATE:
		err = chan_negotiate(t, payload, len, pkt->trans_id, &ev);
		break;
	case HV_IC_MSGTYPE_KVPEXCHANGE:
		err = chan_kvp(t, handler, payload, len, pkt->trans_id, &ev);
		break;
	default:
		ev.error = -ENOMSG;
		break;
	}
out:
	if (err)
		return err;
	chan_tell(observer, ctx, &ev);
	return 0;
}

/* Consume a packet too large for the buffer without reading it. */
static int chan_drop(struct hv_kvp_transport *t)
{
	struct hv_chan_pkt pkt;
	unsigned int n;
	int err;

	err = hv_chan_recv_batch(t->chan, &pkt, 1, &n);
	if (err && err != -EAGAIN && err != -EMSGSIZE)
		return err;
	return hv_chan_recv_done(t->chan);
}

static int chan_process(struct hv_kvp_transport *t, struct hv_kvp_handler *handler,
			hv_kvp_observer_fn *observer, void *ctx)
{
	struct hv_kvp_event ev;
	struct hv_chan_pkt pkt;
	int err;

	err = hv_dev_ack(t->dev, NULL);
	if (err && err != -EAGAIN)
		return err;
	/* A held reply first; until it is gone, the ring is not read. */
	err = chan_flush(t, observer, ctx);
	if (err == -EAGAIN)
		return 0;
	if (err)
		return err == -EBADMSG ? chan_broken(observer, ctx) : err;
	for (;;) {
		err = hv_chan_recv(t->chan, t->buf, t->buf_size, &pkt);
		if (err == 0) {
			err = chan_packet(t, &pkt, handler, observer, ctx);
			if (err)
				return err == -EBADMSG ? chan_broken(observer, ctx) : err;
			/* The host's interrupt for room brings us back. */
			if (t->held)
				return 0;
			continue;
		}
		if (err == -EAGAIN) {
			if (t->busy_poll)
				return 0;
			/* Unmask, then look: what came while masked raised nothing. */
			if (hv_ring_intr_unmask(hv_chan_rx_ring(t->chan)) == 0)
				return 0;
			continue;
		}
		if (err == -ENOBUFS || err == -EMSGSIZE) {
			if (err == -ENOBUFS) {
				err = chan_drop(t);
				if (err)
					return err == -EBADMSG ? chan_broken(observer, ctx) : err;
			}
			memset(&ev, 0, sizeof(ev));
			ev.error = -EMSGSIZE;
			chan_tell(observer, ctx, &ev);
			continue;
		}
		/*
		 * -EBADMSG: the host broke the ring protocol. Nothing more can
		 * be read from this ring; opening the device again resets it.
		 */
		return err == -EBADMSG ? chan_broken(observer, ctx) : err;
	}
}

const struct kvp_transport_ops kvp_transport_chan_ops = {
	.process = chan_process,
	.close = chan_close,
	.fd = chan_fd,
	.set_busy_poll = chan_set_busy_poll,
};
