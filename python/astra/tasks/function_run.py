"""Running a ``@task`` generator over spectra: timing, failed spectra, batched writes.

:func:`execute` drives the author's generator function and is what both a Python call of a
``@task`` and its Luigi task use.

**Timing** (SDSS Astra's Timer semantics). The spectra reach the function through a feed
that notes when the function first asks for one:

* ``t_overhead`` -- the time from calling the function until it asks for its first spectrum
  (loading a model, a grid, ...), shared equally among the spectra of the call: every result
  gets ``overhead / number of spectra``;
* ``t_elapsed`` -- for the first result, the time from that first request until the result is
  yielded; for every later result, the time from when the generator was resumed after the
  previous result until it yields this one. Time Astra spends between results (writing rows)
  is charged to no result.

**A bad input file** (missing, empty, not a regular file) is found before the function sees
the spectrum, by the same check class-style tasks make (:mod:`astra.tasks.inputs`): the
spectrum gets a row flagged ``flag_runtime_exception`` whose ``error`` names the file, and the
function is never handed it, so it goes on without a restart (with ``re_raise_exceptions=True``
the :class:`~astra.tasks.inputs.InputFileError` is raised after that row is written). A file
that exists but cannot be read is the function's to handle: its reader raises, naming the file.

**A spectrum that cannot be processed.** When the generator raises, the spectrum it last asked
for gets a row flagged ``flag_runtime_exception`` with the error in ``error``, and the function
is called again over the spectra it has not finished (its overhead counted again, and shared
among those). Spectra it had asked for but not yet answered go first. With
``re_raise_exceptions=True`` the flagged row is written and the exception re-raised instead.
An exception raised before the function asked for any spectrum is not any spectrum's fault
and is always raised.
"""

import collections
import contextlib
import logging
import time

from astra.core import timeout as time_limit
from astra.core.readahead import reading_ahead
from astra.models.pipeline import file_mtime_seconds
from astra.tasks.inputs import InputFileError, input_file_problem

__all__ = ["execute", "TaskFunctionError"]

logger = logging.getLogger("astra")


class TaskFunctionError(TypeError):
    """A ``@task`` function broke its contract (not a generator, or yielded a wrong object)."""


class _Feed:
    """The iterator of spectra handed to the function; notes what was asked for, and when."""

    def __init__(self, spectra):
        self._queue = collections.deque(spectra)
        self.first_request = None
        self.outstanding = {}  # id(spectrum) -> spectrum, handed out and not yet answered
        self.last = None
        self.rejected = []  # (spectrum, InputFileError): bad input files, never handed out

    def __iter__(self):
        return self

    def __next__(self):
        if self.first_request is None:
            self.first_request = time.perf_counter()
        while True:
            if not self._queue:
                raise StopIteration
            spectrum = self._queue.popleft()
            path = getattr(spectrum, "path", None)
            problem = input_file_problem(path) if isinstance(path, str) else None
            if problem is None:
                break
            self.rejected.append((spectrum, InputFileError(problem[1])))
        self.outstanding[_pk(spectrum)] = spectrum
        self.last = spectrum
        time_limit.started(_pk(spectrum))
        return spectrum

    def __len__(self):
        return len(self._queue)

    def take_rejected(self):
        """The spectra refused for a bad input file since the last call, with their errors."""
        rejected, self.rejected = self.rejected, []
        return rejected

    def reject(self, spectrum, error):
        """The method could not use ``spectrum`` (e.g. its file did not read in a batch of
        arrays): it gets a flagged row with ``error``, as a bad input file does."""
        self.outstanding.pop(_pk(spectrum), None)
        self.rejected.append((spectrum, error))

    def answered(self, result):
        """Note that ``result`` answers its spectrum; tell it the spectrum's catalogue model."""
        spectrum = self.outstanding.pop(result.spectrum_pk, None)
        if spectrum is not None:
            result._astra_spectrum_model = type(spectrum).__name__
            if result.spectrum_mtime is None:  # a result made without from_spectrum()
                result.spectrum_mtime = file_mtime_seconds(spectrum)

    def restart(self, failed):
        """A fresh feed over what is left: the outstanding spectra (but ``failed``) first."""
        self.outstanding.pop(_pk(failed), None)
        left = list(self.outstanding.values()) + list(self._queue)
        return _Feed(left)


_DONE = object()  # the generator finished
_FAILED = object()  # the generator raised


def _pk(spectrum):
    return getattr(spectrum, "spectrum_pk", id(spectrum))


def _describe(spectrum):
    path = getattr(spectrum, "path", None)
    text = f"spectrum_pk={_pk(spectrum)}"
    return f"{text} ({path})" if path else text


def execute(function, spectra, params, output_model, sink, re_raise_exceptions=False, on_result=None):
    """Run ``function`` over ``spectra`` and yield its results as ``sink`` writes them.

    :param function: the author's generator function (undecorated).
    :param spectra: an iterable of catalogue spectra; it is read into a list first (the
        number of spectra shares out the overhead).
    :param params: keyword arguments for the function.
    :param output_model: the results model the function yields instances of.
    :param sink: where results go: an object with ``add(result)`` returning the results now
        written (a list) and ``close()`` writing and returning the rest. If the run stops
        early (an exception, or the caller stops iterating) the buffered results are written.
    :param re_raise_exceptions: re-raise a spectrum's exception (after writing its flagged
        row) instead of going on.
    :param on_result: called with each result as it is yielded by the function (progress).
    :returns: a generator of written results (with ``t_elapsed``, ``t_overhead`` set, and
        ``task_pk`` / ``created`` when written to the database).
    """
    feed = _Feed(spectra if isinstance(spectra, list) else list(spectra))
    closed = False
    reading = contextlib.ExitStack()
    try:
        # The next spectra's files are read in the background while the method computes.
        reading.enter_context(reading_ahead([getattr(s, "path", None) for s in feed._queue]))
        while True:
            total = len(feed)
            called = time.perf_counter()
            generator = function(feed, **params)
            if not hasattr(generator, "__next__"):
                raise TaskFunctionError(
                    f"{function.__qualname__} returned {type(generator).__name__}, not a generator: "
                    "a @task function yields one result per spectrum"
                )
            share = None
            resumed = time.perf_counter()
            failed = None
            while True:
                error = None
                try:
                    result = next(generator)
                except StopIteration:
                    result = _DONE
                except Exception as caught:  # one spectrum must not lose the others
                    result, error = _FAILED, caught
                failures = feed.take_rejected()  # bad input files, never handed out
                if result is _FAILED and feed.last is not None:
                    failed = feed.last  # the spectrum it last asked for
                    failures.append((failed, error))
                for spectrum, problem in failures:
                    failure = _flagged(output_model, spectrum, problem, share, feed, called, total)
                    if on_result is not None:
                        on_result(failure)
                    for written in sink.add(failure):
                        yield written
                    if re_raise_exceptions:
                        for written in sink.close():
                            yield written
                        closed = True
                        raise problem
                if result is _FAILED and failed is None:
                    raise error  # before it asked for any spectrum: no spectrum's fault
                if result is _DONE or result is _FAILED:
                    break
                now = time.perf_counter()
                if share is None:
                    asked = feed.first_request if feed.first_request is not None else called
                    share = (asked - called) / max(total, 1)
                    elapsed = now - asked
                else:
                    elapsed = now - resumed
                if not isinstance(result, output_model):
                    raise TaskFunctionError(
                        f"{function.__qualname__} yielded {type(result).__name__}, not a "
                        f"{output_model.__name__} (its return annotation)"
                    )
                result.t_elapsed = elapsed
                result.t_overhead = share
                feed.answered(result)
                if on_result is not None:
                    on_result(result)
                for written in sink.add(result):
                    yield written
                resumed = time.perf_counter()
            if failed is None:
                break
            feed = feed.restart(failed)
            if not len(feed):
                break
        closed = True
        for written in sink.close():
            yield written
    finally:
        reading.close()
        if not closed:  # stopped early (an error, or the caller stopped iterating): keep the rows
            try:
                sink.close()
            except Exception:
                logger.exception("could not write the last %s results", output_model.__name__)


def _flagged(output_model, spectrum, error, share, feed, called, total):
    reason = f"{type(error).__name__}: {error}"
    logger.error("%s failed on %s: %s", output_model.__name__, _describe(spectrum), reason)
    logger.debug("traceback of the failure", exc_info=True)
    if share is None:
        asked = feed.first_request if feed.first_request is not None else called
        share = (asked - called) / max(total, 1)
    result = output_model.from_spectrum(spectrum, flag_runtime_exception=True, error=reason[:2000])
    result._astra_spectrum_model = type(spectrum).__name__
    result.t_overhead = share
    result.t_elapsed = None
    return result
