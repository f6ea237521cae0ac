/* SPDX-License-Identifier: ISC */
/*
 * The device node and the channel as the host sees them.
 *
 * ROOT/dev/uioN is a listening SOCK_SEQPACKET socket. A guest connecting
 * is the first open() of /dev/uioN: the host opens the channel, which
 * resets both rings (Linux's hv_ringbuffer_init on every open) the way
 * the guest's kernel does (sr->kernel: whole headers from 6.4, indices
 * only before), and, before the CVE-2025-40048 fix, leaves the
 * host-to-guest ring's interrupt_mask at 1. Then one message carries the
 * maps; after it every message is a 4-byte little-endian value: ours are
 * interrupts (the cumulative count read() returns), the guest's are its
 * write()s, which mask, unmask and signal what that kernel's
 * hv_uio_irqcontrol does. Where the guest kernel would oops (a
 * sub-channel interrupt before d062463edf17, a rescind of an open device
 * before fb1adbd7e50f) the sim reports it and the session fails.
 *
 * The host learns of a guest's signal as Hyper-V does: a monitored
 * channel's bit in the monitor page, scanned every millisecond while one
 * is open; the hypercall of a write() for the channels that kernel
 * signals, and with it the interrupt-page bits of the others (the
 * legacy scan DPDK relies on for sub-channels).
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
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* struct hv_ring_buffer: write_index, read_index, interrupt_mask, pending_send_sz. */
#define HDR_MASK 8u
#define HDR_PENDING 12u
/* The guest-to-host half of the interrupt page. */
#define INT_SEND_OFF 2048u
/* How often the host scans the monitor page (its latency) while one is in use. */
#define MONITOR_SCAN_MS 1

static bool dev_crashed(const struct sim_dev *d)
{
	return d->sr->kernel.crashed;
}

static void chan_free(struct sim_chan *c)
{
	hv_ring_free(c->tx);
	hv_ring_free(c->rx);
	memset(c, 0, sizeof(*c));
}

static _Atomic uint32_t *word(uint8_t *base, uint32_t off)
{
	return (_Atomic uint32_t *)(base + off);
}

void sim_dev_disconnect(struct sim_dev *d)
{
	unsigned int i;

	if (d->conn_fd >= 0) {
		close(d->conn_fd);
		d->conn_fd = -1;
		sim_root_set_state(d->sr, 0);
	}
	/* The last close closes every sub-channel, then the primary (vmbus_disconnect_ring). */
	for (i = 0; i < SIM_MAX_CHANS; i++) {
		if (d->ch[i].sub >= 0 && d->ch[i].relid)
			sim_root_sub_remove(d->sr, d->ch[i].sub);
		chan_free(&d->ch[i]);
	}
	d->negotiated = false;
}

void sim_dev_rescind(struct sim_dev *d)
{
	/*
	 * hv_uio_rescind ran only for an open device; before fb1adbd7e50f
	 * it read channel->primary_channel, NULL for a primary channel.
	 */
	if (d->conn_fd >= 0 && !d->sr->kernel.has[SIM_K_RESCIND])
		sim_kernel_crash(&d->sr->kernel, SIM_K_RESCIND,
				 "the host rescinded a device whose /dev/uioN is open: "
				 "hv_uio_rescind dereferences the NULL primary_channel");
	sim_dev_disconnect(d);
	sim_dev_unlisten(d);
	sim_root_rescind(d->sr);
}

/* More descriptors than any device has, for SIM_HS_TOO_MANY_FDS. */
#define HS_MANY_FDS 20

/*
 * The map message: the count, little-endian, and the maps' descriptors,
 * or the lie d->handshake asks for.
 */
static int dev_send_maps(struct sim_dev *d)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HS_MANY_FDS)];
		struct cmsghdr align;
	} u;
	uint8_t body[8] = { 0 };
	uint32_t count = htole32(d->sr->nmaps);
	struct iovec iov = { body, sizeof(count) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf };
	unsigned int nfds = d->sr->nmaps, i;
	int fds[HS_MANY_FDS], short_fd = -1, err = 0;
	struct cmsghdr *c;

	for (i = 0; i < HS_MANY_FDS; i++)
		fds[i] = d->sr->map_fd[i % d->sr->nmaps];
	switch (d->handshake) {
	case SIM_HS_GOOD:
		break;
	case SIM_HS_WRONG_COUNT:
		count = htole32(7);
		break;
	case SIM_HS_FEWER_FDS:
		nfds--;
		break;
	case SIM_HS_SHORT_MAP:
		short_fd = memfd_create("hvsim-short-map", MFD_CLOEXEC);
		if (short_fd < 0 || ftruncate(short_fd, (off_t)d->sr->map_size[0] / 2) < 0) {
			err = -errno;
			goto out;
		}
		fds[0] = short_fd;
		break;
	case SIM_HS_NONE:
		return 0;
	case SIM_HS_TOO_MANY_FDS:
		nfds = HS_MANY_FDS;
		break;
	case SIM_HS_LONG_MSG:
		iov.iov_len = sizeof(body);
		break;
	}
	memcpy(body, &count, sizeof(count));
	memset(&u, 0, sizeof(u));
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	if (sendmsg(d->conn_fd, &msg, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		err = -errno;
out:
	if (short_fd >= 0)
		close(short_fd);
	return err;
}

/*
 * vmbus_open of one channel over base (guest-to-host ring first):
 * hv_ringbuffer_init on both rings, as the guest's kernel has it, then
 * the mask uio_hv_generic forced before CVE-2025-40048 was fixed.
 */
static int chan_open(struct sim_dev *d, struct sim_chan *c, uint8_t *base, size_t half)
{
	const struct sim_kernel *k = &d->sr->kernel;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *hdr[2] = { base, base + half };
	uint32_t keep[2][2];
	int err, i;

	for (i = 0; i < 2; i++) {
		keep[i][0] = atomic_load(word(hdr[i], HDR_MASK));
		keep[i][1] = atomic_load(word(hdr[i], HDR_PENDING));
		/*
		 * From bb862397f48f the whole first page is zeroed; before,
		 * only the indices and feature bits were set, and the mask and
		 * pending size of the last session stay. A hostile run may have
		 * left impossible indices: they go either way.
		 */
		if (k->has[SIM_K_HEADER_ZEROED])
			memset(hdr[i], 0, page);
		else
			memset(hdr[i], 0, 8);
	}
	err = hv_ring_new(hdr[0], half, page, SIM_MAX_MSG * 2, &c->rx);
	if (err == 0)
		err = hv_ring_new(hdr[1], half, page, SIM_MAX_MSG * 2, &c->tx);
	if (err < 0) {
		chan_free(c);
		return err;
	}
	hv_ring_reset(c->rx);
	hv_ring_reset(c->tx);
	for (i = 0; i < 2 && !k->has[SIM_K_HEADER_ZEROED]; i++) {
		atomic_store(word(hdr[i], HDR_MASK), keep[i][0]);
		atomic_store(word(hdr[i], HDR_PENDING), keep[i][1]);
	}
	if (!k->has[SIM_K_USER_MASK])
		hv_ring_intr_mask(c->tx);
	/* vmbus_connect_ring establishes the rings' GPADL: one handle gone. */
	sim_root_gpadl_new(d->sr);
	return 0;
}

/* Open the channel for a guest that just connected on fd; fd is the device's, or closed on failure. */
static int dev_open_channel(struct sim_dev *d, int fd)
{
	struct sim_chan *c = &d->ch[0];
	int err, i;

	for (i = 0; i < SIM_MAX_CHANS; i++)
		chan_free(&d->ch[i]);
	err = chan_open(d, c, d->sr->rings, d->sr->map_size[0] / 2);
	if (err < 0) {
		close(fd);
		return err;
	}
	c->relid = d->sr->type->relid;
	c->monitor_id = d->sr->type->monitor_id;
	c->sub = -1;
	for (i = 1; i < SIM_MAX_CHANS; i++)
		d->ch[i].sub = -1;
	d->conn_fd = fd;
	d->negotiated = false;
	err = dev_send_maps(d);
	if (err < 0 || d->handshake == SIM_HS_NONE) {
		sim_dev_disconnect(d);
		return err;
	}
	sim_root_set_state(d->sr, 3);
	dev_log(d, "guest connected to %s: channel open (kernel %s)", d->sr->node,
		d->sr->kernel.release);
	return 0;
}

struct sim_chan *sim_dev_sub_offer(struct sim_dev *d, uint32_t relid)
{
	struct sim_chan *c = NULL;
	int slot, err, i;

	if (d->conn_fd < 0) {
		errno = ENOTCONN;
		return NULL;
	}
	for (i = 1; i < SIM_MAX_CHANS && !c; i++)
		if (!d->ch[i].relid)
			c = &d->ch[i];
	if (!c) {
		errno = ENOSPC;
		return NULL;
	}
	slot = sim_root_sub_add(d->sr, relid);
	if (slot < 0) {
		errno = -slot;
		return NULL;
	}
	err = chan_open(d, c, d->sr->subs[slot].rings, d->sr->subs[slot].size / 2);
	if (err < 0) {
		sim_root_sub_remove(d->sr, slot);
		errno = -err;
		return NULL;
	}
	c->relid = relid;
	c->sub = slot;
	c->monitor_id = d->sr->type->monitor_id >= 0 ? d->sr->type->monitor_id + slot + 1 : -1;
	dev_log(d, "sub-channel %u offered and opened", relid);
	return c;
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
		/*
		 * A guest killed between its connect() and our handing over the
		 * maps is an open() followed by the last close(): the kernel
		 * carries on, and so does the host.
		 */
		if (err == -EPIPE || err == -ECONNRESET) {
			dev_log(d, "the guest closed the device while it was opened");
			return 0;
		}
		return err;
	}
	if (d->on_connect && d->conn_fd >= 0 && d->handshake == SIM_HS_GOOD)
		return d->on_connect(d, d->on_connect_arg);
	return 0;
}

int sim_dev_interrupt(struct sim_dev *d, struct sim_chan *c)
{
	struct sim_kernel *k = &d->sr->kernel;
	uint32_t v;
	ssize_t n;

	if (dev_crashed(d))
		return -EHOSTDOWN;
	if (d->conn_fd < 0)
		return -ECONNRESET;
	if (c->sub >= 0 && !k->has[SIM_K_WRITE_ALL]) {
		char what[160];

		snprintf(what, sizeof(what), "the host interrupted sub-channel %u: "
			 "hv_uio_channel_cb takes device_obj of the sub-channel, which is NULL",
			 c->relid);
		sim_kernel_crash(k, SIM_K_WRITE_ALL, what);
		return -EHOSTDOWN;
	}
	/* hv_uio_channel_cb masked the channel itself until CVE-2025-40048 was fixed. */
	if (!k->has[SIM_K_USER_MASK])
		hv_ring_intr_mask(c->tx);
	v = ++d->intr_count;
	d->interrupts_sent++;
	c->interrupts++;
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

static void chan_signalled(struct sim_chan *c, bool bit)
{
	c->rx_signalled = true;
	c->tx_signalled = true;
	c->signals++;
	if (bit)
		c->bits++;
}

/* Take the channel's bit out of a page of bits; was it set? */
static bool bit_take(uint8_t *words, uint32_t bit)
{
	_Atomic uint32_t *w = word(words, 4 * (bit / 32));
	uint32_t m = 1u << (bit % 32);

	return atomic_fetch_and(w, ~m) & m;
}

/* Hyper-V's scan of the monitor page: a set bit is a signal. */
static void dev_scan_monitor(struct sim_dev *d)
{
	int i;

	for (i = 0; i < SIM_MAX_CHANS; i++) {
		struct sim_chan *c = &d->ch[i];
		uint32_t id = (uint32_t)c->monitor_id;

		if (!c->relid || c->monitor_id < 0)
			continue;
		if (bit_take(d->sr->monitor_page + 8 + 8 * (id / 32), id % 32)) {
			/* vmbus_setevent sets the interrupt-page bit too: it is the same signal. */
			bit_take(d->sr->int_page + INT_SEND_OFF, c->relid);
			chan_signalled(c, true);
		}
	}
}

static bool dev_monitored(const struct sim_dev *d)
{
	for (int i = 0; i < SIM_MAX_CHANS; i++)
		if (d->ch[i].relid && d->ch[i].monitor_id >= 0)
			return true;
	return false;
}

/*
 * One write() of the guest: hv_uio_irqcontrol of its kernel. The mask
 * of the primary, or from d062463edf17 (and its reduced backports) of
 * every channel; a signal for the primary without a monitor page from
 * 547fa4ffd799, for every such sub-channel too with the full
 * d062463edf17. Each signal is a hypercall, on which the host also
 * looks at the interrupt-page bits of channels without a monitor page.
 *
 * The kernel's write() has changed every mask when it returns; here the
 * guest watches them change one by one. The primary goes last so that a
 * guest that sees its mask change (the sub-channel probe of lib/vmbus)
 * sees the whole write, as after the kernel's write() returns.
 */
static void dev_guest_write(struct sim_dev *d, int32_t v)
{
	const struct sim_kernel *k = &d->sr->kernel;
	bool hypercall = false;
	int i;

	for (i = SIM_MAX_CHANS - 1; i >= 0; i--) {
		struct sim_chan *c = &d->ch[i];

		if (!c->relid || (i > 0 && !k->has[SIM_K_WRITE_ALL]))
			continue;
		if (!v) {
			hv_ring_intr_mask(c->tx);
			continue;
		}
		hv_ring_intr_unmask(c->tx);
		if (c->monitor_id >= 0)
			continue;
		if ((i == 0 && k->has[SIM_K_NONMONITORED]) ||
		    (i > 0 && k->has[SIM_K_WRITE_SIGNALS_SUB])) {
			chan_signalled(c, bit_take(d->sr->int_page + INT_SEND_OFF, c->relid));
			hypercall = true;
		}
	}
	if (v)
		d->guest_signals++;
	else
		d->guest_masks++;
	for (i = 0; i < SIM_MAX_CHANS && hypercall; i++) {
		struct sim_chan *c = &d->ch[i];

		if (c->relid && c->monitor_id < 0 &&
		    bit_take(d->sr->int_page + INT_SEND_OFF, c->relid))
			chan_signalled(c, true);
	}
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
		dev_guest_write(d, v);
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

	if (dev_crashed(d))
		return -EHOSTDOWN;
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
	if (dev_monitored(d)) {
		dev_scan_monitor(d);
		if (ms < 0 || ms > MONITOR_SCAN_MS)
			ms = MONITOR_SCAN_MS;
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

static bool dev_tx_empty(const struct sim_dev *d)
{
	return hv_ring_write_avail(d->ch[0].tx) == hv_ring_data_size(d->ch[0].tx);
}

int sim_dev_drain(struct sim_dev *d, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	struct pollfd p = { .fd = d->conn_fd, .events = POLLIN };
	int err;

	/*
	 * The guest moves the read index without a word to us: look now and
	 * then, and again before serving its socket, since a guest that read
	 * everything may close the device at once (and its rings with it).
	 */
	while (d->conn_fd >= 0 && d->ch[0].tx && !dev_tx_empty(d)) {
		if (now_ms() >= end)
			return -ETIMEDOUT;
		p.fd = d->conn_fd;
		if (poll(&p, 1, 1) < 0 && errno != EINTR)
			return -errno;
		if (dev_tx_empty(d))
			return 0;
		err = dev_poll(d, 0);
		if (err < 0)
			return err;
	}
	return d->conn_fd < 0 ? -ECONNRESET : 0;
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

int sim_dev_chan_sendv(struct sim_dev *d, struct sim_chan *c, const struct hv_ring_pkt_info *info,
		       const struct iovec *iov, unsigned int iovcnt)
{
	size_t len = 0;
	uint32_t need;
	int64_t end = now_ms() + d->timeout_ms;
	bool sig = false, waited = false;
	unsigned int i;
	int err;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	need = (uint32_t)(((HV_RING_DESC_SIZE + len + 7) & ~(size_t)7) + HV_RING_TRAILER_SIZE);
	if (dev_crashed(d))
		return -EHOSTDOWN;
	if (d->conn_fd < 0 || !c->tx)
		return -ECONNRESET;
	for (;;) {
		err = hv_ring_send(c->tx, info, iov, iovcnt, &sig);
		if (err != -EAGAIN)
			break;
		if (!waited) {
			/*
			 * Ask the guest to signal us when there is room (+1:
			 * the ring is never filled completely), then check
			 * again before sleeping, or its signal could be lost.
			 */
			hv_ring_set_pending_send_size(c->tx, need + 8);
			waited = true;
			dev_log(d, "host-to-guest ring of channel %u full: waiting for %u bytes",
				c->relid, need + 8);
			continue;
		}
		c->tx_signalled = false;
		while (!c->tx_signalled) {
			int64_t left = end - now_ms();

			if (left <= 0) {
				hv_ring_set_pending_send_size(c->tx, 0);
				return -ETIMEDOUT;
			}
			err = dev_poll(d, (int)left);
			if (err < 0)
				return err;
			if (!c->tx)
				return -ECONNRESET;
		}
	}
	if (waited)
		hv_ring_set_pending_send_size(c->tx, 0);
	if (err < 0)
		return err;
	if (sig)
		return sim_dev_interrupt(d, c);
	return 0;
}

int sim_dev_chan_send(struct sim_dev *d, struct sim_chan *c, const void *buf, size_t len)
{
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_INBAND,
		/* Hyper-V asks for completion on IC requests; guests never send one. */
		.flags = HV_RING_PKT_FLAG_COMPLETION_REQUESTED,
		.header_len = HV_RING_DESC_SIZE,
		.trans_id = ++d->trans_id,
	};
	struct iovec iov = { (void *)buf, len };

	return sim_dev_chan_sendv(d, c, &info, &iov, 1);
}

int sim_dev_send(struct sim_dev *d, const void *buf, size_t len)
{
	return sim_dev_chan_send(d, &d->ch[0], buf, len);
}

int sim_dev_chan_recv(struct sim_dev *d, struct sim_chan *c, void *buf, size_t *len,
		      uint64_t *trans_id, uint16_t *type, int timeout_ms)
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
		if (d->conn_fd < 0 || !c->rx)
			return -ECONNRESET;
		if (c->rx_signalled) {
			err = hv_ring_recv(c->rx, d->rxbuf, sizeof(d->rxbuf), &pkt,
					   &needed, &sig);
			if (sig) {
				int e = sim_dev_interrupt(d, c);

				if (e < 0)
					return e;
			}
			if (err == 0)
				break;
			if (err == -EAGAIN)
				c->rx_signalled = false;
			else if (err == -ENOBUFS || err == -EMSGSIZE)
				return -EMSGSIZE;
			else
				return err;
		}
		if (!c->rx_signalled) {
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

int sim_dev_recv(struct sim_dev *d, void *buf, size_t *len, uint64_t *trans_id,
		 uint16_t *type, int timeout_ms)
{
	return sim_dev_chan_recv(d, &d->ch[0], buf, len, trans_id, type, timeout_ms);
}
