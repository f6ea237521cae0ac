/* SPDX-License-Identifier: ISC */
/*
 * Private helpers shared by every part of both libraries. HV_EXPORT marks
 * a public function; the version scripts choose which are exported.
 */

/* The wire is little-endian; every host Hyper-V runs (x86-64, arm64) is too. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "hvuio reads VMBus structures in place and needs a little-endian CPU");

#define HV_EXPORT __attribute__((visibility("default")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN8(x) (((x) + 7u) & ~(__typeof__(x))7u)
