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
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hvuio/chan.h>
#include <hvuio/vmbus.h>

#include "sim-env.h"

#define ROUNDS 64
#define SUB_RELID 30u

/* The profiles users run (hvsim(8), KERNEL PROFILES). */
static const struct {
	const char *release;
	bool sub_oops;       /* no d062463edf17: a sub-channel interrupt is fatal */
	bool rescind_oops;   /* no fb1adbd7e50f: a rescind of an open device is fatal */
	bool distribution;   /* the release cannot say: the library probes or stays safe */
	const char *backport;  /* a fix the distribution took that its release hides */
} profiles[] = {
	{ "5.15.196", true, false, false, NULL },   /* CVE fix without d062463edf17: the crash window */
	{ "5.15.197", false, false, false, NULL },  /* the reduced backport */
	{ "6.1.158", true, false, false, NULL },    /* Debian #1120602 */
	{ "6.1.159", false, false, false, NULL },
	{ "6.6.117", true, false, false, NULL },
	{ "6.6.118", false, false, false, NULL },
	{ "6.8.12", true, true, false, NULL },      /* the last 6.8: masks forced, no rescind fix */
	{ "6.10.14", true, false, false, NULL },    /* integration services bind; write signals the primary */
	{ "6.12.58", true, false, false, NULL },
	{ "6.12.59", false, false, false, NULL },   /* the full d062463edf17 */
	{ "6.16.0", false, false, false, NULL },    /* masks still forced by the kernel */
	{ "6.18.0", false, false, false, NULL },
	{ "6.1.0-28-amd64", true, true, true, NULL },  /* a distribution's release: probed */
	/* The same with d062463edf17 backported: the probe finds it. */
	{ "6.1.0-28-amd64", false, true, true, "d062463edf17" },
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

static void env_init(struct sim_env *e, unsigned int p, const struct sim_devtype *type)
{
	sim_env_init(e, type, profiles[p].release, profiles[p].backport);
}

/* Host: ROUNDS packets on c, each answered before the next. */
static void host_echo(struct sim_env *e, struct sim_chan *c)
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

/*
 * Each answer went into a ring the host had emptied and unmasked, so each
 * needed a signal and nothing else did: exactly ROUNDS writes of 1 for a
 * channel without a monitor page, none for one with (its monitor bit
 * instead). The host may find two signals' bits as one, having read the
 * second answer before it looked (it reads until the ring is empty), but
 * it found the channel's own bit at least once and never more often.
 */
static void host_check_signals(struct sim_env *e, const struct sim_chan *c, int guest_done)
{
	/*
	 * The host may have read the last answer before the write that
	 * signalled it came: once the guest says it has sent everything,
	 * every write is in the socket; take them in.
	 */
	sim_env_host_until(e, guest_done);
	sim_dev_idle(&e->d, 1);
	HOST_CHECK(e, e->d.guest_signals == (c->monitor_id < 0 ? ROUNDS : 0));
	HOST_CHECK(e, c->bits >= 1 && c->bits <= ROUNDS);
}

static void play_primary(struct sim_env *e)
{
	/* Not before the guest has chosen its mode: the mask may be 0 at open. */
	sim_env_host_until(e, 1);
	host_echo(e, &e->d.ch[0]);
	host_check_signals(e, &e->d.ch[0], 2);
	HOST_CHECK(e, !e->sr.kernel.crashed);
	atomic_store(&e->stage, 3);
}

static void run_primary(unsigned int p, const struct sim_devtype *type, enum mode mode)
{
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, p, type);
	if (!e.sr.bound) {
		/* hv_uio_probe refused it: no uio node, and binding says why. */
		ck_assert_int_eq(hv_dev_open(e.root, type->instance, &dev), -ENXIO);
		ck_assert_int_eq(hv_vmbus_bind(e.root, type->instance, "uio_hv_generic"),
				 -EOPNOTSUPP);
		sim_env_fini(&e);
		return;
	}
	sim_env_start(&e, play_primary);
	ck_assert_int_eq(hv_dev_open(e.root, type->instance, &dev), 0);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	hv_chan_set_busy_poll(chan, mode == MODE_POLL);
	atomic_store(&e.stage, 1);
	guest_echo(chan);
	atomic_store(&e.stage, 2);
	sim_env_guest_until(&e, 3);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_join(&e);
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
	sim_env_fini(&e);
}

/* Offer the sub-channel, then serve until the guest has opened it. */
static bool host_offer_sub(struct sim_env *e)
{
	e->sub = sim_dev_sub_offer(&e->d, SUB_RELID);
	HOST_CHECK(e, e->sub != NULL);
	atomic_store(&e->stage, 1);
	if (e->sub)
		sim_env_host_until(e, 2);
	return e->sub != NULL;
}

static void play_sub(struct sim_env *e)
{
	if (!host_offer_sub(e))
		return;
	host_echo(e, e->sub);
	host_check_signals(e, e->sub, 3);
	/* The primary's bit was never set: every signal named the sub-channel. */
	HOST_CHECK(e, e->d.ch[0].bits == 0);
	atomic_store(&e->stage, 4);
}

/* The forbidden operation: one packet to a sub-channel the guest unmasked. */
static void play_sub_forced(struct sim_env *e)
{
	uint64_t v = 1;

	if (!host_offer_sub(e))
		return;
	e->send_err = sim_dev_chan_send(&e->d, e->sub, &v, sizeof(v));
	atomic_store(&e->stage, 3);
}

static void run_sub(unsigned int p, const struct sim_devtype *type, enum mode mode)
{
	const char *kernel = profiles[p].release;
	bool sub_oops = profiles[p].sub_oops;
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *sub;
	const char *why;
	bool on;

	env_init(&e, p, type);
	if (!e.sr.bound) {
		sim_env_fini(&e);
		return;
	}
	sim_env_start(&e, mode == MODE_FORCE_IRQ ? play_sub_forced : play_sub);
	ck_assert_int_eq(hv_dev_open(e.root, type->instance, &dev), 0);
	if (mode == MODE_FORCE_IRQ)
		ck_assert_int_eq(hv_dev_sub_irq_set(dev, HV_CHAN_SUB_IRQ_ON), 0);
	sim_env_guest_until(&e, 1);
	ck_assert_int_eq(hv_chan_open_sub(dev, SUB_RELID, &sub), 0);
	hv_dev_sub_irq_get(dev, &on, &why);
	/* The decision names the kernel and, where it matters, the commit. */
	ck_assert_ptr_nonnull(strstr(why, kernel));
	if (mode != MODE_FORCE_IRQ) {
		ck_assert_msg(on == !sub_oops, "kernel %s: %s", kernel, why);
		if (sub_oops)
			ck_assert_ptr_nonnull(strstr(why, "d062463edf17"));
	}
	hv_chan_set_busy_poll(sub, mode == MODE_POLL);
	if (mode == MODE_FORCE_IRQ) {
		/* Unmask and look: the next host packet interrupts. */
		ck_assert_int_eq(hv_chan_wait(sub, 0), -ETIMEDOUT);
		atomic_store(&e.stage, 2);
		sim_env_guest_until(&e, 3);
	} else {
		atomic_store(&e.stage, 2);
		guest_echo(sub);
		atomic_store(&e.stage, 3);
		sim_env_guest_until(&e, 4);
	}
	sim_env_join(&e);
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
	sim_env_fini(&e);
}

static void play_rescind(struct sim_env *e)
{
	atomic_store(&e->stage, 1);
	sim_env_host_until(e, 2);
	sim_dev_rescind(&e->d);
	/* The re-offer: a new uio node, as a real re-offer may give. */
	if (sim_root_offer(&e->sr, 1) == 0 && sim_dev_listen(&e->d) == 0 &&
	    sim_dev_wait_guest(&e->d, 10000) == 0) {
		host_echo(e, &e->d.ch[0]);
		HOST_CHECK(e, !e->sr.kernel.crashed);
	}
	atomic_store(&e->stage, 3);
}

static void run_rescind(unsigned int p)
{
	bool rescind_oops = profiles[p].rescind_oops;
	struct sim_env e;
	struct hv_dev *dev;
	struct hv_chan *chan;

	env_init(&e, p, &mon_type);
	sim_env_start(&e, play_rescind);
	ck_assert_int_eq(hv_dev_open(e.root, mon_type.instance, &dev), 0);
	ck_assert_int_eq(hv_chan_open(dev, &chan), 0);
	sim_env_guest_until(&e, 1);
	atomic_store(&e.stage, 2);
	ck_assert_int_eq(hv_chan_wait(chan, 10000), -ENODEV);
	hv_chan_close(chan);
	hv_dev_close(dev);
	if (rescind_oops) {
		/* The kernel died with the device open: there is no coming back. */
		sim_env_join(&e);
		ck_assert(e.sr.kernel.crashed);
		sim_env_fini(&e);
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
	sim_env_guest_until(&e, 3);
	sim_env_join(&e);
	ck_assert(!e.sr.kernel.crashed);
	hv_chan_close(chan);
	hv_dev_close(dev);
	sim_env_fini(&e);
}

START_TEST(primary_nonmonitored)
{
	run_primary((unsigned int)_i / 2, &nonmon_type, _i % 2 ? MODE_POLL : MODE_IRQ);
}
END_TEST

START_TEST(primary_monitored)
{
	run_primary((unsigned int)_i / 2, &mon_type, _i % 2 ? MODE_POLL : MODE_IRQ);
}
END_TEST

START_TEST(sub_nonmonitored)
{
	run_sub((unsigned int)_i / 2, &nonmon_type, _i % 2 ? MODE_POLL : MODE_IRQ);
}
END_TEST

START_TEST(sub_monitored)
{
	run_sub((unsigned int)_i / 2, &mon_type, _i % 2 ? MODE_POLL : MODE_IRQ);
}
END_TEST

START_TEST(sub_forced_interrupts)
{
	run_sub((unsigned int)_i, &mon_type, MODE_FORCE_IRQ);
}
END_TEST

START_TEST(rescind_reoffer)
{
	run_rescind((unsigned int)_i);
}
END_TEST

/* The release the library reads, as each profile writes it. */
START_TEST(release_read)
{
	struct hv_vmbus_kernel k = { .sz = sizeof(k) };
	struct {
		struct hv_vmbus_kernel k;
		uint64_t later;     /* a fix a newer release might add */
	} big;
	char text[2048];
	struct sim_env e;

	env_init(&e, (unsigned int)_i, &nonmon_type);
	ck_assert_int_eq(hv_vmbus_kernel_get(e.root, &k), 0);
	ck_assert_str_eq(k.release, profiles[_i].release);
	/* A newer caller's larger struct: known members filled, the rest 0, and read back. */
	memset(&big, 0xa5, sizeof(big));
	big.k.sz = sizeof(big);
	ck_assert_int_eq(hv_vmbus_kernel_get(e.root, &big.k), 0);
	ck_assert_str_eq(big.k.release, k.release);
	ck_assert_uint_eq(big.k.major, k.major);
	ck_assert_int_eq(big.k.subchannel_events, k.subchannel_events);
	ck_assert_int_eq(big.k.header_reset, k.header_reset);
	ck_assert_int_eq(big.later, 0);
	ck_assert_int_gt(hv_vmbus_kernel_describe(&big.k, "; ", text, sizeof(text)), 0);
	big.later = 1;
	ck_assert_int_eq(hv_vmbus_kernel_describe(&big.k, "; ", text, sizeof(text)), -EINVAL);
	/* One older than the first release: refused. */
	big.k.sz = offsetof(struct hv_vmbus_kernel, header_reset);
	ck_assert_int_eq(hv_vmbus_kernel_describe(&big.k, "; ", text, sizeof(text)), -EINVAL);
	if (profiles[_i].distribution) {
		ck_assert(k.distribution);
		ck_assert_int_eq(k.subchannel_events, -1);
		ck_assert_int_eq(k.rescind, -1);
	} else {
		ck_assert(!k.distribution);
		ck_assert_int_eq(k.subchannel_events, !profiles[_i].sub_oops);
		ck_assert_int_eq(k.rescind, !profiles[_i].rescind_oops);
	}
	sim_env_fini(&e);
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
