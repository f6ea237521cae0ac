/* SPDX-License-Identifier: ISC */
/*
 * The sim device node: a SOCK_SEQPACKET socket at ROOT/dev/uioN whose
 * peer plays the host (DESIGN.md, "The sim device"). Connecting is the
 * open() of /dev/uioN; one message then carries the maps as descriptors;
 * after it each message is a 4-byte value, an interrupt one way and a
 * write() the other. The host closing the socket is a rescind.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev.h"

/* How long a sim host may take to send its maps after the connect. */
#define SIM_HANDSHAKE_MS 5000
/* Room for more descriptors than a host may send, to catch one that lies. */
#define SIM_MAX_FDS 16

static void close_fds(const int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * One message of a 4-byte map count with that many descriptors, map 0
 * first. Whatever arrives is closed again unless it is exactly what
 * sysfs announced.
 */
static int sim_receive_maps(struct hv_dev *dev, int *fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SIM_MAX_FDS * sizeof(int))];
	} ctl;
	struct pollfd pfd = { .fd = dev->fd, .events = POLLIN };
	uint32_t count;
	struct iovec iov = { &count, sizeof(count) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	int got[SIM_MAX_FDS];
	unsigned int ngot = 0, i;
	ssize_t n;
	int err, r;

	do
		r = poll(&pfd, 1, SIM_HANDSHAKE_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	do
		n = recvmsg(dev->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Collect every descriptor first, so that every error path closes all. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t k, nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(fd));
			if (ngot < SIM_MAX_FDS)
				got[ngot++] = fd;
			else
				close(fd);
		}
	}

	err = -EBADMSG;
	/* No message at all (the host hung up) or one of the wrong shape. */
	if (n != sizeof(count) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		goto out;
	count = le32toh(count);
	if (count != dev->nmaps || count != ngot)
		goto out;
	for (i = 0; i < ngot; i++)
		fds[i] = got[i];
	return 0;
out:
	close_fds(got, ngot);
	return err;
}

static int sim_map(struct hv_dev *dev)
{
	int fds[HV_VMBUS_MAX_MAPS];
	unsigned int i;
	int err;

	err = sim_receive_maps(dev, fds);
	if (err)
		return err;
	for (i = 0; i < dev->nmaps; i++) {
		struct vmbus_dev_map *m = &dev->maps[i];
		struct stat st;
		void *p;

		if (fstat(fds[i], &st) < 0) {
			err = -errno;
			goto out;
		}
		/* A short file would turn an access into SIGBUS. */
		if (st.st_size < 0 || (uint64_t)st.st_size < m->size) {
			err = -EBADMSG;
			goto out;
		}
		p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (p == MAP_FAILED) {
			err = -errno;
			goto out;
		}
		m->addr = p;
		m->len = m->size;
	}
	err = 0;
out:
	close_fds(fds, dev->nmaps);
	return err;
}

static int sim_open(struct hv_dev *dev, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	dev->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (dev->fd < 0)
		return -errno;
	do
		r = connect(dev->fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : sim_map(dev);
}

static int sim_read_event(struct hv_dev *dev, uint32_t *value)
{
	uint32_t v;
	ssize_t n;

	do
		n = recv(dev->fd, &v, sizeof(v), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == ECONNRESET)
			return -ENODEV;
		return -errno;
	}
	/* 0 bytes: the host closed the socket, which is the rescind. */
	if (n == 0)
		return -ENODEV;
	/* Another size is still an interrupt (look at the rings), without a count. */
	if (n != sizeof(v))
		return 1;
	*value = le32toh(v);
	return 0;
}

static int sim_write(struct hv_dev *dev, uint32_t value)
{
	const uint32_t v = htole32(value);
	ssize_t n;

	do
		n = send(dev->fd, &v, sizeof(v), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n == sizeof(v))
		return 0;
	if (n >= 0)
		return -EIO;
	/*
	 * A full socket: the host has writes from us it has not read yet
	 * and looks at the rings for each, so one more adds nothing.
	 */
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
		return -ENODEV;
	return -errno;
}

const struct vmbus_dev_ops vmbus_dev_sim_ops = {
	.open = sim_open,
	.read_event = sim_read_event,
	.write = sim_write,
};
