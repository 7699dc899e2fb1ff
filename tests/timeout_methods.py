"""Methods that hang on one chosen spectrum, in both styles, for tests/test_timeout.py and
bench/timeout.py.

``$ASTRA_HANG_ON`` names the spectrum (a ``spectrum_pk`` for :func:`stalling_snr`, an ``obj`` for
:class:`StallingEstimateSNR`); ``$ASTRA_HANG_HOW`` is ``sleep`` (``time.sleep`` forever) or
``subprocess`` (``sleep 1000`` in a child process, whose pid is appended to
``$ASTRA_HANG_PIDS``), ``c`` (a regular expression that backtracks for ages in C, holding the
GIL) or ``die`` (the process kills itself, as a segfault would end it). Every spectrum computed appends ``<key> <pid>`` to ``$ASTRA_CLAIM_LOG``.
"""

import os
import re
import signal
import subprocess
import time
from typing import Iterable

import numpy as np

from astra import task
from astra.contrib.rocket import EstimateSNR
from astra.fields import FloatField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
from astra.models.pipeline import PipelineOutputMixin
from claim_tasks import log_computed
from engine_methods import _log


def hang(key):
    """Never return when ``key`` is ``$ASTRA_HANG_ON``."""
    if str(key) != os.environ.get("ASTRA_HANG_ON"):
        return
    if os.environ.get("ASTRA_HANG_HOW") == "c":
        re.match(r"(a+)+$", "a" * 64 + "!")  # 2**64 steps in the C regex engine, the GIL held
    if os.environ.get("ASTRA_HANG_HOW") == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("ASTRA_HANG_HOW") == "subprocess":
        child = subprocess.Popen(["sleep", "1000"])
        path = os.environ.get("ASTRA_HANG_PIDS")
        if path:
            with open(path, "a") as fp:
                fp.write(f"{child.pid}\n")
        child.wait()
    while True:
        time.sleep(1000)


class StallingSNR(PipelineOutputMixin):
    """The median S/N of a spectrum."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Median S/N of good pixels")


@task(timeout=600)
def stalling_snr(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], **kwargs) -> Iterable[StallingSNR]:
    """The median S/N of each spectrum; hangs on ``$ASTRA_HANG_ON``."""
    time.sleep(float(os.environ.get("ASTRA_SETUP_SLEEP") or 0))  # "loading a model"
    for spectrum in spectra:
        hang(spectrum.spectrum_pk)
        flux, ivar = spectrum.flux, spectrum.ivar
        _log(f"spectrum_pk={spectrum.spectrum_pk}")
        good = ivar > 0
        yield StallingSNR.from_spectrum(spectrum, snr=float(np.median(flux[good] * np.sqrt(ivar[good]))))


class StallingEstimateSNR(EstimateSNR):
    """:class:`~astra.contrib.rocket.EstimateSNR` that hangs on the ``obj`` ``$ASTRA_HANG_ON``."""

    task_namespace = "stalltests"
    timeout = 600

    def setup(self):
        time.sleep(float(os.environ.get("ASTRA_SETUP_SLEEP") or 0))  # "loading a model"
        return super().setup()

    def process(self, task, context):
        hang(task.obj)
        log_computed(task)
        return super().process(task, context)
