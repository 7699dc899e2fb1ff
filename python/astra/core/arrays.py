"""Batches as arrays: a method's spectra as ``(N, npix)`` arrays, with the catalogue rows beside.

A ``@task`` method that is faster over many spectra at once (vectorised numpy, a neural
network) asks for its batch as arrays instead of one spectrum at a time::

    from astra.core.arrays import array_batches

    @task
    def my_method(spectra: Iterable[ApogeeCoaddedSpectrumInApStar]) -> Iterable[MyResult]:
        for batch in array_batches(spectra):
            values = model(batch.flux, batch.ivar)          # (N, npix) in, N answers out
            for row, value in zip(batch.rows, values):
                yield MyResult.from_spectrum(row, value=value)

It still yields one result per spectrum. Spectra on different wavelength grids go to
different batches (grouped by grid; each batch has one ``wavelength``), and the memory bound
``array_batch_memory_mb`` sets N. A spectrum whose file does not read is left out of the
arrays and fails alone: the run records a flagged result (or a failure record) for it only,
naming the file, and the others go on. The files are read in the method's thread as the batch
fills (reading ahead in threads does not help there: :mod:`astra.core.readahead`).
"""

import dataclasses

import numpy as np
import astra.config

from astra.core import readahead

__all__ = ["ArrayBatch", "array_batches", "batch_rows"]


@dataclasses.dataclass
class ArrayBatch:
    """The arrays of N spectra on one wavelength grid.

    :param rows: the N catalogue rows, in the order of the arrays' first axis.
    :param wavelength: the grid, shape ``(npix,)`` (Angstrom, vacuum).
    :param flux: shape ``(N, npix)``.
    :param ivar: inverse variances, shape ``(N, npix)`` (0 where there is no data).
    :param pixel_flags: the data model's integer pixel bitmask (its integer type in the files),
        shape ``(N, npix)``.
    :param bad: true where a pixel is unusable (no data, or a bad bit of the data model set),
        shape ``(N, npix)``.
    """

    rows: list
    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    pixel_flags: np.ndarray
    bad: np.ndarray

    def __len__(self):
        return len(self.rows)


def batch_rows(npix, memory):
    """How many spectra of ``npix`` pixels fit a batch of ``memory`` bytes (at least 1).

    Counts flux and ivar as float64, the bitmask as int64 and the bad mask (8 + 8 + 8 + 1
    bytes a pixel), plus as much again while the arrays grow.
    """
    return max(1, int(memory // max(1, 2 * 25 * npix)))


def _memory():
    return int(float(astra.config.get("array_batch_memory_mb", 256) or 256) * 2**20)


def _own_arrays(row):
    """One catalogue row's (wavelength, flux, ivar, bitmask, bad), each 1-D."""
    data = row.read_arrays()
    index = getattr(row, "spectrum_row", None) or 0
    bitmask = data.meta.get("bitmask") if isinstance(data.meta, dict) else None
    if bitmask is None:
        bitmask = np.zeros(np.shape(data.flux), dtype=np.int64)
    own = []
    for array in (data.flux, data.ivar, bitmask, data.mask):
        array = np.asarray(array)
        own.append(array[index] if array.ndim == 2 else array)
    wavelength = np.asarray(data.wavelength)
    if not (wavelength.ndim == 1 and all(a.shape == wavelength.shape for a in own)):
        raise ValueError(f"{row.path}: arrays of shapes {[a.shape for a in own]} on a grid of {wavelength.shape}")
    return (wavelength, *own)


class _Group:
    """The spectra of one grid gathered so far, copied into ``(most, npix)`` arrays.

    Each spectrum's row is copied in as it is read (the file's other rows and arrays are let
    go at once, so the memory held is the batch's arrays, not the files'). The arrays are
    made empty for ``most`` rows: the system gives memory to the rows as they are filled.
    """

    def __init__(self, grid, most):
        self.grid = grid
        self.most = most
        self.rows = []
        self.arrays = None

    def add(self, row, parts):
        """Copy in one spectrum's ``(flux, ivar, pixel_flags, bad)``; whether the group is full."""
        n = len(self.rows)
        if self.arrays is None:
            self.arrays = [np.empty((self.most, self.grid.size), dtype=p.dtype) for p in parts]
        for index, (array, part) in enumerate(zip(self.arrays, parts)):
            dtype = np.promote_types(array.dtype, part.dtype)
            if dtype != array.dtype:  # (a later file stores this array wider)
                array = self.arrays[index] = array.astype(dtype)
            array[n] = part
        self.rows.append(row)
        return len(self.rows) >= self.most

    def batch(self):
        n = len(self.rows)
        flux, ivar, flags, bad = (a[:n] for a in self.arrays)
        return ArrayBatch(self.rows, self.grid, flux, ivar, flags, bad.astype(bool, copy=False))


def array_batches(spectra, memory=None, read=_own_arrays):
    """The spectra as :class:`ArrayBatch` es: grouped by wavelength grid, N set by memory.

    :param spectra: the catalogue spectra a ``@task`` method is given (any iterable of rows
        with ``read_arrays()`` and ``spectrum_row``).
    :param memory: most bytes of arrays per batch (default: the ``array_batch_memory_mb``
        setting).
    :param read: how one row's ``(wavelength, flux, ivar, pixel_flags, bad)`` are read.
    :returns: a generator of :class:`ArrayBatch`; every spectrum is in exactly one batch, or
        (its file did not read) handed back to the run as failed, naming its file. Outside a
        run (a plain iterable without ``reject``) a read error is raised.
    """
    memory = _memory() if memory is None else memory
    reject = getattr(spectra, "reject", None)
    groups = {}  # grid key -> _Group
    for row in spectra:
        try:
            # Read here, not ahead: nothing is computed while a batch fills, and reading an
            # apStar file holds the GIL (docs/benchmarks.md), so reader threads would only add
            # hand-offs.
            with readahead.direct():
                wavelength, *parts = read(row)
        except Exception as error:  # a file that does not read fails alone
            if reject is None:
                raise
            reject(row, error)
            continue
        key = (wavelength.size, float(wavelength[0]) if wavelength.size else 0.0,
               float(wavelength[-1]) if wavelength.size else 0.0)
        group = groups.get(key)
        if group is not None and not np.array_equal(group.grid, wavelength):
            key = key + (wavelength.tobytes(),)  # same ends, another grid
            group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(wavelength, batch_rows(wavelength.size, memory))
        if group.add(row, parts):
            del groups[key]
            yield group.batch()
    for group in groups.values():
        yield group.batch()
