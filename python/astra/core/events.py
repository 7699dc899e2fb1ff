"""The events a running batch announces, and who listens.

The engine (:mod:`astra.core.engine`) reports one :class:`BatchRun` per run of a batch and
announces, in order:

* ``batch_started(run)`` -- before the first member: ``run.pending`` members to process,
  ``run.skipped`` already complete (or done by another run);
* ``member_failed(run, failure)`` -- a spectrum failed (a :class:`MemberFailure`);
* ``batch_progress(run)`` -- counts moved (at most about once a second, and at the end);
* ``batch_finished(run)`` -- after the last member, with the final counts.

A subscriber is any object with some of these methods, registered with :func:`subscribe`
(run recording for ``astra web``, :mod:`astra.runs`, is one; Luigi's status messages and the
terminal's progress bar are another, :class:`LuigiStatus`). A subscriber that raises is logged
and dropped for that batch: announcing never fails a run. Subscribers keep their own state
per run in ``run.state[<their key>]``.
"""

import logging
import sys
import time

__all__ = ["BatchRun", "MemberFailure", "subscribe", "unsubscribe", "subscribers", "LuigiStatus"]

logger = logging.getLogger("astra")

_subscribers = []


def subscribe(subscriber):
    """Listen to every batch's events from now on (once, however often called).

    :param subscriber: an object with some of ``batch_started``, ``member_failed``,
        ``batch_progress`` and ``batch_finished``.
    :returns: ``subscriber``.
    """
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


def unsubscribe(subscriber):
    """Stop listening (a subscriber that was never registered is ignored)."""
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def subscribers():
    """The registered subscribers, in order."""
    return list(_subscribers)


class MemberFailure:
    """One failed spectrum of a batch.

    :param task_id: the single-spectrum task's id.
    :param reason: ``"Type: message"``.
    :param member: the single-spectrum task (its parameters make a retry), or ``None``.
    :param traceback: the formatted traceback, if there was one.
    :param path: its input file, if known.
    """

    __slots__ = ("task_id", "reason", "member", "traceback", "path")

    def __init__(self, task_id, reason, member=None, traceback=None, path=None):
        self.task_id = task_id
        self.reason = reason
        self.member = member
        self.traceback = traceback
        self.path = path

    def __repr__(self):
        return f"MemberFailure({self.task_id!r}, {self.reason!r})"


class BatchRun:
    """One run of one batch, as its subscribers see it.

    :param batch: the batch task.
    :param pending: members this run processes.
    :param skipped: members already complete.
    :param by_others: members another run completed meanwhile.
    :param announce: whether to tell subscribers (false: counting only).
    """

    #: Seconds between progress events.
    INTERVAL = 1.0

    def __init__(self, batch, pending, skipped=0, by_others=0, announce=True):
        self.batch = batch
        self.pending = pending
        self.skipped = skipped
        self.by_others = by_others
        self.done = 0  # processed, failed ones included
        self.failed = 0
        self.state = {}
        self._listeners = subscribers() if announce else []
        self._handlers = {}
        self._last = 0.0
        self._reported = None
        self._emit("batch_started")
        self.progress(force=True)

    @property
    def total(self):
        """Members this run processes (the same as :attr:`pending`)."""
        return self.pending

    def _emit(self, event, *args):
        handlers = self._handlers.get(event)
        if handlers is None:  # looked up once per event and run, not once per member
            handlers = self._handlers[event] = [(listener, getattr(listener, event)) for listener in self._listeners
                                                if getattr(listener, event, None) is not None]
        for listener, handler in handlers:
            try:
                handler(self, *args)
            except Exception as error:  # never fail the run for a listener
                logger.warning("%s: %s of %s failed: %s", event, type(listener).__name__,
                               getattr(self.batch, "task_id", self.batch), error)
                self._listeners.remove(listener)
                self._handlers.clear()  # the other listeners of this event still hear it

    def message(self):
        """``"12/20 spectra (1 failed); 3 already complete"``: the status text."""
        text = f"{self.done}/{self.pending} spectra"
        if self.failed:
            text += f" ({self.failed} failed)"
        if self.skipped:
            text += f"; {self.skipped} already complete"
        if self.by_others:
            text += f"; {self.by_others} done by another run"
        return text

    def member_failed(self, failure):
        """Announce a failed spectrum (counted by :meth:`step`).

        :param failure: a :class:`MemberFailure`.
        """
        self._emit("member_failed", failure)

    def step(self, failed=False):
        """One member processed (``failed``: it failed)."""
        self.done += 1
        if failed:
            self.failed += 1
        if self.done >= self.pending or time.monotonic() - self._last >= self.INTERVAL:
            self.progress()

    def progress(self, force=False):
        """Announce the counts (throttled to one event a :attr:`INTERVAL`, unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last < self.INTERVAL and self.done < self.pending:
            return
        state = (self.done, self.failed)
        if state == self._reported:  # never announce the same counts twice
            return
        self._last, self._reported = now, state
        self._emit("batch_progress")

    def close(self):
        """The batch is over: final counts, then ``batch_finished``."""
        self.progress(force=True)
        self._emit("batch_finished")


class LuigiStatus:
    """Progress shown where the batch runs: Luigi's status message and percentage (luigid's
    web UI), and a progress bar on a terminal."""

    def batch_started(self, run):
        """Open a progress bar on a terminal for a batch of more than one member."""
        if run.pending > 1 and sys.stderr.isatty():
            from tqdm import tqdm

            run.state["tqdm"] = tqdm(total=run.pending, desc=run.batch.get_task_family(), unit="spectra", leave=False)

    def batch_progress(self, run):
        """Tell Luigi (each call is a request to the scheduler: throttled by :class:`BatchRun`)."""
        bar = run.state.get("tqdm")
        if bar is not None:
            bar.update(run.done - bar.n)
        batch = run.batch
        percentage = 100 if run.pending == 0 else int(100 * run.done / run.pending)
        if getattr(batch, "set_progress_percentage", None) is not None:
            batch.set_progress_percentage(percentage)
        if getattr(batch, "set_status_message", None) is not None:
            batch.set_status_message(run.message())

    def batch_finished(self, run):
        """Close the bar."""
        bar = run.state.pop("tqdm", None)
        if bar is not None:
            bar.close()


subscribe(LuigiStatus())
