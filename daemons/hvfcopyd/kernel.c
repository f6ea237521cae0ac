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
 * Reading and writing the device is hv_ic_kdev_read and hv_ic_kdev_write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hvuio/ic.h>

#include "hvfcopyd.h"
#include "daemons/hvkvpd/log.h"

/* Larger than any message the kernel sends (a WRITE, 6196 bytes). */
#define KBUF_SIZE 8192
/* How long the kernel may take to answer the registration (Linux: at once). */
#define REGISTER_TIMEOUT_MS 5000

/* One message, waiting up to timeout_us; -EAGAIN if none, -ENODEV if the device failed. */
static int kernel_read(struct hvfcopyd *d, int64_t timeout_us, size_t *len)
{
	return hv_ic_kdev_read(d->kfd, d->buf, d->buf_size, timeout_us, len);
}

static int kernel_write(struct hvfcopyd *d, uint32_t v)
{
	return hv_ic_kdev_write(d->kfd, &v, sizeof(v));
}

int fc_kernel_open(struct hvfcopyd *d)
{
	uint32_t version;
	size_t len;
	int err;

	if (!d->buf) {
		d->buf_size = KBUF_SIZE;
		d->buf = malloc(d->buf_size);
		if (!d->buf)
			return -ENOMEM;
	}
	err = hv_ic_kdev_open(d->kernel_device, &d->kfd);
	if (err)
		return err;
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
