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


def testtemporary_names_carry_the_writer(tmp_path):
    from astra.processes import this_process
    from astra.targets import temporary_writer

    me = this_process()
    with atomic_path(tmp_path / "out.fits") as tmp:
        assert temporary_writer(tmp) == (me.host, me.boot[:8], me.pid)
        open(tmp, "wb").write(b"x")
    assert temporary_writer("plain.fits") is None
    assert temporary_writer(f".a{TEMPORARY_MARKER}123-4") is None  # an older Astra's name


def test_dead_writers_temporaries_go_and_a_live_writers_stay(tmp_path):
    from astra.targets import remove_dead_temporaries

    path = tmp_path / "big.txt"
    script = textwrap.dedent(
        f"""
        import time
        from astra.targets import AtomicFileTarget
        with AtomicFileTarget({str(path)!r}).open("w") as fp:
            fp.write("x" * 1000)
            fp.flush()
            print("writing", flush=True)
            time.sleep(120)
        """
    )
    live = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    dead = subprocess.Popen([sys.executable, "-c", script.replace("big.txt", "other.txt")], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "writing" and dead.stdout.readline().strip() == "writing"
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait()
        # Another host's temporary file: removed only once it is older than the expiry.
        foreign = tmp_path / f".c.txt{TEMPORARY_MARKER}far-away-host-0123abcd-77-0"
        foreign.write_text("partial")
        names = sorted(os.listdir(tmp_path))
        assert len(names) == 3
        removed = remove_dead_temporaries(tmp_path)
        assert [os.path.basename(p) for p in removed] == [n for n in names if f"-{dead.pid}-" in n]
        assert remove_dead_temporaries(tmp_path) == []
        old = time.time() - 7200
        os.utime(foreign, (old, old))
        assert remove_dead_temporaries(tmp_path, expiry=3600) == [str(foreign)]
        remaining = os.listdir(tmp_path)
        assert len(remaining) == 1 and f"-{live.pid}-" in remaining[0]  # the live writer's
    finally:
        for proc in (live, dead):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("mode", ["none", "file", "directory"])
def test_every_durability_mode_writes_the_same_file(tmp_path, monkeypatch, mode):
    import astra.config
    from astra.targets import atomic_open, fsync_mode

    (tmp_path / "c.yml").write_text(f"output_fsync: {mode}\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "c.yml"))
    astra.config.reload()
    assert fsync_mode() == mode
    with AtomicFileTarget(tmp_path / "a.txt").open("w") as fp:
        fp.write("a")
    with atomic_open(tmp_path / "b.txt") as fp:
        fp.write("b")
    with atomic_path(tmp_path / "c.txt") as tmp:
        open(tmp, "w").write("c")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt", "c.txt", "c.yml"]
    assert [open(tmp_path / f"{n}.txt").read() for n in "abc"] == ["a", "b", "c"]


def test_a_bad_durability_setting_names_the_setting(tmp_path, monkeypatch):
    import astra.config

    (tmp_path / "c.yml").write_text("output_fsync: sometimes\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "c.yml"))
    astra.config.reload()
    with pytest.raises(ValueError, match="output_fsync"):
        with AtomicFileTarget(tmp_path / "a.txt").open("w") as fp:
            fp.write("a")
    assert not (tmp_path / "a.txt").exists()


def test_a_forked_writer_names_its_own_pid_in_its_temporary_files(tmp_path):
    from astra.targets import temporary_name, temporary_writer

    parent = temporary_writer(temporary_name(str(tmp_path / "out.txt")))
    assert parent[2] == os.getpid()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a Luigi worker process writing outputs
        try:
            os.write(write_end, temporary_name(str(tmp_path / "out.txt")).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    name = os.read(read_end, 4096).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert temporary_writer(name)[2] == pid != os.getpid()


def test_atomic_writes_make_missing_directories_one_or_several_levels_deep(tmp_path):
    from astra.targets import AtomicFileTarget, atomic_open

    (tmp_path / "a").mkdir()
    for path in (tmp_path / "a" / "b" / "out.txt", tmp_path / "c" / "d" / "e" / "out.txt"):
        with AtomicFileTarget(str(path)).open("w") as fp:
            fp.write("x")
        assert path.read_text() == "x"
    path = tmp_path / "f" / "g" / "out.bin"
    with atomic_open(str(path), "wb") as fp:
        fp.write(b"y")
    assert path.read_bytes() == b"y" and not [p for p in path.parent.iterdir() if p.name != "out.bin"]
