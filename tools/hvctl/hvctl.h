/* SPDX-License-Identifier: ISC */
/*
 * hvctl: one file per group of subcommands; main.c parses the global
 * options and dispatches. A subcommand returns the exit status.
 */
#ifndef HVCTL_H
#define HVCTL_H

#include <stdio.h>

#include "hvuio/vmbus.h"

/* Exit statuses, as the manual lists them. */
enum {
	HVCTL_EXIT_OK = 0,
	HVCTL_EXIT_NOTFOUND = 1,
	HVCTL_EXIT_USAGE = 2,
	HVCTL_EXIT_FAIL = 3,
};

struct hvctl {
	const char *root;       /* --root: where sys/, dev/ and proc/ are read */
};

struct hvctl_cmd {
	const char *name;
	int (*run)(struct hvctl *ctx, int argc, char **argv);
	const char *usage;      /* after "hvctl [--root DIR] " */
};

int hvctl_devices(struct hvctl *ctx, int argc, char **argv);
int hvctl_bind(struct hvctl *ctx, int argc, char **argv);
int hvctl_unbind(struct hvctl *ctx, int argc, char **argv);

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
