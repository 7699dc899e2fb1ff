"""Choosing a claim store: by where a task's results go, or by a store's spec."""

import os

from astra.claims.database_store import DatabaseClaimStore
from astra.claims.file_store import FileClaimStore

__all__ = ["store_for", "store_from_spec", "CLAIMS_DIRECTORY"]

#: Directory (below a family's output directory) of the claim files.
CLAIMS_DIRECTORY = "claims"


def store_from_spec(spec):
    """The store named by a :attr:`FileClaimStore.spec` / :attr:`DatabaseClaimStore.spec`.

    :param spec: ``"file:<directory>"`` or ``"database"``.
    """
    if spec == "database":
        return DatabaseClaimStore()
    if spec.startswith("file:"):
        return FileClaimStore(spec[5:])
    raise ValueError(f"unknown claim store {spec!r}: expected 'file:<directory>' or 'database'")


def store_for(task):
    """Where the claims of ``task`` are kept: where its results go.

    The results database when they go there (a class with a ``result_model``, or a ``@task``
    with ``results_output: database``: then claims hold across hosts that share only the
    database), else the ``claims`` directory of its family's output directory.

    :param task: an :class:`astra.tasks.BaseTask`.
    """
    in_database = getattr(task, "results_in_database", None)
    if in_database() if callable(in_database) else getattr(task, "result_model", None) is not None:
        return DatabaseClaimStore()
    return FileClaimStore(os.path.join(task._output_root(), CLAIMS_DIRECTORY))
