/* SPDX-License-Identifier: ISC */
/*
 * Which transport carries the host's requests, and getting it back after
 * it went away: a rescinded channel returns when the host offers the
 * device again; the kernel device after an error is reopened, as Linux's
 * hv_kvp_daemon does at its reopen_kvp_fd label.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hvuio/vmbus.h>

#include "daemons/common/devwait.h"

#include "hvkvpd.h"
#include "log.h"


const char *hvkvpd_backend_name(enum hvkvpd_backend b)
{
	switch (b) {
	case HVKVPD_BACKEND_UIO:
		return "uio";
	case HVKVPD_BACKEND_KERNEL:
		return "kernel";
	case HVKVPD_BACKEND_SIM:
		return "sim";
	default:
		return "auto";
	}
}

/*
 * With --backend auto, the backend whose device is there now: the channel
 * when the KVP device is bound to uio_hv_generic (or is a sim device),
 * else the kernel's device. -ENODEV when neither is.
 */
static int auto_available(const struct hvkvpd *d, enum hvkvpd_backend *b)
{
	char driver[64];
	struct stat st;
	bool sim;

	if (devwait_find(d->root, HV_VMBUS_KVP_GUID, &sim, driver, sizeof(driver)) == 1) {
		*b = sim ? HVKVPD_BACKEND_SIM : HVKVPD_BACKEND_UIO;
		return 0;
	}
	if (stat(d->kernel_device, &st) == 0) {
		*b = HVKVPD_BACKEND_KERNEL;
		return 0;
	}
	return -ENODEV;
}

/* Whether the device of the backend we are not on is there. */
static bool other_present(const struct hvkvpd *d)
{
	char driver[64];
	struct stat st;
	bool sim;

	if (d->chosen == HVKVPD_BACKEND_KERNEL)
		return devwait_find(d->root, HV_VMBUS_KVP_GUID, &sim, driver, sizeof(driver)) == 1;
	return stat(d->kernel_device, &st) == 0;
}

static const char *backend_where(const struct hvkvpd *d, enum hvkvpd_backend b)
{
	return b == HVKVPD_BACKEND_KERNEL ? d->kernel_device : d->root;
}

static void move_log(const struct hvkvpd *d, enum hvkvpd_backend from)
{
	log_notice("the KVP device moved from the %s backend (%s) to the %s backend (%s): "
		   "serving the host there", hvkvpd_backend_name(from), backend_where(d, from),
		   hvkvpd_backend_name(d->chosen), backend_where(d, d->chosen));
}

int hvkvpd_backend_follow(struct hvkvpd *d, hv_kvp_observer_fn *observer)
{
	enum hvkvpd_backend from = d->chosen, to;
	struct hv_kvp_transport *old = d->transport;
	bool present;
	int err;

	if (d->backend != HVKVPD_BACKEND_AUTO || !old)
		return 0;
	/* Only a device that appears moves us: one that was there all along did not. */
	present = other_present(d);
	if (!present || d->other_present) {
		d->other_present = present;
		d->follow_retry = false;
		return 0;
	}
	if (from != HVKVPD_BACKEND_KERNEL)
		to = HVKVPD_BACKEND_KERNEL;
	else if (auto_available(d, &to) < 0 || to == HVKVPD_BACKEND_KERNEL)
		return 0;
	/* The new one first: until it opens, the old one goes on serving. */
	d->transport = NULL;
	d->chosen = to;
	err = hvkvpd_backend_open(d);
	if (err < 0) {
		/* Not ready yet (a node before its driver): tried again on the next look. */
		log_debug("the KVP device on the %s backend (%s) does not open yet: %s",
			  hvkvpd_backend_name(to), backend_where(d, to), strerror(-err));
		d->transport = old;
		d->chosen = from;
		d->follow_retry = true;
		return 0;
	}
	d->follow_retry = false;
	/* What the old device delivered meanwhile is answered there. */
	hv_kvp_transport_process(old, d->handler, observer, d);
	hv_kvp_transport_close(old);
	move_log(d, from);
	return 0;
}

int hvkvpd_backend_choose(struct hvkvpd *d)
{
	char driver[64];
	struct stat st;
	bool sim;
	int err;

	if (d->backend == HVKVPD_BACKEND_KERNEL) {
		d->chosen = HVKVPD_BACKEND_KERNEL;
		return 0;
	}
	err = devwait_find(d->root, HV_VMBUS_KVP_GUID, &sim, driver, sizeof(driver));
	if (err < 0) {
		log_err("cannot read %s/sys/bus/vmbus/devices: %s", d->root, strerror(-err));
		return err;
	}
	if (d->backend == HVKVPD_BACKEND_UIO || d->backend == HVKVPD_BACKEND_SIM) {
		/* Chosen by option: the device may come later, as after a rescind. */
		d->chosen = d->backend;
		if (err == 1 && sim != (d->backend == HVKVPD_BACKEND_SIM))
			log_warn("the KVP device under %s is %s, not what --backend %s expects",
				 d->root, sim ? "a sim device" : "a real uio device",
				 hvkvpd_backend_name(d->backend));
		return 0;
	}
	if (err == 1) {
		d->chosen = sim ? HVKVPD_BACKEND_SIM : HVKVPD_BACKEND_UIO;
		return 0;
	}
	if (stat(d->kernel_device, &st) == 0) {
		d->chosen = HVKVPD_BACKEND_KERNEL;
		return 0;
	}
	if (driver[0])
		log_err("the KVP device is bound to %s and %s does not exist: load hv_utils "
			"(modprobe hv_utils) or bind the device to uio_hv_generic "
			"(hvctl bind %s), or give --backend", driver, d->kernel_device,
			HV_VMBUS_KVP_GUID);
	else
		log_err("no Hyper-V KVP device under %s/sys/bus/vmbus/devices and no %s: "
			"this machine does not look like a Hyper-V guest; give --root for a "
			"sim root (see hvsim(8)) or --backend kernel --kernel-device PATH",
			d->root, d->kernel_device);
	return -ENODEV;
}

void hvkvpd_backend_explain(const struct hvkvpd *d)
{
	struct hv_vmbus_kernel k = { .sz = sizeof(k) };
	char text[1024];

	/* What uio_hv_generic of this kernel does, and what the library does about it. */
	if (hv_vmbus_kernel_get(d->root, &k) == 0) {
		hv_vmbus_kernel_describe(&k, "; ", text, sizeof(text));
		log_info("%s", text);
	}
}

int hvkvpd_backend_open(struct hvkvpd *d)
{
	int err;

	if (d->chosen == HVKVPD_BACKEND_KERNEL)
		err = hv_kvp_transport_open_kernel(d->kernel_device, &d->transport);
	else
		err = hv_kvp_transport_open_chan(d->root, &d->transport);
	if (err < 0) {
		d->transport = NULL;
		return err;
	}
	d->other_present = other_present(d);
	if (d->chosen != HVKVPD_BACKEND_KERNEL && !d->kernel_said) {
		hvkvpd_backend_explain(d);
		d->kernel_said = true;
	}
	if (d->busy_poll) {
		int e = hv_kvp_transport_set_busy_poll(d->transport, true);

		if (e < 0)
			log_warn("--busy-poll: %s; sleeping on interrupts instead", strerror(-e));
	}
	return 0;
}

int hvkvpd_signal_take(struct hvkvpd *d, bool *terminate)
{
	struct signalfd_siginfo si;
	ssize_t n;

	*terminate = false;
	n = read(d->sigfd, &si, sizeof(si));
	if (n != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
		log_info("signal %s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		*terminate = true;
	} else if (si.ssi_signo == SIGHUP) {
		/* Nothing to reload: the files are read again anyway. Say how it goes. */
		struct hv_kvp_transport_status st = { .sz = sizeof(st) };

		if (d->transport && hv_kvp_transport_status_get(d->transport, &st) == 0)
			log_notice("SIGHUP: backend %s, %s, %" PRIu64 " host requests answered",
				   st.kind, st.negotiated || d->chosen == HVKVPD_BACKEND_KERNEL ?
				   "connected" : "not negotiated yet", st.requests);
		else
			log_notice("SIGHUP: waiting for the KVP device");
	}
	return 1;
}

/*
 * Where a device shows up: the kernel device's folder, the uio nodes in
 * dev/ and the sysfs device list, or with --backend auto all of them. A
 * folder that does not exist yet is watched through the nearest one above
 * it: on an event the caller watches again. (sysfs itself sends no events
 * for the kernel's changes; devtmpfs does, for the nodes.)
 */
int hvkvpd_backend_watch(const struct hvkvpd *d)
{
	char path[PATH_MAX];
	int fd;

	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	if (d->chosen == HVKVPD_BACKEND_KERNEL || d->backend == HVKVPD_BACKEND_AUTO)
		devwait_watch_node(fd, d->kernel_device);
	if (d->chosen != HVKVPD_BACKEND_KERNEL || d->backend == HVKVPD_BACKEND_AUTO) {
		snprintf(path, sizeof(path), "%s/sys/bus/vmbus/devices", strcmp(d->root, "/") ? d->root : "");
		devwait_watch_dir(fd, path);
		snprintf(path, sizeof(path), "%s/dev", strcmp(d->root, "/") ? d->root : "");
		devwait_watch_dir(fd, path);
	}
	return fd;
}

/*
 * One attempt: the same backend, or with --backend auto whichever device
 * is there and opens, the channel first (a sim root whose host is gone
 * keeps its device node, which then refuses us).
 */
static int reopen_once(void *ctx)
{
	struct hvkvpd *d = ctx;
	enum hvkvpd_backend b;
	struct stat st;
	int err;

	if (d->backend != HVKVPD_BACKEND_AUTO)
		return hvkvpd_backend_open(d);
	err = auto_available(d, &b);
	if (err < 0)
		return err;
	d->chosen = b;
	err = hvkvpd_backend_open(d);
	if (err < 0 && b != HVKVPD_BACKEND_KERNEL && stat(d->kernel_device, &st) == 0) {
		d->chosen = HVKVPD_BACKEND_KERNEL;
		err = hvkvpd_backend_open(d);
	}
	return err;
}

static int signal_take(void *ctx, bool *terminate)
{
	return hvkvpd_signal_take(ctx, terminate);
}

int hvkvpd_backend_reopen(struct hvkvpd *d)
{
	enum hvkvpd_backend from = d->chosen;
	struct devwait w = { .sigfd = d->sigfd, .open = reopen_once,
			     .signal_take = signal_take, .ctx = d };
	unsigned int attempts;
	int err;

	hv_kvp_transport_close(d->transport);
	d->transport = NULL;
	if (d->chosen == HVKVPD_BACKEND_KERNEL)
		log_warn("%s failed: reopening it", d->kernel_device);
	else if (d->ring_broken)
		/* Already said, as a warning: this is only the consequence. */
		log_info("KVP channel closed: opening it again for fresh rings");
	else
		log_notice("the host rescinded the KVP device: channel closed, waiting for it "
			   "to be offered again");
	d->ring_broken = false;
	w.wfd = hvkvpd_backend_watch(d);
	err = devwait_reopen(&w, &attempts);
	if (err == 0 && d->chosen != from)
		move_log(d, from);
	else if (err == 0)
		log_notice("%s: reopened after %u attempt%s",
			   d->chosen == HVKVPD_BACKEND_KERNEL ? d->kernel_device : "KVP channel",
			   attempts + 1, attempts ? "s" : "");
	if (w.wfd >= 0)
		close(w.wfd);
	return err;
}
