/* SPDX-License-Identifier: ISC */
/*
 * hvpoll: receive a synthetic NIC's frames on its primary channel and
 * every sub-channel, one polling thread per channel, the way a DPDK-style
 * poll-mode driver does.
 *
 * Written to be read as the starting point of such a driver; public API
 * only (hvuio/hvuio.h), so it builds from hvuio.pc alone:
 *  1. open the device and read its maps: the receive buffer (map
 *     "recv:<gpadl>") holds the frames, and the GPADL handles in the map
 *     names are what the host knows the buffers by;
 *  2. on the primary channel, the NVSP setup: version, the receive and
 *     send buffers by GPADL handle, then the sub-channels, which the host
 *     offers and the kernel opens (channels/<relid>/ring);
 *  3. one thread per channel, its receive interrupt masked for good
 *     (busy polling: the host never interrupts, nobody sleeps on the
 *     device's one event counter): take a burst of packets with one
 *     ring commit, hand each transfer-page range's RNDIS message to the
 *     stack (here: count and checksum it), then give the slots back with
 *     an RNDIS_ACK completion each;
 *  4. before closing, wait until the host has read every completion.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hvuio/hvuio.h>

#include "nvsp.h"

static const char usage[] =
	"usage: hvpoll [--count n] [--root dir] [--subchannels n] [--timeout seconds]\n"
	"              device\n";

/* Packets per burst, as DPDK's default rx burst. */
#define BURST 32
/* The sub-channels a netvsc-style driver asks for at most here. */
#define MAX_SUBS 8
/* DPDK's netvsc looks for an offered sub-channel every 10 ms. */
#define SUB_RETRY_NS (10 * 1000 * 1000)

static atomic_bool stop;

struct rxq {
	pthread_t thread;
	struct hv_dev *dev;
	struct hv_chan *chan;
	const volatile uint8_t *rxbuf;  /* the receive buffer, shared with the host */
	uint64_t rxbuf_size;
	uint64_t want;                  /* frames to take, 0: until stopped */
	int timeout_ms;
	uint64_t frames, bytes, fnv, packets, bursts;
	int err;                        /* why the thread ended: 0, or a negative errno */
	const char *what;
};

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, true);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One NVSP request on the primary channel and its completion (same
 * transaction id), before any thread polls it.
 */
static int nvsp_exchange(struct hv_chan *chan, const void *req, size_t len, uint64_t tid,
			 uint32_t resp_type, void *resp, size_t resp_len, int timeout_ms)
{
	static uint64_t buf[HV_RING_DEFAULT_MAX_PKT / sizeof(uint64_t)];
	int64_t end = now_ms() + timeout_ms;
	struct hv_chan_pkt pkt;
	uint32_t type;
	int err;

	err = hv_chan_send(chan, req, len, tid, HV_RING_PKT_FLAG_COMPLETION_REQUESTED);
	if (err)
		return err;
	for (;;) {
		err = hv_chan_recv(chan, buf, sizeof(buf), &pkt);
		if (err == -EAGAIN) {
			int left = (int)(end - now_ms());

			if (left <= 0)
				return -ETIMEDOUT;
			err = hv_chan_wait(chan, left);
			if (err && err != -EINTR)
				return err;
			continue;
		}
		if (err)
			return err;
		/* A copy: the host can no longer change what is parsed. */
		if (pkt.type != HV_RING_PKT_COMP || pkt.trans_id != tid ||
		    pkt.payload_len < resp_len)
			return -EBADMSG;
		memcpy(resp, pkt.payload, resp_len);
		memcpy(&type, resp, sizeof(type));
		return le32toh(type) == resp_type ? 0 : -EBADMSG;
	}
}

/* Version, receive and send buffers, sub-channels: what netvsc does first. */
static int nvsp_setup(struct hv_chan *chan, uint32_t recv_gpadl, uint32_t send_gpadl,
		      uint32_t want_subs, uint32_t *nsubs, int timeout_ms)
{
	struct nvsp_init init = {
		.type = htole32(NVSP_TYPE_INIT),
		.ver_min = htole32(NVSP_VERSION_61), .ver_max = htole32(NVSP_VERSION_61),
	};
	struct nvsp_buf_conn rx = {
		.type = htole32(NVSP_TYPE_RXBUF_CONN), .gpadl = htole32(recv_gpadl),
		.sig = htole16(NVSP_RXBUF_SIG),
	};
	struct nvsp_buf_conn chim = {
		.type = htole32(NVSP_TYPE_CHIM_CONN), .gpadl = htole32(send_gpadl),
		.sig = htole16(NVSP_CHIM_SIG),
	};
	struct nvsp_subch sub = {
		.type = htole32(NVSP_TYPE_SUBCH_REQ), .op_or_status = htole32(NVSP_SUBCH_OP_ALLOC),
		.nsubch = htole32(want_subs),
	};
	struct nvsp_init_resp init_r;
	struct nvsp_rxbuf_connresp rx_r;
	struct nvsp_chim_connresp chim_r;
	struct nvsp_subch sub_r;
	int err;

	*nsubs = 0;
	err = nvsp_exchange(chan, &init, sizeof(init), 1, NVSP_TYPE_INIT_RESP, &init_r,
			    sizeof(init_r), timeout_ms);
	if (!err && le32toh(init_r.status) != NVSP_STATUS_OK)
		err = -EPROTO;
	if (!err)
		err = nvsp_exchange(chan, &rx, sizeof(rx), 2, NVSP_TYPE_RXBUF_CONNRESP, &rx_r,
				    sizeof(rx_r), timeout_ms);
	if (!err && le32toh(rx_r.status) != NVSP_STATUS_OK)
		err = -EPROTO;
	if (!err)
		err = nvsp_exchange(chan, &chim, sizeof(chim), 3, NVSP_TYPE_CHIM_CONNRESP,
				    &chim_r, sizeof(chim_r), timeout_ms);
	if (!err && le32toh(chim_r.status) != NVSP_STATUS_OK)
		err = -EPROTO;
	if (err || want_subs == 0)
		return err;
	err = nvsp_exchange(chan, &sub, sizeof(sub), 4, NVSP_TYPE_SUBCH_REQ, &sub_r,
			    sizeof(sub_r), timeout_ms);
	if (!err && le32toh(sub_r.op_or_status) != NVSP_STATUS_OK)
		err = -EPROTO;
	if (!err) {
		*nsubs = le32toh(sub_r.nsubch);
		if (*nsubs > want_subs)
			err = -EPROTO;
	}
	return err;
}

/*
 * The relids of the device's sub-channels whose ring the kernel has made
 * visible, as sysfs lists them (primary first, then by relid).
 */
static int subs_find(const char *root, const char *instance, uint32_t *relids,
		     uint32_t want, int timeout_ms)
{
	const struct timespec pause = { 0, SUB_RETRY_NS };
	int64_t end = now_ms() + timeout_ms;
	int err;

	for (;;) {
		struct hv_vmbus_list *list;
		const struct hv_vmbus_device *d;
		uint32_t n = 0;

		err = hv_vmbus_list_new(root, &list);
		if (err)
			return err;
		d = hv_vmbus_list_find(list, instance);
		for (size_t i = 0; d && i < d->nchannels && n < want; i++)
			if (d->channels[i].subchannel_id > 0 && d->channels[i].ring_size > 0)
				relids[n++] = d->channels[i].relid;
		hv_vmbus_list_free(list);
		if (!d)
			return -ENODEV;
		if (n == want)
			return 0;
		if (now_ms() >= end || atomic_load(&stop))
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

static uint32_t get32(const volatile uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * One RNDIS data message in the receive buffer. Offsets and lengths come
 * from the host: each is read once, in 64 bits, and checked against the
 * buffer and the range before the frame is touched.
 */
static int rx_range(struct rxq *q, const struct hv_chan_xfer_range *r)
{
	uint64_t off = le32toh(r->byte_offset), count = le32toh(r->byte_count);
	uint64_t len, data_off, data_len;
	const volatile uint8_t *m;

	if (off > q->rxbuf_size || count > q->rxbuf_size - off ||
	    count < sizeof(struct rndis_packet_msg))
		return -EBADMSG;
	m = q->rxbuf + off;
	if (get32(m) != RNDIS_PACKET_MSG)
		return -EBADMSG;
	len = get32(m + 4);
	data_off = RNDIS_DATA_OFFSET_BASE + (uint64_t)get32(m + 8);
	data_len = get32(m + 12);
	if (len > count || data_off < sizeof(struct rndis_packet_msg) || data_off > len ||
	    data_len > len - data_off)
		return -EBADMSG;
	q->fnv = nvsp_fnv(q->fnv, m + data_off, (uint32_t)data_len);
	q->frames++;
	q->bytes += data_len;
	return 0;
}

/* A received packet: frames in the receive buffer, or an error. */
static int rx_packet(struct rxq *q, const struct hv_chan_pkt *p)
{
	struct nvsp_rndis nv;
	int err;

	if (p->type != HV_RING_PKT_DATA_USING_XFER_PAGES || p->xfer.pageset_id != NVSP_RXBUF_SIG ||
	    p->payload_len < sizeof(nv))
		return -EBADMSG;
	memcpy(&nv, p->payload, sizeof(nv));
	if (le32toh(nv.type) != NVSP_TYPE_RNDIS || le32toh(nv.mtype) != NVSP_RNDIS_MTYPE_DATA)
		return -EBADMSG;
	for (uint32_t i = 0; i < p->xfer.range_count; i++) {
		struct hv_chan_xfer_range r;

		memcpy(&r, &p->xfer.ranges[i], sizeof(r));
		if ((err = rx_range(q, &r)))
			return err;
	}
	return 0;
}

/* Give the host its slots back: one RNDIS_ACK completion per packet. */
static int rx_ack(struct rxq *q, const uint64_t *tids, unsigned int n, int64_t end)
{
	const struct nvsp_rndis_ack ack = {
		.type = htole32(NVSP_TYPE_RNDIS_ACK), .status = htole32(NVSP_STATUS_OK),
	};
	const struct hv_ring_pkt_info info0 = {
		.type = HV_RING_PKT_COMP, .header_len = HV_RING_DESC_SIZE,
	};
	const struct iovec iov = { (void *)&ack, sizeof(ack) };

	for (unsigned int i = 0; i < n; i++) {
		struct hv_ring_pkt_info info = info0;
		int err;

		info.trans_id = tids[i];
		/* A full ring empties as the host reads: try again, as a poller would. */
		while ((err = hv_chan_sendv(q->chan, &info, &iov, 1)) == -EAGAIN) {
			if (now_ms() >= end)
				return -ETIMEDOUT;
			sched_yield();
		}
		if (err)
			return err;
	}
	return 0;
}

static void *rx_thread(void *arg)
{
	struct rxq *q = arg;
	struct hv_chan_pkt pkts[BURST];
	uint64_t tids[BURST];
	unsigned int n, i;
	int err = 0;

	q->fnv = NVSP_FNV_OFFSET;
	/* Masked for good: this thread looks at the ring, the host never interrupts. */
	hv_chan_set_busy_poll(q->chan, true);
	while (!atomic_load(&stop) && (q->want == 0 || q->frames < q->want)) {
		err = hv_chan_wait(q->chan, q->timeout_ms);
		if (err == -EINTR)
			continue;
		/* Without a count, a quiet channel is a finished one. */
		if (err == -ETIMEDOUT && q->want == 0) {
			err = 0;
			break;
		}
		if (err) {
			q->what = "wait";
			break;
		}
		/* One burst, one commit of the read index (hv_chan_recv_done). */
		err = hv_chan_recv_batch(q->chan, pkts, BURST, &n);
		if (err == -EAGAIN)
			continue;
		for (i = 0; i < n && err == 0; i++) {
			err = rx_packet(q, &pkts[i]);
			tids[i] = pkts[i].trans_id;
		}
		q->packets += n;
		q->bursts++;
		if (err) {
			q->what = "receive";
			break;
		}
		if ((err = hv_chan_recv_done(q->chan))) {
			q->what = "commit";
			break;
		}
		if ((err = rx_ack(q, tids, n, now_ms() + q->timeout_ms))) {
			q->what = "acknowledge";
			break;
		}
	}
	q->err = err;
	return NULL;
}

/*
 * The host has read everything we sent: our completions are all in. The
 * host moves its read index without a word to us, so look every
 * millisecond; the device's events say whether it is still there.
 */
static int tx_drain(struct hv_dev *dev, struct hv_chan *chan, int timeout_ms)
{
	const struct timespec pause = { 0, 1000 * 1000 };
	struct hv_ring *tx = hv_chan_tx_ring(chan);
	int64_t end = now_ms() + timeout_ms;
	int err;

	while (hv_ring_write_avail(tx) != hv_ring_data_size(tx)) {
		err = hv_dev_ack(dev, NULL);
		if (err && err != -EAGAIN)
			return err;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
	return 0;
}

static int parse_num(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || end == s || *end || *s == '-' || *v > max ? -EINVAL : 0;
}

/* Print the maps: what each is, by name, and the GPADL handles of the buffers. */
static int show_maps(struct hv_dev *dev, uint32_t *recv_gpadl, uint32_t *send_gpadl,
		     const volatile uint8_t **rxbuf, uint64_t *rxbuf_size)
{
	char name[HV_VMBUS_MAP_NAME_SIZE];
	unsigned int i, recv;
	uint64_t size;
	void *addr;
	int err;

	for (i = 0; i < hv_dev_map_count(dev); i++) {
		if ((err = hv_dev_map_get(dev, i, NULL, &size, name)))
			return err;
		printf("map %u: %s, %llu bytes\n", i, name, (unsigned long long)size);
	}
	if ((err = hv_dev_gpadl_get(dev, "recv", recv_gpadl)) ||
	    (err = hv_dev_gpadl_get(dev, "send", send_gpadl)) ||
	    (err = hv_dev_map_find(dev, "recv", &recv)) ||
	    (err = hv_dev_map_get(dev, recv, &addr, rxbuf_size, NULL)))
		return err;
	*rxbuf = addr;
	printf("gpadl recv %u send %u\n", *recv_gpadl, *send_gpadl);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "root", required_argument, NULL, 'r' },
		{ "subchannels", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct rxq q[1 + MAX_SUBS];
	const volatile uint8_t *rxbuf = NULL;
	const char *root = "/", *step = "open";
	uint32_t recv_gpadl, send_gpadl, relids[MAX_SUBS], nsubs = 0;
	unsigned long count = 0, want_subs = 0, timeout = 10, v;
	uint64_t rxbuf_size = 0;
	unsigned int nq = 0, i, started = 0;
	struct hv_dev *dev = NULL;
	int c, err, status = 0;

	while ((c = getopt_long(argc, argv, "c:r:s:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_num(optarg, UINT32_MAX, &count))
				goto bad_usage;
			break;
		case 'r':
			root = optarg;
			break;
		case 's':
			if (parse_num(optarg, MAX_SUBS, &want_subs))
				goto bad_usage;
			break;
		case 't':
			if (parse_num(optarg, 86400, &v) || v == 0)
				goto bad_usage;
			timeout = v;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc - 1)
		goto bad_usage;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	memset(q, 0, sizeof(q));

	/* 1. The device and its maps. */
	err = hv_dev_open(root, argv[optind], &dev);
	if (!err) {
		step = "maps";
		err = show_maps(dev, &recv_gpadl, &send_gpadl, &rxbuf, &rxbuf_size);
	}
	/* 2. The primary channel, the NVSP setup, the sub-channels. */
	if (!err) {
		step = "primary channel";
		err = hv_chan_open(dev, &q[0].chan);
	}
	if (!err) {
		nq = 1;
		step = "NVSP setup";
		err = nvsp_setup(q[0].chan, recv_gpadl, send_gpadl, (uint32_t)want_subs, &nsubs,
				 (int)timeout * 1000);
	}
	if (!err && nsubs) {
		step = "sub-channels";
		err = subs_find(root, hv_dev_instance(dev), relids, nsubs, (int)timeout * 1000);
	}
	for (i = 0; !err && i < nsubs; i++) {
		err = hv_chan_open_sub(dev, relids[i], &q[1 + i].chan);
		if (!err)
			nq++;
	}
	if (err) {
		fprintf(stderr, "hvpoll: %s: %s: %s\n", argv[optind], step, strerror(-err));
		status = err == -ENODEV ? 2 : 1;
		goto out;
	}
	printf("device %s: %u channels\n", hv_dev_instance(dev), nq);
	fflush(stdout);

	/* 3. One polling thread per channel. */
	for (i = 0; i < nq; i++) {
		q[i].dev = dev;
		q[i].rxbuf = rxbuf;
		q[i].rxbuf_size = rxbuf_size;
		q[i].want = count;
		q[i].timeout_ms = (int)timeout * 1000;
		if ((err = pthread_create(&q[i].thread, NULL, rx_thread, &q[i]))) {
			fprintf(stderr, "hvpoll: thread: %s\n", strerror(err));
			atomic_store(&stop, true);
			status = 1;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(q[i].thread, NULL);

	/* 4. Our completions read by the host, then the totals. */
	for (i = 0; i < nq; i++) {
		if (!q[i].err && (err = tx_drain(dev, q[i].chan, (int)timeout * 1000))) {
			q[i].err = err;
			q[i].what = "drain";
		}
		printf("channel %u: frames %llu bytes %llu fnv %016llx (%llu packets in %llu "
		       "bursts)\n", hv_chan_relid(q[i].chan), (unsigned long long)q[i].frames,
		       (unsigned long long)q[i].bytes, (unsigned long long)q[i].fnv,
		       (unsigned long long)q[i].packets, (unsigned long long)q[i].bursts);
		if (q[i].err) {
			fprintf(stderr, "hvpoll: channel %u: %s: %s\n", hv_chan_relid(q[i].chan),
				q[i].what, strerror(-q[i].err));
			if (status == 0)
				status = q[i].err == -ENODEV ? 2 : 1;
		}
	}
out:
	fflush(stdout);
	for (i = 0; i < nq; i++)
		hv_chan_close(q[i].chan);
	hv_dev_close(dev);
	return status;

bad_usage:
	fputs(usage, stderr);
	return 1;
}
