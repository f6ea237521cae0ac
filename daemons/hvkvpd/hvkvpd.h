/* SPDX-License-Identifier: ISC */
/* hvkvpd: the parts of the daemon and the one structure they share. */
#ifndef HVKVPD_H
#define HVKVPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvuio/kvp_pool.h>
#include <hvuio/kvp_service.h>

/* Exit statuses, as the man page lists them. */
#define HVKVPD_EXIT_OK      0
#define HVKVPD_EXIT_FAILURE 1
#define HVKVPD_EXIT_USAGE   2

enum hvkvpd_backend {
	HVKVPD_BACKEND_AUTO,
	HVKVPD_BACKEND_UIO,
	HVKVPD_BACKEND_KERNEL,
	HVKVPD_BACKEND_SIM,
};

struct hvkvpd {
	/* From the command line. */
	enum hvkvpd_backend backend;
	const char *root;
	const char *kernel_device;
	const char *state_dir;
	const char *journal_dir;
	const char *socket_path;
	const char *set_ip_hook;
	const char *writer_group;    /* may write through the client socket */
	unsigned int restrict_read;  /* pools only writers read (bit N: pool N) */
	bool foreground;
	bool busy_poll;
	bool sync_always;
	bool no_sandbox;

	/* Running state. */
	enum hvkvpd_backend chosen;  /* never AUTO once the loop runs */
	struct hv_kvp_store *store;
	struct hv_kvp_handler *handler;
	struct hv_kvp_transport *transport;
	struct hvkvpd_clients *clients;  /* the client socket's thread */
	int sigfd;
	unsigned int pools_waiting;  /* pools whose file waits for another program's lock */
	int64_t wait_since_ms[HV_KVP_POOL_COUNT];
	int64_t linger_until_us;     /* look at the ring without sleeping until */
	bool ring_broken;            /* the channel closes for a protocol error */
	bool kernel_said;            /* the kernel's uio_hv_generic was described in the log */
};

const char *hvkvpd_backend_name(enum hvkvpd_backend b);

/* backend.c */
int hvkvpd_backend_choose(struct hvkvpd *d);
/* One log line: what the kernel's uio_hv_generic does, and what the library makes of it. */
void hvkvpd_backend_explain(const struct hvkvpd *d);
int hvkvpd_backend_open(struct hvkvpd *d);
/*
 * After the transport failed: close it and wait until it can be opened
 * again. Returns 0 with d->transport open, 1 when a termination signal
 * arrived while waiting, or a negative errno.
 */
int hvkvpd_backend_reopen(struct hvkvpd *d);
/* 1 when a SIGTERM/SIGINT is waiting on d->sigfd (consumed), else 0. */
int hvkvpd_signal_take(struct hvkvpd *d, bool *terminate);

/* sandbox.c */
/*
 * Drop every capability (but the hook's, with --set-ip-hook), set
 * no_new_privs and, without a hook, load the seccomp filter. Call while
 * the process has one thread: capabilities and filters are per thread and
 * inherited only by threads started later. 0 or a negative errno (logged).
 */
int hvkvpd_sandbox_enter(const struct hvkvpd *d);
/* The client thread's own: no capability, the filter. 0 or -errno (logged). */
int hvkvpd_sandbox_thread(void);

/* loop.c */
int hvkvpd_loop(struct hvkvpd *d);

#endif
