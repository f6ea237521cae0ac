#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The integration services on one kernel profile: hvsim --kernel plays
the host and that kernel's uio_hv_generic; the guests are ic-guest
(heartbeat), hvkvpd (KVP, with a rescind and a re-offer) and hvdump
--reopen (rescind and re-offer). On kernels before 6.10 the devices
cannot be bound, and that must be said, not hung on. On a kernel whose
rescind of an open device oopses, hvsim must report the crash and fail.

usage: profile-test.py RELEASE HVSIM IC-GUEST HVKVPD HVDUMP"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

REL, HVSIM, GUEST, HVKVPD, HVDUMP = sys.argv[1:6]
MAJOR, MINOR, PATCH = (int(x) for x in REL.split("-")[0].split("."))
BINDS = (MAJOR, MINOR) >= (6, 10)
# fb1adbd7e50f reached 6.10 in 6.10.10 and mainline in 6.11.
RESCIND_OOPS = (MAJOR, MINOR) == (6, 10) and PATCH < 10
CHILDREN = []
REFUSAL = "binds no channel without a monitor page to uio_hv_generic"
CRASH = "the guest kernel would crash here (commit fb1adbd7e50f, kernel %s)" % REL


def fail(msg):
    print("FAIL (%s): %s" % (REL, msg), file=sys.stderr)
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()
    sys.exit(1)


def wait_until(pred, what, timeout=20.0):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            fail(what + " did not happen within %d s" % timeout)
        time.sleep(0.01)


def text(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def host(tmp, name, script, device, extra=()):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    with open(os.path.join(d, "script"), "w") as f:
        f.write(script)
    root = os.path.join(d, "root")
    p = subprocess.Popen([HVSIM, "--root", root, "--kernel", REL, "--device", device,
                          "--script", os.path.join(d, "script"), "-v", *extra],
                         stdout=open(os.path.join(d, "out"), "w"),
                         stderr=open(os.path.join(d, "err"), "w"))
    CHILDREN.append(p)
    # Ready when the node listens, or when hvsim said the kernel refused the device.
    wait_until(lambda: os.path.exists(os.path.join(root, "dev", "uio0")) or
               "hv_utils" in text(os.path.join(d, "err")) or p.poll() is not None,
               "hvsim's sim root")
    return p, d, root


def finish(p, what, timeout=60):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        fail(what + " did not finish")


def heartbeat(tmp):
    p, d, root = host(tmp, "hb", "heartbeat 20\nexpect S_OK\n", "heartbeat")
    g = subprocess.run([GUEST, "--root", root, "--device", "heartbeat", "--timeout", "1"],
                       capture_output=True, text=True, timeout=60)
    rc = finish(p, "hvsim")
    err = text(os.path.join(d, "err"))
    if not BINDS:
        if rc != 2 or REFUSAL not in err or "547fa4ffd799" not in err:
            fail("heartbeat before 6.10: hvsim %d: %s" % (rc, err))
        if g.returncode == 0 or "No such device or address" not in g.stderr:
            fail("ic-guest on a device the kernel cannot bind: %d %s" % (g.returncode, g.stderr))
        return "refused as the kernel does"
    if rc != 0 or g.returncode != 0:
        fail("heartbeat: hvsim %d, ic-guest %d\n%s\n%s" % (rc, g.returncode, err, g.stderr))
    if text(os.path.join(d, "out")).count("heartbeat:") != 20:
        fail("heartbeat replies: " + text(os.path.join(d, "out")))
    return "20 heartbeats"


def kvp(tmp):
    script = ('kvp set External Key1 "v1"\nexpect S_OK\nrescind\noffer\n'
              'kvp get External Key1\nexpect S_OK\n')
    p, d, root = host(tmp, "kvp", script, "kvp", ["--json"])
    log = os.path.join(d, "hvkvpd.log")
    k = subprocess.Popen([HVKVPD, "--backend", "sim", "--root", root,
                          "--state-dir", os.path.join(d, "state"),
                          "--socket", os.path.join(d, "socket"), "-n", "-d"],
                         stdout=open(log, "w"), stderr=subprocess.STDOUT)
    CHILDREN.append(k)
    rc = finish(p, "hvsim")
    err = text(os.path.join(d, "err"))
    if not BINDS:
        if rc != 2 or REFUSAL not in err:
            fail("KVP before 6.10: hvsim %d: %s" % (rc, err))
    elif RESCIND_OOPS:
        if rc != 4 or CRASH not in err:
            fail("KVP rescind on %s: hvsim %d, no crash report: %s" % (REL, rc, err))
    else:
        if rc != 0:
            fail("KVP: hvsim %d\n%s\nhvkvpd:\n%s" % (rc, err, text(log)))
        replies = [json.loads(l) for l in text(os.path.join(d, "out")).splitlines()
                   if l.startswith("{")]
        got = [r for r in replies if r.get("reply") == "kvp" and r["op"] == "get"]
        if not got or got[-1].get("value") != "v1":
            fail("the GET after the re-offer: %r" % replies)
        lg = text(log)
        for want in ("kernel %s" % REL, "the host rescinded the KVP device", "reopened"):
            if want not in lg:
                fail("hvkvpd did not log %r:\n%s" % (want, lg))
    if not BINDS:
        # Not bound to uio_hv_generic: hvkvpd says so, and why, and stops.
        if finish(k, "hvkvpd", 15) == 0 or "No such device or address" not in text(log) or \
                "cannot bind to uio_hv_generic (547fa4ffd799 is 6.10)" not in text(log):
            fail("hvkvpd on an unbound device: %s\n%s" % (k.returncode, text(log)))
        return "refused as the kernel does; hvkvpd says why"
    if k.poll() is not None:
        fail("hvkvpd died (%s):\n%s" % (k.returncode, text(log)))
    k.send_signal(signal.SIGTERM)
    if finish(k, "hvkvpd", 15) != 0:
        fail("hvkvpd exited %d on SIGTERM:\n%s" % (k.returncode, text(log)))
    if RESCIND_OOPS:
        return "rescind of the open device: crash reported"
    return "set, rescind, re-offer, get"


def hvdump(tmp):
    if not BINDS:
        return "not bindable"
    p, d, root = host(tmp, "dump", "open\ndrain\nrescind\noffer\nopen\ndrain\n", "kvp")
    dump = subprocess.Popen([HVDUMP, "--root", root, "--reopen", "--count", "2", "--timeout",
                             "30", "data exchange"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    CHILDREN.append(dump)
    rc = finish(p, "hvsim")
    err = text(os.path.join(d, "err"))
    if RESCIND_OOPS:
        # The guest is dead; hvdump, waiting for a device that cannot come, is stopped.
        dump.send_signal(signal.SIGTERM)
        out, derr = dump.communicate(timeout=15)
        if rc != 4 or CRASH not in err or dump.returncode != 0:
            fail("hvdump rescind on %s: hvsim %d, hvdump %d: %s" % (REL, rc, dump.returncode,
                                                                   err))
        return "crash reported"
    out, derr = dump.communicate(timeout=30)
    if rc != 0:
        fail("hvdump: hvsim %d: %s" % (rc, err))
    if dump.returncode != 0 or out.count("packet ") != 2 or out.count("(sim)") != 2:
        fail("hvdump %d:\n%s\n%s" % (dump.returncode, out, derr))
    if derr.count("rescinded") != 1:
        fail("hvdump's rescind message: " + derr)
    return "packet, rescind, re-offer, packet"


def main():
    with tempfile.TemporaryDirectory(prefix="hvuio-profile-") as tmp:
        for case in (heartbeat, kvp, hvdump):
            t0 = time.monotonic()
            what = case(tmp)
            print("%s %-9s %5.2f s  %s" % (REL, case.__name__, time.monotonic() - t0, what))


if __name__ == "__main__":
    main()
