#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Crash consistency of hvkvpd: SIGKILL at random moments, hundreds of times.

Each cycle hvsim plays the host with a script of SETs of new keys (appends),
SETs of existing keys (in-place updates) and DELETEs (the later records
shifted up in the file) on pools 0, 3 and 1, while a writer process appends
records to pool 1 under flock(LOCK_EX) the way cloud-init's reporting handler
does. hvkvpd is killed with SIGKILL once it has answered a random number of
requests, once the writer has appended a random number of records, after a
random delay, or inside a DELETE (timed by hvkvpd's intent file, which names
the write in progress; the checks never read it); half the runs use --sync
always, whose fdatasync calls widen the windows between the steps of a
write. Right after the kill, before anything restarts, the files are checked
as another program reads them, against a model of what the host was told:

  - every file is whole records that Linux's hv_kvp_daemon reads: key and
    value NUL-terminated or filling their field, UTF-8, key not empty (a
    torn record fails here);
  - the host's records are exactly those acknowledged, in Linux's order,
    with the one request in flight applied or not; no deleted key; the one
    leftover allowed is a record doubled next to itself by a kill in the
    middle of a DELETE's shift;
  - every record the writer finished is there, once (or doubled so), in the
    order written.

hvkvpd is then started again on the same state directory (a third of the
restarts are killed once more while they open, and the writer sometimes
appends while no hvkvpd runs), and the same rules are checked with no
leftover allowed at all: the doubled record is gone. The state carries over
from cycle to cycle. At the end hvkvpd is stopped cleanly and an independent
reader applies Linux's rules to every file once more.

usage: crash-test.py HVSIM HVKVPD [--seed N] [--cycles N] [--keep] [-v]
"""

import argparse
import fcntl
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hvkvpd"))
from kvptest import (CHILDREN, HV_S_CONT, HV_S_OK, KEY_FIELD, RECORD,  # noqa: E402
                     VALUE_FIELD, reap, spawn, stop)

POOL_NAMES = {0: "External", 1: "Guest", 3: "Guest/Parameters"}
HOST_POOLS = (0, 3, 1)
KEYS_PER_POOL = 24
MUTATIONS = 240
# hvkvpd's intent file (lib/kvp/poolfile.c): "HVKJ", then the kind of write
# in progress, 3 for a DELETE. Read only to time kills inside deletes.
JMAGIC = 0x4a4b5648
J_DELETE = 3

ARGS = None
TMP = None
RNG = None


def fail(msg):
    print("FAIL (seed %d): %s" % (ARGS.seed, msg), file=sys.stderr)
    print("replay: %s %s %s --seed %d --cycles %d" %
          (sys.argv[0], ARGS.hvsim, ARGS.hvkvpd, ARGS.seed, ARGS.cycles), file=sys.stderr)
    if TMP:
        print("files kept in " + TMP, file=sys.stderr)
    reap()
    sys.exit(1)


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            fail(what)
        time.sleep(0.0005)


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
    except OSError:
        return ""


# --- Linux's reader -------------------------------------------------------

class BadFile(Exception):
    pass


def field(raw, what, off):
    """A field as hv_kvp_daemon reads it: up to the first NUL, or the whole
    field when it has none (cloud-init writes a 512-byte key so); UTF-8,
    since the kernel converts it to UTF-16 for the host (utf8s_to_utf16s)."""
    s = raw.split(b"\0", 1)[0]
    try:
        return s.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadFile("record %d: %s is not UTF-8: %s" % (off // RECORD, what, e))


def linux_records(data):
    """Records of a pool file's bytes by the rules of Linux's
    tools/hv/hv_kvp_daemon.c (kvp_update_mem_state freads whole struct
    kvp_record of 512 + 2048 bytes). Raises BadFile for what a reader would
    get wrong: a partial record, a field that is not UTF-8, an empty key
    (a record that was never written: no writer produces one)."""
    if len(data) % RECORD:
        raise BadFile("%d bytes, not a multiple of %d" % (len(data), RECORD))
    out = []
    for off in range(0, len(data), RECORD):
        k = field(data[off:off + KEY_FIELD], "key", off)
        v = field(data[off + KEY_FIELD:off + RECORD], "value", off)
        if not k:
            raise BadFile("record %d has an empty key" % (off // RECORD))
        out.append((k, v))
    return out


def pool_path(n):
    return os.path.join(TMP, "state", ".kvp_pool_%d" % n)


def snapshot(n):
    """The bytes of pool n under flock(LOCK_EX), as cloud-init reads it, so
    that a record the writer is appending is either all there or not."""
    try:
        with open(pool_path(n), "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            return f.read()
    except FileNotFoundError:
        return b""


# --- the writer: cloud-init's way of appending ---------------------------

def writer_record(n):
    """Key and value of the writer's record n: the key is unique, some fill
    the whole 512-byte key field (cloud-init cuts longer keys there without a
    NUL), some values fill the whole 2048-byte field."""
    key = "W%06d|CLOUD_INIT|start|init-local|%d" % (n, n * 7919 % 10007)
    if n % 9 == 4:
        key += "|" + "k" * (KEY_FIELD - 1 - len(key.encode()))
    value = '{"name":"init-%d","type":"start","msg":"Grüße %s"}' % (n, "m" * (n * 31 % 400))
    if n % 13 == 6:
        value += "v" * (VALUE_FIELD - len(value.encode()))
    return key, value


def writer_main(path, seed):
    """The writer process: appends as cloudinit/reporting/handlers.py
    HyperVKvpReportingHandler does (open "ab", flock LOCK_EX, write, flush,
    close), as many records as each line of stdin asks, and reports each
    one once it is written and unlocked."""
    rng, n = random.Random(seed), 0
    for line in sys.stdin:
        for _ in range(int(line)):
            k, v = writer_record(n)
            rec = struct.pack("512s2048s", k.encode("utf-8"), v.encode("utf-8"))
            with open(path, "ab") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                f.write(rec)
                f.flush()
            sys.stdout.write("%d\n" % n)
            sys.stdout.flush()
            n += 1
            time.sleep(rng.random() * 0.002)


class Writer:
    """One process for the whole test, told how many records to append next;
    it reports each record once it is written and unlocked."""

    def __init__(self, seed):
        self.p = spawn([sys.executable, os.path.abspath(__file__), "--writer", pool_path(1),
                        str(seed)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=open(os.path.join(TMP, "writer.err"), "w"), text=True)
        self.done = []
        self.asked = 0
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.done.append(int(line))

    def ask(self, n):
        if n:
            self.asked += n
            self.p.stdin.write("%d\n" % n)
            self.p.stdin.flush()

    def finished(self):
        return len(self.done)

    def drain(self, timeout=30):
        wait_until(lambda: len(self.done) >= self.asked or self.p.poll() is not None,
                   timeout, "the writer did not finish its records")
        if len(self.done) < self.asked:
            fail("the writer died: " + tail(os.path.join(TMP, "writer.err")))

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)
        self.t.join(10)


# --- the model ----------------------------------------------------------------

def key_name(pool, i):
    # Some keys with non-ASCII letters: their UTF-8 and UTF-16 lengths differ.
    base = {0: "K", 3: "P", 1: "H"}[pool]
    return "%s%02d" % (base, i) if i % 5 else "%sSchlüssel-😀-%02d" % (base, i)


def make_value(cycle, i):
    r = RNG.random()
    if r < 0.6:
        n = RNG.randint(0, 40)
    elif r < 0.9:
        n = RNG.randint(40, 400)
    else:
        # Long values make records whose writes cross page boundaries,
        # where a kill can cut a write short.
        n = RNG.randint(400, 1000)
    return "c%d.%d Grüße %s" % (cycle, i, "x" * n)


def apply(model, op):
    """The model after an operation that succeeded."""
    kind, pool, key, value = op
    m = {p: list(v) for p, v in model.items()}
    keys = [k for k, _ in m[pool]]
    if kind == "set":
        if key in keys:
            m[pool][keys.index(key)] = (key, value)
        else:
            m[pool].append((key, value))
    elif key in keys:
        del m[pool][keys.index(key)]
    return m


def make_ops(model, cycle):
    ops = []
    cur = model
    for i in range(MUTATIONS):
        pool = RNG.choices(HOST_POOLS, weights=(45, 35, 20))[0]
        key = key_name(pool, RNG.randrange(KEYS_PER_POOL))
        present = key in [k for k, _ in cur[pool]]
        if present:
            kind = "delete" if RNG.random() < 0.4 else "set"
        else:
            kind = "set" if RNG.random() < 0.85 else "delete"
        op = (kind, pool, key, make_value(cycle, i) if kind == "set" else None)
        ops.append(op)
        cur = apply(cur, op)
    return ops


def script_of(ops):
    # The host first reads back what it set: the restarted daemon serves it.
    lines = ["kvp enumerate External", "kvp enumerate Guest/Parameters"]
    for kind, pool, key, value in ops:
        if kind == "set":
            lines.append('kvp set %d "%s" "%s"' % (pool, key, value))
        else:
            lines.append('kvp delete %d "%s"' % (pool, key))
    return "\n".join(lines) + "\n"


def host_part(records, pool):
    return [(k, v) for k, v in records if pool != 1 or not k.startswith("W")]


# --- the processes ------------------------------------------------------------

def start_hvkvpd(root, sock, log, sync=False):
    if os.path.exists(sock):
        os.unlink(sock)
    return spawn([ARGS.hvkvpd, "--backend", "sim", "--root", root,
                  "--state-dir", os.path.join(TMP, "state"), "--socket", sock, "-n", "-d",
                  "--sync", "always" if sync else "write"],
                 stdout=open(log, "w"), stderr=subprocess.STDOUT)


def intent_delete(pools):
    """Is hvkvpd in the middle of a DELETE on one of `pools`?"""
    for n in pools:
        try:
            with open(os.path.join(TMP, "state.hvkvpd", "pool_%d.intent" % n), "rb") as f:
                head = f.read(8)
        except FileNotFoundError:
            continue
        if len(head) == 8 and struct.unpack("<II", head) == (JMAGIC, J_DELETE):
            return True
    return False


def wait_delete(d, give_up, timeout):
    """Return once hvkvpd is inside a DELETE (polled without sleeping: a
    shift of a few records takes microseconds), sometimes a little later
    still (past the fdatasync of the intent with --sync always), to land
    further in the shift; False when give_up() or the
    timeout says none will come."""
    end = time.monotonic() + timeout
    while d.poll() is None and not give_up() and time.monotonic() < end:
        if intent_delete(HOST_POOLS):
            if RNG.random() < 0.7:
                spin = time.monotonic() + RNG.uniform(0, 0.003)
                while time.monotonic() < spin:
                    pass
            return True
    return False


def kill(p, log):
    p.kill()
    p.wait()
    # A sanitizer report ends the process first; SIGKILL must be what ended it.
    if p.returncode != -signal.SIGKILL:
        fail("%s exited %s before it was killed:\n%s" % (p.args[0], p.returncode, tail(log)))


STATS = {"kills": {"reply": 0, "record": 0, "timed": 0, "delete": 0, "recovery": 0},
         "inflight_landed": 0, "inflight_not": 0, "no_inflight": 0,
         "doubled": 0, "in_delete": 0, "dead_appends": 0,
         "acked": 0, "writer": 0, "open_ms": []}


class Crash:
    def __init__(self):
        self.root_idle = os.path.join(TMP, "idle")
        os.makedirs(os.path.join(self.root_idle, "sys/bus/vmbus/devices"))
        self.root = os.path.join(TMP, "root")
        self.model = {p: [] for p in HOST_POOLS}
        self.writer = Writer(ARGS.seed)
        self.op_s = 0.0005    # seconds per host request, measured as we go
        self.daemon = None

    # The restarted daemon, without a host: it opens the store (finishing a
    # write of its own the kill cut short), then serves its client socket
    # and waits for the device. The socket appearing tells it has opened.
    def restart(self, cycle, alternatives):
        sock = os.path.join(TMP, "idle.sock")
        log = os.path.join(TMP, "restart.log")
        if cycle < ARGS.cycles and RNG.random() < 0.5:
            # Appends while the daemon opens and finishes its write.
            self.writer.ask(RNG.randint(1, 4))
        if RNG.random() < 0.35 and STATS["open_ms"]:
            # Killed again while it opens: the next start must cope too.
            d = start_hvkvpd(self.root_idle, sock, log, RNG.random() < 0.5)
            time.sleep(RNG.uniform(0, 1.5 * max(STATS["open_ms"][-20:]) / 1000))
            kill(d, log)
            STATS["kills"]["recovery"] += 1
            self.check_after_kill(cycle, alternatives, "killed while it opened")
            self.append_while_dead()
        t0 = time.monotonic()
        d = start_hvkvpd(self.root_idle, sock, log)
        wait_until(lambda: os.path.exists(sock) or d.poll() is not None, 20,
                   "cycle %d: the restarted hvkvpd did not open its socket:\n%s" % (cycle, tail(log)))
        if d.poll() is not None:
            fail("cycle %d: the restarted hvkvpd exited %d:\n%s" % (cycle, d.returncode, tail(log)))
        STATS["open_ms"].append((time.monotonic() - t0) * 1000)
        self.daemon = d

    def append_while_dead(self):
        """Sometimes the writer appends while hvkvpd is dead, after a kill
        that may have cut a write short: the next open must keep those
        records whatever it finishes."""
        if RNG.random() < 0.5 and not self.writer.p.stdin.closed:
            self.writer.ask(RNG.randint(1, 2))
            self.writer.drain()
            STATS["dead_appends"] += 1

    def check_files(self, cycle, alternatives, final=False):
        """After a restart: the files are one of the allowed models (the
        in-flight request landed or not), the writer's records are there."""
        done = self.writer.finished()
        recs = {}
        for n in range(5):
            data = snapshot(n)
            try:
                recs[n] = linux_records(data)
            except BadFile as e:
                fail("cycle %d: .kvp_pool_%d after the restart: %s" % (cycle, n, e))
        for n in (2, 4):
            if recs[n]:
                fail("cycle %d: pool %d, never written, holds %r" % (cycle, n, recs[n][:3]))
        for n in HOST_POOLS:
            keys = [k for k, _ in recs[n]]
            dup = sorted(set(k for k in keys if keys.count(k) > 1))
            if dup:
                fail("cycle %d: pool %d holds keys twice: %r" % (cycle, n, dup[:5]))
        got = {p: host_part(recs[p], p) for p in HOST_POOLS}
        match = [a for a in alternatives if a == got]
        if not match:
            want = alternatives[0]
            for p in HOST_POOLS:
                if got[p] != want[p]:
                    diff = [(i, a, b) for i, (a, b) in
                            enumerate(zip(got[p] + [None] * len(want[p]), want[p] + [None] * len(got[p])))
                            if a != b][:3]
                    fail("cycle %d: pool %d after the restart is not what the host was answered "
                         "(%d records, expected %d%s); first differences (index, file, model): %s" %
                         (cycle, p, len(got[p]), len(want[p]),
                          " or the in-flight request applied" if len(alternatives) > 1 else "",
                          diff))
        wr = [(k, v) for k, v in recs[1] if k.startswith("W")]
        for i, rec in enumerate(wr):
            if rec != writer_record(i):
                fail("cycle %d: the writer's record %d in pool 1 is %r, expected %r "
                     "(records lost, reordered or changed)" % (cycle, i, rec[0][:40], writer_record(i)[0][:40]))
        if len(wr) < done:
            fail("cycle %d: the writer finished %d records, pool 1 holds %d of them; "
                 "first missing: %r" % (cycle, done, len(wr), writer_record(len(wr))[0][:40]))
        if final and len(wr) != self.writer.asked:
            fail("at the end pool 1 holds %d of the writer's %d records" % (len(wr), self.writer.asked))
        return got

    def check_after_kill(self, cycle, alternatives, when="after the kill"):
        """Before the restart, what other programs read while hvkvpd is dead:
        whole records, exactly the acknowledged ones (the request in flight
        applied or not), at most one record doubled next to itself."""
        done = self.writer.finished()
        for n in range(5):
            try:
                recs = linux_records(snapshot(n))
            except BadFile as e:
                fail("cycle %d: %s, .kvp_pool_%d: %s" % (cycle, when, n, e))
            if n not in HOST_POOLS:
                if recs:
                    fail("cycle %d: %s, pool %d, never written, holds %r" % (cycle, when, n, recs[:3]))
                continue
            # The file as it is, or without one of two equal neighbours.
            readings = [recs] + [recs[:i + 1] + recs[i + 2:] for i in range(len(recs) - 1)
                                 if recs[i] == recs[i + 1]]
            ok = None
            for k, r in enumerate(readings):
                wr = [x for x in r if x[0].startswith("W")]
                if (any(host_part(r, n) == alt[n] for alt in alternatives) and
                        wr == [writer_record(i) for i in range(len(wr))] and
                        (n != 1 or len(wr) >= done)):
                    ok = k
                    break
            if ok is None:
                want = alternatives[0][n]
                got = host_part(recs, n)
                diff = [(i, a, b) for i, (a, b) in
                        enumerate(zip(got + [None] * len(want), want + [None] * len(got)))
                        if a != b][:3]
                fail("cycle %d: %s, pool %d as another program reads it is not what the host "
                     "was answered (%d records, expected %d%s, writer's %d of %d finished); "
                     "first differences (index, file, model): %s" %
                     (cycle, when, n, len(got), len(want),
                      " or the in-flight request applied" if len(alternatives) > 1 else "",
                      len([x for x in recs if x[0].startswith("W")]), done, diff))
            if ok:
                STATS["doubled"] += 1
                if len(readings) > 2:
                    fail("cycle %d: %s, pool %d holds more than one doubled record" % (cycle, when, n))

    def cycle(self, c):
        ops = make_ops(self.model, c)
        mode = RNG.choices(("reply", "record", "timed", "delete"),
                           weights=(35, 18, 22, 25))[0]
        spath = os.path.join(TMP, "script")
        with open(spath, "w") as f:
            f.write(script_of(ops))
        sim_out = os.path.join(TMP, "hvsim.out")
        sim_err = os.path.join(TMP, "hvsim.err")
        node = os.path.join(self.root, "dev", "uio0")
        if os.path.exists(node):
            os.unlink(node)
        sim = spawn([ARGS.hvsim, "--root", self.root, "--script", spath, "--json",
                     "--timeout", "10"],
                    stdout=open(sim_out, "w"), stderr=open(sim_err, "w"))
        # hvsim's node appears only once it listens (hvsim(8)).
        wait_until(lambda: os.path.exists(node) or sim.poll() is not None, 10,
                   "cycle %d: hvsim did not offer the device" % c)
        if sim.poll() is not None:
            fail("cycle %d: hvsim exited %d: %s" % (c, sim.returncode, tail(sim_err)))

        burst = RNG.randint(0, 10)
        if mode == "record":
            burst = max(burst, 3)
        else:
            self.writer.ask(burst)

        log = os.path.join(TMP, "hvkvpd.log")
        t0 = time.monotonic()
        # With --sync always every write is followed by an fdatasync, which
        # makes the daemon spend most of its time between writing its
        # intent, the records and clearing the intent: the kills land there
        # more often.
        sync = RNG.random() < 0.5 or mode == "delete"
        d = start_hvkvpd(self.root, os.path.join(TMP, "run.sock"), log, sync)
        seen = [0, 0]   # bytes of the log read, host SETs and DELETEs answered

        def answered(target):
            with open(log, "rb") as f:
                f.seek(seen[0])
                data = f.read()
            cut = data.rfind(b"\n") + 1
            seen[0] += cut
            for line in data[:cut].splitlines():
                if line.startswith((b"<7>host SET", b"<7>host DELETE")):
                    seen[1] += 1
            return seen[1] >= target or d.poll() is not None or sim.poll() is not None
        if mode == "reply":
            target = RNG.randint(1, MUTATIONS)
            wait_until(lambda: answered(target), 30,
                       "cycle %d: hvkvpd answered %d of %d requests in 30 s" % (c, seen[1], target))
        elif mode == "delete":
            # Inside the first DELETE after a random number of requests.
            target = RNG.randint(1, MUTATIONS // 2)
            wait_until(lambda: answered(target), 30,
                       "cycle %d: hvkvpd answered %d of %d requests in 30 s" % (c, seen[1], target))
            wait_delete(d, lambda: sim.poll() is not None, 30)
        elif mode == "record":
            # The records go out once hvkvpd serves the host, and it dies
            # after a random number of them: while it takes them in, or
            # writes beside them, or shifts them up in a DELETE.
            wait_until(lambda: b"<7>host " in open(log, "rb").read() or d.poll() is not None, 10,
                       "cycle %d: hvkvpd answered no request" % c)
            target = self.writer.asked + RNG.randint(1, burst)
            self.writer.ask(burst)
            wait_until(lambda: self.writer.finished() >= target or d.poll() is not None, 30,
                       "cycle %d: the writer did not write" % c)
        else:
            # Anywhere from the daemon's start to a little past the end of the
            # script.
            end = (STATS["open_ms"][-1] / 1000 if STATS["open_ms"] else 0.01) + \
                (MUTATIONS + 2 * KEYS_PER_POOL) * self.op_s
            time.sleep(RNG.uniform(0, 1.2 * end))
        if d.poll() is not None:
            fail("cycle %d: hvkvpd exited %d by itself:\n%s" % (c, d.returncode, tail(log)))
        in_delete = intent_delete(HOST_POOLS)
        kill(d, log)
        STATS["kills"][mode] += 1
        STATS["in_delete"] += in_delete
        elapsed = time.monotonic() - t0
        # A guest that served the host closed the device when it died, and
        # hvsim, which serves the device to its end whatever the guest does,
        # exits on that close: wait for it as long as a loaded machine needs.
        served = b"host " in open(log, "rb").read()
        try:
            rc = sim.wait(60 if served else 0.5)
        except subprocess.TimeoutExpired:
            if served:
                fail("cycle %d: hvsim still ran 60 s after hvkvpd, which had answered "
                     "requests, was killed" % c)
            # Killed before it opened the channel: hvsim waits for a guest
            # until its timeout. Its output is lost with it, which is no
            # loss since nothing was answered.
            sim.kill()
            sim.wait()
            if os.path.exists(node):
                os.unlink(node)
            rc = 2
        if rc not in (0, 2):
            fail("cycle %d: hvsim exited %d: %s" % (c, rc, tail(sim_err)))

        # Only complete lines: a line cut short was not seen by the host.
        with open(sim_out) as f:
            text = f.read()
        replies = [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l.strip()]
        kvp = [r for r in replies if r.get("reply") == "kvp"]
        muts = [r for r in kvp if r["op"] in ("set", "delete")]
        if mode == "reply" and len(muts) > 20:
            self.op_s = 0.7 * self.op_s + 0.3 * elapsed / (len(muts) + 2 * KEYS_PER_POOL)

        # What the host read back must be the model, as far as it got.
        for p, name in ((0, "External"), (3, "Guest/Parameters")):
            en = [r for r in kvp if r["op"] == "enumerate" and r["pool"] == p]
            served = [(r["key"], r["value"]) for r in en if r["status"] == HV_S_OK]
            if served != self.model[p][:len(served)]:
                fail("cycle %d: after the restart the host enumerated %s as %r, the model is %r" %
                     (c, name, served[:4], self.model[p][:4]))
            if en and en[-1]["status"] != HV_S_OK and len(served) != len(self.model[p]):
                fail("cycle %d: the host enumerated %d records of %s, the model has %d" %
                     (c, len(served), name, len(self.model[p])))

        model = self.model
        for i, r in enumerate(muts):
            kind, pool, key, value = ops[i]
            if r["op"] != kind or r["pool"] != pool:
                fail("cycle %d: reply %d is %s on pool %d, the request was %s on pool %d" %
                     (c, i, r["op"], r["pool"], kind, pool))
            present = key in [k for k, _ in model[pool]]
            want = HV_S_OK if kind == "set" or present else HV_S_CONT
            if r["status"] != want:
                fail("cycle %d: %s %s %r answered %s, expected 0x%x" %
                     (c, kind, POOL_NAMES[pool], key, r["status_name"], want))
            model = apply(model, ops[i])
        STATS["acked"] += len(muts)
        alternatives = [model]
        # The first mutation goes out once both enumerations have ended (at
        # a reply other than S_OK); after that, exactly one request is in
        # flight at the kill unless the script was done.
        ended = [r for r in kvp if r["op"] == "enumerate" and r["status"] != HV_S_OK]
        if len(ended) == 2 and len(muts) < len(ops):
            alternatives.append(apply(model, ops[len(muts)]))
        self.check_after_kill(c, alternatives)
        self.append_while_dead()
        self.restart(c, alternatives)
        got = self.check_files(c, alternatives)
        if len(alternatives) == 1:
            STATS["no_inflight"] += 1
        elif got == alternatives[1] and alternatives[1] != alternatives[0]:
            STATS["inflight_landed"] += 1
        else:
            STATS["inflight_not"] += 1
        self.model = got
        if ARGS.verbose:
            print("cycle %d: kill %s%s after %d requests, %.0f ms; in flight %s" %
                  (c, mode, " (sync always)" if sync else "", len(muts), elapsed * 1000,
                   "none" if len(alternatives) == 1 else
                   "landed" if got == alternatives[1] else "not landed"))
        kill(self.daemon, os.path.join(TMP, "restart.log"))
        self.daemon = None

    def finish(self):
        self.writer.drain()
        self.writer.close()
        STATS["writer"] = len(self.writer.done)
        self.restart(ARGS.cycles, [self.model])
        self.check_files(ARGS.cycles, [self.model], final=True)
        # A clean stop closes; then everything is read once more
        # with nobody running.
        rc = stop(self.daemon)
        if rc != 0:
            fail("hvkvpd exited %d on SIGTERM:\n%s" % (rc, tail(os.path.join(TMP, "restart.log"))))
        final_read(self.model, self.writer.asked)


def final_read(model, written):
    """Linux's reader over every file once nobody writes: an independent
    parse of the raw bytes (not the helper above), field by field."""
    for n in range(5):
        with open(pool_path(n), "rb") as f:
            data = f.read()
        if len(data) % 2560:
            fail("final: .kvp_pool_%d is %d bytes" % (n, len(data)))
        out = []
        for i in range(len(data) // 2560):
            key_raw, value_raw = struct.unpack_from("512s2048s", data, i * 2560)
            # hv_kvp_daemon compares keys with strcmp() and sends them with
            # strlen(): the key ends at its NUL or at the end of the field.
            kl = key_raw.find(b"\0")
            vl = value_raw.find(b"\0")
            key = key_raw if kl < 0 else key_raw[:kl]
            value = value_raw if vl < 0 else value_raw[:vl]
            if not key:
                fail("final: .kvp_pool_%d record %d has an empty key" % (n, i))
            try:
                out.append((key.decode("utf-8", "strict"), value.decode("utf-8", "strict")))
            except UnicodeDecodeError as e:
                fail("final: .kvp_pool_%d record %d is not UTF-8: %s" % (n, i, e))
        if n in model:
            host = [r for r in out if n != 1 or not r[0].startswith("W")]
            if host != model[n]:
                fail("final: pool %d holds %d host records, the model %d" % (n, len(host), len(model[n])))
        elif out:
            fail("final: pool %d holds records" % n)
        if n == 1:
            w = [r for r in out if r[0].startswith("W")]
            if w != [writer_record(i) for i in range(written)]:
                fail("final: pool 1 holds %d writer records, %d were written" % (len(w), written))
    extra = sorted(set(os.listdir(os.path.join(TMP, "state"))) -
                   set(".kvp_pool_%d" % n for n in range(5)))
    if extra:
        fail("final: hvkvpd left files of its own among the pool files: %r" % extra)


def main():
    global ARGS, TMP, RNG
    if len(sys.argv) == 4 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hvsim")
    ap.add_argument("hvkvpd")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the temporary files")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per cycle")
    ARGS = ap.parse_args()
    if ARGS.seed is None:
        ARGS.seed = int.from_bytes(os.urandom(4), "little")
    print("seed %d, %d cycles" % (ARGS.seed, ARGS.cycles), flush=True)
    RNG = random.Random(ARGS.seed)
    TMP = tempfile.mkdtemp(prefix="hvkvpd-crash-")
    t0 = time.monotonic()
    crash = Crash()
    crash.restart(-1, [crash.model])
    crash.check_files(-1, [crash.model])
    kill(crash.daemon, os.path.join(TMP, "restart.log"))
    for c in range(ARGS.cycles):
        crash.cycle(c)
    crash.finish()
    s = STATS
    om = sorted(s["open_ms"])
    print("%d cycles in %.1f s; kills: by replies %d, by writer records %d, timed %d, inside "
          "a DELETE %d, while it opened %d" %
          (ARGS.cycles, time.monotonic() - t0, s["kills"]["reply"], s["kills"]["record"],
           s["kills"]["timed"], s["kills"]["delete"], s["kills"]["recovery"]))
    print("%d host requests acknowledged and found; in flight at the kill: landed %d, not %d, "
          "none %d" % (s["acked"], s["inflight_landed"], s["inflight_not"], s["no_inflight"]))
    print("before the restarts: %d kills with a DELETE's intent open, %d files with a record "
          "doubled by a shift cut short (gone after each restart); every file read whole "
          "and exact each time" % (s["in_delete"], s["doubled"]))
    print("%d records appended by the writer (after %d kills some while hvkvpd was dead), "
          "all present once and in order; restart to recovered files: median %.1f ms, "
          "max %.1f ms" % (s["writer"], s["dead_appends"], om[len(om) // 2], om[-1]))
    print("final sizes: " + ", ".join("pool %d %d records" % (n, os.path.getsize(pool_path(n)) // RECORD)
                                      for n in range(5)))
    if not ARGS.keep:
        shutil.rmtree(TMP)
    else:
        print("files kept in " + TMP)


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
                p.wait()
