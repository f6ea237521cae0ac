/* SPDX-License-Identifier: ISC */
/*
 * hv-bench-kvp: host operations over the sim device, the kernel backend
 * against Linux's hv_kvp_daemon, varlink clients, start-up. See
 * bench/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <json-c/json.h>

#include <hvuio/kvp_pool.h>

#include "bench-kvp.h"

#define MAX_SIZES 8
static const unsigned int client_counts[] = { 1, 8, 64 };
#define NCLIENTS (sizeof(client_counts) / sizeof(client_counts[0]))

static struct {
	const char *hvkvpd, *shim, *linux_daemon, *json, *tmp;
	unsigned int sizes[MAX_SIZES], nsizes;
	unsigned int ksizes[MAX_SIZES], nksizes;
	unsigned int ops, kops, lat_samples;
	double client_seconds;
	bool part[5];
} opt = {
	.linux_daemon = "/usr/sbin/hv_kvp_daemon",
	.tmp = "/var/tmp",
	.sizes = { 100, 1000, 10000, 100000 }, .nsizes = 4,
	.ksizes = { 1000, 5000 }, .nksizes = 2,
	.ops = 2000, .kops = 500, .lat_samples = 5000,
	.client_seconds = 0.5,
	.part = { false, true, true, true, true },
};

static char workdir[4096];

/* ---- results ---- */

struct startup {
	unsigned int keys;
	uint64_t file_bytes;
	double ready_s, first_reply_s;
	uint64_t rss_kb, hwm_kb;
};

static struct {
	double host[2][MAX_SIZES][BK_NOPS];       /* [sync always][size][op] */
	double lat[2][3];                          /* [busy-poll][median, p99, samples] */
	double kern[MAX_SIZES][2][BK_NOPS];        /* [size][theirs, ours][op] */
	double cl[2][NCLIENTS][2];                 /* [busy][clients][get, set] */
	double cl_host_rate[NCLIENTS][2];          /* host SETs/s while busy */
	struct startup st;
	bool have_st;
	double fdatasync_per_s;                    /* the disk, measured alone */
} res;

/* ---- hvkvpd on a sim device ---- */

struct run {
	char dir[4200], root[4300], state[4300], sock[4300], log[4300];
	struct bk_host host;
	struct bk_proc proc;
	struct startup st;
};

static void run_start(struct run *r, const char *name, unsigned int n, bool sync_always,
		      bool busy_poll)
{
	char *argv[20];
	int a = 0, err;

	snprintf(r->dir, sizeof(r->dir), "%s/%s", workdir, name);
	snprintf(r->root, sizeof(r->root), "%s/root", r->dir);
	snprintf(r->state, sizeof(r->state), "%s/state", r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/socket", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/hvkvpd.log", r->dir);
	bk_mkdirs(r->state);
	memset(&r->st, 0, sizeof(r->st));
	r->st.keys = n;
	r->st.file_bytes = bk_pool_file_write(r->state, HV_KVP_POOL_EXTERNAL, n);
	bk_host_open(&r->host, r->root);
	/* The last run's dirty pages are not written back during this one. */
	sync();
	argv[a++] = (char *)opt.hvkvpd;
	argv[a++] = "--backend";
	argv[a++] = "sim";
	argv[a++] = "--root";
	argv[a++] = r->root;
	argv[a++] = "--state-dir";
	argv[a++] = r->state;
	argv[a++] = "--socket";
	argv[a++] = r->sock;
	argv[a++] = "-n";
	if (sync_always) {
		argv[a++] = "--sync";
		argv[a++] = "always";
	}
	if (busy_poll)
		argv[a++] = "--busy-poll";
	argv[a] = NULL;
	bk_note("%s: starting hvkvpd with %u keys", name, n);
	bk_proc_start(&r->proc, argv, r->log, true);
	err = bk_proc_wait_ready(&r->proc, 60);
	if (err < 0)
		bk_die("%s: hvkvpd sent no READY=1 within 60 s (log: %s)", name, r->log);
	r->st.ready_s = r->proc.ready - r->proc.started;
	err = bk_host_wait_ready(&r->host, 30000);
	if (err < 0)
		bk_die("%s: hvkvpd did not open and negotiate the channel: %s (log: %s)",
		       name, strerror(-err), r->log);
	/* The first answer to the host: the pools are served. */
	{
		char key[64], value[HV_KVP_VALUE_MAX_SIZE], want[128];
		uint32_t status;

		bk_key(key, sizeof(key), n - 1);
		err = bk_host_request_fn(&r->host, HV_KVP_OP_GET, key, NULL, 0, &status,
					 value, sizeof(value));
		bk_value(want, sizeof(want), n - 1);
		if (err < 0 || status != HV_IC_S_OK || strcmp(value, want))
			bk_die("%s: the first GET failed (%d, 0x%08x, '%s')", name, err,
			       status, value);
	}
	r->st.first_reply_s = bk_now() - r->proc.started;
	bk_proc_rss(r->proc.pid, &r->st.rss_kb, &r->st.hwm_kb);
}

static void run_stop(struct run *r)
{
	int rc = bk_proc_stop(&r->proc, false);

	if (rc != 0)
		bk_die("hvkvpd exited with %d after SIGTERM (log: %s)", rc, r->log);
	bk_host_close(&r->host);
	bk_rmtree(r->dir);
}

static void latency(struct run *r, int mode)
{
	double *v = calloc(opt.lat_samples, sizeof(double));
	char key[64], value[HV_KVP_VALUE_MAX_SIZE];

	if (!v)
		bk_die("out of memory");
	for (unsigned int i = 0; i < opt.lat_samples; i++) {
		uint32_t status;
		double t0 = bk_now();

		bk_key(key, sizeof(key), (unsigned int)(((uint64_t)i * 104729) % r->st.keys));
		if (bk_host_request_fn(&r->host, HV_KVP_OP_GET, key, NULL, 0, &status,
				       value, sizeof(value)) < 0 || status != HV_IC_S_OK)
			bk_die("latency: GET %s failed", key);
		v[i] = bk_now() - t0;
	}
	res.lat[mode][0] = bk_median(v, opt.lat_samples) * 1e6;
	res.lat[mode][1] = bk_percentile_sorted(v, opt.lat_samples, 99) * 1e6;
	res.lat[mode][2] = opt.lat_samples;
	free(v);
}

/*
 * The ceiling of sync=always: what this machine's disk does with the
 * pattern the store uses for an update, one record rewritten in place and
 * fdatasync()ed, measured in the same folder, in the same run.
 */
static double fdatasync_rate(void)
{
	char path[4300], rec[HV_KVP_POOL_RECORD_SIZE];
	unsigned int n = 0;
	double t0, t;
	int fd;

	snprintf(path, sizeof(path), "%s/fdatasync-baseline", workdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bk_die("%s: %s", path, strerror(errno));
	memset(rec, 'x', sizeof(rec));
	for (int i = 0; i < 64; i++)
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			bk_die("%s: %s", path, strerror(errno));
	fsync(fd);
	t0 = bk_now();
	do {
		if (pwrite(fd, rec, sizeof(rec), (off_t)(n % 64) * (off_t)sizeof(rec)) < 0 ||
		    fdatasync(fd) < 0)
			bk_die("%s: %s", path, strerror(errno));
		n++;
		t = bk_now() - t0;
	} while (t < 0.5 && n < 20000);
	close(fd);
	unlink(path);
	return n / t;
}

/* Latency is measured at 1000 keys, or the smallest size without 1000. */
static unsigned int lat_size(void)
{
	for (unsigned int s = 0; s < opt.nsizes; s++)
		if (opt.sizes[s] == 1000)
			return 1000;
	return opt.sizes[0];
}

static void part_host(void)
{
	res.fdatasync_per_s = fdatasync_rate();
	for (int sync = 0; sync < 2; sync++) {
		for (unsigned int s = 0; s < opt.nsizes; s++) {
			unsigned int n = opt.sizes[s];
			struct bk_mix_result m;
			struct run *r = calloc(1, sizeof(*r));
			char name[64];

			if (!r)
				bk_die("out of memory");
			snprintf(name, sizeof(name), "host-%s-%u", sync ? "always" : "write", n);
			run_start(r, name, n, sync, false);
			if (!sync && n == opt.sizes[opt.nsizes - 1]) {
				res.st = r->st;
				res.have_st = true;
			}
			bk_mix_run(name, bk_host_request_fn, &r->host, n, opt.ops, true, false, &m);
			memcpy(res.host[sync][s], m.rate, sizeof(m.rate));
			if (!sync && n == lat_size())
				latency(r, 0);
			fprintf(stderr, "hv-bench-kvp: %s: set %.0f/s, get %.0f/s\n", name,
				m.rate[BK_SET], m.rate[BK_GET]);
			run_stop(r);
			free(r);
		}
	}
	/* Busy-poll: both sides spin, nobody sleeps. */
	{
		struct run *r = calloc(1, sizeof(*r));

		if (!r)
			bk_die("out of memory");
		run_start(r, "busy-poll", lat_size(), false, true);
		r->host.spin = true;
		latency(r, 1);
		run_stop(r);
		free(r);
	}
}

/* ---- part 2: the kernel backend and Linux's daemon ---- */

static void part_kernel(void)
{
	struct stat st;

	if (!opt.shim)
		bk_die("part 2 needs --shim (tests/hvkvpd's kdev-shim.so)");
	if (access(opt.linux_daemon, X_OK) < 0)
		bk_die("%s: %s (Debian's hyperv-daemons package; scripts/setup installs it)",
		       opt.linux_daemon, strerror(errno));
	/* Linux's daemon's compiled-in folder, bind-mounted over in its namespace. */
	if (stat("/var/lib/hyperv", &st) < 0)
		bk_mkdirs("/var/lib/hyperv");
	for (unsigned int s = 0; s < opt.nksizes; s++) {
		unsigned int n = opt.ksizes[s];

		for (int who = 0; who < 2; who++) {
			char dir[4200], state[4300], sock[4300], log[4300], csock[4300];
			char cmd[20000];
			struct bk_kdev *k = calloc(1, sizeof(*k));
			struct bk_mix_result m;
			struct bk_proc p;
			const char *name = who ? "hvkvpd" : "hv_kvp_daemon";
			int err, rc;

			if (!k)
				bk_die("out of memory");
			snprintf(dir, sizeof(dir), "%s/kernel-%s-%u", workdir, name, n);
			snprintf(state, sizeof(state), "%s/state", dir);
			snprintf(sock, sizeof(sock), "%s/kdev", dir);
			snprintf(csock, sizeof(csock), "%s/socket", dir);
			snprintf(log, sizeof(log), "%s/daemon.log", dir);
			bk_mkdirs(state);
			bk_pool_file_write(state, HV_KVP_POOL_EXTERNAL, n);
			bk_kdev_listen(k, sock);
			/* Linux's daemon leaves a lot to write back: not on our time. */
			sync();
			if (who) {
				char *argv[] = { (char *)opt.hvkvpd, "--backend", "kernel",
						 "--kernel-device", sock, "--state-dir", state,
						 "--socket", csock, "-n", NULL };

				bk_proc_start(&p, argv, log, false);
			} else {
				/*
				 * As tests/hvkvpd/diff-test.py runs it: unmodified, its
				 * open() of the device redirected by the shim, its pool
				 * folder bind-mounted in a private mount namespace, and a
				 * network namespace of its own (its start-up resolves the
				 * host name).
				 */
				char *argv[] = { "unshare", "-m", "-n", "sh", "-c", cmd, NULL };

				snprintf(cmd, sizeof(cmd),
					 "mount --bind '%s' /var/lib/hyperv && exec env LD_PRELOAD='%s' "
					 "HVKVPD_TEST_KDEV='%s' '%s' -n", state, opt.shim, sock,
					 opt.linux_daemon);
				bk_proc_start(&p, argv, log, false);
			}
			err = bk_kdev_accept(k, 20000);
			if (err < 0)
				bk_die("%s did not register on %s: %s (log: %s)", name, sock,
				       strerror(-err), log);
			/*
			 * Linux's daemon gets a bounded number: it rewrites its file
			 * per request. Ours gets as many as part 1, enough that a
			 * stall of a few ms on a shared machine does not decide.
			 */
			bk_mix_run(name, bk_kdev_request_fn, k, n, who ? opt.ops : opt.kops,
				   who == 1, false, &m);
			memcpy(res.kern[s][who], m.rate, sizeof(m.rate));
			fprintf(stderr, "hv-bench-kvp: kernel backend, %s, %u keys: set %.0f/s, "
				"get %.0f/s\n", name, n, m.rate[BK_SET], m.rate[BK_GET]);
			/* Linux's daemon is killed, as the differential test does. */
			rc = bk_proc_stop(&p, who == 0);
			if (who && rc != 0)
				bk_die("hvkvpd exited with %d after SIGTERM (log: %s)", rc, log);
			bk_kdev_close(k);
			free(k);
			bk_rmtree(dir);
		}
	}
}

/* ---- part 3: varlink clients ---- */

struct busy_host {
	pthread_t thread;
	struct bk_host *host;
	atomic_bool stop;
	uint64_t sets;
	double seconds;
	int err;
	unsigned int n;
};

static void *busy_host_main(void *arg)
{
	struct busy_host *b = arg;
	char key[64], value[64];
	double t0 = bk_now();

	for (unsigned int i = 0; !atomic_load(&b->stop); i++) {
		uint32_t status;

		/* Keys of its own: the clients' GETs check the values they read. */
		bk_key(key, sizeof(key), b->n + i % 64);
		snprintf(value, sizeof(value), "busy %u", i);
		b->err = bk_host_request_fn(b->host, HV_KVP_OP_SET, key, value, 0, &status, NULL, 0);
		if (b->err < 0 || status != HV_IC_S_OK) {
			if (!b->err)
				b->err = -EPROTO;
			break;
		}
		b->sets++;
	}
	b->seconds = bk_now() - t0;
	return NULL;
}

static void part_clients(void)
{
	struct run *r = calloc(1, sizeof(*r));
	const unsigned int n = 1000;

	if (!r)
		bk_die("out of memory");
	run_start(r, "clients", n, false, false);
	for (int busy = 0; busy < 2; busy++) {
		for (unsigned int c = 0; c < NCLIENTS; c++) {
			for (int op = 0; op < 2; op++) {
				struct busy_host b = { .host = &r->host, .n = n };

				if (busy && pthread_create(&b.thread, NULL, busy_host_main, &b))
					bk_die("pthread_create failed");
				res.cl[busy][c][op] = bk_clients_run(r->sock, op ? BK_CLIENT_SET :
								     BK_CLIENT_GET, client_counts[c],
								     n, opt.client_seconds);
				if (busy) {
					atomic_store(&b.stop, true);
					pthread_join(b.thread, NULL);
					if (b.err < 0)
						bk_die("the busy host's SET failed: %s", strerror(-b.err));
					/* The GET columns' host rate is the one shown. */
					res.cl_host_rate[c][op] = b.sets / b.seconds;
				}
			}
		}
	}
	run_stop(r);
	free(r);
}

/* ---- output ---- */

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void print_table(void)
{
	if (opt.part[1]) {
		printf("Host operations over the sim device (ops/s; %u of each per size)\n", opt.ops);
		for (int sync = 0; sync < 2; sync++) {
			if (sync)
				printf("  sync=always; the disk alone: %.0f fdatasync/s (one record "
				       "rewritten in place)\n  %10s", res.fdatasync_per_s, "keys");
			else
				printf("  sync=write (default)\n  %10s", "keys");
			for (int o = 0; o < BK_NOPS; o++)
				printf(" %10s", bk_op_names[o]);
			printf("\n");
			for (unsigned int s = 0; s < opt.nsizes; s++) {
				printf("  %10u", opt.sizes[s]);
				for (int o = 0; o < BK_NOPS; o++)
					printf(" %10.0f", res.host[sync][s][o]);
				printf("\n");
			}
			printf("  %10s", "flat");
			for (int o = 0; o < BK_NOPS; o++)
				printf(" %10.2f", ratio(res.host[sync][opt.nsizes - 1][o],
							res.host[sync][0][o]));
			printf("   (rate at %u / rate at %u; target >= 0.5 but for delete)\n",
			       opt.sizes[opt.nsizes - 1], opt.sizes[0]);
		}
		printf("Host round trip of one GET, %u keys (%u samples)\n", lat_size(),
		       opt.lat_samples);
		printf("  interrupts   median %7.1f us  p99 %7.1f us  (target: median < 50)\n",
		       res.lat[0][0], res.lat[0][1]);
		printf("  busy-poll    median %7.1f us  p99 %7.1f us  (target: median < 10)\n",
		       res.lat[1][0], res.lat[1][1]);
	}
	if (opt.part[2]) {
		printf("Kernel backend: hvkvpd vs Linux's hv_kvp_daemon (ops/s; %u of each for "
		       "hvkvpd, %u for Linux's)\n", opt.ops, opt.kops);
		printf("  %6s %-14s", "keys", "");
		for (int o = 0; o < BK_NOPS; o++)
			printf(" %10s", bk_op_names[o]);
		printf("\n");
		for (unsigned int s = 0; s < opt.nksizes; s++) {
			static const char *const who[] = { "hv_kvp_daemon", "hvkvpd" };

			for (int w = 0; w < 2; w++) {
				printf("  %6u %-14s", opt.ksizes[s], who[w]);
				for (int o = 0; o < BK_NOPS; o++)
					printf(" %10.0f", res.kern[s][w][o]);
				printf("\n");
			}
			printf("  %6u %-14s", opt.ksizes[s], "ours/theirs");
			for (int o = 0; o < BK_NOPS; o++)
				printf(" %10.1f", ratio(res.kern[s][1][o], res.kern[s][0][o]));
			printf("\n");
		}
		printf("  (targets: at 5000 keys >= 100 for set, update, get, enumerate; "
		       ">= 1 for delete at every size)\n");
	}
	if (opt.part[3]) {
		printf("Varlink clients, 1000 keys (calls/s over all clients; %.1f s each)\n",
		       opt.client_seconds);
		printf("  %8s %12s %12s %12s %12s %14s\n", "clients", "get idle", "set idle",
		       "get busy", "set busy", "host sets/s");
		for (unsigned int c = 0; c < NCLIENTS; c++)
			printf("  %8u %12.0f %12.0f %12.0f %12.0f %14.0f\n", client_counts[c],
			       res.cl[0][c][0], res.cl[0][c][1], res.cl[1][c][0], res.cl[1][c][1],
			       res.cl_host_rate[c][0]);
		printf("  (target: >= 100000 gets/s with 8 clients)\n");
	}
	if (opt.part[4] && res.have_st) {
		printf("Start-up with %u keys (%.1f MB of pool files, in the page cache)\n",
		       res.st.keys, res.st.file_bytes / 1e6);
		printf("  exec to READY=1 %.3f s, to the first answered host request %.3f s "
		       "(target < 1 s)\n", res.st.ready_s, res.st.first_reply_s);
		printf("  resident %.1f MB (peak %.1f MB) = %.2f x the pool files (target < 4)\n",
		       res.st.rss_kb / 1024.0, res.st.hwm_kb / 1024.0,
		       ratio(res.st.rss_kb * 1024.0, (double)res.st.file_bytes));
	}
}

static json_object *ops_json(const double *rate)
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < BK_NOPS; i++)
		json_object_object_add(o, bk_op_names[i], json_object_new_double(rate[i]));
	return o;
}

static void write_json(const char *path)
{
	json_object *top = json_object_new_object(), *o, *p;
	struct utsname u;
	char key[32];
	FILE *f;

	uname(&u);
	o = json_object_new_object();
	json_object_object_add(o, "kernel", json_object_new_string(u.release));
	json_object_object_add(o, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(top, "machine", o);
	if (opt.part[1]) {
		o = json_object_new_object();
		json_object_object_add(o, "ops_per_measurement", json_object_new_int((int)opt.ops));
		json_object_object_add(o, "disk_fdatasync_per_s",
				       json_object_new_double(res.fdatasync_per_s));
		for (int sync = 0; sync < 2; sync++) {
			json_object *m = json_object_new_object(), *flat;
			double fl[BK_NOPS];

			for (unsigned int s = 0; s < opt.nsizes; s++) {
				snprintf(key, sizeof(key), "%u", opt.sizes[s]);
				json_object_object_add(m, key, ops_json(res.host[sync][s]));
			}
			for (int op = 0; op < BK_NOPS; op++)
				fl[op] = ratio(res.host[sync][opt.nsizes - 1][op], res.host[sync][0][op]);
			flat = ops_json(fl);
			json_object_object_add(m, "flat_largest_over_smallest", flat);
			json_object_object_add(o, sync ? "sync_always" : "sync_write", m);
		}
		for (int mode = 0; mode < 2; mode++) {
			p = json_object_new_object();
			json_object_object_add(p, "median_us", json_object_new_double(res.lat[mode][0]));
			json_object_object_add(p, "p99_us", json_object_new_double(res.lat[mode][1]));
			json_object_object_add(p, "samples", json_object_new_int((int)res.lat[mode][2]));
			json_object_object_add(o, mode ? "latency_busy_poll" : "latency_interrupts", p);
		}
		json_object_object_add(top, "host_sim", o);
	}
	if (opt.part[2]) {
		o = json_object_new_object();
		json_object_object_add(o, "ops_per_measurement_hvkvpd", json_object_new_int((int)opt.ops));
		json_object_object_add(o, "ops_per_measurement_hv_kvp_daemon",
				       json_object_new_int((int)opt.kops));
		for (unsigned int s = 0; s < opt.nksizes; s++) {
			double r[BK_NOPS];

			p = json_object_new_object();
			json_object_object_add(p, "hvkvpd", ops_json(res.kern[s][1]));
			json_object_object_add(p, "hv_kvp_daemon", ops_json(res.kern[s][0]));
			for (int op = 0; op < BK_NOPS; op++)
				r[op] = ratio(res.kern[s][1][op], res.kern[s][0][op]);
			json_object_object_add(p, "ours_over_theirs", ops_json(r));
			snprintf(key, sizeof(key), "%u", opt.ksizes[s]);
			json_object_object_add(o, key, p);
		}
		json_object_object_add(top, "kernel_backend", o);
	}
	if (opt.part[3]) {
		o = json_object_new_object();
		for (int busy = 0; busy < 2; busy++) {
			json_object *b = json_object_new_object();

			for (unsigned int c = 0; c < NCLIENTS; c++) {
				p = json_object_new_object();
				json_object_object_add(p, "get_per_s", json_object_new_double(res.cl[busy][c][0]));
				json_object_object_add(p, "set_per_s", json_object_new_double(res.cl[busy][c][1]));
				if (busy) {
					json_object_object_add(p, "host_sets_per_s_during_get",
							       json_object_new_double(res.cl_host_rate[c][0]));
					json_object_object_add(p, "host_sets_per_s_during_set",
							       json_object_new_double(res.cl_host_rate[c][1]));
				}
				snprintf(key, sizeof(key), "%u", client_counts[c]);
				json_object_object_add(b, key, p);
			}
			json_object_object_add(o, busy ? "host_busy" : "host_idle", b);
		}
		json_object_object_add(top, "clients", o);
	}
	if (opt.part[4] && res.have_st) {
		o = json_object_new_object();
		json_object_object_add(o, "keys", json_object_new_int((int)res.st.keys));
		json_object_object_add(o, "pool_file_bytes", json_object_new_int64((int64_t)res.st.file_bytes));
		json_object_object_add(o, "exec_to_ready_s", json_object_new_double(res.st.ready_s));
		json_object_object_add(o, "exec_to_first_reply_s", json_object_new_double(res.st.first_reply_s));
		json_object_object_add(o, "rss_bytes", json_object_new_int64((int64_t)res.st.rss_kb * 1024));
		json_object_object_add(o, "rss_peak_bytes", json_object_new_int64((int64_t)res.st.hwm_kb * 1024));
		json_object_object_add(o, "rss_over_pool_files",
				       json_object_new_double(ratio(res.st.rss_kb * 1024.0,
								    (double)res.st.file_bytes)));
		json_object_object_add(top, "startup", o);
	}
	f = strcmp(path, "-") ? fopen(path, "we") : stdout;
	if (!f)
		bk_die("%s: %s", path, strerror(errno));
	fprintf(f, "%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY));
	if (f != stdout && fclose(f) != 0)
		bk_die("%s: %s", path, strerror(errno));
	json_object_put(top);
}

/* ---- options ---- */

static unsigned int parse_list(const char *s, unsigned int *v, unsigned int max,
			       unsigned int min, const char *what)
{
	unsigned int n = 0;
	char *end;

	while (*s) {
		unsigned long x = strtoul(s, &end, 10);

		if (end == s || x < min || x > 10000000 || n == max)
			bk_die("%s: '%s' is not a list of numbers (%u to 10000000)", what, s, min);
		v[n++] = (unsigned int)x;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			bk_die("%s: unexpected '%c'", what, *end);
	}
	if (!n)
		bk_die("%s: empty list", what);
	return n;
}

static const char usage_text[] =
	"usage: hv-bench-kvp --hvkvpd PATH [--shim PATH] [--linux-daemon PATH]\n"
	"                    [--json FILE] [--parts N,N,...] [--sizes N,...]\n"
	"                    [--kernel-sizes N,...] [--ops N] [--kernel-ops N]\n"
	"                    [--latency-samples N] [--client-seconds S] [--tmp DIR] [-v]\n";

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "hvkvpd", required_argument, NULL, 'H' },
		{ "shim", required_argument, NULL, 'S' },
		{ "linux-daemon", required_argument, NULL, 'L' },
		{ "json", required_argument, NULL, 'j' },
		{ "parts", required_argument, NULL, 'p' },
		{ "sizes", required_argument, NULL, 's' },
		{ "kernel-sizes", required_argument, NULL, 'k' },
		{ "ops", required_argument, NULL, 'o' },
		{ "kernel-ops", required_argument, NULL, 'O' },
		{ "latency-samples", required_argument, NULL, 'l' },
		{ "client-seconds", required_argument, NULL, 'c' },
		{ "tmp", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int parts[5], np;
	int c;

	while ((c = getopt_long(argc, argv, "vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'H': opt.hvkvpd = optarg; break;
		case 'S': opt.shim = optarg; break;
		case 'L': opt.linux_daemon = optarg; break;
		case 'j': opt.json = optarg; break;
		case 't': opt.tmp = optarg; break;
		case 'v': bk_verbose++; break;
		case 's':
			opt.nsizes = parse_list(optarg, opt.sizes, MAX_SIZES, 2, "--sizes");
			break;
		case 'k':
			opt.nksizes = parse_list(optarg, opt.ksizes, MAX_SIZES, 2, "--kernel-sizes");
			break;
		case 'o': parse_list(optarg, &opt.ops, 1, 1, "--ops"); break;
		case 'O': parse_list(optarg, &opt.kops, 1, 1, "--kernel-ops"); break;
		case 'l': parse_list(optarg, &opt.lat_samples, 1, 1, "--latency-samples"); break;
		case 'c':
			opt.client_seconds = strtod(optarg, NULL);
			if (!(opt.client_seconds > 0 && opt.client_seconds <= 60))
				bk_die("--client-seconds: '%s' is not 0 to 60 s", optarg);
			break;
		case 'p':
			np = parse_list(optarg, parts, 5, 1, "--parts");
			memset(opt.part, 0, sizeof(opt.part));
			for (unsigned int i = 0; i < np; i++) {
				if (parts[i] > 4)
					bk_die("--parts: %u is not a part (1 to 4)", parts[i]);
				opt.part[parts[i]] = true;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (!opt.hvkvpd || optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	/* Part 4's figures come from part 1's largest pool. */
	if (opt.part[4])
		opt.part[1] = true;
	signal(SIGPIPE, SIG_IGN);
	snprintf(workdir, sizeof(workdir), "%s/hv-bench-kvp-XXXXXX", opt.tmp);
	if (!mkdtemp(workdir))
		bk_die("%s: %s", workdir, strerror(errno));
	if (opt.part[1])
		part_host();
	if (opt.part[2])
		part_kernel();
	if (opt.part[3])
		part_clients();
	bk_rmtree(workdir);
	print_table();
	if (opt.json)
		write_json(opt.json);
	return 0;
}
