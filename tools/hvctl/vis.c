/* SPDX-License-Identifier: ISC */
/*
 * Escaping for the terminal. OpenBSD's hostctl(8) passes keys and values
 * through stravis(3) (VIS_SAFE | VIS_CSTYLE); VIS_SAFE still lets tab,
 * newline, carriage return, backspace and bell through, which can make
 * one value look like another on a terminal, so these are escaped here
 * too. OpenBSD's KVP is ASCII only; Linux pools hold UTF-8, which is kept
 * readable as long as it is valid.
 */
#include <errno.h>

#include "vis.h"

#include <hvuio/utf8.h>

static int put_octal(FILE *f, unsigned char c)
{
	return fprintf(f, "\\%03o", c) < 0 ? -1 : 0;
}

int hvctl_vis_write(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;
	uint32_t cp;
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
				return -EIO;
			i++;
			continue;
		}
		if (c >= 0x20 && c < 0x7f) {
			if (putc(c, f) == EOF)
				return -EIO;
			i++;
			continue;
		}
		n = c >= 0x80 ? hv_utf8_decode(s + i, len - i, &cp) : 0;
		/* U+0080..U+009F (C1 controls) are 0xc2 0x80..0x9f. */
		if (n == 0 || (n == 2 && c == 0xc2 && s[i + 1] < 0xa0)) {
			if (put_octal(f, c) < 0)
				return -EIO;
			i++;
			continue;
		}
		if (fwrite(s + i, 1, n, f) != n)
			return -EIO;
		i += n;
	}
	return 0;
}
