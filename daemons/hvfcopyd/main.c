/* SPDX-License-Identifier: ISC */
/* hvfcopyd: the Hyper-V guest file copy (Copy-VMFile) daemon. See hvfcopyd(8). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "hvfcopyd.h"
#include "daemons/hvkvpd/log.h"

#define DEFAULT_STATE_DIR "/var/lib/hvfcopyd"
/* Long enough to catch the host's next fragment, short enough to cost nothing idle. */
#define DEFAULT_LINGER_US 200

static const char usage_text[] =
	"usage: hvfcopyd [-dhnV] [--allow DIR] [--backend auto | uio | kernel | sim]\n"
	"                [--kernel-device PATH] [--linger-us N] [--mode OCTAL] [--root DIR]\n"
	"                [--state-dir DIR]\n";

static int parse_uint(const char *s, int base, unsigned long max, unsigned long *v)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, base);
	return errno || *end || *v > max ? -EINVAL : 0;
}

/* An --allow directory: absolute, without "." or ".." components. */
static bool allow_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; ) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
	}
	return true;
}

static int parse_args(struct hvfcopyd *d, int argc, char **argv, bool *debug)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "root", required_argument, NULL, 'r' },
		{ "kernel-device", required_argument, NULL, 'k' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "allow", required_argument, NULL, 'a' },
		{ "mode", required_argument, NULL, 'm' },
		{ "linger-us", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'n' },
		{ "no-daemon", no_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "ndhV", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "auto"))
				d->backend = HVFCOPYD_BACKEND_AUTO;
			else if (!strcmp(optarg, "uio"))
				d->backend = HVFCOPYD_BACKEND_UIO;
			else if (!strcmp(optarg, "kernel"))
				d->backend = HVFCOPYD_BACKEND_KERNEL;
			else if (!strcmp(optarg, "sim"))
				d->backend = HVFCOPYD_BACKEND_SIM;
			else {
				fprintf(stderr, "hvfcopyd: --backend: '%s' is not auto, uio, "
					"kernel or sim\n", optarg);
				return -1;
			}
			break;
		case 'r': d->root = optarg; break;
		case 'k': d->kernel_device = optarg; break;
		case 's': d->state_dir = optarg[0] ? optarg : NULL; break;
		case 'a':
			if (!allow_ok(optarg)) {
				fprintf(stderr, "hvfcopyd: --allow: '%s' is not an absolute path "
					"without . or .. components\n", optarg);
				return -1;
			}
			if (d->nallow == HVFCOPYD_MAX_ALLOW) {
				fprintf(stderr, "hvfcopyd: --allow: at most %d directories\n",
					HVFCOPYD_MAX_ALLOW);
				return -1;
			}
			d->allow[d->nallow++] = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, 8, 07777, &v) < 0) {
				fprintf(stderr, "hvfcopyd: --mode: '%s' is not an octal mode "
					"up to 7777\n", optarg);
				return -1;
			}
			d->mode = (int)v;
			break;
		case 'l':
			if (parse_uint(optarg, 10, 100000, &v) < 0) {
				fprintf(stderr, "hvfcopyd: --linger-us: '%s' is not a number of "
					"microseconds up to 100000\n", optarg);
				return -1;
			}
			d->linger_us = (unsigned int)v;
			break;
		case 'n': d->foreground = true; break;
		case 'd': *debug = true; break;
		case 'h':
			fputs(usage_text, stdout);
			exit(HVFCOPYD_EXIT_OK);
		case 'V':
			printf("hvfcopyd %s\n", HVUIO_VERSION);
			exit(HVFCOPYD_EXIT_OK);
		default:
			fputs(usage_text, stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return -1;
	}
	return 0;
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void log_backend(const struct hvfcopyd *d)
{
	if (d->chosen == HVFCOPYD_BACKEND_KERNEL)
		log_info("backend kernel: %s", d->kernel_device);
	else
		log_info("backend %s: fcopy channel under %s", hvfcopyd_backend_name(d->chosen),
			 d->root);
}

/* Serve until a termination signal; 0, or a negative errno. */
static int loop(struct hvfcopyd *d)
{
	int err;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = d->sigfd, .events = POLLIN },
			{ .fd = hvfcopyd_backend_fd(d), .events = POLLIN },
		};
		bool terminate;

		/* The host's first message may already wait: serve before any sleep. */
		err = hvfcopyd_backend_serve(d);
		if (err == -ENODEV) {
			err = hvfcopyd_backend_reopen(d);
			if (err)
				return err > 0 ? 0 : err;
			log_backend(d);
			continue;
		}
		if (err < 0)
			log_warn("serving the host: %s", strerror(-err));
		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			return -errno;
		}
		if (pfd[0].revents & POLLIN) {
			hvfcopyd_signal_take(d, &terminate);
			if (terminate)
				return 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct hvfcopyd d = {
		.root = "/",
		.kernel_device = HV_FCOPY_KERNEL_DEVICE,
		.state_dir = DEFAULT_STATE_DIR,
		.mode = -1,
		.linger_us = DEFAULT_LINGER_US,
		.kfd = -1,
		.sigfd = -1,
		.copy = { .fd = -1, .dirfd = -1 },
	};
	bool debug = false;
	int err, rc = HVFCOPYD_EXIT_OK;

	if (parse_args(&d, argc, argv, &debug) < 0)
		return HVFCOPYD_EXIT_USAGE;
	log_init(d.foreground, debug);
	d.sigfd = signals_open();
	if (d.sigfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return HVFCOPYD_EXIT_FAILURE;
	}
	/* After the signals are blocked: the thread inherits the mask. */
	err = fc_writer_start(&d.writer);
	if (err < 0) {
		log_err("starting the writer thread: %s", strerror(-err));
		return HVFCOPYD_EXIT_FAILURE;
	}
	if (d.state_dir && mkdir(d.state_dir, 0700) < 0 && errno != EEXIST)
		log_warn("state directory %s: %s (a partial file of a killed run cannot be "
			 "found again)", d.state_dir, strerror(errno));
	fc_copy_recover(&d);
	if (hvfcopyd_backend_choose(&d) < 0) {
		rc = HVFCOPYD_EXIT_FAILURE;
		goto out;
	}
	err = hvfcopyd_backend_open(&d);
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO || err == -ECONNREFUSED) {
		log_notice("the fcopy device is not there yet (%s): waiting for it",
			   strerror(-err));
		err = hvfcopyd_backend_reopen(&d);
		if (err > 0)
			goto out;
	}
	if (err < 0) {
		log_err("opening the %s backend: %s", hvfcopyd_backend_name(d.chosen),
			strerror(-err));
		rc = HVFCOPYD_EXIT_FAILURE;
		goto out;
	}
	log_backend(&d);
	if (loop(&d) < 0)
		rc = HVFCOPYD_EXIT_FAILURE;
out:
	fc_copy_abort(&d, "hvfcopyd is stopping");
	hvfcopyd_backend_close(&d);
	free(d.buf);
	fc_writer_stop(d.writer);
	close(d.sigfd);
	return rc;
}
