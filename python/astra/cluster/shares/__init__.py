"""The split of work into shares for ``astra srun``: one concept for both method styles.

* :mod:`astra.cluster.shares.split` -- disjoint, balanced, deterministic shares: of batches
  (class style) or of catalogue keys as ``spectrum_pk`` ranges (``@task`` style), by one function.
* :mod:`astra.cluster.shares.process` -- which share this process takes, from its environment.
* :mod:`astra.cluster.shares.progress` -- following a ``@task`` submission: results per share,
  Slurm states, the summary (it builds on Slurm, so it is imported on its own).
"""

from astra.cluster.shares.process import (
    SHARE_COUNT_VARIABLE,
    SHARE_INDEX_VARIABLE,
    SHARE_OFFSET_VARIABLE,
    process_index,
    range_for_process,
    select_share,
    worker_share,
)
from astra.cluster.shares.split import SpectrumShare, partition_batches, shares_of_job, split_spectrum_pks

__all__ = [
    "partition_batches", "SpectrumShare", "split_spectrum_pks", "shares_of_job",
    "worker_share", "select_share", "process_index", "range_for_process",
    "SHARE_COUNT_VARIABLE", "SHARE_OFFSET_VARIABLE", "SHARE_INDEX_VARIABLE",
]
