#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hvkvpd's client socket, spoken to by hand as any third-party varlink
client would: a UNIX stream socket, JSON objects, a NUL after each.
hvsim plays the host on a temporary sim root.
usage: test-varlink.py CASE HVSIM HVKVPD VARLINK-FILE
       test-varlink.py client SOCKET CALLS-JSON   (one client, for setpriv)"""

import fcntl
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvptest import AUTO_KEYS, fail, read_pool, skip, stop, wait_for  # noqa: E402

KVP = "io.hvuio.Kvp."
DAEMONS = []
SVC = "org.varlink.service."


class Client:
    def __init__(self, path, timeout=10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, method, params=None, **flags):
        msg = {"method": method}
        if params is not None:
            msg["parameters"] = params
        msg.update(flags)
        self.send_raw(json.dumps(msg).encode() + b"\0")

    def recv(self):
        """The next message, or None when the daemon closed the connection."""
        while b"\0" not in self.buf:
            try:
                d = self.s.recv(1 << 16)
            except ConnectionResetError:
                return None
            if not d:
                return None
            self.buf += d
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg.decode("utf-8"))

    def call(self, method, params=None, **flags):
        self.send(method, params, **flags)
        r = self.recv()
        if r is None:
            fail("%s: connection closed" % method)
        return r

    def stream(self, method, params=None):
        self.send(method, params, more=True)
        out = []
        while True:
            r = self.recv()
            if r is None:
                fail("%s: connection closed mid-stream" % method)
            out.append(r)
            if not r.get("continues"):
                return out

    def closed(self, timeout=5.0):
        """True when the daemon closes the connection within the timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(1 << 16)
                if not d:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def expect(reply, error=None, params=None, what=""):
    if error is None:
        if "error" in reply:
            fail("%s: unexpected error %s" % (what, reply))
    elif reply.get("error") != error:
        fail("%s: expected %s, got %s" % (what, error, reply))
    if params is not None and reply.get("parameters") != params:
        fail("%s: expected parameters %s, got %s" % (what, params, reply.get("parameters")))
    return reply.get("parameters", {})


class Daemon:
    """hvsim on a fresh sim root playing SCRIPT, hvkvpd serving it."""

    def __init__(self, tmp, script, args=(), name="run"):
        self.dir = os.path.join(tmp, name)
        os.mkdir(self.dir)
        # Users other than root reach the socket in it.
        os.chmod(tmp, 0o755)
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "sock", "socket")
        spath = os.path.join(self.dir, "script")
        with open(spath, "w") as f:
            f.write(script)
        self.sim_err = open(os.path.join(self.dir, "hvsim.err"), "a+")
        self.sim = subprocess.Popen([HVSIM, "--root", self.root, "--script", spath, "--json",
                                     "--timeout", "30"],
                                    stdout=subprocess.PIPE, stderr=self.sim_err, text=True)
        self.lines = []          # (monotonic time, reply) as hvsim prints them
        self.lines_cv = threading.Condition()
        threading.Thread(target=self._read_host, daemon=True).start()
        wait_for(lambda: os.path.exists(os.path.join(self.root, "dev", "uio0")), 10,
                 "hvsim did not create its sim root")
        self.log = open(os.path.join(self.dir, "hvkvpd.log"), "a+")
        # Under AddressSanitizer freed memory waits in a quarantine, which
        # the RSS checks would count: keep it small.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"
        self.kvpd = subprocess.Popen([HVKVPD, "--backend", "sim", "--root", self.root,
                                      "--state-dir", self.state, "--socket", self.sock,
                                      "-n", "-d", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        DAEMONS.append(self)
        wait_for(self._ready, 10, "hvkvpd never served its socket")

    def kill(self):
        for p in (self.kvpd, self.sim):
            if p.poll() is None:
                p.kill()
                p.wait()

    def _ready(self):
        if self.kvpd.poll() is not None:
            fail("hvkvpd exited %d:\n%s" % (self.kvpd.returncode, self.logtext()))
        try:
            Client(self.sock, 1).close()
            return True
        except OSError:
            return False

    def _read_host(self):
        for line in self.sim.stdout:
            t = time.monotonic()
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            r.pop("request", None)
            r.pop("payload", None)
            with self.lines_cv:
                self.lines.append((t, r))
                self.lines_cv.notify_all()

    def wait_host(self, pred, timeout=20.0, what="host reply"):
        """The time and reply of the first host line that matches."""
        end = time.monotonic() + timeout
        with self.lines_cv:
            while True:
                for t, r in self.lines:
                    if pred(r):
                        return t, r
                left = end - time.monotonic()
                if left <= 0:
                    fail("hvsim never printed the %s:\n%s" % (what, self.lines[-5:]))
                self.lines_cv.wait(left)

    def set_index(self, nth):
        """Where the nth (from 1) SET of the script is in self.lines, or None."""
        n = 0
        for i, (_, r) in enumerate(self.lines):
            if r.get("op") == "set":
                n += 1
                if n == nth:
                    return i
        return None

    def wait_set(self, nth, timeout=20.0):
        """When hvsim had the answer to the nth SET of its script."""
        end = time.monotonic() + timeout
        with self.lines_cv:
            while True:
                i = self.set_index(nth)
                if i is not None:
                    if self.lines[i][1].get("status") != 0:
                        fail("SET %d of the script failed: %s" % (nth, self.lines[i][1]))
                    return self.lines[i][0]
                left = end - time.monotonic()
                if left <= 0:
                    fail("hvsim never printed SET %d: %s" % (nth, self.lines[-3:]))
                self.lines_cv.wait(left)

    def logtext(self):
        self.log.seek(0)
        return self.log.read()

    def rss_kib(self):
        with open("/proc/%d/status" % self.kvpd.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def alive(self):
        if self.kvpd.poll() is not None:
            fail("hvkvpd died (%d):\n%s" % (self.kvpd.returncode, self.logtext()))

    def finish(self):
        self.alive()
        rc = stop(self.kvpd)
        self.sim.kill()
        self.sim.wait()
        if rc != 0:
            fail("hvkvpd exited %d on SIGTERM:\n%s" % (rc, self.logtext()))
        if os.path.exists(self.sock):
            fail("the socket was left behind")
        log = self.logtext()
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer", "ThreadSanitizer"):
            if bad in log:
                fail("sanitizer report:\n" + log)
        return log


def host_script(*lines):
    return "".join(l + "\n" for l in lines)


# --- every method and every error -----------------------------------------

def case_methods(tmp):
    d = Daemon(tmp, host_script("kvp set External ext1 v1",
                                "kvp set Guest/Parameters HostName h1",
                                "wait 4000",
                                "kvp enumerate Auto",
                                "wait 60000"))
    d.wait_set(2)
    c = Client(d.sock)

    # Introspection.
    p = expect(c.call(SVC + "GetInfo"))
    if p.get("interfaces") != ["org.varlink.service", "io.hvuio.Kvp"] or p.get("product") != "hvkvpd":
        fail("GetInfo: %s" % p)
    p = expect(c.call(SVC + "GetInterfaceDescription", {"interface": "io.hvuio.Kvp"}))
    with open(VARLINK_FILE, encoding="utf-8") as f:
        if p["description"] != f.read():
            fail("the served description is not the .varlink file byte for byte")
    p = expect(c.call(SVC + "GetInterfaceDescription", {"interface": "org.varlink.service"}))
    if "interface org.varlink.service" not in p["description"]:
        fail("org.varlink.service description: %s" % p)
    expect(c.call(SVC + "GetInterfaceDescription", {"interface": "com.example.Nope"}),
           SVC + "InterfaceNotFound", {"interface": "com.example.Nope"})
    expect(c.call(KVP + "Nope"), SVC + "MethodNotFound", {"method": KVP + "Nope"})
    expect(c.call(SVC + "Nope"), SVC + "MethodNotFound", {"method": SVC + "Nope"})
    expect(c.call("com.example.Thing.Do"), SVC + "InterfaceNotFound",
           {"interface": "com.example.Thing"})
    expect(c.call(SVC + "GetInfo", {"x": 1}), SVC + "InvalidParameter", {"parameter": "x"})

    # Parameters: unknown, missing, of the wrong type.
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": "k", "bogus": "x"}),
           SVC + "InvalidParameter", {"parameter": "bogus"})
    expect(c.call(KVP + "Get", {"pool": "Guest"}), SVC + "InvalidParameter", {"parameter": "key"})
    expect(c.call(KVP + "Get", {"pool": 1, "key": "k"}), SVC + "InvalidParameter",
           {"parameter": "pool"})
    expect(c.call(KVP + "Set", {"pool": "Guest", "key": "k", "value": None}),
           SVC + "InvalidParameter", {"parameter": "value"})
    expect(c.call(KVP + "Get", [1]), SVC + "InvalidParameter", {"parameter": "parameters"})
    expect(c.call(KVP + "Status", {"pool": "x"}), SVC + "InvalidParameter", {"parameter": "pool"})

    # Pools by name in any case and by number; what the host set is read back.
    for name in ("External", "external", "EXTERNAL", "0"):
        expect(c.call(KVP + "Get", {"pool": name, "key": "ext1"}), None, {"value": "v1"}, name)
    expect(c.call(KVP + "Get", {"pool": "guest/parameters", "key": "HostName"}), None,
           {"value": "h1"})
    for bad in ("Nope", "5", "-1", "", "Guest\\Parameters"):
        expect(c.call(KVP + "Get", {"pool": bad, "key": "k"}), KVP + "NoSuchPool",
               {"pool": bad}, "pool " + bad)
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": "missing"}), KVP + "NoSuchKey",
           {"pool": 1, "key": "missing"})

    # Pools local programs may not write.
    for pool, n in (("External", 0), ("Guest/Parameters", 3), ("Internal", 4)):
        expect(c.call(KVP + "Set", {"pool": pool, "key": "k", "value": "v"}),
               KVP + "ReadOnlyPool", {"pool": n}, "Set " + pool)
        expect(c.call(KVP + "Delete", {"pool": pool, "key": "ext1"}),
               KVP + "ReadOnlyPool", {"pool": n}, "Delete " + pool)
    expect(c.call(KVP + "Get", {"pool": "External", "key": "ext1"}), None, {"value": "v1"})

    # Guest: set, read back, in the pool file, delete.
    expect(c.call(KVP + "Set", {"pool": "Guest", "key": "k1", "value": "välue ✓"}), None, {})
    expect(c.call(KVP + "Get", {"pool": "1", "key": "k1"}), None, {"value": "välue ✓"})
    if (b"k1", "välue ✓".encode()) not in read_pool(os.path.join(d.state, ".kvp_pool_1")):
        fail("Set did not reach .kvp_pool_1")
    expect(c.call(KVP + "Set", {"pool": "Guest", "key": "k1", "value": ""}), None, {})
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": "k1"}), None, {"value": ""})
    expect(c.call(KVP + "Delete", {"pool": "Guest", "key": "k1"}), None, {})
    expect(c.call(KVP + "Delete", {"pool": "Guest", "key": "k1"}), KVP + "NoSuchKey",
           {"pool": 1, "key": "k1"})
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": "k1"}), KVP + "NoSuchKey")

    # The host's limits, in UTF-16 units, and the files' in bytes.
    key_err = {"max_utf16_units": 254, "max_bytes": 511}
    val_err = {"max_utf16_units": 1022, "max_bytes": 2047}
    for key, ok in (("a" * 254, True), ("a" * 255, False), ("é" * 254, True),
                    ("€" * 170, True), ("€" * 171, False), ("😀" * 127, True),
                    ("😀" * 128, False)):
        r = c.call(KVP + "Set", {"pool": "Guest", "key": key, "value": "x"})
        expect(r, None if ok else KVP + "KeyTooLong", None if ok else key_err,
               "key of %d characters %r" % (len(key), key[0]))
        if ok:
            expect(c.call(KVP + "Get", {"pool": "Guest", "key": key}), None, {"value": "x"})
            expect(c.call(KVP + "Delete", {"pool": "Guest", "key": key}), None, {})
    for value, ok in (("v" * 1022, True), ("v" * 1023, False), ("€" * 682, True),
                      ("€" * 683, False), ("😀" * 511, True), ("😀" * 512, False)):
        r = c.call(KVP + "Set", {"pool": "Guest", "key": "long", "value": value})
        expect(r, None if ok else KVP + "ValueTooLong", None if ok else val_err,
               "value of %d characters %r" % (len(value), value[0]))
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": "long"}), None, {"value": "😀" * 511})
    expect(c.call(KVP + "Set", {"pool": "Guest", "key": "", "value": "x"}), KVP + "InvalidKey",
           {"reason": "empty"})
    expect(c.call(KVP + "Set", {"pool": "Guest", "key": "a\u0000b", "value": "x"}),
           KVP + "InvalidKey", {"reason": "contains NUL"})
    expect(c.call(KVP + "Set", {"pool": "Guest", "key": "nul", "value": "a\u0000b"}),
           KVP + "InvalidValue", {"reason": "contains NUL"})
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": ""}), KVP + "InvalidKey")

    # List: streaming in the order of the file, one reply per record.
    keys = ["rec%03d" % i for i in range(300)]
    for k in keys:
        expect(c.call(KVP + "Set", {"pool": "Guest", "key": k, "value": "v-" + k}))
    replies = c.stream(KVP + "List", {"pool": "Guest"})
    got = [r["parameters"]["record"]["key"] for r in replies]
    if got != ["long"] + keys:
        fail("List Guest: %d records, first %s" % (len(got), got[:3]))
    if any(not r.get("continues") for r in replies[:-1]) or "continues" in replies[-1]:
        fail("List: continues must be set on every reply but the last")
    if any(r["parameters"]["record"] != {"pool": 1, "key": k, "value": "v-" + k}
           for r, k in zip(replies[1:], keys)):
        fail("List: a record does not match what was set")
    expect(c.call(KVP + "List", {"pool": "Guest"}), None,
           {"record": {"pool": 1, "key": "long", "value": "😀" * 511}})
    expect(c.call(KVP + "List", {"pool": "Internal"}), None, {})
    r = c.stream(KVP + "List", {"pool": "Internal"})
    if r != [{"parameters": {}}]:
        fail("List of an empty pool with more: %s" % r)
    r = c.stream(KVP + "List", {"pool": "External"})
    if [x["parameters"]["record"]["key"] for x in r] != ["ext1"]:
        fail("List External: %s" % r)

    # Auto: generated values, a local override the host sees, restore.
    auto = c.stream(KVP + "List", {"pool": "Auto"})
    if [r["parameters"]["record"]["key"] for r in auto] != AUTO_KEYS:
        fail("List Auto: %s" % [r["parameters"]["record"]["key"] for r in auto])
    generated = {r["parameters"]["record"]["key"]: r["parameters"]["record"]["value"] for r in auto}
    expect(c.call(KVP + "Get", {"pool": "Auto", "key": "OSName"}), None,
           {"value": generated["OSName"]})
    expect(c.call(KVP + "Set", {"pool": "Auto", "key": "OSName", "value": "Custom OS"}), None, {})
    expect(c.call(KVP + "Get", {"pool": "Auto", "key": "OSName"}), None, {"value": "Custom OS"})
    auto2 = c.stream(KVP + "List", {"pool": "2"})
    if [r["parameters"]["record"]["value"] for r in auto2 if
            r["parameters"]["record"]["key"] == "OSName"] != ["Custom OS"]:
        fail("List Auto does not show the override")
    if (b"OSName", b"Custom OS") not in read_pool(os.path.join(d.state, ".kvp_pool_2")):
        fail("the override is not in .kvp_pool_2")
    expect(c.call(KVP + "Set", {"pool": "Auto", "key": "MyKey", "value": "x"}), KVP + "InvalidKey")
    expect(c.call(KVP + "Delete", {"pool": "Auto", "key": "MyKey"}), KVP + "NoSuchKey",
           {"pool": 2, "key": "MyKey"})
    _, r = d.wait_host(lambda r: r.get("op") == "enumerate" and r.get("pool") == 2 and
                       r.get("key") == "OSName", what="Auto enumeration")
    if r.get("value") != "Custom OS":
        fail("the host was not given the override: %s" % r)
    expect(c.call(KVP + "Delete", {"pool": "Auto", "key": "OSName"}), None, {})
    expect(c.call(KVP + "Get", {"pool": "Auto", "key": "OSName"}), None,
           {"value": generated["OSName"]})
    expect(c.call(KVP + "Delete", {"pool": "Auto", "key": "OSName"}), None, {})

    # Status.
    p = expect(c.call(KVP + "Status"))
    if (p["backend"] != "sim" or p["device"] != d.root or
            p["negotiated"] is None or not p["negotiated"]["framework"] or
            p["host_requests"] < 2 or p["clients"] < 1 or p["uptime_seconds"] < 0 or
            [x["name"] for x in p["pools"]] != ["External", "Guest", "Auto",
                                                "Guest/Parameters", "Internal"] or
            p["pools"][1]["records"] != 301 or p["pools"][2]["records"] != 10):
        fail("Status: %s" % p)

    # Watch needs more; oneway sends nothing; calls sent together are answered in order.
    expect(c.call(KVP + "Watch", {}), SVC + "ExpectedMore")
    c.send(KVP + "Set", {"pool": "Guest", "key": "ow", "value": "1"}, oneway=True)
    c.send(KVP + "Get", {"pool": "Guest", "key": "ow"})
    c.send(KVP + "Get", {"pool": "Guest", "key": "nope"})
    c.send(SVC + "GetInfo")
    expect(c.recv(), None, {"value": "1"}, "after a oneway Set")
    expect(c.recv(), KVP + "NoSuchKey")
    expect(c.recv(), None)
    c.close()
    d.finish()


# --- Watch ------------------------------------------------------------------

def case_watch(tmp):
    d = Daemon(tmp, host_script("kvp set External start 1",
                                "wait 2000",
                                "kvp set External w1 v1",
                                "kvp set Guest/Parameters other x",
                                "kvp delete External w1",
                                "wait 60000"))
    d.wait_set(1)
    every = Client(d.sock)
    every.send(KVP + "Watch", {}, more=True)
    expect(every.recv(), None, {}, "Watch's first reply")
    one = Client(d.sock)
    one.send(KVP + "Watch", {"pool": "External", "key": "w1"}, more=True)
    expect(one.recv(), None, {}, "Watch's first reply")
    guest = Client(d.sock)
    guest.send(KVP + "Watch", {"pool": "guest", "key": None}, more=True)
    expect(guest.recv(), None, {}, "Watch's first reply")

    t_host = d.wait_set(2)
    r = every.recv()
    t_watch = time.monotonic()
    if r != {"parameters": {"change": {"pool": 0, "key": "w1", "value": "v1", "origin": "host"}},
             "continues": True}:
        fail("Watch: host SET: %s" % r)
    lat = (t_watch - t_host) * 1000
    print("host SET seen by Watch %.1f ms after the host had its answer" % lat)
    if lat > 100:
        fail("Watch took %.1f ms" % lat)
    r = every.recv()
    if r["parameters"]["change"] != {"pool": 3, "key": "other", "value": "x", "origin": "host"}:
        fail("Watch: second host SET: %s" % r)
    r = every.recv()
    if r["parameters"]["change"] != {"pool": 0, "key": "w1", "origin": "host"}:
        fail("Watch: host DELETE: %s" % r)
    r1, r2 = one.recv(), one.recv()
    if (r1["parameters"]["change"]["value"] != "v1" or "value" in r2["parameters"]["change"]):
        fail("Watch of one key: %s %s" % (r1, r2))

    # Local writes, from another connection.
    w = Client(d.sock)
    expect(w.call(KVP + "Set", {"pool": "Guest", "key": "lk", "value": "lv"}))
    expect(w.call(KVP + "Delete", {"pool": "Guest", "key": "lk"}))
    expect(w.call(KVP + "Set", {"pool": "Auto", "key": "OSName", "value": "Mine"}))
    for c in (every, guest):
        r = c.recv()
        if r["parameters"]["change"] != {"pool": 1, "key": "lk", "value": "lv", "origin": "local"}:
            fail("Watch: local Set: %s" % r)
        r = c.recv()
        if r["parameters"]["change"] != {"pool": 1, "key": "lk", "origin": "local"}:
            fail("Watch: local Delete: %s" % r)
    r = every.recv()
    if r["parameters"]["change"] != {"pool": 2, "key": "OSName", "value": "Mine",
                                     "origin": "local"}:
        fail("Watch: Auto override: %s" % r)
    # The key watch saw nothing else: its next reply is the one we provoke now.
    one.s.settimeout(0.3)
    try:
        extra = one.s.recv(1 << 16)
        fail("Watch of one key got another key's change: %r" % extra)
    except socket.timeout:
        pass

    # Another program writing the pool file, as cloud-init does (flock,
    # append), then editing a record in place, then emptying the file.
    path = os.path.join(d.state, ".kvp_pool_1")

    def record(k, v):
        return k.encode().ljust(512, b"\0") + v.encode().ljust(2048, b"\0")

    with open(path, "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(record("ext", "fromfile"))
    for c in (every, guest):
        r = c.recv()
        if r["parameters"]["change"] != {"pool": 1, "key": "ext", "value": "fromfile",
                                         "origin": "file"}:
            fail("Watch: a record appended to the file: %s" % r)
    with open(path, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        data = f.read()
        f.seek(data.index(b"ext\0"))
        f.write(record("ext", "edited"))
    r = guest.recv()
    if r["parameters"]["change"] != {"pool": 1, "key": "ext", "value": "edited", "origin": "file"}:
        fail("Watch: a record edited in the file: %s" % r)
    with open(path, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
    r = guest.recv()
    if r["parameters"]["change"] != {"pool": 1, "key": "ext", "origin": "file"}:
        fail("Watch: a record removed from the file: %s" % r)
    for _ in range(2):
        every.recv()

    # A watcher that never reads: its Watch ends (ChangesLost) or it is
    # dropped, the others keep getting every change, memory stays bounded.
    lazy = Client(d.sock)
    lazy.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.send(KVP + "Watch", {}, more=True)
    time.sleep(0.1)
    rss0 = d.rss_kib()
    big = "x" * 1000
    drained = threading.Event()
    count = [0]

    def drain():
        while count[0] < 2000:
            r = every.recv()
            if r is None or r.get("error"):
                fail("the reading watcher lost its Watch: %s" % r)
            count[0] += 1
        drained.set()

    threading.Thread(target=drain, daemon=True).start()
    for i in range(1000):
        w.send(KVP + "Set", {"pool": "Guest", "key": "flood%d" % (i % 50), "value": big})
        w.send(KVP + "Delete", {"pool": "Guest", "key": "flood%d" % (i % 50)})
        expect(w.recv())
        expect(w.recv())
    if not drained.wait(20):
        fail("the reading watcher got %d of 2000 changes" % count[0])
    rss1 = d.rss_kib()
    print("RSS %d KiB before the lazy watcher, %d KiB after 2000 changes" % (rss0, rss1))
    if rss1 - rss0 > 16 * 1024:
        fail("memory grew by %d KiB for a watcher that does not read" % (rss1 - rss0))
    lazy.s.settimeout(5)
    data = b""
    try:
        while True:
            x = lazy.s.recv(1 << 20)
            if not x:
                break
            data += x
            if b"ChangesLost" in data:
                break
    except socket.timeout:
        pass
    if b"io.hvuio.Kvp.ChangesLost" not in data:
        fail("the lazy watcher was neither told ChangesLost nor dropped (%d bytes)" % len(data))
    expect(w.call(KVP + "Get", {"pool": "Auto", "key": "OSName"}), None, {"value": "Mine"})
    d.finish()


# --- hostile clients ----------------------------------------------------------

def case_hostile(tmp):
    d = Daemon(tmp, host_script("wait 60000"))
    good = Client(d.sock)
    expect(good.call(KVP + "Set", {"pool": "Guest", "key": "k", "value": "v"}))

    def closes(data, what):
        c = Client(d.sock)
        try:
            c.send_raw(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if not c.closed():
            fail(what + ": the connection stayed open")
        c.close()
        expect(good.call(KVP + "Get", {"pool": "Guest", "key": "k"}), None, {"value": "v"},
               "after " + what)

    closes(b"{nope\0", "invalid JSON")
    closes(b"\0", "an empty message")
    closes(b"[1,2]\0", "an array")
    closes(b'{"parameters":{}}\0', "no method")
    closes(b'{"method":7}\0', "a method that is not a string")
    closes(b'{"method":"io.hvuio.Kvp.Status"} trailing\0', "trailing bytes")
    closes(b'{"method":"io.hvuio.Kvp.Status","more":"yes"}\0', "more that is not a boolean")
    closes(b"[" * 100000 + b"\0", "deep nesting")
    closes(b'{"method":"' + b"x" * (70 * 1024) + b'"}\0', "a message over 64 KiB")
    closes(b"x" * (200 * 1024), "64 KiB without a NUL")

    # Invalid UTF-8 is refused by name, per parameter, and the connection goes on.
    c = Client(d.sock)
    c.send_raw(b'{"method":"io.hvuio.Kvp.Get","parameters":{"pool":"Guest","key":"a\xff"}}\0')
    expect(c.recv(), KVP + "InvalidKey", {"reason": "not valid UTF-8"})
    c.send_raw(b'{"method":"io.hvuio.Kvp.Set","parameters":{"pool":"Guest","key":"k2",'
               b'"value":"\xc0\x80"}}\0')
    expect(c.recv(), KVP + "InvalidValue", {"reason": "not valid UTF-8"})
    c.send_raw(b'{"method":"io.hvuio.Kvp.Set","parameters":{"pool":"Guest","key":"k2",'
               b'"value":"\xed\xa0\x80"}}\0')
    expect(c.recv(), KVP + "InvalidValue", {"reason": "not valid UTF-8"})
    c.send_raw(b'{"method":"io.hvuio.Kvp.Get","parameters":{"pool":"Gu\xffest","key":"k"}}\0')
    r = c.recv()
    expect(r, KVP + "NoSuchPool")
    c.send_raw(b'{"method":"io.hvuio.Kvp.G\xffet"}\0')
    expect(c.recv(), SVC + "MethodNotFound")
    expect(c.call(KVP + "Get", {"pool": "Guest", "key": "k"}), None, {"value": "v"})
    # A value another program wrote with bytes that are not UTF-8 still
    # makes a valid reply.
    with open(os.path.join(d.state, ".kvp_pool_1"), "ab") as f:
        f.write(b"raw".ljust(512, b"\0") + b"a\xffb".ljust(2048, b"\0"))
    time.sleep(0.2)
    r = c.stream(KVP + "List", {"pool": "Guest"})
    if r[-1]["parameters"]["record"] != {"pool": 1, "key": "raw", "value": "a\ufffdb"}:
        fail("a record that is not UTF-8: %s" % r[-1])
    c.close()

    # Clients that send and never read: the daemon stops reading them and
    # keeps serving the others, in bounded memory.
    rss0 = d.rss_kib()
    lazy = []
    req = json.dumps({"method": KVP + "List", "parameters": {"pool": "Auto"},
                      "more": True}).encode() + b"\0"
    for i in range(30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(d.sock)
        s.setblocking(False)
        sent = 0
        t_end = time.monotonic() + 0.3
        while time.monotonic() < t_end and sent < 4 << 20:
            try:
                sent += s.send(req * 64)
            except BlockingIOError:
                time.sleep(0.01)
        lazy.append(s)
    t0 = time.monotonic()
    expect(good.call(KVP + "Get", {"pool": "Guest", "key": "k"}), None, {"value": "v"})
    dt = (time.monotonic() - t0) * 1000
    rss1 = d.rss_kib()
    print("30 clients that never read: RSS %d -> %d KiB; another client answered in %.1f ms" %
          (rss0, rss1, dt))
    if rss1 - rss0 > 64 * 1024:
        fail("RSS grew by %d KiB" % (rss1 - rss0))
    if dt > 1000:
        fail("a reading client waited %.0f ms" % dt)
    for s in lazy:
        s.close()
    time.sleep(0.2)
    p = expect(good.call(KVP + "Status"))
    if p["clients"] != 1:
        fail("closed clients are still counted: %s" % p["clients"])
    d.finish()


# --- permissions -----------------------------------------------------------------

def as_user(sock, calls, groups=None):
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup"]
    cmd += ["--groups=" + groups] if groups else ["--clear-groups"]
    r = subprocess.run(cmd + [sys.executable, os.path.abspath(__file__), "client", sock,
                              json.dumps(calls)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail("client as nobody: %s" % r.stderr)
    return json.loads(r.stdout)


def client_main(sock, calls):
    c = Client(sock)
    out = []
    for m, p in json.loads(calls):
        if m == "watch":
            c.send(KVP + "Watch", p, more=True)
            out.append(c.recv())
            c.s.settimeout(3)
            try:
                while True:
                    r = c.recv()
                    if r is None:
                        break
                    out.append(r)
                    if r["parameters"]["change"]["key"] == "last":
                        break
            except socket.timeout:
                pass
        else:
            out.append(c.call(m, p))
    print(json.dumps(out))


def case_permissions(tmp):
    if os.geteuid() != 0:
        skip("setpriv needs root")
    d = Daemon(tmp, host_script("kvp set External e 1", "wait 60000"),
               ["--writer-group", "users", "--restrict-read", "external,1"])
    d.wait_set(1)
    root = Client(d.sock)
    expect(root.call(KVP + "Set", {"pool": "Guest", "key": "g", "value": "1"}))
    expect(root.call(KVP + "Get", {"pool": "External", "key": "e"}), None, {"value": "1"})
    st = os.stat(d.sock)
    if st.st_mode & 0o777 != 0o666 or os.stat(os.path.dirname(d.sock)).st_mode & 0o777 != 0o755:
        fail("socket mode %o, directory mode %o" %
             (st.st_mode & 0o777, os.stat(os.path.dirname(d.sock)).st_mode & 0o777))

    r = as_user(d.sock, [
        [KVP + "Get", {"pool": "Auto", "key": "OSName"}],
        [KVP + "Get", {"pool": "Guest/Parameters", "key": "x"}],
        [KVP + "Get", {"pool": "External", "key": "e"}],
        [KVP + "Get", {"pool": "Guest", "key": "g"}],
        [KVP + "List", {"pool": "1"}],
        [KVP + "Set", {"pool": "Guest", "key": "g", "value": "2"}],
        [KVP + "Delete", {"pool": "Guest", "key": "g"}],
        [KVP + "Set", {"pool": "Auto", "key": "OSName", "value": "x"}],
        [KVP + "Set", {"pool": "External", "key": "e", "value": "x"}],
        [KVP + "Watch", {"pool": "External"}],
        [KVP + "Status", {}],
    ])
    expect(r[0])
    expect(r[1], KVP + "NoSuchKey")
    expect(r[2], KVP + "PermissionDenied", {"operation": "read", "pool": 0})
    expect(r[3], KVP + "PermissionDenied", {"operation": "read", "pool": 1})
    expect(r[4], KVP + "PermissionDenied", {"operation": "read", "pool": 1})
    expect(r[5], KVP + "PermissionDenied", {"operation": "write", "pool": 1})
    expect(r[6], KVP + "PermissionDenied", {"operation": "write", "pool": 1})
    expect(r[7], KVP + "PermissionDenied", {"operation": "write", "pool": 2})
    expect(r[8], KVP + "ReadOnlyPool", {"pool": 0})
    # Watch needs more; as_user sends it without: the permission comes first.
    expect(r[9], KVP + "PermissionDenied", {"operation": "read", "pool": 0})
    expect(r[10])
    expect(root.call(KVP + "Get", {"pool": "Guest", "key": "g"}), None, {"value": "1"})

    # A member of the writer group writes and reads everything.
    r = as_user(d.sock, [
        [KVP + "Set", {"pool": "Guest", "key": "g", "value": "3"}],
        [KVP + "Get", {"pool": "External", "key": "e"}],
        [KVP + "Delete", {"pool": "Guest", "key": "g"}],
    ], groups="users")
    expect(r[0])
    expect(r[1], None, {"value": "1"})
    expect(r[2])

    # A reader's Watch of every pool leaves out the pools it may not read.
    p = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                          sys.executable, os.path.abspath(__file__), "client", d.sock,
                          json.dumps([["watch", {}]])], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    expect(root.call(KVP + "Set", {"pool": "Guest", "key": "hidden", "value": "1"}))
    expect(root.call(KVP + "Set", {"pool": "Auto", "key": "OSName", "value": "seen"}))
    expect(root.call(KVP + "Set", {"pool": "Auto", "key": "OSName", "value": "x"}))
    expect(root.call(KVP + "Delete", {"pool": "Auto", "key": "OSName"}))
    out, _ = p.communicate(timeout=10)
    changes = [x["parameters"].get("change") for x in json.loads(out)]
    if changes[0] is not None or [c["key"] for c in changes[1:]] != ["OSName"] * 3:
        fail("a reader's Watch: %s" % changes)
    d.finish()


# --- many clients, and the host during a flood ----------------------------

def percentile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def case_flood(tmp):
    n_rtt = 200
    d = Daemon(tmp, host_script("kvp set External start 1",
                                *["kvp get External start"] * n_rtt,
                                "kvp set External flood 1",
                                "wait 1500",
                                *["kvp get External start"] * n_rtt,
                                "kvp set External done 1",
                                "wait 60000"))
    conns = [Client(d.sock) for _ in range(300)]
    # Every one of them is served, at once.
    for i, c in enumerate(conns):
        c.send(KVP + "Set", {"pool": "Guest", "key": "c%d" % i, "value": str(i)})
    for c in conns:
        expect(c.recv())
    p = expect(conns[0].call(KVP + "Status"))
    if p["clients"] < 300:
        fail("Status counts %d clients" % p["clients"])

    def rtts(lo, hi, skip):
        """Round trips of the GETs between the SETs number lo and hi
        (skip: lines after lo that end a wait, not a round trip)."""
        with d.lines_cv:
            i0, i1 = d.set_index(lo), d.set_index(hi)
            t = [x[0] for x in d.lines]
        return [(t[i + 1] - t[i]) * 1000 for i in range(i0 + skip, i1)]

    d.wait_set(2, 30)
    before = rtts(1, 2, 0)
    stop_flag = threading.Event()
    served = [0]
    sel = selectors.DefaultSelector()
    msgs = [json.dumps({"method": KVP + m, "parameters": p}).encode() + b"\0" for m, p in (
        ("Get", {"pool": "Guest", "key": "c1"}),
        ("Status", {}),
        ("Set", {"pool": "Guest", "key": "flood", "value": "x" * 500}),
        ("List", {"pool": "Guest"}))]

    def flood():
        for i, c in enumerate(conns):
            c.s.setblocking(False)
            sel.register(c.s, selectors.EVENT_READ, c)
            c.s.send(msgs[i % len(msgs)] * 4)
        while not stop_flag.is_set():
            for key, _ in sel.select(0.1):
                c = key.data
                try:
                    data = c.s.recv(1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    fail("the daemon closed a flooding client")
                n = data.count(b"\0")
                if b'"error"' in data:
                    fail("a flooding client got an error: %r" % data[:200])
                served[0] += n
                try:
                    c.s.send(msgs[served[0] % len(msgs)] * n)
                except BlockingIOError:
                    pass

    th = threading.Thread(target=flood, daemon=True)
    t0 = time.monotonic()
    th.start()
    d.wait_set(3, 60)
    stop_flag.set()
    th.join()
    dt = time.monotonic() - t0
    during = rtts(2, 3, 1)
    print("host round trip before: median %.2f ms, p99 %.2f ms, max %.2f ms (%d requests)" %
          (statistics.median(before), percentile(before, 0.99), max(before), len(before)))
    print("host round trip during a flood of 300 clients: median %.2f ms, p99 %.2f ms, "
          "max %.2f ms (%d requests); %d client calls answered in %.1f s" %
          (statistics.median(during), percentile(during, 0.99), max(during), len(during),
           served[0], dt))
    if served[0] < 1000:
        fail("the flood was not served: %d calls" % served[0])
    if max(during) > 1000 or percentile(during, 0.99) > 200:
        fail("the host waited too long during the flood")
    d.alive()
    for c in conns:
        c.close()
    d.finish()


# --- systemd: socket activation and readiness ------------------------------

def case_systemd(tmp):
    """hvkvpd serves the listening socket systemd passes (LISTEN_FDS, fd 3)
    and says READY=1 on NOTIFY_SOCKET once it serves and STOPPING=1 when it
    stops, to a path and to an abstract socket, without libsystemd."""
    ldd = subprocess.run(["ldd", HVKVPD], capture_output=True, text=True).stdout
    if "libsystemd" in ldd:
        fail("hvkvpd links libsystemd:\n" + ldd)
    for kind in ("path", "abstract"):
        sub = os.path.join(tmp, kind)
        os.mkdir(sub)
        systemd_run(sub, kind == "abstract")


def start_sim_with_key(tmp):
    """hvsim on a sim root in tmp, its host having set External e=1."""
    script = os.path.join(tmp, "script")
    with open(script, "w") as f:
        f.write("kvp set External e 1\nwait 60000\n")
    root = os.path.join(tmp, "root")
    sim = subprocess.Popen([HVSIM, "--root", root, "--script", script, "--json"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(os.path.join(root, "dev", "uio0")), 10,
                 "hvsim did not create its sim root")
    except BaseException:
        sim.kill()
        sim.wait()
        raise
    return sim, root


def check_passed_socket(path, unused, kvpd, log):
    """The daemon serves the socket it was passed at path, makes none at
    --socket (unused), and exits 0 on SIGTERM."""
    c = Client(path)
    # Ready means serving clients; the host's device may come later.
    wait_for(lambda: expect(c.call(KVP + "Status"))["backend"] == "sim", 10,
             "Status through the passed socket never named the sim backend")

    def host_key_set():
        """The host's SET of External e has been answered (it may follow the open)."""
        r = c.call(KVP + "Get", {"pool": "External", "key": "e"})
        if r.get("error") == KVP + "NoSuchKey":
            return False
        expect(r, None, {"value": "1"}, "Get External e")
        return True
    wait_for(host_key_set, 10, "the host's External e never arrived through the passed socket")
    c.close()
    if os.path.exists(unused):
        fail("--socket was created although the socket was passed")
    rc = stop(kvpd)
    if rc != 0:
        log.seek(0)
        fail("hvkvpd exited %d:\n%s" % (rc, log.read()))


def systemd_run(tmp, abstract):
    sim, root = start_sim_with_key(tmp)
    try:
        path = os.path.join(tmp, "activated")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        lsock.listen(16)
        # An abstract name is "@" in NOTIFY_SOCKET, a leading NUL in bind().
        npath = ("@hvkvpd-test-%d-%s" % (os.getpid(), os.path.basename(tmp)) if abstract
                 else os.path.join(tmp, "notify"))
        nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        nsock.bind("\0" + npath[1:] if abstract else npath)
        nsock.settimeout(10)
        unused = os.path.join(tmp, "unused", "socket")

        def as_fd3():
            os.dup2(lsock.fileno(), 3)
            os.set_inheritable(3, True)

        env = dict(os.environ, NOTIFY_SOCKET=npath, LISTEN_FDS="1")
        log = open(os.path.join(tmp, "hvkvpd.log"), "w+")
        # LISTEN_PID is the daemon's own pid: the shell's, which exec keeps.
        kvpd = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", HVKVPD,
                                 "--backend", "sim", "--root", root,
                                 "--state-dir", os.path.join(tmp, "state"),
                                 "--socket", unused, "-n"],
                                env=env, preexec_fn=as_fd3, close_fds=False,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                msg = nsock.recv(4096).decode()
            except socket.timeout:
                log.seek(0)
                fail("no READY=1 on NOTIFY_SOCKET:\n" + log.read())
            if "READY=1" not in msg.split("\n"):
                fail("sd_notify sent %r" % msg)
            lsock.close()   # only the daemon's copy is left
            check_passed_socket(path, unused, kvpd, log)
            states = []
            nsock.settimeout(0)
            try:
                while True:
                    states += nsock.recv(4096).decode().split("\n")
            except BlockingIOError:
                pass
            if "STOPPING=1" not in states:
                fail("no STOPPING=1 after READY=1, only %r" % states)
            if not os.path.exists(path):
                fail("the socket systemd passed was removed")
        finally:
            if kvpd.poll() is None:
                kvpd.kill()
                kvpd.wait()
    finally:
        sim.kill()
        sim.wait()


def listening(path):
    """Whether a socket bound to path listens (__SO_ACCEPTCON in /proc/net/unix)."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            if len(cols) >= 8 and cols[7] == path and int(cols[3], 16) & 0x10000:
                return True
    return False


def case_socket_activate(tmp):
    """systemd's own socket activation helper, systemd-socket-activate(1),
    passes the listening socket (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) and
    starts hvkvpd on the first connection, which hvkvpd then serves."""
    activate = shutil.which("systemd-socket-activate")
    if not activate:
        skip("systemd-socket-activate is not installed")
    sim, root = start_sim_with_key(tmp)
    try:
        path = os.path.join(tmp, "activated")
        unused = os.path.join(tmp, "unused", "socket")
        log = open(os.path.join(tmp, "activate.log"), "w+")
        act = subprocess.Popen([activate, "-l", path, "--fdname=varlink", HVKVPD,
                                "--backend", "sim", "--root", root,
                                "--state-dir", os.path.join(tmp, "state"),
                                "--socket", unused, "-n"],
                               stdout=log, stderr=subprocess.STDOUT)
        try:
            # bind() makes the path before listen(): wait for the listening state.
            wait_for(lambda: listening(path), 10, "systemd-socket-activate did not listen")
            check_passed_socket(path, unused, act, log)
        finally:
            if act.poll() is None:
                act.kill()
                act.wait()
    finally:
        sim.kill()
        sim.wait()

CASES = {
    "systemd": case_systemd,
    "socket-activate": case_socket_activate,
    "methods": case_methods,
    "watch": case_watch,
    "hostile": case_hostile,
    "permissions": case_permissions,
    "flood": case_flood,
}

if __name__ == "__main__":
    if sys.argv[1] == "client":
        client_main(sys.argv[2], sys.argv[3])
        sys.exit(0)
    CASE, HVSIM, HVKVPD, VARLINK_FILE = sys.argv[1:5]
    with tempfile.TemporaryDirectory(prefix="hvkvpd-varlink-") as tmp:
        start = time.monotonic()
        try:
            CASES[CASE](tmp)
        finally:
            for d in DAEMONS:
                d.kill()
        print("%s: passed in %.2f s" % (CASE, time.monotonic() - start))
