#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hvctl's key commands: the pool-file fallback, the hostctl form,
escaping, -i/-o, argument errors and exit statuses, and the varlink client
against an in-test server that speaks io.hvuio.Kvp as the interface file
describes it, and against one that breaks it, which the real hvkvpd never
does (tests/hvctl runs hvctl against the real daemon).
usage: test-hvctl-keys.py HVCTL"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HVCTL = sys.argv[1]
NAMES = ["External", "Guest", "Auto", "Guest/Parameters", "Internal"]
failed = []


def rec(k, v):
    return k.ljust(512, b"\0") + v.ljust(2048, b"\0")


def run(*args, stdin=None):
    r = subprocess.run([HVCTL, *args], input=stdin, capture_output=True, timeout=20)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def check(name, got, want):
    if got != want:
        failed.append(name)
        print("FAIL: %s: got %r, want %r" % (name, got, want), file=sys.stderr)


class Server(threading.Thread):
    """Pools in memory; Guest and Auto writable, as the interface says."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.pools = {0: [(b"Host", b"h1")], 1: [(b"k", b"v")], 2: [], 3: [], 4: []}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.calls = []
        self.broken = False

    def pool(self, name):
        for i, n in enumerate(NAMES):
            if name.lower() == n.lower() or name == str(i):
                return i
        return None

    def handle(self, msg):
        m, p = msg["method"], msg.get("parameters", {})
        self.calls.append((m, p))
        pool = self.pool(p.get("pool", "0"))
        err = lambda e, **kw: [{"error": "io.hvuio.Kvp." + e, "parameters": kw}]
        if pool is None:
            return err("NoSuchPool", pool=p.get("pool"))
        recs = self.pools[pool]
        key = p.get("key", "").encode()
        if m == "io.hvuio.Kvp.Get":
            for k, v in recs:
                if k == key:
                    return [{"parameters": {"value": v.decode()}}]
            return err("NoSuchKey", pool=pool, key=p["key"])
        if m == "io.hvuio.Kvp.Set":
            if pool not in (1, 2):
                return err("ReadOnlyPool", pool=pool)
            if len(p["value"]) > 1022:
                return err("ValueTooLong", max_utf16_units=1022, max_bytes=2047)
            val = p["value"].encode()
            for i, (k, v) in enumerate(recs):
                if k == key:
                    recs[i] = (k, val)
                    break
            else:
                recs.append((key, val))
            return [{"parameters": {}}]
        if m == "io.hvuio.Kvp.Delete":
            for i, (k, v) in enumerate(recs):
                if k == key:
                    del recs[i]
                    return [{"parameters": {}}]
            return err("NoSuchKey", pool=pool, key=p["key"])
        if m == "io.hvuio.Kvp.List":
            if self.broken:
                # A reply without a record in the middle of a stream.
                return [{"parameters": {"record": {"pool": pool, "key": "a", "value": "b"}},
                         "continues": True}, {"parameters": {}, "continues": True},
                        {"parameters": {}}]
            if not recs:
                return [{"parameters": {}}]
            out = [{"parameters": {"record": {"pool": pool, "key": k.decode(), "value": v.decode()}},
                    "continues": True} for k, v in recs]
            del out[-1]["continues"]
            return out
        if m == "io.hvuio.Kvp.Status":
            return [{"parameters": {"version": "9.9", "backend": "sim", "device": None,
                                    "negotiated": {"framework": "3.0", "message": "4.0"},
                                    "host_requests": 7, "clients": 1, "uptime_seconds": 5,
                                    "pools": [{"pool": i, "name": n, "records": len(self.pools[i])}
                                              for i, n in enumerate(NAMES)]}}]
        if m == "io.hvuio.Kvp.Watch":
            # The first reply has no change; a reply without one later is malformed.
            return [{"parameters": {}, "continues": True},
                    {"parameters": {"change": {"pool": 1, "key": "k", "value": "new\x1b[2J",
                                               "origin": "host"}}, "continues": True},
                    {"parameters": {"change": {"pool": 1, "key": "k", "value": None,
                                               "origin": "local"}}, "continues": True},
                    {"parameters": {}, "continues": True} if self.broken else
                    {"error": "io.hvuio.Kvp.ChangesLost", "parameters": {"queued_bytes": 300000}}]
        return [{"error": "org.varlink.service.MethodNotFound", "parameters": {"method": m}}]

    def run(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        while True:
            d = c.recv(65536)
            if not d:
                return
            buf += d
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                for r in self.handle(json.loads(raw)):
                    if r is None:
                        c.close()
                        return
                    c.sendall(json.dumps(r).encode() + b"\0")


with tempfile.TemporaryDirectory(prefix="hvuio-keys-") as tmp:
    st = os.path.join(tmp, "st")
    os.mkdir(st)
    nosock = ["--socket", os.path.join(tmp, "nosock"), "--state-dir", st]
    with open(os.path.join(st, ".kvp_pool_1"), "wb") as f:
        f.write(rec(b"foo", b"bar") + rec(b"ctl", b"a\x07b\nc\\d\x1b[31m\xff")
                + rec(b"foo", b"second") + rec(b"K" * 512, b"full") + b"partial")
    with open(os.path.join(st, ".kvp_pool_3"), "wb") as f:
        f.write(rec(b"HostName", b"host1") + rec("Ünï".encode(), "é\u0085".encode()))
    note = "hvkvpd is not running; reading the pool files in %s\n" % st

    # Fallback: reads work and say so; the first record of a key wins.
    check("get", run(*nosock, "get", "Guest/foo"), (0, b"bar\n", note))
    check("get any case, number", run(*nosock, "get", "-p", "1", "foo")[:2], (0, b"bar\n"))
    check("get guest", run(*nosock, "get", "gUeSt/foo")[:2], (0, b"bar\n"))
    check("escaped", run(*nosock, "get", "Guest/ctl")[1], b"a\\ab\\nc\\\\d\\033[31m\\377\n")
    check("raw", run(*nosock, "get", "-r", "Guest/ctl")[1], b"a\x07b\nc\\d\x1b[31m\xff\n")
    check("utf-8 kept, C1 escaped", run(*nosock, "get", "Guest/Parameters/Ünï")[1],
          "é".encode() + b"\\302\\205\n")
    check("512-byte key", run(*nosock, "get", "-p", "Guest", "K" * 511)[0], 1)
    check("no key", run(*nosock, "get", "Guest/none")[0], 1)
    check("list", run(*nosock, "list", "Guest/Parameters")[1],
          "Guest/Parameters/HostName=host1\nGuest/Parameters/Ünï=é\\302\\205\n".encode())
    rc, out, _ = run(*nosock, "list", "--json")
    recs = [json.loads(line) for line in out.splitlines()]
    check("list --json", (rc, len(recs), recs[0]),
          (0, 6, {"pool": 1, "pool_name": "Guest", "key": "foo", "value": "bar"}))
    check("status", run(*nosock, "status")[1].splitlines()[:3],
          [b"hvkvpd: not running", b"pool 0 External: 0 records", b"pool 1 Guest: 4 records"])
    # hostctl's form.
    check("hostctl read", run(*nosock, "Guest/Parameters/HostName"), (0, b"host1\n", note))
    check("hostctl names", run(*nosock, "guest/")[1], b"foo\nctl\nfoo\n" + b"K" * 512 + b"\n")
    check("hostctl -q", run(*nosock, "-q", "Guest/foo")[:2], (0, b""))
    out = os.path.join(tmp, "out")
    check("-o", run(*nosock, "-o", out, "Guest/ctl")[:2], (0, b""))
    check("-o file", open(out, "rb").read(), b"a\\ab\\nc\\\\d\\033[31m\\377\n")
    # Writes need the daemon; errors and usage.
    check("set no daemon", run(*nosock, "set", "Guest/x", "y")[0], 3)
    check("hostctl write no daemon", run(*nosock, "Guest/x", "y")[0], 3)
    check("bad pool", run(*nosock, "get", "Nope/x")[0], 2)
    check("no slash", run(*nosock, "get", "x")[0], 2)
    check("empty key", run(*nosock, "get", "Guest/")[0], 2)
    check("long key", run(*nosock, "get", "-p", "1", "k" * 512)[0], 2)
    check("no state dir", run("--socket", "/nonexistent/s", "--state-dir", "/nonexistent",
                              "get", "Guest/x")[0], 3)
    check("usage", run("get")[0], 2)
    check("unknown option", run("list", "-z")[0], 2)
    check("-i on get", run("get", "-i", "x", "Guest/k")[0], 2)
    check("extra arg", run("Guest/a", "b", "c")[0], 2)
    check("unknown command", run("frobnicate")[0], 2)

    # The varlink client.
    path = os.path.join(tmp, "sock")
    srv = Server(path)
    srv.start()
    vs = ["--socket", path, "--state-dir", "/nonexistent"]
    check("v get", run(*vs, "get", "Guest/k"), (0, b"v\n", ""))
    check("v get json", json.loads(run(*vs, "get", "--json", "Guest/k")[1]),
          {"pool": 1, "pool_name": "Guest", "key": "k", "value": "v"})
    check("v nosuchkey", run(*vs, "get", "Guest/none")[0], 1)
    check("v set", run(*vs, "set", "Guest/n", "1")[:2], (0, b""))
    check("v set readonly", run(*vs, "set", "External/n", "1")[0], 3)
    check("v set too long", run(*vs, "set", "Guest/n", "x" * 1500)[0], 3 - 1)
    check("v hostctl set", run(*vs, "auto/fqdn", "h.example")[:2], (0, b"h.example\n"))
    check("v hostctl set -q", run(*vs, "-q", "Guest/q", "1")[:2], (0, b""))
    vin = os.path.join(tmp, "in")
    open(vin, "wb").write(b"first\nsecond\n")
    check("v -i", run(*vs, "set", "-i", vin, "Guest/i")[0], 0)
    check("v -i value", srv.pools[1][-1], (b"i", b"first"))
    check("v -r -i", run(*vs, "set", "-r", "-i", vin, "Guest/i")[0], 0)
    check("v -r -i value", srv.pools[1][-1], (b"i", b"first\nsecond"))
    check("v -i stdin", run(*vs, "set", "-i", "-", "Guest/s", stdin=b"from stdin\n")[0], 0)
    check("v -i stdin value", srv.pools[1][-1], (b"s", b"from stdin"))
    check("v -i NUL", run(*vs, "set", "-i", "-", "Guest/s", stdin=b"a\0b")[0], 2)
    check("v delete", run(*vs, "delete", "Guest/n")[0], 0)
    check("v delete again", run(*vs, "delete", "Guest/n")[0], 1)
    check("v list", run(*vs, "list")[:2], (0, b"External/Host=h1\nGuest/k=v\nGuest/q=1\n"
          b"Guest/i=first\\nsecond\nGuest/s=from stdin\nAuto/fqdn=h.example\n"))
    check("v status", run(*vs, "status")[1].splitlines()[0], b"hvkvpd 9.9, backend sim")
    check("v status json", json.loads(run(*vs, "status", "--json")[1])["host_requests"], 7)
    check("v watch", run(*vs, "watch", "Guest"),
          (3, b"set host Guest/k=new\\033[2J\ndelete local Guest/k\n",
           "hvctl: hvkvpd ended the watch: changes were lost while 300000 bytes of them "
           "waited to be read\n"))
    check("v watch pool param", srv.calls[-1], ("io.hvuio.Kvp.Watch", {"pool": "Guest"}))
    check("v pool sent", srv.calls[0], ("io.hvuio.Kvp.Get", {"pool": "Guest", "key": "k"}))
    check("v list empty", run(*vs, "list", "Guest/Parameters"), (0, b"", ""))
    check("v too long bytes", run(*vs, "set", "Guest/n", "x" * 1500)[2],
          "hvctl: value too long: the host takes at most 1022 UTF-16 units and 2047 bytes\n")
    srv.broken = True
    check("v list malformed", run(*vs, "list", "Guest"),
          (3, b"Guest/a=b\n", "hvctl: malformed reply from %s: no record\n" % path))
    check("v watch malformed", run(*vs, "watch")[::2],
          (3, "hvctl: malformed change from %s\n" % path))

    # watch on the files: a change made by another program is printed.
    p = subprocess.Popen([HVCTL, *nosock, "watch", "Guest/Parameters"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    time.sleep(0.5)
    with open(os.path.join(st, ".kvp_pool_3"), "ab") as f:
        f.write(rec(b"added", b"x"))
    time.sleep(0.3)
    with open(os.path.join(st, ".kvp_pool_3"), "r+b") as f:
        f.write(rec(b"HostName", b"host2"))
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    o, _ = p.communicate(timeout=10)
    check("file watch", (p.returncode, o), (0, b"set file Guest/Parameters/added=x\n"
                                    b"set file Guest/Parameters/HostName=host2\n"))

sys.exit(1 if failed else 0)
