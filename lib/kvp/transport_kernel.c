/* SPDX-License-Identifier: ISC */
/*
 * The KVP service through Linux's hv_utils: /dev/vmbus/hv_kvp, or a
 * SOCK_SEQPACKET socket at that path that plays the kernel's side.
 *
 * Facts from Linux's tools/hv/
 * hv_kvp_daemon.c, drivers/hv/hv_kvp.c, drivers/hv/hv_utils_transport.c):
 *  - the daemon opens the device O_RDWR and writes a whole struct
 *    hv_kvp_msg with operation HV_KVP_OP_REGISTER1; the kernel answers with a
 *    message of the same operation carrying its version string ("3.1"),
 *    which the daemon reports as IntegrationServicesVersion;
 *  - then each read() is one whole message and each answer is the same
 *    message written back whole, the status in its first four bytes;
 *  - a read or a write that does not move exactly sizeof(struct
 *    hv_kvp_msg) bytes makes Linux's daemon close the device, open it
 *    again and register again (reopen_kvp_fd): here that is -ENODEV to
 *    the caller, who does the same. A short read is such a read: it is
 *    not answered;
 *  - the device's read() blocks whatever O_NONBLOCK says (hvt_op_read
 *    waits for a message), so it is read only after poll() said so
 *    (hv_ic_kdev_read).
 *
 * A whole message that the codec refuses is answered as Linux's daemon
 * answers the operation's failure: HV_IC_S_CONT for GET, SET, DELETE and
 * ENUMERATE (kvp_key_add_or_modify and the others fail that way on sizes
 * they refuse), HV_IC_E_FAIL for the IP-info operations, and
 * HV_IC_ERROR_NOT_SUPPORTED for an unknown operation (handler.c, difference
 * 2). A pool above 4 is answered HV_IC_S_CONT too, where Linux's daemon would
 * index past its pool array (handler.c, difference 3).
 *
 * The one packet buffer is one struct hv_kvp_msg: the kernel sends
 * nothing else and never more (hvt_op_read refuses a smaller buffer, and
 * the message is a fixed-size union of every body).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvuio/ic.h"
#include "hvuio/kvp_msg.h"
#include "hvuio/kvp_service.h"
#include "lib/common/compiler.h"
#include "transport.h"

/*
 * What Linux's daemon reads and writes and its kernel checks (hvt_op_read,
 * kvp_on_msg): exactly sizeof(struct hv_kvp_msg).
 */
#define KVP_KMSG_LEN HV_KVP_KMSG_SIZE

/* How long the kernel may take to answer REGISTER1 (Linux answers at once). */
#define KVP_KERNEL_REGISTER_TIMEOUT_MS 5000

/* Read one message, waiting up to timeout_ms (0: only if one is there). */
static int kernel_read(struct hv_kvp_transport *t, int timeout_ms, size_t *len)
{
	return hv_ic_kdev_read(t->fd, t->buf, t->buf_size, (int64_t)timeout_ms * 1000, len);
}

static int kernel_write(struct hv_kvp_transport *t)
{
	return hv_ic_kdev_write(t->fd, t->buf, KVP_KMSG_LEN);
}

/* Linux's kernel sends "3.1"; a longer one is cut at a character. */
static void kernel_version_take(struct hv_kvp_transport *t)
{
	size_t n = t->req.value_len, max = sizeof(t->status.kernel_version) - 1;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)t->req.value[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(t->status.kernel_version, t->req.value, n);
	t->status.kernel_version[n] = '\0';
}

static int kernel_register(struct hv_kvp_transport *t)
{
	size_t len;
	int err;

	memset(t->buf, 0, t->buf_size);
	err = hv_kvp_kmsg_register_build(t->buf, t->buf_size);
	if (err)
		return err;
	if (kernel_write(t) < 0)
		return -EPROTO;
	err = kernel_read(t, KVP_KERNEL_REGISTER_TIMEOUT_MS, &len);
	if (err == -EAGAIN)
		return -ETIMEDOUT;
	if (err)
		return -EPROTO;
	if (len != KVP_KMSG_LEN || t->buf[0] != HV_KVP_OP_REGISTER1 ||
	    hv_kvp_kmsg_decode(t->buf, len, &t->req) < 0)
		return -EPROTO;
	kernel_version_take(t);
	return 0;
}

HV_EXPORT int hv_kvp_transport_open_kernel(const char *path, struct hv_kvp_transport **ret)
{
	struct hv_kvp_transport *t = NULL;
	int err;

	if (!path || !ret)
		return -EINVAL;
	*ret = NULL;
	err = kvp_transport_alloc(&kvp_transport_kernel_ops, KVP_KMSG_LEN, &t);
	if (err)
		return err;
	t->status.kind = "kernel";
	err = hv_ic_kdev_open(path, &t->fd);
	if (err)
		goto out;
	err = kernel_register(t);
	if (err)
		goto out;
	*ret = t;
	t = NULL;
out:
	hv_kvp_transport_close(t);
	return err;
}

static void kernel_close(struct hv_kvp_transport *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static int kernel_fd(const struct hv_kvp_transport *t)
{
	return t->fd;
}

/* What Linux's daemon answers when the operation fails. */
static uint32_t kernel_failure(uint8_t op)
{
	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
	case HV_KVP_OP_DELETE:
	case HV_KVP_OP_ENUMERATE:
		return HV_IC_S_CONT;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		return HV_IC_E_FAIL;
	}
	return HV_IC_ERROR_NOT_SUPPORTED;
}

static int kernel_process(struct hv_kvp_transport *t, struct hv_kvp_handler *handler,
			  hv_kvp_observer_fn *observer, void *ctx)
{
	uint32_t status;
	size_t len;
	uint8_t op;
	int err;

	if (t->status.kernel_version[0])
		kvp_handler_ic_version_set(handler, t->status.kernel_version);
	for (;;) {
		err = kernel_read(t, 0, &len);
		if (err == -EAGAIN)
			return 0;
		if (err)
			return -ENODEV;
		if (len != KVP_KMSG_LEN) {
			kvp_transport_tell(observer, ctx, -EBADMSG, false, 0, NULL);
			return -ENODEV;
		}
		op = t->buf[0];
		err = hv_kvp_kmsg_decode(t->buf, len, &t->req);
		if (err == 0 && op == HV_KVP_OP_REGISTER1) {
			/* The kernel registering again: take its version, as in the handshake. */
			kernel_version_take(t);
			kvp_handler_ic_version_set(handler, t->status.kernel_version);
			continue;
		}
		if (err) {
			status = err == -EOPNOTSUPP ? HV_IC_ERROR_NOT_SUPPORTED : kernel_failure(op);
			hv_kvp_kmsg_reply_set(t->buf, len, status, NULL);
		} else {
			status = kvp_transport_run(t, handler);
			if (hv_kvp_kmsg_reply_set(t->buf, len, status, &t->reply) < 0) {
				status = kernel_failure(op);
				hv_kvp_kmsg_reply_set(t->buf, len, status, NULL);
			}
		}
		t->status.requests++;
		if (kernel_write(t) < 0) {
			kvp_transport_tell(observer, ctx, -EIO, false, status, NULL);
			return -ENODEV;
		}
		kvp_transport_tell(observer, ctx, err, true, status, &t->req);
	}
}

const struct kvp_transport_ops kvp_transport_kernel_ops = {
	.process = kernel_process,
	.close = kernel_close,
	.fd = kernel_fd,
};
