"""``astra run <task> <SpectrumModel>``: run a ``@task`` over the catalogue spectra that need it.

::

    astra run snr ApogeeCoaddedSpectrumInApStar --limit 1000 --where "release = 'dr17'" --min-good-pixels 50

* the task is a short name registered in the ``astra.tasks`` entry-point group (see
  ``setup.cfg``) or a dotted path (``mymethods.snr``);
* the spectra are those without an up-to-date result, found in one query
  (:func:`astra.tasks.function_query.pending_spectra`); ``--retry-failed`` adds those whose
  result is flagged ``flag_runtime_exception``; ``--spectrum-pk-range LO HI`` keeps those
  whose ``spectrum_pk`` lies in ``[LO, HI]`` (:func:`pending_keys`; ``astra srun`` gives each
  process its own range, :mod:`astra.cluster.shares`);
* they run in batches through :func:`astra.build`, with a progress bar on a terminal.
"""

import functools
import importlib
import importlib.metadata
import operator

import peewee

import astra.config
from astra.tasks.batch import build
from astra.tasks.function import TaskFunction
from astra.tasks.function_query import pending_spectra
from astra.runner import parse_task_params as parse

__all__ = ["ENTRY_POINT_GROUP", "load_task_function", "registered_tasks", "run_pending", "pending_query", "pending_keys",
           "parse_task_params"]

#: The entry-point group in which packages register ``@task`` methods by short name.
ENTRY_POINT_GROUP = "astra.tasks"


def registered_tasks():
    """The short names registered in the ``astra.tasks`` entry-point group.

    :returns: a dict of name to entry point.
    """
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_task_function(name):
    """The ``@task`` method named ``name``: a registered short name or ``module.function``.

    :param name: e.g. ``"estimate_snr"`` or ``"astra.contrib.rocket.estimate_snr_task"``.
    :raises ValueError: naming what could not be found, and the registered names.
    """
    registered = registered_tasks()
    if name in registered:
        target = registered[name].load()
    elif "." in name:
        module_name, _, attribute = name.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            from astra.module_hint import import_hint

            raise ValueError(f"cannot import module {module_name!r}: {error}{import_hint(module_name, error)}") from None
        if not hasattr(module, attribute):
            raise ValueError(f"module {module_name!r} has no task {attribute!r}")
        target = getattr(module, attribute)
    else:
        known = ", ".join(sorted(registered)) or "none"
        from astra.suggest import did_you_mean

        raise ValueError(f"no task registered as {name!r}{did_you_mean(name, registered)} (registered: {known}); "
                         "or give module.function")
    function = getattr(target, "task_function", target)
    if not isinstance(function, TaskFunction):
        raise ValueError(f"{name!r} is not a @task method")
    return function


def parse_task_params(function, given):
    """The method's arguments from command-line text, parsed by their Luigi parameters
    (:func:`astra.runner.parse_task_params`, the one parser of both forms of ``astra run``).

    :param function: a :class:`~astra.tasks.function.TaskFunction`.
    :param given: name (underscores) to text.
    :raises ValueError: for a name the method does not take, or a value that does not parse.
    """
    return parse(function.task_class, given, names=list(function.parameters), label=function.name)


def pending_query(function, model_name, where=None, limit=None, retry_failed=None, spectrum_pk_ranges=None):
    """The query of the spectra of ``model_name`` that ``function`` still has to analyse.

    :param function: a :class:`~astra.tasks.function.TaskFunction`.
    :param model_name: the catalogue model's class name (``None``: the first the method reads).
    :param where: an SQL condition on the catalogue's columns.
    :param limit: at most this many spectra (the first ones in key order).
    :param retry_failed: also spectra whose result is flagged as a failure (``None``: the
        failure policy, :func:`astra.core.outcome.retry_failed`).
    :param spectrum_pk_ranges: ``(lo, hi)`` pairs: keep only keys in one of these closed
        ranges (``None``: every key). An empty list keeps nothing.
    :returns: ``(catalogue model, peewee query of its rows)``
        (:func:`astra.tasks.function_query.pending_spectra`, narrowed to the ranges).
    :raises ValueError: if the method does not read that model.
    """
    model = function.input_model(model_name)
    query = pending_spectra(model, function, where=where, limit=limit, retry_failed=retry_failed)
    if spectrum_pk_ranges is not None:
        ranges = [(int(lo), int(hi)) for lo, hi in spectrum_pk_ranges]
        conditions = [model.spectrum_pk.between(lo, hi) for lo, hi in ranges]
        query = query.where(functools.reduce(operator.or_, conditions) if conditions else peewee.SQL("1 = 0"))
    return model, query


def pending_keys(function, model_name, where=None, limit=None, retry_failed=None, spectrum_pk_ranges=None):
    """The sorted ``spectrum_pk`` of the spectra :func:`pending_query` finds (same parameters).

    :returns: ``(catalogue model, sorted list of keys)``.
    :raises ValueError: if the method does not read that model.
    """
    if spectrum_pk_ranges is not None and not list(spectrum_pk_ranges):
        return function.input_model(model_name), []
    model, query = pending_query(function, model_name, where=where, limit=limit, retry_failed=retry_failed,
                                 spectrum_pk_ranges=spectrum_pk_ranges)
    return model, [row[0] for row in query.select(model.spectrum_pk).tuples()]


def run_pending(function, model_name, where=None, limit=None, retry_failed=None, task_params=None,
                workers=1, max_batch_size=None, scheduler_host=None, scheduler_port=None,
                spectrum_pk_ranges=None, share_batches=True, timeout=None):
    """Run ``function`` over the spectra of ``model_name`` that need it.

    :param function: a :class:`~astra.tasks.function.TaskFunction`.
    :param model_name: the catalogue model's class name.
    :param where: an SQL condition on the catalogue's columns.
    :param limit: at most this many spectra.
    :param retry_failed: also re-run spectra whose result is flagged as a failure (``None``:
        the failure policy, :func:`astra.core.outcome.retry_failed`).
    :param task_params: the method's arguments.
    :param workers: Luigi worker processes.
    :param max_batch_size: most spectra per batch (default: the ``max_batch_size`` setting).
    :param scheduler_host: a central luigid's host (default: the ``scheduler_host`` setting,
        else Luigi's local scheduler).
    :param scheduler_port: its port.
    :param spectrum_pk_ranges: only spectra whose key is in one of these ``(lo, hi)`` closed
        ranges (see :func:`pending_keys`).
    :param share_batches: under ``astra srun``'s share variables, keep only this process's share
        of the batches (see :func:`astra.build`); false when the ranges are already its share.
    :param timeout: seconds one spectrum may run (``None``: the method's ``timeout``; 0: no limit;
        see :mod:`astra.core.timeout`).
    :returns: ``(number of spectra, BuildSummary or None)``.
    """
    model, keys = pending_keys(function, model_name, where=where, limit=limit, retry_failed=retry_failed,
                               spectrum_pk_ranges=spectrum_pk_ranges)
    if not keys:
        return 0, None
    size = int(max_batch_size or astra.config.get("max_batch_size") or 1000)
    task_class = function.task_class
    tasks = [
        task_class(spectrum_model=model.__name__, spectrum_pk=tuple(keys[i : i + size]),
                   retry_failed=retry_failed is True, skip_failed=retry_failed is False,
                   **({} if timeout is None else {"timeout": timeout}), **(task_params or {}))
        for i in range(0, len(keys), size)
    ]
    summary = build(tasks, max_batch_size=size, workers=workers, log_level="ERROR",
                          scheduler_host=scheduler_host, scheduler_port=scheduler_port, share_batches=share_batches)
    return len(keys), summary
