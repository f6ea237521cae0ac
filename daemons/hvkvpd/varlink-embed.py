#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Write a C file defining `const char NAME[]` as the bytes of a file,
exactly: the varlink interface hvkvpd serves is its .varlink file.
usage: varlink-embed.py NAME INPUT OUTPUT"""

import sys

name, src, dst = sys.argv[1:4]
data = open(src, "rb").read()
if b"\0" in data:
    sys.exit("%s: a NUL byte cannot be part of the served text" % src)
out = ["/* Generated from %s by varlink-embed.py: do not edit. */\n" % src.split("/")[-1],
       "extern const char %s[];\n" % name,
       "const char %s[] =\n" % name]
for line in data.splitlines(keepends=True):
    esc = "".join(c if 0x20 <= b < 0x7f and c not in '"\\?' else "\\%03o" % b
                  for b, c in ((b, chr(b)) for b in line))
    out.append('\t"%s"\n' % esc)
if not data:
    out.append('\t""\n')
out.append("\t;\n")
open(dst, "w").write("".join(out))
