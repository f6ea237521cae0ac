/* SPDX-License-Identifier: ISC */
/*
 * The UTF-16LE <-> UTF-8 conversions of the KVP codec.
 *
 * Input: one selector byte (the destination size), then bytes read both
 * as UTF-16LE and as UTF-8. Checked against a decoder written here from
 * RFC 3629 (shortest form, no surrogates, nothing above U+10FFFF) and
 * RFC 2781 (surrogate pairs), and by the round trips: UTF-8 -> UTF-16 ->
 * UTF-8 is the identity whenever the first step succeeds, and so is
 * UTF-16 -> UTF-8 -> UTF-16 up to the first NUL unit.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/kvp_msg.h"
#include "fuzz.h"

#define CANARY 0x5a

/*
 * Valid UTF-8 without NUL? Decodes every sequence by its lead byte's
 * length and then rejects what a shorter form could encode.
 */
static bool model_utf8_ok(const uint8_t *s, size_t len, size_t *units)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0, u = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
			   (c & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp;

		if (n == 0 || c == 0 || len - i < n)
			return false;
		cp = n == 1 ? c : c & (0x7f >> n);
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		u += cp >= 0x10000 ? 2 : 1;
		i += n;
	}
	*units = u;
	return true;
}

/*
 * What hv_kvp_utf16_to_utf8 must answer for the units before the first
 * NUL: it converts in order, so whichever comes first of an unpaired
 * surrogate (-EDOM) and a full destination (-ENOBUFS) decides.
 */
static int model_utf16(const uint8_t *s, size_t units, size_t dst_size, size_t *n_out,
		       size_t *u8_len)
{
	size_t n = 0, len = 0, add;

	while (n < units && fuzz_le16(s + 2 * n))
		n++;
	*n_out = n;
	for (size_t i = 0; i < n; i++) {
		uint16_t u = fuzz_le16(s + 2 * i);

		if (u >= 0xdc00 && u <= 0xdfff)
			return -EDOM;
		if (u >= 0xd800 && u <= 0xdbff) {
			uint16_t lo;

			if (i + 1 == n)
				return -EDOM;
			lo = fuzz_le16(s + 2 * i + 2);
			if (lo < 0xdc00 || lo > 0xdfff)
				return -EDOM;
			i++;
			add = 4;
		} else {
			add = u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
		}
		if (len + add + 1 > dst_size)
			return -ENOBUFS;
		len += add;
	}
	*u8_len = len;
	return 0;
}

static void check_from_utf16(const uint8_t *s, size_t size, size_t dst_size)
{
	char *dst = malloc(dst_size);
	size_t len = 12345, n, want_len, back_size;
	uint8_t *back;
	int err, merr;

	FUZZ_CHECK(dst);
	memset(dst, CANARY, dst_size);
	err = hv_kvp_utf16_to_utf8(s, size, dst, dst_size, &len);
	if (size & 1) {
		FUZZ_CHECK(err == -EPROTO && dst[0] == '\0' && len == 12345);
		goto out;
	}
	merr = model_utf16(s, size / 2, dst_size, &n, &want_len);
	if (merr) {
		FUZZ_CHECK(err == merr && dst[0] == '\0' && len == 12345);
		goto out;
	}
	FUZZ_CHECK(err == 0 && len == want_len && dst[len] == '\0' && strlen(dst) == len);
	FUZZ_CHECK(hv_kvp_utf8_check(dst, len) == 0);

	/* Back to UTF-16: the units up to the NUL, and a NUL unit. */
	back_size = 2 * n + 2;
	back = malloc(back_size);
	FUZZ_CHECK(back);
	FUZZ_CHECK(hv_kvp_utf8_to_utf16(dst, len, back, back_size, &back_size) == 0);
	FUZZ_CHECK(back_size == 2 * n + 2);
	FUZZ_CHECK(memcmp(back, s, 2 * n) == 0 && back[2 * n] == 0 && back[2 * n + 1] == 0);
	free(back);
out:
	free(dst);
}

static void check_from_utf8(const uint8_t *s, size_t len, size_t dst_size)
{
	uint8_t *dst = malloc(dst_size ? dst_size : 1);
	size_t size = 12345, units, back_len;
	char *back;
	bool ok = model_utf8_ok(s, len, &units);
	int err;

	FUZZ_CHECK(dst);
	memset(dst, CANARY, dst_size);
	err = hv_kvp_utf8_to_utf16((const char *)s, len, dst, dst_size, &size);
	FUZZ_CHECK(hv_kvp_utf8_check((const char *)s, len) == (ok ? 0 : -EILSEQ));
	if (!ok || 2 * units + 2 > dst_size) {
		FUZZ_CHECK(err == (ok ? -ENOBUFS : -EILSEQ) && size == 12345);
		for (size_t i = 0; i < dst_size; i++)
			FUZZ_CHECK(dst[i] == CANARY);
		goto out;
	}
	FUZZ_CHECK(err == 0 && size == 2 * units + 2);
	FUZZ_CHECK(dst[size - 2] == 0 && dst[size - 1] == 0);
	for (size_t i = size; i < dst_size; i++)
		FUZZ_CHECK(dst[i] == CANARY);

	/* And back: the identity. */
	back = malloc(len + 1);
	FUZZ_CHECK(back);
	FUZZ_CHECK(hv_kvp_utf16_to_utf8(dst, size, back, len + 1, &back_len) == 0);
	FUZZ_CHECK(back_len == len && memcmp(back, s, len) == 0 && back[len] == '\0');
	/* One byte less is too small, and says so. */
	FUZZ_CHECK(hv_kvp_utf16_to_utf8(dst, size, back, len, &back_len) ==
		   (len ? -ENOBUFS : -EINVAL));
	free(back);
out:
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	const uint8_t *s;
	uint8_t *copy;
	size_t n, room;

	if (size < 1)
		return 0;
	n = size - 1;
	copy = malloc(n ? n : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, in + 1, n);
	s = copy;
	/* Mostly room enough; sometimes exactly short, sometimes tiny. */
	room = in[0] < 192 ? 2 * n + 2 + in[0] % 8 : (size_t)(in[0] - 191);

	check_from_utf16(s, n, room ? room : 1);
	check_from_utf16(s, n & ~(size_t)1, 3 * n / 2 + 1);
	check_from_utf8(s, n, room);
	check_from_utf8(s, n, 4 * n + 2);
	free(copy);
	return 0;
}
