/* SPDX-License-Identifier: ISC */
/*
 * The device node and the channel as the host sees them.
 *
 * ROOT/dev/uioN is a listening SOCK_SEQPACKET socket. A guest connecting
 * is the first open() of /dev/uioN: the host opens the channel, which
 * resets both rings (Linux's hv_ringbuffer_init on every open) and, as
 * uio_hv_generic did before the CVE-2025-40048 fix, leaves the
 * host-to-guest ring's interrupt_mask at 1. Then one message carries the
 * maps; after it every message is a 4-byte little-endian value: ours are
 * interrupts (the cumulative count read() returns), the guest's are its
 * write()s, 1 to unmask and signal, 0 to mask.
 *
 * Like the real host we look at the guest-to-host ring only after the
 * guest signalled and keep reading until it is empty: a guest that does
 * not signal when lib/ring says so is never answered. We interrupt the
 * guest only when lib/ring says so, and a full host-to-guest ring makes
 * us set pending_send_sz and wait for the guest's signal.
 *
 * Only one guest at a time: uio_hv_generic opens the channel on the first
 * open only, so a second opener while one holds the device would share a
 * channel that the host already considers in use. The sim refuses it as
 * an exclusive open would: it accepts the connection and closes it at
 * once without the map message, which the guest sees as EBUSY.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hvsim.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dev_log(const struct sim_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void sim_vlog(const char *fmt, va_list ap)
{
	fputs("hvsim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void dev_log(const struct sim_dev *d, const char *fmt, ...)
{
	va_list ap;

	if (d->verbose < 2)
		return;
	va_start(ap, fmt);
	sim_vlog(fmt, ap);
	va_end(ap);
}

/*
 * The device node appears only once it accepts connections: bound and
 * listening under a temporary name, then renamed into place. A guest that
 * sees the node between a bind and a listen would be refused, which a
 * real /dev/uioN never does.
 */
int sim_dev_listen(struct sim_dev *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, n, err;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.new", d->sr->node);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
	    rename(sa.sun_path, d->sr->node) < 0) {
		err = -errno;
		unlink(sa.sun_path);
		close(fd);
		return err;
	}
	d->listen_fd = fd;
	return 0;
}

void sim_dev_unlisten(struct sim_dev *d)
{
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	d->listen_fd = -1;
}

static void dev_free_rings(struct sim_dev *d)
{
	hv_ring_free(d->tx);
	hv_ring_free(d->rx);
	d->tx = d->rx = NULL;
}

void sim_dev_disconnect(struct sim_dev *d)
{
	if (d->conn_fd >= 0) {
		close(d->conn_fd);
		d->conn_fd = -1;
		sim_root_set_state(d->sr, 0);
	}
	dev_free_rings(d);
	d->negotiated = false;
	d->rx_signalled = false;
}

static int dev_send_maps(struct sim_dev *d)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SIM_NMAPS)];
		struct cmsghdr align;
	} u;
	uint32_t count = SIM_NMAPS;
	struct iovec iov = { &count, sizeof(count) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * SIM_NMAPS);
	memcpy(CMSG_DATA(c), d->sr->map_fd, sizeof(int) * SIM_NMAPS);
	if (sendmsg(d->conn_fd, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(count))
		return -errno;
	return 0;
}

/* Open the channel for a guest that just connected on fd. */
static int dev_open_channel(struct sim_dev *d, int fd)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t half = d->sr->map_size[0] / 2;
	uint8_t *base = d->sr->rings;
	int err;

	dev_free_rings(d);
	/*
	 * A fresh channel whatever the last one left (a hostile run may have
	 * left impossible indices): the headers start zeroed, as the host
	 * initialises them, before lib/ring looks at them.
	 */
	memset(base, 0, page);
	memset(base + half, 0, page);
	/* Map 0 is the guest's view: guest-to-host ring first. */
	err = hv_ring_new(base, half, page, SIM_MAX_MSG * 2, &d->rx);
	if (err < 0)
		return err;
	err = hv_ring_new(base + half, half, page, SIM_MAX_MSG * 2, &d->tx);
	if (err < 0) {
		dev_free_rings(d);
		return err;
	}
	hv_ring_reset(d->rx);
	hv_ring_reset(d->tx);
	hv_ring_intr_mask(d->tx);
	d->conn_fd = fd;
	d->rx_signalled = false;
	d->negotiated = false;
	err = dev_send_maps(d);
	if (err < 0) {
		sim_dev_disconnect(d);
		return err;
	}
	sim_root_set_state(d->sr, 3);
	dev_log(d, "guest connected to %s: channel open", d->sr->node);
	return 0;
}

/* A guest connects: open the channel, or refuse it when one is there. */
static int dev_on_listen(struct sim_dev *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int err;

	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (d->conn_fd >= 0) {
		d->refused++;
		dev_log(d, "refused a second guest: the device is open");
		close(fd);
		return 0;
	}
	err = dev_open_channel(d, fd);
	if (err < 0) {
		close(fd);
		return err;
	}
	if (d->on_connect)
		return d->on_connect(d, d->on_connect_arg);
	return 0;
}

int sim_dev_interrupt(struct sim_dev *d)
{
	uint32_t v;
	ssize_t n;

	if (d->conn_fd < 0)
		return -ECONNRESET;
	v = ++d->intr_count;
	d->interrupts_sent++;
	n = send(d->conn_fd, &v, sizeof(v), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(v))
		return 0;
	/*
	 * A full socket means the guest has unread interrupts: it will wake
	 * anyway and read() gives the latest count, so nothing is lost.
	 */
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return -ECONNRESET;
}

/* Read every pending write() of the guest. */
static int dev_on_guest(struct sim_dev *d)
{
	for (;;) {
		uint8_t buf[16];
		ssize_t n = recv(d->conn_fd, buf, sizeof(buf), MSG_DONTWAIT);
		int32_t v;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			n = 0;
		}
		if (n == 0) {
			d->guest_closes++;
			dev_log(d, "guest closed the device");
			sim_dev_disconnect(d);
			return -ECONNRESET;
		}
		/* write() of another size fails in the guest; the host never sees it. */
		if (n != 4)
			continue;
		memcpy(&v, buf, 4);
		/*
		 * hv_uio_irqcontrol: interrupt_mask = !value, and a non-zero
		 * value signals the host for a channel without a monitor page.
		 */
		if (v) {
			hv_ring_intr_unmask(d->tx);
			d->rx_signalled = true;
			d->tx_signalled = true;
			d->guest_signals++;
		} else {
			hv_ring_intr_mask(d->tx);
			d->guest_masks++;
		}
	}
}

/*
 * Wait up to ms (-1: for ever, 0: no wait) for something on the sockets
 * and serve it. Returns 0, -ECONNRESET when the guest went away, or an
 * error of the listening socket.
 */
static int dev_poll(struct sim_dev *d, int ms)
{
	struct pollfd p[2];
	int n = 0, err = 0, r;

	/*
	 * The guest's socket first: a guest that closes and opens again at
	 * once must find the channel closed, as the last close() of
	 * /dev/uioN closes it before open() can return.
	 */
	if (d->conn_fd >= 0) {
		p[n].fd = d->conn_fd;
		p[n++].events = POLLIN;
	}
	if (d->listen_fd >= 0) {
		p[n].fd = d->listen_fd;
		p[n++].events = POLLIN;
	}
	if (n == 0) {
		if (ms > 0)
			usleep((useconds_t)ms * 1000);
		return 0;
	}
	r = poll(p, (nfds_t)n, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == d->listen_fd) {
			err = dev_on_listen(d);
			if (err < 0)
				return err;
		} else if (p[i].fd == d->conn_fd) {
			err = dev_on_guest(d);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

int sim_dev_idle(struct sim_dev *d, int ms)
{
	int64_t end = now_ms() + ms;
	int err;

	for (;;) {
		int64_t left = end - now_ms();

		if (left <= 0)
			return 0;
		err = dev_poll(d, (int)left);
		if (err < 0 && err != -ECONNRESET)
			return err;
	}
}

int sim_dev_wait_guest(struct sim_dev *d, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int err;

	while (d->conn_fd < 0) {
		int64_t left = end - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		err = dev_poll(d, (int)left);
		if (err < 0 && err != -ECONNRESET)
			return err;
	}
	return 0;
}

int sim_dev_send(struct sim_dev *d, const void *buf, size_t len)
{
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_INBAND,
		/* Hyper-V asks for completion on IC requests; guests never send one. */
		.flags = HV_RING_PKT_FLAG_COMPLETION_REQUESTED,
		.header_len = HV_RING_DESC_SIZE,
	};
	struct iovec iov = { (void *)buf, len };
	uint32_t need = (uint32_t)(((HV_RING_DESC_SIZE + len + 7) & ~(size_t)7) +
				   HV_RING_TRAILER_SIZE);
	int64_t end = now_ms() + d->timeout_ms;
	bool sig = false, waited = false;
	int err;

	if (d->conn_fd < 0)
		return -ECONNRESET;
	info.trans_id = ++d->trans_id;
	for (;;) {
		err = hv_ring_send(d->tx, &info, &iov, 1, &sig);
		if (err != -EAGAIN)
			break;
		if (!waited) {
			/*
			 * Ask the guest to signal us when there is room (+1:
			 * the ring is never filled completely), then check
			 * again before sleeping, or its signal could be lost.
			 */
			hv_ring_set_pending_send_size(d->tx, need + 8);
			waited = true;
			dev_log(d, "host-to-guest ring full: waiting for %u bytes", need + 8);
			continue;
		}
		d->tx_signalled = false;
		while (!d->tx_signalled) {
			int64_t left = end - now_ms();

			if (left <= 0) {
				hv_ring_set_pending_send_size(d->tx, 0);
				return -ETIMEDOUT;
			}
			err = dev_poll(d, (int)left);
			if (err < 0)
				return err;
		}
	}
	if (waited)
		hv_ring_set_pending_send_size(d->tx, 0);
	if (err < 0)
		return err;
	if (sig)
		return sim_dev_interrupt(d);
	return 0;
}

int sim_dev_recv(struct sim_dev *d, void *buf, size_t *len, uint64_t *trans_id,
		 uint16_t *type, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	struct hv_ring_pkt pkt;
	uint32_t needed = 0, plen;
	bool sig = false;
	int err;

	/* Take in the guest's writes so far, so that its socket never fills. */
	err = dev_poll(d, 0);
	if (err < 0)
		return err;
	for (;;) {
		if (d->conn_fd < 0)
			return -ECONNRESET;
		if (d->rx_signalled) {
			err = hv_ring_recv(d->rx, d->rxbuf, sizeof(d->rxbuf), &pkt,
					   &needed, &sig);
			if (sig) {
				int e = sim_dev_interrupt(d);

				if (e < 0)
					return e;
			}
			if (err == 0)
				break;
			if (err == -EAGAIN)
				d->rx_signalled = false;
			else if (err == -ENOBUFS || err == -EMSGSIZE)
				return -EMSGSIZE;
			else
				return err;
		}
		if (!d->rx_signalled) {
			int64_t left = end - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			err = dev_poll(d, (int)left);
			if (err < 0)
				return err;
		}
	}
	plen = hv_ring_pkt_payload_len(&pkt);
	if (plen > *len)
		return -EMSGSIZE;
	memcpy(buf, hv_ring_pkt_payload(&pkt), plen);
	*len = plen;
	if (trans_id)
		*trans_id = pkt.trans_id;
	if (type)
		*type = pkt.type;
	return 0;
}
