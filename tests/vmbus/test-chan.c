/* SPDX-License-Identifier: ISC */
/*
 * Devices and channels over a sim device, the library's public API as a
 * guest uses it.
 *
 * Each case lays out a sim root in a temporary directory and plays the
 * host with hvsim's own device code (libhvsim-dev: the sysfs tree, the
 * memfd maps, the device socket, the rings as the host sees them) from a
 * thread, on a kernel release chosen per case: 6.18.0, which has every
 * fix of uio_hv_generic, unless a case needs the older behaviour. The
 * host can also lie: the hostile cases send handshakes, sysfs and packets
 * that must be refused without a crash or a leaked descriptor.
 *
 * Host and guest take turns through `stage` (tests/sim/sim-env.h);
 * nothing waits on a sleep.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hvuio/chan.h>
#include <hvuio/ring.h>

#include "sim-env.h"
#include "lib/vmbus/hvuio_private.h"

#define INSTANCE "6f1b1e2a-8c3d-4e5f-9a0b-1c2d3e4f5a6b"
#define CLASS    "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define RELID    14u
#define SUB_RELID 15u
#define KERNEL_ALL_FIXES "6.18.0"

/* Ring header offsets (struct hv_ring_buffer in Linux's hyperv.h). */
#define HDR_INTERRUPT_MASK  8u
#define HDR_PENDING_SEND_SZ 12u

/* A device of the KVP class with rings of `pages` pages a direction, header included. */
static struct sim_devtype devtype(size_t pages, int32_t monitor_id)
{
	struct sim_devtype t = {
		"chan", CLASS, INSTANCE, RELID, 0, NULL, monitor_id, pages * 4096,
	};

	return t;
}

static void env_init_kernel(struct sim_env *e, struct sim_devtype type, const char *kernel)
{
	sim_env_init(e, &type, kernel, NULL);
}

static void env_init(struct sim_env *e, struct sim_devtype type)
{
	env_init_kernel(e, type, KERNEL_ALL_FIXES);
}

/* Take in every write() the guest has made so far. */
static void host_take_writes(struct sim_env *e)
{
	sim_dev_idle(&e->d, 1);
}

/* The host's view of the guest's receive mask: the host-to-guest ring's header. */
static _Atomic uint32_t *guest_rx_word(struct sim_env *e, uint32_t off)
{
	return (_Atomic uint32_t *)((uint8_t *)e->sr.rings + e->sr.map_size[0] / 2 + off);
}

/* Bytes of data per ring direction the sim gave the primary channel. */
static uint32_t primary_data_size(const struct sim_env *e)
{
	return (uint32_t)(e->sr.map_size[0] / 2 - (size_t)sysconf(_SC_PAGESIZE));
}

/* Host to guest, with the transaction id and type the case chooses. */
static int host_put(struct sim_env *e, uint16_t type, uint32_t header_len, const void *hdr,
		    size_t hdr_len, const void *payload, size_t len, uint64_t trans_id)
{
	struct hv_ring_pkt_info info = { .type = type, .header_len = header_len,
					 .trans_id = trans_id };
	struct iovec iov[2] = { { (void *)hdr, hdr_len }, { (void *)payload, len } };

	return hdr_len ? sim_dev_chan_sendv(&e->d, &e->d.ch[0], &info, iov, 2) :
			 sim_dev_chan_sendv(&e->d, &e->d.ch[0], &info, iov + 1, 1);
}

static int host_send(struct sim_env *e, const void *data, size_t len, uint64_t id)
{
	return host_put(e, HV_RING_PKT_DATA_INBAND, HV_RING_DESC_SIZE, NULL, 0, data, len, id);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Open the device and its primary channel. */
static void guest_open(struct sim_env *e, struct hv_dev **dev, struct hv_chan **chan)
{
	ck_assert_int_eq(hv_dev_open(e->root, INSTANCE, dev), 0);
	ck_assert_int_eq(hv_chan_open(*dev, chan), 0);
}

/* sysfs says what the case wants: write the file as a kernel never would. */
static void sysfs_put(const struct sim_env *e, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sysfs_put(const struct sim_env *e, const char *rel, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", e->sr.devdir, rel);
	unlink(path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- opening ---- */

START_TEST(open_handshake)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan, *again;
	uint32_t count;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, NULL);
	guest_open(&e, &dev, &chan);
	sim_env_join(&e);
	ck_assert(hv_dev_is_sim(dev));
	ck_assert_str_eq(hv_dev_instance(dev), INSTANCE);
	ck_assert_int_ge(hv_dev_fd(dev), 0);
	ck_assert_uint_eq(hv_chan_relid(chan), RELID);
	ck_assert_uint_eq(hv_ring_data_size(hv_chan_tx_ring(chan)), primary_data_size(&e));
	ck_assert_uint_eq(hv_ring_data_size(hv_chan_rx_ring(chan)), primary_data_size(&e));
	/* The same region must not get two sets of private indices. */
	ck_assert_int_eq(hv_chan_open(dev, &again), -EBUSY);
	/* Nothing pending yet. */
	ck_assert_int_eq(hv_dev_ack(dev, &count), -EAGAIN);
	/* The guest's TX ring is the first half of map 0, as the host sees it. */
	ck_assert_int_eq(hv_chan_send(chan, "abc", 3, 9, 0), 0);
	ck_assert_uint_eq(hv_ring_read_avail(e.d.ch[0].rx), 32);
	hv_chan_close(chan);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

START_TEST(open_errors)
{
	struct sim_env e;
	struct hv_dev *dev;

	env_init(&e, devtype(4, -1));
	ck_assert_int_eq(hv_dev_open(e.root, "00000000-0000-0000-0000-000000000001", &dev),
			 -ENOENT);
	sim_env_fini(&e);
	/*
	 * Not bound to uio_hv_generic, so no uio directory: before 6.10 the
	 * kernel leaves a device without a monitor page with hv_utils.
	 */
	env_init_kernel(&e, devtype(4, -1), "6.9.12");
	ck_assert(!e.sr.bound);
	ck_assert_int_eq(hv_dev_open(e.root, INSTANCE, &dev), -ENXIO);
	sim_env_fini(&e);
}
END_TEST

START_TEST(open_by_class)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, NULL);
	ck_assert_int_eq(hv_dev_open(e.root, CLASS, &dev), 0);
	ck_assert_str_eq(hv_dev_instance(dev), INSTANCE);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* ---- hostile handshakes ---- */

static const enum sim_handshake hostile[] = {
	SIM_HS_WRONG_COUNT, SIM_HS_FEWER_FDS, SIM_HS_SHORT_MAP, SIM_HS_NONE,
	SIM_HS_TOO_MANY_FDS, SIM_HS_LONG_MSG,
};

START_TEST(hostile_handshake)
{
	struct sim_env e;
	struct hv_dev *dev = NULL;
	int before;

	env_init(&e, devtype(4, -1));
	e.d.handshake = hostile[_i];
	before = count_fds();
	sim_env_start(&e, NULL);
	ck_assert_int_eq(hv_dev_open(e.root, INSTANCE, &dev), -EBADMSG);
	atomic_store(&e.stage, 1);
	/* The host has seen the guest close: every descriptor of both is back. */
	sim_env_join(&e);
	ck_assert_int_eq(count_fds(), before);
	sim_env_fini(&e);
}
END_TEST

/* Ring sizes sysfs cannot mean: refused before anything is opened. */
START_TEST(hostile_ring_size)
{
	static const uint64_t sizes[] = {
		0x3000,          /* 6 KiB rings: not whole pages */
		0x2001,          /* odd */
		0x2000,          /* one page each: no data area */
		0,               /* empty */
		0x10000000000ull * 2,  /* rings the indices cannot address */
	};
	struct sim_env e;
	struct hv_dev *dev;
	unsigned int i;
	int before;

	env_init(&e, devtype(4, -1));
	before = count_fds();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sysfs_put(&e, "uio/uio0/maps/map0/size", "0x%016llx\n",
			  (unsigned long long)sizes[i]);
		ck_assert_int_lt(hv_dev_open(e.root, INSTANCE, &dev), 0);
	}
	sysfs_put(&e, "uio/uio0/maps/map0/size", "0x%016llx\n", 0x3000ull);
	ck_assert_int_eq(hv_dev_open(e.root, INSTANCE, &dev), -EBADMSG);
	ck_assert_int_eq(count_fds(), before);
	sim_env_fini(&e);
}
END_TEST

/* ---- data both ways ---- */

/* Echo arg packets: each payload back, transaction id plus 1000. */
static void play_echo(struct sim_env *e)
{
	uint64_t buf[64], tid;
	unsigned int n = atomic_load(&e->arg), i;

	for (i = 0; i < n; i++) {
		size_t len = sizeof(buf);

		if (sim_dev_recv(&e->d, buf, &len, &tid, NULL, 5000)) {
			HOST_CHECK(e, 0);
			break;
		}
		HOST_CHECK(e, tid == (uint64_t)i && len == 8);
		HOST_CHECK(e, host_send(e, buf, 8, tid + 1000) == 0);
	}
	atomic_store(&e->stage, 1);
}

static void echo_round(struct hv_chan *chan, int i, bool batch)
{
	uint64_t v = 0x1111111100000000ull | (uint64_t)i, buf[16];
	struct hv_chan_pkt pkts[4];
	unsigned int n;

	ck_assert_int_eq(hv_chan_send(chan, &v, sizeof(v), (uint64_t)i, 0), 0);
	ck_assert_int_eq(hv_chan_wait(chan, 5000), 0);
	if (batch) {
		ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 4, &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(pkts[0].type, HV_RING_PKT_DATA_INBAND);
		ck_assert_uint_eq(pkts[0].trans_id, (uint64_t)i + 1000);
		ck_assert_uint_eq(pkts[0].payload_len, 8);
		ck_assert_mem_eq(pkts[0].payload, &v, 8);
		ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	} else {
		ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), 0);
		ck_assert_uint_eq(pkts[0].trans_id, (uint64_t)i + 1000);
		ck_assert_mem_eq(pkts[0].payload, &v, 8);
		ck_assert_ptr_eq(pkts[0].header, (const uint8_t *)buf);
	}
}

START_TEST(send_recv_interrupts)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	uint32_t count;
	int i;

	env_init(&e, devtype(4, -1));
	atomic_store(&e.arg, 20);
	sim_env_start(&e, play_echo);
	guest_open(&e, &dev, &chan);
	for (i = 0; i < 20; i++)
		echo_round(chan, i, i % 2);
	sim_env_join(&e);
	/*
	 * Every reply found an empty ring the guest had unmasked (6.18 no
	 * longer masks it at open or on an interrupt): one interrupt each.
	 */
	ck_assert_uint_eq(e.d.ch[0].interrupts, 20);
	hv_dev_ack(dev, NULL);
	ck_assert_int_eq(hv_dev_ack(dev, &count), -EAGAIN);
	ck_assert_uint_eq(count, e.d.intr_count);
	ck_assert_int_eq(hv_chan_wait(chan, 10), -ETIMEDOUT);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* arg packets as fast as the ring takes them, the guest polling. */
static void play_stream(struct sim_env *e)
{
	unsigned int n = atomic_load(&e->arg), i;
	uint64_t v;

	sim_env_host_until(e, 1);
	HOST_CHECK(e, atomic_load(guest_rx_word(e, HDR_INTERRUPT_MASK)) == 1);
	/* A full ring makes the host wait for the guest's signal (pending_send_sz). */
	for (i = 0; i < n; i++) {
		v = i;
		HOST_CHECK(e, host_send(e, &v, sizeof(v), v) == 0);
	}
	atomic_store(&e->stage, 2);
}

/* Monitored: the guest's signals are monitor bits, and no write() unmasks it. */
START_TEST(busy_poll)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[16];
	unsigned int n, k;
	uint64_t next = 0, v;

	env_init(&e, devtype(4, 9));
	atomic_store(&e.arg, 2000);
	sim_env_start(&e, play_stream);
	guest_open(&e, &dev, &chan);
	/* Unmask once, as a waiter would, then switch: the mask must go up. */
	ck_assert_int_eq(hv_chan_wait(chan, 0), -ETIMEDOUT);
	ck_assert_uint_eq(atomic_load(guest_rx_word(&e, HDR_INTERRUPT_MASK)), 0);
	hv_chan_set_busy_poll(chan, true);
	atomic_store(&e.stage, 1);
	while (next < 2000) {
		ck_assert_int_eq(hv_chan_wait(chan, 5000), 0);
		ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 16, &n), 0);
		for (k = 0; k < n; k++) {
			memcpy(&v, pkts[k].payload, sizeof(v));
			ck_assert_uint_eq(v, next);
			ck_assert_uint_eq(pkts[k].trans_id, next);
			next++;
		}
		ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	}
	sim_env_join(&e);
	/* The mask was up the whole time: the host never interrupted. */
	ck_assert_uint_eq(e.d.ch[0].interrupts, 0);
	ck_assert_uint_eq(e.d.guest_signals, 0);
	ck_assert_uint_gt(e.d.ch[0].bits, 0);
	ck_assert_int_eq(hv_dev_ack(dev, NULL), -EAGAIN);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

static void play_bye(struct sim_env *e)
{
	/*
	 * Not serving the socket meanwhile: the host takes the guest's
	 * write() only after the guest's own store of the mask, as late as
	 * the sim contract allows.
	 */
	while (atomic_load(&e->stage) < 1)
		sched_yield();
	while (e->d.guest_signals == 0 && !atomic_load(&e->host_err))
		if (sim_dev_idle(&e->d, 1) < 0)
			HOST_CHECK(e, 0);
	atomic_store(&e->stage, 2);
}

/* Without a monitor page: the write() of a signal unmasks; waiting masks again. */
START_TEST(busy_poll_signal)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_bye);
	guest_open(&e, &dev, &chan);
	hv_chan_set_busy_poll(chan, true);
	ck_assert_uint_eq(atomic_load(guest_rx_word(&e, HDR_INTERRUPT_MASK)), 1);
	ck_assert_int_eq(hv_chan_send(chan, "bye", 3, 0, 0), 0);
	atomic_store(&e.stage, 1);
	sim_env_join(&e);
	ck_assert_uint_eq(e.d.guest_signals, 1);
	ck_assert_uint_eq(atomic_load(guest_rx_word(&e, HDR_INTERRUPT_MASK)), 0);
	ck_assert_int_eq(hv_chan_wait(chan, 20), -ETIMEDOUT);
	ck_assert_uint_eq(atomic_load(guest_rx_word(&e, HDR_INTERRUPT_MASK)), 1);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

static int send_early(struct sim_dev *d, void *arg)
{
	(void)arg;
	return sim_dev_send(d, "early", 5);
}

/*
 * The first message is in the ring before the guest maps it, and a kernel
 * without the CVE-2025-40048 fix has set the mask to 1 at open.
 */
START_TEST(drain_before_first_wait)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkt;
	uint64_t buf[8];

	env_init_kernel(&e, devtype(4, -1), "6.16.0");
	e.d.on_connect = send_early;
	sim_env_start(&e, NULL);
	guest_open(&e, &dev, &chan);
	sim_env_join(&e);
	ck_assert_uint_eq(e.d.ch[0].interrupts, 0);
	/* Nothing will ever interrupt: only the re-check finds it. */
	ck_assert_int_eq(hv_chan_wait(chan, 2000), 0);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkt), 0);
	ck_assert_uint_eq(pkt.payload_len, 8);
	ck_assert_mem_eq(pkt.payload, "early", 5);
	ck_assert_int_eq(hv_chan_wait(chan, 10), -ETIMEDOUT);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

#define PINGPONG 10000

/* A lost wakeup shows as a 5-second timeout on either side; on both kernels' mask rules. */
START_TEST(pingpong_no_lost_wakeup)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	int i;

	env_init_kernel(&e, devtype(4, -1), _i ? "6.16.0" : KERNEL_ALL_FIXES);
	atomic_store(&e.arg, PINGPONG);
	sim_env_start(&e, play_echo);
	guest_open(&e, &dev, &chan);
	for (i = 0; i < PINGPONG; i++)
		echo_round(chan, i, i & 1);
	sim_env_join(&e);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* ---- the host's and the guest's interrupt decisions ---- */

static void play_burst(struct sim_env *e)
{
	uint64_t v, buf[8], tid;
	int i;

	sim_env_host_until(e, 1);
	/* Three packets at once: only the first finds the ring empty. */
	for (i = 0; i < 3; i++) {
		v = (uint64_t)i;
		HOST_CHECK(e, host_send(e, &v, sizeof(v), v) == 0);
	}
	atomic_store(&e->stage, 2);
	/* The guest sends three while we do not read: one signal only. */
	sim_env_host_until(e, 3);
	host_take_writes(e);
	HOST_CHECK(e, e->d.guest_signals == 1);
	for (i = 0; i < 3; i++) {
		size_t len = sizeof(buf);

		HOST_CHECK(e, sim_dev_recv(&e->d, buf, &len, &tid, NULL, 5000) == 0 &&
			      tid == (uint64_t)i);
	}
	/* Empty again but masked on our side: the guest must not signal. */
	hv_ring_intr_mask(e->d.ch[0].rx);
	atomic_store(&e->stage, 4);
	sim_env_host_until(e, 5);
	host_take_writes(e);
	HOST_CHECK(e, e->d.guest_signals == 1);
}

START_TEST(interrupt_decisions)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[8];
	unsigned int n;
	uint32_t count;
	int i;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_burst);
	guest_open(&e, &dev, &chan);
	/* Unmask before the host writes, or no interrupt would be due. */
	ck_assert_int_eq(hv_chan_wait(chan, 0), -ETIMEDOUT);
	atomic_store(&e.stage, 1);
	sim_env_guest_until(&e, 2);
	ck_assert_int_eq(hv_chan_wait(chan, 5000), 0);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(hv_chan_send(chan, "x", 1, (uint64_t)i, 0), 0);
	atomic_store(&e.stage, 3);
	sim_env_guest_until(&e, 4);
	ck_assert_int_eq(hv_chan_send(chan, "y", 1, 9, 0), 0);
	atomic_store(&e.stage, 5);
	sim_env_join(&e);
	/* Three packets into a ring the guest had unmasked: one interrupt. */
	ck_assert_uint_eq(e.d.ch[0].interrupts, 1);
	ck_assert_int_ne(hv_dev_ack(dev, &count), -ENODEV);
	ck_assert_uint_eq(count, 1);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* The host fills our RX ring and waits for room: we must tell it. */
static void play_fill(struct sim_env *e)
{
	struct hv_ring *tx = e->d.ch[0].tx;
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND,
					 .header_len = HV_RING_DESC_SIZE };
	uint8_t blob[512] = { 0 };
	struct iovec iov = { blob, sizeof(blob) };
	uint32_t sent;
	bool sig;

	/* Straight into the ring: the device code would wait for room itself. */
	for (sent = 0;; sent++) {
		info.trans_id = sent;
		if (hv_ring_send(tx, &info, &iov, 1, &sig))
			break;
		if (sig)
			HOST_CHECK(e, sim_dev_interrupt(&e->d, &e->d.ch[0]) == 0);
	}
	atomic_store(&e->arg, sent);
	/* Ask to hear when a whole ring's worth minus one packet is free. */
	hv_ring_set_pending_send_size(tx, hv_ring_data_size(tx) - 1024);
	HOST_CHECK(e, hv_ring_write_avail(tx) <= 1024);
	e->d.ch[0].tx_signalled = false;
	atomic_store(&e->stage, 1);
	/* No signal until enough is free, then exactly one. */
	while (!e->d.ch[0].tx_signalled && !atomic_load(&e->host_err))
		if (sim_dev_idle(&e->d, 1) < 0)
			HOST_CHECK(e, 0);
	HOST_CHECK(e, hv_ring_write_avail(tx) > hv_ring_data_size(tx) - 1024);
	sim_env_host_until(e, 2);
	host_take_writes(e);
	HOST_CHECK(e, e->d.guest_signals == 1);
}

START_TEST(pending_send_size_rx)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[4];
	uint8_t buf[1024] __attribute__((aligned(8)));
	unsigned int n, total = 0;
	int err;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_fill);
	guest_open(&e, &dev, &chan);
	hv_chan_set_busy_poll(chan, true);
	sim_env_guest_until(&e, 1);
	/* A few at a time; the host is signalled once, when room crosses. */
	for (;;) {
		err = hv_chan_recv_batch(chan, pkts, 4, &n);
		if (err == -EAGAIN)
			break;
		ck_assert_int_eq(err, 0);
		total += n;
		ck_assert_int_eq(hv_chan_recv_done(chan), 0);
		if (total == 4) {
			/* hv_chan_recv follows the same rule. */
			ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), 0);
			total++;
		}
	}
	atomic_store(&e.stage, 2);
	sim_env_join(&e);
	ck_assert_uint_eq(total, atomic_load(&e.arg));
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* Our TX ring full: pending_send_sz makes the host interrupt us. */
static void play_drain_later(struct sim_env *e)
{
	uint64_t buf[128];
	unsigned int got;

	sim_env_host_until(e, 1);
	for (got = 0; got < atomic_load(&e->arg); got++) {
		size_t len = sizeof(buf);

		if (sim_dev_recv(&e->d, buf, &len, NULL, NULL, 5000)) {
			HOST_CHECK(e, 0);
			break;
		}
	}
}

START_TEST(pending_send_size_tx)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	uint8_t blob[256] = { 0 };
	struct pollfd pfd;
	unsigned int sent = 0;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_drain_later);
	guest_open(&e, &dev, &chan);
	while (hv_chan_send(chan, blob, sizeof(blob), sent, 0) == 0)
		sent++;
	ck_assert_uint_gt(sent, 4);
	hv_ring_set_pending_send_size(hv_chan_tx_ring(chan), 2048);
	ck_assert_uint_eq(atomic_load((_Atomic uint32_t *)((uint8_t *)e.sr.rings +
							    HDR_PENDING_SEND_SZ)), 2048);
	atomic_store(&e.arg, sent);
	atomic_store(&e.stage, 1);
	pfd.fd = hv_dev_fd(dev);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(hv_dev_ack(dev, NULL), 0);
	sim_env_join(&e);
	ck_assert_uint_eq(e.d.ch[0].interrupts, 1);
	ck_assert_int_eq(hv_chan_send(chan, blob, sizeof(blob), sent, 0), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* ---- monitored channels signal through the monitor page ---- */

static void play_monitor(struct sim_env *e)
{
	uint64_t buf[8];
	size_t len = sizeof(buf);

	sim_env_host_until(e, 1);
	/* Found by the host's scan of bit 37 (group 1, bit 5), not by a write(). */
	HOST_CHECK(e, sim_dev_recv(&e->d, buf, &len, NULL, NULL, 5000) == 0 &&
		      !memcmp(buf, "m", 1));
	host_take_writes(e);
	HOST_CHECK(e, e->d.ch[0].bits == 1 && e->d.ch[0].signals == 1);
	HOST_CHECK(e, e->d.guest_signals == 0);
}

START_TEST(monitored_signal)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, devtype(4, 37));
	sim_env_start(&e, play_monitor);
	guest_open(&e, &dev, &chan);
	ck_assert_int_eq(hv_chan_send(chan, "m", 1, 1, 0), 0);
	atomic_store(&e.stage, 1);
	sim_env_join(&e);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* ---- subchannels ---- */

static void play_sub(struct sim_env *e)
{
	uint64_t buf[8], tid;
	size_t len = sizeof(buf);
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND,
					 .header_len = HV_RING_DESC_SIZE, .trans_id = 5 };
	struct iovec iov = { "sub", 3 };

	sim_env_host_until(e, 1);
	e->sub = sim_dev_sub_offer(&e->d, SUB_RELID);
	HOST_CHECK(e, e->sub != NULL);
	atomic_store(&e->stage, 2);
	if (!e->sub)
		return;
	/* The sub-channel's signal comes over the device's socket: a write() of 6.18. */
	HOST_CHECK(e, sim_dev_chan_recv(&e->d, e->sub, buf, &len, &tid, NULL, 5000) == 0);
	HOST_CHECK(e, tid == 77 && len == 8 && !memcmp(buf, "hello", 5));
	/* The interrupt-page bit was the sub-channel's, never the primary's. */
	HOST_CHECK(e, e->sub->bits >= 1 && e->d.ch[0].bits == 0);
	HOST_CHECK(e, sim_dev_chan_sendv(&e->d, e->sub, &info, &iov, 1) == 0);
	sim_env_host_until(e, 3);
}

START_TEST(subchannel)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *sub;
	struct hv_chan_pkt pkt;
	char path[PATH_MAX];
	uint64_t buf[8];
	int fd;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_sub);
	ck_assert_int_eq(hv_dev_open(e.root, INSTANCE, &dev), 0);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), -ENOENT);
	atomic_store(&e.stage, 1);
	sim_env_guest_until(&e, 2);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID + 1, &sub), -ENOENT);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), 0);
	ck_assert_uint_eq(hv_chan_relid(sub), SUB_RELID);
	/* hv_uio_new_channel's SZ_2M, header page included. */
	ck_assert_uint_eq(hv_ring_data_size(hv_chan_rx_ring(sub)),
			  2 * 1024 * 1024 - (size_t)sysconf(_SC_PAGESIZE));
	ck_assert_int_eq(hv_chan_send(sub, "hello", 5, 77, 0), 0);
	ck_assert_int_eq(hv_chan_wait(sub, 5000), 0);
	ck_assert_int_eq(hv_chan_recv(sub, buf, sizeof(buf), &pkt), 0);
	ck_assert_uint_eq(pkt.trans_id, 5);
	ck_assert_mem_eq(pkt.payload, "sub", 3);
	hv_chan_close(sub);
	atomic_store(&e.stage, 3);
	sim_env_join(&e);

	/* A ring file whose halves are not whole pages, then one of no data. */
	snprintf(path, sizeof(path), "%s/channels/%u/ring", e.sr.devdir, SUB_RELID);
	ck_assert_int_eq(unlink(path), 0);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(truncate(path, 3 * 4096), 0);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), -EBADMSG);
	ck_assert_int_eq(truncate(path, 2 * 4096), 0);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), -EBADMSG);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* ---- rescind ---- */

static void play_rescind(struct sim_env *e)
{
	sim_env_host_until(e, 1);
	sim_dev_rescind(&e->d);
}

START_TEST(rescind)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[2];
	uint64_t buf[8];
	unsigned int n;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_rescind);
	guest_open(&e, &dev, &chan);
	hv_chan_set_busy_poll(chan, _i == 1);
	atomic_store(&e.stage, 1);
	ck_assert_int_eq(hv_chan_wait(chan, 5000), -ENODEV);
	sim_env_join(&e);
	ck_assert(!e.sr.kernel.crashed);
	ck_assert_int_eq(hv_chan_wait(chan, 0), -ENODEV);
	ck_assert_int_eq(hv_chan_send(chan, "z", 1, 0, 0), -ENODEV);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 2, &n), -ENODEV);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(hv_chan_recv_done(chan), -ENODEV);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), -ENODEV);
	ck_assert_int_eq(hv_dev_ack(dev, NULL), -ENODEV);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* A signal to a host that is gone is a rescind too. */
START_TEST(rescind_on_signal)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, devtype(4, -1));
	sim_env_start(&e, play_rescind);
	guest_open(&e, &dev, &chan);
	atomic_store(&e.stage, 1);
	sim_env_join(&e);
	/* The host's receive mask is clear (zeroed at open): this send signals. */
	ck_assert_int_eq(hv_chan_send(chan, "z", 1, 0, 0), -ENODEV);
	ck_assert_int_eq(hv_chan_send(chan, "z", 1, 0, 0), -ENODEV);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* ---- typed packets ---- */

struct xfer_hdr {
	uint16_t pageset;
	uint8_t owns, rsvd;
	uint32_t count;
	uint32_t r[6];
};

/* A packet of the host's, put by the device code with the host thread gone. */
static void put(struct sim_env *e, uint16_t type, uint32_t header_len, const void *hdr,
		size_t hdr_len, const void *payload, size_t len)
{
	ck_assert_int_eq(host_put(e, type, header_len, hdr, hdr_len, payload, len, type), 0);
}

START_TEST(typed_packets)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[8];
	uint64_t buf[32];
	unsigned int n;
	struct xfer_hdr x = { .pageset = 0xcafe, .owns = 1, .count = 2,
			      .r = { 100, 0, 200, 4096 } };
	/* GPA: one range of 8000 bytes at offset 100: spans two pages. */
	uint32_t gpa_good[] = { 0, 1, 8000, 100, 0x11, 0, 0x12, 0 };
	uint32_t gpa_short[] = { 0, 1, 8000, 100, 0x11, 0 };
	uint32_t gpa_huge[] = { 0, 1, 0xffffffffu, 0xffffffffu, 0, 0 };
	uint32_t gpa_count[] = { 0, 0xffffffffu, 8, 0, 1, 0 };

	env_init(&e, devtype(8, -1));
	sim_env_start(&e, NULL);
	guest_open(&e, &dev, &chan);
	sim_env_join(&e);

	/* Honest transfer-page and GPA packets are described. */
	put(&e, HV_RING_PKT_DATA_USING_XFER_PAGES, 16 + 24, &x, 24, "pl", 2);
	put(&e, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_good), gpa_good,
	    sizeof(gpa_good), "gp", 2);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(pkts[0].xfer.pageset_id, 0xcafe);
	ck_assert_uint_eq(pkts[0].xfer.sender_owns, 1);
	ck_assert_uint_eq(pkts[0].xfer.range_count, 2);
	ck_assert_uint_eq(pkts[0].xfer.ranges[1].byte_count, 200);
	ck_assert_uint_eq(pkts[0].xfer.ranges[1].byte_offset, 4096);
	ck_assert_mem_eq(pkts[0].payload, "pl", 2);
	ck_assert_uint_eq(pkts[1].gpa.range_count, 1);
	ck_assert_ptr_eq(pkts[1].gpa.ranges, pkts[1].header + 24);
	ck_assert_int_eq(hv_chan_recv_done(chan), 0);

	/* A good packet, then one whose range count lies: the first is returned. */
	put(&e, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, "ok", 2);
	x.count = 3;
	put(&e, HV_RING_PKT_DATA_USING_XFER_PAGES, 16 + 24, &x, 24, NULL, 0);
	put(&e, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, "after", 5);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EBADMSG);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(pkts[0].payload, "ok", 2);
	ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	/* The lying packet was framed correctly: it is dropped, the rest flows. */
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(pkts[0].payload, "after", 5);
	ck_assert_int_eq(hv_chan_recv_done(chan), 0);

	/* A header too short for the transfer-page fields. */
	put(&e, HV_RING_PKT_DATA_USING_XFER_PAGES, 16, NULL, 0, "abcdefgh", 8);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EBADMSG);
	ck_assert_uint_eq(n, 0);

	/* GPA ranges whose pfn arrays do not fit, whose sums overflow, whose count lies. */
	put(&e, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_short), gpa_short,
	    sizeof(gpa_short), NULL, 0);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EBADMSG);
	put(&e, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_huge), gpa_huge,
	    sizeof(gpa_huge), NULL, 0);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), -EBADMSG);
	put(&e, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_count), gpa_count,
	    sizeof(gpa_count), NULL, 0);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), -EBADMSG);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EAGAIN);

	/* The copying receive: too small a buffer consumes nothing. */
	put(&e, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_good), gpa_good,
	    sizeof(gpa_good), "gp", 2);
	ck_assert_int_eq(hv_chan_recv(chan, buf, 16, &pkts[0]), -ENOBUFS);
	ck_assert_int_eq(hv_chan_recv(chan, (uint8_t *)buf + 4, sizeof(buf) - 8, &pkts[0]),
			 -EINVAL);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), 0);
	ck_assert_uint_eq(pkts[0].gpa.range_count, 1);
	ck_assert_ptr_eq(pkts[0].header, (const uint8_t *)buf);
	ck_assert_mem_eq(pkts[0].payload, "gp", 2);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* A packet that wraps lives in the bounce buffer: the batch stops there. */
START_TEST(batch_stops_after_bounce)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[8];
	uint8_t blob[1000];
	unsigned int n, i, dsize;

	env_init(&e, devtype(2, -1));
	sim_env_start(&e, NULL);
	guest_open(&e, &dev, &chan);
	sim_env_join(&e);
	dsize = hv_ring_data_size(hv_chan_rx_ring(chan));
	ck_assert_uint_eq(dsize % 1024, 0);
	/* Move the indices near the end: each packet takes 1024 bytes. */
	for (i = 0; i < dsize / 1024 - 1; i++) {
		put(&e, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, blob, sizeof(blob));
		ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
		ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	}
	/* 528 bytes more leave 496 before the end: the next packet wraps. */
	put(&e, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, blob, 500);
	memset(blob, 0x5a, sizeof(blob));
	put(&e, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, blob, sizeof(blob));
	put(&e, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, "tail", 4);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(pkts[1].payload_len, 1000);
	for (i = 0; i < 1000; i++)
		ck_assert_uint_eq(pkts[1].payload[i], 0x5a);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts + 2, 6, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(pkts[2].payload, "tail", 4);
	ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	ck_assert_uint_eq(hv_ring_read_avail(hv_chan_rx_ring(chan)), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}
END_TEST

/* Cases as registered, to check that each one reported. */
static unsigned int registered;
#define ADD(tc, t) (tcase_add_test(tc, t), registered++)
#define ADD_LOOP(tc, t, n) (tcase_add_loop_test(tc, t, 0, (int)(n)), registered += (n))

int main(void)
{
	Suite *s = suite_create("chan");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("open");
	ADD(tc, open_handshake);
	ADD(tc, open_errors);
	ADD(tc, open_by_class);
	ADD_LOOP(tc, hostile_handshake, sizeof(hostile) / sizeof(hostile[0]));
	ADD(tc, hostile_ring_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_set_timeout(tc, 60);
	ADD(tc, send_recv_interrupts);
	ADD(tc, busy_poll);
	ADD(tc, busy_poll_signal);
	ADD(tc, drain_before_first_wait);
	ADD_LOOP(tc, pingpong_no_lost_wakeup, 2);
	ADD(tc, interrupt_decisions);
	ADD(tc, pending_send_size_rx);
	ADD(tc, pending_send_size_tx);
	ADD(tc, monitored_signal);
	ADD(tc, typed_packets);
	ADD(tc, batch_stops_after_bounce);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	ADD(tc, subchannel);
	ADD_LOOP(tc, rescind, 2);
	ADD(tc, rescind_on_signal);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	/* Every case reported, unless the environment chose some (CK_RUN_CASE). */
	if (!getenv("CK_RUN_CASE") && !getenv("CK_RUN_SUITE") &&
	    srunner_ntests_run(sr) != (int)registered) {
		fprintf(stderr, "test-chan: %d results for %u cases\n", srunner_ntests_run(sr),
			registered);
		failed = 1;
	}
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
