"""The class style's adapter onto the run loop: ``setup()`` once, ``process()`` per member.

A class-style batch runs through the same loop as a ``@task`` generator
(:func:`astra.core.loop.run_loop`). :class:`ClassMethod` turns ``setup()``/``process()`` into
the generator contract::

    def method(feed):                      # what the loop calls (again after a failure)
        feed.check_all()                   # every member's input first, as before
        context = batch.setup()            # once per batch: kept across the loop's restarts
        for member in feed:
            yield MemberResult(member, batch.process(member, context))

and gives the loop the class style's :class:`~astra.core.loop.Contract`: members are keyed by
themselves, their input check is :meth:`~astra.tasks.batch_run.BatchRunMixin.check_inputs`,
their timing is ``{"setup": s, "process": s, "spectra": n}``, and a failure is a
:class:`~astra.core.sinks.MemberResult` with the error. While ``process()`` runs, reading a
batch key from the batch raises :class:`~astra.tasks.batch_run.BatchMemberAccessError`.
"""

import time
import traceback

from astra.core import timeout as time_limit
from astra.core.loop import Contract
from astra.core.sinks import MemberResult
from astra.retry import with_attempts
from astra.run_recorder import input_path

__all__ = ["ClassMethod", "GUARDED"]

#: Key in a batch's ``__dict__`` holding the batch keys that raise while ``process()`` runs.
GUARDED = "_astra_members_only"

_UNSET = object()


class ClassMethod:
    """``setup()``/``process()`` of one batch, as the loop's method and contract.

    :param batch: the batch task (a :class:`~astra.tasks.batch_run.BatchRunMixin`).
    :param check_inputs: whether members' input files are checked first (a class without
        requirements has none).
    :param on_retry: see :class:`~astra.core.loop.Contract`.
    """

    def __init__(self, batch, check_inputs=True, on_retry=None):
        self.batch = batch
        self.context = _UNSET
        self.t_setup = 0.0
        #: Members whose input was good when setup ran (its time is shared among them).
        self.spectra = 0
        self.contract = Contract(
            f"{batch.get_task_family()}.process", self.failure, check=self.check if check_inputs else None,
            path=input_path, result_key=None, accept=self.accept, on_started=time_limit.started, on_retry=on_retry,
        )

    def method(self, feed):
        """The generator the loop drives: ``setup()`` the first time a member is ready, then
        ``process()`` per member handed out (``feed`` is the loop's :class:`~astra.core.loop.Feed`)."""
        batch = self.batch
        if self.context is _UNSET:
            # Every member's input is checked before setup (a download, if so configured).
            self.spectra = feed.check_all()
            if not self.spectra:
                return  # no member with a good input: no setup
            started = time.perf_counter()
            self.context = batch.setup()
            self.t_setup = time.perf_counter() - started
        context = self.context
        state, guarded = batch.__dict__, batch._guarded_names()
        process = batch.process
        for member in feed:
            if guarded is not None:
                state[GUARDED] = guarded
            try:
                returned = process(member, context)  # the per-spectrum call of a class
            finally:
                state.pop(GUARDED, None)
                time_limit.finished(member)
            yield MemberResult(member, returned)

    @staticmethod
    def check(member):
        """The input check of one member: the error naming its bad file, or ``None``."""
        try:
            member.check_inputs()
        except Exception as error:  # a bad input fails only its own spectrum
            return error
        return None

    def accept(self, result, elapsed, share):
        """Stamp a member's timing: setup (per batch, and the members it is shared among) and
        its own ``process()`` time."""
        result.timing = {"setup": self.t_setup, "process": elapsed, "spectra": self.spectra}

    def failure(self, member, error, share, elapsed, attempts):
        """The :class:`~astra.core.sinks.MemberResult` of a failed member (``elapsed`` is
        ``None`` when its input check failed)."""
        timing = None if elapsed is None else {"setup": self.t_setup, "process": elapsed, "spectra": self.spectra}
        return MemberResult(member, None, timing, error, with_attempts(f"{type(error).__name__}: {error}", attempts),
                            attempts)


def failure_traceback(error):
    """The formatted traceback of a member's error."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
