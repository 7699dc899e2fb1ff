"""What one run of a batch did, and the one failure policy of both method styles.

**Failure policy.** A spectrum whose method raised (or whose input file is missing or
broken) gets a failure: a failure record for a class-style task, a result row flagged
``flag_runtime_exception`` for a ``@task``. A failure is *not* a result: the spectrum is not
done, and the next run of the same method retries it -- the same default for both styles
(:func:`retry_failed`, the ``retry_failed`` setting, true). With ``retry_failed: false`` (or
``astra run ... --skip-failed``) a spectrum that failed counts as done until it is retried
explicitly (``--retry-failed``); the run then says how many failed spectra it left alone.
"""

import json
import logging
import astra.config

__all__ = [
    "BatchOutcome",
    "BatchMemberError",
    "error_text",
    "retry_failed",
    "note_incomplete",
    "MAX_REPORTED_FAILURES",
    "OUTCOME_MARKER",
    "INCOMPLETE_WHEN_CLAIMED",
]

logger = logging.getLogger("astra")

#: Most failures (task id and reason) a batch reports individually; the count is always exact.
MAX_REPORTED_FAILURES = 200

#: The line of a batch's Luigi explanation that carries its :class:`BatchOutcome`.
OUTCOME_MARKER = "astra-batch-outcome: "

#: Attribute of a batch: its incomplete members when it was first found claimed by another run.
INCOMPLETE_WHEN_CLAIMED = "_astra_incomplete_when_claimed"


def retry_failed(given=None):
    """Whether a run retries spectra whose last run failed (the failure policy).

    :param given: an explicit choice (``--retry-failed`` / ``--skip-failed``, a task's
        ``retry_failed`` parameter); ``None`` takes the ``retry_failed`` setting (default true).
    """
    if given is not None:
        return bool(given)
    value = astra.config.get("retry_failed", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def error_text(error):
    """``"Type: message"`` of an exception (the reason recorded for a spectrum)."""
    return f"{type(error).__name__}: {error}"


class BatchOutcome:
    """What one run of a batch did, per spectrum.

    :param total: members of the batch.
    :param skipped: members already complete before the run.
    :param by_others: members another run completed while this run waited for its claim of
        the batch (complete when this run finally ran it, not when this run first reached it).
    :ivar done: members processed and stored in this run.
    :ivar failed: members that failed (exact count).
    :ivar failures: ``(task_id, reason)`` of the first :data:`MAX_REPORTED_FAILURES` failures.
    :ivar retried: members tried more than once for a transient error (the method's
        :class:`~astra.retry.RetryPolicy`), whether they then succeeded or failed.
    """

    def __init__(self, total, skipped=0, done=0, failed=0, failures=None, by_others=0, retried=0):
        self.total = total
        self.skipped = skipped
        self.done = done
        self.failed = failed
        self.failures = list(failures or [])
        self.by_others = by_others
        self.retried = retried

    @classmethod
    def starting(cls, batch, total, pending, written_by_others=None):
        """The outcome of a batch about to run ``pending`` of its ``total`` members.

        The members complete now were already complete, except those another run completed
        while this run waited for its claim of the batch (:func:`note_incomplete` noted how
        many were incomplete when the batch was first found claimed): those are ``by_others``.

        :param batch: the batch.
        :param total: its members.
        :param pending: how many of them are incomplete now.
        :param written_by_others: a function of the batch giving how many of its complete
            members another run wrote during this build (file outputs know), or ``None``.
        """
        before = batch.__dict__.pop(INCOMPLETE_WHEN_CLAIMED, None)
        by_others = max(0, min(before, total) - pending) if before is not None else 0
        if pending < total and written_by_others is not None:
            written = written_by_others(batch)
            if written is not None:
                by_others = min(written, total - pending)
        return cls(total, skipped=total - pending - by_others, by_others=by_others)

    @property
    def ran(self):
        """Members this run processed (done or failed)."""
        return self.done + self.failed

    def add_failure(self, task_id, reason):
        """Count one failed member (and keep its reason while under the cap)."""
        self.failed += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append((task_id, reason))

    def to_text(self):
        """The outcome as one line of Luigi explanation text (see :meth:`from_text`)."""
        data = {"total": self.total, "skipped": self.skipped, "done": self.done, "failed": self.failed,
                "by_others": self.by_others, "failures": self.failures}
        if self.retried:
            data["retried"] = self.retried
        return OUTCOME_MARKER + json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_text(cls, text):
        """The outcome in a Luigi explanation, or ``None`` if it carries none."""
        if not isinstance(text, str):
            return None
        start = text.rfind(OUTCOME_MARKER)
        if start < 0:
            return None
        try:
            data = json.loads(text[start + len(OUTCOME_MARKER):].splitlines()[0])
        except (ValueError, IndexError):
            return None
        return cls(data["total"], data["skipped"], data["done"], data["failed"],
                   [tuple(f) for f in data["failures"]], data.get("by_others", 0), data.get("retried", 0))

    def __repr__(self):
        return (f"BatchOutcome(total={self.total}, skipped={self.skipped}, done={self.done}, "
                f"failed={self.failed}, by_others={self.by_others}, retried={self.retried})")


class BatchMemberError(RuntimeError):
    """Some members of a batch failed; raised after all other members finished.

    :param family: the task family.
    :param outcome: the batch's :class:`BatchOutcome`.
    """

    def __init__(self, family, outcome):
        self.outcome = outcome
        first_id, first_reason = outcome.failures[0] if outcome.failures else ("?", "?")
        super().__init__(
            f"{family}: {outcome.failed} of {outcome.total - outcome.skipped - outcome.by_others} spectra failed; "
            f"first: {first_id}: {first_reason}"
        )


def note_incomplete(batch):
    """Note how many members of ``batch`` are incomplete now, before waiting for another run.

    Called when the batch is first found claimed by another run (:mod:`astra.claims`) or run
    by another luigid worker: the members that other run completes meanwhile are then counted
    as done by another run, not as already complete (see :meth:`BatchOutcome.starting`). Only
    the first note counts.

    :param batch: a batch task (tasks without ``incomplete_batch_tasks`` are left alone).
    """
    incomplete = getattr(batch, "incomplete_batch_tasks", None)
    if incomplete is None or INCOMPLETE_WHEN_CLAIMED in batch.__dict__:
        return
    try:
        batch.__dict__[INCOMPLETE_WHEN_CLAIMED] = len(incomplete())
    except Exception as error:  # then counted as already complete; the run itself goes on
        logger.debug("%s: cannot count its incomplete members: %s", batch.task_id, error)
