/* SPDX-License-Identifier: ISC */
/*
 * The ring under real concurrency: producer threads against a consumer
 * thread in one process, and a producer and a consumer in two processes
 * sharing the region, woken only by the library's signalling decisions.
 * Built plainly and under ThreadSanitizer (see meson.build).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring-test.h"

/* What each packet carries before its random bytes. */
struct mt_head {
	uint32_t producer;
	uint32_t seq;
	uint32_t len;   /* random bytes after this header */
	uint32_t sum;   /* FNV-1a of them */
};

#define MT_MAX_BODY 200u

static uint32_t fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* Fill body with len random bytes; returns the header that describes them. */
static struct mt_head mt_make(uint32_t producer, uint32_t seq, uint32_t *rng,
			      uint8_t *body)
{
	struct mt_head h = { .producer = producer, .seq = seq };
	uint32_t i;

	h.len = xorshift(rng) % (MT_MAX_BODY + 1);
	for (i = 0; i < h.len; i++)
		body[i] = (uint8_t)xorshift(rng);
	h.sum = fnv1a(body, h.len);
	return h;
}

/* 0 if the packet is whole; otherwise what is wrong with it. */
static const char *mt_check(const struct hv_ring_pkt *pkt, struct mt_head *h)
{
	const uint8_t *p = hv_ring_pkt_payload(pkt);
	uint32_t plen = hv_ring_pkt_payload_len(pkt), i;

	if (pkt->type != HV_RING_PKT_DATA_INBAND || pkt->header_len != 16)
		return "descriptor";
	if (plen < sizeof(*h))
		return "short";
	memcpy(h, p, sizeof(*h));
	if (h->len > plen - sizeof(*h) || plen - sizeof(*h) - h->len >= 8)
		return "length";
	if (fnv1a(p + sizeof(*h), h->len) != h->sum)
		return "checksum";
	for (i = (uint32_t)sizeof(*h) + h->len; i < plen; i++)
		if (p[i])
			return "padding";
	if (pkt->trans_id != ((uint64_t)h->producer << 32 | h->seq))
		return "trans_id";
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- threads: hv_ring_send_mp ---- */

/* RING_MT_PER_PRODUCER in the environment overrides the count (TSan run). */
#define MP_PRODUCERS 4
#define MP_PER_PRODUCER 250000u
#define MP_DEADLINE 60.0

struct mp_state {
	struct hv_ring *ring;
	uint32_t per_producer;
	_Atomic unsigned int errors;
	_Atomic unsigned long signals;
	_Atomic unsigned long full;
	_Atomic bool abort;
	char first_error[160];
	_Atomic bool have_error;
};

struct mp_producer {
	struct mp_state *st;
	uint32_t id;
};

static void mp_fail(struct mp_state *st, const char *what, uint32_t a, uint32_t b)
{
	bool no = false;

	atomic_fetch_add(&st->errors, 1);
	if (atomic_compare_exchange_strong(&st->have_error, &no, true))
		snprintf(st->first_error, sizeof(st->first_error), "%s (%u, %u)", what, a, b);
	atomic_store(&st->abort, true);
}

static void *mp_produce(void *arg)
{
	struct mp_producer *me = arg;
	struct mp_state *st = me->st;
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	uint8_t body[MT_MAX_BODY];
	uint32_t rng = 0x9e3779b9u * (me->id + 1), seq;
	unsigned long signals = 0, full = 0;
	struct mt_head h;
	struct iovec iov[2];
	bool sig;
	int err;

	for (seq = 0; seq < st->per_producer && !atomic_load(&st->abort); seq++) {
		h = mt_make(me->id, seq, &rng, body);
		iov[0] = (struct iovec){ &h, sizeof(h) };
		iov[1] = (struct iovec){ body, h.len };
		info.trans_id = (uint64_t)me->id << 32 | seq;
		while ((err = hv_ring_send_mp(st->ring, &info, iov, 2, &sig)) == -EAGAIN) {
			full++;
			if (atomic_load(&st->abort))
				break;
			sched_yield();
		}
		if (err) {
			if (err != -EAGAIN)
				mp_fail(st, "send_mp failed", me->id, (uint32_t)-err);
			break;
		}
		signals += sig;
	}
	atomic_fetch_add(&st->signals, signals);
	atomic_fetch_add(&st->full, full);
	return NULL;
}

START_TEST(multi_producer)
{
	const char *env = getenv("RING_MT_PER_PRODUCER");
	struct mp_state st = {
		.per_producer = env ? (uint32_t)strtoul(env, NULL, 10) : MP_PER_PRODUCER,
	};
	struct mp_producer prod[MP_PRODUCERS];
	pthread_t th[MP_PRODUCERS];
	uint32_t next[MP_PRODUCERS] = { 0 };
	uint64_t total = (uint64_t)MP_PRODUCERS * st.per_producer, got = 0;
	const char *bad;
	struct rt_region rg;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct mt_head h;
	double t0 = now(), last = t0;
	unsigned long batches = 0;
	int i, err;

	rt_region_init(&rg, 4096 + 65536, 4096);
	st.ring = rt_ring_new(&rg, 0);
	for (i = 0; i < MP_PRODUCERS; i++) {
		prod[i] = (struct mp_producer){ &st, (uint32_t)i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, mp_produce, &prod[i]), 0);
	}

	/* This thread is the consumer. */
	while (got < total && !atomic_load(&st.abort)) {
		err = hv_ring_iter_begin(st.ring, &it);
		if (err == -EAGAIN) {
			if (now() - last > MP_DEADLINE) {
				mp_fail(&st, "no progress", (uint32_t)got, 0);
				break;
			}
			sched_yield();
			continue;
		}
		if (err) {
			mp_fail(&st, "iter_begin", (uint32_t)-err, 0);
			break;
		}
		while ((err = hv_ring_iter_next(&it, &pkt)) == 0) {
			bad = mt_check(&pkt, &h);
			if (bad) {
				mp_fail(&st, bad, (uint32_t)got, 0);
				break;
			}
			if (h.producer >= MP_PRODUCERS || h.seq != next[h.producer]) {
				mp_fail(&st, "order, loss or duplicate", h.producer, h.seq);
				break;
			}
			next[h.producer]++;
			got++;
		}
		if (err && err != -EAGAIN)
			mp_fail(&st, "iter_next", (uint32_t)-err, (uint32_t)got);
		hv_ring_iter_commit(&it, NULL);
		batches++;
		last = now();
	}
	for (i = 0; i < MP_PRODUCERS; i++)
		pthread_join(th[i], NULL);

	ck_assert_msg(!atomic_load(&st.have_error), "%s", st.first_error);
	ck_assert_uint_eq(got, total);
	for (i = 0; i < MP_PRODUCERS; i++)
		ck_assert_uint_eq(next[i], st.per_producer);
	/* Everything consumed, nothing left over. */
	ck_assert_int_eq(hv_ring_iter_begin(st.ring, &it), -EAGAIN);
	ck_assert_uint_eq(rt_hdr_get(&rg, RT_READ_INDEX), rt_hdr_get(&rg, RT_WRITE_INDEX));
	ck_assert_uint_ge(atomic_load(&st.signals), 1);
	fprintf(stderr, "multi_producer: %llu packets in %.2f s, %lu batches, "
		"%lu signals, %lu full\n", (unsigned long long)got, now() - t0,
		batches, atomic_load(&st.signals), atomic_load(&st.full));
	hv_ring_free(st.ring);
	rt_region_fini(&rg);
}
END_TEST

/* ---- two processes over a memfd, woken by eventfds ---- */

#define XP_PACKETS 200000u
#define XP_BATCH 8
#define XP_TIMEOUT_MS 20000
#define XP_HDR 4096u
#define XP_DATA 16384u

static int xp_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;
	int n;

	do
		n = poll(&p, 1, XP_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -ETIMEDOUT;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -EIO;
	return 0;
}

static int xp_kick(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -EIO;
}

/*
 * The child: writes packets in batches, publishes, and signals the parent
 * only when the library says so. When the ring is full it asks for room
 * through pending_send_sz and sleeps until the parent signals.
 */
static int xp_produce(void *region, int ev_data, int ev_room)
{
	struct hv_ring_pkt_info info = { .type = HV_RING_PKT_DATA_INBAND };
	uint8_t body[MT_MAX_BODY];
	uint32_t rng = 12345, seq = 0, total;
	struct hv_ring *ring;
	struct mt_head h;
	struct iovec iov[2];
	unsigned int batch = 0;
	bool sig;
	int err;

	if (hv_ring_new(region, XP_HDR + XP_DATA, XP_HDR, 0, &ring))
		return 10;
	h = mt_make(0, seq, &rng, body);
	while (seq < XP_PACKETS) {
		iov[0] = (struct iovec){ &h, sizeof(h) };
		iov[1] = (struct iovec){ body, h.len };
		info.trans_id = seq;
		err = hv_ring_write(ring, &info, iov, 2);
		if (err == 0) {
			if (++seq < XP_PACKETS)
				h = mt_make(0, seq, &rng, body);
			if (++batch < XP_BATCH && seq < XP_PACKETS)
				continue;
		} else if (err != -EAGAIN) {
			return 11;
		}
		batch = 0;
		hv_ring_publish(ring, &sig);
		if (sig && xp_kick(ev_data))
			return 12;
		if (err != -EAGAIN)
			continue;
		/* Full: ask to be woken, then look again before sleeping. */
		total = rt_pkt_total(sizeof(h) + h.len);
		hv_ring_set_pending_send_size(ring, total);
		if (hv_ring_write_avail(ring) <= total && xp_wait(ev_room))
			return 13;
		hv_ring_set_pending_send_size(ring, 0);
	}
	hv_ring_free(ring);
	return 0;
}

START_TEST(two_processes)
{
	uint64_t wakeups = 0, room_signals = 0, got = 0;
	struct hv_ring_iter it;
	struct hv_ring_pkt pkt;
	struct hv_ring *ring;
	struct mt_head h;
	const char *bad;
	void *region;
	int memfd, ev_data, ev_room, status, err;
	double t0 = now();
	pid_t pid;
	bool sig;

	memfd = memfd_create("hvuio-test-ring", MFD_CLOEXEC);
	ck_assert_int_ge(memfd, 0);
	ck_assert_int_eq(ftruncate(memfd, XP_HDR + XP_DATA), 0);
	region = mmap(NULL, XP_HDR + XP_DATA, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(region, MAP_FAILED);
	ev_data = eventfd(0, EFD_CLOEXEC);
	ev_room = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(ev_data, 0);
	ck_assert_int_ge(ev_room, 0);
	ck_assert_int_eq(hv_ring_new(region, XP_HDR + XP_DATA, XP_HDR, 0, &ring), 0);
	hv_ring_reset(ring);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child maps the same memfd afresh, as a second program would. */
		void *mine = mmap(NULL, XP_HDR + XP_DATA, PROT_READ | PROT_WRITE,
				  MAP_SHARED, memfd, 0);

		munmap(region, XP_HDR + XP_DATA);
		_exit(mine == MAP_FAILED ? 9 : xp_produce(mine, ev_data, ev_room));
	}

	/*
	 * Let the producer fill the ring and ask for room before reading
	 * anything, so the reader's half of the signalling is exercised
	 * every run and not only when the scheduler happens to allow it.
	 */
	for (int ms = 0; !__atomic_load_n((uint32_t *)region + RT_PENDING_SEND_SZ / 4,
					  __ATOMIC_ACQUIRE); ms++) {
		ck_assert_msg(ms < XP_TIMEOUT_MS, "producer never filled the ring");
		usleep(1000);
	}
	ck_assert_uint_gt(hv_ring_read_avail(ring), XP_DATA - 512);

	while (got < XP_PACKETS) {
		err = hv_ring_iter_begin(ring, &it);
		if (err == 0) {
			while ((err = hv_ring_iter_next(&it, &pkt)) == 0) {
				bad = mt_check(&pkt, &h);
				if (bad)
					ck_abort_msg("packet %llu: %s", (unsigned long long)got, bad);
				ck_assert_uint_eq(h.seq, got);
				got++;
			}
			ck_assert_int_eq(err, -EAGAIN);
			hv_ring_iter_commit(&it, &sig);
			if (sig) {
				room_signals++;
				ck_assert_int_eq(xp_kick(ev_room), 0);
			}
			continue;
		}
		ck_assert_int_eq(err, -EAGAIN);
		/* Unmask, look once more, and only then sleep. */
		if (hv_ring_intr_unmask(ring)) {
			hv_ring_intr_mask(ring);
			continue;
		}
		ck_assert_msg(xp_wait(ev_data) == 0,
			      "no wakeup after %llu packets: a signal was lost",
			      (unsigned long long)got);
		wakeups++;
		hv_ring_intr_mask(ring);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "producer exited with status %d", status);
	ck_assert_int_eq(hv_ring_iter_begin(ring, &it), -EAGAIN);
	ck_assert_uint_ge(room_signals, 1);
	fprintf(stderr, "two_processes: %llu packets in %.2f s, %llu wakeups, "
		"%llu room signals\n", (unsigned long long)got, now() - t0,
		(unsigned long long)wakeups, (unsigned long long)room_signals);
	hv_ring_free(ring);
	munmap(region, XP_HDR + XP_DATA);
	close(memfd);
	close(ev_data);
	close(ev_room);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring-mt");
	TCase *tc = tcase_create("concurrency");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, multi_producer);
	tcase_add_test(tc, two_processes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
