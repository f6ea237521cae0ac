#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Differential test: hvfcopyd --backend kernel against Linux's hv_fcopy_daemon.

usage: diff-test.py HVFCOPYD SHIM

The test plays the kernel's side of /dev/vmbus/hv_fcopy for both daemons
(drivers/hv/hv_fcopy.c: the daemon registers with version 1 and the kernel
answers 1; then one message per read, names already UTF-8, a START of 1088
bytes, a WRITE of 6196, COMPLETE and CANCEL as long as the host's packet;
one 32-bit status back), sends both the same messages, and requires the
same replies and the same files (content, type and mode), except where
hvfcopyd differs on purpose (EXPECTED below; hvfcopyd(8), DIFFERENCES FROM
LINUX).

Linux's daemon is the binary of Debian's hyperv-daemons package,
unmodified (installed when missing); only its open of /dev/vmbus/hv_fcopy
is redirected to this test's socket, and its pread/pwrite on that socket
become read/write, by the LD_PRELOAD shim built with the tests
(tests/hvkvpd/kdev-shim.c). Each daemon runs with -n in its own mount
namespace (unshare -m) in which its own temporary folder is bind-mounted
over the one destination folder the messages name, so both get the very
same paths.
"""

import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hvkvpd"))
from kvptest import spawn, reap, fail, need_root, wait_for, stop, apt_install  # noqa: E402

HVFCOPYD, SHIM = sys.argv[1], sys.argv[2]
LINUX_DAEMON = "/usr/sbin/hv_fcopy_daemon"

HV_S_OK = 0
HV_E_FAIL = 0x80004005
EXISTS = 0x80070050
OVER_WRITE, CREATE_PATH = 1, 2
FRAGMENT = 6144


def start(name, path, flags=0, size=0):
    def field(s):
        b = s.encode()
        if len(b) > 259:
            raise ValueError(s)
        return b + b"\0" * (520 - len(b))
    return struct.pack("<I32x", 0) + field(name) + field(path) + struct.pack("<IQ", flags, size)


def write(offset, data):
    return (struct.pack("<I32xIQI", 1, 0, offset, len(data)) + data +
            b"\0" * (FRAGMENT - len(data)))


def header(op):
    # hv_fcopy.c hands over as many bytes as the host's packet had (64).
    return struct.pack("<I", op) + b"\0" * 60


class Kernel:
    """The kernel side of /dev/vmbus/hv_fcopy for one daemon."""

    def __init__(self, path):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.srv.bind(path)
        self.srv.listen(1)
        self.conn = None

    def accept(self):
        self.srv.settimeout(20)
        self.conn, _ = self.srv.accept()
        self.conn.settimeout(20)
        reg = self.conn.recv(64)
        if reg != struct.pack("<I", 1):
            fail("registration %r, expected version 1" % reg)
        self.conn.send(struct.pack("<I", 1))

    def request(self, msg):
        self.conn.send(msg)
        try:
            r = self.conn.recv(64)
        except socket.timeout:
            return None
        return struct.unpack("<I", r)[0] if len(r) == 4 else ("bad", r)


def tree(d):
    """What a reader of the folder sees: type, mode and content of each entry."""
    out = {}
    for top, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(top, n)
            rel = os.path.relpath(p, d)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), f.read())
    return out


def pattern(n, seed):
    return bytes((i * 13 + seed) % 256 for i in range(n))


def copy(path, name, data, flags=0):
    msgs = [start(name, path, flags, len(data))]
    for off in range(0, len(data), FRAGMENT):
        msgs.append(write(off, data[off:off + FRAGMENT]))
    return msgs + [header(2)]


def steps(dst):
    """(what, messages, expected difference or None). dst ends without '/'."""
    d = dst + "/"
    big = pattern(3 * FRAGMENT + 100, 1)
    return [
        ("small copy", copy(d, "small", b"hello\n"), None),
        ("same name again", [start("small", d, 0, 3)], None),
        ("overwrite, shorter", copy(d, "small", b"hi\n", OVER_WRITE), None),
        ("empty file", copy(d, "empty", b""), None),
        ("four fragments", copy(d, "big", big), None),
        ("missing directory", [start("x", d + "no/such/", 0, 1)], None),
        ("CREATE_PATH", copy(d + "made/deeper/", "f", b"abc", CREATE_PATH), None),
        ("non-ASCII names", copy(d + "données/", "ファイル-😀", b"utf8", CREATE_PATH), None),
        ("CANCEL mid-copy", [start("cancelled", d, 0, 9000), write(0, pattern(FRAGMENT, 2)),
                             header(3)], None),
        ("unknown operation", [header(5)], None),
        ("CANCEL with nothing open", [header(3)], None),
        # The listed differences.
        ("file under its final name only at COMPLETE",
         [start("midway", d, 0, 2 * FRAGMENT), write(0, pattern(FRAGMENT, 3))],
         "mid-copy: Linux has 'midway' already, hvfcopyd a temporary file"),
        ("finish it", [write(FRAGMENT, pattern(FRAGMENT, 4)), header(2)], None),
        ("CREATE_PATH without trailing '/'",
         copy(d + "trail/less", "f", b"x", CREATE_PATH),
         "Linux fails (E_FAIL) as it makes no last directory; hvfcopyd makes it"),
        ("WRITE past the START's size",
         [start("past", d, 0, 10), write(0, pattern(100, 5)), header(2)],
         "Linux writes 100 bytes; hvfcopyd refuses the WRITE and the COMPLETE"),
        ("symbolic link as target",
         copy(d, "link", b"into the link", OVER_WRITE),
         "Linux writes through the link; hvfcopyd refuses"),
        ("WRITE without START", [write(0, b"stray")],
         "Linux writes to its last file descriptor; hvfcopyd refuses (E_FAIL)"),
        ("COMPLETE without START", [header(2)],
         "Linux closes its last file descriptor (0); hvfcopyd refuses (E_FAIL)"),
    ]


def main():
    need_root()
    if not os.path.exists(LINUX_DAEMON):
        apt_install("hyperv-daemons")
    os.umask(0o022)
    with tempfile.TemporaryDirectory(prefix="hvfcopyd-diff-") as tmp:
        try:
            run(tmp)
        finally:
            reap()
    print("ok differential")


def run(tmp):
    target = os.path.join(tmp, "target")
    os.mkdir(target)
    names = ("linux", "hvfcopyd")
    dirs, kernels, procs, logs = {}, {}, {}, {}
    for n in names:
        dirs[n] = os.path.join(tmp, n)
        os.mkdir(dirs[n])
        with open(os.path.join(dirs[n], "real-target"), "w") as f:
            f.write("the link's target\n")
        os.symlink("real-target", os.path.join(dirs[n], "link"))
        kernels[n] = Kernel(os.path.join(tmp, n + ".sock"))
    wrap = lambda n: ["unshare", "-m", "--propagation", "private", "sh", "-c",
                      "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"", "sh",
                      dirs[n], target]
    env = dict(os.environ, LD_PRELOAD=SHIM, HVKVPD_TEST_KDEV=os.path.join(tmp, "linux.sock"),
               HVKVPD_TEST_KDEV_NODE="/dev/vmbus/hv_fcopy")
    logs["linux"] = open(os.path.join(tmp, "linux.log"), "w+")
    procs["linux"] = spawn(wrap("linux") + [LINUX_DAEMON, "-n"], env=env, cwd=tmp,
                           stdin=subprocess.DEVNULL, stdout=logs["linux"],
                           stderr=logs["linux"])
    logs["hvfcopyd"] = open(os.path.join(tmp, "hvfcopyd.log"), "w+")
    procs["hvfcopyd"] = spawn(wrap("hvfcopyd") + [
        HVFCOPYD, "-n", "--backend", "kernel", "--kernel-device",
        os.path.join(tmp, "hvfcopyd.sock"), "--state-dir", os.path.join(tmp, "state")],
        cwd=tmp, stdin=subprocess.DEVNULL, stdout=logs["hvfcopyd"], stderr=logs["hvfcopyd"])
    for n in names:
        kernels[n].accept()
    seen_differences = []
    for what, msgs, diff in steps(target):
        got = {n: [kernels[n].request(m) for m in msgs] for n in names}
        trees = {n: tree(dirs[n]) for n in names}
        if diff is None:
            if got["linux"] != got["hvfcopyd"]:
                fail("%s: Linux answered %s, hvfcopyd %s" % (what, fmt(got["linux"]),
                                                             fmt(got["hvfcopyd"])))
            if trees["linux"] != trees["hvfcopyd"]:
                fail("%s: the folders differ:\n linux    %s\n hvfcopyd %s" %
                     (what, sorted(trees["linux"]), sorted(trees["hvfcopyd"])))
        else:
            check_difference(what, got, trees)
            seen_differences.append(what)
        for n in names:
            if procs[n].poll() is not None:
                logs[n].seek(0)
                fail("%s exited during '%s':\n%s" % (n, what, logs[n].read()))
    for n in names:
        stop(procs[n])


def fmt(replies):
    return "[" + ", ".join(("0x%08x" % r) if isinstance(r, int) else repr(r)
                           for r in replies) + "]"


def check_difference(what, got, trees):
    """Each listed difference, checked to be exactly what the man page says."""
    L, H = got["linux"], got["hvfcopyd"]
    lt, ht = trees["linux"], trees["hvfcopyd"]
    if what.startswith("file under its final name"):
        if L != H or L != [HV_S_OK, HV_S_OK]:
            fail("%s: replies %s / %s" % (what, fmt(L), fmt(H)))
        if "midway" not in lt or "midway" in ht or \
           not any(k.startswith(".hvfcopyd-") for k in ht):
            fail("%s: linux %s, hvfcopyd %s" % (what, sorted(lt), sorted(ht)))
    elif what.startswith("CREATE_PATH without"):
        if L[0] != HV_E_FAIL or H != [HV_S_OK] * len(H):
            fail("%s: replies %s / %s" % (what, fmt(L), fmt(H)))
        if ht.get("trail/less/f") != ("file", 0o744, b"x"):
            fail("%s: hvfcopyd has %s" % (what, ht.get("trail/less/f")))
    elif what.startswith("WRITE past"):
        if L != [HV_S_OK] * 3 or H != [HV_S_OK, HV_E_FAIL, HV_E_FAIL]:
            fail("%s: replies %s / %s" % (what, fmt(L), fmt(H)))
        if "past" in ht or lt.get("past", ("",))[0] != "file":
            fail("%s: linux %s, hvfcopyd %s" % (what, lt.get("past"), ht.get("past")))
    elif what.startswith("symbolic link"):
        if L != [HV_S_OK, HV_S_OK, HV_S_OK] or H[0] != HV_E_FAIL:
            fail("%s: replies %s / %s" % (what, fmt(L), fmt(H)))
        if lt.get("real-target") != ("file", 0o644, b"into the link") or \
           ht.get("real-target") != ("file", 0o644, b"the link's target\n"):
            fail("%s: link targets %s / %s" % (what, lt.get("real-target"),
                                               ht.get("real-target")))
    elif what.endswith("without START"):
        # Linux acts on whatever descriptor number it last had: its answer varies.
        if H != [HV_E_FAIL]:
            fail("%s: hvfcopyd answered %s" % (what, fmt(H)))
        print("%s: Linux %s, hvfcopyd %s" % (what, fmt(L), fmt(H)))
    else:
        fail("no check for difference " + what)
    # Apart from the difference, the folders hold the same.
    strip = lambda t: {k: v for k, v in t.items()
                       if not k.startswith(".hvfcopyd-") and k.split("/")[0] not in
                       ("midway", "trail", "past", "real-target")}
    if strip(lt) != strip(ht):
        fail("%s: beyond the listed difference the folders differ:\n %s\n %s" %
             (what, sorted(strip(lt)), sorted(strip(ht))))


main()
