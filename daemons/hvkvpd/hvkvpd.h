/* SPDX-License-Identifier: ISC */
/* hvkvpd: the parts of the daemon and the one structure they share. */
#ifndef HVKVPD_H
#define HVKVPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvuio/kvp_info.h>
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
	int64_t linger_paused_us;    /* no lingering until: the CPU is wanted elsewhere */
	uint64_t cpu_wait_us;        /* the loop thread's wait for a CPU at the last answer */
	int schedstat_fd;            /* /proc/thread-self/schedstat of the loop thread, or -1 */
	bool ring_broken;            /* the channel closes for a protocol error */
	bool other_present;          /* auto: the other backend's device was there */
	bool follow_retry;           /* auto: it appeared but did not open yet */
	const char *ip_program;      /* what SET_IP_INFO runs, or NULL */
	char ip_program_found[4096]; /* hv_set_ifconfig where the distribution put it */
	int privsep_fd;              /* to the privileged helper, or -1 */
	int privsep_pid;
	bool fqdn_pending;           /* the helper is resolving the host name */
	int fqdn_error;              /* its last failure, logged once */
	uint32_t auto_logged;        /* Auto values whose failure was logged (bit = index) */
	bool kernel_said;            /* the kernel's uio_hv_generic was described in the log */
};

const char *hvkvpd_backend_name(enum hvkvpd_backend b);

/* backend.c */
int hvkvpd_backend_choose(struct hvkvpd *d);
/*
 * --backend auto, while serving: when the other backend's device appeared
 * (the KVP device bound to uio_hv_generic while on /dev/vmbus/hv_kvp, or
 * the reverse) and opens, answer what the current one still holds
 * (observer told), close it and serve the new one; the move is logged
 * once. A device that does not open yet is tried again at the next call.
 * Returns 0.
 */
int hvkvpd_backend_follow(struct hvkvpd *d, hv_kvp_observer_fn *observer);
/* An inotify descriptor on where devices appear (-1 if none), for poll(). */
int hvkvpd_backend_watch(const struct hvkvpd *d);
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
 * Drop every capability, set no_new_privs and load the seccomp filter.
 * Call while the process has one thread: capabilities and filters are per
 * thread and inherited only by threads started later. 0 or a negative
 * errno (logged).
 */
int hvkvpd_sandbox_enter(const struct hvkvpd *d);
/*
 * The privileged helper's limits: no_new_privs, and only the capabilities
 * a SET_IP_INFO program needs (none without one). 0 or -errno (logged).
 */
int hvkvpd_sandbox_helper(bool program);
/*
 * The seccomp filter alone, for the calling thread and those it starts
 * later (no_new_privs must be set): hvkvpd_sandbox_enter's last step, and
 * what tests/reliability/test-filter.c checks. 0 or a negative errno.
 */
int hvkvpd_sandbox_filter_load(void);

/* privsep.c */
/* Fork the helper (before the sandbox) and resolve the host name once. */
int hvkvpd_privsep_start(struct hvkvpd *d);
/* Its descriptor is readable: take its answer. */
void hvkvpd_privsep_input(struct hvkvpd *d);
/* Ask it to resolve the host name again if it changed (and none is pending). */
void hvkvpd_privsep_fqdn_refresh(struct hvkvpd *d);
/* hv_kvp_ip_runner_fn with ctx = the struct hvkvpd. */
int hvkvpd_privsep_ip_apply(void *ctx, const struct hv_kvp_ip_apply *a);
void hvkvpd_privsep_stop(struct hvkvpd *d);

/* loop.c */
int hvkvpd_loop(struct hvkvpd *d);

#endif
