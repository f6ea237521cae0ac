/* SPDX-License-Identifier: ISC */
/*
 * hvctl: one file per group of subcommands; main.c parses the global
 * options and dispatches. A subcommand returns the exit status.
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
	HVCTL_EXIT_NOTFOUND = 1,
	HVCTL_EXIT_USAGE = 2,
	HVCTL_EXIT_FAIL = 3,
};

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

/* Print the usage (of one command if cmd is not NULL); returns HVCTL_EXIT_USAGE. */
int hvctl_usage(FILE *f, const char *cmd);

/*
 * Handle --root and --help inside a subcommand's option loop: returns 1
 * if opt was one of them (with *status set when the caller must return).
 */
int hvctl_common_opt(struct hvctl *ctx, int opt, const char *cmd, int *status);

/* Print "hvctl: " and the message to standard error. */
void hvctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read the device list under ctx->root, reporting a failure; NULL on error. */
struct hv_vmbus_list *hvctl_list(const struct hvctl *ctx, int *status);

/*
 * The one device DEVICE names: an instance GUID, or a class GUID or class
 * name (as `hvctl devices` prints it, brackets optional, any case) that
 * exactly one device has. NULL with *status set and a message otherwise.
 */
const struct hv_vmbus_device *hvctl_device_find(const struct hv_vmbus_list *list,
						const char *spec, int *status);

#endif
