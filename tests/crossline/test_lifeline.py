"""Processes that die with their parent (Linux): a child, and what it forks, follows its parent."""

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossline.lifeline import die_with_parent

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's"
)

# A child that forks a grandchild, from its main thread or from another thread, writes the
# grandchild's pid and sleeps.
CHILD = """
import os, sys, threading, time
from crossline.lifeline import dies_with_parent, pass_on_to_forks
assert dies_with_parent()
pass_on_to_forks()
def fork():
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    with open(sys.argv[1], "w") as out:
        out.write(str(pid))
if sys.argv[2] == "main":
    fork()
else:
    thread = threading.Thread(target=fork)
    thread.start()
    thread.join()
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_child(tmp_path: Path, thread: str) -> tuple[subprocess.Popen, int]:
    """A child that dies with this process, and the pid of the grandchild it forked."""
    out = tmp_path / "grandchild"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), thread],
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=functools.partial(die_with_parent, os.getpid()),
    )
    deadline = time.monotonic() + 30
    while not out.exists() or not out.read_text():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return child, int(out.read_text())


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_what_a_child_forks_from_its_main_thread_dies_with_it(tmp_path):
    child, grandchild = start_child(tmp_path, "main")
    try:
        time.sleep(0.5)
        assert alive(grandchild)
        child.kill()  # SIGKILL: nothing of the child's own code runs
        child.wait()
        assert gone_within(grandchild, 5), "the grandchild outlived its parent"
    finally:
        if alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_a_fork_from_another_thread_is_left_alone(tmp_path):
    # The kernel would kill it when the forking thread ends, long before its parent does.
    child, grandchild = start_child(tmp_path, "thread")
    try:
        time.sleep(1)
        assert alive(grandchild), "killed when the thread that forked it ended"
    finally:
        child.kill()
        child.wait()
        if alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
