"""What the sim suite's drivers share: starting hvsim, failing, waiting for a process,
reading its log."""
import os
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def finish(p, timeout=120):
    """p's exit status; a process still running after timeout seconds fails the test."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("process %s did not finish in %d s" % (p.args[0], timeout))


def read(f):
    f.seek(0)
    return f.read()


def start_host(hvsim, tmp, script, device, extra=()):
    """hvsim playing `script` under tmp/root, once it has made its device:
    (process, root, stdout, stderr), the last two files to read()."""
    path = os.path.join(tmp, "script")
    with open(path, "w") as f:
        f.write(script)
    root = os.path.join(tmp, "root")
    out = open(os.path.join(tmp, "hvsim.out"), "w+")
    err = open(os.path.join(tmp, "hvsim.err"), "w+")
    p = subprocess.Popen([hvsim, "--root", root, "--script", path, "--device", device, "-v",
                          *extra], stdout=out, stderr=err)
    node = os.path.join(root, "dev", "uio0")
    end = time.monotonic() + 20
    while not os.path.exists(node):
        if p.poll() is not None or time.monotonic() > end:
            fail("hvsim made no device: " + read(err))
        time.sleep(0.01)
    return p, root, out, err
