/* SPDX-License-Identifier: ISC */
#include "hvuio/utf8.h"

#include "lib/common/compiler.h"

HV_EXPORT size_t hv_utf8_decode(const void *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = s;
	/* The second byte's range carries the rules that the lead byte alone cannot. */
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;
	uint32_t c;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
		if (p[0] == 0xe0)
			lo = 0xa0;      /* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;      /* U+D800..U+DFFF */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
		if (p[0] == 0xf0)
			lo = 0x90;      /* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;      /* above U+10FFFF */
	} else {
		return 0;               /* a continuation byte, C0, C1, F5..FF */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	*cp = c;
	return len;
}
