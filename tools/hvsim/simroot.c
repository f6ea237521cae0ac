/* SPDX-License-Identifier: ISC */
/*
 * The sim root: the parts of /sys, /proc and /dev that lib/vmbus reads,
 * laid out and formatted as the kernel has them for a device bound to
 * uio_hv_generic (file formats from Linux's drivers/hv/vmbus_drv.c and
 * drivers/uio/uio.c show functions; see hvsim(8) for the tree).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvsim.h"

/*
 * The KVP offer is the library's (hv_ic_host_versions_get: what openvmm's
 * KVP IC, written by the Hyper-V team, offers as the host). For
 * heartbeat the library knows no host list: Hyper-V's framework versions
 * 1.0 and 3.0, and heartbeat 1.0, 3.0 and 3.1 (3.1 per Mile.HyperV's
 * headers, with the application state).
 */
static const struct hv_ic_version hb_fw[] = { HV_IC_VER(1, 0), HV_IC_VER(3, 0) };
static const struct hv_ic_version hb_msg[] = { HV_IC_VER(1, 0), HV_IC_VER(3, 0), HV_IC_VER(3, 1) };
static const struct hv_ic_versions hb_offer = { hb_fw, 2, hb_msg, 3 };

/*
 * fcopy: framework 1.0 and 3.0 as for every IC, and the one message
 * version there is, 1.1 (ProjectMile's Mile.HyperV names it
 * IC_GUESTIFACE_VERSION_11; Linux's hv_fcopy.c accepts nothing else).
 */
static const struct hv_ic_version fcopy_msg[] = { HV_IC_VER(1, 1) };
static const struct hv_ic_versions fcopy_offer = { hb_fw, 2, fcopy_msg, 1 };

/*
 * GUIDs from Linux's include/linux/hyperv.h (classes) and the instance
 * ids Hyper-V gives these devices; relids 7 and 8 are what lsvmbus shows
 * for Heartbeat and Data Exchange on a Hyper-V guest.
 */
static const struct sim_devtype devtypes[] = {
	{ "kvp", "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6",
	  "242ff919-07db-4180-9c2e-b86cb68c8c55", 8, HV_IC_MSGTYPE_KVPEXCHANGE, NULL, -1, 0 },
	{ "heartbeat", "57164f39-9115-4e78-ab55-382f3bd5422d",
	  "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0", 7, HV_IC_MSGTYPE_HEARTBEAT, &hb_offer, -1, 0 },
	/*
	 * Guest services: a 16 KiB ring, Linux's pref_ring_size for it in
	 * vmbus_devs[], which 0315fef2aff9 pads with the header page.
	 */
	{ "fcopy", "34d14be3-dee4-41c8-9ae7-6b174977c192",
	  "eb765408-105f-49b6-b4aa-c123b64d17d4", 9, HV_IC_MSGTYPE_FCOPY, &fcopy_offer, -1,
	  16 * 1024 },
	/*
	 * A synthetic NIC as the recorded tree (tests/vmbus/trees/nic-uio)
	 * shows one: relid 15, monitored (id 1), maps 0-4. It speaks NVSP,
	 * not IC (nic.c).
	 */
	{ "nic", "f8615163-df3e-46c5-913f-f2d2f965ed0e",
	  "d34b2567-b9b6-42b9-8778-0a4ec0b955bf", 15, 0, NULL, 1, 0 },
};

const struct hv_ic_versions *sim_devtype_offer(const struct sim_devtype *t)
{
	const struct hv_ic_versions *v = NULL;

	if (t->offer)
		return t->offer;
	if (hv_ic_host_versions_get(t->ic_type, &v) < 0)
		return NULL;
	return v;
}

const struct sim_devtype *sim_devtype_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(devtypes) / sizeof(devtypes[0]); i++)
		if (!strcmp(devtypes[i].name, name))
			return &devtypes[i];
	return NULL;
}

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

/* mkdir -p */
static int mkdirs(const char *path)
{
	char *p = strdup(path), *s;
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				err = -errno;
				goto out;
			}
			*s = c;
			if (!c)
				break;
		}
	}
out:
	free(p);
	return err;
}

static int put_file(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A sysfs attribute never reads short: each file is written under a
 * hidden name and renamed into place whole, so that a guest reading the
 * tree while it is laid out sees a file complete or not at all.
 */
static int put_file(const char *dir, const char *name, const char *fmt, ...)
{
	char *path = path_join(dir, name), *tmp = NULL;
	va_list ap;
	FILE *f;
	int err = 0;

	if (!path || asprintf(&tmp, "%s/.%s.new", dir, name) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto out;
	}
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		goto out;
	}
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		err = -errno;
		unlink(tmp);
	}
out:
	free(tmp);
	free(path);
	return err;
}

/* "vmbus:" and the GUID's 16 raw bytes, the first three fields little-endian. */
static void modalias(const char *guid, char out[33])
{
	static const int order[16] = { 6, 4, 2, 0, 11, 9, 16, 14,
				       19, 21, 24, 26, 28, 30, 32, 34 };
	int i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = guid[order[i]];
		out[2 * i + 1] = guid[order[i] + 1];
	}
	out[32] = '\0';
}

static int make_memfd(const char *name, size_t size, int *fd)
{
	int f = memfd_create(name, MFD_CLOEXEC);

	if (f < 0)
		return -errno;
	if (ftruncate(f, (off_t)size) < 0) {
		int err = -errno;

		close(f);
		return err;
	}
	*fd = f;
	return 0;
}

int sim_root_create(const char *root, const struct sim_devtype *type, const char *kernel,
		    struct sim_root *sr)
{
	static const char *const dirs[] = {
		"sys/bus/vmbus/drivers/uio_hv_generic", "sys/bus/vmbus/drivers/hv_utils",
		"sys/bus/vmbus/devices", "dev", "proc/sys/kernel",
	};
	char *p = NULL;
	size_t i;
	int err;

	memset(sr, 0, sizeof(*sr));
	for (i = 0; i < SIM_MAX_MAPS; i++)
		sr->map_fd[i] = -1;
	for (i = 0; i < SIM_MAX_SUBS; i++)
		sr->subs[i].fd = -1;
	sr->decoy_fd = -1;
	sr->uio_index = -1;
	sr->type = type;
	err = sim_kernel_parse(kernel ? kernel : SIM_KERNEL_DEFAULT, &sr->kernel);
	if (err < 0)
		return err;
	/*
	 * hv_uio_probe refuses a channel without a monitor page before
	 * 547fa4ffd799 ("vmbus channel requires hypercall"): the device
	 * stays with hv_utils.
	 */
	sr->bound = type->monitor_id >= 0 || sr->kernel.has[SIM_K_NONMONITORED];
	sr->root = strdup(root);
	if (!sr->root)
		return -ENOMEM;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		free(p);
		err = -ENOMEM;
		if (!(p = path_join(root, dirs[i])))
			goto out;
		if ((err = mkdirs(p)) < 0)
			goto out;
	}
	err = put_file(p, "osrelease", "%s\n", sr->kernel.release);
out:
	free(p);
	return err;
}

void sim_root_set_state(struct sim_root *sr, int state)
{
	if (sr->devdir)
		put_file(sr->devdir, "state", "%d\n", state);
}

/* A symlink to the memfd's /proc link: opened and mapped like the kernel's file. */
static int link_memfd(const char *dir, const char *name, int fd)
{
	char target[64], *path = path_join(dir, name);
	int err = 0;

	if (!path)
		return -ENOMEM;
	snprintf(target, sizeof(target), "/proc/%ld/fd/%d", (long)getpid(), fd);
	if (symlink(target, path) < 0)
		err = -errno;
	free(path);
	return err;
}

/*
 * channels/<relid>/ as vmbus_chan_attrs shows it: the monitor files only
 * for a monitored channel (vmbus_chan_attr_is_visible).
 */
static int channel_files(const struct sim_root *sr, const char *chan, unsigned int subid,
			 int32_t monitor_id, size_t ring_size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int err;

	if ((err = mkdirs(chan)) < 0)
		return err;
	if ((err = put_file(chan, "cpu", "0\n")) < 0 ||
	    (err = put_file(chan, "subchannel_id", "%u\n", subid)) < 0 ||
	    (err = put_file(chan, "in_mask", "%u\n", sr->kernel.has[SIM_K_USER_MASK] ? 0 : 1)) < 0 ||
	    (err = put_file(chan, "out_mask", "0\n")) < 0 ||
	    (err = put_file(chan, "read_avail", "0\n")) < 0 ||
	    (err = put_file(chan, "write_avail", "%zu\n", ring_size - page)) < 0 ||
	    (err = put_file(chan, "interrupts", "0\n")) < 0 ||
	    (err = put_file(chan, "events", "0\n")) < 0 ||
	    (err = put_file(chan, "intr_in_full", "0\n")) < 0 ||
	    (err = put_file(chan, "intr_out_empty", "0\n")) < 0 ||
	    (err = put_file(chan, "out_full_first", "0\n")) < 0 ||
	    (err = put_file(chan, "out_full_total", "0\n")) < 0)
		return err;
	if (monitor_id >= 0 &&
	    ((err = put_file(chan, "monitor_id", "%d\n", monitor_id)) < 0 ||
	     (err = put_file(chan, "pending", "0\n")) < 0 ||
	     (err = put_file(chan, "latency", "%d\n", 500)) < 0))
		return err;
	return 0;
}

static int offer_files(struct sim_root *sr)
{
	static const char *const map_names[SIM_MAX_MAPS] = {
		"txrx_rings", "int_page", "monitor_page", "recv:", "send:"
	};
	/* Kernel addresses mean nothing to userspace; these only look right. */
	static const uint64_t map_addr[SIM_MAX_MAPS] = {
		0x0000000104a00000ull, 0xffff9a4c81f3d000ull, 0xffff9a4c81f3f000ull,
		0xffffb8e1c0a00000ull, 0xffffb8e1c2a00000ull
	};
	const struct sim_devtype *t = sr->type;
	char alias[33], *dir = NULL, *chan = NULL, rel[32], name[32];
	unsigned int i;
	int err;

	if ((err = mkdirs(sr->devdir)) < 0)
		return err;
	modalias(t->class_guid, alias);
	if ((err = put_file(sr->devdir, "class_id", "{%s}\n", t->class_guid)) < 0 ||
	    (err = put_file(sr->devdir, "device_id", "{%s}\n", t->instance)) < 0 ||
	    (err = put_file(sr->devdir, "id", "%u\n", t->relid)) < 0 ||
	    (err = put_file(sr->devdir, "state", "%d\n", 0)) < 0 ||
	    (err = put_file(sr->devdir, "modalias", "vmbus:%s\n", alias)) < 0 ||
	    (err = put_file(sr->devdir, "channel_vp_mapping", "%u:0\n", t->relid)) < 0 ||
	    (err = put_file(sr->devdir, "driver_override", "(null)\n")) < 0)
		return err;
	if (t->monitor_id >= 0 &&
	    (err = put_file(sr->devdir, "monitor_id", "%d\n", t->monitor_id)) < 0)
		return err;

	err = -ENOMEM;
	if (!(dir = path_join(sr->devdir, "driver")))
		goto out;
	if (symlink(sr->bound ? "../../drivers/uio_hv_generic" : "../../drivers/hv_utils",
		    dir) < 0) {
		err = -errno;
		goto out;
	}
	free(dir);
	dir = NULL;
	snprintf(rel, sizeof(rel), "channels/%u", t->relid);
	err = -ENOMEM;
	if (!(chan = path_join(sr->devdir, rel)))
		goto out;
	err = channel_files(sr, chan, 0, t->monitor_id, sr->map_size[0] / 2);
	if (err < 0 || !sr->bound)
		goto out;

	if (asprintf(&dir, "%s/uio/uio%d", sr->devdir, sr->uio_index) < 0) {
		dir = NULL;
		err = -ENOMEM;
		goto out;
	}
	if ((err = mkdirs(dir)) < 0 ||
	    (err = put_file(dir, "name", "uio_hv_generic\n")) < 0 ||
	    (err = put_file(dir, "version", "0.02.1\n")) < 0 ||
	    (err = put_file(dir, "event", "0\n")) < 0)
		goto out;
	for (i = 0; i < sr->nmaps; i++) {
		char *m;

		/* The GPADL handles in the names: "recv:%u" and "send:%u" of hv_uio_probe. */
		if (i < 3)
			snprintf(name, sizeof(name), "%s", map_names[i]);
		else
			snprintf(name, sizeof(name), "%s%u", map_names[i],
				 i == 3 ? sr->recv_gpadl : sr->send_gpadl);
		if (asprintf(&m, "%s/maps/map%u", dir, i) < 0) {
			err = -ENOMEM;
			goto out;
		}
		if ((err = mkdirs(m)) == 0 &&
		    (err = put_file(m, "name", "%s\n", name)) == 0 &&
		    (err = put_file(m, "size", "0x%016zx\n", sr->map_size[i])) == 0 &&
		    (err = put_file(m, "offset", "0x0\n")) == 0)
			err = put_file(m, "addr", "0x%016llx\n",
				       (unsigned long long)map_addr[i]);
		free(m);
		if (err < 0)
			goto out;
	}
	/*
	 * The primary channel's `ring` is the same memory as map 0 (the
	 * memfd's /proc link). Before f31fe8165d36 a re-offer to a bound
	 * class left it out; before 65995e97a1ca its st_size was the
	 * constant 2 * 2 MiB, wrong once the ring is padded: then it is a
	 * file of that size, which is not the ring, as a mapping of the
	 * kernel's file at its st_size misses the rings too.
	 */
	if (sr->offers > 1 && !sr->kernel.has[SIM_K_RING_ON_REOFFER])
		goto out;
	if (sr->decoy_fd >= 0)
		err = link_memfd(chan, "ring", sr->decoy_fd);
	else
		err = link_memfd(chan, "ring", sr->map_fd[0]);
out:
	free(dir);
	free(chan);
	return err;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

/* HV_RING_SIZE (512 pages), SZ_2M since 6.10: the same on 4 KiB pages. */
#define SIM_RING_SIZE (2u * 1024 * 1024)
/* RECV_BUFFER_SIZE and SEND_BUFFER_SIZE of uio_hv_generic. */
#define SIM_RECV_BUF (31u * 1024 * 1024)
#define SIM_SEND_BUF (16u * 1024 * 1024)
#define SIM_NIC_GUID "f8615163-df3e-46c5-913f-f2d2f965ed0e"
/* Linux's first GPADL handle (vmbus_connection.next_gpadl_handle). */
#define SIM_FIRST_GPADL 0xE1E10u

uint32_t sim_root_gpadl_new(struct sim_root *sr)
{
	if (!sr->next_gpadl)
		sr->next_gpadl = SIM_FIRST_GPADL;
	return sr->next_gpadl++;
}

int sim_root_offer(struct sim_root *sr, int uio_index)
{
	static const char *const memfd_names[SIM_MAX_MAPS] = {
		"hvsim-txrx_rings", "hvsim-int_page", "hvsim-monitor_page", "hvsim-recv",
		"hvsim-send"
	};
	const struct sim_kernel *k = &sr->kernel;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned int i;
	int err;

	sr->uio_index = uio_index;
	sr->offers++;
	/*
	 * Each direction: a header page and the data, 2 MiB in all (16 KiB for
	 * a device type with its own size, as fcopy) until 0315fef2aff9 added
	 * the header page on top. Interrupt and monitor pages are one Hyper-V
	 * page each; the receive and send buffers exist for every class until
	 * 5fa1da972fcf.
	 */
	sr->map_size[0] = 2 * ((sr->type->ring_size ? sr->type->ring_size : SIM_RING_SIZE) +
			       (k->has[SIM_K_RING_PADDED] ? page : 0));
	sr->map_size[1] = 4096;
	sr->map_size[2] = 4096;
	sr->map_size[3] = SIM_RECV_BUF;
	sr->map_size[4] = SIM_SEND_BUF;
	sr->nmaps = !k->has[SIM_K_NIC_BUFFERS_ONLY] || !strcmp(sr->type->class_guid, SIM_NIC_GUID) ?
		    5 : 3;
	for (i = 0; i < sr->nmaps; i++) {
		err = make_memfd(memfd_names[i], sr->map_size[i], &sr->map_fd[i]);
		if (err < 0)
			goto fail;
	}
	/* hv_uio_probe establishes the receive buffer's GPADL, then the send buffer's. */
	sr->recv_gpadl = sr->send_gpadl = 0;
	if (sr->nmaps == 5) {
		sr->recv_gpadl = sim_root_gpadl_new(sr);
		sr->send_gpadl = sim_root_gpadl_new(sr);
	}
	if (!k->has[SIM_K_RING_FILE_REAL] && sr->map_size[0] != 2 * SIM_RING_SIZE) {
		err = make_memfd("hvsim-ring-constant", 2 * SIM_RING_SIZE, &sr->decoy_fd);
		if (err < 0)
			goto fail;
	}
	sr->rings = mmap(NULL, sr->map_size[0], PROT_READ | PROT_WRITE, MAP_SHARED,
			 sr->map_fd[0], 0);
	sr->int_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sr->map_fd[1], 0);
	sr->monitor_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
				sr->map_fd[2], 0);
	if (sr->nmaps == 5)
		sr->recv_buf = mmap(NULL, SIM_RECV_BUF, PROT_READ | PROT_WRITE, MAP_SHARED,
				    sr->map_fd[3], 0);
	if (sr->rings == MAP_FAILED || sr->int_page == MAP_FAILED ||
	    sr->monitor_page == MAP_FAILED || sr->recv_buf == MAP_FAILED) {
		err = -errno;
		goto fail;
	}

	err = -ENOMEM;
	if (asprintf(&sr->devdir, "%s/sys/bus/vmbus/devices/%s", sr->root,
		     sr->type->instance) < 0) {
		sr->devdir = NULL;
		goto fail;
	}
	if (sr->bound && asprintf(&sr->node, "%s/dev/uio%d", sr->root, uio_index) < 0) {
		sr->node = NULL;
		goto fail;
	}
	/* A tree left by an earlier run is stale: the kernel starts afresh too. */
	nftw(sr->devdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	err = offer_files(sr);
	if (err < 0)
		goto fail;
	return 0;
fail:
	sim_root_rescind(sr);
	return err;
}

int sim_root_sub_add(struct sim_root *sr, uint32_t relid)
{
	struct sim_sub *sub = NULL;
	char *chan = NULL;
	int slot, err;

	if (!sr->devdir)
		return -ENODEV;
	for (slot = 0; slot < SIM_MAX_SUBS; slot++) {
		if (sr->subs[slot].relid == relid || relid == sr->type->relid)
			return -EEXIST;
		if (!sub && !sr->subs[slot].relid)
			sub = &sr->subs[slot];
	}
	if (!sub)
		return -ENOSPC;
	slot = (int)(sub - sr->subs);
	/* hv_uio_new_channel opens every sub-channel with SZ_2M rings. */
	sub->size = 2 * SIM_RING_SIZE;
	err = make_memfd("hvsim-subchannel", sub->size, &sub->fd);
	if (err < 0)
		return err;
	sub->rings = mmap(NULL, sub->size, PROT_READ | PROT_WRITE, MAP_SHARED, sub->fd, 0);
	if (sub->rings == MAP_FAILED) {
		sub->rings = NULL;
		err = -errno;
		goto fail;
	}
	if (asprintf(&chan, "%s/channels/%u", sr->devdir, relid) < 0) {
		chan = NULL;
		err = -ENOMEM;
		goto fail;
	}
	/* Sub-channels of a monitored device are monitored too, one id further. */
	err = channel_files(sr, chan, (unsigned int)slot + 1,
			    sr->type->monitor_id >= 0 ? sr->type->monitor_id + slot + 1 : -1,
			    SIM_RING_SIZE);
	if (err == 0)
		err = link_memfd(chan, "ring", sub->fd);
	if (err < 0)
		goto fail;
	sub->relid = relid;
	free(chan);
	return slot;
fail:
	if (chan)
		nftw(chan, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(chan);
	sub->relid = relid;
	sim_root_sub_remove(sr, slot);
	return err;
}

void sim_root_sub_remove(struct sim_root *sr, int slot)
{
	struct sim_sub *sub = &sr->subs[slot];
	char *chan;

	if (!sub->relid)
		return;
	if (sr->devdir && asprintf(&chan, "%s/channels/%u", sr->devdir, sub->relid) >= 0) {
		nftw(chan, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(chan);
	}
	if (sub->rings)
		munmap(sub->rings, sub->size);
	if (sub->fd >= 0)
		close(sub->fd);
	memset(sub, 0, sizeof(*sub));
	sub->fd = -1;
}

static void release_maps(struct sim_root *sr)
{
	unsigned int i;

	for (i = 0; i < SIM_MAX_SUBS; i++)
		sim_root_sub_remove(sr, (int)i);
	if (sr->rings && sr->rings != MAP_FAILED)
		munmap(sr->rings, sr->map_size[0]);
	if (sr->int_page && sr->int_page != MAP_FAILED)
		munmap(sr->int_page, 4096);
	if (sr->monitor_page && sr->monitor_page != MAP_FAILED)
		munmap(sr->monitor_page, 4096);
	if (sr->recv_buf && sr->recv_buf != MAP_FAILED)
		munmap(sr->recv_buf, sr->map_size[3]);
	sr->rings = NULL;
	sr->int_page = sr->monitor_page = sr->recv_buf = NULL;
	for (i = 0; i < SIM_MAX_MAPS; i++) {
		if (sr->map_fd[i] >= 0)
			close(sr->map_fd[i]);
		sr->map_fd[i] = -1;
	}
	if (sr->decoy_fd >= 0)
		close(sr->decoy_fd);
	sr->decoy_fd = -1;
}

void sim_root_rescind(struct sim_root *sr)
{
	for (int i = 0; i < SIM_MAX_SUBS; i++)
		sim_root_sub_remove(sr, i);
	if (sr->devdir) {
		nftw(sr->devdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(sr->devdir);
		sr->devdir = NULL;
	}
	if (sr->node) {
		unlink(sr->node);
		free(sr->node);
		sr->node = NULL;
	}
	release_maps(sr);
}

void sim_root_destroy(struct sim_root *sr)
{
	/* The tree stays for inspection; only the node, which needs us, goes. */
	if (sr->node) {
		unlink(sr->node);
		free(sr->node);
		sr->node = NULL;
	}
	release_maps(sr);
	free(sr->devdir);
	sr->devdir = NULL;
	free(sr->root);
	sr->root = NULL;
}
