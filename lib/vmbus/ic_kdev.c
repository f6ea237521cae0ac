/* SPDX-License-Identifier: ISC */
/*
 * Linux's hv_utils devices for a service in user space:
 * /dev/vmbus/hv_kvp and /dev/vmbus/hv_fcopy (drivers/hv/
 * hv_utils_transport.c). Each read() is one whole message from the
 * kernel and each write() one whole answer; the kernel refuses any other
 * length. read() blocks whatever O_NONBLOCK says (hvt_op_read waits for
 * a message), so a message is read only after poll() said there is one,
 * and poll() says EPOLLERR | EPOLLHUP once the device is gone. A
 * SOCK_SEQPACKET socket at the path plays the kernel's side in tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hvuio/ic.h"
#include "lib/common/compiler.h"

static int kdev_connect(const char *path, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*ret = fd;
	return 0;
}

HV_EXPORT int hv_ic_kdev_open(const char *path, int *ret)
{
	struct stat st;
	int fd;

	if (!path || !ret)
		return -EINVAL;
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode))
		return kdev_connect(path, ret);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret = fd;
	return 0;
}

HV_EXPORT int hv_ic_kdev_read(int fd, void *buf, size_t size, int64_t timeout_us, size_t *len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec ts;
	ssize_t n;
	int r;

	if (fd < 0 || !buf || !len || timeout_us < 0)
		return -EINVAL;
	ts.tv_sec = (time_t)(timeout_us / 1000000);
	ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
	do
		r = ppoll(&pfd, 1, &ts, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EAGAIN;
	if (!(pfd.revents & POLLIN))
		return -ENODEV;
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -ENODEV;
	*len = (size_t)n;
	return 0;
}

HV_EXPORT int hv_ic_kdev_write(int fd, const void *buf, size_t len)
{
	ssize_t n;

	if (fd < 0 || !buf)
		return -EINVAL;
	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n >= 0 && (size_t)n == len ? 0 : -ENODEV;
}
