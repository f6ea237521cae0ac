#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of hvkvpd: hvsim plays the host in a separate process
on a temporary sim root, hvkvpd serves it with --backend sim, and the test
checks what the host was answered (hvsim --json), what the pool files hold
and what hvkvpd logged. usage: hvkvpd-test.py CASE HVSIM HVKVPD [MANPAGE]"""

import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvptest import *  # noqa: E402,F401,F403

CASE, HVSIM, HVKVPD = sys.argv[1], sys.argv[2], sys.argv[3]
MANPAGE = sys.argv[4] if len(sys.argv) > 4 else None
# cloud-init and waagent are Debian packages: they live in Debian's Python,
# whichever python3 runs this driver.
DEBIAN_PYTHON = "/usr/bin/python3"


class Run:
    """One hvsim and one hvkvpd on a fresh sim root."""

    def __init__(self, tmp, name, script, state, kvpd_args=(), wrap=(), sim_timeout=10):
        self.dir = os.path.join(tmp, name)
        os.mkdir(self.dir)
        self.root = os.path.join(self.dir, "root")
        spath = os.path.join(self.dir, "script")
        with open(spath, "w") as f:
            f.write(script)
        self.sim_out = open(os.path.join(self.dir, "hvsim.out"), "a+")
        self.sim_err = open(os.path.join(self.dir, "hvsim.err"), "a+")
        self.sim = spawn([HVSIM, "--root", self.root, "--script", spath, "--json",
                                     "--timeout", str(sim_timeout), "-v"],
                                    stdout=self.sim_out, stderr=self.sim_err)
        wait_for(lambda: os.path.exists(os.path.join(self.root, "dev", "uio0")), 10,
                 "hvsim did not create its sim root")
        self.log = open(os.path.join(self.dir, "hvkvpd.log"), "a+")
        # Each run its own client socket: tests run in parallel.
        self.kvpd = spawn([*wrap, HVKVPD, "--backend", "sim", "--root", self.root,
                                      "--state-dir", state, "--socket",
                                      os.path.join(self.dir, "socket"), "-n", "-d", *kvpd_args],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def sim_wait(self, timeout=60):
        try:
            return self.sim.wait(timeout)
        except subprocess.TimeoutExpired:
            self.sim.kill()
            fail("hvsim did not finish in %d s:\n%s" % (timeout, self.text(self.sim_err)))

    @staticmethod
    def text(f):
        # The children write through the same open file: it is opened for
        # appending, so that this seek cannot move where they write.
        f.seek(0)
        return f.read()

    def replies(self):
        return [json.loads(l) for l in self.text(self.sim_out).splitlines() if l.strip()]

    def kvp(self, op=None, pool=None):
        return [r for r in self.replies() if r.get("reply") == "kvp" and
                (op is None or r["op"] == op) and (pool is None or r["pool"] == pool)]

    def finish(self, expect_sim=0):
        rc = self.sim_wait()
        if rc != expect_sim:
            fail("hvsim exited %d:\n%s\nhvkvpd:\n%s" %
                 (rc, self.text(self.sim_err), self.text(self.log)))
        rc = stop(self.kvpd)
        if rc != 0:
            fail("hvkvpd exited %d on SIGTERM:\n%s" % (rc, self.text(self.log)))
        return self.text(self.log)


def enumerated(run, pool):
    return [(r["key"], r["value"]) for r in run.kvp("enumerate", pool) if r["status"] == HV_S_OK]


def pool_file(state, n):
    return [(k.decode(), v.decode()) for k, v in read_pool(os.path.join(state, ".kvp_pool_%d" % n))]


def case_pools(tmp):
    """Every operation on every pool, the files behind them, one log line each."""
    state = os.path.join(tmp, "state")
    lines = []
    for p, name in enumerate(POOLS):
        lines += ['kvp set %s K%d-1 "v1 of %s"' % (name, p, name), "expect S_OK",
                  'kvp set %s K%d-2 "v2 Grüße 😀"' % (name, p), "expect S_OK",
                  'kvp set %s K%d-1 "v1 updated"' % (name, p), "expect S_OK",
                  "kvp get %s K%d-1" % (name, p), "expect S_OK",
                  "kvp get %s NoSuchKey" % name, "expect HV_S_CONT",
                  "kvp enumerate %s" % name,
                  "kvp delete %s K%d-1" % (name, p), "expect S_OK",
                  "kvp delete %s K%d-1" % (name, p), "expect HV_S_CONT",
                  "kvp enumerate %s" % name]
    # A key with a terminal escape and a tab: the log must not carry them raw.
    lines += ['kvp set External "Evil\x1b[31m\tkey" "bell\x07 and \x85"', "expect S_OK"]
    # The host stays until SIGHUP has been answered with a status line.
    lines += ["wait 1500"]
    run = Run(tmp, "pools", "\n".join(lines) + "\n", state)
    wait_for(lambda: "Evil" in run.text(run.log), 20, "the host's last SET was not logged")
    run.kvpd.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: backend sim, connected" in run.text(run.log), 5,
             "no status line after SIGHUP:\n" + run.text(run.log))
    log = run.finish()
    for p in range(5):
        gets = [r for r in run.kvp("get", p) if r["status"] == HV_S_OK]
        if len(gets) != 1 or gets[0]["value"] != "v1 updated":
            fail("pool %d: GET answered %r" % (p, run.kvp("get", p)))
        enums = enumerated(run, p)
        if p == 2:
            # The Auto pool enumerates its generated keys, not what the host set.
            if [k for k, v in enums] != AUTO_KEYS * 2:
                fail("Auto enumeration: %r" % enums)
        elif enums != [("K%d-1" % p, "v1 updated"), ("K%d-2" % p, "v2 Grüße 😀"),
                       ("K%d-2" % p, "v2 Grüße 😀")]:
            fail("pool %d enumerated %r" % (p, enums))
        want = [("K%d-2" % p, "v2 Grüße 😀")]
        if p == 0:
            want.append(("Evil\x1b[31m\tkey", "bell\x07 and \x85"))
        if pool_file(state, p) != want:
            fail(".kvp_pool_%d holds %r, not %r" % (p, pool_file(state, p), want))
        if os.stat(os.path.join(state, ".kvp_pool_%d" % p)).st_mode & 0o777 != 0o644:
            fail(".kvp_pool_%d is not mode 0644" % p)
    ops = [l for l in log.splitlines() if l.startswith("<7>host ")]
    nreq = len(run.kvp())
    if len(ops) != nreq:
        fail("%d host operations logged for %d requests:\n%s" % (len(ops), nreq, log))
    if "\x1b" in log or "\t" in log or "\x07" in log or "\x85" in log:
        fail("a host string reached the log unescaped:\n" + log)
    if '"Evil\\033[31m\\tkey" = "bell\\007 and \\302\\205"' not in log:
        fail("escaped key not logged as expected:\n" + log)
    if not any(l.startswith("<6>negotiated framework 3.0, KVP 4.0") for l in log.splitlines()):
        fail("negotiation not logged:\n" + log)
    print("%d requests on 5 pools answered, files and log checked" % nreq)


def case_auto(tmp):
    """The Auto pool in the host's fixed order, ended by HV_S_CONT."""
    state = os.path.join(tmp, "state")
    script = "".join("kvp enumerate Auto %d\nexpect S_OK\n" % i for i in range(10))
    script += "kvp enumerate Auto 10\nexpect HV_S_CONT\nkvp enumerate Auto\n"
    run = Run(tmp, "auto", script, state)
    run.finish()
    single = run.kvp("enumerate", 2)[:10]
    if [r["key"] for r in single] != AUTO_KEYS:
        fail("Auto keys: %r" % [r.get("key") for r in single])
    walk = enumerated(run, 2)[10:]
    if [k for k, v in walk] != AUTO_KEYS:
        fail("host walk of Auto: %r" % walk)
    vals = dict(walk)
    # As Linux's daemon: uname's machine, and the kernel driver's version on the channel too.
    if (vals["ProcessorArchitecture"] != os.uname().machine or
            vals["OSBuildNumber"] != os.uname().release or
            vals["IntegrationServicesVersion"] != "3.1"):
        fail("Auto values: %r" % vals)
    print("Auto: %s" % "; ".join("%s=%s" % kv for kv in walk))


def case_ipinfo(tmp):
    """GET_IP_INFO for an interface of a network namespace hvkvpd runs in."""
    need_root()
    state = os.path.join(tmp, "state")
    mac = "02:00:5E:00:53:02"
    script = ("ip get %s\nexpect S_OK\nip get 02:00:5E:00:53:99\nexpect error\n" % mac)
    # SET_IP_INFO for an adapter GUID no interface has: Linux's daemon answers
    # HV_GUID_NOTFOUND (kvp_get_if_name), and the hook must not run.
    script += ("ip set {9F8E7D6C-5B4A-3210-FEDC-BA9876543210} ipv4 static 192.0.2.30 "
               "255.255.255.0 192.0.2.1 192.0.2.53\nexpect HV_GUID_NOTFOUND\n")
    hook = os.path.join(tmp, "hook")
    ran = os.path.join(tmp, "hook-ran")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\ntouch %s\n" % ran)
    os.chmod(hook, 0o755)
    setup = ("ip link set lo up && ip link add hvi0 address %s type veth peer name hvi1 && "
             "ip link set hvi0 addrgenmode none && ip link set hvi0 up && ip link set hvi1 up && "
             "ip addr add 192.0.2.20/24 dev hvi0 && ip addr add 2001:db8::20/64 dev hvi0 nodad && "
             'exec "$@"' % mac.lower())
    run = Run(tmp, "ip", script, state, kvpd_args=["--set-ip-hook", hook],
              wrap=["unshare", "-n", "sh", "-c", setup, "sh"])
    run.finish()
    if os.path.exists(ran):
        fail("the SET_IP_INFO hook ran for an adapter that does not exist")
    ips = [r for r in run.replies() if r.get("reply") == "ip"]
    if len(ips) != 3 or ips[0]["status"] != HV_S_OK:
        fail("ip replies: %r" % ips)
    r = ips[0]
    if "192.0.2.20" not in r["addresses"].split(";") or \
            "2001:db8::20" not in r["addresses"].split(";"):
        fail("addresses: %r" % r)
    if "255.255.255.0" not in r["subnets"] or r["family"] != 3:
        fail("subnets or family: %r" % r)
    print("IP info of %s: %s / %s" % (mac, r["addresses"], r["subnets"]))


def case_restart(tmp, sync):
    """What the host set is served again after hvkvpd was killed and restarted."""
    state = os.path.join(tmp, "state")
    keys = ["HostName", "HostingSystemEditionId", "PhysicalHostName", "VirtualMachineName"]
    script = "".join('kvp set Guest/Parameters %s "value of %s"\nexpect S_OK\n' % (k, k)
                     for k in keys)
    script += 'kvp set External ExtKey "ext value"\nexpect S_OK\nkvp delete External ExtKey\n'
    script += 'kvp set External ExtKey2 "kept"\nexpect S_OK\n'
    args = ["--sync", "always"] if sync else []
    run = Run(tmp, "first", script, state, kvpd_args=args)
    if run.sim_wait() != 0:
        fail("hvsim: " + run.text(run.sim_err))
    # A crash, not a clean stop: nothing may depend on the exit path.
    run.kvpd.kill()
    run.kvpd.wait()
    script2 = "kvp enumerate Guest/Parameters\nkvp enumerate External\n"
    run2 = Run(tmp, "second", script2, state, kvpd_args=args)
    run2.finish()
    got = enumerated(run2, 3)
    if got != [(k, "value of " + k) for k in keys]:
        fail("after a restart Guest/Parameters is %r" % got)
    if enumerated(run2, 0) != [("ExtKey2", "kept")]:
        fail("after a restart External is %r" % enumerated(run2, 0))
    print("%d host keys served again after SIGKILL and restart (sync %s)" %
          (len(got) + 1, "always" if sync else "write"))


def case_crash(tmp):
    """SIGKILL at random instants: every SET the host saw acknowledged is in
    the file, and the file never holds a torn record."""
    rounds, n = 4, 20000
    seed = int(time.time())
    rng = random.Random(seed)
    total, counts = 0, []
    for rnd in range(rounds):
        state = os.path.join(tmp, "state%d" % rnd)
        script = "".join('kvp set External Key%04d "value %d %s"\n' % (i, i, "x" * (i % 50))
                         for i in range(n))
        run = Run(tmp, "crash%d" % rnd, script, state)
        # Kill somewhere in the stream: once the pool file holds a random
        # number of records (counted, not timed: a fast machine answers
        # thousands of sets within any delay worth drawing; hvsim's own
        # output is buffered and lags behind).
        target = rng.randint(1, n // 4)
        pool0 = os.path.join(state, ".kvp_pool_0")
        end = time.monotonic() + 20
        while not os.path.exists(pool0) or os.path.getsize(pool0) < target * RECORD:
            if time.monotonic() > end:
                fail("round %d: fewer than %d SETs answered" % (rnd, target))
            time.sleep(0.0005)
        run.kvpd.kill()
        run.kvpd.wait()
        run.sim_wait()
        acked = [r for r in run.kvp("set") if r["status"] == HV_S_OK]
        size = os.path.getsize(os.path.join(state, ".kvp_pool_0"))
        if size % RECORD:
            fail("round %d: .kvp_pool_0 is %d bytes, a torn record" % (rnd, size))
        have = dict(pool_file(state, 0))
        for i in range(len(acked)):
            k = "Key%04d" % i
            if have.get(k) != "value %d %s" % (i, "x" * (i % 50)):
                fail("round %d: %s was acknowledged but the file has %r" % (rnd, k, have.get(k)))
        if len(have) not in (len(acked), len(acked) + 1):
            fail("round %d: %d records for %d acknowledged sets" % (rnd, len(have), len(acked)))
        if len(acked) == n:
            fail("round %d: hvkvpd was killed only after the last SET (seed %d)" % (rnd, seed))
        total += len(acked)
        counts.append(len(acked))
    print("%d rounds killed at random instants (after %s of %d sets, seed %d): "
          "%d acknowledged sets, none lost, no torn record" %
          (rounds, counts, n, seed, total))


def case_rescind(tmp):
    """The host removes the device and offers it again; hvkvpd comes back."""
    state = os.path.join(tmp, "state")
    script = ('kvp set External Before "1"\nexpect S_OK\nrescind\nwait 500\noffer\n'
              'kvp set External After "2"\nexpect S_OK\nkvp enumerate External\n')
    run = Run(tmp, "rescind", script, state, sim_timeout=15)
    log = run.finish()
    negs = [r for r in run.replies() if r.get("reply") == "negotiate"]
    if len(negs) != 2:
        fail("%d negotiations, not 2: %r" % (len(negs), run.replies()))
    if enumerated(run, 0) != [("Before", "1"), ("After", "2")]:
        fail("after the rescind External is %r" % enumerated(run, 0))
    if "rescinded" not in log or "reopened" not in log:
        fail("rescind and reopen not logged:\n" + log)
    print("rescind and re-offer survived; log:\n" + "\n".join(
        l for l in log.splitlines() if "rescind" in l or "reopen" in l))


CLOUD_INIT_WRITER = r'''
import sys, time
from cloudinit.reporting import handlers, events
handlers.HyperVKvpReportingHandler._already_truncated_pool_file = False
h = handlers.HyperVKvpReportingHandler(kvp_file_path=sys.argv[1])
for i in range(int(sys.argv[2])):
    h.publish_event(events.ReportingEvent("start", "init-%d" % i, "event %d" % i))
    if i % 5 == 0:
        h.flush()
        time.sleep(0.01)
h.flush()
for kvp in h._iterate_kvps(0):
    print(kvp["key"] + "\t" + kvp["value"])
'''


def case_cloud_init(tmp):
    """cloud-init appends telemetry to pool 1 while the host enumerates it."""
    need_root()
    apt_install("cloud-init")
    state = os.path.join(tmp, "state")
    n = 150
    script = "".join("kvp enumerate Guest\nwait 20\n" for _ in range(60))
    script += "wait 2500\nkvp enumerate Guest\n"
    run = Run(tmp, "cloud", script, state, sim_timeout=15)
    wait_for(lambda: os.path.exists(os.path.join(state, ".kvp_pool_1")), 10,
             "hvkvpd did not create .kvp_pool_1")
    writer = subprocess.run([DEBIAN_PYTHON, "-c", CLOUD_INIT_WRITER,
                             os.path.join(state, ".kvp_pool_1"), str(n)],
                            capture_output=True, text=True, timeout=60)
    if writer.returncode != 0:
        fail("cloud-init writer: " + writer.stderr)
    written = [tuple(l.split("\t", 1)) for l in writer.stdout.splitlines()]
    run.finish()
    walks, cur = [], None
    for r in run.kvp("enumerate", 1):
        if r["index"] == 0:
            cur = []
            walks.append(cur)
        if r["status"] == HV_S_OK:
            cur.append((r["key"], r["value"]))
    if len(written) < n:
        fail("cloud-init wrote %d records for %d events" % (len(written), n))
    if walks[-1] != written:
        bad = [(a, b) for a, b in zip(walks[-1], written) if a != b][:2]
        fail("the host's last enumeration (%d records) is not what cloud-init wrote (%d): "
             "host/cloud-init %r" % (len(walks[-1]), len(written), bad))
    for w in walks:
        if w != written[:len(w)]:
            fail("an enumeration during the appends was not a prefix of the records")
    grew = sorted(set(len(w) for w in walks))
    print("cloud-init wrote %d records while the host enumerated pool 1 %d times "
          "(sizes seen %s ... %s); all served in order" % (len(written), len(walks),
                                                          grew[:3], grew[-1]))


def case_waagent(tmp):
    """WALinuxAgent's pool-0 readers read what the host set through hvkvpd."""
    need_root()
    apt_install("waagent")
    os.makedirs("/var/lib/hyperv", exist_ok=True)
    state = os.path.join(tmp, "state")
    ipoib = "NUMPAIRS:1|00:15:5D:33:FF:1A:192.168.0.2/16"
    script = ('kvp set External Other "x"\nkvp set External NdDriverVersion "142.0"\n'
              'kvp set External IPoIB_Data "%s"\nexpect S_OK\nwait 300\n' % ipoib)
    run = Run(tmp, "waagent", script, state)
    run.sim_wait()
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        'mount --bind "$0" /var/lib/hyperv && exec "$1" -c "$2"',
                        state, DEBIAN_PYTHON, WAAGENT_READER], capture_output=True, text=True, timeout=60)
    run.finish() if run.kvpd.poll() is None else None
    out = r.stdout.splitlines()
    if r.returncode != 0 or out != ["142.0", "IPoIB_Data|" + ipoib]:
        fail("waagent read %r (exit %d): %s" % (out, r.returncode, r.stderr))
    print("waagent read NdDriverVersion %s and %s" % (out[0], out[1]))


def synopsis_from_man(path):
    r = subprocess.run(["mandoc", "-Tutf8", "-Owidth=200", path], capture_output=True,
                       text=True, env=dict(os.environ, MANWIDTH="200"))
    text = re.sub(r".\x08", "", r.stdout)
    m = re.search(r"SYNOPSIS\n(.*?)\n\n", text, re.S)
    return " ".join(m.group(1).split()) if m else None


def case_options(tmp):
    """Usage equals the man page's SYNOPSIS; bad options and no device fail clearly."""
    r = subprocess.run([HVKVPD, "--help"], capture_output=True, text=True, timeout=10)
    usage = " ".join(r.stdout.split())
    if r.returncode != 0 or not usage.startswith("usage: hvkvpd "):
        fail("--help: %d %r" % (r.returncode, r.stdout))
    if MANPAGE and shutil.which("mandoc"):
        syn = synopsis_from_man(MANPAGE)
        if syn != usage[len("usage: "):]:
            fail("usage and SYNOPSIS differ:\n usage    %s\n synopsis %s" %
                 (usage[len("usage: "):], syn))
    for args, text in ((["--backend", "floppy"], "is not auto, uio, kernel or sim"),
                       (["--socket", "relative"], "is not an absolute path"),
                       (["--sync", "sometimes"], "neither 'always' nor 'write'"),
                       (["-o", "speed=fast"], "unknown option"),
                       (["--backend", "sim"], "needs --root"),
                       (["extra"], "unexpected argument")):
        r = subprocess.run([HVKVPD, *args], capture_output=True, text=True, timeout=10)
        if r.returncode != 2 or text not in r.stderr or "usage: hvkvpd" not in r.stderr:
            fail("%r: exit %d, %r" % (args, r.returncode, r.stderr))
    empty = os.path.join(tmp, "empty")
    os.makedirs(os.path.join(empty, "sys", "bus", "vmbus", "devices"))
    r = subprocess.run([HVKVPD, "--root", empty, "--state-dir", os.path.join(tmp, "s"), "-n",
                        "--socket", os.path.join(tmp, "socket"),
                        "--kernel-device", os.path.join(tmp, "nodev")],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 1 or "does not look like a Hyper-V guest" not in r.stderr or \
            not r.stderr.startswith("<3>"):
        fail("no device: exit %d, %r" % (r.returncode, r.stderr))
    print("usage equals the SYNOPSIS; bad options exit 2; no device: " + r.stderr.strip())


def case_busy_poll(tmp):
    state = os.path.join(tmp, "state")
    script = "".join('kvp set External K%d "v%d"\nexpect S_OK\n' % (i, i) for i in range(200))
    script += "kvp enumerate External\n"
    run = Run(tmp, "busy", script, state, kvpd_args=["--busy-poll"])
    t0 = time.monotonic()
    run.finish()
    if len(enumerated(run, 0)) != 200:
        fail("busy-poll: %d records enumerated" % len(enumerated(run, 0)))
    print("busy-poll: 200 sets and a 200-record walk in %.2f s" % (time.monotonic() - t0))


def case_value_types(tmp):
    """REG_QWORD (11) and REG_EXPAND_SZ (2), as openvmm's host sends them,
    and Linux's REG_U32 and REG_U64: stored and served as Linux's kernel
    would store their text."""
    state = os.path.join(tmp, "state")
    script = ('kvp set External Q qword:18446744073709551615\nexpect S_OK\n'
              'kvp set External E "expand:%SystemRoot%\\\\system32"\nexpect S_OK\n'
              'kvp set External D u32:4294967295\nexpect S_OK\n'
              'kvp set External U u64:42\nexpect S_OK\n'
              'kvp enumerate External\n')
    run = Run(tmp, "types", script, state)
    run.finish()
    want = [("Q", "18446744073709551615"), ("E", "%SystemRoot%\\system32"),
            ("D", "4294967295"), ("U", "42")]
    if pool_file(state, 0) != want:
        fail(".kvp_pool_0 holds %r, not %r" % (pool_file(state, 0), want))
    if enumerated(run, 0) != want:
        fail("the host enumerated %r, not %r" % (enumerated(run, 0), want))
    print("value types stored and served as text: %r" % want)


def unit_command():
    """ExecStart of the systemd unit: the program, its argv[0], arguments."""
    unit = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(MANPAGE))),
                        "systemd", "hvkvpd.service.in")
    with open(unit) as f:
        line = [l for l in f if l.startswith("ExecStart=")][0]
    words = line.split("=", 1)[1].split()
    if not words[0].startswith("@"):
        fail("the unit does not set argv[0] (ExecStart=@PATH NAME ...): %s" % line)
    return words[1], words[2:]


FIND_DAEMON = r'''
import json, os, subprocess, sys, time
from azurelinuxagent.common.rdma import RDMAHandler
exe, sock, log = sys.argv[1], sys.argv[2], sys.argv[3]
# From the environment: on our own command line ps -ef would find the name.
argv = json.loads(os.environ.pop("HVTEST_ARGV"))
before = RDMAHandler.is_kvp_daemon_running()
p = subprocess.Popen(argv, executable=exe, stdout=open(log, "a"), stderr=subprocess.STDOUT)
end = time.monotonic() + 20
while not os.path.exists(sock) and p.poll() is None and time.monotonic() < end:
    time.sleep(0.02)
ps = subprocess.run(["ps", "-ef"], capture_output=True, text=True).stdout
after = RDMAHandler.is_kvp_daemon_running()
p.terminate()
print(json.dumps({"before": before, "after": after, "ps": ps, "rc": p.wait()}))
'''


def case_found_by_name(tmp):
    """Started as the unit starts it, hvkvpd is what `ps -ef` shows as a
    KVP daemon, and WALinuxAgent's own RDMAHandler.is_kvp_daemon_running()
    finds it (in a PID namespace of the test's: nobody else's daemons)."""
    need_root()
    apt_install("waagent")
    argv0, args = unit_command()
    root = os.path.join(tmp, "root")
    spath = os.path.join(tmp, "script")
    with open(spath, "w") as f:
        f.write("wait 15000\n")
    sim = spawn([HVSIM, "--root", root, "--script", spath, "--timeout", "30"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(os.path.join(root, "dev", "uio0")), 10,
             "hvsim did not create its sim root")
    sock, log = os.path.join(tmp, "socket"), os.path.join(tmp, "hvkvpd.log")
    argv = [argv0] + args + ["--root", root, "--state-dir", os.path.join(tmp, "state"),
                             "--socket", sock]
    r = subprocess.run(["unshare", "-p", "-f", "--mount-proc", DEBIAN_PYTHON, "-c",
                        FIND_DAEMON, HVKVPD, sock, log],
                       env=dict(os.environ, HVTEST_ARGV=json.dumps(argv)),
                       capture_output=True, text=True, timeout=60)
    sim.kill()
    sim.wait()
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        fail("the check did not run (exit %d): %s %s" % (r.returncode, r.stdout, r.stderr))
    lines = [l for l in out["ps"].splitlines() if argv0 in l]
    if out["before"] or not out["after"] or not lines or out["rc"] != 0:
        with open(log) as f:
            fail("is_kvp_daemon_running before %r, after %r; hvkvpd exited %r; ps -ef:\n%s\n"
                 "hvkvpd:\n%s" % (out["before"], out["after"], out["rc"], out["ps"], f.read()))
    print("ps -ef: %s\nRDMAHandler.is_kvp_daemon_running(): %r before, %r with hvkvpd" %
          (lines[0], out["before"], out["after"]))


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def kmsg_ip_set(adapter, addrs, masks, gws="", dns="", dhcp=0):
    def field(text, size):
        return text.encode().ljust(size, b"\0")
    return kmsg(5, 0, field(adapter, 256) + bytes([3, dhcp]) + field(addrs, 2048) +
                field(masks, 2048) + field(gws, 1024) + field(dns, 2048))


def case_privsep(tmp):
    """With a SET_IP_INFO program configured, hvkvpd holds no capability and
    runs under its seccomp filter; its helper keeps only the program's
    capabilities, runs only that program, and only for checked requests."""
    need_root()
    mac, guid = "02:00:5e:00:53:21", "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71}"
    net = os.path.join(tmp, "net", "hvp0")
    os.makedirs(os.path.join(net, "device"))
    with open(os.path.join(net, "address"), "w") as f:
        f.write(mac + "\n")
    with open(os.path.join(net, "device", "device_id"), "w") as f:
        f.write(guid + "\n")
    hook, ran = os.path.join(tmp, "hook"), os.path.join(tmp, "ran")
    with open(hook, "w") as f:
        f.write('#!/bin/sh\necho "$0 $* $HVKVP_IPV4_ADDRESSES $(grep CapEff /proc/self/status)"'
                ' >> %s\n' % ran)
    os.chmod(hook, 0o755)
    state, sock = os.path.join(tmp, "state"), os.path.join(tmp, "kdev")
    ks = KernelSide(sock)
    inner = ("ip link set lo up && ip link add hvp0 address %s type veth peer name hvp1 && "
             "mount --bind %s /sys/class/net && exec %s --backend kernel --kernel-device %s "
             "--state-dir %s --socket %s -n -d --set-ip-hook %s" %
             (mac, os.path.dirname(net), HVKVPD, sock, state, os.path.join(tmp, "socket"), hook))
    log = open(os.path.join(tmp, "hvkvpd.log"), "a+")
    p = spawn(["unshare", "-m", "-n", "sh", "-c", inner], stdout=log, stderr=subprocess.STDOUT)
    ks.accept()
    st = proc_status(p.pid)
    caps = {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    if any(caps.values()) or st["Seccomp"] != "2" or st["NoNewPrivs"] != "1":
        fail("hvkvpd: %r, Seccomp %s, NoNewPrivs %s" % (caps, st["Seccomp"], st["NoNewPrivs"]))
    with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
        helpers = [int(x) for x in f.read().split()]
    if len(helpers) != 1:
        fail("hvkvpd has %d child processes, not one helper" % len(helpers))
    hs = proc_status(helpers[0])
    net_caps = (1 << 10) | (1 << 12) | (1 << 13)  # NET_BIND_SERVICE, NET_ADMIN, NET_RAW
    if int(hs["CapPrm"], 16) != net_caps or int(hs["CapEff"], 16) or int(hs["CapBnd"], 16) != net_caps:
        fail("helper: CapPrm %s CapEff %s CapBnd %s" % (hs["CapPrm"], hs["CapEff"], hs["CapBnd"]))
    ok = ks.request(kmsg_ip_set(guid, "192.0.2.50;2001:db8::50", "255.255.255.0;64", "192.0.2.1"))
    bad = ks.request(kmsg_ip_set(guid, "192.0.2.51", "24$(touch %s/pwned)" % tmp))
    err_ok, err_bad = struct.unpack_from("<I", ok)[0], struct.unpack_from("<I", bad)[0]
    # The daemon still answers (its loop, not the helper, holds the device).
    alive = ks.request(kmsg_enumerate(2, 9))
    rc = stop(p)
    ks.close()
    with open(ran) as f:
        runs = f.read().splitlines()
    if err_ok != HV_S_OK or err_bad != 0x80070057 or os.path.exists(os.path.join(tmp, "pwned")):
        fail("SET_IP_INFO answered 0x%08x and 0x%08x; runs %r" % (err_ok, err_bad, runs))
    want = "%s hvp0 192.0.2.50/24 CapEff:\t%016x" % (hook, net_caps)
    if runs != [want]:
        fail("the helper ran %r, not [%r]" % (runs, want))
    with open(os.path.join(state, "ifcfg-hvp0")) as f:
        ifcfg = f.read()
    if not ifcfg.startswith("HWADDR=%s\nDEVICE=hvp0\nBOOTPROTO=none\nIPADDR0=192.0.2.50\n" %
                            mac.upper()):
        fail("ifcfg-hvp0:\n" + ifcfg)
    if alive is None or struct.unpack_from("<I", alive)[0] != HV_S_OK or rc != 0:
        fail("after SET_IP_INFO: %s, exit %r" %
             ("no answer" if alive is None else "status 0x%08x" % struct.unpack_from("<I", alive)[0],
              rc))
    # hvkvpd reaped it on its way out.
    if os.path.exists("/proc/%d" % helpers[0]):
        fail("the helper %d outlived hvkvpd" % helpers[0])
    print("hvkvpd: no capability, Seccomp 2; helper: CapPrm %s, no filter; it ran %r" %
          (hs["CapPrm"], runs))


def case_handover(tmp):
    """--backend auto follows the KVP device between backends without a
    restart: the sim device appears while hvkvpd serves the kernel's
    device, then goes away; later the kernel's device appears while hvkvpd
    serves the sim device. Each move is logged once, every request is
    answered on the device it came from."""
    state, sock = os.path.join(tmp, "state"), os.path.join(tmp, "kdev")
    root = os.path.join(tmp, "root")
    log = open(os.path.join(tmp, "hvkvpd.log"), "a+")
    ks = KernelSide(sock)
    kvpd = spawn([HVKVPD, "--backend", "auto", "--root", root, "--kernel-device", sock,
                  "--state-dir", state, "--socket", os.path.join(tmp, "socket"), "-n", "-d"],
                 stdout=log, stderr=subprocess.STDOUT)

    def accept(ks, what):
        try:
            ks.accept()
        except SystemExit:
            log.seek(0)
            print("%s; hvkvpd:\n%s" % (what, log.read()), file=sys.stderr)
            raise

    accept(ks, "at start")

    def moves():
        log.seek(0)
        return [l for l in log.read().splitlines() if "KVP device moved" in l]

    def kernel_ok(what):
        r = ks.request(kmsg_set(0, "From" + what, "kernel"))
        if r is None or struct.unpack_from("<I", r)[0] != HV_S_OK:
            log.seek(0)
            fail("%s: the kernel device was not answered:\n%s" % (what, log.read()))

    kernel_ok("KernelFirst")
    # The sim device appears (bound to uio_hv_generic): hvkvpd moves to it.
    spath = os.path.join(tmp, "script1")
    with open(spath, "w") as f:
        f.write("kvp enumerate Auto 1\nexpect S_OK\nkvp set External FromSim yes\n"
                "expect S_OK\nrescind\nwait 200\n")
    sim_out = open(os.path.join(tmp, "hvsim1.out"), "a+")
    sim = spawn([HVSIM, "--root", root, "--script", spath, "--json", "--timeout", "20"],
                stdout=sim_out, stderr=subprocess.STDOUT)
    if sim.wait(60) != 0:
        sim_out.seek(0)
        log.seek(0)
        fail("hvsim (sim device appearing):\n%s\nhvkvpd:\n%s" % (sim_out.read(), log.read()))
    sim_out.seek(0)
    auto = [r for r in (json.loads(l) for l in sim_out.read().splitlines() if l.startswith("{"))
            if r.get("reply") == "kvp"]
    if not auto or auto[0].get("value") != "3.1":
        fail("IntegrationServicesVersion on the sim device: %r" % auto[:1])
    # It was rescinded: hvkvpd goes back to the kernel's device, still there.
    accept(ks, "after the rescind")
    kernel_ok("KernelAgain")
    wait_for(lambda: len(moves()) >= 2, 10, "the move back to the kernel device was not logged")

    # Now the other way: hvkvpd serves a sim device, and the kernel device appears.
    ks.close()
    os.unlink(sock)
    spath = os.path.join(tmp, "script2")
    with open(spath, "w") as f:
        f.write("kvp enumerate Auto 1\nexpect S_OK\nwait 20000\n")
    sim_out2 = open(os.path.join(tmp, "hvsim2.out"), "a+")
    shutil.rmtree(root)
    sim = spawn([HVSIM, "--root", root, "--script", spath, "--json", "--timeout", "40"],
                stdout=sim_out2, stderr=subprocess.STDOUT)
    def sim_served():
        # Whole lines only: hvsim may be writing the last one.
        with open(sim_out2.name) as f:
            lines = f.read().split("\n")[:-1]
        return any(json.loads(l).get("reply") == "kvp" for l in lines if l.startswith("{"))
    end = time.monotonic() + 20
    while not sim_served():
        if time.monotonic() > end:
            log.seek(0)
            with open(sim_out2.name) as f:
                fail("the sim device offered after the kernel's went away was not served:\n"
                     "hvsim: %s\nhvkvpd:\n%s" % (f.read(), log.read()))
        time.sleep(0.02)
    ks = KernelSide(sock)
    accept(ks, "the kernel device appearing")
    kernel_ok("KernelAppeared")
    sim.kill()
    sim.wait()
    rc = stop(kvpd)
    ks.close()
    got = moves()
    if rc != 0 or len(got) != 4:
        log.seek(0)
        fail("hvkvpd exited %d; moves logged %r:\n%s" % (rc, got, log.read()))
    pool0 = dict(pool_file(state, 0))
    if [k for k in ("FromKernelFirst", "FromSim", "FromKernelAgain", "FromKernelAppeared")
            if k not in pool0]:
        fail("pool 0 after the moves: %r" % pool0)
    print("moves, each logged once:\n  " + "\n  ".join(got))


def case_fqdn(tmp):
    """FullyQualifiedDomainName as Linux's daemon computes it (getaddrinfo,
    AI_CANONNAME), from inside the sandbox, and again after the host name
    changed: the helper resolves it while hvkvpd goes on answering."""
    need_root()
    hosts = os.path.join(tmp, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n127.0.1.1 oldhost.example.test oldhost\n"
                "127.0.1.2 newhost.example.test newhost\n")
    state, sock = os.path.join(tmp, "state"), os.path.join(tmp, "kdev")
    ks = KernelSide(sock)
    inner = ("hostname oldhost && mount --bind %s /etc/hosts && exec %s --backend kernel "
             "--kernel-device %s --state-dir %s --socket %s -n -d" %
             (hosts, HVKVPD, sock, state, os.path.join(tmp, "socket")))
    log = open(os.path.join(tmp, "hvkvpd.log"), "a+")
    p = spawn(["unshare", "-m", "-u", "sh", "-c", inner], stdout=log, stderr=subprocess.STDOUT)
    ks.accept()

    def fqdn():
        r = ks.request(kmsg_enumerate(2, 0))
        return r[4 + 16 + KEY_FIELD:4 + 16 + KEY_FIELD + VALUE_FIELD].split(b"\0")[0].decode()
    first = fqdn()
    subprocess.run(["nsenter", "-u", "-t", str(p.pid), "hostname", "newhost"], check=True)
    seen, end = [], time.monotonic() + 10
    while not seen or seen[-1] != "newhost.example.test":
        if time.monotonic() > end:
            log.seek(0)
            fail("after the rename the host was told %r:\n%s" % (seen, log.read()))
        seen.append(fqdn())
    rc = stop(p)
    ks.close()
    if first != "oldhost.example.test" or rc != 0:
        fail("before the rename: %r; exit %d" % (first, rc))
    # Never the stale name: the old one, the new plain one, then the new canonical one.
    if any(v not in ("newhost", "newhost.example.test") for v in seen):
        fail("answers after the rename: %r" % seen)
    print("FullyQualifiedDomainName %s, then %s after the rename (%d requests)" %
          (first, seen[-1], len(seen)))


CASES = {
    "pools": case_pools,
    "auto": case_auto,
    "ipinfo-netns": case_ipinfo,
    "restart": lambda t: case_restart(t, False),
    "restart-sync-always": lambda t: case_restart(t, True),
    "crash-any-instant": case_crash,
    "rescind": case_rescind,
    "cloud-init": case_cloud_init,
    "waagent": case_waagent,
    "options": case_options,
    "busy-poll": case_busy_poll,
    "value-types": case_value_types,
    "found-by-name": case_found_by_name,
    "privsep": case_privsep,
    "handover": case_handover,
    "fqdn": case_fqdn,
}

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="hvkvpd-test-") as tmp:
        t0 = time.monotonic()
        try:
            CASES[CASE](tmp)
        finally:
            reap()
        print("%s: passed in %.2f s" % (CASE, time.monotonic() - t0))
