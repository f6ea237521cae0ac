/* SPDX-License-Identifier: ISC */
/*
 * hv-bench-ring: packets per second through one VMBus ring between two
 * processes, against two baselines measured in the same run.
 *
 * A "host" process writes packets into a ring in a MAP_SHARED memfd laid
 * out like a real channel's ring (4 KiB header, 2 MiB data); a "guest"
 * process, forked and pinned to another CPU, maps the memfd itself and
 * drains it. Three modes:
 *
 *   ours        hv_ring_write x64 + hv_ring_publish; the guest walks a batch
 *               with hv_ring_iter_* and commits every 64 packets. Waiting
 *               follows the real signalling rules: the guest spins
 *               briefly, then unmasks, re-checks and sleeps; the host,
 *               finding the ring full, sets pending_send_sz, re-checks and
 *               sleeps. Each side wakes the other on an eventfd only when
 *               lib/ring says so.
 *   limit       the simplest single-producer byte ring: length-prefixed
 *               records, memcpy in, acquire/release free-running indices,
 *               each side publishing its index once per 64 records and
 *               before it waits. It spins, then yields; it never sleeps.
 *   per-packet  the same VMBus ring driven the way Linux's
 *               tools/hv/hv_fcopy_uio_daemon.c drives it: one packet per
 *               send, and the guest copies each packet out (hv_ring_recv),
 *               releases it and signals with a write() on an eventfd, which
 *               stands for the write() on /dev/uioN.
 *
 * In every mode the guest sums every payload byte; the sum, the count and
 * the order are checked against what the host sent, and any mismatch ends
 * the program with a non-zero status.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <hvuio/ring.h>

/* What uio_hv_generic maps per direction on 4 KiB pages since Linux 6.16. */
#define HDR_SIZE     4096u
#define DATA_SIZE    (2u * 1024u * 1024u)
#define REGION_SIZE  (HDR_SIZE + DATA_SIZE)

#define BATCH        64u
#define MIN_SIZE     8u        /* the first payload word carries the sequence */
#define MAX_SIZE     65000u    /* below the guest's 64 KiB packet limit */
#define MAX_SIZES    16
#define MAX_RUNS     101

/* How long a waiting side spins before it sleeps. */
#define SPIN_NS      50000u
/* No progress for this long while waiting means a lost wakeup. */
#define STALL_NS     (10ull * 1000000000ull)

#define ALIGN8(x) (((x) + 7u) & ~7u)

enum mode { MODE_OURS, MODE_LIMIT, MODE_PERPKT, MODE_COUNT };

static const char *const mode_name[MODE_COUNT] = { "ours", "limit", "per-packet" };
static const char *const mode_json[MODE_COUNT] = { "ours", "limit", "per_packet" };

struct config {
	uint32_t sizes[MAX_SIZES];
	unsigned int nsizes;
	unsigned int runs;
	double seconds;
	uint64_t packets;        /* 0: run for `seconds` instead */
	bool json;
	int cpu_host, cpu_guest; /* -1: not pinned */
	uint64_t spin_ns;
};

/* Shared between the two processes of one measurement. */
struct ctl {
	_Alignas(64) _Atomic uint32_t ready;
	_Alignas(64) _Atomic uint32_t stop;
	_Atomic uint64_t total;
	/* Written by the guest before it exits. */
	_Alignas(64) uint64_t rx_pkts;
	uint64_t rx_sum;
	uint64_t rx_bad;         /* packets out of order or of the wrong length */
	uint64_t t_end;
};

/* Everything one side of a measurement works on. */
struct side {
	const struct config *cfg;
	struct ctl *ctl;
	uint8_t *region;
	int evt_guest;           /* host -> guest: the channel interrupt */
	int evt_host;            /* guest -> host: the write() on /dev/uioN */
	pid_t peer;              /* the guest, seen from the host; 0 in the guest */
	uint32_t size;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Sum of the payload as little-endian 64-bit words, the last one
 * zero-padded: every byte counts, and splitting the buffer at a multiple
 * of 8 does not change the result.
 */
static inline uint64_t csum(const uint8_t *p, uint32_t n)
{
	uint64_t s = 0, w;
	uint32_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, p + i, n - i);
		s += w;
	}
	return s;
}

static void check_peer(pid_t peer)
{
	int st;

	if (peer > 0 && waitpid(peer, &st, WNOHANG) == peer)
		errx(1, "guest process ended early (status %#x)", st);
}

/* A wait that spins for a while and notices when nothing happens at all. */
struct spin {
	uint64_t t0;
	uint32_t n;
};

/* Pause once; false when `budget_ns` of spinning have passed. */
static bool spin_more(struct spin *s, uint64_t budget_ns, pid_t peer)
{
	uint64_t t;

	cpu_relax();
	if (++s->n & 255u)
		return true;
	/* A guest that died must not leave the host spinning for STALL_NS. */
	if ((s->n & 0xffffu) == 0)
		check_peer(peer);
	t = now_ns();
	if (!s->t0)
		s->t0 = t;
	if (t - s->t0 > STALL_NS) {
		check_peer(peer);
		errx(1, "no progress for %llu s", STALL_NS / 1000000000ull);
	}
	return t - s->t0 < budget_ns;
}

static void evt_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		err(1, "eventfd write");
}

/* Sleep until the eventfd is written; silence for STALL_NS is a lost wakeup. */
static void evt_wait(int fd, pid_t peer)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v, waited = 0;
	int n;

	for (;;) {
		n = poll(&p, 1, 100);
		if (n > 0) {
			if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				err(1, "eventfd read");
			return;
		}
		if (n < 0 && errno != EINTR)
			err(1, "poll");
		check_peer(peer);
		waited += 100000000ull;
		if (waited >= STALL_NS)
			errx(1, "asleep for %llu s: a wakeup was lost",
			     STALL_NS / 1000000000ull);
	}
}

/* ---- host side ---- */

/* The host's payload: random bytes, the first word overwritten per packet. */
static uint8_t *payload_new(uint32_t size, uint64_t *base_sum)
{
	uint8_t *p = malloc(size);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint32_t i;

	if (!p)
		err(1, "malloc");
	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
	memset(p, 0, 8);
	*base_sum = csum(p, size);
	return p;
}

struct sender {
	uint64_t seq;
	uint64_t limit;          /* packets to send, or UINT64_MAX */
	uint64_t deadline;       /* ns, or UINT64_MAX */
	unsigned int batches;
};

/* Checked once per 8 batches: the clock costs more than a packet. */
static bool sender_done(struct sender *s)
{
	if (s->seq >= s->limit)
		return true;
	if ((++s->batches & 7u) == 0 && now_ns() >= s->deadline)
		return true;
	return false;
}

/*
 * The ring lacks room: wait until more than `want` bytes are free. Spin
 * first if asked, then ask the guest for a signal (pending_send_sz), look
 * again (it may have freed the room meanwhile) and sleep.
 */
static void host_wait_room(struct side *sd, struct hv_ring *ring, uint32_t want,
			   bool spin)
{
	struct spin s = { 0 };

	if (spin) {
		do {
			if (hv_ring_write_avail(ring) > want)
				return;
		} while (spin_more(&s, sd->cfg->spin_ns, sd->peer));
	}
	hv_ring_set_pending_send_size(ring, want);
	while (hv_ring_write_avail(ring) <= want)
		evt_wait(sd->evt_host, sd->peer);
	hv_ring_set_pending_send_size(ring, 0);
}

/*
 * What "ours" waits for once the ring is full: half of it free, not room
 * for one packet. That is the hysteresis Linux's hv_netvsc applies with
 * its ring watermarks (RING_AVAIL_PERCENT_LOWATER and _HIWATER in
 * drivers/net/hyperv/netvsc.c stop and restart the queue): the host
 * sleeps, then writes a long burst while the guest still has half a ring
 * to read, instead of polling the header line that the guest writes on
 * every commit, which slows both sides down.
 */
static uint32_t host_room_wanted(struct hv_ring *ring, uint32_t need)
{
	uint32_t half = hv_ring_data_size(ring) / 2;

	return half > need ? half : need;
}

static void host_ours(struct side *sd, struct hv_ring *ring, struct sender *snd,
		      uint8_t *payload)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	struct iovec iov = { .iov_base = payload, .iov_len = sd->size };
	uint32_t need = ALIGN8(HV_RING_DESC_SIZE + sd->size) + HV_RING_TRAILER_SIZE;
	unsigned int i;
	bool sig;
	int e;

	do {
		e = 0;
		for (i = 0; i < BATCH && snd->seq < snd->limit; i++) {
			memcpy(payload, &snd->seq, 8);
			info.trans_id = snd->seq;
			e = hv_ring_write(ring, &info, &iov, 1);
			if (e)
				break;
			snd->seq++;
		}
		hv_ring_publish(ring, &sig);
		if (sig)
			evt_signal(sd->evt_guest);
		if (e == -EAGAIN)
			host_wait_room(sd, ring, host_room_wanted(ring, need), false);
		else if (e)
			errx(1, "hv_ring_write: %s", strerror(-e));
	} while (!sender_done(snd));
}

static void host_perpkt(struct side *sd, struct hv_ring *ring, struct sender *snd,
			uint8_t *payload)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	struct iovec iov = { .iov_base = payload, .iov_len = sd->size };
	uint32_t need = ALIGN8(HV_RING_DESC_SIZE + sd->size) + HV_RING_TRAILER_SIZE;
	unsigned int i;
	bool sig;
	int e;

	do {
		for (i = 0; i < BATCH && snd->seq < snd->limit; i++) {
			memcpy(payload, &snd->seq, 8);
			info.trans_id = snd->seq;
			e = hv_ring_send(ring, &info, &iov, 1, &sig);
			if (e == -EAGAIN) {
				host_wait_room(sd, ring, need, true);
				continue;
			}
			if (e)
				errx(1, "hv_ring_send: %s", strerror(-e));
			if (sig)
				evt_signal(sd->evt_guest);
			snd->seq++;
		}
	} while (!sender_done(snd));
}

/* ---- the baseline byte ring ---- */

/* Free-running byte counts, each on its own pair of cache lines. */
struct lim_hdr {
	_Alignas(128) _Atomic uint64_t head;   /* producer: bytes written */
	_Alignas(128) _Atomic uint64_t tail;   /* consumer: bytes read */
};

#define LIM_MASK (DATA_SIZE - 1u)

_Static_assert((DATA_SIZE & LIM_MASK) == 0, "the byte ring needs a power of two");
_Static_assert(sizeof(struct lim_hdr) <= HDR_SIZE, "lim_hdr fits the header page");

static inline void lim_copy_to(uint8_t *data, uint64_t pos, const void *src, uint32_t len)
{
	uint32_t off = (uint32_t)(pos & LIM_MASK), room = DATA_SIZE - off;

	if (len <= room) {
		memcpy(data + off, src, len);
		return;
	}
	memcpy(data + off, src, room);
	memcpy(data, (const uint8_t *)src + room, len - room);
}

static void host_limit(struct side *sd, struct sender *snd, uint8_t *payload)
{
	struct lim_hdr *h = (struct lim_hdr *)sd->region;
	uint8_t *data = sd->region + HDR_SIZE;
	uint32_t rec = 8 + ALIGN8(sd->size);
	uint64_t w = 0, r = 0, len = sd->size;
	unsigned int i;

	do {
		for (i = 0; i < BATCH && snd->seq < snd->limit; i++) {
			if (w + rec - r > DATA_SIZE) {
				r = atomic_load_explicit(&h->tail, memory_order_acquire);
				if (w + rec - r > DATA_SIZE) {
					struct spin s = { 0 };

					atomic_store_explicit(&h->head, w, memory_order_release);
					do {
						if (!spin_more(&s, sd->cfg->spin_ns, sd->peer))
							sched_yield();
						r = atomic_load_explicit(&h->tail,
									 memory_order_acquire);
					} while (w + rec - r > DATA_SIZE);
				}
			}
			memcpy(data + (w & LIM_MASK), &len, 8);
			memcpy(payload, &snd->seq, 8);
			lim_copy_to(data, w + 8, payload, sd->size);
			w += rec;
			snd->seq++;
		}
		atomic_store_explicit(&h->head, w, memory_order_release);
	} while (!sender_done(snd));
}

/* ---- guest side ---- */

struct receiver {
	uint64_t seq;
	uint64_t sum;
	uint64_t bad;
};

/* True once the host has stopped and everything it sent was received. */
static bool rx_finished(const struct side *sd, const struct receiver *rx)
{
	if (!atomic_load_explicit(&sd->ctl->stop, memory_order_acquire))
		return false;
	return rx->seq >= atomic_load_explicit(&sd->ctl->total, memory_order_relaxed);
}

/*
 * The ring is empty: spin for a while with the interrupt masked, then
 * unmask, look once more (a packet published before the unmask was seen
 * raises no interrupt) and sleep.
 */
static void guest_wait(struct side *sd, struct hv_ring *ring)
{
	struct spin s = { 0 };

	do {
		if (hv_ring_read_avail(ring) ||
		    atomic_load_explicit(&sd->ctl->stop, memory_order_relaxed))
			return;
	} while (spin_more(&s, sd->cfg->spin_ns, 0));
	if (hv_ring_intr_unmask(ring) == 0 &&
	    !atomic_load_explicit(&sd->ctl->stop, memory_order_acquire))
		evt_wait(sd->evt_guest, 0);
	hv_ring_intr_mask(ring);
}

static void guest_ours(struct side *sd, struct hv_ring *ring, struct receiver *rx)
{
	uint32_t plen = ALIGN8(HV_RING_DESC_SIZE + sd->size) - HV_RING_DESC_SIZE;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	unsigned int n;
	bool sig;
	int e;

	for (;;) {
		e = hv_ring_iter_begin(ring, &it);
		if (e == -EAGAIN) {
			if (rx_finished(sd, rx))
				return;
			guest_wait(sd, ring);
			continue;
		}
		if (e)
			errx(1, "hv_ring_iter_begin: %s", strerror(-e));
		n = 0;
		while ((e = hv_ring_iter_next(&it, &pkt)) == 0) {
			if (pkt.trans_id != rx->seq || pkt.header_len != HV_RING_DESC_SIZE ||
			    hv_ring_pkt_payload_len(&pkt) != plen)
				rx->bad++;
			else
				rx->sum += csum(hv_ring_pkt_payload(&pkt), sd->size);
			rx->seq++;
			if (++n == BATCH) {
				hv_ring_iter_commit(&it, &sig);
				if (sig)
					evt_signal(sd->evt_host);
				n = 0;
			}
		}
		if (e != -EAGAIN)
			errx(1, "hv_ring_iter_next: %s", strerror(-e));
		hv_ring_iter_commit(&it, &sig);
		if (sig)
			evt_signal(sd->evt_host);
	}
}

static void guest_perpkt(struct side *sd, struct hv_ring *ring, struct receiver *rx)
{
	uint32_t plen = ALIGN8(HV_RING_DESC_SIZE + sd->size) - HV_RING_DESC_SIZE;
	size_t buflen = HV_RING_DESC_SIZE + ALIGN8(MAX_SIZE);
	uint8_t *buf = malloc(buflen);
	struct hv_ring_pkt pkt;
	uint32_t needed;
	bool sig;
	int e;

	if (!buf)
		err(1, "malloc");
	for (;;) {
		e = hv_ring_recv(ring, buf, buflen, &pkt, &needed, &sig);
		if (e == -EAGAIN) {
			if (rx_finished(sd, rx))
				break;
			guest_wait(sd, ring);
			continue;
		}
		if (e)
			errx(1, "hv_ring_recv: %s", strerror(-e));
		if (pkt.trans_id != rx->seq || pkt.header_len != HV_RING_DESC_SIZE ||
		    hv_ring_pkt_payload_len(&pkt) != plen)
			rx->bad++;
		else
			rx->sum += csum(hv_ring_pkt_payload(&pkt), sd->size);
		rx->seq++;
		/* Unconditionally, after every packet, as the uio example does. */
		evt_signal(sd->evt_host);
	}
	free(buf);
}

static void guest_limit(struct side *sd, struct receiver *rx)
{
	struct lim_hdr *h = (struct lim_hdr *)sd->region;
	const uint8_t *data = sd->region + HDR_SIZE;
	uint64_t r = 0, w = 0, len, first;
	uint32_t off, room, rec;
	unsigned int n = 0;

	for (;;) {
		if (r == w) {
			struct spin s = { 0 };

			if (n) {
				atomic_store_explicit(&h->tail, r, memory_order_release);
				n = 0;
			}
			while ((w = atomic_load_explicit(&h->head, memory_order_acquire)) == r) {
				if (rx_finished(sd, rx))
					return;
				if (!spin_more(&s, sd->cfg->spin_ns, 0))
					sched_yield();
			}
		}
		off = (uint32_t)(r & LIM_MASK);
		len = __atomic_load_n((const uint64_t *)(data + off), __ATOMIC_RELAXED);
		if (len < MIN_SIZE || len > MAX_SIZE || 8 + ALIGN8(len) > w - r)
			errx(1, "byte ring: bad record length %" PRIu64 " at %" PRIu64, len, r);
		rec = 8 + ALIGN8((uint32_t)len);
		off = (off + 8) & LIM_MASK;
		room = DATA_SIZE - off;
		memcpy(&first, data + off, 8);
		if (first != rx->seq || len != sd->size) {
			rx->bad++;
		} else if (len <= room) {
			rx->sum += csum(data + off, (uint32_t)len);
		} else {
			rx->sum += csum(data + off, room);
			rx->sum += csum(data, (uint32_t)len - room);
		}
		r += rec;
		rx->seq++;
		if (++n == BATCH) {
			atomic_store_explicit(&h->tail, r, memory_order_release);
			n = 0;
		}
	}
}

/* ---- one measurement ---- */

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		err(1, "sched_setaffinity(%d)", cpu);
}

static void __attribute__((noreturn))
guest_main(struct side *sd, int memfd, enum mode mode)
{
	struct receiver rx = { 0 };
	struct hv_ring *ring = NULL;
	int e;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		err(1, "prctl");
	pin(sd->cfg->cpu_guest);
	/* A mapping of its own, as a second process on the device would have. */
	sd->region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, memfd, 0);
	if (sd->region == MAP_FAILED)
		err(1, "guest mmap");
	sd->peer = 0;
	if (mode != MODE_LIMIT) {
		e = hv_ring_new(sd->region, REGION_SIZE, HDR_SIZE, 0, &ring);
		if (e)
			errx(1, "guest hv_ring_new: %s", strerror(-e));
		/* Polling from the start: no interrupts until we go to sleep. */
		hv_ring_intr_mask(ring);
	}
	atomic_store_explicit(&sd->ctl->ready, 1, memory_order_release);

	switch (mode) {
	case MODE_OURS:
		guest_ours(sd, ring, &rx);
		break;
	case MODE_PERPKT:
		guest_perpkt(sd, ring, &rx);
		break;
	default:
		guest_limit(sd, &rx);
		break;
	}
	sd->ctl->t_end = now_ns();
	sd->ctl->rx_pkts = rx.seq;
	sd->ctl->rx_sum = rx.sum;
	sd->ctl->rx_bad = rx.bad;
	hv_ring_free(ring);
	munmap(sd->region, REGION_SIZE);
	_exit(0);
}

struct sample {
	double pps;   /* packets per second */
	double bps;   /* payload bytes per second */
};

static struct sample measure(const struct config *cfg, struct ctl *ctl, int memfd,
			     uint8_t *region, struct hv_ring *ring, enum mode mode,
			     uint32_t size)
{
	struct side sd = { .cfg = cfg, .ctl = ctl, .region = region, .size = size };
	struct sender snd = { 0 };
	uint64_t base, expect, t0;
	uint8_t *payload;
	struct sample res;
	int st;

	payload = payload_new(size, &base);
	memset(ctl, 0, sizeof(*ctl));
	/* What opening the channel does: a fresh header, both indices at 0. */
	memset(region, 0, HDR_SIZE);
	hv_ring_reset(ring);
	sd.evt_guest = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sd.evt_host = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sd.evt_guest < 0 || sd.evt_host < 0)
		err(1, "eventfd");

	fflush(NULL);
	sd.peer = fork();
	if (sd.peer < 0)
		err(1, "fork");
	if (sd.peer == 0)
		guest_main(&sd, memfd, mode);

	while (!atomic_load_explicit(&ctl->ready, memory_order_acquire)) {
		check_peer(sd.peer);
		sched_yield();
	}
	t0 = now_ns();
	snd.limit = cfg->packets ? cfg->packets : UINT64_MAX;
	snd.deadline = cfg->packets ? UINT64_MAX : t0 + (uint64_t)(cfg->seconds * 1e9);
	switch (mode) {
	case MODE_OURS:
		host_ours(&sd, ring, &snd, payload);
		break;
	case MODE_PERPKT:
		host_perpkt(&sd, ring, &snd, payload);
		break;
	default:
		host_limit(&sd, &snd, payload);
		break;
	}
	atomic_store_explicit(&ctl->total, snd.seq, memory_order_relaxed);
	atomic_store_explicit(&ctl->stop, 1, memory_order_seq_cst);
	evt_signal(sd.evt_guest);

	if (waitpid(sd.peer, &st, 0) != sd.peer)
		err(1, "waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		errx(1, "%s, %u bytes: guest process failed (status %#x)",
		     mode_name[mode], size, st);
	close(sd.evt_guest);
	close(sd.evt_host);
	free(payload);

	/* Sum over packets of (base + seq), modulo 2^64. */
	expect = base * snd.seq + (snd.seq % 2 ? snd.seq * ((snd.seq - 1) / 2)
						: (snd.seq / 2) * (snd.seq - 1));
	if (ctl->rx_pkts != snd.seq || ctl->rx_bad || ctl->rx_sum != expect)
		errx(1, "%s, %u bytes: checksum verification failed: sent %" PRIu64
		     " packets, received %" PRIu64 ", %" PRIu64 " out of order or"
		     " malformed, sum %#" PRIx64 " expected %#" PRIx64,
		     mode_name[mode], size, snd.seq, ctl->rx_pkts, ctl->rx_bad,
		     ctl->rx_sum, expect);
	if (ctl->t_end <= t0 || snd.seq == 0)
		errx(1, "%s, %u bytes: nothing measured", mode_name[mode], size);
	res.pps = (double)snd.seq * 1e9 / (double)(ctl->t_end - t0);
	res.bps = res.pps * size;
	return res;
}

/* ---- options and report ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hv-bench-ring [--json] [--runs N] [--seconds S | --packets N]\n"
		"                     [--sizes N,N,...]\n");
}

static unsigned long parse_ulong(const char *s, const char *what, unsigned long min,
				 unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		errx(2, "%s: expected a number from %lu to %lu, got '%s'", what, min, max, s);
	return v;
}

static void parse_sizes(struct config *cfg, const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL;

	if (!copy)
		err(1, "strdup");
	cfg->nsizes = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->nsizes == MAX_SIZES)
			errx(2, "--sizes: at most %d sizes", MAX_SIZES);
		cfg->sizes[cfg->nsizes++] =
			(uint32_t)parse_ulong(tok, "--sizes", MIN_SIZE, MAX_SIZE);
	}
	free(copy);
	if (!cfg->nsizes)
		errx(2, "--sizes: no size given");
}

static void parse_args(struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json",    no_argument,       NULL, 'j' },
		{ "runs",    required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "packets", required_argument, NULL, 'p' },
		{ "sizes",   required_argument, NULL, 'z' },
		{ "help",    no_argument,       NULL, 'h' },
		{ 0 }
	};
	bool seconds = false;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cfg->json = true;
			break;
		case 'r':
			cfg->runs = (unsigned int)parse_ulong(optarg, "--runs", 1, MAX_RUNS);
			break;
		case 's':
			errno = 0;
			cfg->seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(cfg->seconds >= 0.01) ||
			    cfg->seconds > 600)
				errx(2, "--seconds: expected 0.01 to 600, got '%s'", optarg);
			seconds = true;
			break;
		case 'p':
			cfg->packets = parse_ulong(optarg, "--packets", 1, 1000000000000ul);
			break;
		case 'z':
			parse_sizes(cfg, optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (seconds && cfg->packets)
		errx(2, "--seconds and --packets exclude each other");
}

/* The first two CPUs we may run on; a single one means no pinning. */
static void choose_cpus(struct config *cfg)
{
	cpu_set_t set;
	int i, found = 0, cpus[2] = { -1, -1 };

	cfg->cpu_host = cfg->cpu_guest = -1;
	cfg->spin_ns = 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (i = 0; i < CPU_SETSIZE && found < 2; i++)
		if (CPU_ISSET(i, &set))
			cpus[found++] = i;
	if (found < 2)
		return;
	cfg->cpu_host = cpus[0];
	cfg->cpu_guest = cpus[1];
	/* Spinning only pays when the peer runs meanwhile on another CPU. */
	cfg->spin_ns = SPIN_NS;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const struct sample *s, unsigned int n, bool bytes)
{
	double v[MAX_RUNS];
	unsigned int i;

	for (i = 0; i < n; i++)
		v[i] = bytes ? s[i].bps : s[i].pps;
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_si(double v, const char *unit)
{
	if (v >= 1e9)
		printf(" %8.2f G%s", v / 1e9, unit);
	else if (v >= 1e6)
		printf(" %8.2f M%s", v / 1e6, unit);
	else
		printf(" %8.2f k%s", v / 1e3, unit);
}

/* results[size][mode][run] */
typedef struct sample results_t[MAX_SIZES][MODE_COUNT][MAX_RUNS];

static void report_table(const struct config *cfg, results_t *res)
{
	bool limit_ok = true, perpkt_ok = true, have64 = false;
	unsigned int z, m;

	if (cfg->cpu_host >= 0)
		printf("host process on CPU %d, guest process on CPU %d\n",
		       cfg->cpu_host, cfg->cpu_guest);
	else
		printf("note: only one CPU available: both processes share it and "
		       "wait by sleeping, so these figures measure the scheduler more "
		       "than the ring\n");
	printf("ring: %u KiB header + %u KiB data; batches of %u; ", HDR_SIZE / 1024,
	       DATA_SIZE / 1024, BATCH);
	if (cfg->packets)
		printf("median of %u runs of %" PRIu64 " packets\n\n", cfg->runs, cfg->packets);
	else
		printf("median of %u runs of %.2f s\n\n", cfg->runs, cfg->seconds);

	printf("%6s  %-10s %15s %15s\n", "size", "mode", "packets/s", "bytes/s");
	for (z = 0; z < cfg->nsizes; z++) {
		double pps[MODE_COUNT], rl, rp;

		for (m = 0; m < MODE_COUNT; m++) {
			pps[m] = median((*res)[z][m], cfg->runs, false);
			printf("%6u  %-10s", cfg->sizes[z], mode_name[m]);
			print_si(pps[m], "pkt/s");
			print_si(median((*res)[z][m], cfg->runs, true), "B/s");
			printf("\n");
		}
		rl = pps[MODE_OURS] / pps[MODE_LIMIT];
		rp = pps[MODE_OURS] / pps[MODE_PERPKT];
		printf("%6s  ours/limit %.2f   ours/per-packet %.2f\n\n", "", rl, rp);
		if (rl < 0.8)
			limit_ok = false;
		if (cfg->sizes[z] == 64) {
			have64 = true;
			if (rp < 3)
				perpkt_ok = false;
		}
	}
	printf("target ours/limit >= 0.8 at every size: %s\n", limit_ok ? "met" : "MISSED");
	if (have64)
		printf("target ours/per-packet >= 3 at 64 bytes: %s\n",
		       perpkt_ok ? "met" : "MISSED");
}

static void report_json(const struct config *cfg, results_t *res)
{
	unsigned int z, m, r;

	printf("{\"header_bytes\":%u,\"data_bytes\":%u,\"batch\":%u,\"runs\":%u,",
	       HDR_SIZE, DATA_SIZE, BATCH, cfg->runs);
	if (cfg->packets)
		printf("\"packets\":%" PRIu64 ",", cfg->packets);
	else
		printf("\"seconds\":%g,", cfg->seconds);
	if (cfg->cpu_host >= 0)
		printf("\"pinned\":true,\"cpus\":[%d,%d],", cfg->cpu_host, cfg->cpu_guest);
	else
		printf("\"pinned\":false,\"cpus\":[],");
	printf("\"results\":[");
	for (z = 0; z < cfg->nsizes; z++) {
		double pps[MODE_COUNT];

		printf("%s{\"size\":%u", z ? "," : "", cfg->sizes[z]);
		for (m = 0; m < MODE_COUNT; m++) {
			pps[m] = median((*res)[z][m], cfg->runs, false);
			printf(",\"%s\":{\"packets_per_s\":%.0f,\"bytes_per_s\":%.0f,"
			       "\"runs_packets_per_s\":[", mode_json[m], pps[m],
			       median((*res)[z][m], cfg->runs, true));
			for (r = 0; r < cfg->runs; r++)
				printf("%s%.0f", r ? "," : "", (*res)[z][m][r].pps);
			printf("]}");
		}
		printf(",\"ours_over_limit\":%.3f,\"ours_over_per_packet\":%.3f}",
		       pps[MODE_OURS] / pps[MODE_LIMIT], pps[MODE_OURS] / pps[MODE_PERPKT]);
	}
	printf("]}\n");
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.sizes = { 64, 256, 1500, 4096 },
		.nsizes = 4,
		.runs = 5,
		.seconds = 0.5,
	};
	struct hv_ring *ring = NULL;
	results_t *res;
	struct ctl *ctl;
	uint8_t *region;
	unsigned int r, z, m;
	bool progress;
	int memfd, e;

	parse_args(&cfg, argc, argv);
	choose_cpus(&cfg);
	pin(cfg.cpu_host);
	progress = !cfg.json && isatty(STDERR_FILENO);

	memfd = memfd_create("hv-bench-ring", MFD_CLOEXEC);
	if (memfd < 0)
		err(1, "memfd_create");
	if (ftruncate(memfd, REGION_SIZE) < 0)
		err(1, "ftruncate");
	region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_POPULATE, memfd, 0);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED || ctl == MAP_FAILED)
		err(1, "mmap");
	e = hv_ring_new(region, REGION_SIZE, HDR_SIZE, 0, &ring);
	if (e)
		errx(1, "hv_ring_new: %s", strerror(-e));
	res = calloc(1, sizeof(*res));
	if (!res)
		err(1, "calloc");

	/* Runs outermost, so slow drifts of a shared machine hit every mode alike. */
	for (r = 0; r < cfg.runs; r++) {
		if (progress)
			fprintf(stderr, "\rrun %u/%u", r + 1, cfg.runs);
		for (z = 0; z < cfg.nsizes; z++)
			for (m = 0; m < MODE_COUNT; m++)
				(*res)[z][m][r] = measure(&cfg, ctl, memfd, region, ring,
							  (enum mode)m, cfg.sizes[z]);
	}
	if (progress)
		fprintf(stderr, "\r\033[K");

	if (cfg.json)
		report_json(&cfg, res);
	else
		report_table(&cfg, res);

	free(res);
	hv_ring_free(ring);
	munmap(ctl, sizeof(*ctl));
	munmap(region, REGION_SIZE);
	close(memfd);
	return 0;
}
