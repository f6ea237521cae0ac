/* SPDX-License-Identifier: ISC */
/*
 * A peer that lies. Every case puts its lie next to the end of the data
 * area, where the guard page after the region turns any access past the
 * end into a crash even without sanitizers, and checks that the library
 * answers -EBADMSG and consumes nothing.
 */
#include <errno.h>
#include <string.h>

#include "ring-test.h"

#define HDR  4096u
#define DATA 4096u

/* Nothing may be consumed or produced after a refusal. */
static void check_refused(const struct rt_region *rg, struct hv_ring *ring,
			  uint32_t r, uint32_t w)
{
	uint8_t buf[DATA];
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	uint32_t needed = 0;
	bool sig = true;
	int err;

	err = hv_ring_iter_begin(ring, &it);
	if (err == 0) {
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EBADMSG);
		/* It stays stuck: no skipping over a lie. */
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EBADMSG);
		ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 0);
		ck_assert(!sig);
	} else {
		ck_assert_int_eq(err, -EBADMSG);
	}
	ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), -EBADMSG);
	ck_assert(!sig);
	ck_assert_uint_eq(rt_hdr_get(rg, RT_READ_INDEX), r);
	ck_assert_uint_eq(rt_hdr_get(rg, RT_WRITE_INDEX), w);
}

/* A write index that is outside the data area or not a multiple of 8. */
START_TEST(bad_write_index)
{
	static const uint32_t bad[] = { DATA, DATA + 8, 0xfffffff8u, 0x80000000u,
					4, 13, DATA - 1, DATA - 4 };
	struct rt_region rg;
	struct hv_ring *ring;
	size_t i;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_set_indices(&rg, DATA - 16, DATA - 16);
	ring = rt_ring_new(&rg, 0);
	for (i = 0; i < RT_ARRAY_SIZE(bad); i++) {
		rt_hdr_set(&rg, RT_WRITE_INDEX, bad[i]);
		check_refused(&rg, ring, DATA - 16, bad[i]);
		ck_assert_uint_eq(hv_ring_read_avail(ring), 0);
		ck_assert_uint_eq(hv_ring_intr_unmask(ring), 0);
	}
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

struct bad_desc {
	const char *what;
	uint16_t offset8, len8;
	uint32_t published;   /* bytes the write index claims, 0: the whole packet */
};

static const struct bad_desc bad_descs[] = {
	{ "offset8 > len8", 5, 4, 0 },
	{ "offset8 > len8 by one", 3, 2, 0 },
	{ "offset8 0", 0, 4, 0 },
	{ "offset8 1", 1, 4, 0 },
	{ "zero-length descriptor", 0, 0, 24 },
	{ "len8 0, offset8 2", 2, 0, 24 },
	{ "len8 1", 1, 1, 24 },
	{ "longer than published", 2, 10, 48 },
	{ "trailer not published", 2, 10, 80 },
	{ "wraps twice", 2, DATA / 8 + 4, DATA - 8 },
	{ "len8 at its maximum", 2, 0xffff, DATA - 8 },
	{ "published less than a descriptor", 2, 2, 8 },
	{ "published a descriptor without trailer", 2, 2, 16 },
};

START_TEST(bad_descriptor)
{
	const struct bad_desc *b = &bad_descs[_i / 4];
	/* At the end, across it, just after it, and at 0. */
	static const uint32_t starts[] = { DATA - 16, DATA - 8, 0, DATA - 64 };
	uint32_t start = starts[_i % 4], pub, end;
	uint8_t body[96];
	struct rt_region rg;
	struct hv_ring *ring;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_pattern(body, sizeof(body), 1);
	rt_set_indices(&rg, start, start);
	ring = rt_ring_new(&rg, 0);
	rt_put_packet(&rg, start, HV_RING_PKT_DATA_INBAND, b->offset8, b->len8, 0, 1,
		      body, b->len8 >= 2 && b->len8 < 14 ? b->len8 * 8u - 16 : 0);
	pub = b->published ? b->published : b->len8 * 8u + 8;
	end = rt_wrap(&rg, (uint64_t)start + pub);
	rt_hdr_set(&rg, RT_WRITE_INDEX, end);
	check_refused(&rg, ring, start, end);
	ck_assert_uint_eq(hv_ring_read_avail(ring), pub);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/* The exact limit is accepted: the lies above are not off by one. */
START_TEST(descriptor_limits_accepted)
{
	uint8_t body[64], buf[128];
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_pkt pkt;
	uint32_t end, needed;
	bool sig;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_pattern(body, sizeof(body), 2);
	rt_set_indices(&rg, DATA - 16, DATA - 16);
	ring = rt_ring_new(&rg, 0);
	/* offset8 == len8: a packet that is all header. */
	end = rt_put_packet(&rg, DATA - 16, 0x77, 10, 10, 0xffff, 3, body, 64);
	rt_hdr_set(&rg, RT_WRITE_INDEX, end);
	ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), 0);
	ck_assert_uint_eq(pkt.type, 0x77);
	ck_assert_uint_eq(pkt.flags, 0xffff);
	ck_assert_uint_eq(hv_ring_pkt_payload_len(&pkt), 0);
	ck_assert_mem_eq(buf + 16, body, 64);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/* A good packet, then a lie: the good one is delivered and only it released. */
START_TEST(good_then_bad)
{
	uint8_t body[40], buf[128];
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	uint32_t mid, end, needed;
	bool sig;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_pattern(body, sizeof(body), 3);
	rt_set_indices(&rg, DATA - 48, DATA - 48);
	ring = rt_ring_new(&rg, 0);
	mid = rt_put_inband(&rg, DATA - 48, 1, body, sizeof(body));
	end = rt_put_packet(&rg, mid, HV_RING_PKT_DATA_INBAND, 9, 4, 0, 2, body, 16);
	rt_hdr_set(&rg, RT_WRITE_INDEX, end);

	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.trans_id, 1);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), body, sizeof(body));
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EBADMSG);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, NULL), rt_pkt_total(sizeof(body)));
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), mid);
	ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), -EBADMSG);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), mid);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/*
 * The producer side: a read index that is out of range, misaligned, or
 * claims the consumer read what was never published (or went backwards).
 */
START_TEST(bad_read_index)
{
	static const uint32_t out_of_range[] = { DATA, 0xfffffff8u, 4, DATA - 3 };
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	uint8_t payload[2048] = { 0 }, before[DATA];
	struct iovec iov = { payload, sizeof(payload) };
	struct rt_region rg;
	struct hv_ring *ring;
	uint32_t start = DATA - 512, w, bad;
	bool sig;
	size_t i;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_set_indices(&rg, start, start);
	ring = rt_ring_new(&rg, 0);
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), 0);
	w = rt_hdr_get(&rg, RT_WRITE_INDEX);
	memcpy(before, rt_data(&rg), DATA);

	for (i = 0; i < RT_ARRAY_SIZE(out_of_range) + 3; i++) {
		if (i < RT_ARRAY_SIZE(out_of_range))
			bad = out_of_range[i];
		else if (i == RT_ARRAY_SIZE(out_of_range))
			bad = rt_wrap(&rg, (uint64_t)w + 8);         /* past the write index */
		else if (i == RT_ARRAY_SIZE(out_of_range) + 1)
			bad = rt_wrap(&rg, (uint64_t)start + DATA - 8); /* backwards */
		else
			bad = rt_wrap(&rg, (uint64_t)w + 1024);
		rt_hdr_set(&rg, RT_READ_INDEX, bad);
		/* The second packet does not fit in what was known free: reload. */
		sig = true;
		ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), -EBADMSG);
		ck_assert(!sig);
		ck_assert_int_eq(hv_ring_write(ring, &info, &iov, 1), -EBADMSG);
		if (i < RT_ARRAY_SIZE(out_of_range)) {
			ck_assert_int_eq(hv_ring_send_mp(ring, &info, &iov, 1, &sig), -EBADMSG);
			ck_assert_uint_eq(hv_ring_write_avail(ring), 0);
		}
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), w);
		ck_assert_mem_eq(before, rt_data(&rg), DATA);
	}
	/* The truth again: the consumer read the first packet. */
	rt_hdr_set(&rg, RT_READ_INDEX, w);
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), 0);
	ck_assert(sig);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

void rt_add_hostile_tests(Suite *s)
{
	TCase *tc = tcase_create("hostile");

	tcase_add_test(tc, bad_write_index);
	tcase_add_loop_test(tc, bad_descriptor, 0, 4 * (int)RT_ARRAY_SIZE(bad_descs));
	tcase_add_test(tc, descriptor_limits_accepted);
	tcase_add_test(tc, good_then_bad);
	tcase_add_test(tc, bad_read_index);
	suite_add_tcase(s, tc);
}
