#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""meson install --destdir puts every file in its place.
usage: test-install.py BUILDDIR PATH...  (absolute installed paths)"""
import os
import re
import subprocess
import sys
import tempfile

build, want = sys.argv[1], sys.argv[2:]
with tempfile.TemporaryDirectory(prefix="hvuio-install-") as dest:
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                        "--destdir", dest], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAIL: meson install: " + r.stdout + r.stderr)
    missing = [p for p in want if not os.path.lexists(dest + p)]
    for p in missing:
        print("FAIL: not installed: " + p, file=sys.stderr)
    # Filled-in paths, not placeholders.
    for p in want:
        if os.path.isfile(dest + p) and p.endswith((".service", ".socket", ".rules")):
            if re.search(r"@[a-z_]+@", open(dest + p).read()):
                print("FAIL: unsubstituted @...@ in " + p, file=sys.stderr)
                missing.append(p)
    sys.exit(1 if missing else 0)
