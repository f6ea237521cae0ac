#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Copy throughput of the fcopy service (bench/README.md, hv-bench-fcopy).

usage: bench-fcopy.py --build DIR --shim SHIM [--dir DIR] [--sizes MB,MB,...]
                      [--runs N] [--json FILE]

For each file size, in the same run, on the same disk (--dir):
  ours      hvsim copies the file to hvfcopyd over the sim device
  limit     the same host and messages answered by hv-fcopy-null-guest,
            which writes nothing: the protocol's own bound
  cp        cp(1) of the same file into the same folder
  linux-k   Linux's hv_fcopy_daemon (Debian's, through the LD_PRELOAD
            shim) fed the same host's messages on the kernel-device
            protocol by hv-fcopy-kernel-relay, which does what Linux's
            hv_utils fcopy driver does between the ring and the daemon
  ours-k    hvfcopyd --backend kernel fed the same way
Each figure is the best of --runs runs (one for files of 1 GB and more;
runs are the outer loop, so load elsewhere hits every mode alike),
in MB/s (10^6 bytes per second) from the START to the answer to
COMPLETE (cp: the whole command). hvfcopyd syncs the file before it
renames it at COMPLETE; Linux's daemon and cp do not sync.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

DEVNULL = subprocess.DEVNULL


def make_file(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as f:
        left, i = size, 0
        while left:
            block[0] = i % 256
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
            i += 1


def wait_path(path, proc, timeout=20):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > end:
            sys.exit("bench-fcopy: %s did not appear" % path)
        time.sleep(0.01)


def sim_copy(a, work, src, mode):
    """One copy from hvsim through the sim device to the guest of `mode`. Seconds."""
    root = tempfile.mkdtemp(prefix="root-", dir=work)
    dest = os.path.join(a.dir, "dest")
    script = root + ".script"
    with open(script, "w") as f:
        f.write('copy "%s" "%s" overwrite\nexpect ok\n' % (src, dest))
    sim = subprocess.Popen([os.path.join(a.build, "tools/hvsim/hvsim"), "--root", root,
                            "--device", "fcopy", "--timeout", "300", "--json",
                            "--script", script], stdout=subprocess.PIPE, stderr=DEVNULL,
                           text=True)
    wait_path(os.path.join(root, "dev", "uio0"), sim)
    hvfcopyd = os.path.join(a.build, "daemons/hvfcopyd/hvfcopyd")
    state = ["--state-dir", os.path.join(root, "state")]
    procs, env = [], None
    if mode in ("linux-k", "ours-k"):
        sock = os.path.join(root, "kdev.sock")
        relay = subprocess.Popen([os.path.join(a.build, "bench/fcopy/hv-fcopy-kernel-relay"),
                                  root, sock], stdout=subprocess.PIPE, text=True)
        procs.append(relay)
        if relay.stdout.readline().strip() != "listening":
            sys.exit("bench-fcopy: hv-fcopy-kernel-relay did not start")
        if mode == "linux-k":
            env = dict(os.environ, LD_PRELOAD=a.shim, HVKVPD_TEST_KDEV=sock,
                       HVKVPD_TEST_KDEV_NODE="/dev/vmbus/hv_fcopy")
            cmd = ["/usr/sbin/hv_fcopy_daemon", "-n"]
        else:
            cmd = [hvfcopyd, "-n", "--backend", "kernel", "--kernel-device", sock] + state
    elif mode == "ours":
        cmd = [hvfcopyd, "-n", "--root", root] + state
    else:
        cmd = [os.path.join(a.build, "bench/fcopy/hv-fcopy-null-guest"), root]
    procs.append(subprocess.Popen(cmd, env=env, cwd=work, stdin=DEVNULL, stdout=DEVNULL,
                                  stderr=DEVNULL))
    out, _ = sim.communicate(timeout=600)
    for p in reversed(procs):
        p.terminate()
        p.wait()
    shutil.rmtree(root, ignore_errors=True)
    os.unlink(script)
    if sim.returncode != 0:
        sys.exit("bench-fcopy: hvsim failed with %s" % mode)
    r = [json.loads(line) for line in out.splitlines() if '"copy"' in line][0]
    return r["seconds"]


def cp_copy(a, work, src):
    dest = os.path.join(a.dir, "dest")
    if os.path.exists(dest):
        os.unlink(dest)
    t0 = time.monotonic()
    subprocess.run(["cp", src, dest], check=True)
    return time.monotonic() - t0


MODES = ["ours", "limit", "cp", "linux-k", "ours-k"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True)
    p.add_argument("--shim", required=True)
    p.add_argument("--dir", default=None)
    p.add_argument("--sizes", default="1,100,1000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    a.build = os.path.abspath(a.build)
    a.shim = os.path.abspath(a.shim)
    a.dir = os.path.abspath(a.dir or os.path.join(a.build, "bench-fcopy-data"))
    os.makedirs(a.dir, exist_ok=True)
    have_linux = os.path.exists("/usr/sbin/hv_fcopy_daemon") and os.path.exists(a.shim)
    results = []
    work = tempfile.mkdtemp(prefix="bench-fcopy-", dir=a.dir)
    try:
        for mb in [int(x) for x in a.sizes.split(",")]:
            size = mb * 1000 * 1000
            src = os.path.join(a.dir, "src-%dMB" % mb)
            make_file(src, size)
            runs = 1 if mb >= 1000 else a.runs
            row = {"size_mb": mb}
            modes = [m for m in MODES if m != "linux-k" or have_linux]
            best = {}
            # Runs are the outer loop: a burst of load elsewhere hits every mode alike.
            for _ in range(runs):
                for mode in modes:
                    if mode == "cp":
                        s = cp_copy(a, work, src)
                    else:
                        s = sim_copy(a, work, src, mode)
                    if mode != "limit" and os.path.getsize(os.path.join(a.dir, "dest")) != size:
                        sys.exit("bench-fcopy: %s left a file of the wrong size" % mode)
                    best[mode] = min(best.get(mode, s), s)
            for mode in modes:
                row[mode] = size / best[mode] / 1e6
            row["ours/limit"] = row["ours"] / row["limit"]
            if "linux-k" in row:
                row["ours/linux-k"] = row["ours"] / row["linux-k"]
                row["ours-k/linux-k"] = row["ours-k"] / row["linux-k"]
            results.append(row)
            cols = ["size_mb"] + [m for m in MODES if m in row] + \
                [k for k in ("ours/limit", "ours/linux-k", "ours-k/linux-k") if k in row]
            if len(results) == 1:
                print(" ".join("%14s" % c for c in cols))
            print(" ".join(("%14d" % row[c]) if c == "size_mb" else "%14.2f" % row[c]
                           for c in cols), flush=True)
            os.unlink(src)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        dest = os.path.join(a.dir, "dest")
        if os.path.exists(dest):
            os.unlink(dest)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


main()
