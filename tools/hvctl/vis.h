/* SPDX-License-Identifier: ISC */
/*
 * Keys and values made safe for a terminal, in the spirit of OpenBSD's
 * hostctl(8), which prints them through stravis(3) with VIS_SAFE |
 * VIS_CSTYLE.
 */
#ifndef HVCTL_VIS_H
#define HVCTL_VIS_H

#include <stddef.h>
#include <stdio.h>

/*
 * Write s[0..len) to f: printable ASCII as it is, a backslash doubled,
 * \n \t \r \a \b \v \f and \0 in C style, every other control character
 * and every byte that is not part of a valid UTF-8 sequence as \ooo.
 * Valid UTF-8 above U+009F passes through (C1 controls are escaped).
 * Returns 0, or -EIO if writing failed.
 */
int hvctl_vis_write(FILE *f, const char *s, size_t len);

#endif
