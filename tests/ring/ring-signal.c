/* SPDX-License-Identifier: ISC */
/*
 * When each side must interrupt the other (after Linux's hv_signal_on_write and hv_pkt_iter_close): every branch of both
 * rules, each with a case that signals and one that must not.
 */
#include <errno.h>
#include <string.h>

#include "ring-test.h"

#define HDR  4096u
#define DATA 4096u
/* A payload that makes a packet of exactly 256 bytes with its trailer. */
#define P256 232u

struct pair {
	struct rt_region rg;
	struct hv_ring *prod;
	struct hv_ring *cons;
};

static void pair_init(struct pair *p, uint32_t start)
{
	rt_region_init(&p->rg, HDR + DATA, HDR);
	p->prod = rt_ring_new(&p->rg, 0);
	hv_ring_reset(p->prod);
	hv_ring_free(p->prod);
	rt_set_indices(&p->rg, start, start);
	p->prod = rt_ring_new(&p->rg, 0);
	p->cons = rt_ring_new(&p->rg, 0);
}

static void pair_fini(struct pair *p)
{
	hv_ring_free(p->prod);
	hv_ring_free(p->cons);
	rt_region_fini(&p->rg);
}

START_TEST(writer_empty_to_nonempty)
{
	static const uint32_t masks[] = { 1, 2, 0x80000000u, 0xffffffffu };
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	uint8_t payload[P256] = { 0 };
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct pair p;
	bool sig;
	size_t i;

	pair_init(&p, _i ? DATA - 8 : 0);
	ck_assert_int_eq(rt_send(p.prod, 1, payload, 10, &sig), 0);
	ck_assert(sig);
	/* The reader has not caught up: no interrupt. */
	ck_assert_int_eq(rt_send(p.prod, 2, payload, 10, &sig), 0);
	ck_assert(!sig);
	/* It has caught up with one packet but not the other: still none. */
	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	hv_ring_iter_commit(&it, NULL);
	ck_assert_int_eq(rt_send(p.prod, 3, payload, 10, &sig), 0);
	ck_assert(!sig);
	/* The batch ends where its begin saw the write index: not at 3. */
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
	hv_ring_iter_commit(&it, NULL);
	ck_assert_int_eq(rt_send(p.prod, 4, payload, 10, &sig), 0);
	ck_assert(!sig);
	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
	while (hv_ring_iter_next(&it, &pkt) == 0)
		;
	hv_ring_iter_commit(&it, NULL);
	ck_assert_int_eq(rt_send(p.prod, 4, payload, 10, &sig), 0);
	ck_assert(sig);
	ck_assert_int_eq(rt_send(p.prod, 5, payload, 10, NULL), 0);

	/* Whatever the mask value, a set mask silences the empty ring. */
	for (i = 0; i < RT_ARRAY_SIZE(masks); i++) {
		ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
		while (hv_ring_iter_next(&it, &pkt) == 0)
			;
		hv_ring_iter_commit(&it, NULL);
		rt_hdr_set(&p.rg, RT_INTERRUPT_MASK, masks[i]);
		ck_assert_int_eq(hv_ring_send_mp(p.prod, &info, NULL, 0, &sig), 0);
		ck_assert(!sig);
		ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
		hv_ring_iter_commit(&it, NULL);
		ck_assert_int_eq(rt_send(p.prod, 6, payload, 10, &sig), 0);
		ck_assert(!sig);
		rt_hdr_set(&p.rg, RT_INTERRUPT_MASK, 0);
	}
	pair_fini(&p);
}
END_TEST

/* Writes without publish are invisible; one publish, one interrupt. */
START_TEST(writer_batch_publish)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	uint8_t payload[64] = { 0 };
	struct iovec iov = { payload, sizeof(payload) };
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct pair p;
	uint32_t start = _i ? DATA - 72 : 0;
	bool sig;
	int i;

	pair_init(&p, start);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(hv_ring_write(p.prod, &info, &iov, 1), 0);
	ck_assert_uint_eq(rt_hdr_get(&p.rg, RT_WRITE_INDEX), start);
	ck_assert_uint_eq(hv_ring_read_avail(p.cons), 0);
	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), -EAGAIN);
	hv_ring_publish(p.prod, &sig);
	ck_assert(sig);
	ck_assert_uint_eq(rt_hdr_get(&p.rg, RT_WRITE_INDEX),
			  rt_wrap(&p.rg, start + 5ull * rt_pkt_total(64)));
	ck_assert_uint_eq(hv_ring_read_avail(p.cons), 5 * rt_pkt_total(64));
	/* Nothing new: nothing to say. */
	hv_ring_publish(p.prod, &sig);
	ck_assert(!sig);
	/* More while the reader is behind: no interrupt. */
	ck_assert_int_eq(hv_ring_write(p.prod, &info, &iov, 1), 0);
	hv_ring_publish(p.prod, &sig);
	ck_assert(!sig);

	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
	hv_ring_iter_commit(&it, NULL);
	ck_assert_int_eq(hv_ring_write(p.prod, &info, &iov, 1), 0);
	ck_assert_int_eq(hv_ring_write(p.prod, &info, &iov, 1), 0);
	hv_ring_publish(p.prod, &sig);
	ck_assert(sig);
	hv_ring_publish(p.prod, NULL);
	pair_fini(&p);
}
END_TEST

START_TEST(writer_mp_signal)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	uint8_t payload[8] = { 0 };
	struct iovec iov = { payload, sizeof(payload) };
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct pair p;
	bool sig;

	pair_init(&p, DATA - 16);
	ck_assert_int_eq(hv_ring_send_mp(p.prod, &info, &iov, 1, &sig), 0);
	ck_assert(sig);
	ck_assert_int_eq(hv_ring_send_mp(p.prod, &info, &iov, 1, &sig), 0);
	ck_assert(!sig);
	ck_assert_uint_eq(rt_hdr_get(&p.rg, RT_WRITE_INDEX), 48);
	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	hv_ring_iter_commit(&it, NULL);
	ck_assert_int_eq(hv_ring_send_mp(p.prod, &info, &iov, 1, &sig), 0);
	ck_assert(sig);
	pair_fini(&p);
}
END_TEST

/*
 * Fill the ring with `n` packets of 256 bytes, let the producer ask for
 * `pending` bytes, then release the first `k` in one commit.
 */
static bool reader_signals(struct pair *p, unsigned int n, uint32_t pending,
			   unsigned int k, bool feature)
{
	uint8_t payload[P256] = { 0 };
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	unsigned int i;
	bool sig = !feature && pending;

	ck_assert_uint_eq(rt_pkt_total(P256), 256);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(rt_send(p->prod, i, payload, P256, NULL), 0);
	ck_assert_uint_eq(hv_ring_write_avail(p->prod), DATA - 256 * n);
	if (!feature)
		rt_hdr_set(&p->rg, RT_FEATURE_BITS, 0);
	hv_ring_set_pending_send_size(p->prod, pending);
	ck_assert_uint_eq(rt_hdr_get(&p->rg, RT_PENDING_SEND_SZ), pending);

	ck_assert_int_eq(hv_ring_iter_begin(p->cons, &it), 0);
	for (i = 0; i < k; i++)
		ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 256 * k);
	return sig;
}

struct reader_case {
	unsigned int n;      /* packets in the ring: room before = DATA - 256n */
	uint32_t pending;
	unsigned int k;      /* released: room after = room before + 256k */
	bool feature;
	bool signal;
};

static const struct reader_case reader_cases[] = {
	/* The producer supports no flow control: never. */
	{ 15, 300, 1, false, false },
	{ 15, 300, 15, false, false },
	/* It asks for nothing. */
	{ 15, 0, 1, true, false },
	{ 15, 0, 15, true, false },
	/* There was enough room before this commit: it is not waiting on us. */
	{ 15, 248, 1, true, false },
	{ 10, 1000, 5, true, false },
	/* Not enough room after: waking it would be false hope. */
	{ 15, 512, 1, true, false },
	{ 15, 600, 1, true, false },
	{ 15, 3000, 10, true, false },
	/* Crossed in this commit. */
	{ 15, 256, 1, true, true },
	{ 15, 504, 1, true, true },
	{ 15, 512, 2, true, true },
	{ 15, 3000, 15, true, true },
	{ 12, 1024, 1, true, true },
	{ 15, 4088, 15, true, true },
};

START_TEST(reader_pending_send_sz)
{
	const struct reader_case *c = &reader_cases[_i / 2];
	struct pair p;

	pair_init(&p, _i % 2 ? DATA - 8 * 37 : 0);
	ck_assert_msg(reader_signals(&p, c->n, c->pending, c->k, c->feature) == c->signal,
		      "case %d: n %u pending %u k %u", _i / 2, c->n, c->pending, c->k);
	pair_fini(&p);
}
END_TEST

/* A batch released in two commits signals on the one that crosses. */
START_TEST(reader_two_commits)
{
	uint8_t payload[P256] = { 0 }, buf[512];
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct pair p;
	uint32_t needed;
	bool sig;
	int i;

	pair_init(&p, 1024);
	for (i = 0; i < 15; i++)
		ck_assert_int_eq(rt_send(p.prod, i, payload, P256, NULL), 0);
	hv_ring_set_pending_send_size(p.prod, 1000);
	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	sig = true;
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 512);
	ck_assert(!sig);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 256);
	ck_assert(sig);
	/* Past the threshold: no more. */
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 256);
	ck_assert(!sig);
	/* The copying receive applies the same rule per packet. */
	hv_ring_set_pending_send_size(p.prod, 1700);
	ck_assert_int_eq(hv_ring_recv(p.cons, buf, sizeof(buf), &pkt, &needed, &sig), 0);
	ck_assert(!sig);
	ck_assert_int_eq(hv_ring_recv(p.cons, buf, sizeof(buf), &pkt, &needed, &sig), 0);
	ck_assert(sig);
	ck_assert_int_eq(hv_ring_recv(p.cons, buf, sizeof(buf), &pkt, &needed, &sig), 0);
	ck_assert(!sig);
	/* Withdrawn: silence. */
	hv_ring_set_pending_send_size(p.prod, 0);
	ck_assert_uint_eq(rt_hdr_get(&p.rg, RT_PENDING_SEND_SZ), 0);
	ck_assert_int_eq(hv_ring_iter_begin(p.cons, &it), 0);
	while (hv_ring_iter_next(&it, &pkt) == 0)
		;
	hv_ring_iter_commit(&it, &sig);
	ck_assert(!sig);
	pair_fini(&p);
}
END_TEST

void rt_add_signal_tests(Suite *s)
{
	TCase *tc = tcase_create("signal");

	tcase_add_loop_test(tc, writer_empty_to_nonempty, 0, 2);
	tcase_add_loop_test(tc, writer_batch_publish, 0, 2);
	tcase_add_test(tc, writer_mp_signal);
	tcase_add_loop_test(tc, reader_pending_send_sz, 0, 2 * (int)RT_ARRAY_SIZE(reader_cases));
	tcase_add_test(tc, reader_two_commits);
	suite_add_tcase(s, tc);
}
