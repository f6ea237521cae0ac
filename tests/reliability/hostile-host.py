#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hvkvpd against a hostile host. For each case hvsim --hostile breaks one
rule of the ring or of the KVP protocol on a fresh sim root, and the test
checks that hvkvpd
  - is still running afterwards, without a sanitizer report in its log
    (the suite runs in the AddressSanitizer build too, where the hvkvpd
    under test is the instrumented one);
  - answered what the protocol lets it answer, with the status stated in
    the case, or dropped what Linux drops;
  - logged exactly one line about the fault (warning or above), never one
    per retry, per interrupt or per byte;
  - did not spin: little CPU time in a quiet spell after the fault;
  - answers a normal request afterwards: the channel recovered, either in
    place or, where the ring itself is corrupt, by closing the channel and
    opening it again, which gives fresh rings as a re-offer does.

usage: hostile-host.py HVSIM HVKVPD [CASE ...]"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HVSIM, HVKVPD = sys.argv[1], sys.argv[2]
ONLY = sys.argv[3:]

HV_S_OK = 0
HV_E_FAIL = 0x80004005
HV_S_CONT = 0x80070103

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")

# Lines about a fault: "<N>" priority prefixes of warning (4) and above.
FAULT_LINE = re.compile(r"^<[0-4]>")

# The corrupt-ring line of hvkvpd: the ring gives no point to resume from.
RING_BROKEN = r"broke the ring protocol"

# A quiet spell after the fault, and the CPU hvkvpd may use in it.
QUIET_S = 0.6
QUIET_CPU_S = 0.25

# LeakSanitizer lists the threads of the process at exit through
# /proc/self/task, which the seccomp filter of the sandbox refuses: its
# fatal error would hide any real report. The instrumented build runs
# without the sandbox, so that leaks are still looked for.
INSTRUMENTED = b"__asan_init" in open(HVKVPD, "rb").read()
SANITIZED_ARGS = ["--no-sandbox"] if INSTRUMENTED else []

# Every process started, so that a failure leaves none behind.
CHILDREN = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()
    sys.exit(1)


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            fail(what)
        time.sleep(0.01)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime, fields 14 and 15 of proc(5), counted from "state" (3).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Case:
    """One hostile action between a normal request before and one after.

    script: hvsim lines of the fault (after a normal SET, before a normal GET)
    check:  function(hostile_lines) -> error text or None
    fault:  regex of the one fault line hvkvpd must log, or None for none
    notice: regex of a notice line that must appear exactly once (rescind)
    episodes: how many fault lines may appear, one per episode of the fault
    """

    def __init__(self, name, script, check, fault, why, notice=None, sim_timeout=5,
                 episodes=1):
        self.name, self.script, self.check = name, script, check
        self.fault, self.why, self.notice = fault, why, notice
        self.sim_timeout, self.episodes = sim_timeout, episodes


def replied(status):
    def check(h):
        if len(h) != 1:
            return "%d hostile lines" % len(h)
        if not h[0].get("replied"):
            return "no reply, status %s expected" % hex(status)
        if h[0]["status"] != status:
            return "status %s, not %s" % (hex(h[0]["status"]), hex(status))
        return None
    return check


def dropped(h):
    if len(h) != 1:
        return "%d hostile lines" % len(h)
    if h[0].get("replied"):
        return "answered (status %s); Linux drops it" % hex(h[0]["status"])
    return None


def closed(h):
    if len(h) != 1:
        return "%d hostile lines" % len(h)
    if not h[0].get("guest_closed"):
        return "the guest did not close the channel within the timeout"
    return None


def negotiate_failed(h):
    err = replied(HV_E_FAIL)(h)
    if err:
        return err
    # The reply carries no version: counts 0/0 (hv_ic(3)).
    if (h[0].get("reply_framework_count"), h[0].get("reply_message_count")) != (0, 0):
        return "reply counts %r/%r, not 0/0" % (h[0].get("reply_framework_count"),
                                              h[0].get("reply_message_count"))
    return None


def flood_answered(n):
    def check(h):
        if len(h) != 1:
            return "%d hostile lines" % len(h)
        f = h[0]
        if f["answered"] != n or not f["in_order"]:
            return "%d of %d answered, in order: %s" % (f["answered"], n, f["in_order"])
        if f.get("status") != HV_S_CONT:
            return "flood status %r, not HV_S_CONT for a missing key" % f.get("status")
        # The guest filled its ring and asked to be told about room.
        if f["pending_send_sz"] == 0:
            return "the guest never set pending_send_sz"
        if f["ring_bytes_when_full"] < f["ring_data_size"] - 2 * 2632:
            return "the guest's ring held %d of %d bytes: it never filled" % (
                f["ring_bytes_when_full"], f["ring_data_size"])
        return None
    return check


def interrupts_sent(n):
    def check(h):
        if len(h) != 1 or h[0]["sent"] != n:
            return "hostile lines %r" % h
        return None
    return check


def rescind_sent(h):
    if len(h) != 1 or not h[0]["request_sent"]:
        return "hostile lines %r" % h
    return None


FLOOD = 1000
INTERRUPTS = 2000

CASES = [
    # ---- the ring itself: no way to resync, the channel is reset ----
    Case("ring-index-beyond", "hostile ring-index beyond\n", closed, RING_BROKEN,
         "A write index past the data area (Linux's ring_buffer.c: indices are offsets below the "
         "data size, multiples of 8) says nothing about where packets are: nothing in "
         "the ring can be trusted. hvkvpd closes the channel; opening it again is a new "
         "channel with both indices 0 (Linux's hv_ringbuffer_init on every open)."),
    Case("ring-index-misaligned",
         "hostile ring-index misaligned\nnegotiate\nrescind\nwait 300\noffer\n", closed,
         RING_BROKEN,
         "A misaligned write index: as above. Here the host also rescinds and offers "
         "the device again, once hvkvpd has reopened the channel (a rescind while it is "
         "between two attempts would leave it nothing to notice), and hvkvpd follows it "
         "to the new uio node; the rescind itself is a notice, not a fault.",
         notice=r"the host rescinded"),
    Case("ring-index-mid-header", "hostile ring-index mid-header\n", closed, RING_BROKEN,
         "The write index ends inside a packet's descriptor: fewer bytes published "
         "than a descriptor and trailer take. A packet cut by the index cannot be read "
         "and the next one has no known start."),
    Case("desc-long", "hostile desc long\n", closed, RING_BROKEN,
         "len8 claims 16 bytes more than were published. Linux's hv_pkt_iter_first "
         "clamps such a length and reads on; lib/ring acts on no guess, so the ring is "
         "reset instead."),
    Case("desc-offset-past-len", "hostile desc offset-past-len\n", closed, RING_BROKEN,
         "offset8 beyond len8: the payload would start after the packet's end."),
    Case("desc-offset-short", "hostile desc offset-short\n", closed, RING_BROKEN,
         "offset8 1: the payload would start inside the 16-byte descriptor."),
    Case("desc-len-zero", "hostile desc len-zero\n", closed, RING_BROKEN,
         "len8 0: a packet shorter than its own descriptor; the next packet's start "
         "would be this one's."),
    Case("desc-len-max", "hostile desc len-max\n", closed, RING_BROKEN,
         "len8 0xFFFF, the largest claim: about 512 KiB, far past what was published "
         "and past the end of the data area, so that it would wrap. (In hvsim's "
         "2 MiB rings no 16-bit len8 can reach round the ring twice; the check that "
         "stops this one, the length against the published bytes, is the one that "
         "stops any longer claim.)"),
    # ---- one message malformed: the ring is sound, the channel stays ----
    Case("truncated", "hostile truncated 20\n", dropped, r"not understood .*dropped",
         "A packet of 20 bytes ends inside the IC header. Linux's "
         "hv_kvp_onchannelcallback drops packets shorter than the 28-byte headers "
         "without a reply; so does hvkvpd."),
    Case("icmsgsize", "hostile icmsgsize 100\nexpect HV_E_FAIL\n", replied(HV_E_FAIL),
         r"not understood .*answered HV_E_FAIL",
         "icmsgsize claims 100 bytes more than the packet carries. Linux does not "
         "check it and would read past what arrived; hvkvpd answers HV_E_FAIL with the "
         "body echoed, since the host waits for an answer to its one transaction."),
    Case("negotiate-overflow", "hostile negotiate 0xffff 0xffff\nexpect HV_E_FAIL\n",
         negotiate_failed, r"negotiation failed",
         "Counts of 0xFFFF: above the 100 Linux allows (vmbus_prep_negotiate_resp) "
         "and 4 x 131070 bytes beyond the packet. FreeBSD's KVP answers such a "
         "negotiate HV_E_FAIL (hv_kvp.c), which hvkvpd follows, with counts 0."),
    Case("negotiate-beyond", "hostile negotiate 50 50\nexpect HV_E_FAIL\n",
         negotiate_failed, r"negotiation failed",
         "Counts within 100 whose 400 bytes of versions lie beyond the packet: the same "
         "check of Linux (ICMSG_HDR + 8 + 4 x count > length) and the same answer."),
    Case("key-size-above", "hostile kvp-size key 1000\nexpect HV_E_FAIL\n",
         replied(HV_E_FAIL), r"not understood .*answered HV_E_FAIL",
         "key_size 1000 above the 512-byte key array. Linux passes it on unchecked; the "
         "codec refuses it (-EOVERFLOW) and hvkvpd answers HV_E_FAIL, as for every "
         "message it refuses on the channel."),
    Case("value-size-above", "hostile kvp-size value 0xffffffff\nexpect HV_E_FAIL\n",
         replied(HV_E_FAIL), r"not understood .*answered HV_E_FAIL",
         "value_size 0xFFFFFFFF above the 2048-byte value array: as above."),
    Case("pool-5", "hostile kvp-pool 5\nexpect HV_E_FAIL\n", replied(HV_E_FAIL),
         r"not understood .*answered HV_E_FAIL",
         "Pool 5, one past the five pools. Linux's daemon indexes its pool array with "
         "it unchecked (tools/hv/hv_kvp_daemon.c); hvkvpd answers HV_E_FAIL."),
    Case("pool-255", "hostile kvp-pool 255\nexpect HV_E_FAIL\n", replied(HV_E_FAIL),
         r"not understood .*answered HV_E_FAIL", "Pool 255: as pool 5."),
    Case("odd-key-size", "hostile kvp-odd key\nexpect HV_E_FAIL\n", replied(HV_E_FAIL),
         r"not understood .*answered HV_E_FAIL",
         "An odd byte count for UTF-16 text: no whole number of units (-EPROTO), "
         "answered HV_E_FAIL."),
    Case("odd-value-size", "hostile kvp-odd value\nexpect HV_E_FAIL\n",
         replied(HV_E_FAIL), r"not understood .*answered HV_E_FAIL",
         "The same in the value."),
    Case("surrogate-high", "hostile kvp-surrogate high\nexpect HV_E_FAIL\n",
         replied(HV_E_FAIL), r"not understood .*answered HV_E_FAIL",
         "A high surrogate with no low one after it. Linux's utf16s_to_utf8s skips it "
         "and stores a key the host never sent; hvkvpd refuses it (-EDOM): HV_E_FAIL."),
    Case("surrogate-low", "hostile kvp-surrogate low\nexpect HV_E_FAIL\n",
         replied(HV_E_FAIL), r"not understood .*answered HV_E_FAIL",
         "A lone low surrogate: as above."),
    # ---- flow and life cycle ----
    Case("flood", "hostile flood %d\n" % FLOOD, flood_answered(FLOOD), r"no room for a reply",
         "%d GETs without reading a reply: the guest's ring (2 MiB, 2632 bytes a reply) "
         "fills after about 800. hvkvpd must set pending_send_sz, hold the reply and "
         "read nothing more (Linux's ring_buffer.c), and go on once the host reads: every request "
         "answered, in order, none lost; one line for each time the ring fills, which "
         "can happen again when the host drains only part of it." % FLOOD,
         sim_timeout=15, episodes=8),
    Case("empty-interrupts", "hostile interrupts %d\n" % INTERRUPTS,
         interrupts_sent(INTERRUPTS), None,
         "%d interrupts with nothing in the ring. Not a fault: a host interrupts for "
         "room too, and uio counts coalesce; hvkvpd looks at the ring and sleeps again, "
         "logging nothing and using little CPU." % INTERRUPTS),
    Case("rescind-mid-request", "hostile rescind-mid-request\nwait 300\noffer\n",
         rescind_sent, None,
         "The device is rescinded after a SET is in the ring, before its reply is read. "
         "The host has withdrawn the channel, so no reply can reach it (the protocol has "
         "no status for this); hvkvpd notices the rescind once, waits for the offer and "
         "serves the new channel. A rescind is the host's right: a notice, no warning.",
         notice=r"the host rescinded"),
]


def run_case(tmp, case):
    d = os.path.join(tmp, case.name)
    os.mkdir(d)
    root, state = os.path.join(d, "root"), os.path.join(d, "state")
    script = ('kvp set External Normal "before"\nexpect S_OK\n' + case.script +
              'wait %d\nkvp get External Normal\nexpect S_OK\n' % int(QUIET_S * 1000 + 300))
    with open(os.path.join(d, "script"), "w") as f:
        f.write(script)
    out = open(os.path.join(d, "hvsim.out"), "a+")
    err = open(os.path.join(d, "hvsim.err"), "a+")
    log = open(os.path.join(d, "hvkvpd.log"), "a+")

    def text(f):
        f.seek(0)
        return f.read()

    sim = subprocess.Popen([HVSIM, "--root", root, "--script", os.path.join(d, "script"),
                            "--json", "--hostile", "--timeout", str(case.sim_timeout)],
                           stdout=out, stderr=err)
    CHILDREN.append(sim)
    wait_for(lambda: os.path.exists(os.path.join(root, "dev", "uio0")), 10,
             case.name + ": hvsim did not create its sim root")
    kvpd = subprocess.Popen([HVKVPD, "--backend", "sim", "--root", root, "--state-dir", state,
                             "--socket", os.path.join(d, "socket"), "-n", "-d", *SANITIZED_ARGS],
                            stdout=log, stderr=subprocess.STDOUT)
    CHILDREN.append(kvpd)

    def hostile_lines():
        return [json.loads(l) for l in text(out).splitlines()
                if l.startswith("{") and '"hostile"' in l]

    # The quiet spell: from the fault's report on, hvkvpd must not spin.
    wait_for(lambda: hostile_lines() or sim.poll() is not None, 60,
             case.name + ": hvsim never reported the fault")
    if kvpd.poll() is None:
        c0 = cpu_seconds(kvpd.pid)
        time.sleep(QUIET_S)
        if kvpd.poll() is None:
            spent = cpu_seconds(kvpd.pid) - c0
            if spent > QUIET_CPU_S:
                fail("%s: hvkvpd used %.2f s of CPU in %.1f s after the fault: it spins\n%s" %
                     (case.name, spent, QUIET_S, text(log)[-3000:]))
    try:
        rc = sim.wait(60)
    except subprocess.TimeoutExpired:
        fail(case.name + ": hvsim did not finish:\n" + text(err))
    running = kvpd.poll() is None
    if running:
        kvpd.send_signal(signal.SIGTERM)
        try:
            krc = kvpd.wait(15)
        except subprocess.TimeoutExpired:
            kvpd.kill()
            fail(case.name + ": hvkvpd did not stop on SIGTERM")
    lg = text(log)
    for mark in SANITIZER_MARKS:
        if mark in lg:
            fail("%s: sanitizer report in hvkvpd's log:\n%s" % (case.name, lg[-6000:]))
    if not running:
        fail("%s: hvkvpd died (exit %s):\n%s" % (case.name, kvpd.returncode, lg[-4000:]))
    if krc != 0:
        fail("%s: hvkvpd exited %d on SIGTERM:\n%s" % (case.name, krc, lg[-4000:]))
    if rc != 0:
        fail("%s: hvsim exited %d (an expectation or the request after the fault):\n%s\n"
             "hvkvpd:\n%s" % (case.name, rc, text(err), lg[-4000:]))
    problem = case.check(hostile_lines())
    if problem:
        fail("%s: %s\n%s" % (case.name, problem, text(out)[-2000:]))
    replies = [json.loads(l) for l in text(out).splitlines() if l.startswith("{")]
    last = [r for r in replies if r.get("reply") == "kvp"]
    if not last or last[-1]["op"] != "get" or last[-1]["value"] != "before":
        fail("%s: the request after the fault was not answered with the value set "
             "before it: %r" % (case.name, last[-1:]))
    # Up to the answer after the fault: hvsim's exit afterwards is a rescind too.
    lines = lg.splitlines()
    after = [i for i, l in enumerate(lines) if 'host GET External "Normal"' in l]
    if not after:
        fail("%s: hvkvpd did not log the request after the fault:\n%s" % (case.name, lg))
    lines = lines[:after[-1] + 1]
    faults = [l for l in lines if FAULT_LINE.match(l)]
    if case.fault is None:
        if faults:
            fail("%s: no fault line expected, hvkvpd logged:\n%s" % (case.name, "\n".join(faults)))
    elif not 1 <= len(faults) <= case.episodes or \
            not all(re.search(case.fault, f) for f in faults):
        fail("%s: 1 to %d lines matching /%s/ expected, hvkvpd logged:\n%s" %
             (case.name, case.episodes, case.fault, "\n".join(faults) or "(none)"))
    if case.notice:
        notices = [l for l in lines if re.search(case.notice, l)]
        if len(notices) != 1:
            fail("%s: one notice /%s/ expected, got %d:\n%s" %
                 (case.name, case.notice, len(notices), lg))
    for f in (out, err, log):
        f.close()
    return (faults or [l for l in lines if case.notice and re.search(case.notice, l)]
            or ["(nothing logged)"])[0]


def main():
    print("hvkvpd under test: %s (%s)" % (HVKVPD, "AddressSanitizer, without the sandbox"
                                          if INSTRUMENTED else "not instrumented"))
    tmp = tempfile.mkdtemp(prefix="hvuio-hostile-")
    try:
        cases = [c for c in CASES if not ONLY or c.name in ONLY]
        if ONLY and len(cases) != len(ONLY):
            fail("unknown case in %r" % ONLY)
        for c in cases:
            t0 = time.monotonic()
            line = run_case(tmp, c)
            print("ok %-22s %5.2f s  %s" % (c.name, time.monotonic() - t0, line))
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
