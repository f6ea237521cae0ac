/* SPDX-License-Identifier: ISC */
/*
 * ic-guest: the guest side of an integration service for the sim tests,
 * written against the public API only. It opens the device, answers the
 * host's NEGOTIATE with Linux's version lists and heartbeats with seq + 1
 * (as Linux's heartbeat_onchannelcallback does); any other request gets
 * HV_IC_E_FAIL. It exits 0 after --count messages or when the host rescinds
 * the device (after --reconnect N re-opens of a re-offered device).
 *
 * usage: ic-guest --root DIR [--device kvp|heartbeat] [--busy-poll]
 *                 [--count N] [--reconnect N] [--timeout SEC] [--mute]
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/hvuio.h>
#include <hvuio/ic.h>

#define KVP_CLASS       "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define HEARTBEAT_CLASS "57164f39-9115-4e78-ab55-382f3bd5422d"

/* Linux's util drivers receive into four Hyper-V pages; KVP needs 7456 bytes. */
#define BUF_SIZE (4 * 4096)

struct guest {
	const char *root;
	const char *class_guid;
	uint16_t ic_type;         /* the service, for its version list */
	bool busy_poll, mute;
	uint64_t count;           /* 0: no limit */
	unsigned int reconnects;  /* re-opens allowed after a rescind */
	int timeout_ms;
	uint64_t answered, negotiates, heartbeats, others, reopened;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Find the device by class and open it, retrying until the deadline. */
static int guest_open(struct guest *g, struct hv_dev **dev, int64_t deadline)
{
	for (;;) {
		struct hv_vmbus_list *list = NULL;
		const struct hv_vmbus_device *d;
		int err = hv_vmbus_list_new(g->root, &list);

		if (err == 0) {
			d = hv_vmbus_list_find(list, g->class_guid);
			err = d ? hv_dev_open(g->root, d->instance, dev) : -ENOENT;
			hv_vmbus_list_free(list);
			if (err == 0)
				return 0;
		}
		if (now_ms() >= deadline)
			return err;
		usleep(10000);
	}
}

/* Answer one request; the reply is built in `out`. */
static int guest_answer(struct guest *g, struct hv_chan *chan, const struct hv_chan_pkt *pkt,
			uint8_t *out)
{
	const struct hv_ic_versions *sup;
	struct hv_ic_msg m;
	size_t len = pkt->payload_len, rlen = len;
	int err;

	if (pkt->type != HV_RING_PKT_DATA_INBAND || len > BUF_SIZE)
		return 0;
	/* Linux drops what is not even an IC header; so do we. */
	if (hv_ic_msg_parse(pkt->payload, len, &m) < 0)
		return 0;
	memcpy(out, pkt->payload, len);
	switch (m.hdr.icmsgtype) {
	case HV_IC_MSGTYPE_NEGOTIATE:
		err = hv_ic_guest_versions_get(g->ic_type, &sup);
		if (err < 0)
			return err;
		/* On failure the buffer holds the failure reply: send it too. */
		err = hv_ic_version_negotiate(out, BUF_SIZE, len, sup, NULL, NULL, &rlen);
		if (err < 0 && err != -EOPNOTSUPP && err != -EBADMSG)
			return err;
		g->negotiates++;
		break;
	case HV_IC_MSGTYPE_HEARTBEAT:
		if (m.data_len >= sizeof(uint64_t)) {
			uint64_t seq;

			memcpy(&seq, out + HV_IC_DATA_OFFSET, sizeof(seq));
			seq++;
			memcpy(out + HV_IC_DATA_OFFSET, &seq, sizeof(seq));
			hv_ic_response_prepare(out, len, HV_IC_S_OK);
		} else {
			hv_ic_response_prepare(out, len, HV_IC_E_FAIL);
		}
		g->heartbeats++;
		break;
	default:
		hv_ic_response_prepare(out, len, HV_IC_E_FAIL);
		g->others++;
		break;
	}
	for (;;) {
		err = hv_chan_send(chan, out, rlen, pkt->trans_id, 0);
		if (err != -EAGAIN)
			break;
		/* The host drains its ring on our signal; give it the CPU. */
		sched_yield();
	}
	if (err < 0)
		return err;
	g->answered++;
	return 0;
}

/* Serve one opened device until rescind (-ENODEV), the count, or an error. */
static int guest_serve(struct guest *g, struct hv_chan *chan)
{
	uint8_t *in = malloc(BUF_SIZE), *out = malloc(BUF_SIZE);
	struct hv_chan_pkt pkt;
	int err = -ENOMEM;

	if (!in || !out)
		goto out;
	hv_chan_set_busy_poll(chan, g->busy_poll);
	for (;;) {
		/* The host may have queued its negotiate already: drain first. */
		for (;;) {
			err = hv_chan_recv(chan, in, BUF_SIZE, &pkt);
			if (err == -EAGAIN)
				break;
			if (err == -EMSGSIZE || err == -ENOBUFS)
				continue;
			if (err < 0)
				goto out;
			if (g->mute)
				continue;
			err = guest_answer(g, chan, &pkt, out);
			if (err < 0)
				goto out;
			if (g->count && g->answered >= g->count) {
				err = 0;
				goto out;
			}
		}
		err = hv_chan_wait(chan, -1);
		if (err < 0 && err != -EINTR)
			goto out;
	}
out:
	free(in);
	free(out);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "device", required_argument, NULL, 'd' },
		{ "busy-poll", no_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "reconnect", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "mute", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct guest g = {
		.class_guid = HEARTBEAT_CLASS, .ic_type = HV_IC_MSGTYPE_HEARTBEAT,
		.timeout_ms = 5000,
	};
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': g.root = optarg; break;
		case 'b': g.busy_poll = true; break;
		case 'm': g.mute = true; break;
		case 'c': g.count = strtoull(optarg, NULL, 0); break;
		case 'R': g.reconnects = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 't': g.timeout_ms = (int)(strtod(optarg, NULL) * 1000); break;
		case 'd':
			if (!strcmp(optarg, "kvp")) {
				g.class_guid = KVP_CLASS;
				g.ic_type = HV_IC_MSGTYPE_KVPEXCHANGE;
			} else if (!strcmp(optarg, "heartbeat")) {
				g.class_guid = HEARTBEAT_CLASS;
				g.ic_type = HV_IC_MSGTYPE_HEARTBEAT;
			} else {
				goto usage;
			}
			break;
		default:
			goto usage;
		}
	}
	if (!g.root || optind != argc)
		goto usage;

	for (;;) {
		struct hv_dev *dev = NULL;
		struct hv_chan *chan = NULL;

		err = guest_open(&g, &dev, now_ms() + g.timeout_ms);
		if (err < 0) {
			fprintf(stderr, "ic-guest: opening the device under %s: %s\n", g.root,
				strerror(-err));
			return 1;
		}
		err = hv_chan_open(dev, &chan);
		if (err == 0)
			err = guest_serve(&g, chan);
		hv_chan_close(chan);
		hv_dev_close(dev);
		if (err == -ENODEV && g.reconnects) {
			g.reconnects--;
			g.reopened++;
			continue;
		}
		break;
	}
	printf("ic-guest: answered %llu (negotiate %llu, heartbeat %llu, other %llu), reopened %llu\n",
	       (unsigned long long)g.answered, (unsigned long long)g.negotiates,
	       (unsigned long long)g.heartbeats, (unsigned long long)g.others,
	       (unsigned long long)g.reopened);
	if (err == 0 || err == -ENODEV)
		return 0;
	fprintf(stderr, "ic-guest: %s\n", strerror(-err));
	return 1;
usage:
	fprintf(stderr, "usage: ic-guest --root DIR [--device kvp|heartbeat] [--busy-poll]\n"
		"                [--count N] [--reconnect N] [--timeout SEC] [--mute]\n");
	return 2;
}
