"""Claims: concurrent runs share the work instead of doing it twice.

Before a batch runs, the process running it *claims* it; another run that reaches the same
batch while the claim is live skips it, does its other batches, and comes back to it at the
end (by then the claimant has usually finished it, and there is nothing left to do). A claim
is **live** while its heartbeat is fresh -- a thread of the claimant refreshes it every
``claim_heartbeat`` seconds; it goes stale ``claim_expiry`` seconds after the last refresh --
and, when the claimant is on this host, while its process is alive (a SIGKILLed claimant on
this host is noticed at once). A stale claim is taken over; the temporary files its dead
writer left in the batch's output directories are removed then
(:func:`astra.targets.remove_dead_temporaries`).

No service is needed. Where a claim is kept follows from where the task's outputs go:

* **file outputs** -- a file ``<output_dir>/<Family>/claims/<identity hash>.claim`` (JSON:
  host, boot id, pid, process start time, a random token; the heartbeat is its mtime),
  created and taken over under an ``flock`` of ``claims/.lock``, so it works on a local disk
  and on a shared file system with working locks (NFSv4, Lustre, GPFS);
* **database outputs** (a class with a ``result_model``; a ``@task`` with results in the
  database) -- a row of the table ``astra_claim`` in the results database,
  taken with ``INSERT ... ON CONFLICT DO NOTHING`` and a compare-and-swap ``UPDATE`` of a
  stale row (SQLite and PostgreSQL).

The key is the batch's ``claim_key()`` (default: its identity), so runs that build the same
batches (the same command on the same spectra) coordinate; a ``@task``'s batches claim their
``spectrum_pk`` block instead, so runs that found different pending spectra still meet
(:meth:`astra.tasks.function_luigi.FunctionTask.claim_key`). Two runs that cut the same
spectra into different batches otherwise do not see each other's claims (each member's write
stays atomic, so nothing breaks: some spectra are computed twice). Under its claim a batch
asks again which members are incomplete (no answer kept from before the claim), so what a
finished or dead claimant wrote is not computed again. Heartbeats compare the clocks of different hosts: keep them in
sync (NTP) to well within ``claim_expiry``.

Settings: ``claims`` (true; false turns claims off), ``claim_heartbeat`` (seconds, 3),
``claim_expiry`` (seconds, 15).

Claims are taken by :func:`claimed_run`, which :class:`astra.tasks.BaseTask` wraps around
every task's ``run()``. A claimed batch's ``run()`` returns a generator that yields
:class:`ClaimReleased` (a Luigi dynamic dependency): Luigi runs the other batches first and
this one again once the claim is released or stale.
"""

from astra.claims.database_store import CLAIMS_TABLE, DatabaseClaimStore
from astra.claims.file_store import FileClaimStore
from astra.claims.holding import Claim, ClaimReleased
from astra.claims.protocol import ClaimRecord, ClaimStore, claims_enabled, expiry_seconds, heartbeat_interval
from astra.claims.stores import CLAIMS_DIRECTORY, store_for, store_from_spec
from astra.claims.wrapper import claim_runs, claimed_run

__all__ = [
    "ClaimRecord",
    "ClaimStore",
    "FileClaimStore",
    "DatabaseClaimStore",
    "Claim",
    "ClaimReleased",
    "store_for",
    "store_from_spec",
    "claimed_run",
    "claim_runs",
    "claims_enabled",
    "heartbeat_interval",
    "expiry_seconds",
    "CLAIMS_DIRECTORY",
    "CLAIMS_TABLE",
]
