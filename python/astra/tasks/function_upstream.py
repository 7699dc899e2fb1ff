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
read the same catalogue spectra.

A downstream result is out of date when an upstream result of its spectrum was written after
it (the upstream row's ``modified`` is later than the downstream row's): the "what needs work"
query (:func:`astra.tasks.function_query.pending_spectra`) then picks that spectrum again, and
that spectrum only. Upstream results are read from the results database, so a downstream
method needs ``results_output: database``.
"""

import collections.abc
import logging

import peewee

from astra.database.connection import get_database, is_sqlite
from astra.database.migrations import ensure_table
from astra.models.pipeline import major_minor

__all__ = [
    "Upstream", "UpstreamResults", "UpstreamError", "upstreams_of", "select_with_upstreams", "decided_against",
    "require_database", "register_writer", "writer_of",
]

logger = logging.getLogger("astra")

#: The ``@task`` methods by the results model they write (for a downstream's Luigi ``requires``).
_WRITERS = {}


class UpstreamError(TypeError):
    """An upstream parameter that cannot be used (a bad condition, or results written to files)."""


class Upstream:
    """One upstream of a method: its results model, and the condition its results must meet.

    :param name: the method's parameter that receives the upstream results.
    :param model: the upstream's results model (a ``PipelineOutputMixin`` subclass).
    :param where: a peewee expression on ``model``'s columns, or ``None`` for every result.
    """

    def __init__(self, name, model, where=None):
        if where is not None and not isinstance(where, peewee.Node):
            raise UpstreamError(
                f"upstream parameter {name!r}: its default must be a condition on {model.__name__}'s columns "
                f"(e.g. {model.__name__}.classification == 'hot') or nothing, not {where!r}"
            )
        self.name = name
        self.model = model
        self.where = where

    def rows(self, spectrum_pk):
        """The condition "a current upstream row of ``spectrum_pk`` (a column or a key)"."""
        model = self.model
        return (model.spectrum_pk == spectrum_pk) & (model.v_astra_major_minor == major_minor())

    def selects(self, spectrum_pk):
        """``EXISTS`` (a current upstream row of ``spectrum_pk`` that meets the condition)."""
        condition = self.rows(spectrum_pk)
        if self.where is not None:
            condition &= self.where
        return peewee.fn.EXISTS(self.model.select(peewee.SQL("1")).where(condition))

    def changed_after(self, spectrum_pk, output_model):
        """``EXISTS`` (a current upstream row of ``spectrum_pk`` written after the output row)."""
        condition = self.rows(spectrum_pk) & (self.model.modified > output_model.modified)
        return peewee.fn.EXISTS(self.model.select(peewee.SQL("1")).where(condition))

    def describe(self):
        """Text naming the upstream and its condition, for messages."""
        if self.where is None:
            return f"a {self.model.__name__} result"
        return f"a {self.model.__name__} result with {_text(self.where)}"

    def __repr__(self):
        return f"Upstream({self.name!r}, {self.model.__name__}, where={self.where!r})"


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


def require_database(upstreams):
    """Check that upstream results can be read: they are in the results database.

    :param upstreams: :class:`Upstream` objects (none: nothing to check).
    :raises UpstreamError: when the ``results_output`` setting is ``files``.
    """
    from astra.tasks.function_output import results_output

    if upstreams and results_output() == "files":
        names = ", ".join(u.model.__name__ for u in upstreams)
        raise UpstreamError(
            f"a downstream method reads its upstream results ({names}) from the results database, "
            "but the results_output setting is 'files'; set it to 'database'"
        )


def select_with_upstreams(spectra, upstreams, db=None):
    """The spectra whose upstream results meet the conditions, with those results.

    One query per upstream per chunk of spectra (``spectrum_pk IN (...)``).

    :param spectra: catalogue spectra (rows with ``spectrum_pk``).
    :param upstreams: :class:`Upstream` objects.
    :param db: the database (default: the bound one).
    :raises UpstreamError: when results go to files.
    :returns: ``(selected, results, missing)``: the selected spectra in their order; ``{name:
        UpstreamResults}``; ``{spectrum_pk: [upstream names]}`` of spectra lacking an upstream
        result altogether (a spectrum whose result does not meet a condition is only left out).
    """
    upstreams = list(upstreams)
    spectra = spectra if isinstance(spectra, list) else list(spectra)
    if not upstreams:
        return spectra, {}, {}
    require_database(upstreams)
    db = db if db is not None else get_database()
    keys = list(dict.fromkeys(s.spectrum_pk for s in spectra))
    chunk = 900 if is_sqlite(db) else 50000
    rows = {u.name: {} for u in upstreams}
    meets = {u.name: set() for u in upstreams}
    for upstream in upstreams:
        ensure_table(upstream.model, db=db)
        model = upstream.model
        passes = upstream.where if upstream.where is not None else peewee.SQL("1 = 1")
        flag = peewee.Case(None, [(passes, 1)], 0).alias("_astra_meets")
        with db.bind_ctx([model], bind_refs=False, bind_backrefs=False):
            for start in range(0, len(keys), chunk):
                part = keys[start : start + chunk]
                query = model.select(model, flag).where(upstream.rows(model.spectrum_pk) & model.spectrum_pk.in_(part))
                for row in query:
                    rows[upstream.name][row.spectrum_pk] = row
                    if row._astra_meets:
                        meets[upstream.name].add(row.spectrum_pk)
    missing = {}
    selected = []
    for spectrum in spectra:
        pk = spectrum.spectrum_pk
        lacking = [u.name for u in upstreams if pk not in rows[u.name]]
        if lacking:
            missing[pk] = lacking
        elif all(pk in meets[u.name] for u in upstreams):
            selected.append(spectrum)
    chosen = {s.spectrum_pk for s in selected}
    results = {
        u.name: UpstreamResults(u.model, {pk: row for pk, row in rows[u.name].items() if pk in chosen})
        for u in upstreams
    }
    left_out = len(spectra) - len(selected)
    if left_out:
        logger.info(
            "%d of %d spectra left out: %s", left_out, len(spectra),
            "; ".join(f"{u.name} needs {u.describe()}" for u in upstreams),
        )
    return selected, results, missing


def decided_against(spectrum_model, upstreams, spectrum_pks, db=None):
    """Which of ``spectrum_pks`` have every upstream result, but one that fails its condition.

    Such a spectrum has nothing to do for the downstream method (it is complete).

    :param spectrum_model: the catalogue model.
    :param upstreams: :class:`Upstream` objects.
    :param spectrum_pks: catalogue keys.
    :param db: the database (default: the bound one).
    :returns: a set of keys.
    """
    upstreams = list(upstreams)
    keys = list(dict.fromkeys(spectrum_pks))
    if not upstreams or not keys:
        return set()
    require_database(upstreams)
    db = db if db is not None else get_database()
    pk = spectrum_model.spectrum_pk
    have_all = None
    meet_all = None
    for upstream in upstreams:
        ensure_table(upstream.model, db=db)
        has = peewee.fn.EXISTS(upstream.model.select(peewee.SQL("1")).where(upstream.rows(pk)))
        have_all = has if have_all is None else have_all & has
        meets = upstream.selects(pk)
        meet_all = meets if meet_all is None else meet_all & meets
    out = set()
    chunk = 900 if is_sqlite(db) else 50000
    models = [spectrum_model] + [u.model for u in upstreams]
    with db.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        for start in range(0, len(keys), chunk):
            query = (
                spectrum_model.select(pk)
                .where(pk.in_(keys[start : start + chunk]) & have_all & ~meet_all)
                .tuples()
            )
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
