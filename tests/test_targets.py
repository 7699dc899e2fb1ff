"""Atomic writes: an exception or SIGKILL mid-write leaves no output."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from astra.targets import TEMPORARY_MARKER, AtomicFileTarget, atomic_path


def test_write_appears_on_success(tmp_path):
    target = AtomicFileTarget(tmp_path / "a" / "b" / "out.txt")
    with target.open("w") as fp:
        fp.write("hello")
    assert target.exists() and open(target.path).read() == "hello"
    assert os.listdir(tmp_path / "a" / "b") == ["out.txt"]


def test_exception_leaves_nothing(tmp_path):
    target = AtomicFileTarget(tmp_path / "out.txt")
    with pytest.raises(RuntimeError):
        with target.open("w") as fp:
            fp.write("partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_path_for_writers_that_want_a_name(tmp_path):
    path = tmp_path / "x.bin"
    with atomic_path(path) as tmp:
        assert TEMPORARY_MARKER in tmp and os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "wb").write(b"1234")
    assert path.read_bytes() == b"1234"


def test_sigkill_mid_write_leaves_no_output(tmp_path):
    path = tmp_path / "big.txt"
    script = textwrap.dedent(
        f"""
        import time
        from astra.targets import AtomicFileTarget
        with AtomicFileTarget({str(path)!r}).open("w") as fp:
            fp.write("x" * 1000)
            fp.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.1)
    assert not path.exists()
    leftovers = os.listdir(tmp_path)
    assert all(TEMPORARY_MARKER in name for name in leftovers)


def test_unwritable_directory_gives_one_clear_error_and_nothing_at_exit():
    # /proc accepts no new directories: the open fails, and the half-made handle must not
    # raise again (RecursionError) when it is garbage-collected.
    script = textwrap.dedent(
        """
        import gc
        from astra.targets import AtomicFileTarget
        try:
            AtomicFileTarget("/proc/astra/out/result.json").open("w")
        except OSError as error:
            print("OSError", error.filename)
        gc.collect()
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OSError /proc/astra")
    assert result.stderr == ""
