#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hvctl's key commands against the real hvkvpd: hvsim plays the host on a
temporary sim root, hvkvpd serves it, hvctl runs as its own process for
each command, as a user would run it.
usage: hvctl-test.py CASE HVCTL HVSIM HVKVPD"""

import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

NAMES = ["External", "Guest", "Auto", "Guest/Parameters", "Internal"]
AUTO_KEYS = ["FullyQualifiedDomainName", "IntegrationServicesVersion",
             "NetworkAddressIPv4", "NetworkAddressIPv6", "OSBuildNumber", "OSName",
             "OSMajorVersion", "OSMinorVersion", "OSVersion", "ProcessorArchitecture"]
KVP = "io.hvuio.Kvp."
PROCS = []
failures = []


def fail(msg):
    """Record a failure and go on: one run reports every mismatch."""
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def fatal(msg):
    fail(msg)
    raise SystemExit(1)


def check(what, got, want):
    if got != want:
        fail("%s:\n  got  %r\n  want %r" % (what, got, want))
    return got == want


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            fatal(what)
        time.sleep(0.02)


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    PROCS.append(p)
    return p


def record(k, v):
    """One record of a pool file: Linux's 512-byte key, 2048-byte value."""
    return k.ljust(512, b"\0") + v.ljust(2048, b"\0")


def read_pool(path):
    with open(path, "rb") as f:
        data = f.read()
    return [(data[o:o + 512].split(b"\0", 1)[0], data[o + 512:o + 2560].split(b"\0", 1)[0])
            for o in range(0, len(data) - len(data) % 2560, 2560)]


def host_set_raw(pool, key, value):
    """A host SET as hvsim's `send kvp` takes it: struct hv_kvp_msg after the
    IC header, strings in UTF-16 with their NUL counted, as Linux's
    drivers/hv/hv_kvp.c receives them. surrogatepass lets a test send an
    unpaired surrogate, which no UTF-8 can hold."""
    k = key.encode("utf-16-le", "surrogatepass") + b"\0\0"
    v = value.encode("utf-16-le", "surrogatepass") + b"\0\0"
    body = (struct.pack("<BBH", 1, pool, 0) + struct.pack("<III", 1, len(k), len(v)) +
            k.ljust(512, b"\0") + v.ljust(2048, b"\0"))
    return "send kvp " + body.hex()


class Varlink:
    """A plain varlink client, for what the test does behind hvctl's back."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.buf = b""

    def send(self, method, params):
        self.s.sendall(json.dumps({"method": KVP + method, "parameters": params}).encode()
                       + b"\0")

    def recv(self):
        while b"\0" not in self.buf:
            d = self.s.recv(1 << 16)
            if not d:
                fatal("hvkvpd closed a connection of the test")
            self.buf += d
        m, self.buf = self.buf.split(b"\0", 1)
        return json.loads(m)

    def call(self, method, params):
        self.send(method, params)
        return self.recv()

    def close(self):
        self.s.close()


class Daemon:
    """hvsim playing SCRIPT on a fresh sim root, hvkvpd serving it."""

    def __init__(self, tmp, script, args=(), name="run"):
        self.dir = os.path.join(tmp, name)
        os.mkdir(self.dir)
        # Unprivileged users reach the socket and the pool files in here.
        os.chmod(tmp, 0o755)
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "sock", "socket")
        spath = os.path.join(self.dir, "script")
        with open(spath, "w") as f:
            f.write("".join(line + "\n" for line in script))
        self.sim_err = open(os.path.join(self.dir, "hvsim.err"), "w+")
        self.sim = spawn([HVSIM, "--root", self.root, "--script", spath, "--json",
                          "--timeout", "60"],
                         stdout=subprocess.PIPE, stderr=self.sim_err, text=True)
        self.lines = []         # (monotonic time hvsim's line was read, reply)
        self.cv = threading.Condition()
        threading.Thread(target=self._read_host, daemon=True).start()
        wait_for(lambda: os.path.exists(os.path.join(self.root, "dev", "uio0")), 10,
                 "hvsim did not create its sim root")
        self.log = open(os.path.join(self.dir, "hvkvpd.log"), "w+")
        self.kvpd = spawn([HVKVPD, "--backend", "sim", "--root", self.root,
                           "--state-dir", self.state, "--socket", self.sock, "-n", *args],
                          stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._ready, 10, "hvkvpd never served its socket")

    def _ready(self):
        if self.kvpd.poll() is not None:
            self.log.seek(0)
            fatal("hvkvpd exited %d:\n%s" % (self.kvpd.returncode, self.log.read()))
        try:
            Varlink(self.sock).close()
            return True
        except OSError:
            return False

    def _read_host(self):
        for line in self.sim.stdout:
            t = time.monotonic()
            try:
                r = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.lines.append((t, r))
                self.cv.notify_all()

    def host_reply(self, n, timeout=30):
        """When hvsim had the guest's answer to its nth request (from 1,
        the negotiation not counted), and that answer."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                replies = [x for x in self.lines if x[1].get("reply") != "negotiate"]
                if len(replies) >= n:
                    return replies[n - 1]
                left = end - time.monotonic()
                if left <= 0:
                    self.sim_err.seek(0)
                    fatal("hvsim never printed reply %d: %s\n%s" %
                          (n, self.lines[-3:], self.sim_err.read()))
                self.cv.wait(left)

    def stop(self):
        """SIGTERM hvkvpd: it must exit 0, remove its socket and report no
        sanitizer error."""
        self.kvpd.send_signal(signal.SIGTERM)
        try:
            rc = self.kvpd.wait(15)
        except subprocess.TimeoutExpired:
            fatal("hvkvpd did not stop on SIGTERM")
        self.log.seek(0)
        log = self.log.read()
        check("hvkvpd's exit status on SIGTERM", rc, 0)
        if os.path.exists(self.sock):
            fail("hvkvpd left its socket behind")
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            if bad in log:
                fail("hvkvpd: sanitizer report:\n" + log)
        if self.sim.poll() is None:
            self.sim.kill()
        self.sim.wait()


class Hvctl:
    """hvctl with the socket and state directory of one daemon."""

    def __init__(self, sock, state, prefix=()):
        self.base = [*prefix, HVCTL, "--socket", sock, "--state-dir", state]

    def __call__(self, *args, stdin=None, raw=False):
        """(exit status, standard output as bytes, standard error as text)."""
        r = subprocess.run(self.base + [a if isinstance(a, bytes) else str(a) for a in args],
                           input=stdin, capture_output=True, timeout=30)
        err = r.stderr.decode(errors="replace")
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            if bad in err:
                fail("hvctl %s: sanitizer report:\n%s" % (args, err))
        return r.returncode, r.stdout, err

    def ok(self, *args, out=None, stdin=None):
        """Run a command that must succeed, printing nothing on stderr."""
        rc, o, e = self(*args, stdin=stdin)
        if rc != 0 or e:
            fail("hvctl %s: exit %d, stderr %r" % (" ".join(map(str, args)), rc, e))
        if out is not None:
            check("hvctl %s: output" % " ".join(map(str, args)), o, out)
        return o

    def refused(self, rc_want, needle, *args, stdin=None):
        """Run a command that must fail with rc_want, saying needle on
        stderr, printing nothing on stdout."""
        rc, o, e = self(*args, stdin=stdin)
        what = "hvctl %s" % " ".join(a if isinstance(a, str) else repr(a) for a in args)
        check(what + ": exit status (stderr %r)" % e, rc, rc_want)
        if needle not in e:
            fail("%s: stderr %r does not say %r" % (what, e, needle))
        if o:
            fail("%s: printed %r on a failure" % (what, o))
        return e


class Watcher:
    """`hvctl watch ...` running, its lines read as they come, with when."""

    def __init__(self, hv, *args):
        self.p = spawn(hv.base + ["watch", *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
        self.lines = []
        self.cv = threading.Condition()
        self.err = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append((time.monotonic(), line))
                self.cv.notify_all()
        with self.cv:
            self.lines.append((time.monotonic(), None))
            self.cv.notify_all()

    def _read_err(self):
        self.err = self.p.stderr.read()

    def wait_line(self, pred, timeout=20, what="a line"):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, line in self.lines:
                    if line is not None and pred(line):
                        return t, line
                left = end - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1][1] is None):
                    fatal("watch %s never printed %s; it printed %r, stderr %r" %
                          (self.p.args[5:], what, [x[1] for x in self.lines], self.err))
                self.cv.wait(min(left, 0.5))

    def probe(self, hv, key="Guest/probe"):
        """Set key until the watch prints it: then the watch is in place
        (hvkvpd answers its first reply before it sends changes). Returns
        when it printed it."""
        name = key.rsplit("/", 1)[1].encode()   # as text and JSON lines have it
        for i in range(100):
            hv.ok("set", key, str(i))
            with self.cv:
                self.cv.wait_for(lambda: any(x[1] is None or name in x[1]
                                             for x in self.lines), 0.2)
            with self.cv:
                for t, line in self.lines:
                    if line is None:
                        break
                    if name in line:
                        return t
        fatal("watch %s never printed %s" % (self.p.args[5:], key))

    def output(self):
        """What it printed, without the probes."""
        with self.cv:
            return [line for _, line in self.lines if line is not None and b"probe" not in line]

    def end(self, sig=signal.SIGINT):
        """Stop it; its exit status and standard error."""
        if sig is not None and self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fatal("watch %s did not end" % self.p.args[5:])
        time.sleep(0.05)
        return rc, self.err.decode(errors="replace")


# --- every command and option against the daemon --------------------------

CTL = "a\nb\tc\x1b[2J\\d\x7f\u0085é"
CTL_ESCAPED = b"a\\nb\\tc\\033[2J\\\\d\\177\\302\\205" + "é".encode()


def case_commands(tmp):
    d = Daemon(tmp, ["kvp set External ext1 v1",
                     'kvp set External "Key With Space" "x y"',
                     "kvp set Guest/Parameters HostName h1",
                     "kvp set Guest/Parameters VirtualMachineName vm1",
                     host_set_raw(3, "Ctl", CTL),
                     # An unpaired surrogate cannot become UTF-8: refused, not stored.
                     host_set_raw(0, "Bad", "x\ud800y"),
                     "wait 120000"])
    check("host SET with control characters", d.host_reply(5)[1]["status_name"], "HV_S_OK")
    check("host SET with an unpaired surrogate", d.host_reply(6)[1]["status_name"],
          "HV_E_FAIL")
    hv = Hvctl(d.sock, d.state)

    # get: pools by name in any case and by number, Pool/Key split at the
    # last slash, -p.
    for args in (["External/ext1"], ["external/ext1"], ["EXTERNAL/ext1"], ["0/ext1"],
                 ["-p", "External", "ext1"], ["-p", "eXtErNaL", "ext1"], ["-p", "0", "ext1"],
                 ["--pool", "0", "ext1"], ["--pool=external", "ext1"]):
        hv.ok("get", *args, out=b"v1\n")
    for args in (["Guest/Parameters/HostName"], ["guest/parameters/HostName"],
                 ["3/HostName"], ["-p", "Guest/Parameters", "HostName"],
                 ["-p", "3", "HostName"]):
        hv.ok("get", *args, out=b"h1\n")
    hv.ok("get", "External/Key With Space", out=b"x y\n")
    hv.ok("--socket", d.sock, "get", "External/ext1", out=b"v1\n")
    # The key commands' options may come before the command.
    hv.ok("-r", "get", "External/ext1", out=b"v1\n")

    # Control characters from the host: escaped, or as they are with -r.
    hv.ok("get", "Guest/Parameters/Ctl", out=CTL_ESCAPED + b"\n")
    hv.ok("get", "-r", "Guest/Parameters/Ctl", out=CTL.encode() + b"\n")
    hv.ok("get", "--raw", "Guest/Parameters/Ctl", out=CTL.encode() + b"\n")
    check("get --json with control characters",
          json.loads(hv.ok("get", "--json", "Guest/Parameters/Ctl")),
          {"pool": 3, "pool_name": "Guest/Parameters", "key": "Ctl", "value": CTL})
    check("get -j", json.loads(hv.ok("get", "-j", "External/ext1")),
          {"pool": 0, "pool_name": "External", "key": "ext1", "value": "v1"})
    hv.refused(1, "no key Bad in pool External", "get", "External/Bad")

    # No such key: exit 1, and the hostctl form alike.
    hv.refused(1, "no key none in pool Guest", "get", "Guest/none")
    hv.refused(1, "no key none in pool External", "get", "-p", "0", "none")
    hv.refused(1, "no key none in pool Guest", "Guest/none")
    hv.refused(1, "no key none in pool Guest", "-q", "Guest/none")

    # set, read back, in the pool file, overwrite, empty, delete.
    hv.ok("set", "Guest/k1", "välue ✓", out=b"")
    hv.ok("get", "Guest/k1", out="välue ✓\n".encode())
    if (b"k1", "välue ✓".encode()) not in read_pool(os.path.join(d.state, ".kvp_pool_1")):
        fail("hvctl set did not reach .kvp_pool_1")
    hv.ok("set", "guest/k1", "second", out=b"")
    hv.ok("get", "1/k1", out=b"second\n")
    hv.ok("set", "-p", "1", "k1", "", out=b"")
    hv.ok("get", "Guest/k1", out=b"")
    check("get --json of an empty value", json.loads(hv.ok("get", "--json", "Guest/k1")),
          {"pool": 1, "pool_name": "Guest", "key": "k1", "value": ""})
    hv.ok("delete", "Guest/k1", out=b"")
    hv.refused(1, "no key k1 in pool Guest", "get", "Guest/k1")
    hv.refused(1, "no key k1 in pool Guest", "delete", "Guest/k1")
    hv.refused(1, "no key k1 in pool Guest", "delete", "-p", "guest", "k1")
    # -p takes the whole argument as the key: a slash is part of it.
    hv.ok("set", "-p", "Guest", "a/b", "slash", out=b"")
    hv.ok("get", "-p", "Guest", "a/b", out=b"slash\n")
    hv.refused(2, "no pool Guest/a", "get", "Guest/a/b")
    hv.ok("delete", "-p", "Guest", "a/b")
    hv.ok("set", "Guest/ctl", CTL)
    hv.ok("get", "Guest/ctl", out=CTL_ESCAPED + b"\n")

    # The hostctl form, with and without a value.
    hv.ok("Guest/hk", "hv", out=b"hv\n")
    hv.ok("Guest/hk", out=b"hv\n")
    hv.ok("guest/hk", out=b"hv\n")
    hv.ok("1/hk", out=b"hv\n")
    hv.ok("-q", "Guest/hk", "quiet", out=b"")
    hv.ok("--quiet", "Guest/hk", out=b"")
    hv.ok("Guest/hk", out=b"quiet\n")
    hv.ok("Guest/ctl", out=CTL_ESCAPED + b"\n")
    hv.ok("-r", "Guest/ctl", out=CTL.encode() + b"\n")
    hv.ok("Guest/Parameters/HostName", out=b"h1\n")
    hv.ok("Auto/", out="".join(k + "\n" for k in AUTO_KEYS).encode())
    hv.ok("guest/parameters/", out=b"HostName\nVirtualMachineName\nCtl\n")
    hv.ok("Internal/", out=b"")
    hv.refused(2, "no pool Nope", "Nope/")

    # -i: up to the first newline; with -r all of it but one final newline.
    vin = os.path.join(tmp, "in")
    with open(vin, "wb") as f:
        f.write(b"first\nsecond\n")
    hv.ok("set", "-i", vin, "Guest/i", out=b"")
    hv.ok("get", "-r", "Guest/i", out=b"first\n")
    hv.ok("set", "-r", "-i", vin, "Guest/i", out=b"")
    hv.ok("get", "-r", "Guest/i", out=b"first\nsecond\n")
    hv.ok("get", "Guest/i", out=b"first\\nsecond\n")
    hv.ok("set", "--input", vin, "Guest/i", out=b"")
    hv.ok("get", "Guest/i", out=b"first\n")
    hv.ok("set", "-i", "-", "Guest/i", stdin=b"from stdin\nmore", out=b"")
    hv.ok("get", "Guest/i", out=b"from stdin\n")
    hv.ok("-i", vin, "Guest/i", out=b"first\n")
    hv.ok("-q", "-i", "-", "Guest/i", stdin=b"quiet in", out=b"")
    hv.ok("Guest/i", out=b"quiet in\n")
    hv.refused(2, "NUL", "set", "-i", "-", "Guest/i", stdin=b"a\0b")
    hv.refused(3, "nonexistent", "set", "-i", os.path.join(tmp, "nonexistent"), "Guest/i")
    hv.refused(2, "too long", "set", "-i", "-", "Guest/i", stdin=b"v" * 3000)
    hv.refused(2, "usage:", "set", "-i", vin, "Guest/i", "value")
    hv.refused(2, "usage:", "-i", vin, "Guest/i", "value")
    hv.ok("get", "Guest/i", out=b"quiet in\n")

    # -o: a file, '-' for standard output; a file that cannot be written.
    out = os.path.join(tmp, "out")
    hv.ok("get", "-o", out, "Guest/Parameters/Ctl", out=b"")
    check("get -o file", open(out, "rb").read(), CTL_ESCAPED + b"\n")
    hv.ok("get", "-r", "--output", out, "Guest/Parameters/Ctl", out=b"")
    check("get -r -o file", open(out, "rb").read(), CTL.encode() + b"\n")
    hv.ok("get", "-o", "-", "External/ext1", out=b"v1\n")
    hv.ok("list", "-o", out, "External", out=b"")
    check("list -o file", open(out, "rb").read(),
          b"External/ext1=v1\nExternal/Key With Space=x y\n")
    hv.ok("-o", out, "External/ext1", out=b"")
    check("hostctl -o file", open(out, "rb").read(), b"v1\n")
    hv.refused(3, "nonexistent", "get", "-o", os.path.join(tmp, "nonexistent", "f"),
               "External/ext1")
    hv.refused(3, "cannot write", "get", "-o", "/dev/full", "External/ext1")

    # list: one pool by name or number, every pool, JSON, raw.
    hv.ok("list", "External", out=b"External/ext1=v1\nExternal/Key With Space=x y\n")
    want3 = b"Guest/Parameters/HostName=h1\nGuest/Parameters/VirtualMachineName=vm1\n" + \
        b"Guest/Parameters/Ctl=" + CTL_ESCAPED + b"\n"
    hv.ok("list", "Guest/Parameters", out=want3)
    hv.ok("list", "3", out=want3)
    hv.ok("list", "guest/PARAMETERS", out=want3)
    hv.ok("list", "Internal", out=b"")
    hv.ok("list", "-r", "3", out=want3.replace(CTL_ESCAPED, CTL.encode()))
    lines = hv.ok("list").decode().splitlines()
    auto = [x for x in lines if x.startswith("Auto/")]
    check("list: the Auto pool's generated keys", [x.split("=", 1)[0] for x in auto],
          ["Auto/" + k for k in AUTO_KEYS])
    check("list: pools in order", [x.split("/", 1)[0] for x in lines],
          ["External"] * 2 + ["Guest"] * 3 + ["Auto"] * 10 + ["Guest"] * 3)
    recs = [json.loads(x) for x in hv.ok("list", "--json").splitlines()]
    check("list --json: records", len(recs), len(lines))
    check("list --json: a record", recs[0],
          {"pool": 0, "pool_name": "External", "key": "ext1", "value": "v1"})
    check("list --json: control characters",
          [r["value"] for r in recs if r["key"] == "Ctl"], [CTL])
    generated = {r["key"]: r["value"] for r in recs if r["pool"] == 2}

    # status, text and JSON.
    o = hv.ok("status").decode().splitlines()
    check("status: first line", o[0], "hvkvpd 0.2.0, backend sim, device " + d.root)
    check("status: negotiated", o[1], "negotiated: framework 3.0, message 4.0")
    check("status: pools", o[-5:], ["pool 0 External: 2 records", "pool 1 Guest: 3 records",
                                    "pool 2 Auto: 10 records",
                                    "pool 3 Guest/Parameters: 3 records",
                                    "pool 4 Internal: 0 records"])
    st = json.loads(hv.ok("status", "--json"))
    check("status --json", (st["running"], st["backend"], st["device"],
                            st["negotiated"], st["host_requests"] >= 5,
                            [p["records"] for p in st["pools"]]),
          (True, "sim", d.root, {"framework": "3.0", "message": "4.0"}, True,
           [2, 3, 10, 3, 0]))

    # Auto: override a generated value and restore it.
    osname = generated["OSName"]
    hv.ok("get", "Auto/OSName", out=osname.encode() + b"\n")
    hv.ok("set", "Auto/OSName", "Custom OS", out=b"")
    hv.ok("get", "Auto/OSName", out=b"Custom OS\n")
    hv.ok("get", "2/OSName", out=b"Custom OS\n")
    check("list Auto shows the override",
          [x for x in hv.ok("list", "Auto").splitlines() if x.startswith(b"Auto/OSName=")],
          [b"Auto/OSName=Custom OS"])
    if (b"OSName", b"Custom OS") not in read_pool(os.path.join(d.state, ".kvp_pool_2")):
        fail("the override is not in .kvp_pool_2")
    hv.ok("Auto/FullyQualifiedDomainName", "h.example", out=b"h.example\n")
    hv.ok("delete", "Auto/OSName", out=b"")
    hv.ok("get", "Auto/OSName", out=osname.encode() + b"\n")
    hv.ok("delete", "Auto/OSName", out=b"")
    hv.ok("delete", "-p", "auto", "FullyQualifiedDomainName")
    hv.ok("get", "Auto/FullyQualifiedDomainName",
          out=generated["FullyQualifiedDomainName"].encode() + b"\n")
    hv.refused(2, "not one of the Auto pool's generated keys", "set", "Auto/MyKey", "x")
    hv.refused(1, "no key MyKey in pool Auto", "delete", "Auto/MyKey")

    # Pools only the host writes.
    for pool in ("External", "Guest/Parameters", "Internal", "0", "guest/parameters"):
        hv.refused(3, "is read-only", "set", pool + "/x", "v")
        hv.refused(3, "is read-only", "delete", pool + "/ext1")
        hv.refused(3, "is read-only", pool + "/x", "v")
    hv.refused(3, "pool External is read-only", "set", "-p", "0", "ext1", "v")
    hv.ok("get", "External/ext1", out=b"v1\n")

    # Unknown pools.
    for args in (["get", "Nope/x"], ["get", "-p", "5", "x"], ["get", "-p", "Nope", "x"],
                 ["set", "Nope/x", "v"], ["delete", "5/x"], ["list", "Nope"],
                 ["list", "5"], ["watch", "Nope/x"], ["watch", "-p", "9"], ["Nope/x"],
                 ["Nope/x", "v"], ["get", "Guest\\Parameters/x"]):
        hv.refused(2, "no pool", *args)

    # Keys and values over the host's limits: KeyTooLong and ValueTooLong
    # from the daemon in UTF-16 units, or hvctl's own check in bytes.
    hv.ok("set", "-p", "Guest", "k" * 254, "x")
    hv.ok("delete", "-p", "Guest", "k" * 254)
    hv.refused(2, "key too long: the host takes at most 254 UTF-16 units and 511 bytes",
               "set", "-p", "Guest", "k" * 255, "x")
    hv.refused(2, "key too long: the host takes at most 254 UTF-16 units and 511 bytes",
               "get", "-p", "Guest", "é" * 255)
    hv.refused(2, "key too long: at most 511 bytes", "set", "-p", "Guest", "😀" * 128, "x")
    hv.refused(2, "key too long", "Guest/" + "k" * 512)
    hv.ok("set", "Guest/long", "€" * 682)
    hv.ok("get", "Guest/long", out=("€" * 682 + "\n").encode())
    hv.refused(2, "value too long: the host takes at most 1022 UTF-16 units and 2047 bytes",
               "set", "Guest/long", "v" * 1023)
    hv.refused(2, "value too long: the host takes at most 1022 UTF-16 units and 2047 bytes",
               "Guest/long", "é" * 1023)
    hv.refused(2, "value too long: at most 2047 bytes", "set", "Guest/long", "€" * 683)
    hv.refused(2, "value too long", "set", "-i", "-", "Guest/long", stdin=b"v" * 1023)
    hv.ok("get", "Guest/long", out=("€" * 682 + "\n").encode())

    # Arguments that are not UTF-8, or empty keys.
    hv.refused(2, "invalid value: not valid UTF-8", "set", "Guest/u", b"a\xffb")
    hv.refused(2, "invalid value: not valid UTF-8", "set", "-i", "-", "Guest/u",
               stdin=b"\xc0\x80")
    hv.refused(2, "invalid key: not valid UTF-8", "set", b"Guest/k\xff", "v")
    hv.refused(2, "invalid key: not valid UTF-8", "get", "-p", "Guest", b"\xed\xa0\x80")
    hv.refused(2, "invalid key: not valid UTF-8", "delete", b"Guest/\xff")
    hv.refused(2, "empty key", "get", "Guest/")
    hv.refused(2, "empty key", "set", "-p", "Guest", "", "v")
    hv.refused(1, "no key u", "get", "Guest/u")

    # Usage errors: the command's usage on stderr, exit 2.
    for args in (["get"], ["get", "Guest/a", "Guest/b"], ["get", "-i", vin, "Guest/k"],
                 ["get", "-q", "Guest/k"], ["set", "Guest/k"], ["set", "Guest/k", "v", "w"],
                 ["set", "--json", "Guest/k", "v"], ["set", "-o", "f", "Guest/k", "v"],
                 ["delete"], ["delete", "-r", "Guest/k"], ["delete", "Guest/k", "x"],
                 ["list", "Guest", "Auto"], ["list", "-p", "Guest"], ["list", "-z"],
                 ["status", "x"], ["status", "-r"], ["watch", "Guest", "Auto"],
                 ["watch", "-i", vin], ["Guest/a", "b", "c"], ["-p", "Guest", "Guest/a"],
                 ["get", "--pool"]):
        hv.refused(2, "usage: hvctl", *args)
    hv.refused(2, "is not Pool/Key", "get", "x")
    hv.refused(2, "unknown command frobnicate", "frobnicate")
    rc, o, e = hv("get", "--help")
    check("get --help", (rc, o.decode().startswith("usage: hvctl [--socket PATH]"), e),
          (0, True, ""))

    # Nothing above disturbed the host's pools.
    hv.ok("list", "0", out=b"External/ext1=v1\nExternal/Key With Space=x y\n")
    d.stop()


# --- watch -------------------------------------------------------------------

def case_watch(tmp):
    d = Daemon(tmp, ["kvp set External start 1",
                     "wait 4000",
                     "kvp set Guest/Parameters Later l1",
                     "kvp set External w2 x",
                     host_set_raw(0, "w2c", CTL),
                     "kvp delete External w2",
                     "wait 120000"])
    d.host_reply(1)
    hv = Hvctl(d.sock, d.state)
    every = Watcher(hv)
    gp = Watcher(hv, "--json", "Guest/Parameters")
    key = Watcher(hv, "External/w2")
    keyp = Watcher(hv, "-p", "external", "w2")
    num = Watcher(hv, "-r", "0")
    pool_p = Watcher(hv, "--pool", "0")
    # Once the every-pool watch prints a local change, it is in place; the
    # others were started before it and answered first.
    t_probe = every.probe(hv)
    t_host, r = d.host_reply(2)
    if t_host < t_probe:
        fatal("the host's SET came before the watches were in place: make the "
              "script's wait longer")
    t_seen, line = every.wait_line(lambda x: b"Later" in x, what="the host's SET")
    check("watch: a host SET", line, b"set host Guest/Parameters/Later=l1\n")
    lat = (t_seen - t_host) * 1000
    t_json, line = gp.wait_line(lambda x: b"Later" in x, what="the host's SET")
    check("watch --json: a host SET", json.loads(line),
          {"pool": 3, "pool_name": "Guest/Parameters", "key": "Later", "value": "l1",
           "origin": "host"})
    lat_json = (t_json - t_host) * 1000
    print("host SET printed by hvctl watch %.1f ms (text) and %.1f ms (--json) after hvsim "
          "had the guest's answer" % (lat, lat_json))
    if lat > 100 or lat_json > 100:
        fail("watch took %.1f / %.1f ms, over 100 ms" % (lat, lat_json))

    every.wait_line(lambda x: x.startswith(b"delete host External/w2"), what="the host DELETE")
    want_key = [b"set host External/w2=x\n", b"delete host External/w2\n"]
    for w in (key, keyp):
        w.wait_line(lambda x: x.startswith(b"delete"), what="the host DELETE")
    num.wait_line(lambda x: x.startswith(b"delete"), what="the host DELETE")
    pool_p.wait_line(lambda x: x.startswith(b"delete"), what="the host DELETE")

    # Local writes, by another hvctl; an Auto override and its restore.
    hv.ok("set", "Guest/lk", "lv")
    hv.ok("delete", "Guest/lk")
    hv.ok("set", "Auto/OSName", "Mine")
    hv.ok("delete", "Auto/OSName")
    generated = hv.ok("get", "-r", "Auto/OSName")
    hv.ok("set", "Guest/ctl", "a\nb")
    # Another program appending to a pool file, as cloud-init does.
    with open(os.path.join(d.state, ".kvp_pool_1"), "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(record(b"fromfile", b"ff"))
    hv.ok("set", "Guest/last", "1")
    every.wait_line(lambda x: b"Guest/last" in x, what="the last change")
    rc, err = every.end(signal.SIGINT)
    check("watch ends on SIGINT with status 0", (rc, err), (0, ""))
    check("watch: every change, in order", every.output(), [
        b"set host Guest/Parameters/Later=l1\n",
        b"set host External/w2=x\n",
        b"set host External/w2c=" + CTL_ESCAPED + b"\n",
        b"delete host External/w2\n",
        b"set local Guest/lk=lv\n",
        b"delete local Guest/lk\n",
        b"set local Auto/OSName=Mine\n",
        b"set local Auto/OSName=" + generated,
        b"set local Guest/ctl=a\\nb\n",
        b"set file Guest/fromfile=ff\n",
        b"set local Guest/last=1\n"])
    check("watch Guest/Parameters --json: only its pool", [json.loads(x)["key"] for x in
                                                            gp.output()], ["Later"])
    for w in (key, keyp):
        check("watch %s: only its key" % w.p.args[5:], w.output(), want_key)
    check("watch -r 0: the pool, unescaped", b"".join(num.output()), b"".join([
        b"set host External/w2=x\n", b"set host External/w2c=" + CTL.encode() + b"\n",
        b"delete host External/w2\n"]))
    check("watch --pool 0", len(pool_p.output()), 3)
    for w in (gp, key, keyp, num):
        check("watch %s ends on SIGTERM with status 0" % w.p.args[5:], w.end(signal.SIGTERM),
              (0, ""))

    # A watcher too slow to read: hvkvpd ends its watch with ChangesLost,
    # after it had printed what was delivered.
    slow = Watcher(hv, "Guest")
    slow.probe(hv)
    slow.p.send_signal(signal.SIGSTOP)
    c = Varlink(d.sock)
    big = "x" * 1000
    for i in range(1000):
        c.send("Set", {"pool": "Guest", "key": "flood%d" % (i % 50), "value": big})
        c.send("Delete", {"pool": "Guest", "key": "flood%d" % (i % 50)})
        for _ in range(2):
            r = c.recv()
            if "error" in r:
                fatal("flood: %s" % r)
    c.close()
    slow.p.send_signal(signal.SIGCONT)
    rc, err = slow.end(None)
    check("watch that lost changes: exit status (stderr %r)" % err, rc, 3)
    if "hvkvpd ended the watch: changes were lost" not in err:
        fail("watch that lost changes: stderr %r" % err)
    n = len(slow.output())
    print("a stopped watcher printed %d of 2000 changes, then the daemon's ChangesLost" % n)
    if not 0 < n < 2000:
        fail("the stopped watcher printed %d changes" % n)

    # The daemon going away ends a watch with an error.
    gone = Watcher(hv, "Guest")
    gone.probe(hv)
    d.stop()
    rc, err = gone.end(None)
    check("watch when hvkvpd stops (stderr %r)" % err, rc, 3)
    if "hvkvpd closed the connection" not in err:
        fail("watch when hvkvpd stops: stderr %r" % err)


# --- without the daemon: the pool files -----------------------------------------

def case_fallback(tmp):
    d = Daemon(tmp, ["kvp set External ext1 v1",
                     "kvp set Guest/Parameters HostName h1",
                     host_set_raw(3, "Ctl", CTL),
                     "wait 120000"])
    d.host_reply(3)
    hv = Hvctl(d.sock, d.state)
    hv.ok("set", "Guest/g", "1")
    hv.ok("set", "Auto/OSName", "Custom OS")
    # Another program writes bytes that are not UTF-8: through hvkvpd they
    # arrive as U+FFFD, so that every reply is valid UTF-8.
    with open(os.path.join(d.state, ".kvp_pool_1"), "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(record(b"bad", b"a\xffb\x1b"))
    wait_for(lambda: hv("get", "Guest/bad")[0] == 0, 10, "hvkvpd never read the new record")
    hv.ok("get", "Guest/bad", out="a\ufffdb\\033\n".encode())
    hv.ok("get", "-r", "Guest/bad", out="a\ufffdb\x1b\n".encode())
    check("get --json of a record that was not UTF-8",
          json.loads(hv.ok("get", "--json", "Guest/bad")),
          {"pool": 1, "pool_name": "Guest", "key": "bad", "value": "a\ufffdb\x1b"})
    d.stop()

    note = "hvkvpd is not running; reading the pool files in %s\n" % d.state
    for sock in (d.sock, "stale"):
        if sock == "stale":
            # A socket file nobody listens on, as a daemon killed with -9 leaves it.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(d.sock)
            s.close()
            what = "stale socket: "
        else:
            what = "no socket: "
        check(what + "get", hv("get", "External/ext1"), (0, b"v1\n", note))
        check(what + "get -p", hv("get", "-p", "3", "HostName"), (0, b"h1\n", note))
        check(what + "hostctl get", hv("Guest/g"), (0, b"1\n", note))
        check(what + "hostctl -q", hv("-q", "Guest/g"), (0, b"", note))
        check(what + "no such key", hv("get", "Guest/none"),
              (1, b"", note + "hvctl: no key none in pool Guest\n"))
        check(what + "escaped", hv("get", "Guest/Parameters/Ctl"),
              (0, CTL_ESCAPED + b"\n", note))
        check(what + "raw", hv("get", "-r", "Guest/Parameters/Ctl")[:2],
              (0, CTL.encode() + b"\n"))
        # The file's bytes as they are: not UTF-8, escaped in octal.
        check(what + "not UTF-8, escaped", hv("get", "Guest/bad"),
              (0, b"a\\377b\\033\n", note))
        check(what + "not UTF-8, raw", hv("get", "-r", "Guest/bad"),
              (0, b"a\xffb\x1b\n", note))
        check(what + "not UTF-8, JSON", json.loads(hv("get", "--json", "Guest/bad")[1]),
              {"pool": 1, "pool_name": "Guest", "key": "bad", "value": "a\\377b\\033",
               "escaped": True})
        # Read from the file, Auto holds only what was written to it.
        check(what + "Auto override", hv("get", "Auto/OSName")[:2], (0, b"Custom OS\n"))
        check(what + "Auto generated", hv("get", "Auto/OSVersion")[0], 1)
        check(what + "list", hv("list"), (0, b"External/ext1=v1\nGuest/g=1\n"
                                          b"Guest/bad=a\\377b\\033\nAuto/OSName=Custom OS\n"
                                          b"Guest/Parameters/HostName=h1\n"
                                          b"Guest/Parameters/Ctl=" + CTL_ESCAPED + b"\n",
                                          note))
        rc, o, e = hv("list", "--json", "Guest")
        check(what + "list --json", (rc, [json.loads(x)["key"] for x in o.splitlines()], e),
              (0, ["g", "bad"], note))
        check(what + "hostctl names", hv("Guest/")[:2], (0, b"g\nbad\n"))
        out = os.path.join(tmp, "out")
        check(what + "-o", hv("get", "-o", out, "Guest/g")[:2], (0, b""))
        check(what + "-o file", open(out, "rb").read(), b"1\n")
        check(what + "status", hv("status"), (0, b"hvkvpd: not running\n"
                                              b"pool 0 External: 1 records\n"
                                              b"pool 1 Guest: 2 records\n"
                                              b"pool 2 Auto: 1 records\n"
                                              b"pool 3 Guest/Parameters: 2 records\n"
                                              b"pool 4 Internal: 0 records\n", note))
        st = json.loads(hv("status", "--json")[1])
        check(what + "status --json", (st["running"], st["state_dir"],
                                       [p["records"] for p in st["pools"]]),
              (False, d.state, [1, 2, 1, 2, 0]))
        # Writes need the daemon: a clear message, exit 3, nothing written.
        msg = "hvctl: hvkvpd is not running (no server on %s): only get, list, watch " \
              "and status work without it\n" % d.sock
        for args in (["set", "Guest/x", "y"], ["delete", "Guest/g"], ["Guest/x", "y"],
                     ["set", "Auto/OSName", "x"], ["-i", "-", "Guest/x"]):
            check(what + " ".join(args), hv(*args, stdin=b"v"), (3, b"", msg))
        check(what + "nothing written",
              read_pool(os.path.join(d.state, ".kvp_pool_1")), [(b"g", b"1"),
                                                                (b"bad", b"a\xffb\x1b")])
        # Usage errors come before the socket.
        check(what + "bad pool", hv("get", "Nope/x")[0], 2)

    # watch on the files: another program's changes, found by reading again.
    w = Watcher(hv, "Guest")
    time.sleep(0.5)
    with open(os.path.join(d.state, ".kvp_pool_1"), "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(record(b"added", b"x\ty"))
    w.wait_line(lambda x: b"added" in x, what="a file change")
    with open(os.path.join(d.state, ".kvp_pool_3"), "ab") as f:
        f.write(record(b"other", b"pool"))
    with open(os.path.join(d.state, ".kvp_pool_1"), "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(2560)
    w.wait_line(lambda x: x.startswith(b"delete"), what="a file change")
    time.sleep(0.3)
    check("watch on the files", (w.end(signal.SIGTERM), w.output()),
          ((0, note), [b"set file Guest/added=x\\ty\n", b"delete file Guest/bad\n",
                       b"delete file Guest/added\n"]))

    # No pool files at all.
    nodir = Hvctl(d.sock, os.path.join(tmp, "nonexistent"))
    for args in (["get", "Guest/g"], ["list"], ["status"], ["watch"]):
        rc, o, e = nodir(*args)
        check("no state directory: " + " ".join(args), (rc, o), (3, b""))
        if "no pool files in" not in e:
            fail("no state directory: %s: stderr %r" % (args, e))


# --- an unprivileged user ---------------------------------------------------

def case_permissions(tmp):
    if os.geteuid() != 0:
        print("SKIP: setpriv needs root")
        sys.exit(77)
    d = Daemon(tmp, ["kvp set External e 1",
                     "kvp set Guest/Parameters HostName h1",
                     "kvp set Internal i 1",
                     "wait 120000"],
               ["--writer-group", "users", "--restrict-read", "external,4"])
    d.host_reply(3)
    root = Hvctl(d.sock, d.state)
    root.ok("set", "Guest/g", "1")
    root.ok("get", "External/e", out=b"1\n")
    root.ok("get", "Internal/i", out=b"1\n")
    nobody = Hvctl(d.sock, d.state, ["setpriv", "--reuid=nobody", "--regid=nogroup",
                                     "--clear-groups"])
    check("setpriv runs hvctl as nobody",
          subprocess.run(nobody.base[:4] + ["id", "-u"], capture_output=True,
                         text=True).stdout.strip(),
          str(int(subprocess.run(["id", "-u", "nobody"], capture_output=True,
                                 text=True).stdout)))

    # Reads are allowed, except of the restricted pools.
    nobody.ok("get", "Guest/g", out=b"1\n")
    nobody.ok("Guest/g", out=b"1\n")
    nobody.ok("get", "Guest/Parameters/HostName", out=b"h1\n")
    nobody.ok("get", "Auto/OSName")
    nobody.refused(1, "no key none in pool Guest", "get", "Guest/none")
    nobody.ok("list", "Guest", out=b"Guest/g=1\n")
    st = json.loads(nobody.ok("status", "--json"))
    check("status as nobody", st["running"], True)
    denied_read = "permission denied to read pool External: hvkvpd lets only root and its " \
                  "writer group read it"
    nobody.refused(3, denied_read, "get", "External/e")
    nobody.refused(3, denied_read, "External/e")
    nobody.refused(3, denied_read, "list", "External")
    nobody.refused(3, "permission denied to read pool Internal", "list", "4")
    nobody.refused(3, denied_read, "External/")
    nobody.refused(3, denied_read, "watch", "External")
    nobody.refused(3, denied_read, "watch", "External/e")
    # Every pool: those it may read are listed, the others refused.
    rc, o, e = nobody("list")
    check("list as nobody: exit status", rc, 3)
    check("list as nobody: the pools it reads", [x.split(b"/")[0] for x in o.splitlines()],
          [b"Guest"] + [b"Auto"] * 10 + [b"Guest"])
    if denied_read not in e or "permission denied to read pool Internal" not in e:
        fail("list as nobody: stderr %r" % e)

    # Writes are refused; a read-only pool says so first.
    denied_write = "permission denied to write pool Guest: writing the pools needs root " \
                   "or hvkvpd's writer group"
    nobody.refused(3, denied_write, "set", "Guest/g", "2")
    nobody.refused(3, denied_write, "Guest/g", "2")
    nobody.refused(3, denied_write, "-q", "Guest/g", "2")
    nobody.refused(3, denied_write, "set", "-i", "-", "Guest/g", stdin=b"2")
    nobody.refused(3, denied_write, "delete", "Guest/g")
    nobody.refused(3, "permission denied to write pool Auto", "set", "Auto/OSName", "x")
    nobody.refused(3, "permission denied to write pool Auto", "delete", "Auto/OSName")
    nobody.refused(3, "pool External is read-only", "set", "External/e", "x")
    root.ok("get", "Guest/g", out=b"1\n")

    # A watch of every pool leaves out what the user may not read.
    w = Watcher(nobody, "--json")
    w.probe(root)
    with open(os.path.join(d.state, ".kvp_pool_4"), "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(record(b"hidden", b"1"))
    root.ok("set", "Guest/last", "1")
    w.wait_line(lambda x: b"last" in x, what="the last change")
    check("watch as nobody", (w.end(signal.SIGTERM), [json.loads(x)["key"] for x in
                                                      w.output()]),
          ((0, ""), ["last"]))

    # A member of the writer group writes, and reads every pool.
    users = Hvctl(d.sock, d.state, ["setpriv", "--reuid=nobody", "--regid=nogroup",
                                    "--groups=users"])
    users.ok("set", "Guest/g", "3")
    users.ok("Guest/g", "4", out=b"4\n")
    users.ok("get", "External/e", out=b"1\n")
    users.ok("list", "4", out=b"Internal/i=1\nInternal/hidden=1\n")
    users.ok("set", "Auto/OSName", "Group OS")
    users.ok("delete", "Auto/OSName")
    users.ok("delete", "Guest/g")
    root.refused(1, "no key g", "get", "Guest/g")
    users.refused(3, "pool External is read-only", "set", "External/e", "x")
    d.stop()


CASES = {
    "commands": case_commands,
    "watch": case_watch,
    "fallback": case_fallback,
    "permissions": case_permissions,
}

if __name__ == "__main__":
    CASE, HVCTL, HVSIM, HVKVPD = sys.argv[1:5]
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hvctl-test-") as tmpdir:
        try:
            CASES[CASE](tmpdir)
        finally:
            for proc in PROCS:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    if failures:
        print("%s: %d failures" % (CASE, len(failures)), file=sys.stderr)
        sys.exit(1)
    print("%s: passed in %.2f s" % (CASE, time.monotonic() - start))
