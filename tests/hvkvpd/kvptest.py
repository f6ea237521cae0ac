# SPDX-License-Identifier: ISC
"""Shared helpers of the hvkvpd tests: pool files, the kernel side of
/dev/vmbus/hv_kvp, processes and Debian packages."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

RECORD = 2560
KEY_FIELD = 512
VALUE_FIELD = 2048

# sizeof(struct hv_kvp_msg) of <linux/hyperv.h>, what the kernel reads and
# writes: a 4-byte header and a 7426-byte body union that the compiler pads
# to 7428, because struct hv_kvp_msg_delete is not packed and aligns the
# union to 4 (Debian's hv_kvp_daemon writes 7432 bytes).
KMSG_SIZE = 7432
KVP_OP_GET, KVP_OP_SET, KVP_OP_DELETE, KVP_OP_ENUMERATE = 0, 1, 2, 3
KVP_OP_REGISTER1 = 100
REG_SZ, REG_U32, REG_U64 = 1, 4, 8
HV_S_OK = 0
HV_E_FAIL = 0x80004005
HV_S_CONT = 0x80070103
HV_ERROR_NOT_SUPPORTED = 0x80070032
POOLS = ["External", "Guest", "Auto", "Guest/Parameters", "Internal"]
AUTO_KEYS = ["FullyQualifiedDomainName", "IntegrationServicesVersion",
             "NetworkAddressIPv4", "NetworkAddressIPv6", "OSBuildNumber", "OSName",
             "OSMajorVersion", "OSMinorVersion", "OSVersion", "ProcessorArchitecture"]


# Every process a test starts, so that a failure leaves none behind.
CHILDREN = []


def spawn(*args, **kwargs):
    p = subprocess.Popen(*args, **kwargs)
    CHILDREN.append(p)
    return p


def reap():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    reap()
    sys.exit(1)


def skip(msg):
    # Meson counts 77 as a skip; used only when the machine cannot run the
    # case at all (not root), never for a failure.
    print("SKIP: " + msg)
    sys.exit(77)


def need_root():
    if os.geteuid() != 0:
        skip("needs root (mount and network namespaces, apt-get)")


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            fail(what)
        time.sleep(0.02)


def read_pool(path):
    """Records of a pool file as (key, value) byte strings, cut at the NUL."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for off in range(0, len(data) - len(data) % RECORD, RECORD):
        k = data[off:off + KEY_FIELD].split(b"\0", 1)[0]
        v = data[off + KEY_FIELD:off + RECORD].split(b"\0", 1)[0]
        out.append((k, v))
    return out


def apt_install(*packages):
    """Install Debian packages that are missing; idempotent."""
    missing = []
    for p in packages:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                           capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                        *missing], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                            *missing], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        fail("apt-get install %s: %s" % (" ".join(missing), r.stderr[-2000:]))


def stop(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is None:
        p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("%s did not stop within %d s of signal %d" % (p.args, timeout, sig))


# --- the kernel side of /dev/vmbus/hv_kvp ---------------------------------

def kmsg(op, pool=0, body=b""):
    m = struct.pack("<BBH", op, pool, 0) + body
    return m + b"\0" * (KMSG_SIZE - len(m))


def exchg_value(key, value=None, value_type=REG_SZ, value_size=None):
    """struct hv_kvp_exchg_msg_value as Linux's kvp_send_key fills it: UTF-8
    strings, sizes counting the NUL (GET: no value, size 0)."""
    k = key.encode()
    if value is None:
        v, vs = b"", 0
    else:
        v = value.encode()
        vs = len(v) + 1
    if value_size is not None:
        vs = value_size
    return (struct.pack("<III", value_type, len(k) + 1, vs) +
            k.ljust(KEY_FIELD, b"\0") + v.ljust(VALUE_FIELD, b"\0"))


def kmsg_set(pool, key, value):
    return kmsg(KVP_OP_SET, pool, exchg_value(key, value))


def kmsg_get(pool, key):
    return kmsg(KVP_OP_GET, pool, exchg_value(key))


def kmsg_delete(pool, key):
    k = key.encode()
    return kmsg(KVP_OP_DELETE, pool, struct.pack("<I", len(k) + 1) + k.ljust(KEY_FIELD, b"\0"))


def kmsg_enumerate(pool, index):
    return kmsg(KVP_OP_ENUMERATE, pool, struct.pack("<I", index))


class KernelSide:
    """Plays drivers/hv/hv_kvp.c towards one daemon over a SOCK_SEQPACKET
    socket: accepts its REGISTER1, answers with the version, then sends one
    request at a time and waits for the reply, as the kernel keeps one
    transaction outstanding."""

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(4)
        self.conn = None
        self.registrations = 0

    def accept(self, timeout=20.0):
        self.listener.settimeout(timeout)
        try:
            self.conn, _ = self.listener.accept()
        except socket.timeout:
            fail("the daemon never opened the kernel device " + self.path)
        self.conn.settimeout(timeout)
        msg = self.conn.recv(KMSG_SIZE + 16)
        if len(msg) != KMSG_SIZE or msg[0] != KVP_OP_REGISTER1:
            fail("first message is not a %d-byte REGISTER1: %d bytes, op %d" %
                 (KMSG_SIZE, len(msg), msg[0] if msg else -1))
        # kvp_register() answers with HV_DRV_VERSION in body.kvp_register.
        self.conn.send(kmsg(KVP_OP_REGISTER1, 0, b"3.1"))
        self.registrations += 1
        return msg

    def request(self, msg, timeout=10.0):
        """The daemon's reply, or None when it closed or did not answer."""
        self.conn.settimeout(timeout)
        try:
            self.conn.send(msg)
            r = self.conn.recv(KMSG_SIZE + 16)
        except (socket.timeout, ConnectionError, OSError):
            return None
        return r if r else None

    def close(self):
        if self.conn:
            self.conn.close()
        self.listener.close()


LINUX_DAEMON = "/usr/sbin/hv_kvp_daemon"


def start_kernel_daemon(kind, tmp, hvkvpd, shim, setup="ip link set lo up", hvkvpd_args=""):
    """Linux's daemon ("linux") or hvkvpd --backend kernel ("hvkvpd") in a
    private mount and network namespace (setup runs there first), against a
    KernelSide of its own, registered. Linux's daemon is the unmodified
    binary; the LD_PRELOAD shim redirects its open() of the device, and a
    folder in tmp is bind-mounted over its compiled-in /var/lib/hyperv.
    Returns the process (its pid is the daemon's), the KernelSide, the pool
    folder and the log."""
    state = os.path.join(tmp, kind + "-state")
    os.mkdir(state)
    sock = os.path.join(tmp, kind + ".sock")
    ks = KernelSide(sock)
    log = open(os.path.join(tmp, kind + ".log"), "a+")
    if kind == "linux":
        inner = ("%s && mount --bind %s /var/lib/hyperv && "
                 "exec env LD_PRELOAD=%s HVKVPD_TEST_KDEV=%s %s -n" %
                 (setup, state, shim, sock, LINUX_DAEMON))
    else:
        inner = ("%s && exec %s --backend kernel --kernel-device %s --state-dir %s "
                 "--socket %s -n %s" % (setup, hvkvpd, sock, state,
                                        os.path.join(tmp, "client.sock"), hvkvpd_args))
    p = spawn(["unshare", "-m", "-n", "sh", "-c", inner],
              stdout=log, stderr=subprocess.STDOUT)
    ks.accept()
    return p, ks, state, log

