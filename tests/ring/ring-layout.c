/* SPDX-License-Identifier: ISC */
/*
 * What a packet looks like on the ring, byte for byte, wherever it starts;
 * when the ring refuses one; which geometries attach.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring-test.h"

#define SMALL_HDR  4096u
#define SMALL_DATA 4096u

static bool in_region(const struct rt_region *rg, const void *p)
{
	const uint8_t *b = p;

	return b >= rg->base && b < rg->base + rg->size;
}

/*
 * Send one packet at `start` with the library and check every byte of it
 * against the wire format, then read it back with the iterator.
 */
static void check_send_at(struct rt_region *rg, uint32_t start, size_t plen,
			  uint32_t hlen, unsigned int split)
{
	uint8_t body[128], got[128], pad[8], after[8], poison[8];
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_USING_GPA_DIRECT,
		.flags = HV_RING_PKT_FLAG_COMPLETION_REQUESTED,
		.header_len = hlen,
		.trans_id = 0x1122334455667788ull ^ start ^ plen,
	};
	size_t blen = (hlen ? hlen - 16 : 0) + plen;
	uint32_t len = (uint32_t)((16 + blen + 7) & ~(size_t)7);
	uint32_t end = rt_wrap(rg, (uint64_t)start + len + 8);
	struct iovec iov[3];
	unsigned int n = 0;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	bool sig = false;
	size_t cut1, cut2;

	ck_assert_uint_le(blen, sizeof(body));
	memset(rt_data(rg), RT_POISON, rg->dsize);
	memset(poison, RT_POISON, sizeof(poison));
	rt_set_indices(rg, start, start);
	rt_pattern(body, blen, (uint32_t)(start * 131 + blen));
	ring = rt_ring_new(rg, 0);

	/* The same bytes in one, two or three iovecs, cut at varied places. */
	cut1 = split ? blen / (split + 1) : blen;
	cut2 = split > 1 ? 2 * blen / 3 : blen;
	if (hlen > 16 && cut1 < hlen - 16u)
		cut1 = hlen - 16;
	if (cut2 < cut1)
		cut2 = cut1;
	iov[n++] = (struct iovec){ body, cut1 };
	if (split)
		iov[n++] = (struct iovec){ body + cut1, cut2 - cut1 };
	if (split > 1)
		iov[n++] = (struct iovec){ body + cut2, blen - cut2 };

	ck_assert_int_eq(hv_ring_send(ring, &info, iov, n, &sig), 0);
	ck_assert(sig);

	ck_assert_uint_eq(rt_hdr_get(rg, RT_WRITE_INDEX), end);
	ck_assert_uint_eq(rt_hdr_get(rg, RT_READ_INDEX), start);
	ck_assert_uint_eq(rt_ring_get16(rg, start + RT_DESC_TYPE), HV_RING_PKT_DATA_USING_GPA_DIRECT);
	ck_assert_uint_eq(rt_ring_get16(rg, rt_wrap(rg, start + RT_DESC_OFFSET8)),
			  (hlen ? hlen : 16) / 8);
	ck_assert_uint_eq(rt_ring_get16(rg, rt_wrap(rg, start + RT_DESC_LEN8)), len / 8);
	ck_assert_uint_eq(rt_ring_get16(rg, rt_wrap(rg, start + RT_DESC_FLAGS)),
			  HV_RING_PKT_FLAG_COMPLETION_REQUESTED);
	ck_assert_uint_eq(rt_ring_get64(rg, rt_wrap(rg, start + RT_DESC_TRANS_ID)),
			  info.trans_id);
	rt_ring_read(rg, rt_wrap(rg, start + 16), got, blen);
	ck_assert_mem_eq(got, body, blen);
	rt_ring_read(rg, rt_wrap(rg, (uint64_t)start + 16 + blen), pad, len - 16 - blen);
	memset(got, 0, sizeof(pad));
	ck_assert_mem_eq(pad, got, len - 16 - blen);
	ck_assert_uint_eq(rt_ring_get64(rg, rt_wrap(rg, (uint64_t)start + len)),
			  (uint64_t)start << 32);
	/* Nothing outside [start, end) was written. */
	rt_ring_read(rg, end, after, sizeof(after));
	ck_assert_mem_eq(after, poison, sizeof(after));
	rt_ring_read(rg, rt_wrap(rg, (uint64_t)start + rg->dsize - 8), after, sizeof(after));
	ck_assert_mem_eq(after, poison, sizeof(after));

	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.type, HV_RING_PKT_DATA_USING_GPA_DIRECT);
	ck_assert_uint_eq(pkt.flags, HV_RING_PKT_FLAG_COMPLETION_REQUESTED);
	ck_assert_uint_eq(pkt.trans_id, info.trans_id);
	ck_assert_uint_eq(pkt.len, len);
	ck_assert_uint_eq(pkt.header_len, hlen ? hlen : 16);
	if (start + len <= rg->dsize)
		ck_assert_ptr_eq(pkt.data, rt_data(rg) + start);
	else
		ck_assert(!in_region(rg, pkt.data));
	ck_assert_uint_eq(pkt.data[RT_DESC_LEN8], len / 8);
	ck_assert_mem_eq(pkt.data + 16, body, blen);
	ck_assert_uint_eq(hv_ring_pkt_payload_len(&pkt), len - (hlen ? hlen : 16));
	ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), body + blen - plen, plen);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), len + 8);
	ck_assert(!sig);
	ck_assert_uint_eq(rt_hdr_get(rg, RT_READ_INDEX), end);
	ck_assert_uint_eq(hv_ring_read_avail(ring), 0);
	hv_ring_free(ring);
}

/*
 * Every payload length over four residue cycles, at every 8-byte start
 * within reach of the end: the wrap point falls inside the descriptor,
 * between descriptor and payload, inside the payload, at the padded tail,
 * right before the trailer and right after it.
 */
START_TEST(send_wrap_every_residue)
{
	struct rt_region rg;
	uint32_t k;
	size_t plen;
	unsigned int split;

	rt_region_init(&rg, SMALL_HDR + SMALL_DATA, SMALL_HDR);
	for (k = 0; k <= 9; k++)
		for (plen = 0; plen <= 40; plen++)
			for (split = 0; split < 3; split++)
				check_send_at(&rg, k ? rg.dsize - 8 * k : 0,
					      plen, 0, split);
	rt_region_fini(&rg);
}
END_TEST

/* The same with a type-specific header between descriptor and payload. */
START_TEST(send_wrap_with_header)
{
	struct rt_region rg;
	uint32_t k, hlen;
	size_t plen;

	rt_region_init(&rg, SMALL_HDR + SMALL_DATA, SMALL_HDR);
	for (hlen = 24; hlen <= 40; hlen += 8)
		for (k = 1; k <= 10; k++)
			for (plen = 0; plen <= 17; plen++)
				check_send_at(&rg, rg.dsize - 8 * k, plen, hlen, 2);
	rt_region_fini(&rg);
}
END_TEST

/*
 * The reverse: a packet put on the ring by our own writer at a wrap must
 * come out of the library intact, offset8 honoured.
 */
START_TEST(recv_wrap_every_residue)
{
	struct rt_region rg;
	uint8_t body[96], buf[128];
	struct hv_ring_pkt pkt;
	struct hv_ring_iter it;
	uint32_t k, start, end, needed;
	uint16_t off8;
	size_t blen;

	rt_region_init(&rg, SMALL_HDR + SMALL_DATA, SMALL_HDR);
	for (k = 1; k <= 11; k++) {
		for (blen = 0; blen <= 40; blen++) {
			for (off8 = 2; off8 <= 2 + blen / 8; off8++) {
				struct hv_ring *ring;
				uint16_t len8 = (uint16_t)((16 + blen + 7) / 8);
				bool sig;

				start = rg.dsize - 8 * k;
				rt_pattern(body, blen, k * 1000 + (uint32_t)blen);
				rt_set_indices(&rg, start, start);
				end = rt_put_packet(&rg, start, HV_RING_PKT_COMP, off8, len8, 0,
						    blen + 5, body, blen);
				ring = rt_ring_new(&rg, 0);
				rt_hdr_set(&rg, RT_WRITE_INDEX, end);

				ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
				ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
				ck_assert_uint_eq(pkt.type, HV_RING_PKT_COMP);
				ck_assert_uint_eq(pkt.trans_id, blen + 5);
				ck_assert_uint_eq(pkt.header_len, off8 * 8u);
				ck_assert_uint_eq(pkt.len, len8 * 8u);
				ck_assert_mem_eq(pkt.data + 16, body, blen);
				if (start + len8 * 8u <= rg.dsize)
					ck_assert_ptr_eq(pkt.data, rt_data(&rg) + start);
				else
					ck_assert(!in_region(&rg, pkt.data));
				ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
				/* Not committed: the copying receive sees it again. */
				ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt,
							      &needed, &sig), 0);
				ck_assert_uint_eq(needed, len8 * 8u);
				ck_assert_ptr_eq(pkt.data, buf);
				ck_assert_mem_eq(buf + 16, body, blen);
				ck_assert_uint_eq(buf[RT_DESC_OFFSET8], off8);
				ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), end);
				hv_ring_free(ring);
			}
		}
	}
	rt_region_fini(&rg);
}
END_TEST

/* Fill a ring whose free space starts at `start` up to the last 8 bytes. */
static void check_full_at(uint32_t start, int style)
{
	static uint8_t payload[SMALL_DATA], before[SMALL_DATA];
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct iovec iov;
	uint32_t free1, w;
	size_t exact;
	bool sig;
	int (*send)(struct hv_ring *, const struct hv_ring_pkt_info *,
		    const struct iovec *, unsigned int, bool *) =
		style ? hv_ring_send_mp : hv_ring_send;

	rt_region_init(&rg, SMALL_HDR + SMALL_DATA, SMALL_HDR);
	rt_set_indices(&rg, start, start);
	ring = rt_ring_new(&rg, 0);
	rt_pattern(payload, sizeof(payload), start);
	ck_assert_uint_eq(hv_ring_write_avail(ring), rg.dsize);

	iov = (struct iovec){ payload, 100 };
	ck_assert_int_eq(send(ring, &info, &iov, 1, &sig), 0);
	free1 = rg.dsize - rt_pkt_total(100);
	ck_assert_uint_eq(hv_ring_write_avail(ring), free1);
	ck_assert_uint_eq(hv_ring_read_avail(ring), rt_pkt_total(100));

	/* A packet taking exactly the free bytes would make the ring look empty. */
	exact = free1 - 8 - 16;
	ck_assert_uint_eq(rt_pkt_total(exact), free1);
	memcpy(before, rt_data(&rg), rg.dsize);
	w = rt_hdr_get(&rg, RT_WRITE_INDEX);
	for (size_t l = exact - 7; l <= exact; l++) {
		iov.iov_len = l;
		sig = true;
		ck_assert_int_eq(send(ring, &info, &iov, 1, &sig), -EAGAIN);
		ck_assert(!sig);
		if (!style)
			ck_assert_int_eq(hv_ring_write(ring, &info, &iov, 1), -EAGAIN);
	}
	ck_assert_mem_eq(before, rt_data(&rg), rg.dsize);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), w);

	/* Eight bytes less fits, and leaves exactly 8 bytes free. */
	iov.iov_len = exact - 8;
	ck_assert_int_eq(send(ring, &info, &iov, 1, &sig), 0);
	ck_assert(!sig);
	ck_assert_uint_eq(hv_ring_write_avail(ring), 8);
	ck_assert_uint_eq(hv_ring_read_avail(ring), rg.dsize - 8);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), rt_wrap(&rg, (uint64_t)start + rg.dsize - 8));
	iov.iov_len = 0;
	ck_assert_int_eq(send(ring, &info, &iov, 0, &sig), -EAGAIN);

	/* Both come back whole, and then the room is back. */
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), payload, 100);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.len, rg.dsize - 8 - rt_pkt_total(100) - 8);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), payload, exact - 8);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), rg.dsize - 8);
	ck_assert_uint_eq(hv_ring_write_avail(ring), rg.dsize);
	iov.iov_len = 200;
	ck_assert_int_eq(send(ring, &info, &iov, 1, &sig), 0);
	ck_assert(sig);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}

START_TEST(full_ring_refusal)
{
	static const uint32_t starts[] = { 0, 8, 1024, SMALL_DATA / 2 + 8,
					   SMALL_DATA - 128, SMALL_DATA - 8 };

	check_full_at(starts[_i % 6], _i / 6);
}
END_TEST

START_TEST(too_big_and_bad_header_len)
{
	static uint8_t payload[SMALL_DATA];
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	static const uint32_t bad_hlen[] = { 1, 8, 12, 15, 17, 20, 23, 31 };
	struct rt_region rg;
	struct hv_ring *ring;
	struct iovec iov = { payload, 0 }, huge[2];
	size_t i;
	bool sig;

	rt_region_init(&rg, SMALL_HDR + SMALL_DATA, SMALL_HDR);
	ring = rt_ring_new(&rg, 0);

	/* The whole data area can never be used: it needs dsize - 8 at most. */
	iov.iov_len = rg.dsize - 24;
	ck_assert_uint_eq(rt_pkt_total(iov.iov_len), rg.dsize);
	ck_assert_int_eq(hv_ring_write(ring, &info, &iov, 1), -EMSGSIZE);
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), -EMSGSIZE);
	ck_assert_int_eq(hv_ring_send_mp(ring, &info, &iov, 1, &sig), -EMSGSIZE);
	iov.iov_len = rg.dsize;
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), -EMSGSIZE);
	/* Lengths whose sum overflows are refused before any copy. */
	huge[0] = (struct iovec){ payload, SIZE_MAX / 2 };
	huge[1] = (struct iovec){ payload, SIZE_MAX / 2 };
	ck_assert_int_eq(hv_ring_write(ring, &info, huge, 2), -EMSGSIZE);
	ck_assert_int_eq(hv_ring_send_mp(ring, &info, huge, 2, &sig), -EMSGSIZE);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), 0);

	/* The biggest that fits, on an empty ring. */
	iov.iov_len = rg.dsize - 32;
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), 0);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), rg.dsize - 8);

	/* header_len: a multiple of 8, at least 16, within the body. */
	iov.iov_len = 64;
	for (i = 0; i < RT_ARRAY_SIZE(bad_hlen); i++) {
		info.header_len = bad_hlen[i];
		ck_assert_int_eq(hv_ring_write(ring, &info, &iov, 1), -EINVAL);
		ck_assert_int_eq(hv_ring_send_mp(ring, &info, &iov, 1, &sig), -EINVAL);
	}
	info.header_len = 16 + 72;
	ck_assert_int_eq(hv_ring_write(ring, &info, &iov, 1), -EINVAL);
	info.header_len = 16;
	ck_assert_int_eq(hv_ring_write(ring, &info, NULL, 1), -EINVAL);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), rg.dsize - 8);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/* len8 is 16 bits: 65535 * 8 bytes is the largest packet there is. */
START_TEST(largest_packet)
{
	const size_t max_len = (size_t)UINT16_MAX * 8;
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND, .trans_id = 9 };
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	uint8_t *payload, *buf;
	uint32_t needed;
	struct iovec iov;
	bool sig;

	rt_region_init(&rg, (2u << 20) + 4096, 4096);
	payload = malloc(max_len);
	buf = malloc(max_len);
	ck_assert_ptr_nonnull(payload);
	ck_assert_ptr_nonnull(buf);
	rt_pattern(payload, max_len, 77);
	rt_set_indices(&rg, rg.dsize - 4096, rg.dsize - 4096);
	ring = rt_ring_new(&rg, (uint32_t)max_len);

	iov = (struct iovec){ payload, max_len - 16 + 1 };
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), -EMSGSIZE);
	iov.iov_len = max_len - 16;
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), 0);
	ck_assert_uint_eq(rt_ring_get16(&rg, rg.dsize - 4096 + RT_DESC_LEN8), UINT16_MAX);
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), 0);

	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.len, max_len);
	ck_assert(rt_pattern_ok(hv_ring_pkt_payload(&pkt), max_len - 16, 77));
	ck_assert_uint_eq(hv_ring_iter_commit(&it, NULL), max_len + 8);
	ck_assert_int_eq(hv_ring_recv(ring, buf, max_len, &pkt, &needed, &sig), 0);
	ck_assert(rt_pattern_ok(buf + 16, max_len - 16, 77));
	hv_ring_free(ring);
	free(payload);
	free(buf);
	rt_region_fini(&rg);
}
END_TEST

START_TEST(geometry_errors)
{
	struct rt_region rg;
	struct hv_ring *ring = NULL;
	uint8_t *b;

	rt_region_init(&rg, 8192, 4096);
	b = rg.base;
	ck_assert_int_eq(hv_ring_new(NULL, 8192, 4096, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 0, NULL), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b + 4, 8188, 4096, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 8192, 2048, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4100, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 8192, 8192, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 4096, 8192, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 8188, 4096, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 4096 + 56, 4096, 0, &ring), -EINVAL);
	ck_assert_int_eq(hv_ring_new(b, 4096 + 64, 4096, 0, &ring), 0);
	hv_ring_free(ring);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 15, &ring), -EINVAL);
	/* A data area of 2 GiB does not fit the 31-bit indices; no memory is touched. */
	ck_assert_int_eq(hv_ring_new(b, 4096 + (2ull << 30), 4096, 0, &ring), -EINVAL);

	/* Indices that cannot be true in the header we attach to. */
	rt_set_indices(&rg, 4096, 0);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 0, &ring), -EBADMSG);
	rt_set_indices(&rg, 0, 4096);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 0, &ring), -EBADMSG);
	rt_set_indices(&rg, 12, 0);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 0, &ring), -EBADMSG);
	rt_set_indices(&rg, 0, 0xfffffff8u);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 0, &ring), -EBADMSG);
	rt_set_indices(&rg, 4088, 8);
	ck_assert_int_eq(hv_ring_new(b, 8192, 4096, 0, &ring), 0);
	ck_assert_uint_eq(hv_ring_read_avail(ring), 4080);
	ck_assert_uint_eq(hv_ring_write_avail(ring), 16);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/*
 * Ring sizes Linux hands out (uio_hv_generic: 2 MiB before 6.16, 2 MiB + one
 * page after; fcopy's 16 KiB and 20 KiB; 64 KiB pages): the data starts at
 * header_size, and a packet at the wrap lands where the host expects it.
 */
START_TEST(kernel_ring_sizes)
{
	static const struct { size_t size, hdr; } geo[] = {
		{ 2u << 20, 4096 },
		{ (2u << 20) + 4096, 4096 },
		{ 16384, 4096 },
		{ 20480, 4096 },
		{ (2u << 20) + 65536, 65536 },
		{ 2u << 20, 65536 },
	};
	struct rt_region rg;
	struct hv_ring *ring;
	uint8_t payload[300], buf[400];
	struct hv_ring_pkt pkt;
	uint32_t needed, start;
	bool sig;
	size_t i;

	for (i = 0; i < RT_ARRAY_SIZE(geo); i++) {
		rt_region_init(&rg, geo[i].size, geo[i].hdr);
		memset(rg.base, 0x5a, geo[i].hdr);
		rt_set_indices(&rg, 0, 0);
		ring = rt_ring_new(&rg, 0);
		ck_assert_uint_eq(hv_ring_data_size(ring), geo[i].size - geo[i].hdr);
		hv_ring_reset(ring);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), 0);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), 0);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_INTERRUPT_MASK), 0);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_PENDING_SEND_SZ), 0);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_FEATURE_BITS), RT_FEAT_PENDING_SEND_SZ);
		ck_assert_uint_eq(hv_ring_write_avail(ring), rg.dsize);
		ck_assert_uint_eq(hv_ring_read_avail(ring), 0);
		hv_ring_free(ring);

		start = rg.dsize - 24;
		rt_set_indices(&rg, start, start);
		ring = rt_ring_new(&rg, 0);
		rt_pattern(payload, sizeof(payload), (uint32_t)i);
		ck_assert_int_eq(rt_send(ring, 42, payload, sizeof(payload), &sig), 0);
		ck_assert(sig);
		/* Found by plain offsets: header_size, then the index. */
		ck_assert_uint_eq(rg.base[geo[i].hdr + start + RT_DESC_TYPE], HV_RING_PKT_DATA_INBAND);
		ck_assert_uint_eq(rg.base[geo[i].hdr + start + RT_DESC_OFFSET8], 2);
		ck_assert_uint_eq(rg.base[geo[i].hdr + start + RT_DESC_TRANS_ID], 42);
		ck_assert_mem_eq(rg.base + geo[i].hdr + start + 16, payload, 8);
		ck_assert_mem_eq(rg.base + geo[i].hdr, payload + 8, 16);
		/* The rest of a big header page is the host's: untouched. */
		for (size_t b = 68; b < geo[i].hdr; b++)
			if (rg.base[b] != 0x5a)
				ck_abort_msg("header byte %zu changed", b);
		ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), 0);
		ck_assert_uint_eq(needed, 320);
		ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), payload, sizeof(payload));
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), rt_wrap(&rg, (uint64_t)start + 328));
		hv_ring_free(ring);
		rt_region_fini(&rg);
	}
}
END_TEST

/*
 * Multi-producer laps, then the single-producer path: the read index the
 * latter saw before must not be taken for a lower bound any more. Here the
 * old bound (0) would promise 3072 free bytes where 2048 are.
 */
START_TEST(producer_styles_in_turn)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	static uint8_t payload[SMALL_DATA];
	struct iovec iov = { payload, 1000 };
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	uint8_t unread[2048];
	int i;

	rt_region_init(&rg, SMALL_HDR + SMALL_DATA, SMALL_HDR);
	ring = rt_ring_new(&rg, 0);
	ck_assert_uint_eq(rt_pkt_total(1000), 1024);
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, NULL), 0);
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	hv_ring_iter_commit(&it, NULL);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(hv_ring_send_mp(ring, &info, &iov, 1, NULL), 0);
		ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
		hv_ring_iter_commit(&it, NULL);
	}
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), 3072);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(hv_ring_send_mp(ring, &info, &iov, 1, NULL), 0);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), 1024);
	ck_assert_uint_eq(hv_ring_write_avail(ring), 2048);
	rt_ring_read(&rg, 3072, unread, sizeof(unread));

	iov.iov_len = 2048 - 24;
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, NULL), -EAGAIN);
	iov.iov_len = 3000;
	ck_assert_int_eq(hv_ring_write(ring, &info, &iov, 1), -EAGAIN);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), 1024);
	rt_ring_read(&rg, 3072, payload, sizeof(unread));
	ck_assert_mem_eq(payload, unread, sizeof(unread));
	iov.iov_len = 2048 - 32;
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, NULL), 0);
	ck_assert_uint_eq(hv_ring_write_avail(ring), 8);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

void rt_add_layout_tests(Suite *s)
{
	TCase *tc = tcase_create("layout");

	tcase_add_test(tc, send_wrap_every_residue);
	tcase_add_test(tc, send_wrap_with_header);
	tcase_add_test(tc, recv_wrap_every_residue);
	tcase_add_loop_test(tc, full_ring_refusal, 0, 12);
	tcase_add_test(tc, too_big_and_bad_header_len);
	tcase_add_test(tc, largest_packet);
	tcase_add_test(tc, geometry_errors);
	tcase_add_test(tc, kernel_ring_sizes);
	tcase_add_test(tc, producer_styles_in_turn);
	suite_add_tcase(s, tc);
}
