"""Downstream methods: a ``@task`` that takes another method's results as input.

A method declares an upstream by a parameter annotated with the upstream's results model; the
parameter's default is the condition an upstream result must meet (a peewee expression on that
model), or is left out to take every spectrum the upstream has a result for::

    @task
    def hot_teff(
        spectra: Iterable[ApogeeCoaddedSpectrumInApStar],
        classes: HotCool = HotCool.classification == "hot",
    ) -> Iterable[HotTeff]:
        for spectrum in spectra:
            ratio = classes[spectrum].ratio      # the upstream's row for this spectrum
            yield HotTeff.from_spectrum(spectrum, ...)

The method then runs only on the spectra whose upstream result (of this Astra major.minor)
meets the condition, whichever way it is run (a Python call, ``astra run``, its Luigi task);
the parameter holds an :class:`UpstreamResults`, the upstream row of each of those spectra.
A spectrum's upstream and downstream results are joined on ``spectrum_pk``, so both methods
read the same catalogue spectra; with :func:`same_source` as the default (``star: HotCool =
same_source(HotCool.classification == "hot")``) on ``source_pk`` instead: a star-level class
choosing the visits of that star.

SDSS Astra's own way is also understood: the default of the spectra argument is a query
joined with the upstream's results (:class:`SpectraQuery`)::

    @task
    def corv(
        spectra: Optional[Iterable[BossVisitSpectrum]] = (
            BossVisitSpectrum.select()
            .join(SnowWhite, on=(SnowWhite.spectrum_pk == BossVisitSpectrum.spectrum_pk))
            .where(SnowWhite.classification == "DA")
        ),
    ) -> Iterable[Corv]:

``astra run corv BossVisitSpectrum`` and the method's Luigi task then run only on the spectra
the query selects (a Python call with spectra given runs on those, as in SDSS Astra).

A downstream result is out of date when an upstream result of its spectrum was written after
it (the upstream row's ``modified`` is later than the downstream row's): the "what needs work"
query (:func:`astra.tasks.function_query.pending_spectra`) then picks that spectrum again, and
that spectrum only. Upstream results are read from the results database, so a downstream
method needs ``results_output: database``.

Both kinds of condition (:class:`Upstream`, :class:`SpectraQuery`) answer the same questions
as SQL conditions on a catalogue row -- ``selects`` (the method runs on it), ``decided`` (its
upstream results exist), ``changed_after`` (an upstream result is newer than the method's) --
and ``lookup`` for a batch of spectra; :mod:`astra.tasks.function_query` and the Luigi task
ask only those.
"""

import collections.abc
import logging

import peewee

from astra.database.connection import get_database, is_sqlite
from astra.database.migrations import ensure_table
from astra.models.pipeline import major_minor

__all__ = [
    "Upstream", "SpectraQuery", "same_source", "BySource", "UpstreamResults", "UpstreamError", "upstreams_of",
    "select_with_upstreams", "decided_against", "require_database", "register_writer", "writer_of",
]

logger = logging.getLogger("astra")

#: The ``@task`` methods by the results model they write (for a downstream's Luigi ``requires``).
_WRITERS = {}


class UpstreamError(TypeError):
    """An upstream parameter that cannot be used (a bad condition, or results written to files)."""


def _current_rows(model, key, value):
    """The condition "a row of ``model`` whose ``key`` is ``value`` (a column or a key), of this major.minor"."""
    return (getattr(model, key) == value) & (model.v_astra_major_minor == major_minor())


def _exists(model, condition):
    return peewee.fn.EXISTS(model.select(peewee.SQL("1")).where(condition))


def _all(conditions):
    out = None
    for condition in conditions:
        out = condition if out is None else out & condition
    return out


def _any(conditions):
    out = None
    for condition in conditions:
        out = condition if out is None else out | condition
    return out


class BySource:
    """The default of an upstream parameter that reads the result of the spectrum's *source*.

    Made by :func:`same_source`.

    :param where: a peewee expression on the upstream model's columns, or ``None``.
    """

    def __init__(self, where=None):
        self.where = where

    def __repr__(self):
        return f"same_source({self.where!r})"


def same_source(where=None):
    """Take the upstream result of the spectrum's source, not of the spectrum itself.

    For a star-level classification feeding a visit-level method (SnowWhite classes a star's
    combined spectrum, Corv fits each of its visits)::

        classes: HotCool = same_source(HotCool.classification == "hot")

    A spectrum is chosen when a current upstream result of its ``source_pk`` meets the
    condition; its ``classes[spectrum]`` is that result (the latest written, if several).

    :param where: the condition (a peewee expression on the upstream model), or ``None`` for
        any result.
    :returns: a :class:`BySource` (the parameter's default).
    """
    return BySource(where)


class Upstream:
    """One upstream of a method: its results model, and the condition its results must meet.

    :param name: the method's parameter that receives the upstream results.
    :param model: the upstream's results model (a ``PipelineOutputMixin`` subclass).
    :param where: a peewee expression on ``model``'s columns, ``None`` for every result, or a
        :func:`same_source` of either.
    """

    def __init__(self, name, model, where=None):
        self.by = "spectrum_pk"
        if isinstance(where, BySource):
            self.by, where = "source_pk", where.where
        if where is not None and not isinstance(where, peewee.Node):
            raise UpstreamError(
                f"upstream parameter {name!r}: its default must be a condition on {model.__name__}'s columns "
                f"(e.g. {model.__name__}.classification == 'hot'), same_source(condition), or nothing; not {where!r}"
            )
        self.name = name
        self.model = model
        self.where = where

    @property
    def models(self):
        """The results models this condition reads."""
        return (self.model,)

    def _rows(self, spectrum_model):
        return _current_rows(self.model, self.by, getattr(spectrum_model, self.by))

    def selects(self, spectrum_model):
        """``EXISTS`` (a current upstream row of the catalogue row that meets the condition)."""
        condition = self._rows(spectrum_model)
        if self.where is not None:
            condition &= self.where
        return _exists(self.model, condition)

    def decided(self, spectrum_model):
        """``EXISTS`` (a current upstream row of the catalogue row): the condition can be judged."""
        return _exists(self.model, self._rows(spectrum_model))

    def changed_after(self, spectrum_model, output_model):
        """``EXISTS`` (a current upstream row of the catalogue row written after the output row)."""
        return _exists(self.model, self._rows(spectrum_model) & (self.model.modified > output_model.modified))

    def lookup(self, spectra, db):
        """The upstream rows of ``spectra``: ``(row by spectrum_pk, keys with a row, keys meeting the condition)``."""
        model = self.model
        passes = self.where if self.where is not None else peewee.SQL("1 = 1")
        flag = peewee.Case(None, [(passes, 1)], 0).alias("_astra_meets")
        values = {getattr(s, self.by) for s in spectra} - {None}
        best = {}  # key value -> the row to hand over: one meeting the condition before one that does not
        with db.bind_ctx([model], bind_refs=False, bind_backrefs=False):
            column = getattr(model, self.by)
            query = (
                model.select(model, flag)
                .where(_current_rows(model, self.by, column) & column.in_(list(values)))
                .order_by(model.modified, model.task_pk)
            )
            for row in query:
                value = getattr(row, self.by)
                if row._astra_meets or not getattr(best.get(value), "_astra_meets", False):
                    best[value] = row
        rows, meets = {}, set()
        for spectrum in spectra:
            row = best.get(getattr(spectrum, self.by))
            if row is not None:
                rows[spectrum.spectrum_pk] = row
                if row._astra_meets:
                    meets.add(spectrum.spectrum_pk)
        return rows, set(rows), meets

    def describe(self):
        """Text naming the upstream and its condition, for messages."""
        whose = " of the same source" if self.by == "source_pk" else ""
        if self.where is None:
            return f"a {self.model.__name__} result{whose}"
        return f"a {self.model.__name__} result{whose} with {_text(self.where)}"

    def __repr__(self):
        return f"Upstream({self.name!r}, {self.model.__name__}, where={self.where!r}, by={self.by!r})"


def _joined_models(query):
    """The models joined anywhere in a peewee ``ModelSelect``."""
    found = []
    for joins in getattr(query, "_joins", {}).values():
        for join in joins:
            dest = join[0]
            model = getattr(dest, "model", dest)  # a ModelAlias names its model
            if isinstance(model, type) and model not in found:
                found.append(model)
    return found


class SpectraQuery:
    """The default of a method's spectra argument: a query, perhaps joined with upstream results.

    SDSS Astra's way of writing a downstream method (Corv fitting what SnowWhite classed "DA")::

        spectra: Iterable[BossVisitSpectrum] = (
            BossVisitSpectrum.select()
            .join(SnowWhite, on=(SnowWhite.spectrum_pk == BossVisitSpectrum.spectrum_pk))
            .where(SnowWhite.classification == "DA")
        )

    The spectra of that model that need work are those the query selects; the results models
    joined in it are upstreams (a result is out of date when one of their rows of its spectrum
    was written after it).

    :param function: the author's function (for messages).
    :param query: a peewee ``ModelSelect`` of a catalogue model.
    :param output_model: the method's own results model, which the query must not join.
    :raises UpstreamError: when the query joins the method's own results.
    """

    name = None

    def __init__(self, function, query, output_model):
        from astra.models.pipeline import PipelineOutputMixin

        self.query = query
        self.model = query.model
        joined = [m for m in _joined_models(query) if issubclass(m, PipelineOutputMixin)]
        if output_model in joined:
            raise UpstreamError(
                f"{function.__qualname__}: the default query of its spectra joins its own results "
                f"({output_model.__name__}); leave that join out: Astra adds \"no up-to-date result yet\" itself "
                "(and so also re-runs a spectrum whose upstream result changed)"
            )
        self.upstream_models = tuple(joined)

    @property
    def models(self):
        """The results models joined in the query."""
        return self.upstream_models

    def _keys(self):
        return self.query.select(self.model.spectrum_pk)

    def selects(self, spectrum_model):
        """``spectrum_pk IN (the query's keys)``."""
        return spectrum_model.spectrum_pk.in_(self._keys())

    def decided(self, spectrum_model):
        """Every joined results model has a current row of the spectrum (``None``: none joined)."""
        pk = spectrum_model.spectrum_pk
        return _all(_exists(m, _current_rows(m, "spectrum_pk", pk)) for m in self.upstream_models)

    def changed_after(self, spectrum_model, output_model):
        """A joined results model has a current row of the spectrum written after the output row."""
        pk = spectrum_model.spectrum_pk
        return _any(
            _exists(m, _current_rows(m, "spectrum_pk", pk) & (m.modified > output_model.modified))
            for m in self.upstream_models
        )

    def lookup(self, spectra, db):
        """``(None, keys with a row of every joined model, keys the query selects)``."""
        keys = [s.spectrum_pk for s in spectra]
        models = [self.model] + list(self.upstream_models)
        with db.bind_ctx(models, bind_refs=False, bind_backrefs=False):
            chosen = {row[0] for row in self._keys().where(self.model.spectrum_pk.in_(keys)).tuples()}
            present = set(keys)
            for model in self.upstream_models:
                column = model.spectrum_pk
                query = model.select(column).where(_current_rows(model, "spectrum_pk", column) & column.in_(keys))
                present &= {row[0] for row in query.tuples()}
        return None, present, chosen

    def describe(self):
        """Text naming the query, for messages."""
        where = getattr(self.query, "_where", None)
        text = f" where {_text(where)}" if where is not None else ""
        return f"the default query of {self.model.__name__}{text}"

    def __repr__(self):
        return f"SpectraQuery({self.model.__name__}, upstreams={[m.__name__ for m in self.upstream_models]})"


def _text(node):
    """Readable text of a peewee condition (``classification == 'hot'``), for messages."""
    if isinstance(node, peewee.Field):
        return node.name
    if isinstance(node, peewee.Value):
        return repr(node.value)
    if isinstance(node, peewee.Expression):
        op = {"=": "==", "AND": "and", "OR": "or"}.get(str(node.op), str(node.op).lower())
        text = f"{_text(node.lhs)} {op} {_text(node.rhs)}"
        return f"({text})" if op in ("and", "or") else text
    if isinstance(node, peewee.Node):
        return type(node).__name__
    return repr(node)


class UpstreamResults(collections.abc.Mapping):
    """The upstream rows of a run's spectra: ``results[spectrum]`` or ``results[spectrum_pk]``.

    :param model: the upstream's results model.
    :param rows: ``{spectrum_pk: row}``.
    """

    def __init__(self, model, rows):
        self.model = model
        self._rows = rows

    def __getitem__(self, key):
        pk = getattr(key, "spectrum_pk", key)
        try:
            return self._rows[pk]
        except KeyError:
            raise KeyError(f"no {self.model.__name__} result for spectrum_pk {pk} in this run") from None

    def __iter__(self):
        return iter(self._rows)

    def __len__(self):
        return len(self._rows)

    def __repr__(self):
        return f"<UpstreamResults {self.model.__name__}: {len(self)} rows>"


def upstreams_of(function, parameters, hints):
    """The upstream parameters of ``function``: those annotated with a results model.

    :param function: the author's function (for messages).
    :param parameters: ``inspect.Parameter`` by name (the spectra argument left out).
    :param hints: the resolved type hints.
    :returns: ``{name: Upstream}`` in signature order.
    """
    import inspect
    import typing

    from astra.models.pipeline import PipelineOutputMixin

    found = {}
    for name, parameter in parameters.items():
        hint = hints.get(name)
        if typing.get_origin(hint) is typing.Union or type(hint).__name__ == "UnionType":
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            hint = args[0] if len(args) == 1 else None
        if not (isinstance(hint, type) and issubclass(hint, PipelineOutputMixin)):
            continue
        default = None if parameter.default is inspect.Parameter.empty else parameter.default
        try:
            found[name] = Upstream(name, hint, default)
        except UpstreamError as error:
            raise UpstreamError(f"{function.__qualname__}: {error}") from None
    return found


def require_database(conditions):
    """Check that upstream results can be read: they are in the results database.

    :param conditions: :class:`Upstream` and :class:`SpectraQuery` objects.
    :raises UpstreamError: when the ``results_output`` setting is ``files`` and a condition reads
        results.
    """
    from astra.tasks.function_output import results_output

    models = [m for c in conditions for m in c.models]
    if models and results_output() == "files":
        names = ", ".join(m.__name__ for m in models)
        raise UpstreamError(
            f"a downstream method reads its upstream results ({names}) from the results database, "
            "but the results_output setting is 'files'; set it to 'database'"
        )


def select_with_upstreams(spectra, conditions, db=None):
    """The spectra whose upstream results meet the conditions, with those results.

    One query per condition per chunk of spectra (``spectrum_pk IN (...)``).

    :param spectra: catalogue spectra (rows with ``spectrum_pk``).
    :param conditions: :class:`Upstream` and :class:`SpectraQuery` objects.
    :param db: the database (default: the bound one).
    :raises UpstreamError: when results go to files.
    :returns: ``(selected, results, missing)``: the selected spectra in their order; ``{name:
        UpstreamResults}`` of each :class:`Upstream`; ``{spectrum_pk: [model names]}`` of the
        spectra lacking an upstream result altogether (a spectrum whose upstream result does not
        meet a condition is only left out).
    """
    conditions = list(conditions)
    spectra = spectra if isinstance(spectra, list) else list(spectra)
    if not conditions:
        return spectra, {}, {}
    require_database(conditions)
    db = db if db is not None else get_database()
    unique = list({s.spectrum_pk: s for s in spectra}.values())
    chunk = 900 if is_sqlite(db) else 50000
    rows = {c.name: {} for c in conditions if c.name}
    present = [set() for _ in conditions]
    chosen = [set() for _ in conditions]
    for i, condition in enumerate(conditions):
        for model in condition.models:
            ensure_table(model, db=db)
        for start in range(0, len(unique), chunk):
            found, have, meet = condition.lookup(unique[start : start + chunk], db)
            if condition.name:
                rows[condition.name].update(found)
            present[i] |= have
            chosen[i] |= meet
    missing = {}
    selected = []
    for spectrum in spectra:
        pk = spectrum.spectrum_pk
        lacking = [c for i, c in enumerate(conditions) if pk not in present[i]]
        if lacking:
            missing[pk] = [
                m.__name__ + (" (of its source)" if getattr(c, "by", None) == "source_pk" else "")
                for c in lacking
                for m in c.models
            ]
        elif all(pk in chosen[i] for i in range(len(conditions))):
            selected.append(spectrum)
    keep = {s.spectrum_pk for s in selected}
    results = {
        c.name: UpstreamResults(c.model, {pk: row for pk, row in rows[c.name].items() if pk in keep})
        for c in conditions
        if c.name
    }
    left_out = len(spectra) - len(selected)
    if left_out:
        logger.info(
            "%d of %d spectra left out (%d without an upstream result): the method needs %s",
            left_out, len(spectra), len(missing), "; ".join(c.describe() for c in conditions),
        )
    return selected, results, missing


def decided_against(spectrum_model, conditions, spectrum_pks, db=None):
    """Which of ``spectrum_pks`` have every upstream result, but not the ones the method needs.

    Such a spectrum has nothing to do for the downstream method (it is complete).

    :param spectrum_model: the catalogue model.
    :param conditions: :class:`Upstream` and :class:`SpectraQuery` objects.
    :param spectrum_pks: catalogue keys.
    :param db: the database (default: the bound one).
    :returns: a set of keys.
    """
    conditions = list(conditions)
    keys = list(dict.fromkeys(spectrum_pks))
    if not conditions or not keys:
        return set()
    require_database(conditions)
    db = db if db is not None else get_database()
    pk = spectrum_model.spectrum_pk
    models = [spectrum_model]
    for condition in conditions:
        for model in condition.models:
            ensure_table(model, db=db)
            models.append(model)
    decided = _all(d for d in (c.decided(spectrum_model) for c in conditions) if d is not None)
    against = ~_all(c.selects(spectrum_model) for c in conditions)
    where = against if decided is None else decided & against
    out = set()
    chunk = 900 if is_sqlite(db) else 50000
    with db.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        for start in range(0, len(keys), chunk):
            query = spectrum_model.select(pk).where(pk.in_(keys[start : start + chunk]) & where).tuples()
            out.update(row[0] for row in query)
    return out


def register_writer(task_function):
    """Note that ``task_function`` writes its results model (see :func:`writer_of`).

    :param task_function: a :class:`~astra.tasks.function.TaskFunction`.
    """
    writers = _WRITERS.setdefault(task_function.output_model, {})
    writers[(task_function.function.__module__, task_function.name)] = task_function


def writer_of(model):
    """The one ``@task`` method imported so far that writes ``model``, or ``None``.

    :param model: a results model.
    :returns: a :class:`~astra.tasks.function.TaskFunction`, or ``None`` when none or several do.
    """
    writers = list(_WRITERS.get(model, {}).values())
    return writers[0] if len(writers) == 1 else None
