"""``from astra.utils import log``: a method's ``log.info`` shows on the console, in the run's
log and in the batch's log (SDSS Astra's users rely on it)."""

import glob
import os
import subprocess
import sys
import textwrap

from astra.tools import synthetic

METHOD = textwrap.dedent('''
    from typing import Iterable
    from astra import task
    from astra.fields import FloatField
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
    from astra.models.pipeline import PipelineOutputMixin
    from astra.utils import log


    class LoggedValue(PipelineOutputMixin):
        """A value, logged."""
        value = FloatField(null=True, help_text="A value")


    @task
    def logged(spectra: Iterable[ApogeeCoaddedSpectrumInApStar]) -> Iterable[LoggedValue]:
        log.info("loading the model once per batch")
        for spectrum in spectra:
            log.info(f"analysing spectrum {spectrum.spectrum_pk}")
            yield LoggedValue.from_spectrum(spectrum, value=1.0)
''')


def _astra(tmp_path, *args, command=("-m", "astra.cli")):
    env = dict(os.environ, ASTRA_OUTPUT_DIR=str(tmp_path / "out"), HOME=str(tmp_path),
               ASTRA_DATABASE_URL=f"sqlite:///{tmp_path / 'astra.db'}",
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)


def test_log_info_in_a_task_shows_on_the_console_and_in_the_run_and_batch_logs(tmp_path):
    (tmp_path / "logged_methods.py").write_text(METHOD)
    synthetic.write_sample_tree(str(tmp_path / "sas"), 2, release="dr13", species="apStar", seed=1, n_visits=1)
    migrated = _astra(tmp_path, "migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir",
                      str(tmp_path / "sas"), "--no-progress")
    assert migrated.returncode == 0, migrated.stderr
    # under plain Luigi
    luigi = _astra(tmp_path, "--module", "logged_methods", "logged", "--spectrum-pk", "1", "--local-scheduler",
                   command=("-m", "luigi"))
    assert luigi.returncode == 0, luigi.stderr
    assert "INFO analysing spectrum 1" in luigi.stderr
    # under astra run: the console, the run's log and the batch's log
    ran = _astra(tmp_path, "run", "logged_methods.logged", "ApogeeCoaddedSpectrumInApStar")
    assert ran.returncode == 0, ran.stderr
    assert "INFO loading the model once per batch" in ran.stderr
    assert "INFO analysing spectrum 2" in ran.stderr
    (run_log,) = glob.glob(str(tmp_path / "out" / "runs" / "*" / "run.log"))
    (batch_log,) = glob.glob(str(tmp_path / "out" / "runs" / "*" / "batch-*.log"))
    for path in (run_log, batch_log):
        with open(path) as fp:
            text = fp.read()
        assert "INFO loading the model once per batch" in text and "INFO analysing spectrum 2" in text, (path, text)
