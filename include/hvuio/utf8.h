/* SPDX-License-Identifier: ISC */
/*
 * UTF-8 as RFC 3629 defines it, shared by every part that reads text from
 * the host, a file or a client: one decoder, so that all of them agree on
 * what is well formed (no overlong forms, no surrogates, nothing above
 * U+10FFFF, no sequence cut short).
 */
#ifndef HVUIO_UTF8_H
#define HVUIO_UTF8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The well-formed sequence at s, of at most n bytes: its length (1 to 4)
 * with its code point in *cp, or 0 when it is not well formed or n is 0.
 * A NUL byte is the one-byte sequence of U+0000; callers that end strings
 * there check *cp.
 */
size_t hv_utf8_decode(const void *s, size_t n, uint32_t *cp);

#ifdef __cplusplus
}
#endif

#endif
