"""Disjoint shares of batches for workers that run without a central scheduler.

With luigid, workers on many nodes ask one scheduler for work, so no batch runs twice.
Without it (``--local-scheduler``), every worker process sees the whole graph; to keep
them from duplicating work, ``astra srun`` gives each process a share index and count in
its environment, and the task code keeps only its share of the pending batches::

    from astra.cluster import select_share
    batches = select_share(batches)     # all batches when not running under astra srun

The split is deterministic (it depends only on the batches' order and the count), so
every process computes the same partition independently.
"""

import os

__all__ = ["partition_batches", "worker_share", "select_share",
           "SHARE_COUNT_VARIABLE", "SHARE_OFFSET_VARIABLE", "SHARE_INDEX_VARIABLE"]

#: Number of shares (worker processes over all jobs); set in the job script.
SHARE_COUNT_VARIABLE = "ASTRA_SHARE_COUNT"
#: Share index of this job's first node; the node adds its ``SLURM_PROCID``.
SHARE_OFFSET_VARIABLE = "ASTRA_SHARE_OFFSET"
#: Explicit share index (overrides offset + ``SLURM_PROCID``).
SHARE_INDEX_VARIABLE = "ASTRA_SHARE_INDEX"


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
