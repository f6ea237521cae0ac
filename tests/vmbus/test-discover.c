/* SPDX-License-Identifier: ISC */
/*
 * The vmbus discovery suite: every field of every device in the recorded
 * sysfs trees, and trees made malformed one file at a time.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvuio/vmbus.h"
#include "tree.h"

#define KVP_CLASS HV_VMBUS_KVP_GUID
#define NIC_CLASS HV_VMBUS_NIC_GUID

/* A channel as the trees record it: only what differs between them. */
#define CHAN(rel, sub, mon, cpu_, wavail, intr, ev, ring) {                    \
	.relid = rel, .subchannel_id = sub, .monitor_id = mon, .cpu = cpu_,    \
	.in_mask = 0, .out_mask = 0, .read_avail = 0, .write_avail = wavail,    \
	.interrupts = intr, .events = ev, .intr_in_full = 0,                    \
	.intr_out_empty = 0, .out_full_first = 0, .out_full_total = 0,          \
	.ring_size = ring }

static struct hv_vmbus_channel hb_chans[] = { CHAN(13, 0, -1, 1, 12288, 36, 36, 0) };
static struct hv_vmbus_channel kvp_utils_chans[] = { CHAN(14, 0, -1, 0, 12288, 21, 7, 0) };
static struct hv_vmbus_channel kvp_uio_chans[] = { CHAN(14, 0, -1, 0, 2097152, 0, 0, 0x402000) };
static struct hv_vmbus_channel nic_chans[] = {
	CHAN(15, 0, 1, 0, 2093056, 1187, 12, 0x400000),
	CHAN(32, 1, 2, 1, 2093056, 412, 3, 0x400000),
	CHAN(33, 2, -1, 0, 2093056, 0, 0, 0x400000),
};
static struct hv_vmbus_channel nic2_chans[] = { CHAN(16, 0, 0, 1, 2093056, 5, 1, 0x400000) };

static const struct hv_vmbus_device want_kvp_utils[] = {
	{
		.instance = KVP_INST, .class_id = KVP_CLASS, .class_name = "[Data Exchange]",
		.relid = 14, .monitor_id = -1, .driver = "hv_utils", .driver_override = "",
		.uio_index = -1, .nmaps = 0, .nchannels = 1, .channels = kvp_utils_chans,
	},
	{
		.instance = HB_INST, .class_id = HB_CLASS, .class_name = "[Heartbeat]",
		.relid = 13, .monitor_id = -1, .driver = "hv_utils", .driver_override = "",
		.uio_index = -1, .nmaps = 0, .nchannels = 1, .channels = hb_chans,
	},
};

static const struct hv_vmbus_device want_kvp_uio[] = { {
	.instance = KVP_INST, .class_id = KVP_CLASS, .class_name = "[Data Exchange]",
	.relid = 14, .monitor_id = -1, .driver = "uio_hv_generic",
	.driver_override = "uio_hv_generic", .uio_index = 0, .nmaps = 3,
	.maps = {
		{ "txrx_rings", 0x402000, 0 },
		{ "int_page", 0x1000, 0 },
		{ "monitor_page", 0x1000, 0 },
	},
	.nchannels = 1, .channels = kvp_uio_chans,
} };

static const struct hv_vmbus_device want_nic[] = { {
	.instance = NIC_INST, .class_id = NIC_CLASS, .class_name = "Synthetic network adapter",
	.relid = 15, .monitor_id = 1, .driver = "uio_hv_generic", .driver_override = "",
	.uio_index = 1, .nmaps = 5,
	.maps = {
		{ "txrx_rings", 0x400000, 0 },
		{ "int_page", 0x1000, 0 },
		{ "monitor_page", 0x1000, 0 },
		{ "recv:61", 31u << 20, 0 },
		{ "send:62", 16u << 20, 0 },
	},
	.nchannels = 3, .channels = nic_chans,
} };

static const struct hv_vmbus_device want_nic2[] = { {
	.instance = NIC2_INST, .class_id = NIC_CLASS, .class_name = "Synthetic network adapter",
	.relid = 16, .monitor_id = 0, .driver = "uio_hv_generic",
	.driver_override = "uio_hv_generic", .uio_index = 3, .nmaps = 5,
	.maps = {
		{ "txrx_rings", 0x400000, 0 },
		{ "int_page", 0x1000, 0 },
		{ "monitor_page", 0x1000, 0 },
		{ "recv:20", 31u << 20, 0 },
		{ "send:21", 16u << 20, 0 },
	},
	.nchannels = 1, .channels = nic2_chans,
} };

static void check_channel(const struct hv_vmbus_channel *g, const struct hv_vmbus_channel *w)
{
	ck_assert_uint_eq(g->relid, w->relid);
	ck_assert_int_eq(g->subchannel_id, w->subchannel_id);
	ck_assert_int_eq(g->monitor_id, w->monitor_id);
	ck_assert_int_eq(g->cpu, w->cpu);
	ck_assert_int_eq(g->in_mask, w->in_mask);
	ck_assert_int_eq(g->out_mask, w->out_mask);
	ck_assert_int_eq(g->read_avail, w->read_avail);
	ck_assert_int_eq(g->write_avail, w->write_avail);
	ck_assert_int_eq(g->interrupts, w->interrupts);
	ck_assert_int_eq(g->events, w->events);
	ck_assert_int_eq(g->intr_in_full, w->intr_in_full);
	ck_assert_int_eq(g->intr_out_empty, w->intr_out_empty);
	ck_assert_int_eq(g->out_full_first, w->out_full_first);
	ck_assert_int_eq(g->out_full_total, w->out_full_total);
	ck_assert_uint_eq(g->ring_size, w->ring_size);
}

static void check_device(const struct hv_vmbus_device *g, const struct hv_vmbus_device *w)
{
	unsigned int k;
	size_t i;

	ck_assert_str_eq(g->instance, w->instance);
	ck_assert_str_eq(g->class_id, w->class_id);
	ck_assert_str_eq(g->class_name, w->class_name);
	ck_assert_uint_eq(g->relid, w->relid);
	ck_assert_int_eq(g->monitor_id, w->monitor_id);
	ck_assert_str_eq(g->driver, w->driver);
	ck_assert_str_eq(g->driver_override, w->driver_override);
	ck_assert_int_eq(g->uio_index, w->uio_index);
	ck_assert_uint_eq(g->nmaps, w->nmaps);
	for (k = 0; k < w->nmaps; k++) {
		ck_assert_str_eq(g->maps[k].name, w->maps[k].name);
		ck_assert_uint_eq(g->maps[k].size, w->maps[k].size);
		ck_assert_uint_eq(g->maps[k].offset, w->maps[k].offset);
	}
	ck_assert_uint_eq(g->nchannels, w->nchannels);
	for (i = 0; i < w->nchannels; i++)
		check_channel(&g->channels[i], &w->channels[i]);
}

/* Read the tree (as copied, rings added) and compare to want, in order. */
static void check_tree(const char *name, const struct hv_vmbus_device *want, size_t n)
{
	struct hv_vmbus_list *list = NULL;
	char *root = tree_copy(name);
	size_t i;

	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	ck_assert_ptr_nonnull(list);
	ck_assert_uint_eq(list->count, n);
	for (i = 0; i < n; i++)
		check_device(&list->devices[i], &want[i]);
	hv_vmbus_list_free(list);
	tree_remove(root);
}

START_TEST(tree_kvp_hv_utils)
{
	/* 242f... sorts before 2dd1...: the list is by instance, not by relid. */
	check_tree("kvp-hv_utils", want_kvp_utils, 2);
}
END_TEST

START_TEST(tree_kvp_uio)
{
	check_tree("kvp-uio", want_kvp_uio, 1);
}
END_TEST

START_TEST(tree_nic_uio)
{
	check_tree("nic-uio", want_nic, 1);
}
END_TEST

START_TEST(tree_nic_uio_6_9)
{
	check_tree("nic-uio-6.9", want_nic2, 1);
}
END_TEST

START_TEST(tree_recorded_without_rings)
{
	struct hv_vmbus_list *list = NULL;

	/* The committed tree itself, read-only: no ring files, so size 0. */
	ck_assert_int_eq(hv_vmbus_list_new(TREES_DIR "/nic-uio", &list), 0);
	ck_assert_uint_eq(list->count, 1);
	ck_assert_uint_eq(list->devices[0].nchannels, 3);
	ck_assert_uint_eq(list->devices[0].channels[0].ring_size, 0);
	hv_vmbus_list_free(list);
}
END_TEST

START_TEST(empty_roots)
{
	struct hv_vmbus_list *list = NULL;
	char *root = tree_copy(NULL);

	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	ck_assert_uint_eq(list->count, 0);
	ck_assert_ptr_null(list->devices);
	ck_assert_ptr_null(hv_vmbus_list_find(list, KVP_INST));
	hv_vmbus_list_free(list);

	tree_mkdir(root, "sys");
	tree_mkdir(root, "sys/bus");
	tree_mkdir(root, "sys/bus/vmbus");
	tree_mkdir(root, "sys/bus/vmbus/devices");
	list = NULL;
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	ck_assert_uint_eq(list->count, 0);
	hv_vmbus_list_free(list);
	tree_remove(root);

	ck_assert_int_eq(hv_vmbus_list_new(NULL, &list), -EINVAL);
	ck_assert_int_eq(hv_vmbus_list_new("/", NULL), -EINVAL);
	hv_vmbus_list_free(NULL);
}
END_TEST

START_TEST(find)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *d;
	char *root = tree_copy("kvp-hv_utils");

	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	d = hv_vmbus_list_find(list, HB_INST);
	ck_assert_ptr_eq(d, &list->devices[1]);
	d = hv_vmbus_list_find(list, "{242FF919-07DB-4180-9C2E-B86CB68C8C55}");
	ck_assert_ptr_eq(d, &list->devices[0]);
	d = hv_vmbus_list_find(list, HB_CLASS);
	ck_assert_ptr_eq(d, &list->devices[1]);
	d = hv_vmbus_list_find(list, "{A9A0F4E7-5A45-4D96-B827-8A841E8C03E6}");
	ck_assert_ptr_eq(d, &list->devices[0]);
	ck_assert_ptr_null(hv_vmbus_list_find(list, HV_VMBUS_NIC_GUID));
	ck_assert_ptr_null(hv_vmbus_list_find(list, "242ff919"));
	ck_assert_ptr_null(hv_vmbus_list_find(list, "{" KVP_INST));
	ck_assert_ptr_null(hv_vmbus_list_find(list, KVP_INST "}"));
	ck_assert_ptr_null(hv_vmbus_list_find(list, "242ff919-07db-4180-9c2e-b86cb68c8c5g"));
	ck_assert_ptr_null(hv_vmbus_list_find(list, ""));
	ck_assert_ptr_null(hv_vmbus_list_find(list, NULL));
	ck_assert_ptr_null(hv_vmbus_list_find(NULL, KVP_INST));
	hv_vmbus_list_free(list);
	tree_remove(root);
}
END_TEST

START_TEST(class_names)
{
	ck_assert_str_eq(hv_vmbus_class_name(HV_VMBUS_KVP_GUID), "[Data Exchange]");
	ck_assert_str_eq(hv_vmbus_class_name("{" HV_VMBUS_NIC_GUID "}"), "Synthetic network adapter");
	ck_assert_str_eq(hv_vmbus_class_name("BA6163D9-04A1-4D29-B605-72E2FFB1DC7F"),
			 "Synthetic SCSI Controller");
	ck_assert_str_eq(hv_vmbus_class_name("3375baf4-9e15-4b30-b765-67acb10d607b"),
			 "[Reserved system device]");
	ck_assert_str_eq(hv_vmbus_class_name("00000000-0000-0000-0000-000000000000"), "Unknown");
	ck_assert_str_eq(hv_vmbus_class_name("not a guid"), "Unknown");
	ck_assert_str_eq(hv_vmbus_class_name(NULL), "Unknown");
}
END_TEST

START_TEST(hidden_counters)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_channel *c;
	char *root = tree_copy("nic-uio");

	/* A kernel before 5.0 has no flow-control counters, before 4.16 no subchannel_id. */
	tree_unlink(root, DEV(NIC_INST, "channels/32/intr_in_full"));
	tree_unlink(root, DEV(NIC_INST, "channels/32/out_full_total"));
	tree_unlink(root, DEV(NIC_INST, "channels/32/cpu"));
	tree_unlink(root, DEV(NIC_INST, "channels/15/subchannel_id"));
	tree_unlink(root, DEV(NIC_INST, "channels/33/subchannel_id"));
	tree_unlink(root, DEV(NIC_INST, "channels/15/ring"));
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	ck_assert_uint_eq(list->devices[0].nchannels, 3);
	c = &list->devices[0].channels[0];
	ck_assert_uint_eq(c->relid, 15);
	ck_assert_int_eq(c->subchannel_id, 0);
	ck_assert_uint_eq(c->ring_size, 0);
	c = &list->devices[0].channels[1];
	ck_assert_uint_eq(c->relid, 32);
	ck_assert_int_eq(c->intr_in_full, -1);
	ck_assert_int_eq(c->out_full_total, -1);
	ck_assert_int_eq(c->cpu, -1);
	ck_assert_int_eq(c->intr_out_empty, 0);
	ck_assert_int_eq(c->interrupts, 412);
	c = &list->devices[0].channels[2];
	ck_assert_uint_eq(c->relid, 33);
	ck_assert_int_eq(c->subchannel_id, -1);
	hv_vmbus_list_free(list);
	tree_remove(root);
}
END_TEST

START_TEST(primary_first)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *d;
	char *root = tree_copy("nic-uio");

	/* Relids are the host's to choose: a primary may have the larger one. */
	tree_write(root, DEV(NIC_INST, "id"), "40\n");
	tree_mkdir(root, DEV(NIC_INST, "channels/40"));
	tree_write(root, DEV(NIC_INST, "channels/40/subchannel_id"), "0\n");
	tree_write(root, DEV(NIC_INST, "channels/15/subchannel_id"), "3\n");
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	d = &list->devices[0];
	ck_assert_uint_eq(d->relid, 40);
	ck_assert_uint_eq(d->nchannels, 4);
	ck_assert_uint_eq(d->channels[0].relid, 40);
	ck_assert_int_eq(d->channels[0].subchannel_id, 0);
	ck_assert_int_eq(d->channels[0].interrupts, -1);
	ck_assert_int_eq(d->channels[0].monitor_id, -1);
	ck_assert_uint_eq(d->channels[1].relid, 15);
	ck_assert_uint_eq(d->channels[2].relid, 32);
	ck_assert_uint_eq(d->channels[3].relid, 33);
	hv_vmbus_list_free(list);
	tree_remove(root);
}
END_TEST

START_TEST(longest_values)
{
	struct hv_vmbus_list *list = NULL;
	char *root = tree_copy("kvp-uio");

	/* The longest that fit their fields, with the kernel's newline. */
	tree_write(root, DEV(KVP_INST, "uio/uio0/maps/map1/name"),
		   "int_page-0123456789abcdefghijkl\n");
	tree_write(root, DEV(KVP_INST, "driver_override"),
		   "uio_hv_generic-0123456789abcdefghijklmnopqrstuvwxyz-0123456789a\n");
	tree_write(root, DEV(KVP_INST, "channels/14/interrupts"), "9223372036854775807\n");
	tree_write(root, DEV(KVP_INST, "id"), "4294967295\n");
	tree_write(root, DEV(KVP_INST, "monitor_id"), "255\n");
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	ck_assert_str_eq(list->devices[0].maps[1].name, "int_page-0123456789abcdefghijkl");
	ck_assert_str_eq(list->devices[0].driver_override,
			 "uio_hv_generic-0123456789abcdefghijklmnopqrstuvwxyz-0123456789a");
	ck_assert_int_eq(list->devices[0].channels[0].interrupts, INT64_MAX);
	ck_assert_uint_eq(list->devices[0].relid, UINT32_MAX);
	ck_assert_int_eq(list->devices[0].monitor_id, 255);
	hv_vmbus_list_free(list);
	tree_remove(root);
}
END_TEST

START_TEST(uio_entry_choice)
{
	struct hv_vmbus_list *list = NULL;
	char *root = tree_copy("nic-uio-6.9");

	/* Only uio<digits> names a node; the lowest one wins. */
	tree_mkdir(root, DEV(NIC2_INST, "uio/uiox"));
	tree_mkdir(root, DEV(NIC2_INST, "uio/uio12"));
	tree_write(root, DEV(NIC2_INST, "uio/README"), "x\n");
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	ck_assert_int_eq(list->devices[0].uio_index, 3);
	ck_assert_uint_eq(list->devices[0].nmaps, 5);
	hv_vmbus_list_free(list);
	tree_remove(root);
}
END_TEST

START_TEST(maps_stop_at_first_missing)
{
	struct hv_vmbus_list *list = NULL;
	char *root = tree_copy("nic-uio");

	tree_unlink(root, DEV(NIC_INST, "uio/uio1/maps/map2/name"));
	tree_unlink(root, DEV(NIC_INST, "uio/uio1/maps/map2/size"));
	tree_unlink(root, DEV(NIC_INST, "uio/uio1/maps/map2/offset"));
	tree_unlink(root, DEV(NIC_INST, "uio/uio1/maps/map2/addr"));
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", root, DEV(NIC_INST, "uio/uio1/maps/map2"));
		ck_assert_int_eq(rmdir(path), 0);
	}
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
	/* map3 and map4 are past the gap and not read. */
	ck_assert_uint_eq(list->devices[0].nmaps, 2);
	ck_assert_str_eq(list->devices[0].maps[1].name, "int_page");
	hv_vmbus_list_free(list);
	tree_remove(root);
}
END_TEST

/* One malformed file at a time: each must fail the whole listing. */
static const struct {
	const char *tree, *rel, *text;
	int err;
	size_t len;     /* 0: strlen(text) */
} bad_files[] = {
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "{a9a0f4e7-5a45-4d96-b827-8a841e8c03e}\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "{a9a0f4e7-5a45-4d96-b827-8a841e8c03e6\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "{A9A0F4E7-5a45-4d96-b827-8a841e8c03e6}\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "{a9a0f4e7x5a45-4d96-b827-8a841e8c03e6}\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "{a9a0f4e7-5a45-4d96-b827-8a841e8c03e6}\n\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "class_id"), "", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "device_id"), "{" HB_INST "}\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "device_id"), KVP_INST "\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), "14x\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), "-14\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), " 14\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), "014\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), "4294967296\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), "99999999999999999999999\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "id"), "\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "monitor_id"), "256\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "monitor_id"), "1\0\n", -EBADMSG, 3 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map0/size"), "garbage\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map0/size"), "4202496\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map0/size"), "0x\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map0/size"), "0x00000000000000402000\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map0/size"), "0x0000000000000000\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map0/size"), "0x402000 \n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map1/offset"), "0y0\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map1/name"), "\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "uio/uio0/maps/map1/name"),
	  "a-map-name-longer-than-thirty-one-chars\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "channels/14/interrupts"), "12abc\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "channels/14/interrupts"), "-1\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "channels/14/subchannel_id"), "65536\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "channels/14/in_mask"), "1\n2\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "channels/14/cpu"), "0x1\n", -EBADMSG, 0 },
	{ "kvp-uio", DEV(KVP_INST, "driver_override"),
	  "a-driver-name-that-is-far-too-long-for-the-sixty-four-byte-field-x\n", -EBADMSG, 0 },
};

START_TEST(malformed_file)
{
	struct hv_vmbus_list *list = (void *)0x1;
	char *root = tree_copy(bad_files[_i].tree);
	char path[4096];
	size_t len;
	FILE *f;

	/* Written with fwrite so that an embedded NUL reaches the file. */
	snprintf(path, sizeof(path), "%s/%s", root, bad_files[_i].rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	len = bad_files[_i].len ? bad_files[_i].len : strlen(bad_files[_i].text);
	ck_assert_uint_eq(fwrite(bad_files[_i].text, 1, len, f), len);
	fclose(f);
	ck_assert_msg(hv_vmbus_list_new(root, &list) == bad_files[_i].err,
		      "%s <- \"%s\"", bad_files[_i].rel, bad_files[_i].text);
	/* On failure the out-parameter is left alone. */
	ck_assert_ptr_eq(list, (void *)0x1);
	tree_remove(root);
}
END_TEST

/* Entries that are broken as a whole rather than by their contents. */
START_TEST(malformed_layout)
{
	struct hv_vmbus_list *list = NULL;
	char *root;

	root = tree_copy("kvp-uio");
	tree_mkdir(root, DEV(KVP_INST, "channels/fourteen"));
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);

	root = tree_copy("kvp-uio");
	tree_unlink(root, DEV(KVP_INST, "class_id"));
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);

	root = tree_copy("kvp-uio");
	tree_unlink(root, DEV(KVP_INST, "id"));
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);

	root = tree_copy("kvp-uio");
	tree_unlink(root, DEV(KVP_INST, "uio/uio0/maps/map1/size"));
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);

	/* Devices are named by their lower-case instance GUID. */
	root = tree_copy("kvp-hv_utils");
	tree_mkdir(root, "sys/bus/vmbus/devices/vmbus_0");
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);

	root = tree_copy("kvp-hv_utils");
	tree_mkdir(root, "sys/bus/vmbus/devices/242FF919-07DB-4180-9C2E-B86CB68C8C55");
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);

	/* An over-long attribute (more than a page) is not read halfway. */
	root = tree_copy("kvp-uio");
	{
		char big[5000];

		memset(big, '1', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		tree_write(root, DEV(KVP_INST, "channels/14/events"), big);
	}
	ck_assert_int_eq(hv_vmbus_list_new(root, &list), -EBADMSG);
	tree_remove(root);
	ck_assert_ptr_null(list);
}
END_TEST

static Suite *discover_suite(void)
{
	Suite *s = suite_create("vmbus-discover");
	TCase *tc = tcase_create("trees");

	tcase_add_test(tc, tree_kvp_hv_utils);
	tcase_add_test(tc, tree_kvp_uio);
	tcase_add_test(tc, tree_nic_uio);
	tcase_add_test(tc, tree_nic_uio_6_9);
	tcase_add_test(tc, tree_recorded_without_rings);
	tcase_add_test(tc, empty_roots);
	tcase_add_test(tc, find);
	tcase_add_test(tc, class_names);
	tcase_add_test(tc, hidden_counters);
	tcase_add_test(tc, primary_first);
	tcase_add_test(tc, longest_values);
	tcase_add_test(tc, uio_entry_choice);
	tcase_add_test(tc, maps_stop_at_first_missing);
	suite_add_tcase(s, tc);
	tc = tcase_create("malformed");
	tcase_add_loop_test(tc, malformed_file, 0, sizeof(bad_files) / sizeof(bad_files[0]));
	tcase_add_test(tc, malformed_layout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(discover_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
