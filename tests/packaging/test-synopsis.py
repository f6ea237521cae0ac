#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The SYNOPSIS of a man page is the usage its program prints.
usage: test-synopsis.py PROGRAM PAGE"""
import re
import subprocess
import sys

prog, page = sys.argv[1], sys.argv[2]
name = prog.rsplit("/", 1)[-1]
usage = subprocess.run([prog, "--help"], capture_output=True, text=True).stdout
usage = re.sub(r"^usage:", "", usage.strip())
man = subprocess.run(["mandoc", "-Tascii", page], capture_output=True, text=True,
                     check=True).stdout
man = re.sub(".\b", "", man)
m = re.search(r"^SYNOPSIS\n(.*?)\n(?=\S)", man, re.S | re.M)
if not m:
    sys.exit("FAIL: no SYNOPSIS in " + page)


def entries(text):
    return [" ".join(e.split()) for e in re.split(r"(?:^|\s)%s\s" % re.escape(name), text)
            if e.strip()]


u, s = entries(usage), entries(m.group(1))
if u != s:
    print("FAIL: usage and SYNOPSIS differ", file=sys.stderr)
    for a, b in zip(u + [""] * len(s), s + [""] * len(u)):
        if a != b:
            print("  usage:    %s\n  SYNOPSIS: %s" % (a, b), file=sys.stderr)
    sys.exit(1)
