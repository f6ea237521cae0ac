/* SPDX-License-Identifier: ISC */
/*
 * The ring suite: wire layout, consumer, signalling and hostile-peer
 * cases. The concurrent cases are in test-ring-mt.c.
 */
#include <stdlib.h>

#include "ring-test.h"

int main(void)
{
	Suite *s = suite_create("ring");
	SRunner *sr;
	int failed;

	rt_add_layout_tests(s);
	rt_add_consumer_tests(s);
	rt_add_signal_tests(s);
	rt_add_hostile_tests(s);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
