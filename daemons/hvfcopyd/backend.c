/* SPDX-License-Identifier: ISC */
/*
 * Which transport carries the host's messages, and getting it back after
 * it went away: a rescinded channel returns when the host offers the
 * device again (possibly as another uio node); the kernel device after an
 * error is reopened, as Linux's hv_fcopy_daemon does. Whatever was being
 * copied when the transport went away is abandoned and its partial file
 * removed: the host starts over with a new START.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hvuio/chan.h>
#include <hvuio/vmbus.h>

#include "hvfcopyd.h"
#include "daemons/common/devwait.h"
#include "daemons/hvkvpd/log.h"

const char *hvfcopyd_backend_name(enum hvfcopyd_backend b)
{
	switch (b) {
	case HVFCOPYD_BACKEND_UIO:
		return "uio";
	case HVFCOPYD_BACKEND_KERNEL:
		return "kernel";
	case HVFCOPYD_BACKEND_SIM:
		return "sim";
	default:
		return "auto";
	}
}

int hvfcopyd_backend_choose(struct hvfcopyd *d)
{
	char driver[64];
	struct stat st;
	bool sim;
	int err;

	if (d->backend != HVFCOPYD_BACKEND_AUTO) {
		/* Chosen by option: the device may come later, as after a rescind. */
		d->chosen = d->backend;
		return 0;
	}
	err = devwait_find(d->root, HV_FCOPY_GUID, &sim, driver, sizeof(driver));
	if (err < 0) {
		log_err("cannot read %s/sys/bus/vmbus/devices: %s", d->root, strerror(-err));
		return err;
	}
	if (err == 1) {
		d->chosen = sim ? HVFCOPYD_BACKEND_SIM : HVFCOPYD_BACKEND_UIO;
		return 0;
	}
	if (stat(d->kernel_device, &st) == 0) {
		d->chosen = HVFCOPYD_BACKEND_KERNEL;
		return 0;
	}
	if (driver[0])
		log_err("the fcopy device is bound to %s and %s does not exist: bind it to "
			"uio_hv_generic (hvctl bind %s) on Linux 6.10 or later, load hv_utils "
			"on earlier kernels, or give --backend", driver, d->kernel_device,
			HV_FCOPY_GUID);
	else
		log_err("no Hyper-V fcopy device under %s/sys/bus/vmbus/devices and no %s: "
			"\"Guest services\" is not enabled for this virtual machine, or this is "
			"not a Hyper-V guest; give --root for a sim root (see hvsim(8))",
			d->root, d->kernel_device);
	return -ENODEV;
}

int hvfcopyd_backend_open(struct hvfcopyd *d)
{
	if (d->chosen == HVFCOPYD_BACKEND_KERNEL)
		return fc_kernel_open(d);
	return fc_chan_open(d);
}

void hvfcopyd_backend_close(struct hvfcopyd *d)
{
	if (d->chosen == HVFCOPYD_BACKEND_KERNEL)
		fc_kernel_close(d);
	else
		fc_chan_close(d);
}

int hvfcopyd_backend_fd(const struct hvfcopyd *d)
{
	return d->chosen == HVFCOPYD_BACKEND_KERNEL ? d->kfd : hv_dev_fd(d->dev);
}

int hvfcopyd_backend_serve(struct hvfcopyd *d)
{
	return d->chosen == HVFCOPYD_BACKEND_KERNEL ? fc_kernel_serve(d) : fc_chan_serve(d);
}

int hvfcopyd_signal_take(struct hvfcopyd *d, bool *terminate)
{
	struct signalfd_siginfo si;

	*terminate = false;
	if (read(d->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
		log_info("signal %s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		*terminate = true;
	} else if (si.ssi_signo == SIGHUP) {
		log_notice("SIGHUP: backend %s, %s, %llu host messages answered%s",
			   hvfcopyd_backend_name(d->chosen),
			   d->chosen == HVFCOPYD_BACKEND_KERNEL || d->negotiated ?
			   "connected" : "not negotiated yet",
			   (unsigned long long)d->messages,
			   d->copy.open ? ", a copy is open" : "");
	}
	return 1;
}

/* Where a returning device shows up; -1 without inotify (the period remains). */
static int watch_open(const struct hvfcopyd *d)
{
	char path[PATH_MAX];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -1;
	if (d->chosen == HVFCOPYD_BACKEND_KERNEL) {
		devwait_watch_node(fd, d->kernel_device);
	} else {
		snprintf(path, sizeof(path), "%s/sys/bus/vmbus/devices", d->root);
		devwait_watch_dir(fd, path);
	}
	return fd;
}

static int reopen_once(void *ctx)
{
	return hvfcopyd_backend_open(ctx);
}

static int signal_take(void *ctx, bool *terminate)
{
	return hvfcopyd_signal_take(ctx, terminate);
}

int hvfcopyd_backend_reopen(struct hvfcopyd *d)
{
	struct devwait w = { .sigfd = d->sigfd, .open = reopen_once,
			     .signal_take = signal_take, .ctx = d };
	unsigned int attempts;
	int err;

	fc_copy_abort(d, d->chosen == HVFCOPYD_BACKEND_KERNEL ? "the kernel device failed" :
		      "the host rescinded the device");
	hvfcopyd_backend_close(d);
	if (d->chosen == HVFCOPYD_BACKEND_KERNEL)
		log_warn("%s failed: reopening it", d->kernel_device);
	else
		log_notice("the fcopy channel closed (rescind): waiting for the device to be "
			   "offered again");
	w.wfd = watch_open(d);
	err = devwait_reopen(&w, &attempts);
	if (err == 0)
		log_notice("%s: reopened after %u attempt%s",
			   d->chosen == HVFCOPYD_BACKEND_KERNEL ? d->kernel_device :
			   "fcopy channel", attempts + 1, attempts ? "s" : "");
	if (w.wfd >= 0)
		close(w.wfd);
	return err;
}
