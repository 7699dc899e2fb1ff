"""Disjoint ``spectrum_pk`` ranges of the catalogue spectra a method still has to analyse.

``astra srun <task> <SpectrumModel> --nodes N --procs P`` asks the database *once*, at
submission, which spectra need the method, and splits their keys into ``N × P`` shares, one
per process: :func:`split_spectrum_pks`. Each share is a contiguous run of the sorted keys,
so it is the closed range ``[lo, hi]`` of its first and last key, and no two shares' ranges
overlap. Shares are balanced by the number of spectra (their sizes differ by at most one),
not by the width of their ranges. Each process then runs the method only over the pending
spectra of its range (``astra run <task> <Model> --spectrum-pk-range LO HI``).

This is not LIMIT/OFFSET over a result set: the split is fixed before any process starts, and
a process's range stays the same however many results the others have written, so no
spectrum is skipped or done twice.

Several ranges on one command line with ``--range-per-process`` give one to each process of
a Slurm job step: the process takes the range at the position of its
:func:`process_index` (``$ASTRA_SHARE_INDEX``, else ``$SLURM_PROCID``), and a process past
the last range has nothing to do (:func:`range_for_process`).
"""

import dataclasses
import os

from astra.cluster.partition import SHARE_INDEX_VARIABLE, partition_batches

__all__ = ["SpectrumShare", "split_spectrum_pks", "process_index", "range_for_process", "shares_of_job"]


@dataclasses.dataclass(frozen=True)
class SpectrumShare:
    """One process's share of the spectra: the closed range ``[lo, hi]`` and how many it holds.

    :param index: the share's position, from 0.
    :param lo: its smallest ``spectrum_pk`` (``None`` for an empty share).
    :param hi: its largest ``spectrum_pk`` (``None`` for an empty share).
    :param count: how many of the spectra it holds.
    """

    index: int
    lo: object
    hi: object
    count: int

    @property
    def empty(self):
        """Whether the share holds no spectrum."""
        return self.count == 0

    def contains(self, spectrum_pk):
        """Whether ``spectrum_pk`` lies in the share's range.

        :param spectrum_pk: a catalogue key.
        """
        return not self.empty and self.lo <= spectrum_pk <= self.hi


def split_spectrum_pks(spectrum_pks, n_shares):
    """Split catalogue keys into ``n_shares`` disjoint ranges, balanced by count.

    The keys are sorted and made unique, then cut into contiguous runs whose sizes differ by at
    most one (:func:`astra.cluster.partition.partition_batches`); each run becomes the range of
    its first and last key. With fewer keys than shares the last shares are empty; with no keys
    every share is empty.

    :param spectrum_pks: the keys of the spectra to share out (any order, repeats ignored).
    :param n_shares: number of shares, at least 1.
    :returns: a list of ``n_shares`` :class:`SpectrumShare`, in key order.
    :raises ValueError: if ``n_shares`` is less than 1.
    """
    keys = sorted(set(spectrum_pks))
    runs = partition_batches(keys, n_shares)
    return [
        SpectrumShare(index, run[0] if run else None, run[-1] if run else None, len(run))
        for index, run in enumerate(runs)
    ]


def shares_of_job(shares, job_index, per_job):
    """The shares that job ``job_index`` of ``per_job`` processes runs (its non-empty ones).

    :param shares: every share, from :func:`split_spectrum_pks`.
    :param job_index: the job's position, from 0.
    :param per_job: processes per job (nodes × processes per node).
    :returns: a list of :class:`SpectrumShare`; empty when the job would have nothing to do.
    """
    return [s for s in shares[job_index * per_job:(job_index + 1) * per_job] if not s.empty]


def process_index(environ=None):
    """This process's position in its Slurm job step: ``$ASTRA_SHARE_INDEX``, else ``$SLURM_PROCID``.

    :param environ: mapping to read instead of :data:`os.environ`.
    :returns: an int (0 outside Slurm).
    :raises ValueError: if the variable is not a non-negative integer.
    """
    env = os.environ if environ is None else environ
    name = SHARE_INDEX_VARIABLE if env.get(SHARE_INDEX_VARIABLE) else "SLURM_PROCID"
    text = env.get(name) or "0"
    try:
        index = int(text)
    except ValueError:
        index = -1
    if index < 0:
        raise ValueError(f"${name} must be a non-negative integer, not {text!r}")
    return index


def range_for_process(ranges, environ=None):
    """The range of ``ranges`` that this process runs (``--range-per-process``).

    :param ranges: ``(lo, hi)`` pairs, one per process of the job step.
    :param environ: mapping to read instead of :data:`os.environ`.
    :returns: the ``(lo, hi)`` at :func:`process_index`, or ``None`` when the process is past
        the last range (it has nothing to do).
    :raises ValueError: as :func:`process_index`.
    """
    index = process_index(environ)
    return tuple(ranges[index]) if index < len(ranges) else None
