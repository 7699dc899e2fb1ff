"""astra.forking: the spectrum readers are imported before a fork, not when a task module is."""

import os
import subprocess
import sys
import textwrap

HEAVY = ("specutils", "scipy.optimize", "matplotlib")


def run_python(code, env=None):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_method_modules_do_not_import_the_readers_and_a_fork_does():
    out = run_python(f"""
        import os, sys
        import astra.contrib.rocket, astra.contrib.thecannon, astra.contrib.continuum
        print("before:", [m for m in {HEAVY!r} if m in sys.modules])
        pid = os.fork()
        if pid == 0:  # the child finds them imported (by the parent, once)
            os._exit(0 if "astra.tools.spectrum" in sys.modules and "specutils" in sys.modules else 3)
        _, status = os.waitpid(pid, 0)
        print("child:", os.waitstatus_to_exitcode(status))
        print("parent:", "astra.tools.spectrum" in sys.modules)
    """)
    assert "before: []" in out and "child: 0" in out and "parent: True" in out


def test_astra_run_with_nothing_to_do_imports_no_reader(db_url):
    """The catalogue form with nothing to do needs the query, not specutils (docs/benchmarks.md)."""
    out = run_python(f"""
        import sys
        from astra.cli import main
        # an empty catalogue: said on stderr, exit status 1 (tests/test_empty_outcome.py)
        assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar"]) == 1
        assert main(["run", "thecannon", "ApogeeCoaddedSpectrumInApStar", "--model-path", "m.npz"]) == 1
        print("imported:", [m for m in {HEAVY!r} if m in sys.modules])
    """, env={"ASTRA_DATABASE_URL": db_url})
    assert "imported: []" in out
