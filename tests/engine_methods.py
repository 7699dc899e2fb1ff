"""One method written in both styles, for the engine's parity tests (tests/test_engine.py).

* ``engine_methods.logged_snr`` -- a ``@task`` over the apStar catalogue table;
* ``claim_tasks.LoggedSNRToDatabase`` -- its class-style twin over dr13 apStar files;
* :class:`LoggedRows` -- a class-style batch with database outputs and no input files;
* ``engine_methods.flaky_snr`` and :class:`FlakySNRToDatabase` -- the same method in both
  styles with a retry policy (3 tries, ``OSError``); the spectrum whose file name contains
  ``$ASTRA_FLAKY`` raises ``OSError`` on its first ``$ASTRA_FLAKY_TIMES`` tries (default 2),
  each try appending a line to ``$ASTRA_FLAKY_LOG``.

Each computed spectrum appends ``<id> <pid>`` to ``$ASTRA_CLAIM_LOG`` (see
:func:`claim_tasks.log_computed`), after sleeping ``$ASTRA_CLAIM_SLEEP`` seconds; a spectrum
computed twice appears twice. A spectrum whose file does not read raises (Astra records it).
"""

import os
import time
from typing import Iterable

import numpy as np

import astra
from astra import task
from astra.contrib.rocket.results import EstimateSNRResult
from astra.database import DatabaseOutputMixin
from astra.fields import FloatField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
from astra.models.pipeline import PipelineOutputMixin
from astra.retry import RetryPolicy, retries
from astra.tasks import BaseTask
from claim_tasks import LoggedSNRToDatabase


def _log(identifier):
    delay = float(os.environ.get("ASTRA_CLAIM_SLEEP") or 0)
    if delay:
        time.sleep(delay)
    path = os.environ.get("ASTRA_CLAIM_LOG")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{identifier} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


class LoggedSNR(PipelineOutputMixin):
    """The median S/N of a spectrum."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Median S/N of good pixels")


@task
def logged_snr(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], **kwargs) -> Iterable[LoggedSNR]:
    """The median S/N of each spectrum, logging each computation."""
    for spectrum in spectra:
        flux, ivar = spectrum.flux, spectrum.ivar  # a file that does not read raises here
        _log(f"spectrum_pk={spectrum.spectrum_pk}")
        good = ivar > 0
        yield LoggedSNR.from_spectrum(spectrum, snr=float(np.median(flux[good] * np.sqrt(ivar[good]))))


class LoggedRows(DatabaseOutputMixin, BaseTask):
    """A class-style batch writing one row per ``obj``, logging each computation."""

    task_namespace = "enginetests"
    result_model = EstimateSNRResult
    obj = astra.Parameter(batch_method=tuple)

    def process(self, task, context):
        _log(task.task_id)
        return {"snr": float(len(task.obj))}


def _flaky(path):
    """Raise OSError on the first $ASTRA_FLAKY_TIMES tries of the chosen spectrum (an NFS hiccup)."""
    chosen = os.environ.get("ASTRA_FLAKY")
    if not chosen or chosen not in os.path.basename(path):
        return
    log = os.environ["ASTRA_FLAKY_LOG"]
    tries = len(open(log).read().splitlines()) if os.path.exists(log) else 0
    with open(log, "a") as fp:
        fp.write(f"{path}\n")
    if tries < int(os.environ.get("ASTRA_FLAKY_TIMES") or 2):
        raise OSError(f"stale file handle reading {path} (try {tries + 1})")


class FlakySNR(PipelineOutputMixin):
    """The median S/N of a spectrum (by a method whose reads fail transiently)."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Median S/N of good pixels")


@task
@retries(tries=3, backoff=0.01, exceptions=(OSError,))
def flaky_snr(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], **kwargs) -> Iterable[FlakySNR]:
    """The median S/N of each spectrum; the chosen one's read fails at first."""
    for spectrum in spectra:
        _flaky(spectrum.path)
        flux, ivar = spectrum.flux, spectrum.ivar
        good = ivar > 0
        yield FlakySNR.from_spectrum(spectrum, snr=float(np.median(flux[good] * np.sqrt(ivar[good]))))


class FlakySNRToDatabase(LoggedSNRToDatabase):
    """:class:`claim_tasks.LoggedSNRToDatabase` whose chosen spectrum's read fails at first."""

    task_namespace = "enginetests"
    retry_policy = RetryPolicy(tries=3, backoff=0.01, exceptions=(OSError,))

    def process(self, task, context):
        _flaky(task.input().path)
        return super().process(task, context)
