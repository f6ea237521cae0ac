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
	  "242ff919-07db-4180-9c2e-b86cb68c8c55", 8, HV_IC_MSGTYPE_KVPEXCHANGE, NULL, 0 },
	{ "heartbeat", "57164f39-9115-4e78-ab55-382f3bd5422d",
	  "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0", 7, HV_IC_MSGTYPE_HEARTBEAT, &hb_offer, 0 },
	/*
	 * Guest services: Linux's vmbus_devs[] gives it a 16 KiB ring
	 * (pref_ring_size), which uio_hv_generic pads with the header page
	 * since "Align ring size to system page" (6.16).
	 */
	{ "fcopy", "34d14be3-dee4-41c8-9ae7-6b174977c192",
	  "eb765408-105f-49b6-b4aa-c123b64d17d4", 9, HV_IC_MSGTYPE_FCOPY, &fcopy_offer,
	  16 * 1024 },
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

static int put_file(const char *dir, const char *name, const char *fmt, ...)
{
	char *path = path_join(dir, name);
	va_list ap;
	FILE *f;
	int err = 0;

	if (!path)
		return -ENOMEM;
	f = fopen(path, "we");
	if (!f) {
		err = -errno;
		goto out;
	}
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0)
		err = -errno;
out:
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

int sim_root_create(const char *root, const struct sim_devtype *type,
		    struct sim_root *sr)
{
	char *p = NULL;
	int err, i;

	memset(sr, 0, sizeof(*sr));
	for (i = 0; i < SIM_NMAPS; i++)
		sr->map_fd[i] = -1;
	sr->uio_index = -1;
	sr->type = type;
	sr->root = strdup(root);
	if (!sr->root)
		return -ENOMEM;

	err = -ENOMEM;
	if (!(p = path_join(root, "sys/bus/vmbus/drivers/uio_hv_generic")))
		goto out;
	if ((err = mkdirs(p)) < 0)
		goto out;
	free(p);
	err = -ENOMEM;
	if (!(p = path_join(root, "sys/bus/vmbus/devices")))
		goto out;
	if ((err = mkdirs(p)) < 0)
		goto out;
	free(p);
	err = -ENOMEM;
	if (!(p = path_join(root, "dev")))
		goto out;
	if ((err = mkdirs(p)) < 0)
		goto out;
	free(p);
	err = -ENOMEM;
	if (!(p = path_join(root, "proc/sys/kernel")))
		goto out;
	if ((err = mkdirs(p)) < 0)
		goto out;
	/*
	 * A kernel that binds integration services to uio_hv_generic (6.10
	 * or later) but still masks the channel at open (before the
	 * CVE-2025-40048 fix reached 6.12.53): the case the guest must cope
	 * with.
	 */
	err = put_file(p, "osrelease", "6.12.48\n");
out:
	free(p);
	return err;
}

void sim_root_set_state(struct sim_root *sr, int state)
{
	if (sr->devdir)
		put_file(sr->devdir, "state", "%d\n", state);
}

static int offer_files(struct sim_root *sr)
{
	static const char *const map_names[SIM_NMAPS] = {
		"txrx_rings", "int_page", "monitor_page"
	};
	/* Kernel addresses mean nothing to userspace; these only look right. */
	static const uint64_t map_addr[SIM_NMAPS] = {
		0x0000000104a00000ull, 0xffff9a4c81f3d000ull, 0xffff9a4c81f3f000ull
	};
	const struct sim_devtype *t = sr->type;
	char alias[33], *dir = NULL, *chan = NULL, rel[32];
	int err, i;

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

	err = -ENOMEM;
	if (!(dir = path_join(sr->devdir, "driver")))
		goto out;
	if (symlink("../../drivers/uio_hv_generic", dir) < 0) {
		err = -errno;
		goto out;
	}
	free(dir);

	if (asprintf(&dir, "%s/uio/uio%d", sr->devdir, sr->uio_index) < 0) {
		dir = NULL;
		goto out;
	}
	if ((err = mkdirs(dir)) < 0 ||
	    (err = put_file(dir, "name", "uio_hv_generic\n")) < 0 ||
	    (err = put_file(dir, "version", "0.02.1\n")) < 0 ||
	    (err = put_file(dir, "event", "0\n")) < 0)
		goto out;
	for (i = 0; i < SIM_NMAPS; i++) {
		char *m;

		if (asprintf(&m, "%s/maps/map%d", dir, i) < 0) {
			err = -ENOMEM;
			goto out;
		}
		if ((err = mkdirs(m)) == 0 &&
		    (err = put_file(m, "name", "%s\n", map_names[i])) == 0 &&
		    (err = put_file(m, "size", "0x%016zx\n", sr->map_size[i])) == 0 &&
		    (err = put_file(m, "offset", "0x0\n")) == 0)
			err = put_file(m, "addr", "0x%016llx\n",
				       (unsigned long long)map_addr[i]);
		free(m);
		if (err < 0)
			goto out;
	}

	snprintf(rel, sizeof(rel), "channels/%u", t->relid);
	err = -ENOMEM;
	if (!(chan = path_join(sr->devdir, rel)))
		goto out;
	if ((err = mkdirs(chan)) < 0)
		goto out;
	/*
	 * Channel files of a non-monitored channel: no monitor_id, pending
	 * or latency (vmbus_chan_attr_is_visible hides them).
	 */
	if ((err = put_file(chan, "cpu", "0\n")) < 0 ||
	    (err = put_file(chan, "subchannel_id", "0\n")) < 0 ||
	    (err = put_file(chan, "in_mask", "1\n")) < 0 ||
	    (err = put_file(chan, "out_mask", "0\n")) < 0 ||
	    (err = put_file(chan, "read_avail", "0\n")) < 0 ||
	    (err = put_file(chan, "write_avail", "%zu\n",
			    sr->map_size[0] / 2 - (size_t)sysconf(_SC_PAGESIZE))) < 0 ||
	    (err = put_file(chan, "interrupts", "0\n")) < 0 ||
	    (err = put_file(chan, "events", "0\n")) < 0 ||
	    (err = put_file(chan, "intr_in_full", "0\n")) < 0 ||
	    (err = put_file(chan, "intr_out_empty", "0\n")) < 0 ||
	    (err = put_file(chan, "out_full_first", "0\n")) < 0 ||
	    (err = put_file(chan, "out_full_total", "0\n")) < 0)
		goto out;
	/*
	 * The primary channel's `ring` is the same memory as map 0. A regular
	 * file cannot share a memfd's pages, but the memfd's /proc link can
	 * be opened and mapped like the kernel's ring attribute, and stat
	 * through it gives the kernel's st_size (both rings).
	 */
	free(dir);
	if (asprintf(&dir, "%s/ring", chan) < 0) {
		dir = NULL;
		err = -ENOMEM;
		goto out;
	}
	{
		char target[64];

		snprintf(target, sizeof(target), "/proc/%ld/fd/%d",
			 (long)getpid(), sr->map_fd[0]);
		if (symlink(target, dir) < 0) {
			err = -errno;
			goto out;
		}
	}
	err = 0;
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

int sim_root_offer(struct sim_root *sr, int uio_index)
{
	static const char *const memfd_names[SIM_NMAPS] = {
		"hvsim-txrx_rings", "hvsim-int_page", "hvsim-monitor_page"
	};
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int err, i;

	sr->uio_index = uio_index;
	/*
	 * VMBUS_RING_SIZE(data) per direction: the device's data bytes (2 MiB
	 * unless its type says otherwise) after a header page, as
	 * uio_hv_generic allocates since the 2025 "Align ring size to system
	 * page" change; int and monitor pages are one Hyper-V page each.
	 */
	sr->map_size[0] = 2 * ((sr->type->ring_data ? sr->type->ring_data :
				2u * 1024 * 1024) + page);
	sr->map_size[1] = 4096;
	sr->map_size[2] = 4096;
	for (i = 0; i < SIM_NMAPS; i++) {
		err = make_memfd(memfd_names[i], sr->map_size[i], &sr->map_fd[i]);
		if (err < 0)
			goto fail;
	}
	sr->rings = mmap(NULL, sr->map_size[0], PROT_READ | PROT_WRITE, MAP_SHARED,
			 sr->map_fd[0], 0);
	if (sr->rings == MAP_FAILED) {
		sr->rings = NULL;
		err = -errno;
		goto fail;
	}

	err = -ENOMEM;
	if (asprintf(&sr->devdir, "%s/sys/bus/vmbus/devices/%s", sr->root,
		     sr->type->instance) < 0) {
		sr->devdir = NULL;
		goto fail;
	}
	if (asprintf(&sr->node, "%s/dev/uio%d", sr->root, uio_index) < 0) {
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

void sim_root_rescind(struct sim_root *sr)
{
	int i;

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
	if (sr->rings) {
		munmap(sr->rings, sr->map_size[0]);
		sr->rings = NULL;
	}
	for (i = 0; i < SIM_NMAPS; i++) {
		if (sr->map_fd[i] >= 0)
			close(sr->map_fd[i]);
		sr->map_fd[i] = -1;
	}
}

void sim_root_destroy(struct sim_root *sr)
{
	/* The tree stays for inspection; only the node, which needs us, goes. */
	if (sr->node) {
		unlink(sr->node);
		free(sr->node);
		sr->node = NULL;
	}
	free(sr->devdir);
	sr->devdir = NULL;
	if (sr->rings)
		munmap(sr->rings, sr->map_size[0]);
	sr->rings = NULL;
	for (int i = 0; i < SIM_NMAPS; i++)
		if (sr->map_fd[i] >= 0)
			close(sr->map_fd[i]);
	free(sr->root);
	sr->root = NULL;
}
