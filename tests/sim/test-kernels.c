/* SPDX-License-Identifier: ISC */
/*
 * The library on every kernel profile hvsim plays.
 *
 * Each case runs hvsim's host (its device code, in a thread) on a fresh
 * sim root that claims one kernel release, and the library as a guest
 * would use it (the public API only). Per profile: the primary channel
 * and a sub-channel, in interrupt and in polled mode, with a device that
 * has no monitor page (the integration services) and one that has
 * (the network class); rescind and re-offer; and on the profiles whose
 * kernel oopses on a sub-channel interrupt, that the library's default
 * never makes the host's model report the crash while forcing
 * interrupts does.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hvuio/chan.h>
#include <hvuio/vmbus.h>

#include "hvsim.h"

#define ROUNDS 64
#define SUB_RELID 30u

/* The profiles users run (hvsim(8), KERNEL PROFILES). */
static const struct {
	const char *release;
	bool sub_oops;       /* no d062463edf17: a sub-channel interrupt is fatal */
	bool rescind_oops;   /* no fb1adbd7e50f: a rescind of an open device is fatal */
	bool distribution;   /* the release cannot say: the library probes or stays safe */
} profiles[] = {
	{ "5.15.196", true, false, false },   /* CVE fix without d062463edf17: the crash window */
	{ "5.15.197", false, false, false },  /* the reduced backport */
	{ "6.1.158", true, false, false },    /* Debian #1120602 */
	{ "6.1.159", false, false, false },
	{ "6.6.117", true, false, false },
	{ "6.6.118", false, false, false },
	{ "6.8.12", true, true, false },      /* the last 6.8: masks forced, no rescind fix */
	{ "6.10.14", true, false, false },    /* integration services bind; write signals the primary */
	{ "6.12.58", true, false, false },
	{ "6.12.59", false, false, false },   /* the full d062463edf17 */
	{ "6.16.0", false, false, false },    /* masks still forced by the kernel */
	{ "6.18.0", false, false, false },
	{ "6.1.0-28-amd64", true, true, true },  /* a distribution's release: probed */
};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static const struct sim_devtype nonmon_type = {
	"ic", "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", "7a2e5b1c-3d4f-4a6b-8c9d-0e1f2a3b4c5d",
	14, 0, NULL, -1, 0,
};
static const struct sim_devtype mon_type = {
	"nic", "f8615163-df3e-46c5-913f-f2d2f965ed0e", "8b3f6c2d-4e5a-4b7c-9dae-1f2a3b4c5d6e",
	14, 0, NULL, 5, 0,
};

enum mode { MODE_IRQ, MODE_POLL, MODE_FORCE_IRQ };

struct env {
	char root[64];
	const struct sim_devtype *type;
	struct sim_root sr;
	struct sim_dev d;
	pthread_t thread;
	void (*play)(struct env *e);
	atomic_int stage;         /* host and guest take turns through it */
	atomic_int host_err;      /* line of the first failed host check */
	struct sim_chan *sub;
	int send_err;             /* what the host's send on the sub-channel gave */
};

#define HOST_CHECK(e, cond) do {					\
	if (!(cond) && !atomic_load(&(e)->host_err))			\
		atomic_store(&(e)->host_err, __LINE__);			\
} while (0)

/* The host serves the device while it waits for the guest's next step. */
static void host_until(struct env *e, int stage)
{
	while (atomic_load(&e->stage) < stage && !atomic_load(&e->host_err))
		if (sim_dev_idle(&e->d, 1) < 0)
			break;
}

/* The guest waits for the host's next step. */
static void guest_until(struct env *e, int stage)
{
	while (atomic_load(&e->stage) < stage && !atomic_load(&e->host_err))
		sched_yield();
}

static void *host_main(void *arg)
{
	struct env *e = arg;

	if (sim_dev_wait_guest(&e->d, 10000) == 0)
		e->play(e);
	else
		HOST_CHECK(e, 0);
	return NULL;
}

static void env_init(struct env *e, const char *kernel, const struct sim_devtype *type)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->root, "/tmp/hvuio-kernels-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->root));
	e->type = type;
	e->d.sr = &e->sr;
	e->d.listen_fd = e->d.conn_fd = -1;
	e->d.timeout_ms = 10000;
	ck_assert_int_eq(sim_root_create(e->root, type, kernel, &e->sr), 0);
	ck_assert_int_eq(sim_root_offer(&e->sr, 0), 0);
	if (e->sr.bound)
		ck_assert_int_eq(sim_dev_listen(&e->d), 0);
}

static void env_start(struct env *e, void (*play)(struct env *))
{
	e->play = play;
	ck_assert_int_eq(pthread_create(&e->thread, NULL, host_main, e), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void env_fini(struct env *e, bool started)
{
	if (started)
		pthread_join(e->thread, NULL);
	ck_assert_msg(atomic_load(&e->host_err) == 0, "host check failed at line %d",
		      atomic_load(&e->host_err));
	sim_dev_disconnect(&e->d);
	sim_dev_unlisten(&e->d);
	sim_root_destroy(&e->sr);
	nftw(e->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Host: ROUNDS packets on c, each answered before the next. */
static void host_echo(struct env *e, struct sim_chan *c)
{
	for (uint64_t i = 0; i < ROUNDS; i++) {
		uint64_t got = 0;
		size_t len = sizeof(got);

		HOST_CHECK(e, sim_dev_chan_send(&e->d, c, &i, sizeof(i)) == 0);
		HOST_CHECK(e, sim_dev_chan_recv(&e->d, c, &got, &len, NULL, NULL, 10000) == 0);
		HOST_CHECK(e, len == sizeof(got) && got == i + 1);
		if (atomic_load(&e->host_err))
			return;
	}
}

/* Guest: answer ROUNDS packets on chan with their value plus one. */
static void guest_echo(struct hv_chan *chan)
{
	uint64_t buf[8], v;
	struct hv_chan_pkt pkt;
	int n = 0, err;

	while (n < ROUNDS) {
		err = hv_chan_recv(chan, buf, sizeof(buf), &pkt);
		if (err == -EAGAIN) {
			ck_assert_int_eq(hv_chan_wait(chan, 10000), 0);
			continue;
		}
		ck_assert_int_eq(err, 0);
		ck_assert_uint_eq(pkt.payload_len, 8);
		memcpy(&v, pkt.payload, sizeof(v));
		ck_assert_uint_eq(v, (uint64_t)n);
		v++;
		ck_assert_int_eq(hv_chan_send(chan, &v, sizeof(v), 0, 0), 0);
		n++;
	}
}

static void play_primary(struct env *e)
{
	/* Not before the guest has chosen its mode: the mask may be 0 at open. */
	host_until(e, 1);
	host_echo(e, &e->d.ch[0]);
	/*
	 * Each answer went into an empty ring the host had unmasked: one
	 * signal each, through the interrupt page or the monitor page, and
	 * the host learned of no other.
	 */
	HOST_CHECK(e, e->d.ch[0].bits == ROUNDS);
	HOST_CHECK(e, !e->sr.kernel.crashed);
	atomic_store(&e->stage, 2);
}

static void run_primary(const char *kernel, const struct sim_devtype *type, enum mode mode)
{
	struct env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, kernel, type);
	if (!e.sr.bound) {
		/* hv_uio_probe refused it: no uio node, and binding says why. */
		ck_assert_int_eq(hv_dev_open(e.root, type->instance, &dev), -ENXIO);
		ck_assert_int_eq(hv_vmbus_bind(e.root, type->instance, "uio_hv_generic"),
				 -EOPNOTSUPP);
		env_fini(&e, false);
		return;
	}
	env_start(&e, play_primary);
	ck_assert_int_eq(hv_dev_open(e.root, type->instance, &dev), 0);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	hv_chan_set_busy_poll(chan, mode == MODE_POLL);
	atomic_store(&e.stage, 1);
	guest_echo(chan);
	guest_until(&e, 2);
	hv_chan_close(chan);
	hv_dev_close(dev);
	pthread_join(e.thread, NULL);
	/*
	 * Polled: the mask stays up and the host does not interrupt, except
	 * right after a write of 1 has unmasked it, before the library masks
	 * it again: a stray event, which costs nothing. A monitored channel
	 * never writes.
	 */
	if (mode == MODE_POLL && type->monitor_id >= 0)
		ck_assert_uint_eq(e.d.ch[0].interrupts, 0);
	else if (mode == MODE_IRQ)
		ck_assert_uint_gt(e.d.ch[0].interrupts, 0);
	env_fini(&e, false);
}

/* Offer the sub-channel, then serve until the guest has opened it. */
static bool host_offer_sub(struct env *e)
{
	e->sub = sim_dev_sub_offer(&e->d, SUB_RELID);
	HOST_CHECK(e, e->sub != NULL);
	atomic_store(&e->stage, 1);
	if (e->sub)
		host_until(e, 2);
	return e->sub != NULL;
}

static void play_sub(struct env *e)
{
	if (!host_offer_sub(e))
		return;
	host_echo(e, e->sub);
	/* Exactly one signal per answer, each the sub-channel's own bit. */
	HOST_CHECK(e, e->sub->bits == ROUNDS);
	HOST_CHECK(e, e->d.ch[0].bits == 0);
	atomic_store(&e->stage, 3);
}

/* The forbidden operation: one packet to a sub-channel the guest unmasked. */
static void play_sub_forced(struct env *e)
{
	uint64_t v = 1;

	if (!host_offer_sub(e))
		return;
	e->send_err = sim_dev_chan_send(&e->d, e->sub, &v, sizeof(v));
	atomic_store(&e->stage, 3);
}

static void run_sub(const char *kernel, const struct sim_devtype *type, enum mode mode,
		    bool sub_oops)
{
	struct env e;
	struct hv_dev *dev;
	struct hv_chan *sub;
	const char *why;
	bool on;

	env_init(&e, kernel, type);
	if (!e.sr.bound) {
		env_fini(&e, false);
		return;
	}
	env_start(&e, mode == MODE_FORCE_IRQ ? play_sub_forced : play_sub);
	ck_assert_int_eq(hv_dev_open(e.root, type->instance, &dev), 0);
	if (mode == MODE_FORCE_IRQ)
		ck_assert_int_eq(hv_dev_sub_irq_set(dev, HV_CHAN_SUB_IRQ_ON), 0);
	guest_until(&e, 1);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), 0);
	hv_dev_sub_irq_get(dev, &on, &why);
	/* The decision names the kernel and, where it matters, the commit. */
	ck_assert_ptr_nonnull(strstr(why, kernel));
	if (mode != MODE_FORCE_IRQ) {
		ck_assert(on == !sub_oops);
		if (sub_oops)
			ck_assert_ptr_nonnull(strstr(why, "d062463edf17"));
	}
	hv_chan_set_busy_poll(sub, mode == MODE_POLL);
	if (mode == MODE_FORCE_IRQ) {
		/* Unmask and look: the next host packet interrupts. */
		ck_assert_int_eq(hv_chan_wait(sub, 0), -ETIMEDOUT);
		atomic_store(&e.stage, 2);
		guest_until(&e, 3);
	} else {
		atomic_store(&e.stage, 2);
		guest_echo(sub);
		guest_until(&e, 3);
	}
	pthread_join(e.thread, NULL);
	if (mode == MODE_FORCE_IRQ) {
		/* The check can fail: forcing interrupts crashes exactly these kernels. */
		ck_assert(e.sr.kernel.crashed == sub_oops);
		ck_assert_int_eq(e.send_err, sub_oops ? -EHOSTDOWN : 0);
	} else {
		ck_assert(!e.sr.kernel.crashed);
		/*
		 * Masked because the kernel would oops: never interrupted.
		 * Polled: not either, but for the stray events after a write
		 * of 1, which unmasks every sub-channel from d062463edf17.
		 */
		if (sub_oops || (mode == MODE_POLL && type->monitor_id >= 0))
			ck_assert_uint_eq(e.sub->interrupts, 0);
		else if (mode == MODE_IRQ)
			ck_assert_uint_gt(e.sub->interrupts, 0);
	}
	hv_chan_close(sub);
	hv_dev_close(dev);
	env_fini(&e, false);
}

static void play_rescind(struct env *e)
{
	atomic_store(&e->stage, 1);
	host_until(e, 2);
	sim_dev_rescind(&e->d);
	/* The re-offer: a new uio node, as a real re-offer may give. */
	if (sim_root_offer(&e->sr, 1) == 0 && sim_dev_listen(&e->d) == 0 &&
	    sim_dev_wait_guest(&e->d, 10000) == 0) {
		host_echo(e, &e->d.ch[0]);
		HOST_CHECK(e, !e->sr.kernel.crashed);
	}
	atomic_store(&e->stage, 3);
}

static void run_rescind(const char *kernel, bool rescind_oops)
{
	struct env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, kernel, &mon_type);
	env_start(&e, play_rescind);
	ck_assert_int_eq(hv_dev_open(e.root, mon_type.instance, &dev), 0);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	guest_until(&e, 1);
	atomic_store(&e.stage, 2);
	ck_assert_int_eq(hv_chan_wait(chan, 10000), -ENODEV);
	hv_chan_close(chan);
	hv_dev_close(dev);
	if (rescind_oops) {
		/* The kernel died with the device open: there is no coming back. */
		pthread_join(e.thread, NULL);
		ck_assert(e.sr.kernel.crashed);
		env_fini(&e, false);
		return;
	}
	/*
	 * The device comes back under the same instance: find it again.
	 * Until the host has laid it out anew, an attempt may meet the old
	 * tree going or the new one coming (ENOENT, ECONNREFUSED, EBADMSG...).
	 */
	for (;;) {
		int err = hv_dev_open(e.root, mon_type.instance, &dev);

		if (err == 0)
			break;
		ck_assert_msg(atomic_load(&e.stage) < 3, "reopen: %s", strerror(-err));
		sched_yield();
	}
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	guest_echo(chan);
	guest_until(&e, 3);
	pthread_join(e.thread, NULL);
	ck_assert(!e.sr.kernel.crashed);
	hv_chan_close(chan);
	hv_dev_close(dev);
	env_fini(&e, false);
}

START_TEST(primary_nonmonitored)
{
	run_primary(profiles[_i / 2].release, &nonmon_type, _i % 2 ? MODE_POLL : MODE_IRQ);
}
END_TEST

START_TEST(primary_monitored)
{
	run_primary(profiles[_i / 2].release, &mon_type, _i % 2 ? MODE_POLL : MODE_IRQ);
}
END_TEST

START_TEST(sub_nonmonitored)
{
	run_sub(profiles[_i / 2].release, &nonmon_type, _i % 2 ? MODE_POLL : MODE_IRQ,
		profiles[_i / 2].sub_oops);
}
END_TEST

START_TEST(sub_monitored)
{
	run_sub(profiles[_i / 2].release, &mon_type, _i % 2 ? MODE_POLL : MODE_IRQ,
		profiles[_i / 2].sub_oops);
}
END_TEST

START_TEST(sub_forced_interrupts)
{
	run_sub(profiles[_i].release, &mon_type, MODE_FORCE_IRQ, profiles[_i].sub_oops);
}
END_TEST

START_TEST(rescind_reoffer)
{
	run_rescind(profiles[_i].release, profiles[_i].rescind_oops);
}
END_TEST

/* The release the library reads, as each profile writes it. */
START_TEST(release_read)
{
	struct hv_vmbus_kernel k;
	struct env e;

	env_init(&e, profiles[_i].release, &nonmon_type);
	ck_assert_int_eq(hv_vmbus_kernel_get(e.root, &k), 0);
	ck_assert_str_eq(k.release, profiles[_i].release);
	if (profiles[_i].distribution) {
		ck_assert(k.distribution);
		ck_assert_int_eq(k.subchannel_events, -1);
		ck_assert_int_eq(k.rescind, -1);
	} else {
		ck_assert(!k.distribution);
		ck_assert_int_eq(k.subchannel_events, !profiles[_i].sub_oops);
		ck_assert_int_eq(k.rescind, !profiles[_i].rescind_oops);
	}
	env_fini(&e, false);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kernels");
	TCase *tc = tcase_create("profiles");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, release_read, 0, NPROFILES);
	tcase_add_loop_test(tc, primary_nonmonitored, 0, 2 * NPROFILES);
	tcase_add_loop_test(tc, primary_monitored, 0, 2 * NPROFILES);
	tcase_add_loop_test(tc, sub_nonmonitored, 0, 2 * NPROFILES);
	tcase_add_loop_test(tc, sub_monitored, 0, 2 * NPROFILES);
	tcase_add_loop_test(tc, sub_forced_interrupts, 0, NPROFILES);
	tcase_add_loop_test(tc, rescind_reoffer, 0, NPROFILES);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
