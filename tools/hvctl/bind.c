/* SPDX-License-Identifier: ISC */
/* hvctl bind, hvctl unbind: move a device between drivers. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvctl.h"

#define UIO_DRIVER "uio_hv_generic"

/* Name the cause and the fix; the library only returns an errno. */
static int report(const struct hvctl *ctx, const struct hv_vmbus_device *d,
		  const char *driver, int unbind, int err)
{
	const char *root = strcmp(ctx->root, "/") ? ctx->root : "";

	switch (err) {
	case 0:
		return 0;
	case -ENOENT:
		hvctl_err("device %s has gone away", d->instance);
		return -ENOENT;
	case -ENODEV:
		hvctl_err("%s is not loaded: modprobe %s", driver, driver);
		break;
	case -EOPNOTSUPP:
		hvctl_err("Linux 6.10 or later is needed to bind integration services to %s "
			  "(%s %s has no monitor page)", UIO_DRIVER, d->class_name, d->instance);
		break;
	case -EBUSY:
		hvctl_err("%s/dev/uio%d is open in another process: stop it first "
			  "(fuser -v %s/dev/uio%d)", root, d->uio_index, root, d->uio_index);
		break;
	case -EACCES:
	case -EPERM:
		hvctl_err("not allowed to write %s/sys/bus/vmbus: run as root", root);
		break;
	case -EBADMSG:
		hvctl_err("malformed sysfs files for device %s", d->instance);
		break;
	case -EINVAL:
		hvctl_err("invalid driver name %s", driver);
		return -EINVAL;
	default:
		hvctl_err("%s %s: %s", unbind ? "unbinding" : "binding", d->instance,
			  strerror(-err));
		break;
	}
	return hvctl_failure(err);
}

static int run(struct hvctl *ctx, int argc, char **argv, const char *cmd, int unbind)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, HVCTL_OPT_ROOT },
		{ "driver", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *driver = UIO_DRIVER, *optstr = unbind ? "h" : "hd:";
	const struct hv_vmbus_device *d;
	struct hv_vmbus_list *list;
	int opt, err;

	while ((opt = getopt_long(argc, argv, optstr, opts, NULL)) != -1) {
		if (opt == 'd' && !unbind) {
			driver = optarg;
			continue;
		}
		if (opt == 'd')
			return hvctl_usage(stderr, cmd);
		err = hvctl_common_opt(ctx, opt, cmd);
		if (err < 0 || ctx->help)
			return err < 0 ? err : 0;
	}
	if (argc - optind != 1)
		return hvctl_usage(stderr, cmd);
	err = hvctl_list(ctx, &list);
	if (err < 0)
		return err;
	err = hvctl_device_find(list, argv[optind], &d);
	if (err == 0) {
		err = unbind ? hv_vmbus_unbind(ctx->root, d->instance) :
			       hv_vmbus_bind(ctx->root, d->instance, driver);
		err = report(ctx, d, unbind ? d->driver : driver, unbind, err);
	}
	hv_vmbus_list_free(list);
	return err;
}

int hvctl_bind(struct hvctl *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, "bind", 0);
}

int hvctl_unbind(struct hvctl *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, "unbind", 1);
}
