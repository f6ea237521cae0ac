/* SPDX-License-Identifier: ISC */
/* hvctl: list and bind Hyper-V VMBus devices. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "hvctl.h"

/* Word for word the SYNOPSIS of man/hvctl.8 (a test compares them). */
static const struct hvctl_cmd cmds[] = {
	{ "devices", hvctl_devices, "[--root DIR] devices [-v] [--json]" },
	{ "bind", hvctl_bind, "[--root DIR] bind [--driver NAME] DEVICE" },
	{ "unbind", hvctl_unbind, "[--root DIR] unbind DEVICE" },
	{ "get", hvctl_get, "[--socket PATH] [--state-dir DIR] get [-r] [--json] [-o FILE] "
	  "[-p POOL] KEY" },
	{ "set", hvctl_set, "[--socket PATH] set [-r] [-i FILE] [-p POOL] KEY [VALUE]" },
	{ "delete", hvctl_delete, "[--socket PATH] delete [-p POOL] KEY" },
	{ "list", hvctl_keys_list, "[--socket PATH] [--state-dir DIR] list [-r] [--json] "
	  "[-o FILE] [POOL]" },
	{ "watch", hvctl_watch, "[--socket PATH] [--state-dir DIR] watch [-r] [--json] "
	  "[-p POOL] [POOL | KEY]" },
	{ "status", hvctl_status, "[--socket PATH] [--state-dir DIR] status [--json]" },
	/* Not a command: hostctl(8)'s form, for the usage only. */
	{ "Pool/Key", NULL, "[-qr] [-i FILE] [-o FILE] [--socket PATH] [--state-dir DIR] "
	  "POOL/KEY [VALUE]" },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

int hvctl_usage(FILE *f, const char *cmd)
{
	const char *lead = "usage:";
	size_t i;

	for (i = 0; i < NCMDS; i++) {
		if (cmd && strcmp(cmd, cmds[i].name) != 0)
			continue;
		fprintf(f, "%s hvctl %s\n", lead, cmds[i].usage);
		lead = "      ";
	}
	return -EINVAL;
}

int hvctl_exit_status(int err)
{
	if (err >= 0)
		return HVCTL_EXIT_OK;
	return err == -ENOENT ? HVCTL_EXIT_NOTFOUND :
	       err == -EINVAL ? HVCTL_EXIT_USAGE : HVCTL_EXIT_FAIL;
}

int hvctl_failure(int err)
{
	return err == -ENOENT || err == -EINVAL || err >= 0 ? -EIO : err;
}

void hvctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("hvctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int hvctl_common_opt(struct hvctl *ctx, int opt, const char *cmd)
{
	switch (opt) {
	case HVCTL_OPT_ROOT:
		ctx->root = optarg;
		return 1;
	case 'h':
		hvctl_usage(stdout, cmd);
		ctx->help = 1;
		return 1;
	case '?':
		return hvctl_usage(stderr, cmd);
	}
	return 0;
}

int hvctl_list(const struct hvctl *ctx, struct hv_vmbus_list **ret)
{
	struct hv_vmbus_list *list = NULL;
	int err;

	err = hv_vmbus_list_new(ctx->root, &list);
	if (err == -EBADMSG) {
		hvctl_err("malformed VMBus device in %s/sys/bus/vmbus/devices: "
			  "is this a sysfs tree?", strcmp(ctx->root, "/") ? ctx->root : "");
	} else if (err < 0) {
		hvctl_err("cannot read %s/sys/bus/vmbus/devices: %s",
			  strcmp(ctx->root, "/") ? ctx->root : "", strerror(-err));
	}
	if (err < 0)
		return hvctl_failure(err);
	*ret = list;
	return 0;
}

/* "Data Exchange" names "[Data Exchange]": brackets are optional. */
static int class_name_matches(const char *class_name, const char *spec)
{
	size_t len = strlen(class_name);

	if (strcasecmp(class_name, spec) == 0)
		return 1;
	return len > 2 && class_name[0] == '[' && class_name[len - 1] == ']' &&
	       strlen(spec) == len - 2 && strncasecmp(class_name + 1, spec, len - 2) == 0;
}

/* spec without braces, in lower case; "" if it is no GUID-sized string. */
static void guid_norm(const char *spec, char out[HV_VMBUS_GUID_STRLEN])
{
	size_t len = strlen(spec), i;

	if (len == 38 && spec[0] == '{' && spec[37] == '}') {
		spec++;
		len -= 2;
	}
	out[0] = '\0';
	if (len != HV_VMBUS_GUID_STRLEN - 1)
		return;
	for (i = 0; i < len; i++)
		out[i] = (char)(spec[i] >= 'A' && spec[i] <= 'Z' ? spec[i] - 'A' + 'a' : spec[i]);
	out[len] = '\0';
}

int hvctl_device_find(const struct hv_vmbus_list *list, const char *spec,
		      const struct hv_vmbus_device **ret)
{
	const struct hv_vmbus_device *d, *found = NULL;
	char guid[HV_VMBUS_GUID_STRLEN];
	size_t i, n = 0;

	guid_norm(spec, guid);
	d = hv_vmbus_list_find(list, spec);
	if (d && strcmp(d->instance, guid) == 0) {
		*ret = d;
		return 0;
	}
	for (i = 0; i < list->count; i++) {
		d = &list->devices[i];
		if (strcmp(d->class_id, guid) == 0 || class_name_matches(d->class_name, spec)) {
			if (!found)
				found = d;
			n++;
		}
	}
	if (n == 1) {
		*ret = found;
		return 0;
	}
	if (n == 0) {
		hvctl_err("no device %s: see hvctl devices", spec);
		return -ENOENT;
	}
	hvctl_err("%zu devices match %s: give the instance GUID (see hvctl devices)", n, spec);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct option opts[32] = {
		{ "root", required_argument, NULL, HVCTL_OPT_ROOT },
		{ "version", no_argument, NULL, 'V' },
	};
	struct hvctl ctx = {
		.root = "/",
		.socket = HVCTL_SOCKET_DEFAULT,
		.state_dir = HVCTL_STATE_DIR_DEFAULT,
	};
	char optstring[32];
	int opt, err;
	size_t i;

	for (i = 0; hvctl_key_options[i].name && i + 3 < sizeof(opts) / sizeof(opts[0]); i++)
		opts[i + 2] = hvctl_key_options[i];
	snprintf(optstring, sizeof(optstring), "%sV", hvctl_key_optstring);
	/*
	 * "+": global options end at the subcommand, which parses its own.
	 * The key commands' options may come first, as hostctl(8)'s do.
	 */
	while ((opt = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		if (opt == 'V') {
			printf("hvctl %s\n", HVUIO_VERSION);
			return HVCTL_EXIT_OK;
		}
		if (hvctl_key_opt(&ctx, opt))
			continue;
		err = hvctl_common_opt(&ctx, opt, NULL);
		if (err < 0 || ctx.help)
			return hvctl_exit_status(err);
	}
	if (optind >= argc)
		return hvctl_exit_status(hvctl_usage(stderr, NULL));
	for (i = 0; i < NCMDS; i++) {
		if (cmds[i].run && strcmp(argv[optind], cmds[i].name) == 0) {
			argc -= optind;
			argv += optind;
			optind = 0;
			return hvctl_exit_status(cmds[i].run(&ctx, argc, argv));
		}
	}
	/* hostctl(8): hvctl [-qr] [-i FILE] [-o FILE] Pool/Key [value]. */
	if (strchr(argv[optind], '/'))
		return hvctl_exit_status(hvctl_hostctl(&ctx, argc - optind, argv + optind));
	hvctl_err("unknown command %s", argv[optind]);
	return hvctl_exit_status(hvctl_usage(stderr, NULL));
}
