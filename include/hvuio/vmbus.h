/* SPDX-License-Identifier: ISC */
/*
 * hv_vmbus: VMBus devices as sysfs shows them, and binding them to
 * uio_hv_generic.
 *
 * Every function takes the root under which `sys/` (and `dev/`, `proc/`)
 * are read: "/" on a real system, a recorded tree in tests, or a sim root
 * made by hvsim(8). The library never reads the environment for it.
 */
#ifndef HVUIO_VMBUS_H
#define HVUIO_VMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A GUID in its 36-character text form, lower case, no braces, plus NUL. */
#define HV_VMBUS_GUID_STRLEN 37
/* uio allows at most five maps (MAX_UIO_MAPS). */
#define HV_VMBUS_MAX_MAPS 5

/* Class (interface type) GUIDs this project names. */
#define HV_VMBUS_KVP_GUID "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define HV_VMBUS_NIC_GUID "f8615163-df3e-46c5-913f-f2d2f965ed0e"

/* One uio map: maps/mapN of the device's uio node. */
struct hv_vmbus_map {
	char name[32];          /* "txrx_rings", "int_page", "recv:123", ... */
	uint64_t size;
	uint64_t offset;
};

/*
 * One channel: channels/<relid>/ of the device. A counter the running
 * kernel does not show (a hidden file, a closed channel) is -1.
 */
struct hv_vmbus_channel {
	uint32_t relid;
	int32_t subchannel_id;  /* 0 = the primary channel */
	int32_t monitor_id;     /* -1: not monitored */
	int32_t cpu;
	int64_t in_mask, out_mask;
	int64_t read_avail, write_avail;
	int64_t interrupts, events;
	int64_t intr_in_full, intr_out_empty, out_full_first, out_full_total;
	uint64_t ring_size;     /* st_size of channels/<relid>/ring; 0: no file */
	/* Room for later releases: callers index arrays of these, so the size stays. */
	uint64_t reserved[4];
};

struct hv_vmbus_device {
	char instance[HV_VMBUS_GUID_STRLEN];  /* directory name: the device's id */
	char class_id[HV_VMBUS_GUID_STRLEN];
	const char *class_name;         /* as lsvmbus(8) names it; static */
	uint32_t relid;                 /* `id`: the primary channel */
	int32_t monitor_id;             /* -1: not monitored */
	char driver[64];                /* bound driver, "" if none */
	char driver_override[64];       /* "" if unset */
	int uio_index;                  /* N of uio/uioN, -1 if not uio-bound */
	unsigned int nmaps;
	struct hv_vmbus_map maps[HV_VMBUS_MAX_MAPS];
	size_t nchannels;               /* primary first, then by relid */
	struct hv_vmbus_channel *channels;
	uint64_t reserved[4];           /* as in struct hv_vmbus_channel */
};

/* Every VMBus device under root, sorted by instance GUID. */
struct hv_vmbus_list {
	size_t count;
	struct hv_vmbus_device *devices;
};

/*
 * Read every device under ROOT/sys/bus/vmbus/devices. A root without a
 * VMBus gives an empty list (0), not an error. Returns 0, -ENOMEM, or the
 * negative errno of a file that exists and cannot be read; malformed
 * contents give -EBADMSG.
 */
int hv_vmbus_list_new(const char *root, struct hv_vmbus_list **ret);
void hv_vmbus_list_free(struct hv_vmbus_list *list);

/*
 * The device whose instance GUID is `guid`, or else the first whose class
 * GUID is; NULL if none. Braces and upper case are accepted.
 */
const struct hv_vmbus_device *hv_vmbus_list_find(const struct hv_vmbus_list *list,
						 const char *guid);

/* lsvmbus(8)'s name for a class GUID, "Unknown" if it has none. */
const char *hv_vmbus_class_name(const char *class_guid);

/*
 * Bind the device to `driver` (normally "uio_hv_generic"): unbind it from
 * its current driver first, then driver_override where the kernel has it,
 * new_id otherwise. Returns 0, or:
 *   -ENOENT      no such device under root
 *   -ENODEV      the driver is not loaded (modprobe uio_hv_generic)
 *   -EOPNOTSUPP  the kernel cannot bind this device to uio_hv_generic
 *                (before Linux 6.10 it refuses channels without a monitor
 *                page, which is every integration service)
 *   -EBUSY       a process has the device's /dev/uioN open
 *   -EACCES/-EPERM  not allowed to write sysfs (not root)
 *   another negative errno from the sysfs write
 */
int hv_vmbus_bind(const char *root, const char *instance, const char *driver);

/* Unbind the device from whatever driver has it; same errors as above. */
int hv_vmbus_unbind(const char *root, const char *instance);

/*
 * What the kernel under root does to userspace drivers, as far as its
 * release says (uio_hv_generic changed under userspace many times; see
 * hv_vmbus(3), KERNELS, for every commit and release). Each fix is 1
 * (the release has it), 0 (it has not) or -1 (a distribution kernel,
 * "6.1.0-28-amd64": its backports cannot be known from the release).
 * Set sz to sizeof(struct hv_vmbus_kernel) before hv_vmbus_kernel_get:
 * later releases add fixes at the end, which the library fills as far as
 * sz reaches (zeroing the rest) and hv_vmbus_kernel_describe reads as far
 * as sz reaches.
 */
struct hv_vmbus_kernel {
	size_t sz;
	char release[65];            /* ROOT/proc/sys/kernel/osrelease, else uname */
	unsigned int major, minor, patch;
	bool distribution;           /* a suffix after major.minor.patch */
	/* 547fa4ffd799 (6.10): channels without a monitor page bind, write(1) signals the primary. */
	int8_t nonmonitored;
	/* b15b7d2a1b09 (CVE-2025-40048; 6.18, 6.12.53...): the kernel stops forcing interrupt_mask. */
	int8_t user_mask;
	/* d062463edf17 (6.16, 6.12.59...): a sub-channel interrupt no longer oopses in hv_uio_channel_cb. */
	int8_t subchannel_events;
	/* d062463edf17 in full (6.16, 6.12.59 only): write(1) signals every sub-channel. */
	int8_t subchannel_signal;
	/* fb1adbd7e50f + 6fd28941447b (6.11, 6.10.10...): a rescind of an open device does not oops. */
	int8_t rescind;
	/* bb862397f48f (6.4): ring headers are zeroed on every open. */
	int8_t header_reset;
};

/*
 * Read the release under root (ROOT/proc/sys/kernel/osrelease; uname(2)
 * when the root has none) and fill *k. Returns 0, -EINVAL (NULL k, sz
 * smaller than sz itself), -EBADMSG for a release that is not
 * major.minor[.patch][suffix], or the errno of the read.
 */
int hv_vmbus_kernel_get(const char *root, struct hv_vmbus_kernel *k);

/*
 * What the library makes of *k, in sentences naming the commits, joined
 * by sep ("; " for a log line, "\n\t" for a listing). Returns the length
 * snprintf would have written, or -EINVAL for a k shorter than this
 * struct was in 0.2 or longer with fixes set that this library does not
 * know.
 */
int hv_vmbus_kernel_describe(const struct hv_vmbus_kernel *k, const char *sep, char *buf,
			     size_t len);

#ifdef __cplusplus
}
#endif

#endif
