/* SPDX-License-Identifier: ISC */
/*
 * Privilege separation, as OpenBSD's daemons do it: a small helper
 * process, forked before the sandbox closes, does the two things the
 * sandboxed daemon may not do.
 *
 *  - It resolves the host name's canonical name (getaddrinfo may talk to
 *    DNS over AF_INET sockets, which the seccomp filter refuses): once at
 *    start, and again whenever the host name changes, while the daemon
 *    answers the host from its cache.
 *  - It runs the SET_IP_INFO program (Linux's hv_set_ifconfig, or the
 *    --set-ip-hook), which configures interfaces and needs CAP_NET_ADMIN
 *    and whatever system calls it makes.
 *
 * The daemon keeps no capability and its filter. The helper keeps only
 * what the program needs (sandbox.c, hvkvpd_sandbox_helper), and takes
 * exactly two requests over a socket pair, each a fixed struct: a host
 * name to resolve, or a checked hv_kvp_ip_apply, which it checks again
 * (hv_kvp_info_ip_apply) and runs the program it was started with on;
 * the program's path and its arguments never come from the daemon.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hvuio/kvp_info.h>

#include "hvkvpd.h"
#include "log.h"

enum { PS_FQDN = 1, PS_IP = 2 };

struct ps_request {
	uint32_t type;
	union {
		char host[HOST_NAME_MAX + 1];
		struct hv_kvp_ip_apply ip;
	} u;
};

struct ps_reply {
	uint32_t type;
	int32_t result;               /* 0 or a negative errno */
	char host[HOST_NAME_MAX + 1]; /* PS_FQDN: the name resolved, */
	char fqdn[NI_MAXHOST];        /* and its canonical name */
};

/* How long start-up waits for the first resolution, as Linux's daemon resolves before serving. */
#define FQDN_FIRST_WAIT_MS 5000

static int ps_send(int fd, const void *msg, size_t len)
{
	ssize_t n;

	do
		n = send(fd, msg, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* The helper's loop: one request, one reply, until the daemon goes. */
static void helper_serve(int fd, struct hv_kvp_info *info)
{
	struct ps_request *req = malloc(sizeof(*req));
	struct ps_reply rep;
	ssize_t n;

	if (!req)
		return;
	for (;;) {
		n = recv(fd, req, sizeof(*req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		memset(&rep, 0, sizeof(rep));
		rep.type = req->type;
		if ((size_t)n != sizeof(*req)) {
			rep.result = -EBADMSG;
		} else if (req->type == PS_FQDN) {
			if (!memchr(req->u.host, '\0', sizeof(req->u.host))) {
				rep.result = -EINVAL;
			} else {
				strcpy(rep.host, req->u.host);
				rep.result = hv_kvp_info_fqdn_resolve(rep.host, rep.fqdn,
								      sizeof(rep.fqdn));
			}
		} else if (req->type == PS_IP) {
			/* Both ends are this build: sz names no more than arrived. */
			rep.result = req->u.ip.sz == sizeof(req->u.ip) ?
				     hv_kvp_info_ip_apply(info, &req->u.ip) : -EBADMSG;
		} else {
			rep.result = -EBADMSG;
		}
		if (ps_send(fd, &rep, sizeof(rep)) < 0)
			break;
		/*
		 * The heap came from the daemon at fork: what a request freed
		 * (the resolver's, the program's environment) would otherwise
		 * stay resident as the helper's own copy until it exits.
		 */
		malloc_trim(0);
	}
	free(req);
}

/* Every descriptor but `keep`: the helper holds nothing of the daemon's. */
static void fds_close(int keep)
{
	int fd, max = (int)sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

int hvkvpd_privsep_start(struct hvkvpd *d)
{
	pid_t pid, parent = getpid();
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		log_err("privileged helper: socketpair: %s", strerror(errno));
		return err;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		log_err("privileged helper: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		struct hv_kvp_info *info = hv_kvp_handler_info(d->handler);
		sigset_t none;

		/* Gone with the daemon, whichever way it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(0);
		/* The daemon's signals are its own (a signalfd): SIGTERM ends us. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		fds_close(sv[1]);
		/* --no-sandbox: the helper keeps what it was given, as the daemon does. */
		if (!d->no_sandbox && hvkvpd_sandbox_helper(d->ip_program != NULL) < 0)
			_exit(HVKVPD_EXIT_FAILURE);
		helper_serve(sv[1], info);
		_exit(0);
	}
	close(sv[1]);
	d->privsep_fd = sv[0];
	d->privsep_pid = pid;
	hvkvpd_privsep_fqdn_refresh(d);
	/* The first name before the first request, as Linux resolves it at start-up. */
	{
		struct pollfd p = { .fd = d->privsep_fd, .events = POLLIN };

		if (poll(&p, 1, FQDN_FIRST_WAIT_MS) > 0)
			hvkvpd_privsep_input(d);
		else
			log_notice("resolving the host name takes long: answering the plain "
				   "name until it is resolved");
	}
	return 0;
}

/* A reply of the helper: an FQDN goes into the cache; 0, or -EPIPE when it is gone. */
static int reply_take(struct hvkvpd *d, struct ps_reply *rep)
{
	struct hv_kvp_info *info = hv_kvp_handler_info(d->handler);
	ssize_t n;

	do
		n = recv(d->privsep_fd, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*rep)) {
		if (rep->type != PS_FQDN)
			return 0;
		d->fqdn_pending = false;
		rep->host[sizeof(rep->host) - 1] = rep->fqdn[sizeof(rep->fqdn) - 1] = '\0';
		if (rep->result < 0 && rep->result != d->fqdn_error)
			log_warn("the host name %s does not resolve (%s): the host is told "
				 "the plain name", rep->host, strerror(-rep->result));
		else if (rep->result == 0)
			log_info("FullyQualifiedDomainName: %s", rep->fqdn);
		d->fqdn_error = rep->result;
		hv_kvp_info_fqdn_set(info, rep->host, rep->result == 0 ? rep->fqdn : NULL);
		return 0;
	}
	log_err("the privileged helper is gone: SET_IP_INFO fails from now on, and the "
		"host name is no longer resolved again");
	close(d->privsep_fd);
	d->privsep_fd = -1;
	return -EPIPE;
}

void hvkvpd_privsep_input(struct hvkvpd *d)
{
	struct ps_reply rep;

	if (d->privsep_fd >= 0)
		reply_take(d, &rep);
}

void hvkvpd_privsep_fqdn_refresh(struct hvkvpd *d)
{
	struct ps_request req = { .type = PS_FQDN };
	int stale;

	if (d->privsep_fd < 0 || d->fqdn_pending)
		return;
	stale = hv_kvp_info_fqdn_stale(hv_kvp_handler_info(d->handler), req.u.host,
				       sizeof(req.u.host));
	if (stale <= 0)
		return;
	if (ps_send(d->privsep_fd, &req, sizeof(req)) == 0)
		d->fqdn_pending = true;
}

/* hv_kvp_ip_runner_fn: the helper runs the program; we wait for its answer. */
int hvkvpd_privsep_ip_apply(void *ctx, const struct hv_kvp_ip_apply *a)
{
	struct hvkvpd *d = ctx;
	struct ps_request *req;
	struct ps_reply rep;
	int err;

	if (d->privsep_fd < 0)
		return -EPIPE;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->type = PS_IP;
	req->u.ip = *a;
	err = ps_send(d->privsep_fd, req, sizeof(*req));
	free(req);
	if (err < 0)
		return err;
	/* An FQDN answer may come first; the helper answers in order. */
	for (;;) {
		err = reply_take(d, &rep);
		if (err < 0)
			return err;
		if (rep.type == PS_IP)
			return rep.result;
	}
}

void hvkvpd_privsep_stop(struct hvkvpd *d)
{
	if (d->privsep_fd >= 0)
		close(d->privsep_fd);
	d->privsep_fd = -1;
	if (d->privsep_pid > 0) {
		/* Its recv() returns 0 now: it exits by itself. */
		while (waitpid(d->privsep_pid, NULL, 0) < 0 && errno == EINTR)
			;
		d->privsep_pid = 0;
	}
}
