/* SPDX-License-Identifier: ISC */
/*
 * hv_ic_kdev_*: a service through Linux's hv_utils device, with a
 * SOCK_SEQPACKET socket playing the kernel's side (one message a read,
 * one answer a write, as drivers/hv/hv_utils_transport.c has them), and
 * /dev/null as a device whose read() gives nothing.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <hvuio/ic.h>

/* A SOCK_SEQPACKET socket in a fresh folder, playing the kernel's side. */
struct kdev_peer {
	char dir[64];
	char path[96];
	int listen_fd;
};

static void kdev_peer_make(struct kdev_peer *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(p->dir, sizeof(p->dir), "/tmp/hvuio-kdev-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/hv_kvp", p->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	p->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(p->listen_fd, 0);
	ck_assert_int_eq(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(p->listen_fd, 1), 0);
}

static void kdev_peer_free(struct kdev_peer *p)
{
	close(p->listen_fd);
	unlink(p->path);
	rmdir(p->dir);
}

START_TEST(kdev_messages)
{
	static const uint8_t first[] = { 1, 0, 0, 0 }, second[] = "a longer second message";
	struct kdev_peer p;
	uint8_t buf[64], answer[4] = { 0xaa, 0xbb, 0xcc, 0xdd };
	size_t len = 0;
	int fd = -1, k;

	kdev_peer_make(&p);
	ck_assert_int_eq(hv_ic_kdev_open(p.path, &fd), 0);
	k = accept4(p.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(k, 0);
	/* Nothing sent yet: no wait, then a bounded one. */
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 0, &len), -EAGAIN);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 20000, &len), -EAGAIN);
	/* Two messages are two reads, each whole. */
	ck_assert_int_eq(send(k, first, sizeof(first), 0), (ssize_t)sizeof(first));
	ck_assert_int_eq(send(k, second, sizeof(second), 0), (ssize_t)sizeof(second));
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 1000000, &len), 0);
	ck_assert_uint_eq(len, sizeof(first));
	ck_assert_mem_eq(buf, first, sizeof(first));
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 0, &len), 0);
	ck_assert_uint_eq(len, sizeof(second));
	ck_assert_mem_eq(buf, second, sizeof(second));
	/* An answer is one message to the kernel. */
	ck_assert_int_eq(hv_ic_kdev_write(fd, answer, sizeof(answer)), 0);
	ck_assert_int_eq(recv(k, buf, sizeof(buf), 0), (ssize_t)sizeof(answer));
	ck_assert_mem_eq(buf, answer, sizeof(answer));
	/* The kernel's side gone: the device failed, both ways. */
	close(k);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 1000000, &len), -ENODEV);
	ck_assert_int_eq(hv_ic_kdev_write(fd, answer, sizeof(answer)), -ENODEV);
	close(fd);
	kdev_peer_free(&p);
}
END_TEST

START_TEST(kdev_errors)
{
	uint8_t buf[8];
	size_t len;
	int fd = -1;

	ck_assert_int_eq(hv_ic_kdev_open("/nonexistent/hv_kvp", &fd), -ENOENT);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(hv_ic_kdev_open(NULL, &fd), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_open("/dev/null", NULL), -EINVAL);
	/* A device whose read() gives nothing has failed, as the kernel's does when closed. */
	ck_assert_int_eq(hv_ic_kdev_open("/dev/null", &fd), 0);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 0, &len), -ENODEV);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), -1, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_read(fd, NULL, sizeof(buf), 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_read(-1, buf, sizeof(buf), 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_write(-1, buf, sizeof(buf)), -EINVAL);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ic-kdev");
	TCase *tc = tcase_create("kdev");
	SRunner *sr;
	int failed;

	/* kdev_messages writes to a socket whose peer closed. */
	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(tc, kdev_messages);
	tcase_add_test(tc, kdev_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
