"""The engine: one run of one batch, whatever the method style.

A batch's run has one shape for both method styles::

    keys -> which members are incomplete (one bulk check, asked now: never a kept answer)
         -> input check per member (a bad file fails only its spectrum)
         -> setup once -> one result or one failure per spectrum -> sink -> outcome

The style-specific part is only how a method is called: a ``@task`` generator
(:func:`astra.tasks.function_run.execute`, the engine's native contract) or a class's
``setup()``/``process()`` (:class:`astra.tasks.batch_run.BatchRunMixin`). Everything around
it is here, written once:

* :class:`BatchLedger` -- the outcome (:class:`~astra.core.outcome.BatchOutcome`: done,
  failed with reasons, already complete, done by another run), counted as members finish,
  and the events subscribers hear (:mod:`astra.core.events`: run recording for
  ``astra web``, failure records on ``/failures``, Luigi's status, the progress bar);
* the end of a run: whether failed members fail the batch for Luigi
  (:meth:`BatchLedger.finish`).

Claims (:mod:`astra.claims`) wrap the whole run; the claim key is the batch's
:meth:`~astra.tasks.base.BaseTask.claim_key`.
"""

import logging

from astra.core.events import BatchRun, MemberFailure
from astra.core.outcome import BatchMemberError, BatchOutcome

__all__ = ["BatchLedger", "MemberFailure"]

logger = logging.getLogger("astra")


class BatchLedger:
    """The outcome and events of one run of one batch.

    ::

        ledger = BatchLedger(batch, total, len(pending))
        ledger.start()
        for member in pending:
            ...
            ledger.succeeded()                      # or
            ledger.failed(MemberFailure(member.task_id, "ValueError: ...", member))
        ledger.finish(raise_on_failure=True)        # BatchMemberError if any failed

    :param batch: the batch task (its ``batch_outcome`` becomes this run's outcome).
    :param total: members of the batch.
    :param pending: members incomplete now (asked just before the run).
    :param written_by_others: see :meth:`BatchOutcome.starting`.
    """

    def __init__(self, batch, total, pending, written_by_others=None):
        self.batch = batch
        self.outcome = BatchOutcome.starting(batch, total, pending, written_by_others)
        batch.batch_outcome = self.outcome
        self.pending = pending
        self.run = None
        self._closed = False

    def start(self, nothing_to_do=0):
        """The members are about to run: announce ``batch_started``.

        :param nothing_to_do: pending members found to need no work after all (a downstream
            method's spectra whose upstream result meets none of its conditions); counted as
            already complete.
        """
        outcome = self.outcome
        outcome.skipped += nothing_to_do
        self.run = BatchRun(self.batch, self.pending - nothing_to_do, outcome.skipped, outcome.by_others)
        return self

    def succeeded(self):
        """One member processed and stored."""
        self.outcome.done += 1
        self.run.step(failed=False)

    def retried(self, spectrum, attempt, error, wait):
        """A spectrum failed with a transient error and is tried again (counted once per spectrum).

        The signature of :attr:`astra.core.loop.Contract.on_retry`.

        :param spectrum: the spectrum (or member).
        :param attempt: the try that failed (from 1).
        :param error: its exception.
        :param wait: seconds before the next try.
        """
        if attempt == 1:
            self.outcome.retried += 1

    def failed(self, failure, processed=True):
        """One member failed.

        :param failure: a :class:`~astra.core.events.MemberFailure`.
        :param processed: false for a member already counted by :meth:`succeeded` whose result
            was then lost (a database write that failed): it moves from done to failed.
        """
        outcome = self.outcome
        if not processed:
            outcome.done -= 1
            self.run.failed += 1
        outcome.add_failure(failure.task_id, failure.reason)
        self.run.member_failed(failure)
        if processed:
            self.run.step(failed=True)

    def message(self):
        """The status text of the run so far."""
        return self.run.message()

    def close(self):
        """Announce the end (final counts, ``batch_finished``); once, however often called."""
        if self.run is not None and not self._closed:
            self._closed = True
            self.run.close()

    def finish(self, raise_on_failure):
        """The batch is over: final events; a failed member fails the batch if asked.

        :param raise_on_failure: raise :class:`~astra.core.outcome.BatchMemberError` when a
            member failed (Luigi then marks the batch failed).
        :returns: the :class:`~astra.core.outcome.BatchOutcome`.
        """
        self.close()
        logger.info("%s: %s", self.batch.task_id, self.run.message())
        if self.outcome.failed and raise_on_failure:
            raise BatchMemberError(self.batch.get_task_family(), self.outcome)
        return self.outcome
