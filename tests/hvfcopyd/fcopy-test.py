#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of hvfcopyd: hvsim plays the fcopy host in a separate
process on a temporary sim root, hvfcopyd serves it with --backend sim, and
the test checks what the host was answered (hvsim --json), the files in the
destination folder (read here, as any other program would) and what
hvfcopyd logged. usage: fcopy-test.py CASE HVSIM HVFCOPYD"""

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hvkvpd"))
from kvptest import spawn, reap, fail, need_root, wait_for, stop  # noqa: E402

CASE, HVSIM, HVFCOPYD = sys.argv[1], sys.argv[2], sys.argv[3]

HV_S_OK = 0
HV_E_FAIL = 0x80004005
HV_ERROR_ALREADY_EXISTS = 0x80070050
HV_ERROR_DISK_FULL = 0x80070070
FRAGMENT = 6144


def q(s):
    """A word of hvsim's script grammar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Run:
    """One hvsim and one hvfcopyd on a fresh sim root."""

    def __init__(self, tmp, name, script, daemon_args=(), wrap=(), sim_timeout=20,
                 hostile=False, backend="sim", kernel=None):
        self.dir = os.path.join(tmp, name)
        os.mkdir(self.dir)
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        spath = os.path.join(self.dir, "script")
        with open(spath, "w") as f:
            f.write(script)
        self.sim_out = open(os.path.join(self.dir, "hvsim.out"), "a+")
        self.sim_err = open(os.path.join(self.dir, "hvsim.err"), "a+")
        self.sim = spawn([HVSIM, "--root", self.root, "--device", "fcopy", "--script", spath,
                          "--json", "--timeout", str(sim_timeout)] +
                         (["--hostile"] if hostile else []) +
                         (["--kernel", kernel] if kernel else []),
                         stdout=self.sim_out, stderr=self.sim_err)
        wait_for(lambda: os.path.exists(os.path.join(self.root, "dev", "uio0")), 10,
                 "hvsim did not create its sim root")
        self.daemon_args = list(daemon_args)
        self.backend = backend
        self.wrap = list(wrap)
        self.logpath = os.path.join(self.dir, "hvfcopyd.log")
        self.daemon = None
        self.start_daemon()

    def start_daemon(self):
        self.log = open(self.logpath, "a+")
        self.daemon = spawn([*self.wrap, HVFCOPYD, "--backend", self.backend, "--root", self.root,
                             "--state-dir", self.state, "-n", "-d", *self.daemon_args],
                            stdout=self.log, stderr=self.log)

    @staticmethod
    def text(f):
        f.flush()
        f.seek(0)
        return f.read()

    def finish(self, timeout=120):
        try:
            rc = self.sim.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("hvsim did not finish in %d s:\n%s" % (timeout, self.text(self.sim_err)))
        if rc != 0:
            fail("hvsim exited %d:\n%s\nhvfcopyd:\n%s" %
                 (rc, self.text(self.sim_err), self.text(self.log)))
        code = stop(self.daemon)
        if code != 0:
            fail("hvfcopyd exited %d:\n%s" % (code, self.text(self.log)))
        return [json.loads(line) for line in self.text(self.sim_out).splitlines()
                if line.startswith("{")]

    def logtext(self):
        return self.text(self.log)


def replies(out, kind):
    return [r for r in out if r.get("reply") == kind]


def check_status(got, want, what):
    if got != want:
        fail("%s: status 0x%08x, expected 0x%08x" % (what, got, want))


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def same_file(src, dst, mode=0o744):
    if not os.path.isfile(dst) or os.path.islink(dst):
        fail("%s is not a regular file" % dst)
    if digest(src) != digest(dst):
        fail("%s differs from %s" % (dst, src))
    m = stat.S_IMODE(os.lstat(dst).st_mode)
    if m != mode:
        fail("%s has mode %o, expected %o" % (dst, m, mode))


def no_temporaries(d):
    for top, dirs, files in os.walk(d):
        for f in files:
            if f.startswith(".hvfcopyd-"):
                fail("temporary file left behind: %s" % os.path.join(top, f))


def make(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def pattern(n):
    return bytes((i * 7 + 3) % 256 for i in range(n))


# --- cases -------------------------------------------------------------------

def case_sizes(tmp):
    """Small, empty, exactly one fragment, one byte over, non-ASCII names."""
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    uni_dir = os.path.join(dst, "données-日本")
    os.mkdir(uni_dir)
    srcs = {
        "small": make(os.path.join(tmp, "small"), b"hello, guest\n"),
        "empty": make(os.path.join(tmp, "empty"), b""),
        "one": make(os.path.join(tmp, "one"), pattern(FRAGMENT)),
        "over": make(os.path.join(tmp, "over"), pattern(FRAGMENT + 1)),
        "many": make(os.path.join(tmp, "many"), pattern(10 * FRAGMENT + 17)),
    }
    uni = make(os.path.join(tmp, "unicode"), "Grüße 😀\n".encode())
    targets = [(srcs[k], os.path.join(dst, k)) for k in srcs]
    # A directory destination gets the source's name, as Copy-VMFile does.
    targets.append((uni, uni_dir + "/"))
    targets.append((uni, os.path.join(uni_dir, "ファイル-é-😀.txt")))
    script = "".join("copy %s %s\nexpect ok\n" % (q(s), q(d)) for s, d in targets)
    # The automatic choice: a device bound to uio_hv_generic whose node is a socket.
    run = Run(tmp, "run", script, backend="auto")
    out = run.finish()
    copies = replies(out, "copy")
    if len(copies) != len(targets):
        fail("%d copy replies for %d copies" % (len(copies), len(targets)))
    expect_frags = {"small": 1, "empty": 0, "one": 1, "over": 2, "many": 11}
    for (s, d), r in zip(targets, copies):
        check_status(r["status"], HV_S_OK, "copy of " + s)
        name = os.path.basename(s)
        if name in expect_frags and r["fragments"] != expect_frags[name]:
            fail("%s went in %d fragments" % (name, r["fragments"]))
        same_file(s, os.path.join(d, "unicode") if d.endswith("/") else d)
    no_temporaries(dst)
    log = run.logtext()
    if "backend sim: fcopy channel under " + run.root not in log:
        fail("--backend auto did not choose the sim device:\n" + log)
    if len(re.findall(r"copy started: ", log)) != len(targets) or \
       len(re.findall(r"copy finished: ", log)) != len(targets):
        fail("expected one start and one end line per copy:\n" + log)


def case_large(tmp):
    """100 MB in 17067 fragments, on tmpfs so that the disk is not what is measured."""
    shm = tempfile.mkdtemp(prefix="hvfcopyd-test-", dir="/dev/shm")
    try:
        src = os.path.join(shm, "src")
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(100):
                f.write(bytes([i]) + block[1:])
        dst = os.path.join(shm, "dst")
        os.mkdir(dst)
        run = Run(tmp, "run", "copy %s %s\nexpect ok\n" % (q(src), q(dst + "/big")),
                  sim_timeout=60)
        out = run.finish(timeout=300)
        r = replies(out, "copy")[0]
        check_status(r["status"], HV_S_OK, "100 MB copy")
        if r["fragments"] != (100 << 20) // FRAGMENT + 1:
            fail("100 MB went in %d fragments" % r["fragments"])
        same_file(src, dst + "/big")
        no_temporaries(dst)
    finally:
        subprocess.run(["rm", "-rf", shm])


def case_overwrite(tmp):
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    old = make(os.path.join(dst, "f"), b"the old content, twenty+")
    os.chmod(old, 0o640)
    os.chown(old, 1234, 5678)
    new = make(os.path.join(tmp, "new"), b"fifteen bytes!\n")
    # A hard link a local user planted: replaced, never written through.
    other = make(os.path.join(tmp, "other"), b"someone else's file")
    os.link(other, os.path.join(dst, "hardlink"))
    run = Run(tmp, "run", "copy %s %s\nexpect HV_ERROR_ALREADY_EXISTS\n"
              "copy %s %s overwrite\nexpect ok\n"
              "copy %s %s overwrite\nexpect ok\n" % (q(new), q(old), q(new), q(old),
                                                      q(new), q(dst + "/hardlink")))
    out = run.finish()
    r = replies(out, "copy")
    check_status(r[0]["status"], HV_ERROR_ALREADY_EXISTS, "copy over an existing file")
    if r[0]["stage"] != "start":
        fail("the refusal came at %s, not at START" % r[0]["stage"])
    check_status(r[1]["status"], HV_S_OK, "copy with OVER_WRITE")
    # As with Linux's O_TRUNC, the file keeps its owner and mode.
    same_file(new, old, mode=0o640)
    st = os.lstat(old)
    if (st.st_uid, st.st_gid) != (1234, 5678):
        fail("the overwritten file's owner changed to %d:%d" % (st.st_uid, st.st_gid))
    with open(other, "rb") as f:
        if f.read() != b"someone else's file":
            fail("the copy wrote through a hard link")
    same_file(new, dst + "/hardlink", mode=0o644)  # the old file's mode
    no_temporaries(dst)


def case_create_path(tmp):
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    src = make(os.path.join(tmp, "src"), pattern(3000))
    script = ("copy %s %s\nexpect HV_E_FAIL\n" % (q(src), q(dst + "/a/b/f")) +
              "copy %s %s create-path\nexpect ok\n" % (q(src), q(dst + "/a/b/f")) +
              # The last directory without a trailing '/' is made too.
              "fcopy start %s 3000 create-path\nexpect ok\nfcopy cancel\n" % q(dst + "/c/d/g"))
    run = Run(tmp, "run", script)
    out = run.finish()
    r = replies(out, "copy")
    check_status(r[0]["status"], HV_E_FAIL, "copy into a missing directory")
    check_status(r[1]["status"], HV_S_OK, "copy with CREATE_PATH")
    same_file(src, dst + "/a/b/f")
    for d in ("a", "a/b", "c", "c/d"):
        m = stat.S_IMODE(os.lstat(os.path.join(dst, d)).st_mode)
        if m != 0o755:
            fail("directory %s has mode %o" % (d, m))
    if os.path.exists(dst + "/c/d/g"):
        fail("a cancelled copy left its file")
    no_temporaries(dst)


def case_disk_full(tmp):
    """A 1 MiB tmpfs in hvfcopyd's own mount namespace: 2 MiB do not fit, 700 KiB do."""
    need_root()
    dst = os.path.join(tmp, "small")
    os.mkdir(dst)
    big = make(os.path.join(tmp, "big"), pattern(2 << 20))
    fits = make(os.path.join(tmp, "fits"), pattern(700 << 10))
    script = ("copy %s %s\nexpect HV_ERROR_DISK_FULL\n" % (q(big), q(dst + "/big")) +
              "fcopy cancel\nexpect ok\n"
              # The partial file is gone, so the space is back.
              "copy %s %s\nexpect ok\n" % (q(fits), q(dst + "/fits")))
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs -o size=1m hvfcopyd-test %s && exec \"$0\" \"$@\"" % dst]
    run = Run(tmp, "run", script, wrap=wrap)
    # Look at the file system through the daemon's own mount namespace.
    view = "/proc/%d/root%s" % (run.daemon.pid, dst)
    wait_for(lambda: os.path.ismount("/proc/%d/root%s" % (run.daemon.pid, dst)), 10,
             "the tmpfs was not mounted")
    wait_for(lambda: os.path.exists(view + "/fits") or run.sim.poll() is not None, 60,
             "the copy after the full disk did not arrive")
    files = sorted(os.listdir(view)) if os.path.isdir(view) else []
    out_ok = os.path.isfile(view + "/fits") and digest(view + "/fits") == digest(fits)
    out = run.finish()
    r = replies(out, "copy")
    check_status(r[0]["status"], HV_ERROR_DISK_FULL, "copy onto a full file system")
    # hvfcopyd reserves the file's size at START: the disk is full before any data moves.
    if r[0]["stage"] != "start":
        fail("disk full reported at %s" % r[0]["stage"])
    check_status(r[1]["status"], HV_S_OK, "copy after the full disk")
    if files != ["fits"] or not out_ok:
        fail("the small file system holds %s" % files)


def case_cancel(tmp):
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    src = make(os.path.join(tmp, "src"), pattern(20 * FRAGMENT))
    old = make(os.path.join(dst, "kept"), b"old")
    run = Run(tmp, "run", "copy %s %s cancel-after=5\nexpect ok\n"
              "copy %s %s overwrite cancel-after=3\nexpect ok\n"
              "copy %s %s\nexpect ok\n" % (q(src), q(dst + "/gone"), q(src), q(old),
                                          q(src), q(dst + "/after")))
    out = run.finish()
    r = replies(out, "copy")
    if [x["stage"] for x in r] != ["cancel", "cancel", "complete"]:
        fail("stages %s" % [x["stage"] for x in r])
    if os.path.exists(dst + "/gone"):
        fail("CANCEL left the partial file")
    with open(old, "rb") as f:
        if f.read() != b"old":
            fail("a cancelled overwrite changed the old file")
    same_file(src, dst + "/after")
    no_temporaries(dst)
    if "copy cancelled by the host" not in run.logtext():
        fail("no log line for the cancel")


def partial_copy_script(dst, src):
    """A copy left open after one fragment, then (once the guest is back) another."""
    return ("fcopy start %s 1000000\nexpect ok\nfcopy write 0 6144\nexpect ok\n"
            "%%s\ncopy %s %s\nexpect ok\n" % (q(dst + "/partial"), q(src), q(dst + "/after")))


def temporaries(d):
    return [f for f in os.listdir(d) if f.startswith(".hvfcopyd-")]


def case_kill(tmp):
    """SIGKILL in the middle of a copy, then a restart."""
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    src = make(os.path.join(tmp, "src"), pattern(50000))
    run = Run(tmp, "run", partial_copy_script(dst, src) % "fcopy await-close")
    # Killed once the host has the answer to the WRITE (hvsim prints it then).
    wait_for(lambda: Run.text(run.sim_out).count('"reply":"fcopy"') >= 2, 20,
             "the first fragment was not answered")
    if len(temporaries(dst)) != 1:
        fail("the open copy has no temporary file: %s" % os.listdir(dst))
    run.daemon.send_signal(signal.SIGKILL)
    run.daemon.wait()
    if os.path.exists(dst + "/partial"):
        fail("a killed copy left a file under the final name")
    if len(temporaries(dst)) != 1:
        fail("expected the one temporary file, found %s" % os.listdir(dst))
    run.start_daemon()
    run.finish()
    if os.path.exists(dst + "/partial") or temporaries(dst):
        fail("after the restart the destination holds %s" % os.listdir(dst))
    same_file(src, dst + "/after")
    if "partial file of a copy an earlier run did not finish" not in run.logtext():
        fail("the restart did not say it removed the partial file:\n" + run.logtext())


def case_rescind(tmp):
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    src = make(os.path.join(tmp, "src"), pattern(50000))
    run = Run(tmp, "run", partial_copy_script(dst, src) % "rescind\noffer")
    run.finish()
    if os.path.exists(dst + "/partial") or temporaries(dst):
        fail("after the rescind the destination holds %s" % os.listdir(dst))
    same_file(src, dst + "/after")
    log = run.logtext()
    if "copy abandoned" not in log or "reopened" not in log:
        fail("no abandon and reopen in the log:\n" + log)


def case_hostile(tmp):
    """Every broken host message gets an error, and the next copy works."""
    dst = os.path.join(tmp, "dst")
    os.mkdir(dst)
    src = make(os.path.join(tmp, "src"), pattern(9000))
    secret = make(os.path.join(tmp, "secret"), b"not for the host")
    os.symlink(secret, dst + "/link")
    os.symlink(secret, dst + "/dangling-to-new")
    os.remove(dst + "/dangling-to-new")
    os.symlink(os.path.join(tmp, "nowhere"), dst + "/dangling")
    os.mkdir(os.path.join(tmp, "elsewhere"))
    os.symlink(os.path.join(tmp, "elsewhere"), dst + "/userlink")
    os.lchown(dst + "/userlink", 65534, 65534)
    os.mkfifo(dst + "/fifo")
    d = dst + "/"
    cases = [
        ("WRITE without START", "fcopy write 0 10"),
        ("COMPLETE without START", "fcopy complete"),
        ("size beyond the fragment", "fcopy start %s 9000\nhostile fcopy-write 0 6145 6144"
         % q(d + "h1")),
        ("size beyond the bytes sent", "fcopy start %s 9000\nhostile fcopy-write 0 100 50"
         % q(d + "h2")),
        ("offset past the file size", "fcopy start %s 100\nfcopy write 90 20" % q(d + "h3")),
        ("offset far past", "fcopy start %s 100\nfcopy write 0x8000000000000000 10"
         % q(d + "h4")),
        ("offset going backwards", "fcopy start %s 9000\nfcopy write 0 6144\n"
         "fcopy write 100 100" % q(d + "h5")),
        ("COMPLETE short of the size", "fcopy start %s 9000\nfcopy write 0 6144\n"
         "fcopy complete" % q(d + "h6")),
        ("START while a copy is open", "fcopy start %s 9000\nfcopy start %s 9000"
         % (q(d + "h7"), q(d + "h8"))),
        ("file name without terminator", "hostile fcopy-unterminated file"),
        ("path without terminator", "hostile fcopy-unterminated path"),
        ("unpaired surrogate", "hostile fcopy-surrogate %s" % q(d)),
        ("message shorter than START", "hostile fcopy-short 0 100"),
        ("message shorter than the header", "hostile fcopy-short 1 20"),
        ("unknown operation", "fcopy op 4"),
        ("relative path", "fcopy start relative/x 1"),
        ("dot-dot component", "fcopy start %s 1" % q(d + "../escape")),
        ("symbolic link as target", "fcopy start %s 1 overwrite" % q(d + "link")),
        ("dangling symbolic link", "fcopy start %s 1 overwrite" % q(d + "dangling")),
        ("user's symbolic link on the way", "fcopy start %s 1 create-path"
         % q(d + "userlink/x")),
        ("FIFO as target", "fcopy start %s 1 overwrite" % q(d + "fifo")),
        ("directory as target", "fcopy start %s 1 overwrite" % q(tmp + "/elsewhere")),
    ]
    script = ""
    for i, (what, lines) in enumerate(cases):
        script += "%s\nexpect error\ncopy %s %s\nexpect ok\n" % (lines, q(src),
                                                                   q(d + "ok%d" % i))
    run = Run(tmp, "run", script, hostile=True)
    out = run.finish()
    copies = replies(out, "copy")
    if len(copies) != len(cases) or any(c["status"] != HV_S_OK for c in copies):
        fail("a copy after a hostile message failed: %s" % copies)
    for i in range(len(cases)):
        same_file(src, d + "ok%d" % i)
    with open(secret, "rb") as f:
        if f.read() != b"not for the host":
            fail("the symbolic link's target was written")
    for name in ("h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "escape"):
        if os.path.exists(d + name) or os.path.exists(tmp + "/" + name):
            fail("%s exists after a refused copy" % name)
    if os.listdir(os.path.join(tmp, "elsewhere")) or os.path.exists(tmp + "/nowhere"):
        fail("a link was followed")
    no_temporaries(dst)


def case_options(tmp):
    """--allow, --mode, Windows separators and the escaped log lines."""
    base = os.path.join(tmp, "dst")
    allowed = os.path.join(base, "allowed")
    os.makedirs(allowed)
    os.mkdir(os.path.join(base, "other"))
    os.symlink(os.path.join(base, "other"), os.path.join(allowed, "rootlink"))
    src = make(os.path.join(tmp, "src"), pattern(100))
    tabbed = os.path.join(allowed, "tab\there\"q")
    script = ("copy %s %s\nexpect ok\n" % (q(src), q(allowed + "/a")) +
              "copy %s %s\nexpect HV_E_FAIL\n" % (q(src), q(base + "/other/b")) +
              # Inside --allow no link is followed, not even root's.
              "copy %s %s\nexpect HV_E_FAIL\n" % (q(src), q(allowed + "/rootlink/c")) +
              "copy %s %s\nexpect ok\n" % (q(src), q(allowed.replace("/", "\\") + "\\bs")) +
              "copy %s %s\nexpect ok\n" % (q(src), q(tabbed)))
    # A kernel with 0315fef2aff9: the 16 KiB rings get their header page on
    # top (hvsim's default kernel has 12 KiB of data per direction).
    run = Run(tmp, "run", script, daemon_args=["--allow", allowed, "--mode", "0600"],
              kernel="6.18.0")
    size = open(os.path.join(run.root, "sys/bus/vmbus/devices/eb765408-105f-49b6-b4aa-"
                             "c123b64d17d4/uio/uio0/maps/map0/size")).read().strip()
    if int(size, 16) != 2 * (16384 + os.sysconf("SC_PAGE_SIZE")):
        fail("the fcopy rings on 6.18 are %s bytes" % size)
    run.finish()
    same_file(src, allowed + "/a", mode=0o600)
    same_file(src, allowed + "/bs", mode=0o600)
    same_file(src, tabbed, mode=0o600)
    if os.listdir(os.path.join(base, "other")):
        fail("a copy outside --allow arrived")
    log = run.logtext()
    want = 'copy started: "%s/tab\\x09here\\"q"' % allowed
    if want not in log:
        fail("the start line does not escape the name (%s):\n%s" % (want, log))


CASES = {
    "sizes": case_sizes,
    "large": case_large,
    "overwrite": case_overwrite,
    "create-path": case_create_path,
    "disk-full": case_disk_full,
    "cancel": case_cancel,
    "kill": case_kill,
    "rescind": case_rescind,
    "hostile": case_hostile,
    "options": case_options,
}


def main():
    # Linux's daemons leave the umask alone: 0744 files under the usual 022.
    os.umask(0o022)
    if CASE not in CASES:
        fail("unknown case " + CASE)
    if CASE in ("overwrite", "hostile"):
        need_root()
    with tempfile.TemporaryDirectory(prefix="hvfcopyd-") as tmp:
        try:
            CASES[CASE](tmp)
        finally:
            reap()
    print("ok " + CASE)


main()
