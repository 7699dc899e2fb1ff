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

**Transient errors** (the method's :class:`~astra.retry.RetryPolicy`, declared with
:func:`astra.retry.retries`): a spectrum whose exception is of a declared type is tried again,
alone, after the policy's wait (the function is called again over what is left, that spectrum
first); only when its tries are spent does it get a flagged row, whose ``error`` lists the
tries.

The loop itself is the engine's, written once for both method styles
(:func:`astra.core.loop.run_loop`); this module is the ``@task`` style's :class:`~astra.core.loop.Contract`.
"""

import logging

from astra.core import timeout as time_limit
from astra.core.loop import Contract, ContractError, Feed, run_loop
from astra.models.pipeline import file_mtime_seconds
from astra.provenance.record import checksum_setting, stamp_input
from astra.retry import policy_of, with_attempts
from astra.tasks.inputs import InputFileError, input_file_problem

__all__ = ["execute", "TaskFunctionError", "contract_of"]

logger = logging.getLogger("astra")


class TaskFunctionError(ContractError):
    """A ``@task`` function broke its contract (not a generator, or yielded a wrong object)."""


#: The feed of spectra a ``@task`` function iterates over (kept under its earlier name).
_Feed = Feed


def _pk(spectrum):
    return getattr(spectrum, "spectrum_pk", id(spectrum))


def _result_pk(result):
    return result.spectrum_pk


def _describe(spectrum):
    path = getattr(spectrum, "path", None)
    text = f"spectrum_pk={_pk(spectrum)}"
    return f"{text} ({path})" if path else text


def _check(spectrum):
    path = getattr(spectrum, "path", None)
    problem = input_file_problem(path) if isinstance(path, str) else None
    return None if problem is None else InputFileError(problem[1])


def _path(spectrum):
    return getattr(spectrum, "path", None)


def _started(spectrum):
    time_limit.started(_pk(spectrum))  # the time limit's clock starts (astra.core.timeout)


def _answered(spectrum, result):
    result._astra_spectrum_model = type(spectrum).__name__
    if result.spectrum_mtime is None:  # a result made without from_spectrum()
        result.spectrum_mtime = file_mtime_seconds(spectrum)


def contract_of(function, output_model, on_retry=None):
    """The loop's :class:`~astra.core.loop.Contract` for a ``@task`` function.

    :param function: the author's generator function.
    :param output_model: the results model it yields.
    :param on_retry: see :class:`~astra.core.loop.Contract`.
    """
    name = function.__qualname__
    how = checksum_setting()  # the input file's facts on each row (docs/provenance.rst)

    def answered(spectrum, result):
        _answered(spectrum, result)
        stamp_input(result, _path(spectrum), how)

    def accept(result, elapsed, share):
        if not isinstance(result, output_model):
            raise TaskFunctionError(
                f"{name} yielded {type(result).__name__}, not a {output_model.__name__} (its return annotation)"
            )
        result.t_elapsed = elapsed
        result.t_overhead = share

    def failure(spectrum, error, share, elapsed, attempts):
        reason = with_attempts(f"{type(error).__name__}: {error}", attempts)
        logger.error("%s failed on %s: %s", output_model.__name__, _describe(spectrum), reason)
        logger.debug("traceback of the failure", exc_info=error)
        result = output_model.from_spectrum(spectrum, flag_runtime_exception=True, error=reason[:2000])
        result._astra_spectrum_model = type(spectrum).__name__
        result._astra_attempts = attempts
        stamp_input(result, _path(spectrum), how)
        result.t_overhead = share
        result.t_elapsed = None
        return result

    return Contract(name, failure, key=_pk, result_key=_result_pk, check=_check, path=_path, accept=accept,
                    answered=answered, on_started=_started, on_retry=on_retry)


def execute(function, spectra, params, output_model, sink, re_raise_exceptions=False, on_result=None, policy=None,
            on_retry=None):
    """Run ``function`` over ``spectra`` and yield its results as ``sink`` writes them.

    :param function: the author's generator function (undecorated).
    :param spectra: an iterable of catalogue spectra; it is read into a list first (the
        number of spectra shares out the overhead).
    :param params: keyword arguments for the function.
    :param output_model: the results model the function yields instances of.
    :param sink: where results go (:mod:`astra.core.sinks`): an object with ``add(result)``
        returning the results now written (a list) and ``close()`` writing and returning the
        rest. If the run stops early (an exception, or the caller stops iterating) the
        buffered results are written.
    :param re_raise_exceptions: re-raise a spectrum's exception (after writing its flagged
        row) instead of going on.
    :param on_result: called with each result as it is yielded by the function (progress).
    :param policy: the :class:`~astra.retry.RetryPolicy` per spectrum (default: the one the
        function declares, :func:`astra.retry.policy_of`).
    :param on_retry: called as ``on_retry(spectrum, attempt, error, wait)`` before a retry.
    :returns: a generator of written results (with ``t_elapsed``, ``t_overhead`` set, and
        ``task_pk`` / ``created`` when written to the database).
    """
    spectra = spectra if isinstance(spectra, list) else list(spectra)
    contract = contract_of(function, output_model, on_retry)
    method = (lambda feed: function(feed, **params)) if params else function
    return run_loop(method, spectra, contract, sink, policy=policy_of(function) if policy is None else policy,
                    re_raise_exceptions=re_raise_exceptions, on_result=on_result)
