/* SPDX-License-Identifier: ISC */
/*
 * Which errors of /dev/uioN are a rescind: each generation of
 * drivers/uio/uio.c and uio_hv_generic says it its own way, and every
 * one must end in -ENODEV, while an error that can mean anything else
 * must not (lib/vmbus/dev_uio.c).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "lib/vmbus/dev.h"

START_TEST(gone_errnos)
{
	/* hv_uio_rescind cleared info->irq: read, write and poll give EIO. */
	ck_assert(vmbus_dev_uio_errno_gone(EIO));
	/* uio_unregister_device left info NULL: a 4-byte write gives EINVAL. */
	ck_assert(vmbus_dev_uio_errno_gone(EINVAL));
	/* The character device of a removed uio device. */
	ck_assert(vmbus_dev_uio_errno_gone(ENODEV));
	ck_assert(vmbus_dev_uio_errno_gone(ENXIO));
	/* Nothing pending, a signal, a bad buffer: the device is still there. */
	ck_assert(!vmbus_dev_uio_errno_gone(EAGAIN));
	ck_assert(!vmbus_dev_uio_errno_gone(EINTR));
	ck_assert(!vmbus_dev_uio_errno_gone(EFAULT));
	ck_assert(!vmbus_dev_uio_errno_gone(ENOMEM));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("devnode");
	TCase *tc = tcase_create("uio");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, gone_errnos);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
