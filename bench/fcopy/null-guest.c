/* SPDX-License-Identifier: ISC */
/*
 * hv-fcopy-null-guest: the fastest guest the fcopy protocol allows, for
 * bench/fcopy. It opens the sim (or uio) fcopy device with libhvuio,
 * negotiates as hvfcopyd does, and answers every fcopy message HV_IC_S_OK
 * at once, writing nothing; it busy-polls the ring with its interrupt
 * masked, so the host never waits for a wake-up, and yields the CPU on
 * every empty look, so that it never keeps the host from running. Since the host sends a
 * fragment only after the answer to the one before, this bounds the
 * throughput of any daemon on the same host. It exits when the host
 * closes the channel.
 *
 * usage: hv-fcopy-null-guest ROOT
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvuio/chan.h>
#include <hvuio/fcopy_msg.h>
#include <hvuio/ic.h>
#include <hvuio/vmbus.h>

static uint64_t buf[8192 / 8];

static int answer(struct hv_chan *chan, const struct hv_chan_pkt *pkt)
{
	const struct hv_ic_versions *versions;
	size_t len = pkt->payload_len, reply_len = len;
	uint8_t *p = (uint8_t *)buf + (pkt->payload - (const uint8_t *)buf);
	struct hv_ic_hdr hdr;

	if (len < HV_IC_DATA_OFFSET)
		return 0;
	memcpy(&hdr, p + sizeof(struct hv_ic_pipe_hdr), sizeof(hdr));
	if (hdr.icmsgtype == HV_IC_MSGTYPE_NEGOTIATE) {
		hv_ic_guest_versions_get(HV_IC_MSGTYPE_FCOPY, &versions);
		hv_ic_version_negotiate(p, sizeof(buf) - (size_t)(p - (uint8_t *)buf), len,
					versions, NULL, NULL, &reply_len);
	} else {
		hv_ic_response_prepare(p, len, HV_IC_S_OK);
	}
	return hv_chan_send(chan, p, reply_len, pkt->trans_id, 0);
}

int main(int argc, char **argv)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *d;
	struct hv_dev *dev = NULL;
	struct hv_chan *chan = NULL;
	unsigned long spins = 0;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: hv-fcopy-null-guest ROOT\n");
		return 2;
	}
	err = hv_vmbus_list_new(argv[1], &list);
	d = err ? NULL : hv_vmbus_list_find(list, HV_FCOPY_GUID);
	if (!d) {
		fprintf(stderr, "hv-fcopy-null-guest: no fcopy device under %s\n", argv[1]);
		return 1;
	}
	err = hv_dev_open(argv[1], d->instance, &dev);
	if (!err)
		err = hv_chan_open(dev, &chan);
	hv_vmbus_list_free(list);
	if (err) {
		fprintf(stderr, "hv-fcopy-null-guest: opening the device: %s\n", strerror(-err));
		return 1;
	}
	hv_chan_set_busy_poll(chan, true);
	hv_ring_intr_mask(hv_chan_rx_ring(chan));
	for (;;) {
		struct hv_chan_pkt pkt;

		err = hv_chan_recv(chan, buf, sizeof(buf), &pkt);
		if (err == 0)
			err = answer(chan, &pkt);
		else if (err == -EAGAIN && ++spins % 4096 == 0)
			err = hv_dev_ack(dev, NULL);  /* notices the host closing */
		else if (err == -EAGAIN)
			sched_yield();
		if (err && err != -EAGAIN)
			break;
	}
	hv_chan_close(chan);
	hv_dev_close(dev);
	return err == -ENODEV ? 0 : 1;
}
