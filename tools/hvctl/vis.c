/* SPDX-License-Identifier: ISC */
/*
 * Escaping for the terminal. OpenBSD's hostctl(8) passes keys and values
 * through stravis(3) (VIS_SAFE | VIS_CSTYLE); VIS_SAFE still lets tab,
 * newline, carriage return, backspace and bell through, which can make
 * one value look like another on a terminal, so these are escaped here
 * too. OpenBSD's KVP is ASCII only; Linux pools hold UTF-8, which is kept
 * readable as long as it is valid.
 */
#include "vis.h"

size_t hvctl_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned int cp, min;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms and surrogates are not UTF-8 (RFC 3629). */
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int put_octal(FILE *f, unsigned char c)
{
	return fprintf(f, "\\%03o", c) < 0 ? -1 : 0;
}

int hvctl_vis_write(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;
	const char *esc;

	while (i < len) {
		unsigned char c = s[i];

		esc = NULL;
		switch (c) {
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\t': esc = "\\t"; break;
		case '\r': esc = "\\r"; break;
		case '\a': esc = "\\a"; break;
		case '\b': esc = "\\b"; break;
		case '\v': esc = "\\v"; break;
		case '\f': esc = "\\f"; break;
		case '\0': esc = "\\0"; break;
		}
		if (esc) {
			if (fputs(esc, f) < 0)
				return -1;
			i++;
			continue;
		}
		if (c >= 0x20 && c < 0x7f) {
			if (putc(c, f) == EOF)
				return -1;
			i++;
			continue;
		}
		n = c >= 0x80 ? hvctl_utf8_seq(s + i, len - i) : 0;
		/* U+0080..U+009F (C1 controls) are 0xc2 0x80..0x9f. */
		if (n == 0 || (n == 2 && c == 0xc2 && s[i + 1] < 0xa0)) {
			if (put_octal(f, c) < 0)
				return -1;
			i++;
			continue;
		}
		if (fwrite(s + i, 1, n, f) != n)
			return -1;
		i += n;
	}
	return 0;
}
