"""Why a ``@task`` run would analyse each spectrum: ``astra run ... --dry-run``.

:func:`why_pending` takes the spectra a run would select (the same query as the run,
:func:`astra.tasks.function_runner.pending_keys`) and gives each one reason, the first that
applies of:

* ``new`` -- no result under this Astra major.minor;
* ``retry`` -- its result is flagged ``flag_runtime_exception`` (the failure policy retries it);
* ``file changed`` -- the catalogue's ``file_mtime`` is later than the result's;
* ``upstream changed`` -- an upstream result of the spectrum was written after it;
* ``forced`` -- ``--force``: the result was written before this run;
* ``parameters changed`` -- the result was made with other significant parameters;
* ``code changed`` -- with ``--rerun-if-code-changed``: made by other method code.

Nothing is run; two queries per 900 (SQLite) or 50,000 spectra.
"""

import collections

import peewee

from astra.database.connection import get_database, is_sqlite
from astra.models.pipeline import major_minor
from astra.provenance.table import current_keys
from astra.tasks.function_query import stale_condition
from astra.tasks.function_runner import pending_keys, run_currency

__all__ = ["why_pending", "dry_run_counts", "REASONS"]

#: The reasons, in the order they are tried.
REASONS = ("new", "retry", "file changed", "upstream changed", "forced", "parameters changed", "code changed")


def _flag(condition, name):
    return peewee.Case(None, [(condition, 1)], 0).alias(name) if condition is not None else peewee.Value(0).alias(name)


def why_pending(function, model_name, currency, where=None, limit=None, retry_failed=None, spectrum_pk_ranges=None):
    """How many spectra a run would analyse, by reason (see the module's docs).

    :param function: a :class:`~astra.tasks.function.TaskFunction`.
    :param model_name: the catalogue model's class name (``None``: the first the method reads).
    :param currency: the run's :class:`~astra.tasks.function_query.Currency`.
    :param where: an SQL condition on the catalogue's columns.
    :param limit: at most this many spectra.
    :param retry_failed: the failure policy of the run (``None``: the setting).
    :param spectrum_pk_ranges: ``(lo, hi)`` ranges of keys, or ``None``.
    :returns: a :class:`collections.Counter` of reason to number of spectra (reasons with none
        left out).
    """
    model, keys = pending_keys(function, model_name, where=where, limit=limit, retry_failed=retry_failed,
                               spectrum_pk_ranges=spectrum_pk_ranges, currency=currency)
    counts = collections.Counter()
    if not keys:
        return counts
    db = get_database()
    output = function.output_model
    provenance = currency.provenance
    same_params = set(current_keys(provenance.method, provenance.params_digest, db=db))
    same_code = set(current_keys(provenance.method, provenance.params_digest, provenance.code_digest, db=db))
    upstreams = function.conditions(model)
    changed = [u.changed_after(model, output) for u in upstreams]
    changed = [c for c in changed if c is not None]
    upstream = None
    for condition in changed:
        upstream = condition if upstream is None else (upstream | condition)
    join = (output.spectrum_pk == model.spectrum_pk) & (output.v_astra_major_minor == major_minor())
    chunk = 900 if is_sqlite(db) else 50000
    for start in range(0, len(keys), chunk):
        query = (model.select(model.spectrum_pk, output.task_pk, output.pipeline_flags,
                              _flag(stale_condition(model, output, db), "stale"), _flag(upstream, "upstream"),
                              output.modified, output.provenance_pk)
                 .join(output, peewee.JOIN.LEFT_OUTER, on=join)
                 .where(model.spectrum_pk.in_(keys[start:start + chunk])).tuples())
        for _, task_pk, failed, stale, up, modified, provenance_pk in query:
            counts[_reason(task_pk, failed, stale, up, modified, provenance_pk, currency, same_params, same_code)] += 1
    return counts


def dry_run_counts(function, model_name, params=None, rerun_if_code_changed=None, force=False, **selection):
    """:func:`why_pending` for a run with these options (``astra run ... --dry-run``).

    :param function: a :class:`~astra.tasks.function.TaskFunction`.
    :param model_name: the catalogue model's class name.
    :param params: the method's arguments.
    :param rerun_if_code_changed: ``True``/``False``, or ``None`` for the setting.
    :param force: ``--force``.
    :param selection: ``where``, ``limit``, ``retry_failed``, ``spectrum_pk_ranges``.
    """
    currency = run_currency(function, params, rerun_if_code_changed, force)
    return why_pending(function, model_name, currency, **selection)


def _reason(task_pk, failed, stale, upstream, modified, provenance_pk, currency, same_params, same_code):
    if task_pk is None:
        return "new"
    if (failed or 0) & 1:  # flag_runtime_exception
        return "retry"
    if stale:
        return "file changed"
    if upstream:
        return "upstream changed"
    if currency.force_since is not None:
        return "forced"
    if provenance_pk is not None and provenance_pk not in same_params:
        return "parameters changed"
    if provenance_pk is not None and currency.code and provenance_pk not in same_code:
        return "code changed"
    return "new"
