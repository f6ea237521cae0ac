/* SPDX-License-Identifier: ISC */
/*
 * Which uio_hv_generic fixes a kernel release carries.
 *
 * The table is the history of drivers/uio/uio_hv_generic.c as the
 * stable review mails and pull requests give it: the first mainline
 * release of each fix, and the first release of each stable line that
 * took it (a line not listed never did). A line older than the fix's
 * mainline and not listed lacks it. Distribution kernels carry
 * backports their release does not show: a fix such a release seems to
 * lack is "unknown", and the device code probes for it where a probe
 * is safe (dev.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "lib/common/opts.h"
#include "sysfs.h"

#define KVER(a, b) ((a) * 1000u + (b))

struct kernel_fix {
	unsigned int mainline;           /* KVER of the first release */
	bool mainline_only;              /* no older line took it, distributions' neither */
	struct {
		unsigned int line;       /* KVER of the stable line */
		unsigned int patch;      /* its first release with the fix */
	} stable[8];
};

/* 547fa4ffd799 "uio_hv_generic: Enable interrupt for low speed VMBus devices" */
static const struct kernel_fix fix_nonmonitored = { KVER(6, 10), true, { { 0, 0 } } };

/* b15b7d2a1b09 "uio_hv_generic: Let userspace take care of interrupt mask" */
static const struct kernel_fix fix_user_mask = { KVER(6, 18), false, {
	{ KVER(6, 17), 3 }, { KVER(6, 12), 53 }, { KVER(6, 6), 112 }, { KVER(6, 1), 156 },
	{ KVER(5, 15), 195 }, { KVER(5, 10), 246 }, { KVER(5, 4), 301 } } };

/*
 * d062463edf17 "uio_hv_generic: Set event for all channels on the
 * device": whole in 6.12.59, without the signal in 5.4 to 6.6.
 */
static const struct kernel_fix fix_subchannel_events = { KVER(6, 16), false, {
	{ KVER(6, 12), 59 }, { KVER(6, 6), 118 }, { KVER(6, 1), 159 },
	{ KVER(5, 15), 197 }, { KVER(5, 10), 247 }, { KVER(5, 4), 302 } } };
static const struct kernel_fix fix_subchannel_signal = { KVER(6, 16), false, {
	{ KVER(6, 12), 59 } } };

/* fb1adbd7e50f and 6fd28941447b, the rescind fixes of the 2024-09 stables */
static const struct kernel_fix fix_rescind = { KVER(6, 11), false, {
	{ KVER(6, 10), 10 }, { KVER(6, 6), 51 }, { KVER(6, 1), 110 }, { KVER(5, 15), 167 },
	{ KVER(5, 10), 226 }, { KVER(5, 4), 284 }, { KVER(4, 19), 322 } } };

/* bb862397f48f "Drivers: hv: vmbus: Remove second way of mapping ring buffers" */
static const struct kernel_fix fix_header_reset = { KVER(6, 4), false, { { 0, 0 } } };

static int8_t fix_has(const struct kernel_fix *f, const struct hv_vmbus_kernel *k)
{
	unsigned int line = KVER(k->major, k->minor);
	size_t i;

	if (line >= f->mainline)
		return 1;
	for (i = 0; i < ARRAY_SIZE(f->stable) && f->stable[i].line; i++)
		if (f->stable[i].line == line && k->patch >= f->stable[i].patch)
			return 1;
	/* A distribution's "6.1.0-28" says nothing of what it took since. */
	return k->distribution && !f->mainline_only ? -1 : 0;
}

static int release_read(const char *root, char *rel, size_t size)
{
	char path[PATH_MAX];
	struct utsname u;
	int n;

	n = vmbus_sysfs_path(path, sizeof(path), "%s/proc/sys/kernel/osrelease", root);
	if (n)
		return n;
	n = vmbus_sysfs_read_str(path, rel, size);
	if (n != -ENOENT)
		return n < 0 ? n : 0;
	/* A recorded tree need not carry one: it describes this machine. */
	if (uname(&u) < 0)
		return -errno;
	snprintf(rel, size, "%s", u.release);
	return 0;
}

static int release_number(const char **s, unsigned int *ret)
{
	unsigned long v;
	char *end;

	if (**s < '0' || **s > '9')
		return -EBADMSG;
	v = strtoul(*s, &end, 10);
	if (v > 65535)
		return -EBADMSG;
	*ret = (unsigned int)v;
	*s = end;
	return 0;
}

/* The whole of *k, as this library knows it; the caller gets what its sz holds. */
static int kernel_fill(const char *root, struct hv_vmbus_kernel *k)
{
	const char *s;
	int err;

	err = release_read(root, k->release, sizeof(k->release));
	if (err)
		goto out;
	s = k->release;
	err = release_number(&s, &k->major);
	if (!err && *s++ != '.')
		err = -EBADMSG;
	if (!err)
		err = release_number(&s, &k->minor);
	if (err)
		goto out;
	if (*s == '.' && s[1] >= '0' && s[1] <= '9') {
		s++;
		err = release_number(&s, &k->patch);
		if (err)
			goto out;
	}
	k->distribution = *s != '\0';
	k->nonmonitored = fix_has(&fix_nonmonitored, k);
	k->user_mask = fix_has(&fix_user_mask, k);
	k->subchannel_events = fix_has(&fix_subchannel_events, k);
	k->subchannel_signal = fix_has(&fix_subchannel_signal, k);
	k->rescind = fix_has(&fix_rescind, k);
	k->header_reset = fix_has(&fix_header_reset, k);
	return 0;
out:
	k->major = k->minor = k->patch = 0;
	return err;
}

HV_EXPORT int hv_vmbus_kernel_get(const char *root, struct hv_vmbus_kernel *k)
{
	struct hv_vmbus_kernel full = { .sz = sizeof(full) };
	int err;

	if (!root || !k || k->sz < sizeof(k->sz))
		return -EINVAL;
	err = kernel_fill(root, &full);
	opts_out(k, &full, sizeof(full));
	return err;
}

/* One sentence per fix: what the kernel does, what the library does about it. */
static const struct {
	size_t off;                 /* of the int8_t in struct hv_vmbus_kernel */
	const char *have, *lack, *unknown;
} sentences[] = {
	{ offsetof(struct hv_vmbus_kernel, nonmonitored),
	  "channels without a monitor page bind to uio_hv_generic and write() signals them (547fa4ffd799)",
	  "channels without a monitor page, every integration service, cannot bind to uio_hv_generic (547fa4ffd799 is 6.10)",
	  NULL },
	{ offsetof(struct hv_vmbus_kernel, user_mask),
	  "the kernel leaves interrupt_mask to userspace (b15b7d2a1b09, CVE-2025-40048)",
	  "the kernel sets interrupt_mask at open and on each interrupt (no b15b7d2a1b09): the library clears it before each wait",
	  "the kernel may set interrupt_mask itself (b15b7d2a1b09 not known): the library clears it before each wait" },
	{ offsetof(struct hv_vmbus_kernel, subchannel_events),
	  "sub-channel interrupts are safe (d062463edf17): sub-channels take interrupts",
	  "a sub-channel interrupt dereferences NULL in hv_uio_channel_cb (no d062463edf17): sub-channels stay masked and are polled",
	  "d062463edf17 is not known: probed when a sub-channel opens, sub-channels polled unless it is there" },
	{ offsetof(struct hv_vmbus_kernel, rescind),
	  "a rescind of an open device is handled (fb1adbd7e50f, 6fd28941447b)",
	  "a rescind of an open device crashes the kernel (no fb1adbd7e50f): nothing userspace can do",
	  "a rescind of an open device may crash the kernel (fb1adbd7e50f not known)" },
};

HV_EXPORT int hv_vmbus_kernel_describe(const struct hv_vmbus_kernel *k, const char *sep,
				       char *buf, size_t len)
{
	size_t i, used;
	int n;

	/* Every member up to header_reset was there in 0.2, the first release. */
	if (!k || !opts_valid(k, OPTS_END(struct hv_vmbus_kernel, header_reset), sizeof(*k)))
		return -EINVAL;
	n = snprintf(buf, len, "kernel %s%s", k->release[0] ? k->release : "(unknown)",
		     k->distribution ? " (a distribution's: backports unknown)" : "");
	for (i = 0; n >= 0 && i < ARRAY_SIZE(sentences); i++) {
		int8_t v = *(const int8_t *)((const char *)k + sentences[i].off);
		int m;

		used = (size_t)n < len ? (size_t)n : len;
		m = snprintf(buf + used, len - used, "%s%s", sep,
			     v == 1 ? sentences[i].have :
			     v == 0 || !sentences[i].unknown ? sentences[i].lack :
			     sentences[i].unknown);
		n = m < 0 ? m : n + m;
	}
	return n;
}
