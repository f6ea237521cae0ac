#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <hvuio/ring.h>

START_TEST(smoke)
{
	size_t size = 4096 + 4096;
	void *region = aligned_alloc(4096, size);
	struct hv_ring *ring;
	struct hv_ring_pkt_info info = { .type = VM_PKT_DATA_INBAND, .trans_id = 7 };
	struct iovec iov = { (void *)"hello", 5 };
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	bool sig;

	memset(region, 0, size);
	ck_assert_int_eq(hv_ring_new(region, size, 4096, 0, &ring), 0);
	hv_ring_reset(ring);
	ck_assert_int_eq(hv_ring_send(ring, &info, &iov, 1, &sig), 0);
	ck_assert(sig);
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), 0);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), 0);
	ck_assert_uint_eq(pkt.trans_id, 7);
	ck_assert_uint_eq(pkt.len, 24);
	ck_assert_mem_eq(hv_ring_pkt_payload(&pkt), "hello", 5);
	ck_assert_int_eq(hv_ring_iter_next(&it, &pkt), -EAGAIN);
	ck_assert_uint_eq(hv_ring_iter_commit(&it, &sig), 32);
	hv_ring_free(ring);
	free(region);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("smoke");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, smoke);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
