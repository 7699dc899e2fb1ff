"""Which catalogue spectra a ``@task`` still has to analyse, in one query.

A spectrum needs work when its results table has no row for it under this Astra major.minor,
or when its file changed after the result was computed (the catalogue's ``file_mtime`` is later
than the row's ``spectrum_mtime``), or when its row is flagged ``flag_runtime_exception`` (the
failure policy of :mod:`astra.core.outcome`: a failure is retried; with ``retry_failed=False``,
or the setting ``retry_failed: false``, such a row counts as done). For a downstream method (see :mod:`astra.tasks.function_upstream`) only the
spectra whose upstream results meet its conditions need work, and a result is also out of date
when an upstream result of its spectrum was written after it.

**Parameters** (docs/provenance.rst): a result is current only when it was made with the
method's parameters of this run -- its row's ``provenance_pk`` names a provenance record with
the same parameters digest (a row written before provenance existed, ``NULL``, counts as
current). A run with other parameters therefore recomputes the row in place and updates its
provenance. Changed method code makes a result out of date only with ``rerun_if_code_changed``
(the setting or ``--rerun-if-code-changed``). ``force_since`` (``astra run --force``) makes
every row written before that time out of date. These are carried by a :class:`Currency`.

:func:`pending_spectra` is the one question "which spectra does this method still have to
analyse" (``astra run``, ``astra srun`` and ``astra daily`` ask it): it asks the whole catalogue
table at once (``NOT EXISTS``, answered from the unique index on ``spectrum_pk,
v_astra_major_minor``). :func:`done_keys` asks the same question about a given batch of spectra.
No file is looked at.
"""

import datetime

import peewee

import astra.config
from astra.database.connection import get_database, is_sqlite
from astra.database.migrations import ensure_table
from astra.core.outcome import retry_failed as failure_policy
from astra.models.pipeline import major_minor
from astra.provenance.table import current_keys
from astra.tasks.function_upstream import decided_against, require_database

__all__ = ["pending_spectra", "done_keys", "failed_spectra", "stale_condition", "MTIME_TOLERANCE", "Currency",
           "rerun_if_code_changed"]

#: Seconds a file time may differ from the recorded one and count as the same (rounding of
#: timestamps converted between representations).
MTIME_TOLERANCE = 0.001


def _epoch(db, column):
    """A SQL expression of ``column`` (a UTC timestamp) in seconds since 1970."""
    if is_sqlite(db):
        return (peewee.fn.julianday(column) - 2440587.5) * 86400.0
    return peewee.fn.date_part("epoch", column)


def stale_condition(spectrum_model, output_model, db=None):
    """The condition "the spectrum's file changed after its result was computed", or ``None``.

    True when the catalogue's ``file_mtime`` is later than the result's ``spectrum_mtime`` (the
    file time the result was computed from); for a result without one, later than the
    result's ``modified``. ``None`` when the catalogue model has no ``file_mtime``. A
    ``file_mtime`` held as a timestamp is compared in seconds since 1970.

    :param spectrum_model: the catalogue model.
    :param output_model: the results model.
    :param db: the database (default: the bound one).
    """
    field = spectrum_model._meta.fields.get("file_mtime")
    if field is None:
        return None
    db = db if db is not None else get_database()
    mtime = _epoch(db, field) if isinstance(field, peewee.DateTimeField) else field
    recorded = output_model.spectrum_mtime
    newer = (recorded.is_null(False) & (mtime > recorded + MTIME_TOLERANCE)) | (
        recorded.is_null() & (mtime > _epoch(db, output_model.modified))
    )
    return field.is_null(False) & newer  # never NULL, so that NOT (...) means "up to date"


def rerun_if_code_changed(given=None):
    """Whether changed method code makes results out of date: ``given``, else the setting
    ``rerun_if_code_changed`` (default false).

    :param given: ``True``/``False`` from the command line, or ``None``.
    """
    if given is not None:
        return bool(given)
    value = astra.config.get("rerun_if_code_changed")
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value is not None else False


class Currency:
    """What makes a result current besides its version and file: the run's parameters, the code
    (when asked) and ``--force``'s time.

    :param method: the ``@task`` method (a :class:`~astra.tasks.function.TaskFunction`).
    :param params: the method's arguments of this run (``None``: its defaults).
    :param code: also require the method's current code (``None``: the setting
        ``rerun_if_code_changed``).
    :param force_since: a UTC :class:`datetime.datetime` (or ISO text): rows written before it
        are out of date (``None``: no forcing).
    """

    def __init__(self, method, params=None, code=None, force_since=None):
        self.method = method
        self.provenance = method.provenance(params) if hasattr(method, "provenance") else None
        self.code = rerun_if_code_changed(code)
        if isinstance(force_since, str) and force_since:
            force_since = datetime.datetime.fromisoformat(force_since)
        self.force_since = force_since or None

    def current_keys(self, db):
        """The ``provenance_pk`` values a current row may reference (one small query)."""
        if self.provenance is None:
            return None
        return current_keys(self.provenance.method, self.provenance.params_digest,
                            self.provenance.code_digest if self.code else None, db=db)

    def condition(self, output_model, db):
        """The SQL condition "made with these parameters (and code), after ``force_since``"."""
        condition = None
        keys = self.current_keys(db)
        if keys is not None:
            column = output_model.provenance_pk
            condition = column.is_null() | column.in_(keys) if keys else column.is_null()
        if self.force_since is not None:
            newer = output_model.modified >= self.force_since
            condition = newer if condition is None else (condition & newer)
        return condition


def _method(method, spectrum_model):
    """``(results model, conditions)`` of a ``@task`` method or of a bare results model."""
    if not hasattr(method, "conditions"):
        return method, ()
    return method.output_model, tuple(method.conditions(spectrum_model))


def _up_to_date(spectrum_model, output_model, retry_failed, db, upstreams=(), currency=None):
    """The condition on a (spectrum, result) pair: the result stands (no re-run needed)."""
    condition = output_model.v_astra_major_minor == major_minor()
    made = currency.condition(output_model, db) if currency is not None else None
    if made is not None:
        condition &= made
    retry_failed = failure_policy(retry_failed)
    stale = stale_condition(spectrum_model, output_model, db)
    if stale is not None:
        condition &= ~stale
    if retry_failed:
        condition &= ~output_model.flag_runtime_exception
    for upstream in upstreams:
        changed = upstream.changed_after(spectrum_model, output_model)
        if changed is not None:
            condition &= ~changed
    return condition


def pending_spectra(spectrum_model, method, where=None, limit=None, retry_failed=None, db=None, currency=None):
    """The catalogue spectra that ``method`` still has to analyse, in ``spectrum_pk`` order.

    One query: ``SELECT ... FROM <catalogue> WHERE NOT EXISTS (SELECT 1 FROM <results> WHERE
    spectrum_pk = ... AND v_astra_major_minor = ... AND <file unchanged since> AND <no upstream
    result written since>) AND EXISTS (<an upstream result meeting the condition>)``.

    :param spectrum_model: the catalogue model (e.g. ``ApogeeCoaddedSpectrumInApStar``).
    :param method: the ``@task`` method (a :class:`~astra.tasks.function.TaskFunction`), or just
        its results model (a method without upstreams).
    :param where: an extra SQL condition on the catalogue's columns (``"release = 'dr17'"``).
    :param limit: at most this many spectra.
    :param retry_failed: also spectra whose result is flagged ``flag_runtime_exception``
        (``None``: the failure policy, :func:`astra.core.outcome.retry_failed`).
    :param db: the database (default: the bound one).
    :param currency: a :class:`Currency` (``None``: the method's default parameters, for a
        ``@task`` method; nothing for a bare results model).
    :returns: a peewee query of catalogue rows (``.select(spectrum_model.spectrum_pk).tuples()``
        gives just the keys).
    """
    db = db if db is not None else get_database()
    output_model, upstreams = _method(method, spectrum_model)
    require_database(upstreams)
    ensure_table(output_model, db=db)
    for upstream in upstreams:
        for model in upstream.models:
            ensure_table(model, db=db)
    currency = currency if currency is not None else _default_currency(method)
    standing = (
        output_model.select(peewee.SQL("1"))
        .where(output_model.spectrum_pk == spectrum_model.spectrum_pk)
        .where(_up_to_date(spectrum_model, output_model, retry_failed, db, upstreams, currency))
    )
    query = spectrum_model.select().where(~peewee.fn.EXISTS(standing))
    for upstream in upstreams:
        query = query.where(upstream.selects(spectrum_model))
    if where:
        query = query.where(peewee.SQL(f"({where})"))
    query = query.order_by(spectrum_model.spectrum_pk)
    if limit:
        query = query.limit(int(limit))
    return query


def _default_currency(method):
    return Currency(method) if hasattr(method, "provenance") else None


def done_keys(spectrum_model, method, spectrum_pks, retry_failed=None, db=None, currency=None):
    """Which of ``spectrum_pks`` have nothing left to do: an up-to-date result (one query per chunk).

    A key that is not in the catalogue is never done (running it reports that). For a
    downstream method, a spectrum whose upstream results exist but do not meet the conditions is
    done too (there is nothing to compute for it); one without an upstream result is not.

    :param spectrum_model: the catalogue model.
    :param method: the ``@task`` method, or just its results model.
    :param spectrum_pks: catalogue keys.
    :param retry_failed: a result flagged ``flag_runtime_exception`` is not done (``None``: the
        failure policy, :func:`astra.core.outcome.retry_failed`).
    :param db: the database (default: the bound one).
    :param currency: a :class:`Currency` (``None``: the method's default parameters).
    :returns: a set of keys.
    """
    keys = list(dict.fromkeys(spectrum_pks))
    if not keys:
        return set()
    db = db if db is not None else get_database()
    output_model, upstreams = _method(method, spectrum_model)
    ensure_table(output_model, db=db)
    done = decided_against(spectrum_model, upstreams, keys, db=db)
    currency = currency if currency is not None else _default_currency(method)
    chunk = 900 if is_sqlite(db) else 50000
    models = [spectrum_model, output_model] + [m for u in upstreams for m in u.models]
    with db.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        for start in range(0, len(keys), chunk):
            query = (
                spectrum_model.select(spectrum_model.spectrum_pk)
                .join(output_model, on=(output_model.spectrum_pk == spectrum_model.spectrum_pk))
                .where(spectrum_model.spectrum_pk.in_(keys[start : start + chunk]))
                .where(_up_to_date(spectrum_model, output_model, retry_failed, db, upstreams, currency))
                .tuples()
            )
            done.update(row[0] for row in query)
    return done


def failed_spectra(spectrum_model, method, where=None, db=None):
    """How many spectra have an up-to-date result flagged ``flag_runtime_exception`` (one query).

    These are the failures a run under ``retry_failed: false`` leaves alone.

    :param spectrum_model: the catalogue model.
    :param method: the ``@task`` method, or just its results model.
    :param where: an extra SQL condition on the catalogue's columns.
    :param db: the database (default: the bound one).
    """
    db = db if db is not None else get_database()
    output_model, _ = _method(method, spectrum_model)
    ensure_table(output_model, db=db)
    query = (spectrum_model.select(peewee.fn.COUNT(spectrum_model.spectrum_pk))
             .join(output_model, on=(output_model.spectrum_pk == spectrum_model.spectrum_pk))
             .where(_up_to_date(spectrum_model, output_model, False, db))
             .where(output_model.flag_runtime_exception))
    if where:
        query = query.where(peewee.SQL(f"({where})"))
    return int(query.scalar() or 0)
