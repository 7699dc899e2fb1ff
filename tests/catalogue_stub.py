"""A stand-in catalogue model with the fields of ``astra.models.apogee`` spectra (until it lands).

``StubApStarSpectrum`` has what the ``@task`` machinery reads from a catalogue row:
``spectrum_pk``, ``source_pk``, ``release``, ``path``, ``file_size``, ``file_mtime`` and lazy
``flux`` / ``ivar`` / ``pixel_flags`` / ``wavelength`` read from the apStar file.
"""

import os

import peewee

from astra.models.base import BaseModel
from astra.tools.spectrum import read_arrays


class StubApStarSpectrum(BaseModel):
    """An apStar spectrum row (test-only)."""

    spectrum_pk = peewee.AutoField()
    source_pk = peewee.BigIntegerField(null=True)
    release = peewee.TextField(null=True)
    path = peewee.TextField()
    file_size = peewee.BigIntegerField(null=True)
    file_mtime = peewee.DoubleField(null=True)  # REAL (FloatField on PostgreSQL) rounds an epoch to 128 s

    def _arrays(self):
        arrays = self.__dict__.get("_arrays_cache")
        if arrays is None:
            arrays = self.__dict__["_arrays_cache"] = read_arrays(self.path, "apStar")
        return arrays

    @property
    def wavelength(self):
        return self._arrays().wavelength

    @property
    def flux(self):
        return self._arrays().flux[0]

    @property
    def ivar(self):
        return self._arrays().ivar[0]

    @property
    def pixel_flags(self):
        return self._arrays().mask[0]


def ingest(paths, release="dr17"):
    """Rows for ``paths`` (what ``astra migrate`` will do), returning the models."""
    StubApStarSpectrum.create_table(safe=True)
    rows = []
    for i, path in enumerate(paths):
        stat = os.stat(path) if os.path.exists(path) else None  # a file not downloaded yet
        rows.append(dict(source_pk=1000 + i, release=release, path=path,
                         file_size=stat.st_size if stat else None, file_mtime=stat.st_mtime if stat else None))
    with StubApStarSpectrum._meta.database.atomic():
        StubApStarSpectrum.insert_many(rows).execute()
    return list(StubApStarSpectrum.select().order_by(StubApStarSpectrum.spectrum_pk))
