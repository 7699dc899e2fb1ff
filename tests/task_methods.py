"""Seed 000's example pipeline ("Rocket"), as its guide writes it, over test spectra.

Only the data differ: the guide reads ``BossVisitSpectrum``; these read the apStar table of the
catalogue (``ApogeeCoaddedSpectrumInApStar``), filled by ``astra migrate`` from synthetic files.
Imported by the tests and run by ``luigi --module task_methods rocket`` in subprocesses.
"""

from typing import Iterable, Optional

import numpy as np

from astra import task
from astra.fields import BitField, FloatField, TextField
from astra.models.pipeline import PipelineOutputMixin
from astra.utils import log
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar


class Rocket(PipelineOutputMixin):
    """Results from the Rocket pipeline."""

    #> Stellar Parameters
    teff = FloatField(null=True, help_text="Effective temperature [K]")
    e_teff = FloatField(null=True, help_text="Uncertainty in Teff [K]")
    logg = FloatField(null=True, help_text="Surface gravity [dex]")
    e_logg = FloatField(null=True, help_text="Uncertainty in logg [dex]")

    #> Summary Statistics
    rchi2 = FloatField(null=True, help_text="Reduced chi-squared")
    note = TextField(null=True, help_text="A note")
    result_flags = BitField(default=0)
    flag_low_snr = result_flags.flag(2**0, help_text="S/N is too low")
    flag_no_converge = result_flags.flag(2**1, help_text="Fit did not converge")


#: How many times the model was loaded (the overhead) in this process.
LOADS = []


def _load_rocket_model():
    LOADS.append(1)
    return {"scale": 1.0}


def _fit(wavelength, flux, ivar, model, some_parameter):
    good = ivar > 0
    if not good.any():
        raise ValueError("no good pixels")
    snr = float(np.median(flux[good] * np.sqrt(ivar[good])))
    teff = 4000.0 + 10 * snr * some_parameter * model["scale"]
    return teff, 50.0, 2.5, 0.1, 1.0 + 1 / max(snr, 1)


@task
def rocket(
    spectra: Iterable[ApogeeCoaddedSpectrumInApStar],
    some_parameter: Optional[float] = 1.0,
    **kwargs,
) -> Iterable[Rocket]:
    """
    Estimate stellar parameters with the Rocket method.

    :param spectra:
        An iterable of input spectra.
    :param some_parameter:
        A tuning knob.
    """
    model = _load_rocket_model()
    for spectrum in spectra:
        try:
            teff, e_teff, logg, e_logg, rchi2 = _fit(
                spectrum.wavelength,
                spectrum.flux,
                spectrum.ivar,
                model,
                some_parameter,
            )
        except Exception:
            log.exception(f"Failed on {spectrum}")
            yield Rocket.from_spectrum(spectrum, flag_no_converge=True)
            continue
        yield Rocket.from_spectrum(
            spectrum,
            teff=teff,
            e_teff=e_teff,
            logg=logg,
            e_logg=e_logg,
            rchi2=rchi2,
        )


class MedianSNR(PipelineOutputMixin):
    """Signal-to-noise of a spectrum (a method with no error handling of its own)."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Median S/N of good pixels")
    result_flags = BitField(default=0)
    flag_low_snr = result_flags.flag(2**0, help_text="S/N is below min_snr")


@task
def median_snr(
    spectra: Iterable[ApogeeCoaddedSpectrumInApStar], min_snr: float = 3.0, min_good_pixels: int = 100
) -> Iterable[MedianSNR]:
    """The median S/N of each spectrum; an unreadable spectrum raises (Astra flags it)."""
    LOADS.append(1)
    for spectrum in spectra:
        good = (spectrum.ivar > 0) & (spectrum.pixel_flags == 0)
        if good.sum() < min_good_pixels:
            raise ValueError(f"fewer than {min_good_pixels} good pixels")
        value = float(np.median(spectrum.flux[good] * np.sqrt(spectrum.ivar[good])))
        yield MedianSNR.from_spectrum(spectrum, snr=value, flag_low_snr=value < min_snr)


class WhereRun(PipelineOutputMixin):
    """Which Slurm job and process analysed a spectrum (for the ``astra srun`` tests)."""

    #> Process
    process = TextField(null=True, help_text="Slurm job (or array_index)/SLURM_PROCID")


@task
def where_run(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], log_dir: str = "", sleep: float = 0.0,
              **kwargs) -> Iterable[WhereRun]:
    """Note the process of each spectrum: a result row, and a line ``done <pk>/<job>/<procid> <pid>``
    appended to ``<log_dir>/log.txt`` (so a spectrum analysed twice shows twice). A spectrum whose
    file does not read raises (Astra flags it)."""
    import os
    import time

    from cluster_tasks import log_event

    job = os.environ.get("SLURM_JOB_ID", "-")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):  # an element of a job array: <array job id>_<index>
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '-')}"
    process = f"{job}/{os.environ.get('SLURM_PROCID', '-')}"
    for spectrum in spectra:
        spectrum.flux  # reads the file: a broken one raises here
        if log_dir:
            log_event(log_dir, "done", f"{spectrum.spectrum_pk}/{process}")
        time.sleep(sleep)
        yield WhereRun.from_spectrum(spectrum, process=process)
