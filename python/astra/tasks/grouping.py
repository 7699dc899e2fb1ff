"""Grouping tasks into batches: :func:`batch_tasks`.

Tasks of one class whose significant non-batch parameters are identical can share one batch:
the expensive ``setup()`` (loading a model) then runs once for all of them, and the scheduler
sees one task per batch instead of one per spectrum. Insignificant parameters do not split
batches (the first task's values are used).

Grouping works on the values the tasks already hold, normalised when they were built: no
text form, no identity hash and no intermediate task per member is made, so a script can hand
:func:`astra.build` a million single-spectrum tasks. Values are compared as they are, except
where equal values can have different text forms (floats: ``-0.0`` and ``0.0``; plain Luigi
parameters: ``1`` and ``1.0``): those are compared by their text form, so a member's identity
never changes by joining a batch.

With several worker processes (``workers``), a group is cut into a multiple of ``workers``
batches of equal size (still at most ``max_batch_size`` each), so that every worker gets work
and they finish together: 400 spectra with the default size of 1,000 are two batches of 200
for ``--workers 2``, not one batch that one worker runs while the other waits.
"""

import operator

import astra.config
from astra.parameters import FloatParameter, CanonicalMixin
from astra.tasks import members
from astra.tasks.base import BaseTask
from astra.tasks.plan import plan_for

__all__ = ["batch_tasks", "batch_bounds"]


def _tuple_getter(names):
    """A function giving ``tuple(values[n] for n in names)``, in C where possible."""
    if not names:
        return lambda values: ()
    if len(names) == 1:
        name = names[0]
        return lambda values: (values[name],)
    return operator.itemgetter(*names)


class _Grouping:
    """How tasks of one class are keyed (members become rows and rows become batches in
    :mod:`astra.tasks.members`)."""

    def __init__(self, cls):
        plan = plan_for(cls)
        self.plan = plan
        self.batch_names = plan.batch_names
        by_value, by_text = [], []
        for name in plan.group_names:
            param = plan.by_name[name]
            exact = isinstance(param, CanonicalMixin) and not isinstance(param, FloatParameter)
            (by_value if exact else by_text).append((name, param.serialize))
        self._values = _tuple_getter([n for n, _ in by_value])
        self._texts = by_text
        self.row = _tuple_getter(self.batch_names)

    def key(self, task):
        """What a batch's members must share: the significant non-batch values."""
        values = task.param_kwargs
        key = self._values(values)
        if self._texts:
            key = (key, tuple(None if values[n] is None else serialise(values[n]) for n, serialise in self._texts))
        try:
            hash(key)
        except TypeError:  # a value that cannot be hashed (a plain Luigi parameter): use text
            names = set(self.batch_names)
            key = tuple(sorted((n, v) for n, v in task.identity_params().items() if n not in names))
        return key


def batch_bounds(n, max_batch_size, workers=1):
    """Where a group of ``n`` members is cut into batches: ``(start, stop)`` pairs, in order.

    One worker: batches of ``max_batch_size`` and the rest. Several: the fewest batches of at
    most ``max_batch_size`` whose number is a multiple of ``workers`` (but no more batches than
    members), of sizes that differ by at most one.

    :param n: the number of members.
    :param max_batch_size: most members per batch (at least 1).
    :param workers: worker processes that will run the batches.
    """
    if workers <= 1:
        return [(start, min(n, start + max_batch_size)) for start in range(0, n, max_batch_size)]
    count = -(-n // max_batch_size)
    count = min(n, -(-count // workers) * workers)
    size, extra = divmod(n, count) if count else (0, 0)
    bounds, start = [], 0
    for index in range(count):
        stop = start + size + (index < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def batch_tasks(tasks, max_batch_size=None, workers=1):
    """Group ``tasks`` into batch tasks.

    Tasks are grouped by class and by the values of their significant non-batch parameters;
    each group becomes batches of at most ``max_batch_size`` members, in the order the members
    were given (duplicates dropped), cut by :func:`batch_bounds` (with several ``workers``, a
    multiple of ``workers`` batches of equal size). With one worker, a class with a
    ``cut_batches(rows, size)`` classmethod cuts its own: a ``@task``'s batches never cross a
    ``spectrum_pk`` block, so concurrent runs that found different pending spectra still claim
    the same blocks (:meth:`~astra.tasks.function_luigi.FunctionTask.claim_key`). Tasks given as
    batches are split into their members first. Tasks that are not
    :class:`~astra.tasks.BaseTask` or have no batch parameters are returned unchanged.

    :param tasks: an iterable of tasks.
    :param max_batch_size: most members per batch (default: the ``max_batch_size`` setting).
    :param workers: worker processes that will run the batches (default 1).
    :returns: a list of tasks.
    """
    if max_batch_size is None:
        max_batch_size = int(astra.config.get("max_batch_size", 1000))
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")

    passthrough, groups, groupings = [], {}, {}
    last_cls = grouping = None
    for task in tasks:
        cls = type(task)
        if cls is not last_cls:  # scripts hand over long runs of one class
            grouping = groupings.get(cls, False)
            if grouping is False:
                groupable = issubclass(cls, BaseTask) and cls.batch_param_names()
                grouping = groupings[cls] = _Grouping(cls) if groupable else None
            last_cls = cls
        if grouping is None:
            passthrough.append(task)
            continue
        key = (cls, grouping.key(task))
        group = groups.get(key)
        if group is None:
            group = groups[key] = (task, grouping, {})
        rows = group[2]
        if task._batch_size == 1:
            rows.setdefault(grouping.row(task.param_kwargs), None)
        else:
            for row in members.rows(task.param_kwargs, grouping.batch_names, task._batch_size):
                rows.setdefault(row, None)

    batches = []
    for first, grouping, rows in groups.values():
        ordered = list(rows)
        cut = getattr(type(first), "cut_batches", None) if workers <= 1 else None
        if cut is not None:  # stable boundaries, claimed as such (see the docstring)
            chunks = cut(ordered, max_batch_size)
        else:
            chunks = [ordered[start:stop] for start, stop in batch_bounds(len(ordered), max_batch_size, workers)]
        for chunk in chunks:
            values = dict(first.param_kwargs)
            values.update(members.from_rows(grouping.batch_names, chunk))
            # The members' values are normalised and complete already: no second resolution.
            batch = grouping.plan.instance(values)
            # Luigi's scheduler may merge single-spectrum tasks; never beyond this size.
            batch.max_batch_size = max_batch_size
            if cut is None:
                batch.cut_as_batch = True  # kept as cut, even of one spectrum (see BaseTask.batchable)
            else:
                # Cut at a stable block and claimed by its block. A sparse selection leaves
                # blocks of one spectrum: Luigi may merge those (a merged batch spans blocks and
                # claims its identity), so a model is not loaded once per spectrum.
                batch.block_cut = True
            batches.append(batch)
    return passthrough + batches
