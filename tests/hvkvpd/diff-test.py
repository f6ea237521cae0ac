#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Differential test: hvkvpd --backend kernel against Linux's hv_kvp_daemon.

usage: diff-test.py HVKVPD SHIM

This test plays the kernel's side of /dev/vmbus/hv_kvp (drivers/hv/hv_kvp.c:
REGISTER1 answered with version "3.1", then one struct hv_kvp_msg at a
time) for both daemons, with the same message sequence, and requires the
same replies and byte-identical pool files after every step (deletes in
the middle of a pool and updates after deletes included), except where
hvkvpd fixes a documented bug of Linux's daemon (EXCEPTIONS below, each
explained).

How Linux's daemon is run: the binary of Debian's hyperv-daemons package,
unmodified (the test installs the package when it is missing). Only its
open("/dev/vmbus/hv_kvp") is redirected, by the LD_PRELOAD shim built
with the tests (kdev-shim.c), to this test's SOCK_SEQPACKET socket, which
keeps the character device's one-message-per-read framing. It runs with
-n in a private mount namespace (unshare -m) where a temporary folder is
bind-mounted over /var/lib/hyperv, its compiled-in pool folder, so it
writes there. Both daemons run in their own network namespace set up the
same way (a veth pair with fixed addresses), so the Auto pool's
address values are comparable.

Left out of the sequence: GET_IP_INFO and SET_IP_INFO. Linux's daemon
answers them by running external scripts (hv_get_dns_info,
hv_get_dhcp_info, hv_set_ifconfig, the last not shipped by Debian) and
`ip route`, so its answers depend on those scripts rather than on the
daemon; hvkvpd's IP info is tested against a network namespace in
hvkvpd-test.py instead.

Replies are compared as the kernel reads them (kvp_respond_to_host): the
error word, the body of SET and DELETE as echoed, and for ENUMERATE the key
and value strings up to their NUL, as UTF-16 would carry them (bytes that
are not UTF-8 skipped, cut to 254 and 1022 units). The kernel ignores the
bytes after a NUL and the size and type fields the daemon leaves there (it
recomputes them), so those are not compared.
"""

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvptest import *  # noqa: E402,F401,F403

HVKVPD, SHIM = sys.argv[1], sys.argv[2]

NETNS_SETUP = (
    "ip link set lo up && "
    "ip link add hvd0 address 02:00:5e:00:53:01 type veth peer name hvd1 && "
    "ip link set hvd0 addrgenmode none && ip link set hvd1 addrgenmode none && "
    "ip link set hvd0 up && ip link set hvd1 up && "
    "ip addr add 192.0.2.10/24 dev hvd0 && "
    "ip addr add 2001:db8::10/64 dev hvd0 nodad")


def kernel_string(raw, units):
    """A string field as Linux's kvp_respond_to_host hands it to the host."""
    s = raw.split(b"\0", 1)[0].decode("utf-8", errors="ignore")
    out, n = [], 0
    for ch in s:
        u = 2 if ord(ch) > 0xffff else 1
        if n + u > units:
            break
        out.append(ch)
        n += u
    return "".join(out)


def kernel_view(op, reply):
    """What the kernel takes from a reply (see the module comment)."""
    if reply is None:
        return None
    if len(reply) != KMSG_SIZE:
        return ("length", len(reply))
    err = struct.unpack_from("<I", reply, 0)[0]
    if op == KVP_OP_ENUMERATE:
        if err != 0:
            return (err,)
        base = 4 + 4 + 12
        return (err, kernel_string(reply[base:base + KEY_FIELD], 254),
                kernel_string(reply[base + KEY_FIELD:base + KEY_FIELD + VALUE_FIELD], 1022))
    if op == KVP_OP_GET:
        # The kernel reads a GET's value through the ENUMERATE layout.
        base = 4 + 4 + 12 + KEY_FIELD
        return (err, kernel_string(reply[base:base + VALUE_FIELD], 1022))
    return (err, reply[4:])


def build_sequence():
    seq = []
    long_value = "".join(chr(ord("a") + i % 26) for i in range(2047))
    for p in range(5):
        seq.append(("set-p%d-a" % p, KVP_OP_SET, kmsg_set(p, "Key%d-A" % p, "value A of pool %d" % p)))
        seq.append(("set-p%d-b" % p, KVP_OP_SET,
                    kmsg_set(p, "Key%d-B" % p, "value B of pool %d: Grüße, 日本語, 😀" % p)))
        seq.append(("set-p%d-c" % p, KVP_OP_SET, kmsg_set(p, "Key%d-C" % p, long_value)))
    # Updates in place: shorter (Linux leaves the old bytes after the NUL) and longer.
    seq.append(("update-p0-a-shorter", KVP_OP_SET, kmsg_set(0, "Key0-A", "short")))
    seq.append(("update-p3-b-longer", KVP_OP_SET, kmsg_set(3, "Key3-B", "x" * 300)))
    seq.append(("update-p1-c-empty", KVP_OP_SET, kmsg_set(1, "Key1-C", "")))
    for p in (0, 1, 3, 4):
        for i in range(5):
            seq.append(("enum-p%d-%d" % (p, i), KVP_OP_ENUMERATE, kmsg_enumerate(p, i)))
    for i in range(12):
        seq.append(("enum-auto-%d" % i, KVP_OP_ENUMERATE, kmsg_enumerate(2, i)))
    seq.append(("get-p0-existing", KVP_OP_GET, kmsg_get(0, "Key0-B")))
    seq.append(("get-p3-missing", KVP_OP_GET, kmsg_get(3, "NoSuchKey")))
    seq.append(("delete-p0-middle", KVP_OP_DELETE, kmsg_delete(0, "Key0-B")))
    seq.append(("delete-p0-missing", KVP_OP_DELETE, kmsg_delete(0, "Key0-B")))
    seq.append(("delete-p3-first", KVP_OP_DELETE, kmsg_delete(3, "Key3-A")))
    seq.append(("delete-p4-last", KVP_OP_DELETE, kmsg_delete(4, "Key4-C")))
    seq.append(("set-p0-after-delete", KVP_OP_SET, kmsg_set(0, "Key0-D", "appended after a delete")))
    for p in (0, 3, 4):
        for i in range(4):
            seq.append(("enum-after-delete-p%d-%d" % (p, i), KVP_OP_ENUMERATE, kmsg_enumerate(p, i)))
    # Deletes in the middle of a longer pool, updates and appends after them.
    for i in range(6):
        seq.append(("set-p3-m%d" % i, KVP_OP_SET, kmsg_set(3, "Mid%d" % i, "middle %d " % i + "m" * (i * 300))))
    seq.append(("delete-p3-middle-1", KVP_OP_DELETE, kmsg_delete(3, "Mid2")))
    seq.append(("update-p3-after-delete", KVP_OP_SET, kmsg_set(3, "Mid3", "updated after a delete")))
    seq.append(("update-p3-before-delete", KVP_OP_SET, kmsg_set(3, "Mid1", "x" * 1800)))
    seq.append(("delete-p3-middle-2", KVP_OP_DELETE, kmsg_delete(3, "Mid4")))
    seq.append(("update-p3-shorter-after-deletes", KVP_OP_SET, kmsg_set(3, "Mid1", "short")))
    seq.append(("set-p3-after-deletes", KVP_OP_SET, kmsg_set(3, "Mid6", "appended after deletes")))
    seq.append(("delete-p3-first-again", KVP_OP_DELETE, kmsg_delete(3, "Key3-B")))
    seq.append(("update-p3-last", KVP_OP_SET, kmsg_set(3, "Mid6", "last, updated")))
    seq.append(("delete-p1-middle", KVP_OP_DELETE, kmsg_delete(1, "Key1-B")))
    seq.append(("update-p1-after-delete", KVP_OP_SET, kmsg_set(1, "Key1-C", "no longer empty")))
    # Keys that differ only in case are different keys for both.
    seq.append(("set-p0-case", KVP_OP_SET, kmsg_set(0, "key0-a", "lower case")))
    seq.append(("get-p0-case", KVP_OP_GET, kmsg_get(0, "key0-a")))
    # Bad messages the kernel can pass on.
    seq.append(("unknown-op", 9, kmsg(9, 0, exchg_value("Key0-A", "x"))))
    seq.append(("enum-index-huge", KVP_OP_ENUMERATE, kmsg_enumerate(0, 0xffffffff)))
    return seq


def expect_get_value(value):
    def check(lin, hv):
        return (lin is not None and hv is not None and lin[0] == 0 and lin[1] == "" and
                hv == (0, value))
    return check


def check_unknown_op(lin, hv):
    return lin is not None and lin[0] == HV_S_OK and hv is not None and hv[0] != HV_S_OK


# Where hvkvpd answers differently on purpose; the numbers are those of the
# list at the top of lib/kvp/handler.c.
EXCEPTIONS = {
    "get-p0-existing": (
        "difference 1: Linux's daemon copies value_size bytes of the value, and the "
        "kernel sends 0 for a GET, so it answers an empty value; hvkvpd answers the "
        "stored value, which must reach the host whole: the kernel reads a GET's value "
        "through the ENUMERATE layout, 4 bytes after where the daemon's GET layout has it",
        expect_get_value("value B of pool 0: Grüße, 日本語, 😀")),
    "get-p0-case": (
        "difference 1 again, for the key that differs only in case",
        expect_get_value("lower case")),
    "unknown-op": (
        "difference 2: Linux's daemon falls through its switch and answers success "
        "for an operation it does not know; hvkvpd answers an error status",
        check_unknown_op),
    "enum-auto-9": (
        "difference 11, ProcessorArchitecture: Linux's daemon answers uname's machine text, which the "
        "host's tools do not map; hvkvpd answers the Windows number "
        "(SYSTEM_INFO.wProcessorArchitecture, 9 for x86_64) as OpenBSD's hypervic.c "
        "does (lib/kvp/auto.c)",
        lambda lin, hv: (lin == (0, "ProcessorArchitecture", os.uname().machine) and
                         hv[:2] == (0, "ProcessorArchitecture") and hv[2].isdigit())),
    "enum-index-huge": (
        "difference 12: Linux's daemon takes the host's index as a signed int, so 0xffffffff passes "
        "its bounds check as -1 and it answers whatever lies before its record array; "
        "hvkvpd answers the end of the enumeration",
        lambda lin, hv: hv == (HV_S_CONT,)),
}
# Auto values that are computed differently (difference 5): the host name.
AUTO_FQDN_NOTE = ("difference 5: Linux's daemon resolves the host name once at start-up "
                  "and answers the resolver's error text when that fails")


def start_daemon(kind, tmp):
    return start_kernel_daemon(kind, tmp, HVKVPD, SHIM, NETNS_SETUP, "-d")

def snapshot(state):
    out = {}
    for i in range(5):
        path = os.path.join(state, ".kvp_pool_%d" % i)
        if not os.path.exists(path):
            fail("%s is missing" % path)
        st = os.stat(path)
        with open(path, "rb") as f:
            out[i] = (f.read(), st.st_mode & 0o777)
    return out


def compare_files(lin, hv, step="the end"):
    """Byte-identical, except bytes after a field's NUL that Linux leaves
    stale and hvkvpd zeroes (kvp_pool.h says why)."""
    stale = 0
    for i in range(5):
        (a, amode), (b, bmode) = lin[i], hv[i]
        if amode != bmode:
            fail("after %s: .kvp_pool_%d: mode %o from Linux, %o from hvkvpd" %
                 (step, i, amode, bmode))
        if len(a) != len(b):
            fail("after %s: .kvp_pool_%d: %d bytes from Linux, %d from hvkvpd\nLinux: %r\n"
                 "hvkvpd: %r" % (step, i, len(a), len(b), read_records(a), read_records(b)))
        for off in range(0, len(a), RECORD):
            for fstart, flen in ((off, KEY_FIELD), (off + KEY_FIELD, VALUE_FIELD)):
                fa, fb = a[fstart:fstart + flen], b[fstart:fstart + flen]
                if fa == fb:
                    continue
                nul = fb.find(b"\0")
                if nul < 0 or fa[:nul + 1] != fb[:nul + 1] or any(fb[nul:]):
                    fail("after %s: .kvp_pool_%d record %d differs: Linux %r, hvkvpd %r" %
                         (step, i, off // RECORD, fa.split(b"\0")[0], fb.split(b"\0")[0]))
                stale += sum(1 for x, y in zip(fa[nul:], fb[nul:]) if x != y)
    return stale


def read_records(data):
    return [(data[o:o + KEY_FIELD].split(b"\0")[0], data[o + KEY_FIELD:o + RECORD].split(b"\0")[0])
            for o in range(0, len(data), RECORD)]


def main():
    need_root()
    apt_install("hyperv-daemons", "iproute2", "util-linux")
    if not os.access(LINUX_DAEMON, os.X_OK):
        fail(LINUX_DAEMON + " missing after installing hyperv-daemons")
    # Its compiled-in folder must exist as a mount point; the package's unit
    # would create it too (StateDirectory=hyperv).
    os.makedirs("/var/lib/hyperv", exist_ok=True)
    seq = build_sequence()
    with tempfile.TemporaryDirectory(prefix="hvkvpd-diff-") as tmp:
        daemons = {k: start_daemon(k, tmp) for k in ("linux", "hvkvpd")}
        replies = {k: [] for k in daemons}
        steps = 0
        for name, op, msg in seq:
            for k, (p, ks, state, log) in daemons.items():
                replies[k].append(kernel_view(op, ks.request(msg)))
            # Both daemons have answered: their files are compared at once.
            compare_files(snapshot(daemons["linux"][2]), snapshot(daemons["hvkvpd"][2]), name)
            steps += 1
        # The kernel device fails under the daemon (Linux's comment: hibernation):
        # both must reopen it and register again.
        for k, (p, ks, state, log) in daemons.items():
            ks.conn.close()
            ks.accept(timeout=15)
            r = kernel_view(KVP_OP_ENUMERATE, ks.request(kmsg_enumerate(0, 0)))
            if r is None or r[0] != HV_S_OK:
                fail("%s: no answer after reopening the kernel device: %r" % (k, r))
        files = {k: snapshot(d[2]) for k, d in daemons.items()}

        # The last bad message: a pool byte above 4. Linux's daemon indexes its
        # five-entry array with it (difference 3); it may die or answer. hvkvpd
        # must answer an error and go on serving.
        pool7 = {k: d[1].request(kmsg_set(7, "Key7", "v"), timeout=5) for k, d in daemons.items()}
        hv7 = kernel_view(KVP_OP_SET, pool7["hvkvpd"])
        if hv7 is None or hv7[0] == HV_S_OK:
            fail("hvkvpd answered a SET on pool 7 with %r" % (hv7,))
        alive = kernel_view(KVP_OP_ENUMERATE, daemons["hvkvpd"][1].request(kmsg_enumerate(0, 0)))
        if alive is None or alive[0] != HV_S_OK:
            fail("hvkvpd stopped serving after a bad pool: %r" % (alive,))
        lin7 = kernel_view(KVP_OP_SET, pool7["linux"])
        print("pool 7: Linux's daemon %s; hvkvpd answered 0x%08x and kept serving" %
              ("gave no answer" if lin7 is None else "answered 0x%08x" % lin7[0], hv7[0]))

        for k, (p, ks, state, log) in daemons.items():
            if k == "hvkvpd":
                rc = stop(p)
                if rc != 0:
                    log.seek(0)
                    fail("hvkvpd exited %d after SIGTERM:\n%s" % (rc, log.read()))
            else:
                stop(p, signal.SIGKILL)
            ks.close()
        after = snapshot(daemons["hvkvpd"][2])
        if after != files["hvkvpd"]:
            fail("hvkvpd's pool files changed after the bad pool or at exit")
        for k in daemons:
            daemons[k][3].seek(0)

        same = differ_ok = 0
        for i, (name, op, msg) in enumerate(seq):
            lin, hv = replies["linux"][i], replies["hvkvpd"][i]
            if lin is None:
                fail("%s: Linux's daemon did not answer (log: %s)" % (name, daemons["linux"][3].read()))
            if hv is None:
                fail("%s: hvkvpd did not answer (log: %s)" % (name, daemons["hvkvpd"][3].read()))
            if name == "enum-auto-0" and lin[:2] == hv[:2] and lin != hv:
                print("%s: %s\n  Linux %r\n  hvkvpd %r" % (name, AUTO_FQDN_NOTE, lin, hv))
                differ_ok += 1
                continue
            if lin == hv:
                if name in EXCEPTIONS:
                    fail("%s: listed as an exception but both answered %r" % (name, lin))
                same += 1
                continue
            if name in EXCEPTIONS:
                why, check = EXCEPTIONS[name]
                if not check(lin, hv):
                    fail("%s: not the documented difference (%s)\n  Linux %r\n  hvkvpd %r" %
                         (name, why, lin, hv))
                print("%s: %s" % (name, why))
                differ_ok += 1
                continue
            fail("%s: replies differ\n  Linux  %r\n  hvkvpd %r" % (name, lin[:3], hv[:3]))
        stale = compare_files(files["linux"], files["hvkvpd"])
        sizes = [len(files["hvkvpd"][i][0]) // RECORD for i in range(5)]
        print("%d messages: %d identical replies, %d documented differences; "
              "pool files identical after each of the %d steps (records per pool at the end %s), "
              "%d stale bytes after NULs in Linux's files that hvkvpd zeroes" %
              (len(seq), same, differ_ok, steps, sizes, stale))


if __name__ == "__main__":
    try:
        main()
    finally:
        reap()
