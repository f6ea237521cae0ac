/* SPDX-License-Identifier: ISC */
/*
 * A sim device for a test: a sim root in a temporary directory, hvsim's
 * device code playing the host from a thread, the test as the guest. Host
 * and guest take turns through `stage`; host checks are collected in
 * host_err (the line of the first that failed), which the guest side
 * reports. Used by tests/vmbus/test-chan.c and tests/sim/test-kernels.c.
 */
#ifndef HVUIO_TESTS_SIM_ENV_H
#define HVUIO_TESTS_SIM_ENV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "hvsim.h"

struct sim_env;
typedef void (*sim_env_play_fn)(struct sim_env *e);

struct sim_env {
	char root[64];
	struct sim_devtype type;   /* a copy: the sim root points at it */
	struct sim_root sr;
	struct sim_dev d;
	pthread_t thread;
	bool started;
	sim_env_play_fn play;      /* after a guest connected; NULL: just the open */
	atomic_int stage;
	atomic_int host_err;
	atomic_uint arg;           /* a number one side gives the other */
	struct sim_chan *sub;      /* the sub-channel the host offered */
	int send_err;              /* what the host's last send gave */
};

#define HOST_CHECK(e, cond) do {					\
	if (!(cond) && !atomic_load(&(e)->host_err))			\
		atomic_store(&(e)->host_err, __LINE__);			\
} while (0)

/* Lay out the device; kernel as for hvsim --kernel, backport NULL or a commit. */
void sim_env_init(struct sim_env *e, const struct sim_devtype *type, const char *kernel,
		  const char *backport);
/* Start the host: it waits for a guest, then runs play. */
void sim_env_start(struct sim_env *e, sim_env_play_fn play);
/* Wait for the host to finish; fails the case if a host check did. */
void sim_env_join(struct sim_env *e);
/* Join, then remove the device and the temporary directory. */
void sim_env_fini(struct sim_env *e);
/* The host serves the device until the guest reaches stage. */
void sim_env_host_until(struct sim_env *e, int stage);
/* The guest waits for the host to reach stage; fails the case on a host check. */
void sim_env_guest_until(struct sim_env *e, int stage);

#endif
