/* SPDX-License-Identifier: ISC */
/*
 * The fcopy service through Linux's hv_utils (Linux 6.9 and earlier):
 * /dev/vmbus/hv_fcopy, or a SOCK_SEQPACKET socket at that path that
 * plays the kernel's side.
 *
 * Facts from Linux's drivers/hv/hv_fcopy.c and tools/hv/hv_fcopy_daemon.c:
 *  - the daemon registers by writing one 32-bit version, 1
 *    (FCOPY_CURRENT_VERSION); the kernel answers version 1 with its own
 *    (fcopy_handle_handshake);
 *  - then each read() is one message: a START of 1088 bytes with both
 *    names already UTF-8, a WRITE of 6196, anything else as long as the
 *    host's packet;
 *  - the answer is one 32-bit status; the kernel takes nothing else
 *    (fcopy_on_msg refuses other lengths) and answers the host
 *    HV_E_FAIL itself if none comes within 30 s (HV_UTIL_TIMEOUT);
 *  - Linux's daemon reopens the device after a failed read or write (its
 *    reopen_fcopy_fd label): here that is -ENODEV to the caller, who does
 *    the same.
 * The device's read() blocks whatever O_NONBLOCK says, so it is read only
 * after poll() said so.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hvfcopyd.h"
#include "daemons/hvkvpd/log.h"

/* Larger than any message the kernel sends (a WRITE, 6196 bytes). */
#define KBUF_SIZE 8192
/* How long the kernel may take to answer the registration (Linux: at once). */
#define REGISTER_TIMEOUT_MS 5000

static int kernel_connect(const char *path)
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
	return fd;
}

/* One message, waiting up to timeout_us; -EAGAIN if none, -ENODEV if the device failed. */
static int kernel_read(struct hvfcopyd *d, int64_t timeout_us, size_t *len)
{
	struct pollfd pfd = { .fd = d->kfd, .events = POLLIN };
	struct timespec ts = { .tv_sec = timeout_us / 1000000,
			       .tv_nsec = (timeout_us % 1000000) * 1000 };
	ssize_t n;
	int r;

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
		n = read(d->kfd, d->buf, d->buf_size);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -ENODEV;
	*len = (size_t)n;
	return 0;
}

static int kernel_write(struct hvfcopyd *d, uint32_t v)
{
	ssize_t n;

	do
		n = write(d->kfd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(v) ? 0 : -ENODEV;
}

int fc_kernel_open(struct hvfcopyd *d)
{
	struct stat st;
	uint32_t version;
	size_t len;
	int err;

	if (!d->buf) {
		d->buf_size = KBUF_SIZE;
		d->buf = malloc(d->buf_size);
		if (!d->buf)
			return -ENOMEM;
	}
	if (stat(d->kernel_device, &st) < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode)) {
		d->kfd = kernel_connect(d->kernel_device);
		if (d->kfd < 0)
			return d->kfd;
	} else {
		d->kfd = open(d->kernel_device, O_RDWR | O_CLOEXEC);
		if (d->kfd < 0)
			return -errno;
	}
	err = kernel_write(d, HV_FCOPY_KERNEL_VERSION) < 0 ? -EPROTO : 0;
	if (!err) {
		err = kernel_read(d, REGISTER_TIMEOUT_MS * 1000ll, &len);
		if (err == -EAGAIN)
			err = -ETIMEDOUT;
		else if (err || len != sizeof(version))
			err = -EPROTO;
	}
	if (err) {
		fc_kernel_close(d);
		return err;
	}
	memcpy(&version, d->buf, sizeof(version));
	log_info("%s: registered, kernel fcopy version %u", d->kernel_device, version);
	return 0;
}

void fc_kernel_close(struct hvfcopyd *d)
{
	if (d->kfd >= 0)
		close(d->kfd);
	d->kfd = -1;
}

int fc_kernel_serve(struct hvfcopyd *d)
{
	struct hv_fcopy_request req;
	uint32_t status;
	size_t len;
	int err;

	for (bool answered = false; ; answered = true) {
		/*
		 * After an answer the host's next message comes at once: wait a
		 * little (--linger-us) rather than go back to the main poll.
		 */
		err = kernel_read(d, answered ? d->linger_us : 0, &len);
		if (err == -EAGAIN)
			return 0;
		if (err)
			return -ENODEV;
		d->messages++;
		err = hv_fcopy_msg_parse(d->buf, len, HV_FCOPY_LAYOUT_KERNEL, &req);
		status = err ? fc_copy_refuse(d, &req, err) : fc_copy_handle(d, &req);
		if (kernel_write(d, status) < 0) {
			log_warn("%s: the answer was not taken", d->kernel_device);
			return -ENODEV;
		}
	}
}
