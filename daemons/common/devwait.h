/* SPDX-License-Identifier: ISC */
/*
 * Finding a service's device and waiting for it to come back, for both
 * daemons: after a rescind (the host takes the channel away) or a kernel
 * device that failed, the daemon tries to open it again on every inotify
 * event where it would show up, and at least once a period, until it
 * opens or the daemon is told to stop.
 */
#ifndef DAEMONS_DEVWAIT_H
#define DAEMONS_DEVWAIT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The first device of class class_guid under root: 1 when it is bound to
 * uio_hv_generic (*sim: its node is a sim device's socket, hvsim(8)), 0
 * when there is none or it is bound elsewhere (driver names the driver,
 * "" if none), or a negative errno of reading the device list.
 */
int devwait_find(const char *root, const char *class_guid, bool *sim, char *driver,
		 size_t size);

/* Tried at least this often while waiting, events or not. */
#define DEVWAIT_POLL_MS 1000

/*
 * Watch `dir`, or the nearest folder above it that exists, for entries
 * coming and going, on the inotify descriptor fd. A folder that does not
 * exist yet is watched through its parent: on an event the caller
 * watches again.
 */
void devwait_watch_dir(int fd, const char *dir);
/* The same for the folder that holds the device node `node`. */
void devwait_watch_node(int fd, const char *node);

struct devwait {
	int sigfd;          /* the daemon's signalfd */
	int wfd;            /* inotify, -1: the period only */
	/* One attempt: 0 when the device is open, else a negative errno. */
	int (*open)(void *ctx);
	/* Read sigfd; *terminate when the daemon must stop. */
	int (*signal_take)(void *ctx, bool *terminate);
	void *ctx;
};

/*
 * Try w->open until it succeeds: returns 0 with *attempts the failed
 * tries before, 1 when a signal says stop, or -errno when poll() fails.
 * A changed failure is logged at debug level.
 */
int devwait_reopen(const struct devwait *w, unsigned int *attempts);

#endif
