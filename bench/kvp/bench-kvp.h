/* SPDX-License-Identifier: ISC */
/*
 * hv-bench-kvp: the KVP service measured from outside, as the host and as
 * local clients see it. Private to bench/kvp.
 *
 * proc.c     temporary folders, pool files, daemons as processes, READY
 *            notifications, resident memory;
 * host.c     the host of a sim device: negotiation and one KVP request at
 *            a time through the rings, on the library's codec;
 * ops.c      the operation mix both backends are measured with;
 * kernel.c   the kernel side of /dev/vmbus/hv_kvp, for hvkvpd and for
 *            Linux's hv_kvp_daemon alike;
 * clients.c  varlink clients on hvkvpd's socket;
 * main.c     the parts, the table and the JSON.
 */
#ifndef BENCH_KVP_H
#define BENCH_KVP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hvuio/kvp_msg.h>

#include "hvsim.h"

/* ---- processes and files (proc.c) ---- */

double bk_now(void);
/* Print to stderr and exit 1: the benchmark cannot go on. */
void bk_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void bk_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int bk_verbose;

/* mkdir -p; dies on failure. */
void bk_mkdirs(const char *path);
/* rm -rf of a folder the benchmark made. */
void bk_rmtree(const char *path);

/*
 * The key and value of record i, as the benchmark writes them into pool
 * files and asks the daemons for them.
 */
void bk_key(char *buf, size_t size, unsigned int i);
void bk_value(char *buf, size_t size, unsigned int i);
/* Write DIR/.kvp_pool_POOL with records 0..n-1 in Linux's format; its size. */
uint64_t bk_pool_file_write(const char *dir, unsigned int pool, unsigned int n);

struct bk_proc {
	pid_t pid;
	double started;            /* bk_now() just before fork */
	double ready;              /* READY=1 arrived (0: not yet) */
	int notify_fd;             /* our end of NOTIFY_SOCKET, -1: none */
	char notify_path[108];
};

/*
 * Start argv[0] with stdout and stderr appended to `log`. With `notify`,
 * a datagram socket is made and passed as NOTIFY_SOCKET, as systemd does
 * for Type=notify services.
 */
void bk_proc_start(struct bk_proc *p, char *const argv[], const char *log, bool notify);
/* Wait for READY=1 up to `timeout` seconds; 0 or -ETIMEDOUT. */
int bk_proc_wait_ready(struct bk_proc *p, double timeout);
/* SIGTERM (SIGKILL when `kill`), then reap; the exit status or -1. */
int bk_proc_stop(struct bk_proc *p, bool kill);
/* VmRSS and VmHWM of the process, in KiB; 0 or -errno. */
int bk_proc_rss(pid_t pid, uint64_t *rss_kb, uint64_t *hwm_kb);

/* ---- the host of a sim device (host.c) ---- */

struct bk_host {
	struct sim_root sr;
	struct sim_dev dev;
	struct hv_ic_version fw, msg;
	uint8_t tid;
	/* Spin on the guest-to-host ring instead of waiting for its signal. */
	bool spin;
	uint8_t req[SIM_MAX_MSG];
	uint8_t reply[SIM_MAX_MSG];
};

void bk_host_open(struct bk_host *h, const char *root);
/* Wait for the guest and its negotiate reply. 0, or a negative errno. */
int bk_host_wait_ready(struct bk_host *h, int timeout_ms);
/*
 * One request (req->operation and its fields) and its reply, decoded into
 * *res with the status in *status. 0, or a negative errno when the guest
 * did not answer or answered something that is not a reply.
 */
int bk_host_request(struct bk_host *h, const struct hv_kvp_request *req,
		    uint32_t *status, struct hv_kvp_request *res);
void bk_host_close(struct bk_host *h);

/* ---- the operation mix (ops.c) ---- */

enum bk_op { BK_SET, BK_UPDATE, BK_GET, BK_ENUMERATE, BK_DELETE, BK_NOPS };
extern const char *const bk_op_names[BK_NOPS];

/*
 * One request to a daemon under test: operation, pool 0, key or index,
 * value. Returns 0 with the HV_* status, or a negative errno when the
 * daemon did not answer. `value` is set (up to 2048 bytes) for GET and
 * ENUMERATE when the reply carries one.
 */
typedef int bk_request_fn(void *ctx, uint8_t op, const char *key, const char *value,
			  uint32_t index, uint32_t *status, char *value_out, size_t value_size);

struct bk_mix_result {
	double rate[BK_NOPS];      /* operations per second */
	uint64_t count[BK_NOPS];
	/* Round trips of the GETs, sorted, in seconds (NULL unless asked). */
	double *get_rtt;
	size_t get_rtt_count;
};

/*
 * `ops` of each operation on pool 0 holding records 0..n-1: SET of new
 * keys and DELETE of them in alternating rounds of at most n/2 (so the
 * pool stays between n and 1.5 n), UPDATE, GET and ENUMERATE (walking
 * from index 0, as the host does, wrapping at n) of existing records.
 * Every answer is checked: a status or value other than expected ends
 * the benchmark, naming the daemon (`who`). `check_get_value`: compare
 * GET values (Linux's daemon answers a GET with an empty value).
 */
void bk_mix_run(const char *who, bk_request_fn *fn, void *ctx, unsigned int n,
		unsigned int ops, bool check_get_value, bool keep_rtt,
		struct bk_mix_result *r);

double bk_median(double *v, size_t n);
double bk_percentile_sorted(const double *v, size_t n, double p);

/* hv_kvp_request_fn over a bk_host. */
int bk_host_request_fn(void *ctx, uint8_t op, const char *key, const char *value,
		       uint32_t index, uint32_t *status, char *value_out, size_t value_size);

/* ---- the kernel side (kernel.c) ---- */

struct bk_kdev {
	int listen_fd;
	int fd;
	char path[108];
	uint8_t msg[HV_KVP_KMSG_SIZE + 64];
};

void bk_kdev_listen(struct bk_kdev *k, const char *path);
/* Accept the daemon and its registration; 0 or a negative errno. */
int bk_kdev_accept(struct bk_kdev *k, int timeout_ms);
void bk_kdev_close(struct bk_kdev *k);
int bk_kdev_request_fn(void *ctx, uint8_t op, const char *key, const char *value,
		       uint32_t index, uint32_t *status, char *value_out, size_t value_size);

/* ---- varlink clients (clients.c) ---- */

enum bk_client_op { BK_CLIENT_GET, BK_CLIENT_SET };

/*
 * `nclients` connections to `socket`, each calling Get (records 0..n-1 of
 * External) or Set (64 keys of its own in Guest) one call at a time for
 * `seconds`. Returns calls per second over all clients; dies on an error
 * reply.
 */
double bk_clients_run(const char *socket, enum bk_client_op op, unsigned int nclients,
		      unsigned int n, double seconds);

#endif
