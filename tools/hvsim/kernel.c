/* SPDX-License-Identifier: ISC */
/*
 * The guest kernel the sim plays (hvsim --kernel): what its
 * uio_hv_generic does to userspace, row by row of the history in
 * hvsim(8), KERNEL PROFILES (from the stable review mails and pull
 * requests of drivers/uio/uio_hv_generic.c and drivers/hv).
 *
 * This is the kernel's side, kept apart from lib/vmbus/kernel.c on
 * purpose: the library decides what is safe from its own reading of the
 * same history, and the tests find out when the two disagree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvsim.h"

#define KV(a, b) ((a) * 1000u + (b))

struct kernel_row {
	const char *commit;
	unsigned int mainline;
	struct {
		unsigned int line, patch;
	} stable[8];
};

static const struct kernel_row rows[SIM_K_COUNT] = {
	/* "uio_hv_generic: Enable interrupt for low speed VMBus devices" */
	[SIM_K_NONMONITORED] = { "547fa4ffd799", KV(6, 10), { { 0, 0 } } },
	/* "Set event for all channels on the device", reduced in 5.4-6.6 */
	[SIM_K_WRITE_ALL] = { "d062463edf17", KV(6, 16), {
		{ KV(6, 12), 59 }, { KV(6, 6), 118 }, { KV(6, 1), 159 }, { KV(5, 15), 197 },
		{ KV(5, 10), 247 }, { KV(5, 4), 302 } } },
	[SIM_K_WRITE_SIGNALS_SUB] = { "d062463edf17", KV(6, 16), { { KV(6, 12), 59 } } },
	/* "Let userspace take care of interrupt mask" (CVE-2025-40048) */
	[SIM_K_USER_MASK] = { "b15b7d2a1b09", KV(6, 18), {
		{ KV(6, 17), 3 }, { KV(6, 12), 53 }, { KV(6, 6), 112 }, { KV(6, 1), 156 },
		{ KV(5, 15), 195 }, { KV(5, 10), 246 }, { KV(5, 4), 301 } } },
	/* "Drivers: hv: vmbus: Remove second way of mapping ring buffers" */
	[SIM_K_HEADER_ZEROED] = { "bb862397f48f", KV(6, 4), { { 0, 0 } } },
	/* "Fix kernel NULL pointer dereference in hv_uio_rescind" (+ 6fd28941447b) */
	[SIM_K_RESCIND] = { "fb1adbd7e50f", KV(6, 11), {
		{ KV(6, 10), 10 }, { KV(6, 6), 51 }, { KV(6, 1), 110 }, { KV(5, 15), 167 },
		{ KV(5, 10), 226 }, { KV(5, 4), 284 }, { KV(4, 19), 322 } } },
	/* "uio_hv_generic: Align ring size to system page" */
	[SIM_K_RING_PADDED] = { "0315fef2aff9", KV(6, 16), {
		{ KV(6, 15), 4 }, { KV(6, 12), 35 }, { KV(6, 6), 96 }, { KV(6, 1), 143 },
		{ KV(5, 15), 187 }, { KV(5, 10), 240 } } },
	/* "Drivers: hv: Make the sysfs node size for the ring buffer dynamic" */
	[SIM_K_RING_FILE_REAL] = { "65995e97a1ca", KV(6, 15), { { KV(6, 12), 41 } } },
	/* "uio_hv_generic: Fix sysfs creation path for ring buffer" */
	[SIM_K_RING_ON_REOFFER] = { "f31fe8165d36", KV(6, 15), { { KV(6, 12), 41 } } },
	/* "uio_hv_generic: Add a check for HV_NIC for send, receive buffers setup" */
	[SIM_K_NIC_BUFFERS_ONLY] = { "5fa1da972fcf", KV(6, 14), { { 0, 0 } } },
};

static bool row_has(const struct kernel_row *r, unsigned int line, unsigned int patch)
{
	size_t i;

	if (line >= r->mainline)
		return true;
	for (i = 0; i < sizeof(r->stable) / sizeof(r->stable[0]) && r->stable[i].line; i++)
		if (r->stable[i].line == line)
			return patch >= r->stable[i].patch;
	return false;
}

int sim_kernel_parse(const char *release, struct sim_kernel *k)
{
	unsigned int line;
	char *end;
	unsigned long v[3] = { 0, 0, 0 };
	const char *s = release;
	int i;

	memset(k, 0, sizeof(*k));
	if (strlen(release) >= sizeof(k->release))
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v[i] = strtoul(s, &end, 10);
		if (v[i] > 65535)
			return -EINVAL;
		s = end;
		/* The sim must know the stable release: "6.12" alone plays nothing. */
		if (i < 2 && *s++ != '.')
			return -EINVAL;
	}
	/* A distribution's suffix ("-28-amd64") is kept in osrelease. */
	if (*s && *s != '-' && *s != '+')
		return -EINVAL;
	snprintf(k->release, sizeof(k->release), "%s", release);
	k->major = (unsigned int)v[0];
	k->minor = (unsigned int)v[1];
	k->patch = (unsigned int)v[2];
	line = KV(k->major, k->minor);
	for (i = 0; i < SIM_K_COUNT; i++)
		k->has[i] = row_has(&rows[i], line, k->patch);
	return 0;
}

const char *sim_kernel_commit(enum sim_kernel_row row)
{
	return rows[row].commit;
}

void sim_kernel_crash(struct sim_kernel *k, enum sim_kernel_row row, const char *what)
{
	/* One report: the guest is dead after the first. */
	if (k->crashed)
		return;
	k->crashed = true;
	fflush(stdout);
	fprintf(stderr, "hvsim: the guest kernel would crash here (commit %s, kernel %s): %s\n",
		rows[row].commit, k->release, what);
}
