/* SPDX-License-Identifier: ISC */
/*
 * The kernel's side of /dev/vmbus/hv_kvp, played over a SOCK_SEQPACKET
 * socket (one message per read, as drivers/hv/hv_utils_transport.c gives
 * them) for hvkvpd --backend kernel and for Linux's hv_kvp_daemon behind
 * tests/hvkvpd/kdev-shim.c. Like drivers/hv/hv_kvp.c: the daemon's
 * REGISTER1 is answered with the driver's version, then one struct
 * hv_kvp_msg at a time.
 *
 * struct hv_kvp_msg (Linux's include/uapi/linux/hyperv.h): operation and
 * pool bytes, 2 bytes of padding, then the body: for SET and GET a
 * hv_kvp_exchg_msg_value (value_type, key_size, value_size, key[512],
 * value[2048]; UTF-8, sizes counting the NUL); DELETE key_size and key;
 * ENUMERATE the index, then a hv_kvp_exchg_msg_value the daemon fills.
 * The kernel reads a GET's answer through the ENUMERATE layout (4 bytes
 * further on), and so do we.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-kvp.h"

#define KMSG_BODY      4
#define EXCHG_KEY      (KMSG_BODY + 12)
#define EXCHG_VALUE    (EXCHG_KEY + HV_KVP_KEY_MAX_SIZE)
#define ENUM_VALUE     (EXCHG_VALUE + 4)

void bk_kdev_listen(struct bk_kdev *k, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(k, 0, sizeof(*k));
	k->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		bk_die("%s: too long for a socket", path);
	strcpy(k->path, path);
	strcpy(sa.sun_path, path);
	k->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (k->listen_fd < 0)
		bk_die("socket: %s", strerror(errno));
	unlink(path);
	if (bind(k->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(k->listen_fd, 4) < 0)
		bk_die("%s: %s", path, strerror(errno));
}

/* About 100 us of looking before sleeping. */
#define KERNEL_SPINS 200

static int wait_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);

	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

int bk_kdev_accept(struct bk_kdev *k, int timeout_ms)
{
	ssize_t n;
	int err;

	err = wait_in(k->listen_fd, timeout_ms);
	if (err < 0)
		return err;
	k->fd = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	err = wait_in(k->fd, timeout_ms);
	if (err < 0)
		return err;
	n = recv(k->fd, k->msg, sizeof(k->msg), 0);
	if (n != HV_KVP_KMSG_SIZE || k->msg[0] != HV_KVP_OP_REGISTER1)
		return -EPROTO;
	/* kvp_register(): REGISTER1 back, HV_DRV_VERSION in the body. */
	memset(k->msg, 0, HV_KVP_KMSG_SIZE);
	k->msg[0] = HV_KVP_OP_REGISTER1;
	memcpy(k->msg + KMSG_BODY, "3.1", 4);
	if (send(k->fd, k->msg, HV_KVP_KMSG_SIZE, MSG_NOSIGNAL) != HV_KVP_KMSG_SIZE)
		return -errno;
	return 0;
}

void bk_kdev_close(struct bk_kdev *k)
{
	if (k->fd >= 0)
		close(k->fd);
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	unlink(k->path);
	k->fd = k->listen_fd = -1;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int bk_kdev_request_fn(void *ctx, uint8_t op, const char *key, const char *value,
		       uint32_t index, uint32_t *status, char *value_out, size_t value_size)
{
	struct bk_kdev *k = ctx;
	uint8_t *m = k->msg;
	size_t kl = key ? strlen(key) : 0, vl = value ? strlen(value) : 0;
	ssize_t n;
	int err;

	if (kl >= HV_KVP_KEY_MAX_SIZE || vl >= HV_KVP_VALUE_MAX_SIZE)
		return -EINVAL;
	memset(m, 0, HV_KVP_KMSG_SIZE);
	m[0] = op;
	m[1] = HV_KVP_POOL_EXTERNAL;
	switch (op) {
	case HV_KVP_OP_SET:
	case HV_KVP_OP_GET:
		/* kvp_send_key(): UTF-8, sizes with the NUL; a GET has no value. */
		put32(m + KMSG_BODY, HV_KVP_REG_SZ);
		put32(m + KMSG_BODY + 4, (uint32_t)kl + 1);
		put32(m + KMSG_BODY + 8, op == HV_KVP_OP_SET ? (uint32_t)vl + 1 : 0);
		memcpy(m + EXCHG_KEY, key, kl);
		if (op == HV_KVP_OP_SET)
			memcpy(m + EXCHG_VALUE, value, vl);
		break;
	case HV_KVP_OP_DELETE:
		put32(m + KMSG_BODY, (uint32_t)kl + 1);
		memcpy(m + KMSG_BODY + 4, key, kl);
		break;
	case HV_KVP_OP_ENUMERATE:
		put32(m + KMSG_BODY, index);
		break;
	default:
		return -EINVAL;
	}
	if (send(k->fd, m, HV_KVP_KMSG_SIZE, MSG_NOSIGNAL) != HV_KVP_KMSG_SIZE)
		return -errno;
	/*
	 * Linux's kernel is no process that sleeps between a request and its
	 * answer: the daemon's write() runs the reply path in the daemon's own
	 * system call. So look for the answer without sleeping, for both
	 * daemons alike, and measure the daemons rather than the wake-up of
	 * an idle vCPU; after a while (Linux's daemon rewriting a large pool
	 * file) sleep instead.
	 */
	n = -1;
	for (int spins = 0; spins < KERNEL_SPINS; spins++) {
		n = recv(k->fd, m, sizeof(k->msg), MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN)
			break;
	}
	if (n < 0 && errno == EAGAIN) {
		err = wait_in(k->fd, 30000);
		if (err < 0)
			return err;
		n = recv(k->fd, m, sizeof(k->msg), 0);
	}
	if (n < 0)
		return -errno;
	if (n != HV_KVP_KMSG_SIZE)
		return n == 0 ? -ECONNRESET : -EPROTO;
	*status = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
		  (uint32_t)m[3] << 24;
	if (value_out && value_size) {
		const char *v = (const char *)m + ENUM_VALUE;
		size_t len = 0;

		if (*status == HV_IC_S_OK && (op == HV_KVP_OP_GET || op == HV_KVP_OP_ENUMERATE))
			len = strnlen(v, HV_KVP_VALUE_MAX_SIZE);
		if (len >= value_size)
			len = value_size - 1;
		memcpy(value_out, v, len);
		value_out[len] = '\0';
	}
	return 0;
}
