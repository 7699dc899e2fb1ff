"""Which share of the work this process takes, read from its environment.

``astra srun`` tells each process its share through environment variables in the job script
(``$ASTRA_SHARE_COUNT``, ``$ASTRA_SHARE_OFFSET``, ``$ASTRA_SHARE_INDEX``) and Slurm's own
``$SLURM_PROCID``:

* a class-style graph run without a central scheduler keeps its share of the batches
  (:func:`select_share`; :func:`astra.build` calls it, and a ``requires()`` that returns
  batches may call it itself)::

      from astra.cluster import select_share
      batches = select_share(batches)     # all batches when not running under astra srun

* a ``@task`` process given several ranges (``--range-per-process``) takes the range at its
  position in the job step (:func:`range_for_process`).
"""

import os

from astra.cluster.shares.split import partition_batches

__all__ = ["worker_share", "select_share", "process_index", "range_for_process",
           "SHARE_COUNT_VARIABLE", "SHARE_OFFSET_VARIABLE", "SHARE_INDEX_VARIABLE"]

#: Number of shares (worker processes over all jobs); set in the job script.
SHARE_COUNT_VARIABLE = "ASTRA_SHARE_COUNT"
#: Share index of this job's first node; the node adds its ``SLURM_PROCID``.
SHARE_OFFSET_VARIABLE = "ASTRA_SHARE_OFFSET"
#: Explicit share index (overrides offset + ``SLURM_PROCID``).
SHARE_INDEX_VARIABLE = "ASTRA_SHARE_INDEX"


def worker_share(environ=None):
    """Return ``(index, count)`` of this worker process's share.

    ``count`` is ``$ASTRA_SHARE_COUNT`` (1 when unset).  ``index`` is
    ``$ASTRA_SHARE_INDEX`` if set, else ``$ASTRA_SHARE_OFFSET + $SLURM_PROCID`` (each
    absent value counts as 0).

    :param environ: mapping to read instead of :data:`os.environ`.
    :returns: a tuple ``(index, count)`` with ``0 <= index < count``.
    :raises ValueError: if the variables are not integers or the index is out of range.
    """
    env = os.environ if environ is None else environ
    try:
        count = int(env.get(SHARE_COUNT_VARIABLE) or 1)
        if env.get(SHARE_INDEX_VARIABLE):
            index = int(env[SHARE_INDEX_VARIABLE])
        else:
            index = int(env.get(SHARE_OFFSET_VARIABLE) or 0) + int(env.get("SLURM_PROCID") or 0)
    except ValueError as exc:
        raise ValueError("bad share variables {}/{}/{}: {}".format(
            SHARE_COUNT_VARIABLE, SHARE_OFFSET_VARIABLE, SHARE_INDEX_VARIABLE, exc)) from exc
    if count < 1 or not 0 <= index < count:
        raise ValueError("share index {} is outside 0..{} ({}={})".format(
            index, count - 1, SHARE_COUNT_VARIABLE, count))
    return index, count


def select_share(batches, environ=None):
    """Keep only this worker process's share of ``batches``.

    :func:`astra.build` calls it on the batches it made, so ``astra run`` under
    ``astra srun`` runs only its share; tasks whose ``requires()`` returns batches may call
    it themselves.  Without the share variables (one share) every batch is returned, in
    order.  The split depends only on the order of ``batches`` and the share count, so
    processes that compute it independently agree.  Give it *all* the batches of the graph
    in a fixed order, not only the incomplete ones: what is complete changes while other
    shares run, and processes that looked at different moments would split differently.
    Each process then skips the complete members of its own batches.

    :param batches: the batches, in a deterministic order (an iterable).
    :param environ: mapping to read instead of :data:`os.environ`.
    :returns: the list of batches this process must run.
    :raises ValueError: if the share variables are invalid (see :func:`worker_share`).
    """
    index, count = worker_share(environ)
    if count == 1:
        return list(batches)
    return partition_batches(batches, count)[index]


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
