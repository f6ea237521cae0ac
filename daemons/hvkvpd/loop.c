/* SPDX-License-Identifier: ISC */
/*
 * The event loop: the transport, the store's inotify descriptor and a
 * signalfd in one poll(). Every host message is answered as soon as it is
 * seen; the store has written what the host set to its pool file before
 * the handler returns, so the reply is never ahead of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/ic.h>

#include "daemons/common/devwait.h"

#include "clients.h"
#include "hvkvpd.h"
#include "log.h"

/*
 * While another program holds a pool file's lock, hvkvpd's writes to it
 * wait (the host is answered from memory meanwhile): look again this often
 * for the lock to be free. Closing the file wakes the loop sooner (inotify).
 */
#define LOCK_RETRY_MS 2

/*
 * After answering the host, keep looking at the ring this long before
 * sleeping: its next request usually follows at once (an ENUMERATE walk, a
 * burst of SETs), and a vCPU that has gone idle takes tens of microseconds
 * to wake (measured: ~35 us on a 2-vCPU KVM guest), more than answering a
 * request costs. Traffic on the KVP channel is rare, so the spin costs
 * nothing when the host is quiet.
 */
#define LINGER_US 100

/*
 * The spin pays only while the CPUs have time to spare: the wake-up it
 * saves is that of an idle vCPU. When other programs want the CPU, the
 * spin is what they wait for, the scheduler takes it off the CPU for a
 * whole round, and the host's next request waits that long (measured on
 * the 2-CPU build machine with a load average of 20 to 30, kernel backend,
 * 5 000 keys: GETs at 4 000-14 000/s lingering, 14 000-64 000/s sleeping
 * between requests). So once the loop thread has waited for a CPU more
 * than LINGER_WAIT_US between two answers, outside the work of answering,
 * it sleeps between requests for LINGER_PAUSE_US before it tries spinning
 * again. The work is left out because a long request (a delete that moves
 * 100 000 records takes tens of milliseconds) may be preempted by the
 * write-back it causes without the spin being in anyone's way: counting
 * it stopped the spin for the requests after every such delete.
 *
 * Being preempted alone is no sign of that: on a quiet machine the host's
 * own wake-ups preempt the spinning thread for a few microseconds each
 * (counting every involuntary switch stopped the spin there too: the GET
 * round trip's median went from 18 to 30-98 us). Other programs that want
 * the CPU hold it for a scheduler slice, a millisecond or more. The wait
 * is the run_delay of /proc/thread-self/schedstat (CONFIG_SCHED_INFO, on
 * in distribution kernels); without it, every involuntary switch
 * (getrusage) counts as LINGER_SLICE_US, about one scheduler slice.
 */
#define LINGER_WAIT_US 500
#define LINGER_SLICE_US 2000
#define LINGER_PAUSE_US 10000000

static int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const op_names[] = {
	"GET", "SET", "DELETE", "ENUMERATE", "GET_IP_INFO", "SET_IP_INFO",
};

static const char *status_name(uint32_t st, char *buf, size_t size)
{
	switch (st) {
	case HV_IC_S_OK: return "HV_S_OK";
	case HV_IC_E_FAIL: return "HV_E_FAIL";
	case HV_IC_S_CONT: return "HV_S_CONT";
	case HV_IC_ERROR_NOT_SUPPORTED: return "HV_ERROR_NOT_SUPPORTED";
	case HV_IC_INVALIDARG: return "HV_INVALIDARG";
	case HV_IC_GUID_NOTFOUND: return "HV_GUID_NOTFOUND";
	}
	snprintf(buf, size, "0x%08" PRIx32, st);
	return buf;
}

/* One line per host operation; host strings escaped. */
static void observe(void *ctx, const struct hv_kvp_event *ev)
{
	struct hvkvpd *d = ctx;
	const struct hv_kvp_request *r = ev->req;
	char key[LOG_ESCAPE_SIZE(HV_KVP_KEY_MAX_SIZE)];
	char value[LOG_ESCAPE_SIZE(160)];
	char sb[16], pb[16];
	const char *st = status_name(ev->status, sb, sizeof(sb));
	const char *pool;

	hvkvpd_clients_host_event(d->clients, ev);
	if (ev->negotiate && ev->error) {
		log_warn("the host's version negotiation failed (%s): answered %s",
			 strerror(-ev->error), st);
		return;
	}
	if (ev->negotiate) {
		log_info("negotiated framework %u.%u, KVP %u.%u", ev->fw.major, ev->fw.minor,
			 ev->msg.major, ev->msg.minor);
		return;
	}
	/* One line per fault of the host, never one per retry or per byte. */
	if (ev->error == -ENOTRECOVERABLE) {
		log_warn("the host broke the ring protocol (impossible index or packet "
			 "descriptor): closing the KVP channel to reset it");
		d->ring_broken = true;
		return;
	}
	if (ev->error == -EAGAIN) {
		log_warn("the host's ring has no room for a reply: holding it, and reading "
			 "nothing more, until the host makes room");
		return;
	}
	if (ev->error == -EPROTONOSUPPORT) {
		log_warn("the host SET a value of a type hvkvpd does not convert (it takes "
			 "REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_QWORD and REG_U64): refused, "
			 "answered %s", st);
		return;
	}
	if (ev->error || !r) {
		if (ev->replied)
			log_warn("host message not understood (%s): answered %s",
				 strerror(-ev->error), st);
		else
			log_warn("host message not understood (%s): dropped, not answered",
				 strerror(-ev->error));
		return;
	}
	pool = hv_kvp_pool_name(r->pool);
	if (!pool) {
		snprintf(pb, sizeof(pb), "%u", r->pool);
		pool = pb;
	}
	if (!log_debug_enabled())
		return;
	switch (r->operation) {
	case HV_KVP_OP_SET:
		log_escape(r->key, r->key_len, key, sizeof(key));
		/* Values run to 2 KiB: the start says enough in a log. */
		log_escape(r->value, r->value_len, value, sizeof(value));
		log_debug("host SET %s \"%s\" = \"%s\": %s", pool, key, value, st);
		break;
	case HV_KVP_OP_GET:
	case HV_KVP_OP_DELETE:
		log_escape(r->key, r->key_len, key, sizeof(key));
		log_debug("host %s %s \"%s\": %s", op_names[r->operation], pool, key, st);
		break;
	case HV_KVP_OP_ENUMERATE:
		log_debug("host ENUMERATE %s %" PRIu32 ": %s", pool, r->index, st);
		break;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		log_escape(r->ip.adapter_id, strnlen(r->ip.adapter_id, sizeof(r->ip.adapter_id)),
			   key, sizeof(key));
		log_debug("host %s \"%s\": %s", op_names[r->operation], key, st);
		break;
	default:
		log_debug("host operation %u: %s", r->operation, st);
		break;
	}
}

static void log_transport(const struct hvkvpd *d)
{
	struct hv_kvp_transport_status s = { .sz = sizeof(s) };

	if (hv_kvp_transport_status_get(d->transport, &s) < 0)
		return;
	hvkvpd_clients_backend(d->clients, s.kind,
			       d->chosen == HVKVPD_BACKEND_KERNEL ? d->kernel_device : d->root);
	if (d->chosen == HVKVPD_BACKEND_KERNEL)
		log_info("backend kernel on %s: registered, kernel KVP version \"%s\"",
			 d->kernel_device, s.kernel_version);
	else
		log_info("backend %s on %s: KVP channel open", s.kind, d->root);
}

/* Answer what is waiting; a failed transport is reopened. 1: stop. */
static uint64_t host_requests(const struct hvkvpd *d)
{
	struct hv_kvp_transport_status st = { .sz = sizeof(st) };

	return hv_kvp_transport_status_get(d->transport, &st) == 0 ? st.requests : 0;
}

static int64_t loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* An Auto value computed only in part: said once per key, not per walk. */
static void auto_errors_log(struct hvkvpd *d)
{
	uint32_t index;
	int err = hv_kvp_handler_auto_error_take(d->handler, &index);
	const char *key;

	if (err >= 0 || index >= 32 || (d->auto_logged & (1u << index)))
		return;
	d->auto_logged |= 1u << index;
	key = hv_kvp_info_auto_key(index);
	log_warn("Auto value %s could not be computed in full (%s): the host is told what "
		 "is known, as Linux's daemon does; this is said once",
		 key ? key : "?", strerror(-err));
}

/*
 * How long the loop thread has waited for a CPU so far, in microseconds:
 * run_delay, or LINGER_SLICE_US per involuntary switch without it.
 */
static uint64_t loop_cpu_wait_us(const struct hvkvpd *d)
{
	char buf[96], *end;
	unsigned long long wait_ns;
	struct rusage ru;
	ssize_t n;

	/* "run_ns wait_ns timeslices\n" */
	if (d->schedstat_fd >= 0) {
		n = pread(d->schedstat_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			strtoull(buf, &end, 10);
			wait_ns = strtoull(end, &end, 10);
			if (*end == ' ')
				return wait_ns / 1000;
		}
	}
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_nivcsw * LINGER_SLICE_US;
}

/*
 * Linger after an answer, unless the CPU has been wanted elsewhere of late.
 * `began` is when the work of this answer began: the wait inside it is at
 * most its length, which is taken off.
 */
static void linger_arm(struct hvkvpd *d, int64_t began)
{
	int64_t now = loop_now_us();
	uint64_t wait = loop_cpu_wait_us(d);

	if ((int64_t)(wait - d->cpu_wait_us) - (now - began) > LINGER_WAIT_US)
		d->linger_paused_us = now + LINGER_PAUSE_US;
	d->cpu_wait_us = wait;
	d->linger_until_us = now < d->linger_paused_us ? 0 : now + LINGER_US;
}

static int serve(struct hvkvpd *d)
{
	uint64_t before = host_requests(d);
	int64_t began = loop_now_us();
	int err;

	/* The handler reads other programs' changes before each pool operation. */
	for (;;) {
		err = hv_kvp_transport_process(d->transport, d->handler, observe, d);
		if (err != -ENODEV)
			break;
		err = hvkvpd_backend_reopen(d);
		if (err != 0)
			return err;
		log_transport(d);
		/* The host may have written before the open: drain again. */
	}
	if (err < 0)
		log_warn("serving the host: %s", strerror(-err));
	if (host_requests(d) != before) {
		linger_arm(d, began);
		auto_errors_log(d);
		/* A renamed host: its new name is resolved while we go on serving. */
		hvkvpd_privsep_fqdn_refresh(d);
	}
	return 0;
}

static const char *const pool_files[] = {
	".kvp_pool_0", ".kvp_pool_1", ".kvp_pool_2", ".kvp_pool_3", ".kvp_pool_4",
};

/* Write what waits for another program's lock; one line when a wait starts and ends. */
static void pools_flush(struct hvkvpd *d)
{
	unsigned int waiting;
	int err = hv_kvp_pool_flush(d->store, &waiting);

	if (err < 0)
		log_warn("writing the pool files: %s", strerror(-err));
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		unsigned int bit = 1u << i;

		if ((waiting & bit) && !(d->pools_waiting & bit)) {
			d->wait_since_ms[i] = loop_now_ms();
			log_warn("%s/%s is locked by another program: the host and clients are "
				 "answered, the file is written once the lock is released",
				 d->state_dir, pool_files[i]);
		} else if (!(waiting & bit) && (d->pools_waiting & bit)) {
			log_info("%s/%s written after waiting %lld ms for its lock", d->state_dir,
				 pool_files[i], (long long)(loop_now_ms() - d->wait_since_ms[i]));
		}
	}
	d->pools_waiting = waiting;
}

/*
 * --backend auto: a device appeared where we do not serve. Whatever the
 * current one delivered is answered first; then we move (backend.c).
 */
static int handover(struct hvkvpd *d, int *wfd)
{
	enum hvkvpd_backend before;
	char buf[4096];
	int err;

	while (*wfd >= 0 && read(*wfd, buf, sizeof(buf)) > 0)
		;
	/*
	 * Watch again before looking: a folder may have appeared, and what
	 * appears after the look is then an event (the watches cover every
	 * place with --backend auto, whichever backend serves).
	 */
	if (*wfd >= 0)
		close(*wfd);
	*wfd = hvkvpd_backend_watch(d);
	err = serve(d);
	if (err != 0)
		return err;
	before = d->chosen;
	err = hvkvpd_backend_follow(d, observe);
	if (err != 0 || d->chosen == before)
		return err;
	log_transport(d);
	/* The new host may have written before we opened it. */
	return serve(d);
}

int hvkvpd_loop(struct hvkvpd *d)
{
	int64_t last_look_ms = loop_now_ms();
	int err, wfd = -1;

	if (d->backend == HVKVPD_BACKEND_AUTO)
		wfd = hvkvpd_backend_watch(d);
	/* This thread's own file: the loop runs in the thread that opens it. */
	d->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	/* Count waits from here: start-up's are no sign of a busy machine. */
	d->cpu_wait_us = loop_cpu_wait_us(d);
	log_transport(d);
	/* The host's first message may already wait: drain before any wait. */
	err = serve(d);
	if (err != 0)
		goto out;
	for (;;) {
		struct pollfd pfd[5];
		int n, timeout = -1, nfd = 0, sigi, tri, sti = -1, psi = -1, wi = -1;
		bool terminate, lingering;

		pfd[sigi = nfd++] = (struct pollfd){ .fd = d->sigfd, .events = POLLIN };
		pfd[tri = nfd++] = (struct pollfd){ .fd = hv_kvp_transport_fd(d->transport),
						     .events = POLLIN };
		if (hv_kvp_pool_fd(d->store) >= 0)
			pfd[sti = nfd++] = (struct pollfd){ .fd = hv_kvp_pool_fd(d->store),
							     .events = POLLIN };
		if (d->privsep_fd >= 0)
			pfd[psi = nfd++] = (struct pollfd){ .fd = d->privsep_fd, .events = POLLIN };
		if (wfd >= 0)
			pfd[wi = nfd++] = (struct pollfd){ .fd = wfd, .events = POLLIN };
		if (d->pools_waiting)
			timeout = LOCK_RETRY_MS;
		/* A device that appeared but did not open yet: try it again in a while. */
		if (d->follow_retry && (timeout < 0 || timeout > DEVWAIT_POLL_MS))
			timeout = DEVWAIT_POLL_MS;
		lingering = loop_now_us() < d->linger_until_us;
		if (d->busy_poll || lingering)
			timeout = 0;
		n = poll(pfd, (nfds_t)nfd, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			log_err("poll: %s", strerror(errno));
			goto out;
		}
		if (pfd[sigi].revents & POLLIN) {
			hvkvpd_signal_take(d, &terminate);
			if (terminate) {
				err = 0;
				goto out;
			}
		}
		if ((wi >= 0 && (pfd[wi].revents & POLLIN)) ||
		    (d->follow_retry && loop_now_ms() - last_look_ms >= DEVWAIT_POLL_MS)) {
			last_look_ms = loop_now_ms();
			err = handover(d, &wfd);
			if (err != 0)
				goto out;
		}
		if (psi >= 0 && (pfd[psi].revents & (POLLIN | POLLHUP)))
			hvkvpd_privsep_input(d);
		if (sti >= 0 && (pfd[sti].revents & POLLIN)) {
			err = hv_kvp_pool_refresh(d->store);
			if (err < 0)
				log_warn("rereading the pool files: %s", strerror(-err));
		}
		if (d->busy_poll || lingering ||
		    (pfd[tri].revents & (POLLIN | POLLERR | POLLHUP))) {
			err = serve(d);
			if (err != 0)
				goto out;
		}
		pools_flush(d);
	}
out:
	if (wfd >= 0)
		close(wfd);
	if (d->schedstat_fd >= 0)
		close(d->schedstat_fd);
	d->schedstat_fd = -1;
	return err < 0 ? err : 0;
}
