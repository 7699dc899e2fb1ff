"""README's example runs as written, and its quick start names exactly two commands."""

import os
import re
import subprocess
import sys

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _read():
    with open(README) as fp:
        return fp.read()


def test_quick_start_is_two_commands():
    text = _read()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(commands) == 2
    assert all(len(c.strip().splitlines()) == 1 for c in commands)
    assert "astra demo" in commands[0] and "pytest" in commands[1]


def _examples():
    section = _read().split("## Your first task", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run(code, tmp_path, **env):
    env = dict(os.environ, ASTRA_OUTPUT_DIR=str(tmp_path / "out"), **env)
    env.pop("ASTRA_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_first_task_is_a_function_and_runs_as_written(tmp_path):
    code = _examples()[0]
    assert "@task" in code
    first = _run(code, tmp_path, TMPDIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.split("\n")
    printed = [line.split() for line in lines if line and line.split()[0].isdigit()]
    assert len(printed) == 3 and all(float(snr) > 5 for _, snr in printed)
    # The user's own catalogue is left alone: the example's rows are in its scratch database,
    # which holds absolute paths (readable from any directory).
    assert not (tmp_path / "out" / "astra.db").exists()
    (database,) = tmp_path.glob("astra-first-task-*/first-task.db")
    assert f"catalogue and results: {database}" in first.stdout
    import sqlite3

    with sqlite3.connect(database) as connection:
        paths = [row[0] for row in connection.execute("SELECT path FROM apogee_coadded_spectrum_in_ap_star")]
    assert len(paths) == 3 and all(os.path.isabs(path) and os.path.exists(path) for path in paths)
    again = _run(code, tmp_path)
    assert again.returncode == 0, again.stderr
    assert [line.split() for line in again.stdout.split("\n") if line and line.split()[0].isdigit()] == printed


def test_class_style_task_example_runs_as_written(tmp_path):
    code = _examples()[1]
    assert "class Greet(BaseTask)" in code
    first = _run(code, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 spectra done (0 already complete), 0 failed" in first.stdout
    second = _run(code, tmp_path)
    assert "2 spectra done (2 already complete), 0 failed" in second.stdout


@pytest.mark.realdata
@pytest.mark.slow
def test_running_methods_work_as_written_from_a_plain_shell(tmp_path, real_sas):
    # A new user's shell: the venv not activated (the block activates it), only the system PATH.
    text = _read()
    section = text.split("## Running methods", 1)[1].split("\n## ", 1)[0]
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "source venv/bin/activate" in script and "SAS_BASE_DIR" in script
    script = script.replace("/path/to/sas", real_sas)
    os.symlink(sys.prefix, tmp_path / "venv")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "ASTRA_OUTPUT_DIR": str(tmp_path / "out")}
    out = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "EstimateSNR: 4 spectra;" in out.stdout
    assert f"results: {tmp_path / 'out' / 'EstimateSNR'}" in out.stdout   # where the results went
    assert re.search(r"^done\t\S+-snr\.json\tobj=2M00452143\+1634446", out.stdout, re.M)
    assert "\x1b[" not in out.stderr


def test_first_task_as_a_module_runs_nothing_on_import(tmp_path):
    """`astra run mymethods.mean_snr` and `luigi --module mymethods` import the saved example:
    that import must not run the tutorial (nor connect to its scratch database)."""
    (tmp_path / "mymethods.py").write_text(_examples()[0])
    imported = _run("import mymethods; print('imported', mymethods.mean_snr.name)", tmp_path, TMPDIR=str(tmp_path),
                    PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    assert imported.returncode == 0, imported.stderr
    assert "imported mean_snr" in imported.stdout and "catalogue and results" not in imported.stdout
    assert not list(tmp_path.glob("astra-first-task-*"))
