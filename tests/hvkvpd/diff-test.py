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

Two runs, each with a fresh pair of daemons: the first under an
os-release whose VERSION_ID has a dot ("22.04") and without any
hv_set_ifconfig, the second under one without a dot and with a fake
hv_set_ifconfig (it records its arguments and copies the files it was
given). Each namespace has two veth pairs with several IPv4 and IPv6
addresses, host-scope and link-local ones included, default routes, a
resolv.conf of the test's, and a sysfs net folder of the test's (bind
mounts in the private mount namespace; Linux's daemon reads
/sys/class/net for MAC addresses and adapter GUIDs, hvkvpd too, under
its root). Debian's own hv_get_dns_info and hv_get_dhcp_info answer
Linux's daemon, as on a Debian guest. GET_IP_INFO is asked for each
interface and for bad MACs, SET_IP_INFO for each error case and for
valid configurations.

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
# Where Debian's hyperv-daemons keeps hv_get_dns_info and hv_get_dhcp_info
# (its daemon's KVP_SCRIPTS_PATH, where it also looks for hv_set_ifconfig).
SCRIPTS = "/usr/libexec/hypervkvpd"

# Interface, MAC, adapter GUID (None: no device_id, as a veth has none).
IFACES = [("hvd0", "02:00:5e:00:53:01", "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71}"),
          ("hvd1", "02:00:5e:00:53:02", None),
          ("hve0", "02:00:5e:00:53:03", "{5d0a1e2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b}"),
          ("hve1", "02:00:5e:00:53:04", None)]
NETNS_SETUP = " && ".join([
    "ip link set lo up",
    "ip link add hvd0 address 02:00:5e:00:53:01 type veth peer name hvd1 address 02:00:5e:00:53:02",
    "ip link add hve0 address 02:00:5e:00:53:03 type veth peer name hve1 address 02:00:5e:00:53:04",
    "for i in hvd0 hvd1 hve0 hve1; do ip link set $i addrgenmode none && ip link set $i up; done",
    # Several addresses, a secondary one, host and link scope.
    "ip addr add 192.0.2.10/24 dev hvd0",
    "ip addr add 192.0.2.11/24 dev hvd0",
    "ip addr add 198.51.100.5/25 dev hvd0",
    "ip addr add 203.0.113.7/32 dev hvd0 scope host",
    "ip addr add 2001:db8::10/64 dev hvd0 nodad",
    "ip addr add 2001:db8:1::10/48 dev hvd0 nodad",
    "ip addr add fe80::10/64 dev hvd0 nodad",
    "ip addr add 10.1.2.3/8 dev hve0",
    "ip addr add 169.254.7.7/16 dev hve0 scope link",
    "ip addr add 2001:db8:2::30/64 dev hve0 nodad",
    "ip addr add fe80::30/64 dev hve0 nodad",
    "ip route add default via 192.0.2.1 dev hvd0",
    "ip -6 route add default via 2001:db8::1 dev hvd0",
])


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
    if op == KVP_OP_GET_IP_INFO:
        # process_ob_ipinfo: the four lists (UTF-16, up to their NUL), family
        # and DHCP flag; on an error the kernel sends only the status.
        if err != 0:
            return (err,)
        b = 4
        return (err, reply[b + 256], reply[b + 257]) + tuple(
            kernel_string(reply[b + off:b + off + size], size // 2 - 1)
            for off, size in ((258, 2048), (2306, 2048), (4354, 1024), (5378, 2048)))
    if op == KVP_OP_SET_IP_INFO:
        return (err,)
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


KVP_OP_GET_IP_INFO, KVP_OP_SET_IP_INFO = 4, 5
HV_INVALIDARG, HV_GUID_NOTFOUND = 0x80070057, 0x80041002


def kmsg_ip(op, adapter, family=0, dhcp=0, addrs="", masks="", gws="", dns=""):
    """struct hv_kvp_ipaddr_value as Linux's process_ib_ipinfo gives it to
    the daemon: UTF-8 in the UTF-16-sized fields."""
    def field(text, size):
        return text.encode().ljust(size, b"\0")
    return kmsg(op, 0, field(adapter, 256) + bytes([family, dhcp]) + field(addrs, 2048) +
                field(masks, 2048) + field(gws, 1024) + field(dns, 2048))


def ip_sequence():
    """GET_IP_INFO of every interface and the bad MACs, then SET_IP_INFO's
    error cases in Linux's order and valid configurations."""
    seq = []
    for name, mac, guid in IFACES:
        seq.append(("ip-get-" + name, KVP_OP_GET_IP_INFO, kmsg_ip(KVP_OP_GET_IP_INFO, mac.upper())))
    seq.append(("ip-get-lower-case", KVP_OP_GET_IP_INFO, kmsg_ip(KVP_OP_GET_IP_INFO, IFACES[0][1])))
    seq.append(("ip-get-unknown-mac", KVP_OP_GET_IP_INFO,
                kmsg_ip(KVP_OP_GET_IP_INFO, "02:00:5E:00:53:99")))
    seq.append(("ip-get-not-a-mac", KVP_OP_GET_IP_INFO, kmsg_ip(KVP_OP_GET_IP_INFO, "not a mac")))
    g0, g2 = IFACES[0][2], IFACES[2][2]
    static = dict(family=3, addrs="192.0.2.50;192.0.2.51;2001:db8::50",
                  masks="255.255.255.0;255.255.254.0;64", gws="192.0.2.1;2001:db8::1",
                  dns="192.0.2.53;2001:db8::53")
    seq += [
        ("ip-set-unknown-guid", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, "{00000000-0000-0000-0000-000000000001}", **static)),
        # Both wrong: the adapter is looked up first.
        ("ip-set-unknown-guid-bad-address", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, "{00000000-0000-0000-0000-000000000001}", 1, 0,
                 "192.0.2.300", "24")),
        ("ip-set-not-a-guid", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, "not-a-guid", **static)),
        ("ip-set-bad-address", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, g0, 1, 0, "192.0.2.300", "255.255.255.0")),
        ("ip-set-bad-gateway", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, g0, 1, 0, "192.0.2.50", "255.255.255.0", "gateway")),
        ("ip-set-bad-mask", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, g0, 2, 0, "2001:db8::50", "64$(id)")),
        ("ip-set-static", KVP_OP_SET_IP_INFO, kmsg_ip(KVP_OP_SET_IP_INFO, g0, **static)),
        # DHCP: the lists are still read, and checked.
        ("ip-set-dhcp-garbage", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, g2, 1, 1, "garbage", "garbage")),
        ("ip-set-dhcp", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, g2, 1, 1, "10.1.2.9", "255.0.0.0", "", "10.0.0.53")),
        ("ip-set-ipv6-only", KVP_OP_SET_IP_INFO,
         kmsg_ip(KVP_OP_SET_IP_INFO, g2, 2, 0, "2001:db8:2::40;2001:db8:3::40", "64;/56",
                 "2001:db8:2::1", "2001:db8:2::53")),
    ]
    return seq


def auto_walk():
    return [("enum-auto-%d" % i, KVP_OP_ENUMERATE, kmsg_enumerate(2, i)) for i in range(11)]


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
    "enum-index-huge": (
        "difference 12: Linux's daemon takes the host's index as a signed int, so 0xffffffff passes "
        "its bounds check as -1 and it answers whatever lies before its record array; "
        "hvkvpd answers the end of the enumeration",
        lambda lin, hv: hv == (HV_S_CONT,)),
}


def dns_without_stub(lin, hv):
    """Equal but for the loopback stub resolver in Linux's DNS list."""
    return (lin[:6] == hv[:6] and "127.0.0.53;" in lin[6] and
            lin[6].replace("127.0.0.53;", "") == hv[6])


DNS_STUB = ("difference 13: hvkvpd reports the DNS servers that answer (systemd-resolved's "
            "upstream servers, resolv.conf's other servers); Linux's hv_get_dns_info "
            "reports resolv.conf's lines, the 127.0.0.53 stub included, which means "
            "nothing to the host", dns_without_stub)
for _name in ("ip-get-hvd0", "ip-get-hve0"):
    EXCEPTIONS[_name] = DNS_STUB
EXCEPTIONS["ip-get-lower-case"] = (
    "difference 14: hvkvpd finds the adapter by a MAC in lower case too; Linux's "
    "kvp_mac_to_ip compares it with sysfs's address in upper case only",
    lambda lin, hv: lin == (HV_E_FAIL,) and hv[0] == HV_S_OK and "192.0.2.10" in hv[3])
EXCEPTIONS["ip-set-bad-mask"] = (
    "difference 8: a mask that is neither an IPv4 address nor a prefix length is "
    "HV_INVALIDARG for hvkvpd; Linux's daemon writes it into the ifcfg file as it came "
    "(here a shell command substitution, which ifcfg readers source)",
    lambda lin, hv: lin[0] != HV_INVALIDARG and hv == (HV_INVALIDARG,))

# Auto values that are computed differently (difference 5): the host name.
AUTO_FQDN_NOTE = ("difference 5: Linux's daemon resolves the host name once at start-up "
                  "and answers the resolver's error text when that fails")


OS_RELEASE = {
    "dotted": 'PRETTY_NAME="Test OS 22.04"\nNAME="Test OS"\nVERSION_ID="22.04"\nID=testos\n',
    "plain": "# no dot in the version\nNAME='Plain OS'\nVERSION_ID=12\nNAME=\"Plain \\\"OS\\\" Last\"\n",
}
RESOLV = "nameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
FAKE_IFCONFIG = """#!/bin/sh
# Records what it was run with, and a copy of each file it was given.
rec=%s
echo "$0 $*" >> "$rec/calls"
n=$(wc -l < "$rec/calls")
for f in "$@"; do cp "$f" "$rec/$(basename "$f").$n"; done
exit 0
"""


def fixture(tmp, phase, kind, os_release, ifconfig):
    """The files a daemon sees in its mount namespace: the sysfs net folder,
    resolv.conf, os-release, the scripts folder of Debian's daemon."""
    base = os.path.join(tmp, "%s-%s" % (phase, kind))
    net = os.path.join(base, "net")
    for name, mac, guid in [("lo", "00:00:00:00:00:00", None)] + IFACES:
        os.makedirs(os.path.join(net, name))
        with open(os.path.join(net, name, "address"), "w") as f:
            f.write(mac + "\n")
        if guid:
            os.makedirs(os.path.join(net, name, "device"))
            with open(os.path.join(net, name, "device", "device_id"), "w") as f:
                f.write(guid + "\n")
    scripts = os.path.join(base, "scripts")
    os.makedirs(scripts)
    for script in ("hv_get_dns_info", "hv_get_dhcp_info"):
        shutil.copy2(os.path.join(SCRIPTS, script), scripts)
    record = os.path.join(base, "record")
    os.makedirs(record)
    if ifconfig:
        path = os.path.join(scripts, "hv_set_ifconfig")
        with open(path, "w") as f:
            f.write(FAKE_IFCONFIG % record)
        os.chmod(path, 0o755)
    for name, text in (("resolv.conf", RESOLV), ("os-release", os_release)):
        with open(os.path.join(base, name), "w") as f:
            f.write(text)
    mounts = " && ".join([
        "mount --bind %s/net /sys/class/net" % base,
        "mount --bind %s/resolv.conf /etc/resolv.conf" % base,
        "mount --bind %s/os-release /etc/os-release" % base,
        "mount --bind %s /usr/libexec/hypervkvpd" % scripts,
        # The machine's own network state must not leak into this namespace.
        "for d in /run/systemd/netif /run/systemd/resolve /run/NetworkManager; do "
        "if [ -d $d ]; then mount -t tmpfs tmpfs $d; fi; done"])
    return mounts, record


def start_daemon(kind, tmp, phase="main", os_release=OS_RELEASE["dotted"], ifconfig=False):
    """start_kernel_daemon's, in the namespace fixture() prepares; with
    the folder where the fake hv_set_ifconfig records."""
    mounts, record = fixture(tmp, phase, kind, os_release, ifconfig)
    return start_kernel_daemon(kind, tmp, HVKVPD, SHIM, NETNS_SETUP + " && " + mounts, "-d",
                               name="%s-%s" % (phase, kind)) + (record,)


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


def exchange(daemons, seq):
    """The same messages to each daemon, one at a time; the kernel's views.
    After each, once both have answered, their pool files are compared."""
    replies = {k: [] for k in daemons}
    for name, op, msg in seq:
        for k, d in daemons.items():
            replies[k].append(kernel_view(op, d[1].request(msg, timeout=30)))
        compare_files(snapshot(daemons["linux"][2]), snapshot(daemons["hvkvpd"][2]), name)
    return replies


def compare(daemons, seq, replies):
    """Identical replies, or the documented difference; (same, different)."""
    same = differ_ok = 0
    for i, (name, op, msg) in enumerate(seq):
        lin, hv = replies["linux"][i], replies["hvkvpd"][i]
        for k, r in (("linux", lin), ("hvkvpd", hv)):
            if r is None:
                daemons[k][3].seek(0)
                fail("%s: %s did not answer (log: %s)" % (name, k, daemons[k][3].read()))
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
        fail("%s: replies differ\n  Linux  %r\n  hvkvpd %r" % (name, lin, hv))
    return same, differ_ok


def stop_all(daemons):
    for k, (p, ks, state, log, record) in daemons.items():
        if k == "hvkvpd":
            rc = stop(p)
            if rc != 0:
                log.seek(0)
                fail("hvkvpd exited %d after SIGTERM:\n%s" % (rc, log.read()))
        else:
            stop(p, signal.SIGKILL)
        ks.close()


def ifconfig_calls(record, state):
    """What the fake hv_set_ifconfig recorded, one (command line, {file name:
    text}) per run; the state folder spelt /var/lib/hyperv, as Linux's."""
    path = os.path.join(record, "calls")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [line.rstrip("\n").replace(state, "/var/lib/hyperv") for line in f]
    runs = []
    for n, line in enumerate(lines, 1):
        files = {}
        for arg in line.split()[1:]:
            name = os.path.basename(arg)
            with open(os.path.join(record, "%s.%d" % (name, n))) as f:
                files[name] = f.read()
        runs.append((line, files))
    return runs


def check_ifconfig(daemons):
    """Linux's daemon (Debian's, 6.1) passes the ifcfg file; hvkvpd that
    file, identical, and the NetworkManager keyfile Linux passes since 6.6.
    Linux's run for the bad mask hvkvpd refuses (difference 8) is left out."""
    lin = [r for r in ifconfig_calls(daemons["linux"][4], daemons["linux"][2])
           if "$(id)" not in "".join(r[1].values())]
    hv = ifconfig_calls(daemons["hvkvpd"][4], daemons["hvkvpd"][2])
    if not lin:
        fail("the fake hv_set_ifconfig was never run by Linux's daemon")
    if len(lin) != len(hv):
        fail("hv_set_ifconfig runs: Linux %r, hvkvpd %r" % (lin, hv))
    for n, ((lc, lf), (hc, hf)) in enumerate(zip(lin, hv), 1):
        ifname = lc.rsplit("ifcfg-", 1)[1]
        want = "%s /var/lib/hyperv/%s.nmconnection" % (lc, ifname)
        if hc != want:
            fail("hv_set_ifconfig run %d: Linux %r, hvkvpd %r (want %r)" % (n, lc, hc, want))
        name = "ifcfg-" + ifname
        if lf.get(name) != hf.get(name):
            fail("%s (run %d) differs:\nLinux:\n%s\nhvkvpd:\n%s" %
                 (name, n, lf.get(name), hf.get(name)))
        nm = hf.get(ifname + ".nmconnection", "")
        if ("interface-name=%s\n" % ifname) not in nm or "]\nmethod=" not in nm:
            fail("hvkvpd's keyfile for run %d:\n%s" % (n, nm))
    print("hv_set_ifconfig: %d runs each with the same ifcfg file; hvkvpd also passes "
          "the keyfile, as Linux 6.6 and later do:" % len(lin))
    for lc, lf in hv:
        for name, text in sorted(lf.items()):
            print("  %s: %s" % (name, text.strip().replace("\n", " | ")))


def main():
    need_root()
    apt_install("hyperv-daemons", "iproute2", "util-linux")
    if not os.access(LINUX_DAEMON, os.X_OK):
        fail(LINUX_DAEMON + " missing after installing hyperv-daemons")
    # Its compiled-in folder must exist as a mount point; the package's unit
    # would create it too (StateDirectory=hyperv).
    os.makedirs("/var/lib/hyperv", exist_ok=True)
    seq = build_sequence() + ip_sequence()
    with tempfile.TemporaryDirectory(prefix="hvkvpd-diff-") as tmp:
        daemons = {k: start_daemon(k, tmp) for k in ("linux", "hvkvpd")}
        replies = exchange(daemons, seq)
        # The kernel device fails under the daemon (Linux's comment: hibernation):
        # both must reopen it and register again.
        for k, d in daemons.items():
            ks = d[1]
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
        stop_all(daemons)
        after = snapshot(daemons["hvkvpd"][2])
        if after != files["hvkvpd"]:
            fail("hvkvpd's pool files changed after the bad pool or at exit")
        same, differ_ok = compare(daemons, seq, replies)
        stale = compare_files(files["linux"], files["hvkvpd"])
        sizes = [len(files["hvkvpd"][i][0]) // RECORD for i in range(5)]
        print("%d messages (os-release with a dotted VERSION_ID, no hv_set_ifconfig): "
              "%d identical replies, %d documented differences; pool files identical after "
              "each (records per pool at the end %s), %d stale bytes after NULs in Linux's "
              "files that hvkvpd zeroes" % (len(seq), same, differ_ok, sizes, stale))

        # Second run: VERSION_ID without a dot, a fake hv_set_ifconfig installed.
        seq2 = auto_walk() + ip_sequence()
        daemons = {k: start_daemon(k, tmp, "ifconfig", OS_RELEASE["plain"], True)
                   for k in ("linux", "hvkvpd")}
        replies = exchange(daemons, seq2)
        stop_all(daemons)
        same, differ_ok = compare(daemons, seq2, replies)
        check_ifconfig(daemons)
        print("%d messages (os-release without a dot, hv_set_ifconfig installed): "
              "%d identical replies, %d documented differences" % (len(seq2), same, differ_ok))


if __name__ == "__main__":
    try:
        main()
    finally:
        reap()
