/* SPDX-License-Identifier: ISC */
/*
 * Public structures that grow between releases: options a caller passes
 * in and figures the library hands back. Their first member is `size_t
 * sz`, which the caller sets to the sizeof it was compiled with; the
 * library is then free to append members (README.md, "ABI"), the rule
 * libbpf keeps for its opts:
 *  - in: a smaller sz (an older caller) is accepted and the members past
 *    it take their defaults; a larger one (a newer caller) is accepted
 *    only when every byte past what this library knows is zero, since a
 *    non-zero one asks for something it cannot do;
 *  - out: the library writes what fits in sz and zeroes the rest, so a
 *    newer caller reads 0 for members this library does not know.
 * Private to the libraries: inline, so that no part calls another for it.
 */
#ifndef HVUIO_COMMON_OPTS_H
#define HVUIO_COMMON_OPTS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Does the caller's struct reach past `field` (a NULL struct does not)? */
#define OPTS_HAS(p, field) \
	((p) && (p)->sz >= offsetof(__typeof__(*(p)), field) + sizeof((p)->field))
/* `field`, or `dflt` when the caller's struct ends before it. */
#define OPTS_GET(p, field, dflt) (OPTS_HAS(p, field) ? (p)->field : (dflt))
/* Where `field` ends: the size of a struct that stopped after it. */
#define OPTS_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/*
 * An input struct: at least `min` bytes (what the first release that had
 * the struct knew), and zeros past the `known` bytes of this library.
 */
static inline bool opts_valid(const void *p, size_t min, size_t known)
{
	const unsigned char *b = p;
	size_t sz;

	memcpy(&sz, p, sizeof(sz));
	if (sz < min)
		return false;
	for (size_t i = known; i < sz; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * Hand `known` bytes of `src` to the caller's struct `dst` of dst->sz
 * bytes, which keeps its sz; -EINVAL when sz cannot even hold itself.
 */
static inline int opts_out(void *dst, const void *src, size_t known)
{
	unsigned char *d = dst;
	size_t sz;

	memcpy(&sz, dst, sizeof(sz));
	if (sz < sizeof(sz))
		return -EINVAL;
	memcpy(d + sizeof(sz), (const unsigned char *)src + sizeof(sz),
	       (sz < known ? sz : known) - sizeof(sz));
	if (sz > known)
		memset(d + known, 0, sz - known);
	return 0;
}

#endif
