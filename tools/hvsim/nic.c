/* SPDX-License-Identifier: ISC */
/*
 * The synthetic NIC's host (--device nic): the NVSP setup a netvsc-style
 * guest makes on the primary channel (version, receive and send buffers
 * by the GPADL handles uio_hv_generic put in the map names, sub-channels)
 * and received frames on every channel, as the Hyper-V host delivers
 * them: RNDIS data messages written into slots of the receive buffer
 * (map 3), one transfer-page packet per frame naming its slot, and the
 * slot reused only after the guest's NVSP RNDIS_ACK completion for it.
 *
 * Not played: NDIS configuration, RNDIS control messages, the send
 * path. The guest learns its slot layout from the RXBUF_CONN response
 * as it would from Hyper-V.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvsim.h"
#include "nvsp.h"

/* Sub-channels the host offers, after the primary's relid as Hyper-V numbers them. */
#define NIC_SUB_RELID0 32u
/* Slots a channel may have in flight: the guest must give them back to go on. */
#define NIC_SLOTS_PER_CHAN 64u
_Static_assert(SIM_NIC_MAX_FRAME == NVSP_RECV_SLOT_SIZE - sizeof(struct rndis_packet_msg),
	       "a frame and its RNDIS header fill a slot");

static int64_t nic_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nic_check(struct sim *s, unsigned int line)
{
	if (s->type->ic_type != 0 || s->root.nmaps < 5) {
		sim_err("line %u: nvs and feed need --device nic", line);
		return -EINVAL;
	}
	return sim_opened(s, line);
}

/* A completion answering the guest's request trans_id. */
static int nic_respond(struct sim *s, uint64_t trans_id, const void *msg, size_t len)
{
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_COMP, .header_len = HV_RING_DESC_SIZE, .trans_id = trans_id,
	};
	struct iovec iov = { (void *)msg, len };

	return sim_dev_chan_sendv(&s->dev, &s->dev.ch[0], &info, &iov, 1);
}

/* The next in-band NVSP request on the primary channel, whole. */
static int nic_request(struct sim *s, unsigned int line, uint8_t *buf, size_t *len,
		       uint64_t *trans_id)
{
	uint16_t type;
	int err;

	*len = 256;
	err = sim_dev_recv(&s->dev, buf, len, trans_id, &type, s->dev.timeout_ms);
	if (err == -ETIMEDOUT) {
		sim_err("line %u: no NVSP request from the guest within %d ms", line,
			s->dev.timeout_ms);
		return -ETIMEDOUT;
	}
	if (err < 0) {
		sim_err("line %u: waiting for an NVSP request: %s", line, strerror(-err));
		return -EPROTO;
	}
	if (type != HV_RING_PKT_DATA_INBAND || *len < 40) {
		sim_err("line %u: the guest sent a packet of type %u, %zu bytes: not an NVSP "
			"request", line, type, *len);
		return -EPROTO;
	}
	return 0;
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return le32toh(v);
}

/* One NVSP request of the setup, in the order netvsc makes them. */
static int nic_serve(struct sim *s, unsigned int line, uint32_t want, bool *done)
{
	uint64_t buf[32], tid;
	uint8_t *p = (uint8_t *)buf;
	size_t len;
	uint32_t type;
	int err;

	if ((err = nic_request(s, line, p, &len, &tid)))
		return err;
	type = get32(p, 0);
	if (type != want) {
		sim_err("line %u: NVSP message %u where the host waits for %u", line, type, want);
		return -EPROTO;
	}
	if (type == NVSP_TYPE_INIT) {
		struct nvsp_init_resp r = { .type = htole32(NVSP_TYPE_INIT_RESP) };
		uint32_t lo = get32(p, 4), hi = get32(p, 8);
		bool ok = lo <= NVSP_VERSION_61 && NVSP_VERSION_61 <= hi;

		r.status = htole32(ok ? NVSP_STATUS_OK : NVSP_STATUS_FAILED);
		sim_log(s, "nvs: versions 0x%x-0x%x asked, %s", lo, hi, ok ? "6.1" : "refused");
		err = nic_respond(s, tid, &r, sizeof(r));
	} else if (type == NVSP_TYPE_RXBUF_CONN || type == NVSP_TYPE_CHIM_CONN) {
		bool rx = type == NVSP_TYPE_RXBUF_CONN;
		uint32_t gpadl = get32(p, 4), want_gpadl = rx ? s->root.recv_gpadl :
							    s->root.send_gpadl;
		uint16_t sig;
		bool ok;

		memcpy(&sig, p + 8, sizeof(sig));
		/* Hyper-V knows only the GPADLs the guest's kernel established. */
		ok = gpadl == want_gpadl && le16toh(sig) == (rx ? NVSP_RXBUF_SIG : NVSP_CHIM_SIG);
		sim_log(s, "nvs: %s buffer by GPADL %u (%s)", rx ? "receive" : "send", gpadl,
			ok ? "accepted" : "unknown");
		if (rx) {
			uint32_t n = (uint32_t)(s->root.map_size[3] / NVSP_RECV_SLOT_SIZE);
			struct nvsp_rxbuf_connresp r = {
				.type = htole32(NVSP_TYPE_RXBUF_CONNRESP),
				.status = htole32(ok ? NVSP_STATUS_OK : NVSP_STATUS_FAILED),
				.nsect = htole32(1),
				.sect = { { 0, htole32(NVSP_RECV_SLOT_SIZE), htole32(n),
					    htole32(n * NVSP_RECV_SLOT_SIZE) } },
			};

			err = nic_respond(s, tid, &r, sizeof(r));
		} else {
			struct nvsp_chim_connresp r = {
				.type = htole32(NVSP_TYPE_CHIM_CONNRESP),
				.status = htole32(ok ? NVSP_STATUS_OK : NVSP_STATUS_FAILED),
				.sectsz = htole32(NVSP_SEND_SECTION_SIZE),
			};

			err = nic_respond(s, tid, &r, sizeof(r));
		}
		if (rx)
			s->nvs_rxbuf = ok;
		if (!err && !ok) {
			sim_err("line %u: the guest named GPADL %u for the %s buffer, which is %u",
				line, gpadl, rx ? "receive" : "send", want_gpadl);
			return -EPROTO;
		}
	} else {
		uint32_t op = get32(p, 4), n = get32(p, 8), i;
		struct nvsp_subch r = { .type = htole32(NVSP_TYPE_SUBCH_REQ) };

		if (op != NVSP_SUBCH_OP_ALLOC || n == 0) {
			r.op_or_status = htole32(NVSP_STATUS_FAILED);
			nic_respond(s, tid, &r, sizeof(r));
			sim_err("line %u: sub-channel request with op %u for %u", line, op, n);
			return -EPROTO;
		}
		if (n > SIM_MAX_SUBS)
			n = SIM_MAX_SUBS;
		r.op_or_status = htole32(NVSP_STATUS_OK);
		r.nsubch = htole32(n);
		err = nic_respond(s, tid, &r, sizeof(r));
		/* Then the offers, which the guest's kernel opens (hv_uio_new_channel). */
		for (i = 0; !err && i < n; i++)
			if (!sim_dev_sub_offer(&s->dev, NIC_SUB_RELID0 + i))
				err = -errno;
		sim_log(s, "nvs: %u sub-channels offered", n);
		*done = true;
	}
	if (err < 0) {
		sim_err("line %u: answering NVSP message %u: %s", line, type, strerror(-err));
		return -EPROTO;
	}
	return 0;
}

int sim_nic_nvs(struct sim *s, const struct sim_action *a)
{
	static const uint32_t order[] = {
		NVSP_TYPE_INIT, NVSP_TYPE_RXBUF_CONN, NVSP_TYPE_CHIM_CONN, NVSP_TYPE_SUBCH_REQ,
	};
	/* The sub-channel request only where the script expects one. */
	size_t steps = sizeof(order) / sizeof(order[0]) - (a->all ? 0 : 1);
	bool done = false;
	int err;

	if ((err = nic_check(s, a->line)))
		return err;
	for (size_t i = 0; i < steps && !done; i++)
		if ((err = nic_serve(s, a->line, order[i], &done)))
			return err;
	return 0;
}

struct nic_chan {
	struct sim_chan *c;
	uint32_t first;            /* its slots: first .. first + NIC_SLOTS_PER_CHAN - 1 */
	uint32_t free[NIC_SLOTS_PER_CHAN];
	unsigned int nfree;
	uint64_t sent, acked, bytes, fnv;
};

/* Frame k of channel relid: bytes anyone can recompute. */
static uint8_t nic_byte(uint32_t relid, uint64_t k, uint32_t j)
{
	return (uint8_t)(relid * 17u + (uint32_t)k * 131u + j * 7u);
}

static int nic_send_frame(struct sim *s, struct nic_chan *n, uint32_t size)
{
	struct {
		uint16_t pageset;
		uint8_t sender_owns, rsvd;
		uint32_t range_count;
		uint32_t byte_count, byte_offset;
	} __attribute__((packed)) x;
	struct nvsp_rndis nv = {
		.type = htole32(NVSP_TYPE_RNDIS), .mtype = htole32(NVSP_RNDIS_MTYPE_DATA),
		.chim_idx = htole32(NVSP_CHIM_IDX_INVALID),
	};
	uint32_t slot = n->free[--n->nfree], off = slot * NVSP_RECV_SLOT_SIZE;
	uint8_t *at = s->root.recv_buf + off;
	struct rndis_packet_msg m = {
		.type = htole32(RNDIS_PACKET_MSG),
		.len = htole32((uint32_t)sizeof(m) + size),
		.data_offset = htole32((uint32_t)sizeof(m) - RNDIS_DATA_OFFSET_BASE),
		.data_len = htole32(size),
	};
	struct iovec iov[2] = { { &x, sizeof(x) }, { &nv, sizeof(nv) } };
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_USING_XFER_PAGES,
		.flags = HV_RING_PKT_FLAG_COMPLETION_REQUESTED,
		.header_len = HV_RING_DESC_SIZE + sizeof(x),
		.trans_id = slot,
	};

	memcpy(at, &m, sizeof(m));
	for (uint32_t j = 0; j < size; j++)
		at[sizeof(m) + j] = nic_byte(n->c->relid, n->sent, j);
	n->fnv = nvsp_fnv(n->fnv, at + sizeof(m), size);
	x.pageset = htole16(NVSP_RXBUF_SIG);
	x.sender_owns = 0;
	x.rsvd = 0;
	x.range_count = htole32(1);
	x.byte_count = htole32((uint32_t)sizeof(m) + size);
	x.byte_offset = htole32(off);
	n->sent++;
	n->bytes += size;
	return sim_dev_chan_sendv(&s->dev, n->c, &info, iov, 2);
}

/* Take in the channel's acknowledgements; 1 if there were any. */
static int nic_take_acks(struct sim *s, unsigned int line, struct nic_chan *n)
{
	uint64_t buf[16], tid;
	uint8_t *p = (uint8_t *)buf;
	int got = 0, err;

	for (;;) {
		size_t len = sizeof(buf);
		uint16_t type;
		uint32_t slot;
		unsigned int i;

		err = sim_dev_chan_recv(&s->dev, n->c, p, &len, &tid, &type, 0);
		if (err == -ETIMEDOUT)
			return got;
		if (err < 0) {
			sim_err("line %u: channel %u: %s", line, n->c->relid, strerror(-err));
			return -EPROTO;
		}
		slot = (uint32_t)tid;
		for (i = 0; i < n->nfree; i++)
			if (n->free[i] == slot)
				break;
		if (type != HV_RING_PKT_COMP || len < 8 || get32(p, 0) != NVSP_TYPE_RNDIS_ACK ||
		    get32(p, 4) != NVSP_STATUS_OK || tid != slot || slot < n->first ||
		    slot >= n->first + NIC_SLOTS_PER_CHAN || i < n->nfree) {
			sim_err("line %u: channel %u: a packet of type %u, trans_id %llu, %zu bytes "
				"where the host waits for the RNDIS_ACK of a slot in flight", line,
				n->c->relid, type, (unsigned long long)tid, len);
			return -EPROTO;
		}
		n->free[n->nfree++] = slot;
		n->acked++;
		got = 1;
	}
}

int sim_nic_feed(struct sim *s, const struct sim_action *a)
{
	struct nic_chan chans[SIM_MAX_CHANS];
	unsigned int nch = 0, i, k;
	int64_t last = nic_now_ms();
	bool all;
	int err;

	if ((err = nic_check(s, a->line)))
		return err;
	/* Hyper-V delivers nothing before the guest gave it a receive buffer. */
	if (!s->nvs_rxbuf) {
		sim_err("line %u: feed: the guest has not connected its receive buffer (nvs)",
			a->line);
		return -EPROTO;
	}
	memset(chans, 0, sizeof(chans));
	for (i = 0; i < SIM_MAX_CHANS; i++) {
		struct nic_chan *n = &chans[nch];

		if (!s->dev.ch[i].relid)
			continue;
		n->c = &s->dev.ch[i];
		n->first = nch * NIC_SLOTS_PER_CHAN;
		for (k = 0; k < NIC_SLOTS_PER_CHAN; k++)
			n->free[n->nfree++] = n->first + NIC_SLOTS_PER_CHAN - 1 - k;
		n->fnv = NVSP_FNV_OFFSET;
		nch++;
	}
	do {
		bool progress = false;

		all = true;
		for (i = 0; i < nch; i++) {
			struct nic_chan *n = &chans[i];

			while (n->sent < a->n && n->nfree) {
				err = nic_send_frame(s, n, (uint32_t)a->n2);
				if (err < 0) {
					sim_err("line %u: feed on channel %u: %s", a->line,
						n->c->relid, strerror(-err));
					return -EPROTO;
				}
				progress = true;
			}
			err = nic_take_acks(s, a->line, n);
			if (err < 0)
				return err;
			progress |= err > 0;
			all &= n->acked == a->n;
		}
		if (progress) {
			last = nic_now_ms();
		} else if (!all) {
			if (nic_now_ms() - last > s->dev.timeout_ms) {
				sim_err("line %u: feed: the guest gave no slot back for %d ms",
					a->line, s->dev.timeout_ms);
				return -EPROTO;
			}
			/* Serve the sockets and the monitor page until the guest signals. */
			if ((err = sim_dev_idle(&s->dev, 1)) < 0) {
				sim_err("line %u: feed: %s", a->line, strerror(-err));
				return -EPROTO;
			}
		}
	} while (!all);
	for (i = 0; i < nch; i++)
		printf("channel %u: frames %llu bytes %llu fnv %016llx\n", chans[i].c->relid,
		       (unsigned long long)chans[i].sent, (unsigned long long)chans[i].bytes,
		       (unsigned long long)chans[i].fnv);
	return 0;
}
