"""What the sim suite's drivers share: failing, waiting for a process, reading its log."""
import subprocess
import sys


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
