"""README's example runs as written, and its quick start names exactly two commands."""

import os
import re
import subprocess
import sys

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


def test_first_task_example_runs_as_written(tmp_path):
    text = _read()
    section = text.split("## Your first task", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    env = dict(os.environ, ASTRA_OUTPUT_DIR=str(tmp_path / "out"))
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    first = run()
    assert first.returncode == 0, first.stderr
    assert "2 spectra done (0 already complete), 0 failed" in first.stdout
    second = run()
    assert "2 spectra done (2 already complete), 0 failed" in second.stdout
