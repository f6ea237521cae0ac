/* SPDX-License-Identifier: ISC */
/*
 * UTF-16LE <-> UTF-8 for KVP strings.
 *
 * The host speaks UTF-16LE; pool files and the Linux daemon protocol hold
 * UTF-8. Linux's fs/nls/nls_base.c utf16s_to_utf8s drops unpaired
 * surrogates and silently truncates; FreeBSD's unicode.h mishandles
 * surrogate pairs; OpenBSD's hypervic.c keeps only the low byte. Any of
 * those changes a key without saying so, so here every malformed input is
 * an error and nothing is ever truncated.
 */
#include <errno.h>
#include <string.h>

#include "hvuio/kvp_msg.h"
#include "hvuio/utf8.h"
#include "lib/common/compiler.h"
#include "kvp_wire.h"

static inline uint16_t get_unit(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline int is_high_surrogate(uint32_t u)
{
	return u >= 0xd800 && u <= 0xdbff;
}

static inline int is_low_surrogate(uint32_t u)
{
	return u >= 0xdc00 && u <= 0xdfff;
}

static size_t utf8_put(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int kvp_utf16_units_to_utf8(const uint8_t *src, size_t units, char *dst,
			    size_t dst_size, size_t *ret_len)
{
	size_t i = 0, out = 0;
	int r;

	while (i < units) {
		uint32_t cp = get_unit(src + 2 * i++);
		char enc[4];
		size_t n;

		if (is_low_surrogate(cp)) {
			r = -EDOM;
			goto out;
		}
		if (is_high_surrogate(cp)) {
			uint32_t lo;

			if (i == units) {
				r = -EDOM;
				goto out;
			}
			lo = get_unit(src + 2 * i);
			if (!is_low_surrogate(lo)) {
				r = -EDOM;
				goto out;
			}
			i++;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		n = utf8_put(enc, cp);
		/* Keep one byte for the NUL. */
		if (n >= dst_size - out) {
			r = -ENOBUFS;
			goto out;
		}
		memcpy(dst + out, enc, n);
		out += n;
	}
	dst[out] = '\0';
	if (ret_len)
		*ret_len = out;
	return 0;
out:
	dst[0] = '\0';
	return r;
}

/*
 * A host prints what a broken guest sent rather than refusing it, so
 * here nothing fails: what cannot be decoded becomes U+FFFD, the
 * replacement character, where Linux's utf16s_to_utf8s would drop it
 * without a trace.
 */
size_t kvp_utf16_to_utf8_lossy(const uint8_t *src, size_t bytes, char *dst,
			       size_t dst_size)
{
	size_t units = bytes / 2, i = 0, out = 0;

	while (i < units) {
		uint32_t cp = get_unit(src + 2 * i++);
		char enc[4];
		size_t n;

		if (cp == 0)
			break;
		if (is_high_surrogate(cp) && i < units &&
		    is_low_surrogate(get_unit(src + 2 * i))) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (get_unit(src + 2 * i) - 0xdc00);
			i++;
		} else if (is_high_surrogate(cp) || is_low_surrogate(cp)) {
			/* The unit after a lone high surrogate is read on its own. */
			cp = 0xfffd;
		}
		n = utf8_put(enc, cp);
		if (n >= dst_size - out)
			break;
		memcpy(dst + out, enc, n);
		out += n;
	}
	dst[out] = '\0';
	return out;
}

HV_EXPORT int hv_kvp_utf16_to_utf8(const void *src, size_t src_size, char *dst,
				   size_t dst_size, size_t *ret_len)
{
	const uint8_t *s = src;
	size_t units, n;

	if (!src || !dst || dst_size == 0)
		return -EINVAL;
	if (src_size & 1) {
		dst[0] = '\0';
		return -EPROTO;
	}
	units = src_size / 2;
	for (n = 0; n < units; n++)
		if (get_unit(s + 2 * n) == 0)
			break;
	return kvp_utf16_units_to_utf8(s, n, dst, dst_size, ret_len);
}

int kvp_utf8_utf16_units(const char *s, size_t len, size_t *ret_units)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, units = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = hv_utf8_decode(p + i, len - i, &cp);

		if (n == 0 || cp == 0)
			return -EILSEQ;
		i += n;
		units += cp >= 0x10000 ? 2 : 1;
	}
	*ret_units = units;
	return 0;
}

HV_EXPORT int hv_kvp_utf8_check(const char *s, size_t len)
{
	size_t units;

	if (!s)
		return -EINVAL;
	return kvp_utf8_utf16_units(s, len, &units);
}

HV_EXPORT int hv_kvp_utf8_to_utf16(const char *src, size_t src_len, void *dst,
				   size_t dst_size, size_t *ret_size)
{
	const unsigned char *p = (const unsigned char *)src;
	uint8_t *d = dst;
	size_t i = 0, units, o = 0;
	int r;

	if (!src || !dst)
		return -EINVAL;
	/* Validate and measure first so that dst is untouched on error. */
	r = kvp_utf8_utf16_units(src, src_len, &units);
	if (r < 0)
		return r;
	if (!kvp_utf16_fits(units, dst_size))
		return -ENOBUFS;
	while (i < src_len) {
		uint32_t cp;

		i += hv_utf8_decode(p + i, src_len - i, &cp);
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			uint32_t hi = 0xd800 | v >> 10, lo = 0xdc00 | (v & 0x3ff);

			d[o++] = (uint8_t)hi;
			d[o++] = (uint8_t)(hi >> 8);
			d[o++] = (uint8_t)lo;
			d[o++] = (uint8_t)(lo >> 8);
		} else {
			d[o++] = (uint8_t)cp;
			d[o++] = (uint8_t)(cp >> 8);
		}
	}
	d[o++] = 0;
	d[o++] = 0;
	if (ret_size)
		*ret_size = o;
	return 0;
}
