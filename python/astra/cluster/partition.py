"""Moved to :mod:`astra.cluster.shares` (the split of work into shares, for both method styles).

``from astra.cluster.partition import select_share`` still works; new code writes
``from astra.cluster import select_share`` (or imports from :mod:`astra.cluster.shares`).
"""

from astra.cluster.shares import (  # noqa: F401 (the names this module had)
    SHARE_COUNT_VARIABLE,
    SHARE_INDEX_VARIABLE,
    SHARE_OFFSET_VARIABLE,
    partition_batches,
    select_share,
    worker_share,
)

__all__ = ["partition_batches", "worker_share", "select_share",
           "SHARE_COUNT_VARIABLE", "SHARE_OFFSET_VARIABLE", "SHARE_INDEX_VARIABLE"]
