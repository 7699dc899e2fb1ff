"""The sink protocol: where a batch's results go (rows, files or nothing), for both method styles.

The run loop (:func:`astra.core.loop.run_loop`) hands every result, and every failure (a
flagged result), to one sink, and yields what the sink reports back. A sink is any object with
two methods:

``add(result)``
    Take one result (or failure). Return the results stored *now*, in any order: nothing while
    it buffers, several when a buffered write happens. A result that could not be stored (its
    write failed, a value is not a column) is reported as ``Lost(result, reason)``: the engine
    then counts that spectrum as failed with the reason.

``close()``
    The batch is over: store what is buffered and return it, as :meth:`add` does. Called once
    per batch, also when the run stops early.

A sink must store each result atomically (an upsert, a renamed file) and idempotently (a
re-run writes the same rows or paths again). A sink may raise from either method when nothing
can be stored any more (the database stayed down): the batch then stops, and the results it
still buffers are counted as not stored.

Sinks of Astra:

* :class:`MemorySink` -- nothing stored; results are handed straight back (a Python call of a
  ``@task`` with ``write_to_database=False``);
* :class:`DiscardSink` -- nothing stored and nothing handed back (a class whose ``process()``
  wrote its own files: :class:`astra.tasks.batch_run.FileResults`);
* :class:`astra.tasks.function_output.DatabaseSink` and ``FileSink`` -- ``@task`` results as
  rows upserted in batches, or one FITS file per spectrum;
* :class:`astra.database.target.DatabaseResults` -- a class's rows (``write_result`` or the
  dict ``process()`` returns), buffered in a :class:`~astra.database.writer.ResultWriter`.
"""

__all__ = ["Sink", "Lost", "MemberResult", "MemorySink", "DiscardSink", "lost_in"]


class Lost:
    """A result a sink could not store, and why.

    :param result: the result (or failure) given to :meth:`Sink.add`.
    :param reason: ``"Type: message"``.
    """

    __slots__ = ("result", "reason")

    def __init__(self, result, reason):
        self.result = result
        self.reason = reason

    def __repr__(self):
        return f"Lost({self.result!r}, {self.reason!r})"


class MemberResult:
    """What a class-style member's ``process()`` gave, as the loop and its sink see it.

    :param member: the single-spectrum task.
    :param value: what ``process()`` returned (``None`` for a failure).
    :ivar timing: ``{"setup": s, "process": s}`` (``None`` for a member whose input check
        failed: it never reached ``process()``).
    :ivar error: the exception of a failed member, else ``None``.
    :ivar reason: ``"Type: message"`` of a failed member (with its earlier tries).
    :ivar attempts: the :class:`~astra.retry.Attempts` of a member tried more than once.
    """

    __slots__ = ("member", "value", "timing", "error", "reason", "attempts")

    def __init__(self, member, value=None, timing=None, error=None, reason=None, attempts=None):
        self.member = member
        self.value = value
        self.timing = timing
        self.error = error
        self.reason = reason
        self.attempts = attempts

    def __repr__(self):
        return f"MemberResult({getattr(self.member, 'task_id', self.member)!r}, failed={self.error is not None})"


class Sink:
    """The protocol (see the module). Subclassing it is optional: any object with the two
    methods is a sink."""

    def add(self, result):
        """Take one result; return those stored now (and :class:`Lost` ones).

        :param result: a result or a failure.
        """
        raise NotImplementedError

    def close(self):
        """Store what is buffered; return it as :meth:`add` does."""
        raise NotImplementedError


class MemorySink(Sink):
    """Results are handed straight back and stored nowhere."""

    def add(self, result):
        """:returns: ``[result]``."""
        return [result]

    def close(self):
        """:returns: nothing more."""
        return []


class DiscardSink(Sink):
    """Nothing is stored and nothing handed back (the method stored its outputs itself)."""

    def add(self, result):
        """:returns: nothing."""
        return ()

    def close(self):
        """:returns: nothing."""
        return ()


def lost_in(stored):
    """The :class:`Lost` entries among what a sink returned.

    :param stored: what :meth:`Sink.add` or :meth:`Sink.close` returned.
    """
    return [entry for entry in stored if isinstance(entry, Lost)]
