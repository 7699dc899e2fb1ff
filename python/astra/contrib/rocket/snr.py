"""EstimateSNR: the signal-to-noise ratio of APOGEE and BOSS spectra, one JSON result each."""

import json
import math

import numpy as np

import astra
from astra import datamodels
from astra.tasks import BaseTask
from astra.tasks.io import ApStarFile, ApVisitFile, SpecFile
from astra.tasks.io.base import SPECTRUM_ID_PARAMETERS, SpectrumKeysMixin, supported_file_task
from astra.tasks.removed import removed_task


__all__ = ["EstimateSNR", "EstimateSNRToDatabase", "estimate_snr", "SPECIES"]

#: The data-model tasks EstimateSNR can read, by data-model name (a view of
#: :data:`astra.datamodels.DATA_MODELS`).
SPECIES = datamodels.file_tasks(("apStar", "apVisit", "spec"))


def estimate_snr(flux, ivar, bad=None, min_good_pixels=1):
    """The median of ``flux * sqrt(ivar)`` over good pixels, for each row.

    Good pixels have finite flux, finite positive inverse variance and are not flagged.

    :param flux: flux, shape ``(n_pixels,)`` or ``(n_rows, n_pixels)``.
    :param ivar: inverse variance, same shape.
    :param bad: optional boolean array, true where a pixel is flagged bad.
    :param min_good_pixels: rows with fewer good pixels give ``nan``.
    :returns: a list of floats, one per row.
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=float))
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    if bad is not None:
        good &= ~np.atleast_2d(np.asarray(bad, dtype=bool))
    snr = []
    for f, iv, g in zip(flux, ivar, good):
        snr.append(float(np.median(f[g] * np.sqrt(iv[g]))) if g.sum() >= min_good_pixels else math.nan)
    return snr


@astra.inherits(SpecFile, ApVisitFile, ApStarFile)
class EstimateSNR(SpectrumKeysMixin, BaseTask):
    """The signal-to-noise ratio of a spectrum: for apStar the combined spectra, then each visit.

    Give ``species`` (``apStar`` (default), ``apVisit`` or ``spec``), ``release`` and that
    species' data-model keys. The result is a JSON file with the keys and ``snr`` (a list, one
    value per spectrum in the file).
    """

    #: The task id names the spectrum: release, then the first identifying keys that are set.
    task_id_parameters = SPECTRUM_ID_PARAMETERS

    species = astra.Parameter(default="apStar", description="sdss-access species: apStar, apVisit or spec")
    min_good_pixels = astra.IntParameter(default=100, description="fewest good pixels for an S/N")
    use_pixel_mask = astra.BoolParameter(default=True, description="ignore pixels flagged bad in the bitmask")

    def requires(self):
        """The spectrum's data-model file task (a batch of them when this is a batch)."""
        task_class = supported_file_task("EstimateSNR", self.species, SPECIES)
        return task_class(**self.get_common_param_kwargs(task_class))

    def output(self):
        """The JSON result of one spectrum."""
        return self.local_target("snr.json")

    def measure(self, task):
        """Read one spectrum and estimate its S/N per row.

        :param task: a single-spectrum member.
        :returns: ``(path, snr list, bad-pixel mask or None, inverse variances)``.
        """
        from astra.tools.spectrum import read_arrays  # imported before Luigi forks: astra.forking

        path = task.input().path
        # Arrays are all S/N needs; the species is known, so no reader identification either.
        spectrum = read_arrays(path, datamodels.get(self.species).name)
        bad = spectrum.mask if self.use_pixel_mask else None
        snr = estimate_snr(spectrum.flux, spectrum.ivar, bad, self.min_good_pixels)
        if all(math.isnan(s) for s in snr):
            raise ValueError(f"{path}: fewer than {self.min_good_pixels} good pixels in every spectrum")
        return path, snr, bad, spectrum.ivar

    def process(self, task, context):
        """Estimate the S/N of one spectrum and write the JSON result atomically."""
        path, snr, _, _ = self.measure(task)
        keys = task.requires().param_kwargs
        result = {
            "task_id": task.task_id,
            "path": path,
            "species": task.species,
            "keys": {k: v for k, v in keys.items() if v is not None and not k.startswith("astra_") and k != "use_remote"},
            "snr": [None if math.isnan(s) else round(s, 4) for s in snr],
        }
        text = json.dumps(result)  # one C-encoded string; json.dump encodes piecewise in Python
        with task.output().open("w") as fp:
            fp.write(text)


EstimateSNRToDatabase = removed_task(
    "EstimateSNRToDatabase",
    "a method is written once and the results_output setting says where its results go; run the "
    "@task astra.contrib.rocket.snr over the catalogue (astra run snr ApogeeCoaddedSpectrumInApStar), "
    "which writes RocketSNR rows to the results database",
    module=__name__,
)
