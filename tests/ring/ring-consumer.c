/* SPDX-License-Identifier: ISC */
/* The receive side: batches, partial commits, copies, the interrupt mask. */
#include <errno.h>
#include <string.h>

#include "ring-test.h"

#define HDR  4096u
#define DATA 4096u

static size_t plen_of(unsigned int i)
{
	return (i * 37u) % 90u;
}

/* Packets from the library's producer, checked against raw offsets. */
START_TEST(batch_partial_commit)
{
	uint8_t payload[128];
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	uint32_t start = _i ? DATA - 200 : 0, pos, sum;
	unsigned int i;
	bool sig;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_set_indices(&rg, start, start);
	ring = rt_ring_new(&rg, 0);
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), -EAGAIN);
	for (i = 0; i < 10; i++) {
		rt_pattern(payload, plen_of(i), i);
		ck_assert_int_eq(rt_send(ring, i, payload, plen_of(i), &sig), 0);
		ck_assert(sig == (i == 0));
	}

	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	/* Published after begin: not in this batch. */
	ck_assert_int_eq(rt_send(ring, 10, payload, 8, &sig), 0);
	pos = start;
	sum = 0;
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
		ck_assert_uint_eq(pkt.trans_id, i);
		ck_assert_uint_eq(rt_ring_get64(&rg, rt_wrap(&rg, pos + RT_DESC_TRANS_ID)), i);
		ck_assert(rt_pattern_ok(hv_ring_pkt_payload(&pkt), plen_of(i), i));
		sum += rt_pkt_total(plen_of(i));
		pos = rt_wrap(&rg, (uint64_t)pos + rt_pkt_total(plen_of(i)));
	}
	/* Nothing is released before the commit. */
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), start);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), sum);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), pos);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 0);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), pos);

	/* The same batch goes on after a commit... */
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.trans_id, 4);
	sum = rt_pkt_total(plen_of(4));
	pos = rt_wrap(&rg, (uint64_t)pos + sum);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, NULL), sum);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), pos);

	/* ...and a new one starts at the first packet not committed. */
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	for (i = 5; i <= 10; i++) {
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
		ck_assert_uint_eq(pkt.trans_id, i);
		if (i < 10)
			ck_assert(rt_pattern_ok(hv_ring_pkt_payload(&pkt), plen_of(i), i));
		pos = rt_wrap(&rg, (uint64_t)pos + pkt.len + 8);
	}
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
	ck_assert_uint_eq(hv_ring_read_avail(ring),
			  rt_wrap(&rg, (uint64_t)pos + rg.dsize - rt_hdr_get(&rg, RT_READ_INDEX)));
	hv_ring_iter_commit(&it, NULL);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), pos);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_WRITE_INDEX), pos);
	ck_assert_uint_eq(hv_ring_read_avail(ring), 0);
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), -EAGAIN);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/*
 * A packet that wraps lives in the bounce buffer only until the next call;
 * the ones that do not wrap stay valid in place until the commit.
 */
START_TEST(batch_views)
{
	uint8_t a[40], b[200], c[24];
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pa, pb, pc;
	uint32_t start = DATA - 64, pos;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_pattern(a, sizeof(a), 1);
	rt_pattern(b, sizeof(b), 2);
	rt_pattern(c, sizeof(c), 3);
	pos = rt_put_inband(&rg, start, 1, a, sizeof(a));   /* 56 + 8: ends at the end */
	ck_assert_uint_eq(pos, 0);
	pos = rt_put_inband(&rg, pos, 2, b, sizeof(b));
	rt_set_indices(&rg, pos, start);
	ring = rt_ring_new(&rg, 0);

	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pa), 0);
	ck_assert_ptr_eq(pa.data, rt_data(&rg) + start);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pb), 0);
	ck_assert_ptr_eq(pb.data, rt_data(&rg));
	ck_assert_mem_eq(hv_ring_pkt_payload(&pa), a, sizeof(a));
	ck_assert_mem_eq(hv_ring_pkt_payload(&pb), b, sizeof(b));
	ck_assert_uint_eq(hv_ring_iter_commit(&it, NULL), 64 + rt_pkt_total(sizeof(b)));
	hv_ring_free(ring);

	/* Now one straddling the end, followed by one that does not. */
	start = DATA - 32;
	pos = rt_put_inband(&rg, start, 1, b, sizeof(b));
	pos = rt_put_inband(&rg, pos, 2, c, sizeof(c));
	rt_set_indices(&rg, pos, start);
	ring = rt_ring_new(&rg, 0);
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pb), 0);
	ck_assert(pb.data < rg.base || pb.data >= rg.base + rg.size);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pb), b, sizeof(b));
	ck_assert_int_eq(hv_ring_iter_next(&it, &pc), 0);
	ck_assert_ptr_eq(pc.data, rt_data(&rg) + rt_pkt_total(sizeof(b)) - 32);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pc), c, sizeof(c));
	ck_assert_int_eq(hv_ring_iter_next(&it, &pc), -EAGAIN);
	hv_ring_iter_commit(&it, NULL);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/* Bigger than max_pkt_size: skipped and consumed, the next one still comes. */
START_TEST(oversize_skipped)
{
	uint8_t big[300], small[10], buf[512];
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	uint32_t pos, needed = 0;
	bool sig;

	rt_region_init(&rg, HDR + DATA, HDR);
	rt_pattern(big, sizeof(big), 5);
	rt_pattern(small, sizeof(small), 6);
	pos = rt_put_inband(&rg, 0, 1, big, sizeof(big));
	pos = rt_put_inband(&rg, pos, 2, small, sizeof(small));
	pos = rt_put_inband(&rg, pos, 3, big, sizeof(big));
	pos = rt_put_inband(&rg, pos, 4, small, sizeof(small));
	rt_set_indices(&rg, pos, 0);
	ring = rt_ring_new(&rg, 256);

	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EMSGSIZE);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.trans_id, 2);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, NULL),
			  rt_pkt_total(sizeof(big)) + rt_pkt_total(sizeof(small)));

	ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), -EMSGSIZE);
	ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), 0);
	ck_assert_uint_eq(pkt.trans_id, 4);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), small, sizeof(small));
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), pos);
	hv_ring_free(ring);
	rt_region_fini(&rg);
}
END_TEST

/* Copying receive: too small a buffer consumes nothing and says how much. */
START_TEST(recv_enobufs_and_wrap)
{
	uint8_t payload[100], buf[256];
	struct rt_region rg;
	struct hv_ring *ring;
	struct hv_ring_pkt pkt;
	uint32_t start, needed, k;
	bool sig;

	rt_region_init(&rg, HDR + DATA, HDR);
	ring = rt_ring_new(&rg, 0);
	ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), -EAGAIN);
	hv_ring_free(ring);

	for (k = 1; k <= 16; k++) {
		start = DATA - 8 * k;
		rt_set_indices(&rg, start, start);
		ring = rt_ring_new(&rg, 0);
		rt_pattern(payload, sizeof(payload), k);
		ck_assert_int_eq(rt_send(ring, k, payload, sizeof(payload), &sig), 0);
		ck_assert_int_eq(rt_send(ring, k + 100, payload, 3, &sig), 0);

		needed = 0;
		sig = true;
		ck_assert_int_eq(hv_ring_recv(ring, buf, 119, &pkt, &needed, &sig), -ENOBUFS);
		ck_assert_uint_eq(needed, 120);
		ck_assert(!sig);
		ck_assert_int_eq(hv_ring_recv(ring, buf, 0, &pkt, NULL, &sig), -ENOBUFS);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), start);
		ck_assert_uint_eq(hv_ring_read_avail(ring), 128 + 32);

		memset(buf, 0xee, sizeof(buf));
		ck_assert_int_eq(hv_ring_recv(ring, buf, 120, &pkt, &needed, &sig), 0);
		ck_assert_ptr_eq(pkt.data, buf);
		ck_assert_uint_eq(pkt.trans_id, k);
		ck_assert_uint_eq(pkt.len, 120);
		ck_assert_uint_eq(buf[RT_DESC_LEN8], 15);
		ck_assert_uint_eq(buf[RT_DESC_TYPE], HV_RING_PKT_DATA_INBAND);
		ck_assert_mem_eq(buf + 16, payload, sizeof(payload));
		ck_assert_uint_eq(buf[116] | buf[117] | buf[118] | buf[119], 0);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), rt_wrap(&rg, start + 128));

		ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), 0);
		ck_assert_uint_eq(needed, 24);
		ck_assert_uint_eq(pkt.trans_id, k + 100);
		ck_assert_uint_eq(hv_ring_pkt_payload_len(&pkt), 8);
		ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), payload, 3);
		ck_assert_int_eq(hv_ring_recv(ring, buf, sizeof(buf), &pkt, &needed, &sig), -EAGAIN);
		ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), rt_wrap(&rg, start + 160));
		hv_ring_free(ring);
	}
	rt_region_fini(&rg);
}
END_TEST

START_TEST(interrupt_mask)
{
	uint8_t payload[20] = { 0 };
	struct rt_region rg;
	struct hv_ring *prod, *cons;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	bool sig;

	rt_region_init(&rg, HDR + DATA, HDR);
	prod = rt_ring_new(&rg, 0);
	cons = rt_ring_new(&rg, 0);
	hv_ring_reset(cons);

	hv_ring_intr_mask(cons);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_INTERRUPT_MASK), 1);
	ck_assert_uint_eq(hv_ring_intr_unmask(cons), 0);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_INTERRUPT_MASK), 0);

	/* A packet that arrives while masked is not signalled... */
	hv_ring_intr_mask(cons);
	ck_assert_int_eq(rt_send(prod, 1, payload, sizeof(payload), &sig), 0);
	ck_assert(!sig);
	ck_assert_int_eq(rt_send(prod, 2, payload, 1, &sig), 0);
	ck_assert(!sig);
	/* ...so unmasking reports it, trailers included. */
	ck_assert_uint_eq(hv_ring_intr_unmask(cons), rt_pkt_total(20) + rt_pkt_total(1));
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_INTERRUPT_MASK), 0);

	ck_assert_int_eq(hv_ring_iter_begin(cons, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	hv_ring_iter_commit(&it, NULL);
	ck_assert_uint_eq(hv_ring_intr_unmask(cons), rt_pkt_total(1));
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	hv_ring_iter_commit(&it, NULL);
	ck_assert_uint_eq(hv_ring_intr_unmask(cons), 0);
	/* Empty and unmasked: the next packet is signalled. */
	ck_assert_int_eq(rt_send(prod, 3, payload, 1, &sig), 0);
	ck_assert(sig);
	hv_ring_free(prod);
	hv_ring_free(cons);
	rt_region_fini(&rg);
}
END_TEST

void rt_add_consumer_tests(Suite *s)
{
	TCase *tc = tcase_create("consumer");

	tcase_add_loop_test(tc, batch_partial_commit, 0, 2);
	tcase_add_test(tc, batch_views);
	tcase_add_test(tc, oversize_skipped);
	tcase_add_test(tc, recv_enobufs_and_wrap);
	tcase_add_test(tc, interrupt_mask);
	suite_add_tcase(s, tc);
}
