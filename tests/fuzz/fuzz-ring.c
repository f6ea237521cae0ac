/* SPDX-License-Identifier: ISC */
/*
 * The ring reader and writer against a region whose header and data the
 * input supplies, as a hostile host would.
 *
 * Input: 4 control bytes (flags, max_pkt / 8, send length as u16), the
 * five header fields the host controls (write_index, read_index,
 * interrupt_mask, pending_send_sz, feature_bits; u32 each), a read index
 * the host swaps in during a send (u32), then the data area (rounded
 * down to 8 bytes, zero-padded to 64).
 *
 * The region sits flush against a PROT_NONE page, with another one and
 * a poisoned canary before it, so that no build needs a sanitizer to
 * catch an access outside. Every result is compared with a model of the
 * protocol written here from the rules (Linux's drivers/hv/ring_buffer.c:
 * indices are byte offsets, multiples of 8, equal means empty; a packet
 * is a 16-byte descriptor with len8 and offset8 in 8-byte units, padded,
 * then an 8-byte trailer), and the consumer must write nothing but the
 * read index and the interrupt mask.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hvuio/ring.h"
#include "lib/ring/ring_wire.h"
#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define IN_CTL     4
#define IN_HDR     (IN_CTL + 20)
#define IN_DATA    (IN_HDR + 4)
#define HDR        HV_RING_HEADER_SIZE
#define MAX_DSIZE  (1u << 20)
#define CANARY     0xa5

#define OFF_W    offsetof(struct ring_hdr, write_index)
#define OFF_R    offsetof(struct ring_hdr, read_index)
#define OFF_MASK offsetof(struct ring_hdr, interrupt_mask)
#define OFF_PEND offsetof(struct ring_hdr, pending_send_sz)
#define OFF_FEAT offsetof(struct ring_hdr, feature_bits)

struct region {
	uint8_t *map;
	size_t map_len;
	uint8_t *base;   /* header page, then data */
	uint8_t *slack;  /* canary bytes between the guard page and base */
	size_t slack_len;
	size_t len;
};

static int region_new(struct region *r, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + pg - 1) / pg;

	r->map_len = (pages + 2) * pg;
	r->map = mmap(NULL, r->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->map == MAP_FAILED)
		return -1;
	if (mprotect(r->map + pg, pages * pg, PROT_READ | PROT_WRITE) < 0) {
		munmap(r->map, r->map_len);
		return -1;
	}
	r->len = len;
	r->base = r->map + pg + pages * pg - len;
	r->slack = r->map + pg;
	r->slack_len = (size_t)(r->base - r->slack);
	memset(r->slack, CANARY, r->slack_len);
#ifdef FUZZ_ASAN
	ASAN_POISON_MEMORY_REGION(r->slack, r->slack_len);
#endif
	return 0;
}

static void region_free(struct region *r)
{
#ifdef FUZZ_ASAN
	ASAN_UNPOISON_MEMORY_REGION(r->slack, r->slack_len);
#endif
	for (size_t i = 0; i < r->slack_len; i++)
		FUZZ_CHECK(r->slack[i] == CANARY);
	munmap(r->map, r->map_len);
}

/* What the input says, and the model's view of the ring. */
struct ring_case {
	uint8_t flags;
	uint32_t max_pkt;     /* as passed */
	uint32_t eff_max;     /* as used */
	uint16_t send_len;
	uint32_t w, r, mask, pending, feat, swap_r;
	uint32_t dsize;
	const uint8_t *pristine;  /* the region as built */
};

static uint32_t hdr_get(const uint8_t *base, size_t off)
{
	return fuzz_le32(base + off);
}

static bool idx_ok(const struct ring_case *c, uint32_t i)
{
	return i < c->dsize && !(i & 7u);
}

static uint32_t dist(const struct ring_case *c, uint32_t from, uint32_t to)
{
	return to >= from ? to - from : c->dsize - from + to;
}

static uint32_t adv(const struct ring_case *c, uint32_t pos, uint32_t n)
{
	return (uint32_t)(((uint64_t)pos + n) % c->dsize);
}

/* Copy n bytes of the pristine data area from pos, wrapping. */
static void model_copy(const struct ring_case *c, uint32_t pos, uint8_t *dst, uint32_t n)
{
	const uint8_t *data = c->pristine + HDR;

	for (uint32_t i = 0; i < n; i++)
		dst[i] = data[adv(c, pos, i)];
}

/* The model's next step from pos: 0 (a packet), -EMSGSIZE, -EBADMSG, -EAGAIN. */
struct model_pkt {
	int err;
	uint16_t type, offset8, len8, flags;
	uint64_t trans_id;
	uint32_t next;
};

static void model_next(const struct ring_case *c, uint32_t pos, struct model_pkt *m)
{
	uint8_t d[16];
	uint32_t avail, len;

	m->next = pos;
	if (pos == c->w) {
		m->err = -EAGAIN;
		return;
	}
	avail = dist(c, pos, c->w);
	if (avail < HV_RING_DESC_SIZE + HV_RING_TRAILER_SIZE) {
		m->err = -EBADMSG;
		return;
	}
	model_copy(c, pos, d, sizeof(d));
	m->type = fuzz_le16(d);
	m->offset8 = fuzz_le16(d + 2);
	m->len8 = fuzz_le16(d + 4);
	m->flags = fuzz_le16(d + 6);
	m->trans_id = (uint64_t)fuzz_le32(d + 8) | (uint64_t)fuzz_le32(d + 12) << 32;
	len = (uint32_t)m->len8 * 8;
	if (m->offset8 < 2 || m->offset8 > m->len8 || len > avail - HV_RING_TRAILER_SIZE) {
		m->err = -EBADMSG;
		return;
	}
	m->next = adv(c, pos, len + HV_RING_TRAILER_SIZE);
	m->err = len > c->eff_max ? -EMSGSIZE : 0;
}

static void check_pkt(const struct ring_case *c, const struct model_pkt *m,
		      const struct hv_ring_pkt *pkt, uint32_t pos)
{
	uint32_t len = (uint32_t)m->len8 * 8;
	uint8_t *want;

	FUZZ_CHECK(pkt->type == m->type && pkt->flags == m->flags &&
		   pkt->trans_id == m->trans_id);
	FUZZ_CHECK(pkt->len == len && pkt->header_len == (uint32_t)m->offset8 * 8);
	FUZZ_CHECK(pkt->header_len >= HV_RING_DESC_SIZE && pkt->header_len <= pkt->len);
	FUZZ_CHECK(hv_ring_pkt_payload_len(pkt) == len - pkt->header_len);
	want = malloc(len);
	FUZZ_CHECK(want);
	model_copy(c, pos, want, len);
	/* Reads every byte behind data: in the ring or the bounce buffer. */
	FUZZ_CHECK(memcmp(pkt->data, want, len) == 0);
	free(want);
}

/* Did the consumer write anything but the read index and the mask? */
static void check_consumer_writes(const struct ring_case *c, const uint8_t *base)
{
	FUZZ_CHECK(memcmp(base + HDR, c->pristine + HDR, c->dsize) == 0);
	FUZZ_CHECK(memcmp(base, c->pristine, OFF_R) == 0);
	FUZZ_CHECK(memcmp(base + OFF_MASK + 4, c->pristine + OFF_MASK + 4,
			  HDR - OFF_MASK - 4) == 0);
}

static bool model_need_signal(const struct ring_case *c, uint32_t released, uint32_t newpos)
{
	uint32_t room, before;

	if (!released || !(c->feat & RING_FEAT_PENDING_SEND_SZ) || !c->pending)
		return false;
	room = c->dsize - dist(c, newpos, c->w);
	before = room >= released ? room - released : 0;
	return before <= c->pending && room > c->pending;
}

/* Zero-copy batch: hv_ring_iter_* against the model. */
static void pass_iter(const struct ring_case *c, struct region *reg)
{
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct model_pkt m;
	uint32_t pos = c->r, released;
	bool sig = true;
	int err;

	FUZZ_CHECK(hv_ring_new(reg->base, reg->len, HDR, c->max_pkt, &ring) == 0);
	FUZZ_CHECK(hv_ring_data_size(ring) == c->dsize);
	FUZZ_CHECK(hv_ring_read_avail(ring) == dist(c, c->r, c->w));
	FUZZ_CHECK(hv_ring_write_avail(ring) == c->dsize - dist(c, c->r, c->w));

	err = hv_ring_iter_begin(ring, &it);
	FUZZ_CHECK(err == (c->w == c->r ? -EAGAIN : 0));
	for (;;) {
		model_next(c, pos, &m);
		err = hv_ring_iter_next(&it, &pkt);
		FUZZ_CHECK(err == m.err);
		if (err == -EAGAIN || err == -EBADMSG)
			break;
		if (err == 0) {
			uint32_t len = (uint32_t)m.len8 * 8;
			const uint8_t *data = reg->base + HDR;

			check_pkt(c, &m, &pkt, pos);
			/* In place exactly when the packet does not wrap. */
			if (len <= c->dsize - pos)
				FUZZ_CHECK(pkt.data == data + pos);
			else
				FUZZ_CHECK(pkt.data < data || pkt.data >= data + c->dsize);
		}
		pos = m.next;
	}
	/* A descriptor found bad stays bad: nothing past it is consumed. */
	if (err == -EBADMSG)
		FUZZ_CHECK(hv_ring_iter_next(&it, &pkt) == -EBADMSG);

	released = hv_ring_iter_commit(&it, &sig);
	FUZZ_CHECK(released == dist(c, c->r, pos));
	FUZZ_CHECK(sig == model_need_signal(c, released, pos));
	FUZZ_CHECK(hdr_get(reg->base, OFF_R) == (released ? pos : c->r));
	FUZZ_CHECK(hv_ring_read_avail(ring) == dist(c, pos, c->w));
	FUZZ_CHECK(hv_ring_iter_commit(&it, &sig) == 0 && !sig);

	hv_ring_intr_mask(ring);
	FUZZ_CHECK(hdr_get(reg->base, OFF_MASK) == 1);
	FUZZ_CHECK(hv_ring_intr_unmask(ring) == dist(c, pos, c->w));
	FUZZ_CHECK(hdr_get(reg->base, OFF_MASK) == 0);
	check_consumer_writes(c, reg->base);
	hv_ring_free(ring);
}

/*
 * Copying receive into an exact buffer of the input's size, then of the
 * size it asks for; then, if everything was read, a packet sent and read
 * back on the same ring.
 */
static void pass_recv(const struct ring_case *c, struct region *reg)
{
	struct hv_ring *ring;
	struct hv_ring_pkt pkt;
	struct model_pkt m;
	uint32_t pos = c->r, needed;
	size_t small = c->send_len % 4096;
	uint8_t *buf;
	bool sig;
	int err;

	memcpy(reg->base, c->pristine, reg->len);
	FUZZ_CHECK(hv_ring_new(reg->base, reg->len, HDR, c->max_pkt, &ring) == 0);
	for (;;) {
		uint32_t len;

		model_next(c, pos, &m);
		len = (uint32_t)m.len8 * 8;
		buf = malloc(small ? small : 1);
		FUZZ_CHECK(buf);
		needed = UINT32_MAX;
		err = hv_ring_recv(ring, buf, small, &pkt, &needed, &sig);
		if (m.err == 0 && len > small) {
			FUZZ_CHECK(err == -ENOBUFS && needed == len && !sig);
			FUZZ_CHECK(hv_ring_read_avail(ring) == dist(c, pos, c->w));
			free(buf);
			buf = malloc(len);
			FUZZ_CHECK(buf);
			err = hv_ring_recv(ring, buf, len, &pkt, &needed, &sig);
		}
		FUZZ_CHECK(err == m.err);
		if (err == 0) {
			FUZZ_CHECK(needed == len && pkt.data == buf);
			check_pkt(c, &m, &pkt, pos);
		}
		free(buf);
		if (err == -EAGAIN || err == -EBADMSG)
			break;
		FUZZ_CHECK(sig == model_need_signal(c, dist(c, pos, m.next), m.next));
		pos = m.next;
		FUZZ_CHECK(hdr_get(reg->base, OFF_R) == pos);
	}
	FUZZ_CHECK(hv_ring_read_avail(ring) == dist(c, pos, c->w));
	check_consumer_writes(c, reg->base);

	/* Loopback: the ring is empty and both sides agree where. */
	if (err == -EAGAIN && (c->flags & 1)) {
		uint8_t payload[64], back[HV_RING_DESC_SIZE + sizeof(payload)];
		size_t n = c->send_len % (sizeof(payload) + 1);
		struct hv_ring_pkt_info info = {
			.type = HV_RING_PKT_DATA_INBAND, .flags = (uint16_t)(c->flags >> 1),
			.trans_id = (uint64_t)c->swap_r << 32 | c->pending,
		};
		struct iovec iov = { payload, n };
		uint32_t total = (uint32_t)((HV_RING_DESC_SIZE + n + 7) & ~(size_t)7) +
				 HV_RING_TRAILER_SIZE;
		uint32_t mask = hdr_get(reg->base, OFF_MASK);

		model_copy(c, c->w, payload, sizeof(payload));
		err = hv_ring_send(ring, &info, &iov, 1, &sig);
		if (total >= c->dsize) {
			FUZZ_CHECK(err == -EMSGSIZE && !sig);
		} else {
			FUZZ_CHECK(err == 0);
			FUZZ_CHECK(sig == !mask);
			FUZZ_CHECK(hdr_get(reg->base, OFF_W) == adv(c, c->w, total));
			err = hv_ring_recv(ring, back, sizeof(back), &pkt, &needed, &sig);
			if (total - HV_RING_TRAILER_SIZE > c->eff_max) {
				/* Larger than this ring accepts: skipped whole. */
				FUZZ_CHECK(err == -EMSGSIZE);
				FUZZ_CHECK(hv_ring_read_avail(ring) == 0);
				goto done;
			}
			FUZZ_CHECK(err == 0 && pkt.type == info.type && pkt.flags == info.flags);
			FUZZ_CHECK(pkt.trans_id == info.trans_id);
			FUZZ_CHECK(pkt.header_len == HV_RING_DESC_SIZE);
			FUZZ_CHECK(pkt.len == total - HV_RING_TRAILER_SIZE);
			FUZZ_CHECK(memcmp(hv_ring_pkt_payload(&pkt), payload, n) == 0);
			FUZZ_CHECK(fuzz_all_zero(hv_ring_pkt_payload(&pkt) + n,
						 hv_ring_pkt_payload_len(&pkt) - n));
			FUZZ_CHECK(hv_ring_recv(ring, back, sizeof(back), &pkt, &needed,
						&sig) == -EAGAIN);
		}
	}
done:
	hv_ring_free(ring);
}

/*
 * A send while the host moves the read index to the input's value: the
 * exact outcome per the rules, and writes only inside the packet's span.
 */
static void pass_send(const struct ring_case *c, struct region *reg)
{
	struct hv_ring *ring;
	size_t n = c->send_len;
	uint8_t *payload = malloc(n ? n : 1);
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND, .trans_id = 7 };
	struct iovec iov = { payload, n };
	uint64_t len = (HV_RING_DESC_SIZE + n + 7) & ~(uint64_t)7;
	uint64_t total = len + HV_RING_TRAILER_SIZE;
	uint32_t free_init = c->dsize - dist(c, c->r, c->w), r2 = c->swap_r;
	int err, want;
	bool sig = true;

	FUZZ_CHECK(payload);
	for (size_t i = 0; i < n; i++)
		payload[i] = (uint8_t)(i * 37 + 1);
	memcpy(reg->base, c->pristine, reg->len);
	FUZZ_CHECK(hv_ring_new(reg->base, reg->len, HDR, c->max_pkt, &ring) == 0);
	fuzz_put_le32(reg->base + OFF_R, r2);

	if (len > (uint64_t)UINT16_MAX * 8 || total >= c->dsize)
		want = -EMSGSIZE;
	else if (total < free_init)
		want = 0;   /* the last read index seen is room enough */
	else if (!idx_ok(c, r2) || dist(c, c->r, r2) > dist(c, c->r, c->w))
		want = -EBADMSG;
	else
		want = total < c->dsize - dist(c, r2, c->w) ? 0 : -EAGAIN;
	err = hv_ring_send(ring, &info, &iov, 1, &sig);
	FUZZ_CHECK(err == want);

	if (err == 0) {
		const uint8_t *data = reg->base + HDR;
		uint8_t d[16];
		uint32_t end = adv(c, c->w, (uint32_t)total);

		FUZZ_CHECK(hdr_get(reg->base, OFF_W) == end);
		for (uint32_t i = 0; i < c->dsize; i++) {
			uint32_t off = dist(c, c->w, i);
			uint8_t b = data[i];

			if (off >= total) {
				FUZZ_CHECK(b == c->pristine[HDR + i]);
				continue;
			}
			if (off < 16) {
				d[off] = b;
			} else if (off < HV_RING_DESC_SIZE + n) {
				FUZZ_CHECK(b == payload[off - HV_RING_DESC_SIZE]);
			} else if (off < len) {
				FUZZ_CHECK(b == 0);
			} else {
				/* The trailer: the start index in the upper word. */
				uint64_t t = (uint64_t)c->w << 32;

				FUZZ_CHECK(b == (uint8_t)(t >> 8 * (off - len)));
			}
		}
		FUZZ_CHECK(fuzz_le16(d) == HV_RING_PKT_DATA_INBAND && fuzz_le16(d + 2) == 2);
		FUZZ_CHECK(fuzz_le16(d + 4) == len / 8 && fuzz_le16(d + 6) == 0);
		FUZZ_CHECK(fuzz_le32(d + 8) == 7 && fuzz_le32(d + 12) == 0);
	} else {
		FUZZ_CHECK(!sig);
		FUZZ_CHECK(memcmp(reg->base + HDR, c->pristine + HDR, c->dsize) == 0);
		FUZZ_CHECK(hdr_get(reg->base, OFF_W) == c->w);
	}
	hv_ring_free(ring);
	free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct ring_case c;
	struct region reg;
	struct hv_ring *ring = NULL;
	uint8_t *pristine;
	size_t n;
	int err;

	if (size < IN_DATA)
		return 0;
	memset(&c, 0, sizeof(c));
	c.flags = in[0];
	c.max_pkt = (uint32_t)in[1] * 8;
	c.eff_max = c.max_pkt ? c.max_pkt : HV_RING_DEFAULT_MAX_PKT;
	c.send_len = fuzz_le16(in + 2);
	c.w = fuzz_le32(in + IN_CTL);
	c.r = fuzz_le32(in + IN_CTL + 4);
	c.mask = fuzz_le32(in + IN_CTL + 8);
	c.pending = fuzz_le32(in + IN_CTL + 12);
	c.feat = fuzz_le32(in + IN_CTL + 16);
	c.swap_r = fuzz_le32(in + IN_HDR);
	n = (size - IN_DATA) & ~(size_t)7;
	if (n > MAX_DSIZE)
		n = MAX_DSIZE;
	c.dsize = n < 64 ? 64 : (uint32_t)n;

	if (region_new(&reg, HDR + c.dsize) < 0)
		return 0;
	memset(reg.base, 0, reg.len);
	fuzz_put_le32(reg.base + OFF_W, c.w);
	fuzz_put_le32(reg.base + OFF_R, c.r);
	fuzz_put_le32(reg.base + OFF_MASK, c.mask);
	fuzz_put_le32(reg.base + OFF_PEND, c.pending);
	fuzz_put_le32(reg.base + OFF_FEAT, c.feat);
	memcpy(reg.base + HDR, in + IN_DATA, n);
	pristine = malloc(reg.len);
	FUZZ_CHECK(pristine);
	memcpy(pristine, reg.base, reg.len);
	c.pristine = pristine;

	err = hv_ring_new(reg.base, reg.len, HDR, c.max_pkt, &ring);
	if (c.max_pkt && c.max_pkt < HV_RING_DESC_SIZE) {
		FUZZ_CHECK(err == -EINVAL);
		goto out;
	}
	if (!idx_ok(&c, c.w) || !idx_ok(&c, c.r)) {
		FUZZ_CHECK(err == -EBADMSG);
		goto out;
	}
	FUZZ_CHECK(err == 0);
	hv_ring_free(ring);
	/* A ring is attached where the host left it, not reset. */
	FUZZ_CHECK(memcmp(reg.base, pristine, reg.len) == 0);

	pass_iter(&c, &reg);
	pass_recv(&c, &reg);
	pass_send(&c, &reg);
out:
	free(pristine);
	region_free(&reg);
	return 0;
}
