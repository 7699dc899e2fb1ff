"""Tasks for SDSS data-model files (SDSS-IV and SDSS-V), local files, and SAS downloads.

* :mod:`astra.datamodels.paths` -- path resolution from sdss-access templates, once per release
  (``astra.tasks.io.paths`` is the same module under its old name);
* :mod:`astra.tasks.io.base` -- :class:`SDSSDataModelTask`;
* :mod:`astra.tasks.io.sdss4` / :mod:`astra.tasks.io.sdss5` -- one class per file species;
* :mod:`astra.tasks.io.local` -- :class:`LocalTargetTask`;
* :mod:`astra.tasks.io.download` -- fetching a missing file from the SAS.
"""

from astra.datamodels.paths import MissingKeyError, full_path, releases_for, template_keys
from astra.datamodels.registry import provide
from astra.tasks.io.base import IntKeyParameter, KeyParameter, ReleaseParameter, SDSSDataModelTask
from astra.tasks.io.download import DownloadError
from astra.tasks.io.local import LocalTargetTask
from astra.tasks.io.sdss4 import ApStarFile, ApVisitFile, AspcapStarFile, SpecFile
from astra.tasks.io.sdss5 import MwmStarFile, MwmVisitFile, SpecFullFile, SpecLiteFile

__all__ = [
    "SDSSDataModelTask",
    "ApVisitFile",
    "ApStarFile",
    "AspcapStarFile",
    "SpecFile",
    "MwmStarFile",
    "MwmVisitFile",
    "SpecLiteFile",
    "SpecFullFile",
    "LocalTargetTask",
    "KeyParameter",
    "IntKeyParameter",
    "ReleaseParameter",
    "MissingKeyError",
    "DownloadError",
    "full_path",
    "template_keys",
    "releases_for",
]

# Each data model finds its file task by name (astra.datamodels.registry).
for _task in (ApStarFile, ApVisitFile, AspcapStarFile, SpecFile, MwmStarFile, MwmVisitFile, SpecFullFile, SpecLiteFile):
    provide("file_task", _task.sdss_data_model_name, _task)
