/* SPDX-License-Identifier: ISC */
/*
 * hvkvpd: the Hyper-V KVP (Data Exchange) daemon. Options, set-up and
 * tear-down; the loop is in loop.c, the backends in backend.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "clients.h"
#include "hvkvpd.h"
#include "log.h"
#include "sdnotify.h"


/* Word for word the SYNOPSIS of man/hvkvpd.8 (a test compares them). */
static const char usage_text[] =
	"usage: hvkvpd [-dhnV] [-o option] [--backend auto | uio | kernel | sim]\n"
	"              [--busy-poll] [--journal-dir DIR] [--kernel-device PATH]\n"
	"              [--no-sandbox] [--restrict-read POOL[,POOL ...]] [--root DIR]\n"
	"              [--set-ip-hook PATH] [--socket PATH] [--state-dir DIR]\n"
	"              [--sync always | write] [--writer-group GROUP]\n";

enum {
	OPT_BACKEND = 256,
	OPT_BUSY_POLL,
	OPT_JOURNAL_DIR,
	OPT_KERNEL_DEVICE,
	OPT_NO_SANDBOX,
	OPT_RESTRICT_READ,
	OPT_ROOT,
	OPT_SET_IP_HOOK,
	OPT_SOCKET,
	OPT_STATE_DIR,
	OPT_SYNC,
	OPT_WRITER_GROUP,
};

#define DEFAULT_STATE_DIR   "/var/lib/hyperv"
#define DEFAULT_JOURNAL_DIR "/var/lib/hvkvpd"

static const struct option long_options[] = {
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
	{ "debug", no_argument, NULL, 'd' },
	{ "foreground", no_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ "journal-dir", required_argument, NULL, OPT_JOURNAL_DIR },
	{ "kernel-device", required_argument, NULL, OPT_KERNEL_DEVICE },
	{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
	{ "restrict-read", required_argument, NULL, OPT_RESTRICT_READ },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "set-ip-hook", required_argument, NULL, OPT_SET_IP_HOOK },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "sync", required_argument, NULL, OPT_SYNC },
	{ "version", no_argument, NULL, 'V' },
	{ "writer-group", required_argument, NULL, OPT_WRITER_GROUP },
	{ NULL, 0, NULL, 0 },
};

static int usage(FILE *f)
{
	fputs(usage_text, f);
	return HVKVPD_EXIT_USAGE;
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("hvkvpd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return usage(stderr);
}

static int sync_parse(struct hvkvpd *d, const char *v)
{
	if (strcmp(v, "always") == 0)
		d->sync_always = true;
	else if (strcmp(v, "write") == 0)
		d->sync_always = false;
	else
		return bad("sync: '%s' is neither 'always' nor 'write'", v);
	return 0;
}

static int options_parse(struct hvkvpd *d, int argc, char **argv, bool *debug)
{
	int opt, err;

	while ((opt = getopt_long(argc, argv, "dhno:V", long_options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			*debug = true;
			break;
		case 'h':
			usage(stdout);
			exit(HVKVPD_EXIT_OK);
		case 'n':
			d->foreground = true;
			break;
		case 'V':
			printf("hvkvpd %s\n", HVUIO_VERSION);
			exit(HVKVPD_EXIT_OK);
		case 'o':
			if (strncmp(optarg, "sync=", 5) != 0)
				return bad("-o: unknown option '%s' (known: sync=always, sync=write)",
					   optarg);
			if ((err = sync_parse(d, optarg + 5)) != 0)
				return err;
			break;
		case OPT_SYNC:
			if ((err = sync_parse(d, optarg)) != 0)
				return err;
			break;
		case OPT_BACKEND:
			if (strcmp(optarg, "auto") == 0)
				d->backend = HVKVPD_BACKEND_AUTO;
			else if (strcmp(optarg, "uio") == 0)
				d->backend = HVKVPD_BACKEND_UIO;
			else if (strcmp(optarg, "kernel") == 0)
				d->backend = HVKVPD_BACKEND_KERNEL;
			else if (strcmp(optarg, "sim") == 0)
				d->backend = HVKVPD_BACKEND_SIM;
			else
				return bad("--backend: '%s' is not auto, uio, kernel or sim", optarg);
			break;
		case OPT_BUSY_POLL:
			d->busy_poll = true;
			break;
		case OPT_KERNEL_DEVICE:
			d->kernel_device = optarg;
			break;
		case OPT_NO_SANDBOX:
			d->no_sandbox = true;
			break;
		case OPT_ROOT:
			d->root = optarg;
			break;
		case OPT_SET_IP_HOOK:
			d->set_ip_hook = optarg;
			break;
		case OPT_SOCKET:
			d->socket_path = optarg;
			break;
		case OPT_STATE_DIR:
			d->state_dir = optarg;
			break;
		case OPT_JOURNAL_DIR:
			d->journal_dir = optarg;
			break;
		case OPT_RESTRICT_READ:
			if (hvkvpd_pools_parse(optarg, &d->restrict_read) < 0)
				return bad("--restrict-read: '%s' is not a list of pools", optarg);
			break;
		case OPT_WRITER_GROUP:
			if (!getgrnam(optarg))
				return bad("--writer-group: there is no group '%s'", optarg);
			d->writer_group = optarg;
			break;
		default:
			return usage(stderr);
		}
	}
	if (optind != argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!*d->root || !*d->kernel_device || !*d->state_dir ||
	    (d->journal_dir && !*d->journal_dir))
		return bad("an empty path is not a path");
	if (d->socket_path[0] != '/')
		return bad("--socket: '%s' is not an absolute path", d->socket_path);
	if (strlen(d->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return bad("--socket: '%s' is too long for a UNIX socket", d->socket_path);
	if (d->backend == HVKVPD_BACKEND_SIM && strcmp(d->root, "/") == 0)
		return bad("--backend sim needs --root with a sim root (see hvsim(8))");
	return 0;
}

/*
 * The state and journal directories: whoever may write in them may swap a
 * pool file or a journal for a link to any file root writes, or plant
 * journals. Refuse one when it is a symbolic link, writable by group or
 * others, or (as root) not root's. Made here when missing, `mode`
 * whatever the umask (0755: others read the pool files; 0700: the journal
 * is ours alone), so that the checks see what the store will use.
 */
static int state_dir_check(const char *dir, mode_t mode)
{
	struct stat st;
	bool made;
	int fd, err = 0;

	made = mkdir(dir, mode) == 0;
	if (!made && errno != EEXIST) {
		err = -errno;
		log_err("state directory %s: %s", dir, strerror(errno));
		return err;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
			log_err("state directory %s is a symbolic link: refusing it; give the "
				"directory it points to", dir);
		else
			log_err("state directory %s: %s", dir, strerror(errno));
		return err;
	}
	if (made && fchmod(fd, mode) < 0) {
		err = -errno;
		log_err("state directory %s: chmod: %s", dir, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		log_err("state directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		err = -EPERM;
		log_err("state directory %s is writable by %s (mode %04o): refusing it; "
			"chmod go-w %s", dir, st.st_mode & S_IWOTH ? "others" : "its group",
			(unsigned int)(st.st_mode & 07777), dir);
		goto out;
	}
	if (st.st_uid != 0 && (geteuid() == 0 || st.st_uid != geteuid())) {
		err = -EPERM;
		log_err("state directory %s belongs to uid %u, not to %s: refusing it", dir,
			(unsigned int)st.st_uid, geteuid() == 0 ? "root" : "us or root");
		goto out;
	}
out:
	close(fd);
	return err;
}

/*
 * What SET_IP_INFO runs: --set-ip-hook, else hv_set_ifconfig where the
 * distribution installed it, as Linux's daemon runs it; the files go to
 * the state directory either way. The privileged helper runs it.
 */
static int ip_program_setup(struct hvkvpd *d)
{
	struct hv_kvp_info *info = hv_kvp_handler_info(d->handler);
	int err;

	err = hv_kvp_info_runner_set(info, hvkvpd_privsep_ip_apply, d);
	if (err < 0) {
		log_err("SET_IP_INFO: %s", strerror(-err));
		return err;
	}
	if (d->set_ip_hook) {
		d->ip_program = d->set_ip_hook;
	} else if (hv_kvp_info_ifconfig_find("/", d->ip_program_found,
					     sizeof(d->ip_program_found)) == 0) {
		err = hv_kvp_info_ifconfig_set(info, d->ip_program_found, 0);
		if (err < 0) {
			log_err("SET_IP_INFO: %s: %s", d->ip_program_found, strerror(-err));
			return err;
		}
		d->ip_program = d->ip_program_found;
	}
	if (d->ip_program)
		log_info("SET_IP_INFO runs %s%s", d->ip_program,
			 d->set_ip_hook ? " (--set-ip-hook)" : " with the ifcfg and keyfile");
	else
		log_info("SET_IP_INFO: no hv_set_ifconfig installed and no --set-ip-hook: "
			 "the host's IP configuration is written to %s and answered HV_E_FAIL, "
			 "as Linux's daemon answers without the script", d->state_dir);
	return 0;
}

static int signals_block(struct hvkvpd *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct hvkvpd d = {
		.backend = HVKVPD_BACKEND_AUTO,
		.root = "/",
		.kernel_device = "/dev/vmbus/hv_kvp",
		.state_dir = DEFAULT_STATE_DIR,
		.socket_path = "/run/hvkvpd/socket",
		.sigfd = -1,
		.privsep_fd = -1,
		.schedstat_fd = -1,
	};
	struct hv_kvp_handler_config hcfg = { .sz = sizeof(hcfg) };
	struct hvkvpd_clients_config ccfg = { 0 };
	const char *what;
	char *journal_alloc = NULL;
	bool debug = false;
	int status = HVKVPD_EXIT_FAILURE, err;

	err = options_parse(&d, argc, argv, &debug);
	if (err)
		return err;
	log_init(d.foreground, debug);
	if (d.set_ip_hook && access(d.set_ip_hook, X_OK) < 0) {
		log_err("--set-ip-hook %s: %s", d.set_ip_hook, strerror(errno));
		goto out;
	}
	err = signals_block(&d);
	if (err < 0) {
		log_err("signals: %s", strerror(-err));
		goto out;
	}
	err = hvkvpd_backend_choose(&d);
	if (err < 0)
		goto out;
	err = state_dir_check(d.state_dir, 0755);
	if (err < 0)
		goto out;
	/*
	 * The journal is ours alone: not among the files other programs read.
	 * With another state folder, beside it, so that two daemons on two
	 * folders never share one.
	 */
	if (!d.journal_dir && strcmp(d.state_dir, DEFAULT_STATE_DIR) == 0) {
		d.journal_dir = DEFAULT_JOURNAL_DIR;
	} else if (!d.journal_dir) {
		if (asprintf(&journal_alloc, "%s.hvkvpd", d.state_dir) < 0) {
			log_err("journal folder: %s", strerror(ENOMEM));
			goto out;
		}
		d.journal_dir = journal_alloc;
	}
	err = state_dir_check(d.journal_dir, 0700);
	if (err < 0)
		goto out;
	err = hv_kvp_pool_open_journaled(d.state_dir, d.journal_dir,
					 d.sync_always ? HV_KVP_POOL_SYNC_ALWAYS : 0, &d.store);
	if (err < 0) {
		log_err("pool files in %s: %s", d.state_dir, strerror(-err));
		goto out;
	}
	hcfg.set_ip_hook = d.set_ip_hook;
	hcfg.state_dir = d.state_dir;
	err = hv_kvp_handler_new(d.store, &hcfg, &d.handler);
	if (err < 0) {
		log_err("request handler: %s", strerror(-err));
		goto out;
	}
	err = ip_program_setup(&d);
	if (err < 0)
		goto out;
	if (!d.foreground && daemon(0, 0) < 0) {
		log_err("daemon: %s", strerror(errno));
		goto out;
	}
	/* After daemon(): the helper dies with its parent. Before the sandbox. */
	err = hvkvpd_privsep_start(&d);
	if (err < 0)
		goto out;
	log_info("hvkvpd %s: backend %s, pool files in %s, journal in %s, sync %s", HVUIO_VERSION,
		 hvkvpd_backend_name(d.chosen), d.state_dir, d.journal_dir,
		 d.sync_always ? "always" : "write");
	/*
	 * Before the client thread exists, so that it starts confined; the
	 * socket and the device need no privilege (see sandbox.c).
	 */
	if (d.no_sandbox) {
		log_notice("--no-sandbox: keeping every capability, no seccomp filter");
	} else {
		err = hvkvpd_sandbox_enter(&d);
		if (err < 0)
			goto out;
	}
	/* After daemon(): a thread does not survive the fork. */
	ccfg.socket_path = d.socket_path;
	ccfg.writer_group = d.writer_group;
	ccfg.restrict_read = d.restrict_read;
	ccfg.store = d.store;
	ccfg.info_root = hcfg.root;
	ccfg.info = hv_kvp_handler_info(d.handler);
	err = hvkvpd_clients_start(&ccfg, &d.clients, &what);
	if (err < 0) {
		log_err("client socket %s: %s: %s", d.socket_path, what, strerror(-err));
		goto out;
	}
	/*
	 * Ready once the pools are loaded and the socket serves, not when the
	 * host's device shows up: that may take long, or never happen, and a
	 * start job waiting for it would hold up the boot.
	 */
	/*
	 * Start-up freed what it used once (the pool files, read whole):
	 * hand those pages back, or the heap keeps them resident for the
	 * daemon's whole life.
	 */
	malloc_trim(0);
	err = hvkvpd_notify("READY=1\nSTATUS=serving clients, waiting for the host's device");
	if (err < 0)
		log_warn("NOTIFY_SOCKET: %s", strerror(-err));
	err = hvkvpd_backend_open(&d);
	if (err == -ENOENT && d.chosen != HVKVPD_BACKEND_KERNEL) {
		/* Chosen by option before the host offered the device: wait for it. */
		err = hvkvpd_backend_reopen(&d);
		if (err == 1) {
			status = HVKVPD_EXIT_OK;
			goto out;
		}
	}
	if (err < 0) {
		log_err("opening the %s backend (%s): %s", hvkvpd_backend_name(d.chosen),
			d.chosen == HVKVPD_BACKEND_KERNEL ? d.kernel_device : d.root,
			strerror(-err));
		if (err == -ENXIO)
			hvkvpd_backend_explain(&d);
		goto out;
	}
	hvkvpd_notify("STATUS=serving the host");
	err = hvkvpd_loop(&d);
	hvkvpd_notify("STOPPING=1");
	if (err < 0)
		goto out;
	status = HVKVPD_EXIT_OK;
out:
	/* First: its thread reads the store and the Auto values. */
	hvkvpd_clients_stop(d.clients);
	hv_kvp_transport_close(d.transport);
	hvkvpd_privsep_stop(&d);
	hv_kvp_handler_free(d.handler);
	/* Compacts: other programs see the host's deletes once we are gone. */
	hv_kvp_pool_close(d.store);
	free(journal_alloc);
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (status == HVKVPD_EXIT_OK)
		log_info("stopped");
	return status;
}
