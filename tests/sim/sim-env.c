/* SPDX-License-Identifier: ISC */
/* The sim device of a test (sim-env.h). */
#include <check.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-env.h"

void sim_env_host_until(struct sim_env *e, int stage)
{
	while (atomic_load(&e->stage) < stage && !atomic_load(&e->host_err))
		if (sim_dev_idle(&e->d, 1) < 0)
			break;
}

void sim_env_guest_until(struct sim_env *e, int stage)
{
	while (atomic_load(&e->stage) < stage && !atomic_load(&e->host_err))
		sched_yield();
	ck_assert_msg(atomic_load(&e->host_err) == 0, "host check failed at line %d",
		      atomic_load(&e->host_err));
}

static void *host_main(void *arg)
{
	struct sim_env *e = arg;

	if (e->d.handshake != SIM_HS_GOOD) {
		/* Serve the lying handshake, then until the guest has given up. */
		sim_env_host_until(e, 1);
		while (e->d.conn_fd >= 0 && sim_dev_idle(&e->d, 1) == 0)
			;
		return NULL;
	}
	if (sim_dev_wait_guest(&e->d, 10000) != 0) {
		HOST_CHECK(e, 0);
		return NULL;
	}
	if (e->play)
		e->play(e);
	return NULL;
}

void sim_env_init(struct sim_env *e, const struct sim_devtype *type, const char *kernel,
		  const char *backport)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->root, "/tmp/hvuio-simenv-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->root));
	e->type = *type;
	e->d.sr = &e->sr;
	e->d.listen_fd = e->d.conn_fd = -1;
	e->d.timeout_ms = 10000;
	ck_assert_int_eq(sim_root_create(e->root, &e->type, kernel, &e->sr), 0);
	if (backport)
		ck_assert_int_eq(sim_kernel_backport(&e->sr.kernel, backport), 0);
	ck_assert_int_eq(sim_root_offer(&e->sr, 0), 0);
	if (e->sr.bound)
		ck_assert_int_eq(sim_dev_listen(&e->d), 0);
}

void sim_env_start(struct sim_env *e, sim_env_play_fn play)
{
	e->play = play;
	ck_assert_int_eq(pthread_create(&e->thread, NULL, host_main, e), 0);
	e->started = true;
}

void sim_env_join(struct sim_env *e)
{
	if (e->started)
		pthread_join(e->thread, NULL);
	e->started = false;
	ck_assert_msg(atomic_load(&e->host_err) == 0, "host check failed at line %d",
		      atomic_load(&e->host_err));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void sim_env_fini(struct sim_env *e)
{
	sim_env_join(e);
	sim_dev_disconnect(&e->d);
	sim_dev_unlisten(&e->d);
	sim_root_destroy(&e->sr);
	nftw(e->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
