/* SPDX-License-Identifier: ISC */
/*
 * Devices and channels over a sim device.
 *
 * Each case builds a sim root in a temporary directory (the sysfs files
 * discovery reads, memfds for the maps, a listening SOCK_SEQPACKET socket
 * at dev/uio0) and plays the host from a thread with lib/ring, as any
 * program may. The host can also lie: the hostile cases send handshakes
 * and packets that must be refused without a crash or a leaked
 * descriptor.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <hvuio/chan.h>
#include <hvuio/ring.h>

#include "lib/vmbus/hvuio_private.h"

#define INSTANCE "6f1b1e2a-8c3d-4e5f-9a0b-1c2d3e4f5a6b"
#define CLASS    "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define RELID    14u
#define SUB_RELID 15u

/* Ring header offsets (struct hv_ring_buffer in Linux's hyperv.h). */
#define HDR_INTERRUPT_MASK  8u
#define HDR_PENDING_SEND_SZ 12u

enum handshake {
	HS_GOOD,
	HS_WRONG_COUNT,     /* count says 7, three descriptors come */
	HS_FEWER_FDS,       /* count says 3, two descriptors come */
	HS_SHORT_MAP,       /* map 0 is half the size sysfs gives */
	HS_NONE,            /* the host hangs up without a word */
	HS_TOO_MANY_FDS,    /* more descriptors than any device has */
	HS_LONG_MSG,        /* an 8-byte first message */
};

struct sim;
typedef void (*sim_play_fn)(struct sim *s);

struct sim {
	char root[64];
	char devdir[256];
	char node[256];
	size_t page;
	size_t ring_size;        /* each direction */
	uint64_t map0_size;      /* what sysfs says */
	unsigned int nmaps;
	int monitor_id;          /* -1: not monitored */
	enum handshake hs;
	bool first_msg;          /* a packet waits in the ring at connect */
	sim_play_fn play;

	int lfd, conn;
	uint8_t *map0;
	uint8_t *monitor;        /* map 2 when monitored */
	struct hv_ring *to_guest, *from_guest;
	pthread_t thread;
	bool started;
	uint32_t intr;           /* interrupts sent */
	atomic_int host_err;     /* line of the first host-side failure */
	atomic_bool stop;       /* the host is ready for the guest's next step */
	atomic_bool go;         /* the guest is ready for the host's next step */
	void *arg;
};

#define HOST_CHECK(s, cond) do {					\
	if (!(cond) && !atomic_load(&(s)->host_err))			\
		atomic_store(&(s)->host_err, __LINE__);			\
} while (0)

static void put_file(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put_file(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	ck_assert(mkdir(buf, 0755) == 0 || errno == EEXIST);
}

static const char *map_name(unsigned int i)
{
	static const char *names[] = { "txrx_rings", "int_page", "monitor_page" };

	return names[i];
}

static uint64_t map_size(const struct sim *s, unsigned int i)
{
	return i == 0 ? s->map0_size : 4096;
}

/* The sysfs tree as hvsim(8) lays it out, and the listening node. */
static void sim_init(struct sim *s, size_t ring_size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->page = (size_t)sysconf(_SC_PAGESIZE);
	s->ring_size = ring_size;
	s->map0_size = 2 * ring_size;
	s->nmaps = 3;
	s->monitor_id = -1;
	s->lfd = s->conn = -1;
	strcpy(s->root, "/tmp/hvuio-chan-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->root));
	snprintf(s->devdir, sizeof(s->devdir), "%s/sys/bus/vmbus/devices/%s",
		 s->root, INSTANCE);
	snprintf(s->node, sizeof(s->node), "%s/dev/uio0", s->root);
	mkdirs(s->devdir);
	snprintf(dir, sizeof(dir), "%s/sys/bus/vmbus/drivers/uio_hv_generic", s->root);
	mkdirs(dir);
	snprintf(dir, sizeof(dir), "%s/dev", s->root);
	mkdirs(dir);
	/*
	 * A kernel with every fix: this host plays none of the older ones
	 * (tests/sim/test-kernels.c does, with hvsim's), and the machine's
	 * own release must not decide what the library does here.
	 */
	snprintf(dir, sizeof(dir), "%s/proc/sys/kernel", s->root);
	mkdirs(dir);
	put_file(dir, "osrelease", "6.18.0\n");
	snprintf(dir, sizeof(dir), "%s/channels/%u", s->devdir, RELID);
	mkdirs(dir);
	put_file(dir, "subchannel_id", "0\n");

	put_file(s->devdir, "class_id", "{%s}\n", CLASS);
	put_file(s->devdir, "device_id", "{%s}\n", INSTANCE);
	put_file(s->devdir, "id", "%u\n", RELID);
	snprintf(dir, sizeof(dir), "%s/driver", s->devdir);
	ck_assert_int_eq(symlink("../../../../bus/vmbus/drivers/uio_hv_generic", dir), 0);
	snprintf(dir, sizeof(dir), "%s/uio/uio0", s->devdir);
	mkdirs(dir);
	put_file(dir, "name", "uio_hv_generic\n");
	put_file(dir, "version", "0.02.1\n");
	for (i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/uio/uio0/maps/map%u", s->devdir, i);
		mkdirs(dir);
		put_file(dir, "name", "%s\n", map_name(i));
		put_file(dir, "offset", "0x0\n");
		put_file(dir, "addr", "0x%016llx\n", 0x100000000ull + i * 0x10000ull);
	}
	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->lfd, 0);
	ck_assert_uint_lt(strlen(s->node), sizeof(sa.sun_path));
	strcpy(sa.sun_path, s->node);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s->lfd, 4), 0);
}

/* Write what sysfs says now that the case has chosen its numbers. */
static void sim_write_sysfs(struct sim *s)
{
	char dir[PATH_MAX];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/uio/uio0/maps/map%u", s->devdir, i);
		put_file(dir, "size", "0x%016llx\n", (unsigned long long)map_size(s, i));
	}
	if (s->monitor_id >= 0)
		put_file(s->devdir, "monitor_id", "%d\n", s->monitor_id);
}

static int send_fds(int sock, uint32_t count, size_t msglen, const int *fds,
		    unsigned int nfds)
{
	char ctl[CMSG_SPACE(32 * sizeof(int))];
	uint8_t msgbuf[8] = { 0 };
	struct iovec iov = { msgbuf, msglen };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memcpy(msgbuf, &count, sizeof(count));
	if (nfds) {
		memset(ctl, 0, sizeof(ctl));
		msg.msg_control = ctl;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The host interrupts the guest: one message with the running count. */
static void host_interrupt(struct sim *s)
{
	uint32_t v = ++s->intr;

	HOST_CHECK(s, send(s->conn, &v, sizeof(v), MSG_NOSIGNAL) == sizeof(v));
}

static int host_send(struct sim *s, const void *data, size_t len, uint64_t id)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND, .trans_id = id };
	struct iovec iov = { (void *)data, len };
	bool sig;
	int err = hv_ring_send(s->to_guest, &info, &iov, 1, &sig);

	if (!err && sig)
		host_interrupt(s);
	return err;
}

/*
 * One message from the guest: the write() of /dev/uioN. Returns its
 * value, -ETIMEDOUT, or -EPIPE when the guest closed. As the contract
 * says, the host applies interrupt_mask = !value to the host-to-guest
 * ring, later than a kernel would.
 */
static int host_read_signal(struct sim *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->conn, .events = POLLIN };
	uint32_t v;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) == 0)
		return -ETIMEDOUT;
	n = recv(s->conn, &v, sizeof(v), 0);
	if (n <= 0)
		return -EPIPE;
	HOST_CHECK(s, n == sizeof(v));
	if (v)
		hv_ring_intr_unmask(s->to_guest);
	else
		hv_ring_intr_mask(s->to_guest);
	return (int)v;
}

/* Wait for a packet from the guest the way a careful host does. */
static int host_wait(struct sim *s, int timeout_ms)
{
	int r;

	for (;;) {
		if (hv_ring_intr_unmask(s->from_guest))
			return 0;
		r = host_read_signal(s, timeout_ms);
		if (r < 0)
			return r;
	}
}

static int memfd_sized(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void host_handshake(struct sim *s)
{
	int fds[32];
	unsigned int i, n = s->nmaps;
	uint64_t size0 = s->map0_size;

	if (s->hs == HS_SHORT_MAP)
		size0 /= 2;
	if (s->hs == HS_TOO_MANY_FDS)
		n = 20;
	for (i = 0; i < n; i++) {
		fds[i] = memfd_sized(map_name(i % 3), i == 0 ? size0 : 4096);
		HOST_CHECK(s, fds[i] >= 0);
	}
	if (s->hs == HS_GOOD) {
		s->map0 = mmap(NULL, s->map0_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fds[0], 0);
		HOST_CHECK(s, s->map0 != MAP_FAILED);
		if (s->monitor_id >= 0) {
			s->monitor = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
					  fds[2], 0);
			HOST_CHECK(s, s->monitor != MAP_FAILED);
		}
		/* Opening the channel: fresh rings, the guest's mask left at 1. */
		HOST_CHECK(s, hv_ring_new(s->map0, s->ring_size, s->page, 0,
					  &s->from_guest) == 0);
		HOST_CHECK(s, hv_ring_new(s->map0 + s->ring_size, s->ring_size, s->page,
					  0, &s->to_guest) == 0);
		hv_ring_reset(s->from_guest);
		hv_ring_reset(s->to_guest);
		hv_ring_intr_mask(s->to_guest);
		if (s->first_msg)
			HOST_CHECK(s, host_send(s, "early", 5, 1) == 0 && s->intr == 0);
	}
	switch (s->hs) {
	case HS_GOOD:
	case HS_SHORT_MAP:
	case HS_TOO_MANY_FDS:
		send_fds(s->conn, n, 4, fds, n);
		break;
	case HS_WRONG_COUNT:
		send_fds(s->conn, 7, 4, fds, n);
		break;
	case HS_FEWER_FDS:
		send_fds(s->conn, n, 4, fds, n - 1);
		break;
	case HS_LONG_MSG:
		send_fds(s->conn, n, 8, fds, n);
		break;
	case HS_NONE:
		break;
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
}

static void *host_main(void *arg)
{
	struct sim *s = arg;

	s->conn = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	HOST_CHECK(s, s->conn >= 0);
	if (s->conn < 0)
		return NULL;
	host_handshake(s);
	if (s->hs == HS_GOOD && s->play)
		s->play(s);
	if (s->hs != HS_GOOD) {
		close(s->conn);
		s->conn = -1;
	}
	return NULL;
}

static void sim_start(struct sim *s)
{
	sim_write_sysfs(s);
	atomic_init(&s->host_err, 0);
	atomic_init(&s->stop, false);
	atomic_init(&s->go, false);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, host_main, s), 0);
	s->started = true;
}

static void sim_join(struct sim *s)
{
	if (s->started)
		pthread_join(s->thread, NULL);
	s->started = false;
	ck_assert_msg(atomic_load(&s->host_err) == 0, "host check failed at line %d",
		      atomic_load(&s->host_err));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void sim_fini(struct sim *s)
{
	sim_join(s);
	hv_ring_free(s->to_guest);
	hv_ring_free(s->from_guest);
	if (s->map0 && s->map0 != MAP_FAILED)
		munmap(s->map0, s->map0_size);
	if (s->monitor && s->monitor != MAP_FAILED)
		munmap(s->monitor, 4096);
	if (s->conn >= 0)
		close(s->conn);
	close(s->lfd);
	nftw(s->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Open the device and its primary channel. */
static void guest_open(struct sim *s, struct hv_dev **dev, struct hv_chan **chan)
{
	ck_assert_int_eq(hv_dev_open(s->root, INSTANCE, dev), 0);
	ck_assert_int_eq(hv_chan_open(*dev, chan), 0);
}

/* Wait for the host thread to be done with the handshake part. */
static void host_idle(struct sim *s)
{
	while (!atomic_load(&s->stop))
		usleep(1000);
}

/* ---- opening ---- */

START_TEST(open_handshake)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan, *again;
	uint32_t count;

	sim_init(&s, 4 * 4096);
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	sim_join(&s);
	ck_assert(hv_dev_is_sim(dev));
	ck_assert_str_eq(hv_dev_instance(dev), INSTANCE);
	ck_assert_int_ge(hv_dev_fd(dev), 0);
	ck_assert_uint_eq(hv_chan_relid(chan), RELID);
	ck_assert_uint_eq(hv_ring_data_size(hv_chan_tx_ring(chan)), 4 * 4096 - s.page);
	ck_assert_uint_eq(hv_ring_data_size(hv_chan_rx_ring(chan)), 4 * 4096 - s.page);
	/* The same region must not get two sets of private indices. */
	ck_assert_int_eq(hv_chan_open(dev, &again), -EBUSY);
	/* Nothing pending yet. */
	ck_assert_int_eq(hv_dev_ack(dev, &count), -EAGAIN);
	/* The guest's TX ring is the first half of map 0, as the host sees it. */
	ck_assert_int_eq(hv_chan_send(chan, "abc", 3, 9, 0), 0);
	ck_assert_uint_eq(hv_ring_read_avail(s.from_guest), 32);
	hv_chan_close(chan);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

START_TEST(open_errors)
{
	struct sim s;
	struct hv_dev *dev;
	char path[PATH_MAX];

	sim_init(&s, 4 * 4096);
	sim_write_sysfs(&s);
	ck_assert_int_eq(hv_dev_open(s.root, "00000000-0000-0000-0000-000000000001", &dev),
			 -ENOENT);
	/* Not bound to uio_hv_generic: no uio directory. */
	snprintf(path, sizeof(path), "%s/uio/uio0", s.devdir);
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(path, sizeof(path), "%s/uio", s.devdir);
	rmdir(path);
	ck_assert_int_eq(hv_dev_open(s.root, INSTANCE, &dev), -ENXIO);
	sim_fini(&s);
}
END_TEST

START_TEST(open_by_class)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;

	sim_init(&s, 4 * 4096);
	sim_start(&s);
	ck_assert_int_eq(hv_dev_open(s.root, CLASS, &dev), 0);
	ck_assert_str_eq(hv_dev_instance(dev), INSTANCE);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* ---- hostile handshakes ---- */

static const struct {
	enum handshake hs;
	int err;
} hostile[] = {
	{ HS_WRONG_COUNT, -EBADMSG },
	{ HS_FEWER_FDS, -EBADMSG },
	{ HS_SHORT_MAP, -EBADMSG },
	{ HS_NONE, -EBADMSG },
	{ HS_TOO_MANY_FDS, -EBADMSG },
	{ HS_LONG_MSG, -EBADMSG },
};

START_TEST(hostile_handshake)
{
	struct sim s;
	struct hv_dev *dev = NULL;
	int before;

	sim_init(&s, 4 * 4096);
	s.hs = hostile[_i].hs;
	before = count_fds();
	sim_start(&s);
	ck_assert_int_eq(hv_dev_open(s.root, INSTANCE, &dev), hostile[_i].err);
	sim_join(&s);
	ck_assert_int_eq(count_fds(), before);
	sim_fini(&s);
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
	struct sim s;
	struct hv_dev *dev;
	unsigned int i;
	int before;

	sim_init(&s, 4 * 4096);
	before = count_fds();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		s.map0_size = sizes[i];
		sim_write_sysfs(&s);
		ck_assert_int_lt(hv_dev_open(s.root, INSTANCE, &dev), 0);
	}
	s.map0_size = 0x3000;
	sim_write_sysfs(&s);
	ck_assert_int_eq(hv_dev_open(s.root, INSTANCE, &dev), -EBADMSG);
	ck_assert_int_eq(count_fds(), before);
	sim_fini(&s);
}
END_TEST

/* ---- data both ways ---- */

static void play_echo(struct sim *s)
{
	uint64_t buf[64];
	struct hv_ring_pkt p;
	int n = (int)(intptr_t)s->arg, i;

	for (i = 0; i < n; i++) {
		bool sig;

		if (host_wait(s, 5000)) {
			HOST_CHECK(s, 0);
			break;
		}
		HOST_CHECK(s, hv_ring_recv(s->from_guest, buf, sizeof(buf), &p, NULL,
					   &sig) == 0);
		HOST_CHECK(s, p.trans_id == (uint64_t)i);
		HOST_CHECK(s, host_send(s, hv_ring_pkt_payload(&p), 8, p.trans_id + 1000) == 0);
	}
	atomic_store(&s->stop, true);
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
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	uint32_t count;
	int i;

	sim_init(&s, 4 * 4096);
	s.play = play_echo;
	s.arg = (void *)(intptr_t)20;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	for (i = 0; i < 20; i++)
		echo_round(chan, i, i % 2);
	sim_join(&s);
	/*
	 * Every reply after the first wait found an empty, unmasked ring:
	 * one interrupt each. The first may have come before we unmasked.
	 */
	ck_assert_uint_ge(s.intr, 19);
	ck_assert_uint_le(s.intr, 20);
	hv_dev_ack(dev, NULL);
	ck_assert_int_eq(hv_dev_ack(dev, &count), -EAGAIN);
	ck_assert_uint_eq(count, s.intr);
	ck_assert_int_eq(hv_chan_wait(chan, 10), -ETIMEDOUT);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

static void play_stream(struct sim *s)
{
	int n = (int)(intptr_t)s->arg, i;
	uint64_t v;

	while (!atomic_load(&s->go))
		usleep(1000);
	HOST_CHECK(s, *(_Atomic uint32_t *)(s->map0 + s->ring_size + HDR_INTERRUPT_MASK) == 1);
	for (i = 0; i < n; i++) {
		v = (uint64_t)i;
		while (host_send(s, &v, sizeof(v), v) == -EAGAIN)
			sched_yield();
	}
	atomic_store(&s->stop, true);
}

START_TEST(busy_poll)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[16];
	unsigned int n, k;
	uint64_t next = 0, v;
	int err;

	sim_init(&s, 4 * 4096);
	s.play = play_stream;
	s.arg = (void *)(intptr_t)2000;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	/* Unmask once, as a waiter would, then switch: the mask must go up. */
	ck_assert_int_eq(hv_chan_wait(chan, 0), -ETIMEDOUT);
	ck_assert_uint_eq(*(_Atomic uint32_t *)(s.map0 + s.ring_size + HDR_INTERRUPT_MASK), 0);
	hv_chan_set_busy_poll(chan, true);
	atomic_store(&s.go, true);
	while (next < 2000) {
		ck_assert_int_eq(hv_chan_wait(chan, 5000), 0);
		err = hv_chan_recv_batch(chan, pkts, 16, &n);
		ck_assert_int_eq(err, 0);
		for (k = 0; k < n; k++) {
			memcpy(&v, pkts[k].payload, sizeof(v));
			ck_assert_uint_eq(v, next);
			ck_assert_uint_eq(pkts[k].trans_id, next);
			next++;
		}
		ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	}
	sim_join(&s);
	/* The mask was up the whole time: the host never interrupted. */
	ck_assert_uint_eq(s.intr, 0);
	ck_assert_int_eq(hv_dev_ack(dev, NULL), -EAGAIN);
	/* Our signal makes the host clear the mask, late: waiting sets it again. */
	ck_assert_int_eq(hv_chan_send(chan, "bye", 3, 0, 0), 0);
	ck_assert_int_eq(host_read_signal(&s, 1000), 1);
	ck_assert_uint_eq(*(_Atomic uint32_t *)(s.map0 + s.ring_size + HDR_INTERRUPT_MASK), 0);
	ck_assert_int_eq(hv_chan_wait(chan, 20), -ETIMEDOUT);
	ck_assert_uint_eq(*(_Atomic uint32_t *)(s.map0 + s.ring_size + HDR_INTERRUPT_MASK), 1);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* The first message is in the ring before the guest exists, mask at 1. */
START_TEST(drain_before_first_wait)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkt;
	uint64_t buf[8];

	sim_init(&s, 4 * 4096);
	s.first_msg = true;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	sim_join(&s);
	ck_assert_uint_eq(s.intr, 0);
	/* Nothing will ever interrupt: only the re-check finds it. */
	ck_assert_int_eq(hv_chan_wait(chan, 2000), 0);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkt), 0);
	ck_assert_uint_eq(pkt.payload_len, 8);
	ck_assert_mem_eq(pkt.payload, "early", 5);
	ck_assert_int_eq(hv_chan_wait(chan, 10), -ETIMEDOUT);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

#define PINGPONG 10000

START_TEST(pingpong_no_lost_wakeup)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	int i;

	sim_init(&s, 4 * 4096);
	s.play = play_echo;
	s.arg = (void *)(intptr_t)PINGPONG;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	/* A lost wakeup shows as a 5-second timeout on either side. */
	for (i = 0; i < PINGPONG; i++)
		echo_round(chan, i, i & 1);
	sim_join(&s);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* ---- the host's and the guest's interrupt decisions ---- */

static void play_burst(struct sim *s)
{
	uint64_t v;
	int i;

	/* Three packets at once: only the first finds the ring empty. */
	for (i = 0; i < 3; i++) {
		v = (uint64_t)i;
		HOST_CHECK(s, host_send(s, &v, sizeof(v), v) == 0);
	}
	/* The guest sends three; we have not read: one signal only. */
	HOST_CHECK(s, host_read_signal(s, 5000) == 1);
	HOST_CHECK(s, host_read_signal(s, 200) == -ETIMEDOUT);
	for (i = 0; i < 3; i++) {
		uint64_t buf[8];
		struct hv_ring_pkt p;
		bool sig;

		HOST_CHECK(s, hv_ring_recv(s->from_guest, buf, sizeof(buf), &p, NULL,
					   &sig) == 0 && p.trans_id == (uint64_t)i);
	}
	/* Empty again but masked on our side: the guest must not signal. */
	hv_ring_intr_mask(s->from_guest);
	atomic_store(&s->stop, true);
	HOST_CHECK(s, host_read_signal(s, 300) == -ETIMEDOUT);
}

START_TEST(interrupt_decisions)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[8];
	unsigned int n;
	uint32_t count;
	int i;

	sim_init(&s, 4 * 4096);
	s.play = play_burst;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	/* Unmask before the host writes, or no interrupt would be due. */
	ck_assert_int_eq(hv_chan_wait(chan, 5000), 0);
	usleep(100 * 1000);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(hv_chan_send(chan, "x", 1, (uint64_t)i, 0), 0);
	host_idle(&s);
	ck_assert_int_eq(hv_chan_send(chan, "y", 1, 9, 0), 0);
	sim_join(&s);
	/*
	 * Three packets, at most one interrupt: none if the host wrote
	 * before our first wait unmasked.
	 */
	ck_assert_uint_le(s.intr, 1);
	ck_assert_int_ne(hv_dev_ack(dev, &count), -ENODEV);
	ck_assert_uint_eq(count, s.intr);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* The host fills our RX ring and waits for room: we must tell it. */
static void play_fill(struct sim *s)
{
	uint8_t blob[512] = { 0 };
	uint32_t sent = 0;

	while (host_send(s, blob, sizeof(blob), sent) == 0)
		sent++;
	s->arg = (void *)(intptr_t)sent;
	/* Ask to hear when a whole ring's worth minus one packet is free. */
	hv_ring_set_pending_send_size(s->to_guest, hv_ring_data_size(s->to_guest) - 1024);
	HOST_CHECK(s, hv_ring_write_avail(s->to_guest) <= 1024);
	atomic_store(&s->stop, true);
	/* No signal until enough is free, then exactly one. */
	HOST_CHECK(s, host_read_signal(s, 5000) == 1);
	HOST_CHECK(s, hv_ring_write_avail(s->to_guest) > hv_ring_data_size(s->to_guest) - 1024);
	HOST_CHECK(s, host_read_signal(s, 200) == -ETIMEDOUT);
}

START_TEST(pending_send_size_rx)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[4];
	uint8_t buf[1024] __attribute__((aligned(8)));
	unsigned int n, total = 0;
	int err;

	sim_init(&s, 4 * 4096);
	s.play = play_fill;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	hv_chan_set_busy_poll(chan, true);
	host_idle(&s);
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
	sim_join(&s);
	ck_assert_uint_eq(total, (unsigned int)(intptr_t)s.arg);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* Our TX ring full: pending_send_sz makes the host interrupt us. */
static void play_drain_later(struct sim *s)
{
	uint64_t buf[128];
	struct hv_ring_pkt p;
	bool sig;

	while (!atomic_load(&s->stop))
		usleep(1000);
	while (hv_ring_recv(s->from_guest, buf, sizeof(buf), &p, NULL, &sig) == 0)
		if (sig)
			host_interrupt(s);
}

START_TEST(pending_send_size_tx)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	uint8_t blob[256] = { 0 };
	struct pollfd pfd;
	unsigned int sent = 0;

	sim_init(&s, 4 * 4096);
	s.play = play_drain_later;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	while (hv_chan_send(chan, blob, sizeof(blob), sent, 0) == 0)
		sent++;
	ck_assert_uint_gt(sent, 4);
	hv_ring_set_pending_send_size(hv_chan_tx_ring(chan), 2048);
	ck_assert_uint_eq(*(_Atomic uint32_t *)(s.map0 + HDR_PENDING_SEND_SZ), 2048);
	atomic_store(&s.stop, true);
	pfd.fd = hv_dev_fd(dev);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(hv_dev_ack(dev, NULL), 0);
	sim_join(&s);
	ck_assert_uint_eq(s.intr, 1);
	ck_assert_int_eq(hv_chan_send(chan, blob, sizeof(blob), sent, 0), 0);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* ---- monitored channels signal through the monitor page ---- */

static void play_monitor(struct sim *s)
{
	_Atomic uint32_t *pending = (_Atomic uint32_t *)(s->monitor + 8 + 8 * (37 / 32));

	hv_ring_intr_unmask(s->from_guest);
	atomic_store(&s->stop, true);
	/* No write() for a monitored channel: the bit, and silence. */
	HOST_CHECK(s, host_read_signal(s, 300) == -ETIMEDOUT);
	HOST_CHECK(s, atomic_load(pending) == 1u << (37 % 32));
	HOST_CHECK(s, *(uint32_t *)(s->monitor + 8) == 0);
}

START_TEST(monitored_signal)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;

	sim_init(&s, 4 * 4096);
	s.monitor_id = 37;
	s.play = play_monitor;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	host_idle(&s);
	ck_assert_int_eq(hv_chan_send(chan, "m", 1, 1, 0), 0);
	sim_join(&s);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* ---- subchannels ---- */

static void play_sub(struct sim *s)
{
	struct hv_ring *to, *from;
	uint8_t *ring = s->arg;
	uint64_t buf[8];
	struct hv_ring_pkt p;
	struct iovec iov = { "sub", 3 };
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND, .trans_id = 5 };
	bool sig;

	HOST_CHECK(s, hv_ring_new(ring, 2 * 4096, s->page, 0, &from) == 0);
	HOST_CHECK(s, hv_ring_new(ring + 2 * 4096, 2 * 4096, s->page, 0, &to) == 0);
	hv_ring_reset(from);
	hv_ring_reset(to);
	atomic_store(&s->stop, true);
	/* The subchannel's signal comes over the device's socket. */
	HOST_CHECK(s, host_read_signal(s, 5000) == 1);
	HOST_CHECK(s, hv_ring_recv(from, buf, sizeof(buf), &p, NULL, &sig) == 0);
	HOST_CHECK(s, p.trans_id == 77 && !memcmp(hv_ring_pkt_payload(&p), "hello", 5));
	HOST_CHECK(s, hv_ring_send(to, &info, &iov, 1, &sig) == 0);
	if (sig)
		host_interrupt(s);
	hv_ring_free(to);
	hv_ring_free(from);
}

START_TEST(subchannel)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *sub;
	struct hv_chan_pkt pkt;
	char dir[512], path[PATH_MAX];
	uint64_t buf[8];
	void *ring;
	int fd;

	sim_init(&s, 4 * 4096);
	snprintf(dir, sizeof(dir), "%s/channels/%u", s.devdir, SUB_RELID);
	mkdirs(dir);
	put_file(dir, "subchannel_id", "1\n");
	snprintf(path, sizeof(path), "%s/ring", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 * 4096), 0);
	ring = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(ring, MAP_FAILED);
	close(fd);
	s.play = play_sub;
	s.arg = ring;
	sim_start(&s);
	ck_assert_int_eq(hv_dev_open(s.root, INSTANCE, &dev), 0);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID + 1, &sub), -ENOENT);
	host_idle(&s);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), 0);
	ck_assert_uint_eq(hv_chan_relid(sub), SUB_RELID);
	ck_assert_uint_eq(hv_ring_data_size(hv_chan_rx_ring(sub)), 2 * 4096 - s.page);
	ck_assert_int_eq(hv_chan_send(sub, "hello", 5, 77, 0), 0);
	ck_assert_int_eq(hv_chan_wait(sub, 5000), 0);
	ck_assert_int_eq(hv_chan_recv(sub, buf, sizeof(buf), &pkt), 0);
	ck_assert_uint_eq(pkt.trans_id, 5);
	ck_assert_mem_eq(pkt.payload, "sub", 3);
	sim_join(&s);
	hv_chan_close(sub);

	/* A ring file whose halves are not whole pages. */
	snprintf(path, sizeof(path), "%s/ring", dir);
	ck_assert_int_eq(truncate(path, 3 * 4096), 0);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), -EBADMSG);
	ck_assert_int_eq(truncate(path, 2 * 4096), 0);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), -EBADMSG);
	hv_dev_close(dev);
	munmap(ring, 4 * 4096);
	sim_fini(&s);
}
END_TEST

/* ---- rescind ---- */

static void play_rescind(struct sim *s)
{
	atomic_store(&s->stop, true);
	usleep(50 * 1000);
	close(s->conn);
	s->conn = -1;
}

START_TEST(rescind)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[2];
	uint64_t buf[8];
	unsigned int n;

	sim_init(&s, 4 * 4096);
	s.play = play_rescind;
	s.arg = (void *)(intptr_t)_i;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	hv_chan_set_busy_poll(chan, _i == 1);
	ck_assert_int_eq(hv_chan_wait(chan, 5000), -ENODEV);
	sim_join(&s);
	ck_assert_int_eq(hv_chan_wait(chan, 0), -ENODEV);
	ck_assert_int_eq(hv_chan_send(chan, "z", 1, 0, 0), -ENODEV);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 2, &n), -ENODEV);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(hv_chan_recv_done(chan), -ENODEV);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), -ENODEV);
	ck_assert_int_eq(hv_dev_ack(dev, NULL), -ENODEV);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* A signal to a host that is gone is a rescind too. */
START_TEST(rescind_on_signal)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;

	sim_init(&s, 4 * 4096);
	s.play = play_rescind;
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	sim_join(&s);
	/* The RX mask of the host's side is clear: this send signals. */
	hv_ring_intr_unmask(s.from_guest);
	ck_assert_int_eq(hv_chan_send(chan, "z", 1, 0, 0), -ENODEV);
	ck_assert_int_eq(hv_chan_send(chan, "z", 1, 0, 0), -ENODEV);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_fini(&s);
}
END_TEST

/* ---- typed packets ---- */

static void host_put(struct sim *s, uint16_t type, uint32_t header_len,
		     const void *hdr, size_t hdr_len, const void *payload, size_t len)
{
	struct hv_ring_pkt_info info = { .type = type, .header_len = header_len,
					 .trans_id = type };
	struct iovec iov[2] = { { (void *)hdr, hdr_len }, { (void *)payload, len } };
	bool sig;

	ck_assert_int_eq(hv_ring_send(s->to_guest, &info, iov, 2, &sig), 0);
}

struct xfer_hdr {
	uint16_t pageset;
	uint8_t owns, rsvd;
	uint32_t count;
	uint32_t r[6];
};

START_TEST(typed_packets)
{
	struct sim s;
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

	sim_init(&s, 8 * 4096);
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	sim_join(&s);

	/* Honest transfer-page and GPA packets are described. */
	host_put(&s, HV_RING_PKT_DATA_USING_XFER_PAGES, 16 + 24, &x, 24, "pl", 2);
	host_put(&s, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_good), gpa_good,
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
	host_put(&s, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, "ok", 2);
	x.count = 3;
	host_put(&s, HV_RING_PKT_DATA_USING_XFER_PAGES, 16 + 24, &x, 24, NULL, 0);
	host_put(&s, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, "after", 5);
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
	host_put(&s, HV_RING_PKT_DATA_USING_XFER_PAGES, 16, NULL, 0, "abcdefgh", 8);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EBADMSG);
	ck_assert_uint_eq(n, 0);

	/* GPA ranges whose pfn arrays do not fit, whose sums overflow, whose count lies. */
	host_put(&s, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_short), gpa_short,
		 sizeof(gpa_short), NULL, 0);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EBADMSG);
	host_put(&s, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_huge), gpa_huge,
		 sizeof(gpa_huge), NULL, 0);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), -EBADMSG);
	host_put(&s, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_count), gpa_count,
		 sizeof(gpa_count), NULL, 0);
	ck_assert_int_eq(hv_chan_recv(chan, buf, sizeof(buf), &pkts[0]), -EBADMSG);
	ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), -EAGAIN);

	/* The copying receive: too small a buffer consumes nothing. */
	host_put(&s, HV_RING_PKT_DATA_USING_GPA_DIRECT, 16 + sizeof(gpa_good), gpa_good,
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
	sim_fini(&s);
}
END_TEST

/* A packet that wraps lives in the bounce buffer: the batch stops there. */
START_TEST(batch_stops_after_bounce)
{
	struct sim s;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkts[8];
	uint8_t blob[1000];
	unsigned int n, i, dsize;

	sim_init(&s, 2 * 4096);
	sim_start(&s);
	guest_open(&s, &dev, &chan);
	sim_join(&s);
	dsize = hv_ring_data_size(hv_chan_rx_ring(chan));
	/* Move the indices near the end: each packet takes 1024 bytes. */
	for (i = 0; i < dsize / 1024 - 1; i++) {
		host_put(&s, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, blob, sizeof(blob));
		ck_assert_int_eq(hv_chan_recv_batch(chan, pkts, 8, &n), 0);
		ck_assert_int_eq(hv_chan_recv_done(chan), 0);
	}
	/* 528 bytes more leave 496 before the end: the next packet wraps. */
	host_put(&s, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, blob, 500);
	memset(blob, 0x5a, sizeof(blob));
	host_put(&s, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, blob, sizeof(blob));
	host_put(&s, HV_RING_PKT_DATA_INBAND, 16, NULL, 0, "tail", 4);
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
	sim_fini(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chan");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("open");
	tcase_add_test(tc, open_handshake);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, open_by_class);
	tcase_add_loop_test(tc, hostile_handshake, 0, sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_test(tc, hostile_ring_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, send_recv_interrupts);
	tcase_add_test(tc, busy_poll);
	tcase_add_test(tc, drain_before_first_wait);
	tcase_add_test(tc, pingpong_no_lost_wakeup);
	tcase_add_test(tc, interrupt_decisions);
	tcase_add_test(tc, pending_send_size_rx);
	tcase_add_test(tc, pending_send_size_tx);
	tcase_add_test(tc, monitored_signal);
	tcase_add_test(tc, typed_packets);
	tcase_add_test(tc, batch_stops_after_bounce);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_test(tc, subchannel);
	tcase_add_loop_test(tc, rescind, 0, 2);
	tcase_add_test(tc, rescind_on_signal);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
