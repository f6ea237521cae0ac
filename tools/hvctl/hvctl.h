/* SPDX-License-Identifier: ISC */
/*
 * hvctl: one file per group of subcommands; main.c parses the global
 * options and dispatches.
 *
 * Every function returns 0 or a negative errno, its message already on
 * standard error; main() alone turns that into the exit status
 * (hvctl_exit_status): -ENOENT is "not found", -EINVAL a usage error,
 * any other errno a failure. A failure that carries ENOENT or EINVAL
 * from below is passed up through hvctl_failure.
 */
#ifndef HVCTL_H
#define HVCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "hvuio/vmbus.h"

/* Exit statuses, as the manual lists them. */
enum {
	HVCTL_EXIT_OK = 0,
	HVCTL_EXIT_NOTFOUND = 1,  /* -ENOENT */
	HVCTL_EXIT_USAGE = 2,     /* -EINVAL */
	HVCTL_EXIT_FAIL = 3,      /* any other errno */
};

/* The exit status for what a command returned. */
int hvctl_exit_status(int err);

/* err as a failure (exit 3), even when its errno is ENOENT or EINVAL. */
int hvctl_failure(int err);

/* Long options without a letter: getopt_long returns these. */
enum {
	HVCTL_OPT_ROOT = 0x100,
	HVCTL_OPT_SOCKET,
	HVCTL_OPT_STATE_DIR,
};

#define HVCTL_SOCKET_DEFAULT    "/run/hvkvpd/socket"
#define HVCTL_STATE_DIR_DEFAULT "/var/lib/hyperv"

struct hvctl {
	const char *root;       /* --root: where sys/, dev/ and proc/ are read */
	const char *socket;     /* --socket: hvkvpd's client socket */
	const char *state_dir;  /* --state-dir: the pool files, when hvkvpd is not running */
	/* The key commands' options; main.c takes them before a Pool/Key too. */
	const char *pool;       /* -p */
	const char *input;      /* -i */
	const char *output;     /* -o */
	int raw;                /* -r */
	int json;               /* --json */
	int quiet;              /* -q */
	int help;               /* -h: the usage was printed, nothing else to do */
};

struct hvctl_cmd {
	const char *name;
	int (*run)(struct hvctl *ctx, int argc, char **argv);
	const char *usage;      /* after "hvctl " */
};

int hvctl_devices(struct hvctl *ctx, int argc, char **argv);
int hvctl_bind(struct hvctl *ctx, int argc, char **argv);
int hvctl_unbind(struct hvctl *ctx, int argc, char **argv);

/* keys.c: the KVP pools through hvkvpd, or read from the pool files. */
int hvctl_get(struct hvctl *ctx, int argc, char **argv);
int hvctl_set(struct hvctl *ctx, int argc, char **argv);
int hvctl_delete(struct hvctl *ctx, int argc, char **argv);
int hvctl_keys_list(struct hvctl *ctx, int argc, char **argv);
int hvctl_watch(struct hvctl *ctx, int argc, char **argv);
int hvctl_status(struct hvctl *ctx, int argc, char **argv);
/*
 * peers.c: warn on standard error when another KVP daemon (Linux's
 * hv_kvp_daemon, hypervkvpd) runs or is installed and not masked under
 * ctx->root, naming the unit to mask. Returns how many warnings.
 */
int hvctl_peers_warn(const struct hvctl *ctx);

/* hostctl(8)'s form: hvctl [options] Pool/Key [value]; argv[0] is Pool/Key. */
int hvctl_hostctl(struct hvctl *ctx, int argc, char **argv);

/*
 * The key commands' options as getopt_long sees them, shared by main.c
 * (before a Pool/Key) and the commands. Returns 1 if opt was one of them.
 */
extern const char hvctl_key_optstring[];
extern const struct option hvctl_key_options[];
int hvctl_key_opt(struct hvctl *ctx, int opt);

/* Print the usage (of one command if cmd is not NULL); returns -EINVAL. */
int hvctl_usage(FILE *f, const char *cmd);

/*
 * Handle --root, --help and an unknown option inside a subcommand's
 * option loop: 1 if opt was --root or --help (which prints the usage and
 * sets ctx->help: the command returns 0 at once), -EINVAL after the
 * usage for an unknown option, 0 for any other opt.
 */
int hvctl_common_opt(struct hvctl *ctx, int opt, const char *cmd);

/* Print "hvctl: " and the message to standard error. */
void hvctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read the device list under ctx->root into *ret: 0 or a failure (reported). */
int hvctl_list(const struct hvctl *ctx, struct hv_vmbus_list **ret);

/*
 * The one device DEVICE names: an instance GUID, or a class GUID or class
 * name (as `hvctl devices` prints it, brackets optional, any case) that
 * exactly one device has. 0 with *ret set, or (reported) -ENOENT when no
 * device matches, -EINVAL when several do.
 */
int hvctl_device_find(const struct hv_vmbus_list *list, const char *spec,
		      const struct hv_vmbus_device **ret);

#endif
