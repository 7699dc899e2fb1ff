"""Splitting work into disjoint, balanced shares, the same way for both method styles.

``astra srun`` runs a method on many processes, and each process must do its own part of the
work, with nothing done twice. Both method styles split the same way, with one function,
:func:`partition_batches`: the work in a deterministic order, cut into contiguous runs whose
sizes differ by at most one.

* A class-style task (``--local-scheduler`` jobs, ``--shares``) splits its *batches*: every
  process computes the same split of the whole graph and keeps its own run
  (:func:`astra.cluster.shares.select_share`).
* A ``@task`` method (``astra srun <task> <SpectrumModel>``) splits the *catalogue keys* of the
  spectra still to analyse, once, at submission: each run becomes the closed ``spectrum_pk``
  range of its first and last key (:func:`split_spectrum_pks`), handed to one process on its
  command line (``--spectrum-pk-range``).

This is not LIMIT/OFFSET over a result set: the split is fixed by the order and the count, so
a process's share stays the same however much the others have done.
"""

import dataclasses

__all__ = ["partition_batches", "SpectrumShare", "split_spectrum_pks", "shares_of_job"]


def partition_batches(batches, n_jobs):
    """Split ``batches`` into ``n_jobs`` disjoint, nearly equal, contiguous shares.

    Every batch is in exactly one share, the order is kept, the sizes differ by at most
    one, and the result depends only on the input order and ``n_jobs``.  Shares may be
    empty when there are fewer batches than jobs.

    :param batches: a sequence (or iterable) of batches, in a deterministic order.
    :param n_jobs: number of shares, at least 1.
    :returns: a list of ``n_jobs`` lists.
    :raises ValueError: if ``n_jobs`` is less than 1.
    """
    n_jobs = int(n_jobs)
    if n_jobs < 1:
        raise ValueError("n_jobs must be at least 1, not {}".format(n_jobs))
    batches = list(batches)
    size, extra = divmod(len(batches), n_jobs)
    shares, start = [], 0
    for index in range(n_jobs):
        stop = start + size + (1 if index < extra else 0)
        shares.append(batches[start:stop])
        start = stop
    return shares



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
    most one (:func:`partition_batches`); each run becomes the range of
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
