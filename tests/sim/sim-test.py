#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Drive hvsim (the host) and ic-guest (the guest) as two processes on a
temporary sim root. usage: sim-test.py CASE HVSIM IC-GUEST"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

from simtest import fail, finish, read, start_host

CASE, HVSIM, GUEST = sys.argv[1], sys.argv[2], sys.argv[3]
N = 100000
HB_INSTANCE = "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0"
KVP_INSTANCE = "242ff919-07db-4180-9c2e-b86cb68c8c55"


def wait_until(pred, what, timeout=10.0):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            fail(what + " did not happen in %d s" % timeout)
        time.sleep(0.01)


def start_guest(root, *args, device="heartbeat"):
    return subprocess.Popen([GUEST, "--root", root, "--device", device, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_pair(tmp, script, guest_args=(), device="heartbeat", host_extra=()):
    t0 = time.monotonic()
    host, root, out, err = start_host(HVSIM, tmp, script, device, host_extra)
    guest = start_guest(root, *guest_args, device=device)
    hrc = finish(host)
    gout, gerr = guest.communicate(timeout=30)
    dt = time.monotonic() - t0
    return hrc, read(out), read(err), guest.returncode, gout, gerr, dt


def case_heartbeat_100k(tmp, busy):
    args = ["--busy-poll"] if busy else []
    hrc, out, err, grc, gout, gerr, dt = run_pair(tmp, "heartbeat %d\nexpect S_OK\n" % N, args)
    if hrc != 0 or grc != 0:
        fail("hvsim %d, ic-guest %d\n%s\n%s" % (hrc, grc, err, gerr))
    lines = [l for l in out.splitlines() if l.startswith("heartbeat:")]
    if len(lines) != N:
        fail("%d heartbeat replies printed, not %d" % (len(lines), N))
    for i, l in enumerate(lines):
        if not l.endswith("seq %d -> %d" % (i, i + 1)) or "HV_S_OK" not in l:
            fail("reply %d is wrong: %s" % (i, l))
    if "answered %d (negotiate 1, heartbeat %d" % (N + 1, N) not in gout:
        fail("guest counted otherwise: " + gout)
    print("%d heartbeat round trips (%s): %.2f s, %.1f us each; %s" %
          (N, "busy-poll" if busy else "interrupts", dt, dt * 1e6 / N,
           err.strip().splitlines()[-1]))


def case_expect_fails(tmp):
    hrc, out, err, grc, *_ = run_pair(tmp, "heartbeat 2\nexpect HV_E_FAIL\nheartbeat 1\n")
    if hrc != 1:
        fail("hvsim exited %d for a failed expectation\n%s" % (hrc, err))
    if "line 2: expected status HV_E_FAIL (0x80004005), the guest answered HV_S_OK" not in err:
        fail("no clear message: " + err)
    if out.count("heartbeat:") != 2:
        fail("hvsim went on after the failed expectation:\n" + out)


def case_guest_silent(tmp):
    # A guest that opens the device and never answers (ic-guest --mute),
    # then one that only connects and never maps (a raw socket).
    t0 = time.monotonic()
    hrc, out, err, grc, *_ = run_pair(tmp, "heartbeat 1\n", ["--mute", "--count", "1"],
                                      host_extra=["--timeout", "0.5"])
    dt = time.monotonic() - t0
    if hrc != 2 or "did not answer the negotiate request within 500 ms" not in err:
        fail("hvsim exited %d: %s" % (hrc, err))
    if dt > 5:
        fail("timing out took %.1f s" % dt)
    sub = os.path.join(tmp, "raw")
    os.mkdir(sub)
    host, root, out, errf = start_host(HVSIM, sub, "heartbeat 1\n", "heartbeat",
                                        ["--timeout", "0.5"])
    # As many descriptors as sysfs lists maps (3, or 5 where the kernel
    # gives every class the receive and send buffers).
    maps = len(os.listdir(os.path.join(root, "sys", "bus", "vmbus", "devices", HB_INSTANCE,
                                       "uio", "uio0", "maps")))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.path.join(root, "dev", "uio0"))
    msg, anc, _, _ = s.recvmsg(16, socket.CMSG_SPACE(5 * 4))
    if struct.unpack("<I", msg)[0] != maps or len(anc[0][2]) != 4 * maps:
        fail("map message: %r %r, %d maps in sysfs" % (msg, anc, maps))
    for fd in struct.unpack("<%di" % maps, anc[0][2]):
        os.close(fd)
    if finish(host) != 2:
        fail("hvsim did not fail on a silent guest: " + read(errf))
    s.close()
    print("silent guest detected in %.2f s" % dt)


def case_rescind_offer(tmp):
    script = "heartbeat 10\nrescind\nwait 100\noffer\nheartbeat 10\nexpect S_OK\n"
    hrc, out, err, grc, gout, gerr, dt = run_pair(tmp, script, ["--reconnect", "1"])
    if hrc != 0 or grc != 0:
        fail("hvsim %d, ic-guest %d\n%s\n%s" % (hrc, grc, err, gerr))
    if out.count("negotiate:") != 2 or out.count("heartbeat:") != 20:
        fail("unexpected replies:\n" + out)
    if "answered 22 (negotiate 2, heartbeat 20" not in gout or "reopened 1" not in gout:
        fail("guest: " + gout)
    if "as " not in err or "/dev/uio1" not in err:
        fail("re-offer not under uio1: " + err)
    print("rescind and re-offer: %.2f s" % dt)


def case_second_open_refused(tmp):
    host, root, out, err = start_host(HVSIM, tmp, "heartbeat 1\nwait 300\nheartbeat 1\n", "heartbeat")
    guest = start_guest(root)
    # The first guest holds the device once the host has opened the channel for it.
    wait_until(lambda: "sending the negotiate request" in read(err), "the first guest's open")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.path.join(root, "dev", "uio0"))
    s.settimeout(5)
    if s.recv(16) != b"":
        fail("a second opener got a message")
    if finish(host) != 0:
        fail("hvsim: " + read(err))
    guest.communicate(timeout=10)
    if "refused opens 1" not in read(err):
        fail("refusal not counted: " + read(err))


def case_kvp_requests(tmp):
    # ic-guest answers KVP with HV_E_FAIL: what matters is the framing, the
    # sizes and the status check.
    script = ("kvp set External Key1 \"a value\"\nexpect HV_E_FAIL\n"
              "kvp enumerate Auto\nexpect error\nkvp delete 0 Key1\n"
              "ip get AA:BB:CC:DD:EE:FF\nexpect 0x80004005\n")
    hrc, out, err, grc, gout, gerr, dt = run_pair(tmp, script, device="kvp",
                                                  host_extra=["--json"])
    if hrc != 0:
        fail("hvsim %d\n%s" % (hrc, err))
    import json
    replies = [json.loads(l) for l in out.splitlines()]
    kinds = [(r["reply"], r.get("op")) for r in replies]
    want = [("negotiate", None), ("kvp", "set"), ("kvp", "enumerate"),
            ("kvp", "delete"), ("ip", "get_ip_info")]
    if kinds != want:
        fail("replies: %r" % kinds)
    if replies[0]["framework"] != "3.0" or replies[0]["message"] != "4.0":
        fail("KVP negotiation: %r" % replies[0])
    if any(r["status"] != 0x80004005 for r in replies[1:]):
        fail("statuses: %r" % replies)


def case_bad_script(tmp):
    path = os.path.join(tmp, "s")
    with open(path, "w") as f:
        f.write("heartbeat 1\nexpect NOT_A_STATUS\n")
    p = subprocess.run([HVSIM, "--root", os.path.join(tmp, "r"), "--script", path],
                       capture_output=True, text=True, timeout=10)
    if p.returncode != 3 or "s:2: unknown status 'NOT_A_STATUS'" not in p.stderr:
        fail("bad script: %d %s" % (p.returncode, p.stderr))
    if os.path.exists(os.path.join(tmp, "r")):
        fail("hvsim created the root despite a bad script")
    p = subprocess.run([HVSIM], capture_output=True, text=True, timeout=10)
    if p.returncode != 3 or not p.stderr.startswith("usage: hvsim --root DIR"):
        fail("usage: %d %s" % (p.returncode, p.stderr))


CASES = {
    "heartbeat-100k-interrupt": lambda t: case_heartbeat_100k(t, False),
    "heartbeat-100k-busy-poll": lambda t: case_heartbeat_100k(t, True),
    "expect-fails": case_expect_fails,
    "guest-silent": case_guest_silent,
    "rescind-offer": case_rescind_offer,
    "second-open-refused": case_second_open_refused,
    "kvp-requests": case_kvp_requests,
    "bad-script": case_bad_script,
}

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="hvsim-test-") as tmp:
        start = time.monotonic()
        CASES[CASE](tmp)
        print("%s: passed in %.2f s" % (CASE, time.monotonic() - start))
