#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hvsim --device nic as the host, hvpoll as the guest, on a temporary sim
root: the maps and GPADL handles as sysfs shows them to a program of its
own (this one), the NVSP setup, and frames fed on every channel, checked
per channel by count, bytes and hash against what the host sent.
usage: nic-test.py CASE HVSIM HVPOLL [KERNEL]"""

import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

from simtest import fail, finish, read, start_host

CASE, HVSIM, HVPOLL = sys.argv[1], sys.argv[2], sys.argv[3]
KERNEL = sys.argv[4] if len(sys.argv) > 4 else None
HOST_EXTRA = ["--kernel", KERNEL] if KERNEL else []
NIC_CLASS = "f8615163-df3e-46c5-913f-f2d2f965ed0e"
NIC_INSTANCE = "d34b2567-b9b6-42b9-8778-0a4ec0b955bf"
LINE = re.compile(r"^channel (\d+): frames (\d+) bytes (\d+) fnv ([0-9a-f]{16})", re.M)


def sysfs_maps(root):
    """maps/mapN as the kernel's uio shows them: name and size, read directly."""
    uio = os.path.join(root, "sys/bus/vmbus/devices", NIC_INSTANCE, "uio")
    maps = []
    (node,) = os.listdir(uio)
    base = os.path.join(uio, node, "maps")
    for k in range(5):
        d = os.path.join(base, "map%d" % k)
        if not os.path.isdir(d):
            break
        with open(os.path.join(d, "name")) as f:
            name = f.read().rstrip("\n")
        with open(os.path.join(d, "size")) as f:
            size = int(f.read(), 16)
        maps.append((name, size))
    return maps


def run(tmp, script, guest_args, device="nic", target=NIC_CLASS, stop=False):
    host, root, out, err = start_host(HVSIM, tmp, script, device, HOST_EXTRA)
    maps = sysfs_maps(root) if device == "nic" else []
    guest = subprocess.run([HVPOLL, "--root", root, "--timeout", "20", *guest_args,
                            target], capture_output=True, text=True, timeout=120)
    if stop:
        host.terminate()
    hrc = finish(host)
    return hrc, read(out), read(err), guest, maps


def check_maps(maps, gout):
    # uio_hv_generic's five maps of a NIC, with its sizes (hv_uio_probe).
    want = [("txrx_rings", None), ("int_page", 4096), ("monitor_page", 4096),
            ("recv:", 31 << 20), ("send:", 16 << 20)]
    if len(maps) != 5:
        fail("sysfs lists %d maps: %s" % (len(maps), maps))
    for (name, size), (wname, wsize) in zip(maps, want):
        if not (name == wname or (wname.endswith(":") and name.startswith(wname))):
            fail("map %s where %s was due" % (name, wname))
        if wsize is not None and size != wsize:
            fail("map %s: %d bytes, not %d" % (name, size, wsize))
    recv = int(maps[3][0].split(":", 1)[1])
    send = int(maps[4][0].split(":", 1)[1])
    # Linux hands GPADL handles out in order from 0xE1E10: receive first.
    if recv < 0xE1E10 or send != recv + 1:
        fail("GPADL handles recv %d send %d" % (recv, send))
    for i, (name, size) in enumerate(maps):
        if "map %d: %s, %d bytes\n" % (i, name, size) not in gout:
            fail("hvpoll did not report map %d %s: %s" % (i, name, gout))
    if "gpadl recv %d send %d\n" % (recv, send) not in gout:
        fail("hvpoll read other GPADL handles: " + gout)


def check_channels(hout, gout, count, size, nchan):
    sent = LINE.findall(hout)
    got = LINE.findall(gout)
    if len(sent) != nchan:
        fail("the host fed %d channels, not %d: %s" % (len(sent), nchan, hout))
    if sorted(sent) != sorted(got):
        fail("per channel, sent %s, received %s" % (sent, got))
    relids = {s[0] for s in sent}
    if len(relids) != nchan:
        fail("channels repeat: %s" % sent)
    for relid, frames, nbytes, _ in sent:
        if int(frames) != count or int(nbytes) != count * size:
            fail("channel %s: %s frames, %s bytes" % (relid, frames, nbytes))


def case_feed(tmp):
    # 3000 frames a channel: 47 rounds of the 64 slots each has, so every
    # slot comes back by the guest's RNDIS_ACK many times.
    count, size = 3000, 1514
    hrc, hout, herr, g, maps = run(tmp, "nvs subchannels\nfeed %d %d\n" % (count, size),
                                   ["--subchannels", "2", "--count", str(count)])
    if hrc != 0 or g.returncode != 0:
        fail("hvsim %d, hvpoll %d:\n%s%s%s" % (hrc, g.returncode, herr, g.stdout, g.stderr))
    check_maps(maps, g.stdout)
    if "device %s: 3 channels\n" % NIC_INSTANCE not in g.stdout:
        fail("hvpoll did not poll 3 channels: " + g.stdout)
    if "2 sub-channels offered" not in herr:
        fail("no sub-channel offer: " + herr)
    check_channels(hout, g.stdout, count, size, 3)


def case_rescind(tmp):
    # No count: the channels run until the host takes the device away.
    count, size = 200, 60
    hrc, hout, herr, g, _ = run(tmp, "nvs subchannels\nfeed %d %d\nrescind\n" % (count, size),
                                ["--subchannels", "4"])
    if hrc != 0:
        fail("hvsim %d: %s" % (hrc, herr))
    if g.returncode != 2 or "No such device" not in g.stderr:
        fail("hvpoll %d after the rescind: %s%s" % (g.returncode, g.stdout, g.stderr))
    check_channels(hout, g.stdout, count, size, 5)


def case_primary_only(tmp):
    count, size = 500, 1
    hrc, hout, herr, g, _ = run(tmp, "nvs\nfeed %d %d\n" % (count, size),
                                ["--count", str(count)])
    if hrc != 0 or g.returncode != 0:
        fail("hvsim %d, hvpoll %d:\n%s%s%s" % (hrc, g.returncode, herr, g.stdout, g.stderr))
    check_channels(hout, g.stdout, count, size, 1)


def case_not_a_nic(tmp):
    # NVSP and frames belong to the NIC: a script for another device fails
    # before a guest is bothered, and hvpoll finds no receive buffer on one.
    for action in ("nvs", "feed 10 10"):
        p = subprocess.run([HVSIM, "--root", os.path.join(tmp, "r1"), "--device", "heartbeat"],
                           input=action + "\n", capture_output=True, text=True, timeout=60)
        if p.returncode != 3 or "need --device nic" not in p.stderr:
            fail("%s on heartbeat: hvsim %d: %s" % (action, p.returncode, p.stderr))
    _, _, _, g, _ = run(tmp, "wait 60000\n", [], device="heartbeat",
                        target="fd149e91-82e0-4a7d-afa6-2a4166cbd7c0", stop=True)
    if g.returncode != 1 or "maps: No such file" not in g.stderr:
        fail("hvpoll on a heartbeat device: %d %s" % (g.returncode, g.stderr))


def case_feed_first(tmp):
    # Frames only once the guest gave its receive buffer; a bad size fails
    # the script before the device is offered.
    hrc, _, herr, g, _ = run(tmp, "feed 10 10\n", [])
    if hrc != 2 or "has not connected its receive buffer" not in herr:
        fail("feed before nvs: hvsim %d: %s" % (hrc, herr))
    if g.returncode == 0:
        fail("hvpoll went on without its host: " + g.stdout)
    for size in ("0", "1685"):
        p = subprocess.run([HVSIM, "--root", os.path.join(tmp, "r2"), "--device", "nic"],
                           input="feed 1 %s\n" % size, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 3 or "SIZE from 1 to 1684" not in p.stderr:
            fail("feed 1 %s: hvsim %d: %s" % (size, p.returncode, p.stderr))


def case_reoffer(tmp):
    # A re-offer is a new probe: new buffers, new GPADL handles, never the
    # old ones (Linux counts them up for the whole boot, and the open of the
    # channel took one for its rings).
    host, root, _, err = start_host(HVSIM, tmp, "open\nrescind\noffer\nwait 60000\n", "nic",
                                  HOST_EXTRA)
    first = sysfs_maps(root)
    # This program opens the device as a guest would: the map message comes.
    guest = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    guest.connect(os.path.join(root, "dev", "uio0"))
    guest.settimeout(20)
    msg, anc, _, _ = guest.recvmsg(16, socket.CMSG_SPACE(5 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for fd in struct.unpack("%di" % (len(data) // 4), data):
                os.close(fd)
    if struct.unpack("<I", msg) != (5,):
        fail("map message %r" % msg)
    # The rescind closes it.
    if guest.recv(16) != b"":
        fail("the host did not close the device at the rescind")
    guest.close()
    base = os.path.join(root, "sys/bus/vmbus/devices", NIC_INSTANCE, "uio", "uio1")
    end = time.monotonic() + 20
    # addr is the last file of map 4 the host writes, each whole.
    while not os.path.exists(os.path.join(base, "maps", "map4", "addr")):
        if host.poll() is not None or time.monotonic() > end:
            fail("no re-offer: " + read(err))
        time.sleep(0.01)
    second = sysfs_maps(root)
    host.terminate()
    finish(host)
    h1 = [int(n.split(":")[1]) for n, _ in first[3:]]
    h2 = [int(n.split(":")[1]) for n, _ in second[3:]]
    if h1 != [0xE1E10, 0xE1E11] or h2 != [0xE1E13, 0xE1E14]:
        fail("GPADL handles %s, then %s" % (h1, h2))


CASES = {"feed": case_feed, "rescind": case_rescind, "primary-only": case_primary_only,
         "not-a-nic": case_not_a_nic, "feed-first": case_feed_first,
         "reoffer": case_reoffer}
with tempfile.TemporaryDirectory(prefix="hvuio-nic-") as tmpdir:
    CASES[CASE](tmpdir)
print("ok: " + CASE)
