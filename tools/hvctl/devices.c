/* SPDX-License-Identifier: ISC */
/*
 * hvctl devices: the VMBus devices as Linux's lsvmbus -vv shows them
 * (a "VMBUS ID <relid>: <class name>" line, then the GUIDs and channels),
 * plus what binding to uio_hv_generic adds: the driver, the uio node, its
 * maps and the channel counters.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "hvctl.h"

/* A counter the kernel does not show is -1: print it as "-". */
static void put_counter(const char *name, int64_t v, const char *sep)
{
	if (v < 0)
		printf("%s=-%s", name, sep);
	else
		printf("%s=%" PRId64 "%s", name, v, sep);
}

static void print_channel(const struct hv_vmbus_channel *c, int verbose)
{
	printf("\tRel_ID=%" PRIu32 ", ", c->relid);
	if (c->subchannel_id == 0)
		printf("primary");
	else if (c->subchannel_id > 0)
		printf("subchannel=%" PRId32, c->subchannel_id);
	else
		printf("subchannel=-");
	if (c->cpu >= 0)
		printf(", target_cpu=%" PRId32, c->cpu);
	else
		printf(", target_cpu=-");
	if (verbose >= 1) {
		if (c->monitor_id >= 0)
			printf(", monitor_id=%" PRId32, c->monitor_id);
		if (c->ring_size)
			printf(", ring=0x%" PRIx64, c->ring_size);
	}
	putchar('\n');
	if (verbose < 2)
		return;
	printf("\t\t");
	put_counter("in_mask", c->in_mask, " ");
	put_counter("out_mask", c->out_mask, " ");
	put_counter("read_avail", c->read_avail, " ");
	put_counter("write_avail", c->write_avail, "\n");
	printf("\t\t");
	put_counter("interrupts", c->interrupts, " ");
	put_counter("events", c->events, " ");
	put_counter("intr_in_full", c->intr_in_full, " ");
	put_counter("intr_out_empty", c->intr_out_empty, " ");
	put_counter("out_full_first", c->out_full_first, " ");
	put_counter("out_full_total", c->out_full_total, "\n");
}

/*
 * What the kernel's uio_hv_generic does and what the library makes of
 * it, from the release (hv_vmbus_kernel_describe); a device opened on a
 * distribution kernel may learn more by probing.
 */
static void print_kernel(const struct hvctl *ctx)
{
	struct hv_vmbus_kernel k = { .sz = sizeof(k) };
	char text[1024];

	if (hv_vmbus_kernel_get(ctx->root, &k) < 0)
		return;
	hv_vmbus_kernel_describe(&k, "\n\t", text, sizeof(text));
	/* "kernel 6.12.58..." as a heading, as lsvmbus capitalises its own. */
	text[0] = 'K';
	printf("%s\n\n", text);
}

static void print_device(const struct hvctl *ctx, const struct hv_vmbus_device *d, int verbose)
{
	const char *root = strcmp(ctx->root, "/") ? ctx->root : "";
	unsigned int k;
	size_t i;

	printf("VMBUS ID %2" PRIu32 ": %s\n", d->relid, d->class_name);
	printf("\tClass_ID = {%s}\n", d->class_id);
	printf("\tDevice_ID = {%s}\n", d->instance);
	printf("\tDriver: %s", d->driver[0] ? d->driver : "(none)");
	if (d->driver_override[0])
		printf(" (driver_override %s)", d->driver_override);
	putchar('\n');
	if (d->monitor_id >= 0)
		printf("\tMonitor_ID: %" PRId32 "\n", d->monitor_id);
	if (d->uio_index >= 0)
		printf("\tUIO: %s/dev/uio%d\n", root, d->uio_index);
	if (verbose >= 1) {
		printf("\tSysfs path: %s/sys/bus/vmbus/devices/%s\n", root, d->instance);
		for (k = 0; k < d->nmaps; k++)
			printf("\tMap %u: %s, size 0x%" PRIx64 ", offset 0x%" PRIx64 "\n", k,
			       d->maps[k].name, d->maps[k].size, d->maps[k].offset);
	}
	for (i = 0; i < d->nchannels; i++)
		print_channel(&d->channels[i], verbose);
}

/* -1 (not shown by the kernel) is null. */
static struct json_object *json_opt(int64_t v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

static struct json_object *json_str_or_null(const char *s)
{
	return s[0] ? json_object_new_string(s) : NULL;
}

static struct json_object *json_device(const struct hv_vmbus_device *d)
{
	struct json_object *o = json_object_new_object(), *maps, *chans, *m, *c;
	unsigned int k;
	size_t i;

	json_object_object_add(o, "instance", json_object_new_string(d->instance));
	json_object_object_add(o, "class_id", json_object_new_string(d->class_id));
	json_object_object_add(o, "class_name", json_object_new_string(d->class_name));
	json_object_object_add(o, "relid", json_object_new_int64(d->relid));
	json_object_object_add(o, "monitor_id", json_opt(d->monitor_id));
	json_object_object_add(o, "driver", json_str_or_null(d->driver));
	json_object_object_add(o, "driver_override", json_str_or_null(d->driver_override));
	json_object_object_add(o, "uio_index", json_opt(d->uio_index));
	maps = json_object_new_array();
	for (k = 0; k < d->nmaps; k++) {
		m = json_object_new_object();
		json_object_object_add(m, "index", json_object_new_int(k));
		json_object_object_add(m, "name", json_object_new_string(d->maps[k].name));
		json_object_object_add(m, "size", json_object_new_uint64(d->maps[k].size));
		json_object_object_add(m, "offset", json_object_new_uint64(d->maps[k].offset));
		json_object_array_add(maps, m);
	}
	json_object_object_add(o, "maps", maps);
	chans = json_object_new_array();
	for (i = 0; i < d->nchannels; i++) {
		const struct hv_vmbus_channel *ch = &d->channels[i];

		c = json_object_new_object();
		json_object_object_add(c, "relid", json_object_new_int64(ch->relid));
		json_object_object_add(c, "subchannel_id", json_opt(ch->subchannel_id));
		json_object_object_add(c, "monitor_id", json_opt(ch->monitor_id));
		json_object_object_add(c, "cpu", json_opt(ch->cpu));
		json_object_object_add(c, "in_mask", json_opt(ch->in_mask));
		json_object_object_add(c, "out_mask", json_opt(ch->out_mask));
		json_object_object_add(c, "read_avail", json_opt(ch->read_avail));
		json_object_object_add(c, "write_avail", json_opt(ch->write_avail));
		json_object_object_add(c, "interrupts", json_opt(ch->interrupts));
		json_object_object_add(c, "events", json_opt(ch->events));
		json_object_object_add(c, "intr_in_full", json_opt(ch->intr_in_full));
		json_object_object_add(c, "intr_out_empty", json_opt(ch->intr_out_empty));
		json_object_object_add(c, "out_full_first", json_opt(ch->out_full_first));
		json_object_object_add(c, "out_full_total", json_opt(ch->out_full_total));
		json_object_object_add(c, "ring_size", ch->ring_size ?
				       json_object_new_uint64(ch->ring_size) : NULL);
		json_object_array_add(chans, c);
	}
	json_object_object_add(o, "channels", chans);
	return o;
}

static int print_json(const struct hv_vmbus_list *list)
{
	struct json_object *top = json_object_new_object(), *devs = json_object_new_array();
	size_t i;
	int err = 0;

	for (i = 0; i < list->count; i++)
		json_object_array_add(devs, json_device(&list->devices[i]));
	json_object_object_add(top, "devices", devs);
	if (puts(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
						JSON_C_TO_STRING_SPACED |
						JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		err = -EIO;
	json_object_put(top);
	return err;
}

int hvctl_devices(struct hvctl *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, HVCTL_OPT_ROOT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hv_vmbus_list *list;
	char path[PATH_MAX];
	struct stat st;
	int opt, verbose = 0, json = 0, err;
	size_t i;

	while ((opt = getopt_long(argc, argv, "hvj", opts, NULL)) != -1) {
		if (opt == 'v') {
			verbose++;
			continue;
		}
		if (opt == 'j') {
			json = 1;
			continue;
		}
		err = hvctl_common_opt(ctx, opt, "devices");
		if (err < 0 || ctx->help)
			return err < 0 ? err : 0;
	}
	if (optind != argc)
		return hvctl_usage(stderr, "devices");
	/* An empty list would say nothing: say why there is none. */
	snprintf(path, sizeof(path), "%s/sys/bus/vmbus", strcmp(ctx->root, "/") ? ctx->root : "");
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		hvctl_err("no %s: this is not a Hyper-V guest, or the hv_vmbus module is not "
			  "loaded (modprobe hv_vmbus)", path);
		return -ENOENT;
	}
	err = hvctl_list(ctx, &list);
	if (err < 0)
		return err;
	if (verbose >= 1 && !json)
		print_kernel(ctx);
	if (json)
		err = print_json(list);
	else
	for (i = 0; i < list->count; i++) {
		if (i)
			putchar('\n');
		print_device(ctx, &list->devices[i], verbose);
	}
	hv_vmbus_list_free(list);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		hvctl_err("cannot write the listing");
		err = -EIO;
	}
	return err;
}
