"""``@task``: a method written as a generator over catalogue spectra, yielding result rows.

::

    from typing import Iterable

    from astra import task
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar

    @task
    def snr(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], min_good_pixels: int = 100, **kwargs) -> Iterable[SNRResult]:
        for spectrum in spectra:
            yield SNRResult.from_spectrum(spectrum, snr=...)

The type hints say which catalogue tables the method reads (``Iterable[A]`` or
``Iterable[Union[A, B]]``) and which results model it writes (``-> Iterable[Result]``, a
:class:`~astra.models.pipeline.PipelineOutputMixin` model). The decorated name is a
:class:`TaskFunction`:

* called from Python (``snr(spectra, min_good_pixels=50)``) it returns a generator of the
  results, written as they come (see :meth:`TaskFunction.__call__`);
* ``snr.task_class`` is a Luigi task (a :class:`~astra.tasks.function_luigi.FunctionTask`
  registered under the function's name), so ``luigi --module mymethods snr --spectrum-pk 7``,
  luigid, ``astra.build`` and ``astra run snr ApogeeCoaddedSpectrumInApStar`` run it.

A method may take another method's results as input (a parameter annotated with the upstream's
results model, or a default query of the spectra argument joined with it): see
:mod:`astra.tasks.function_upstream`.
"""

import collections.abc
import functools
import inspect
import logging
import typing

from astra import parameters
from astra.provenance.record import MethodProvenance
from astra.retry import policy_of
from astra.tasks.function_run import TaskFunctionError, execute

__all__ = ["task", "TaskFunction", "TaskFunctionError", "RESERVED_NAMES"]

#: Keyword arguments of a call that belong to Astra, not to the method.
CALL_OPTIONS = ("write_to_database", "batch_size", "write_frequency", "re_raise_exceptions", "tag")
#: Names a method's own parameters may not have (the call options and the Luigi task's own).
RESERVED_NAMES = CALL_OPTIONS + ("spectrum_model", "spectrum_pk", "retry_failed", "skip_failed", "timeout",
                                 "rerun_if_code_changed", "force_since")

logger = logging.getLogger("astra")

_ITERABLES = (
    collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator,
    collections.abc.Sequence, list, tuple,
)


def _models_in(hint, what, function):
    """The model classes named by ``hint`` (``Iterable[A]``, ``Iterable[Union[A, B]]``, ``A``)."""
    if hint is None:
        raise TaskFunctionError(f"{function.__qualname__}: annotate {what}, e.g. Iterable[ApogeeVisitSpectrum]")
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":  # Optional[Iterable[A]]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and typing.get_origin(args[0]) in _ITERABLES:
            hint = args[0]
            origin = typing.get_origin(hint)
    if origin in _ITERABLES:
        args = typing.get_args(hint)
        hint = args[0] if args else None
        origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        members = [a for a in typing.get_args(hint) if a is not type(None)]
    else:
        members = [hint]
    if not members or not all(isinstance(m, type) for m in members):
        raise TaskFunctionError(f"{function.__qualname__}: {what} must name model classes, not {hint!r}")
    return tuple(members)


def _luigi_parameter(name, parameter, hint, function):
    default = parameter.default
    if typing.get_origin(hint) is typing.Union or type(hint).__name__ == "UnionType":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    if hint is None and default is not inspect.Parameter.empty and default is not None:
        hint = type(default)
    kinds = {
        bool: parameters.BoolParameter, int: parameters.IntParameter, float: parameters.FloatParameter,
        str: parameters.Parameter, dict: parameters.DictParameter, list: parameters.ListParameter,
        tuple: parameters.TupleParameter,
    }
    kind = kinds.get(typing.get_origin(hint) or hint, parameters.Parameter)
    description = f"{function.__name__}() argument {name}"
    if default is inspect.Parameter.empty:
        return kind(description=description)
    return kind(default=default, description=description)


class TaskFunction:
    """A ``@task`` method: callable from Python, and a Luigi task (:attr:`task_class`).

    :param function: the author's generator function.
    :param timeout: seconds one spectrum may run when it runs as a Luigi task (``astra run``,
        luigid, ``astra srun``); 0 or ``None``: no limit (see :mod:`astra.core.timeout`).
    """

    def __init__(self, function, timeout=None):
        if not inspect.isgeneratorfunction(function):
            raise TaskFunctionError(
                f"@task needs a generator function (one that yields results); {function.__qualname__} is not"
            )
        functools.update_wrapper(self, function)
        self.function = function
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
            raise TaskFunctionError(f"@task(timeout=...) of {function.__qualname__}: give seconds (a number >= 0), "
                                    f"not {timeout!r}")
        #: Seconds one spectrum may run as a Luigi task (0: no limit).
        self.timeout = float(timeout or 0)
        signature = inspect.signature(function)
        try:
            hints = typing.get_type_hints(function)
        except Exception as error:
            raise TaskFunctionError(f"{function.__qualname__}: cannot resolve its type hints: {error}") from None
        names = list(signature.parameters)
        if not names or signature.parameters[names[0]].kind not in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
        ):
            raise TaskFunctionError(f"{function.__qualname__}: the first argument is the spectra")
        self.spectra_argument = names[0]
        #: The catalogue models the method reads.
        self.input_models = _models_in(hints.get(names[0]), f"its first argument ({names[0]})", function)
        import peewee

        from astra.models.pipeline import PipelineOutputMixin

        outputs = _models_in(hints.get("return"), "its return type, e.g. -> Iterable[MyResult]", function)
        if len(outputs) != 1 or not issubclass(outputs[0], PipelineOutputMixin):
            raise TaskFunctionError(
                f"{function.__qualname__}: the return type names one results model "
                f"(a PipelineOutputMixin subclass), not {outputs!r}"
            )
        #: The results model the method writes.
        self.output_model = outputs[0]
        from astra.tasks.function_upstream import SpectraQuery, register_writer, upstreams_of

        default = signature.parameters[names[0]].default
        #: The default of the spectra argument, a query (SDSS Astra's way to filter by upstream
        #: results), as a :class:`~astra.tasks.function_upstream.SpectraQuery`; or ``None``.
        self.spectra_query = None
        if isinstance(default, peewee.ModelSelect):
            self.spectra_query = SpectraQuery(function, default, self.output_model)
            model = self.spectra_query.model
            if model not in self.input_models:
                if not any(issubclass(model, m) for m in self.input_models):
                    raise TaskFunctionError(
                        f"{function.__qualname__}: the default query of {names[0]} selects {model.__name__}, "
                        f"which its annotation does not name"
                    )
                self.input_models = (model,) + self.input_models
        elif default is not inspect.Parameter.empty and default is not None:
            raise TaskFunctionError(
                f"{function.__qualname__}: the default of {names[0]} must be a query of catalogue spectra, not {default!r}"
            )

        own = {
            name: signature.parameters[name]
            for name in names[1:]
            if signature.parameters[name].kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        }
        for name in own:
            if name in RESERVED_NAMES:
                raise TaskFunctionError(f"{function.__qualname__}: {name!r} is reserved by Astra; rename the argument")
        #: The upstream methods' results it takes (see :mod:`astra.tasks.function_upstream`):
        #: name -> :class:`~astra.tasks.function_upstream.Upstream`.
        self.upstreams = upstreams_of(function, own, hints)
        for upstream in self.upstreams.values():
            if upstream.model is self.output_model:
                raise TaskFunctionError(f"{function.__qualname__}: {upstream.name!r} names the method's own results model")
        #: The method's own parameters: name -> (inspect.Parameter, type hint).
        self.parameters = {name: (p, hints.get(name)) for name, p in own.items() if name not in self.upstreams}
        self._task_class = None
        register_writer(self)

    @property
    def name(self):
        """The method's name (the function's), also the Luigi task family."""
        return self.function.__name__

    @property
    def task_class(self):
        """The Luigi task that runs this method over catalogue spectra (built once)."""
        if self._task_class is None:
            from astra.tasks.function_luigi import make_task_class

            params = {
                name: _luigi_parameter(name, parameter, hint, self.function)
                for name, (parameter, hint) in self.parameters.items()
            }
            self._task_class = make_task_class(self, params)
        return self._task_class

    def input_model(self, name=None):
        """The catalogue model named ``name`` (default: the first the method reads).

        :param name: a class name such as ``"ApogeeVisitSpectrum"``.
        :raises ValueError: if the method does not read that model.
        """
        if name is None:
            return self.input_models[0]
        for model in self.input_models:
            if model.__name__.lower() == str(name).lower():
                return model
        known = ", ".join(m.__name__ for m in self.input_models)
        raise ValueError(f"{self.name} reads {known}, not {name!r}")

    def __call__(
        self,
        spectra=None,
        *args,
        write_to_database=True,
        batch_size=1000,
        write_frequency=None,
        re_raise_exceptions=False,
        tag=None,
        **kwargs,
    ):
        """Run the method over ``spectra``; a generator of its results as they are written.

        :param spectra: catalogue spectra (a peewee query, a list, ...); by default those that
            still need the method (:func:`~astra.tasks.function_query.pending_spectra` of its
            default query's model, or of the first model it reads). Given spectra replace the
            default query of the spectra argument; upstream parameters still choose among them.
        :param args: the method's other arguments, by position.
        :param write_to_database: write the results where the configuration says
            (``results_output``: the results database, or files); false writes nothing.
        :param batch_size: results per database write.
        :param write_frequency: most seconds between database writes (default: the
            ``database_flush_interval`` setting, 2, as for every run).
        :param re_raise_exceptions: stop at the first spectrum that raises (after writing its
            flagged row) instead of flagging it and going on.
        :param tag: a label stored in every result's ``tag``.
        :param kwargs: the method's keyword arguments.
        :returns: a generator of results (with ``t_elapsed``, ``t_overhead``; from the database,
            ``task_pk`` and ``created`` too).
        """
        params = self.bind(args, kwargs)
        conditions = self.conditions(None, params)
        if spectra is None:
            from astra.tasks.function_query import Currency, pending_spectra

            spectra = pending_spectra(self.input_models[0], self, currency=Currency(self, params))
        if conditions:
            from astra.tasks.function_upstream import select_with_upstreams

            spectra, results, missing = select_with_upstreams(spectra, conditions)
            if missing:
                logger.warning(
                    "%s: %d spectra left out for lack of an upstream result (%s); run the upstream first",
                    self.name, len(missing), ", ".join(sorted({n for names in missing.values() for n in names})),
                )
            params.update(results)
        sink = self.sink(write_to_database, batch_size=batch_size, write_frequency=write_frequency, tag=tag, params=params)
        return execute(self.function, spectra, params, self.output_model, sink, re_raise_exceptions=re_raise_exceptions,
                       policy=policy_of(self))

    def conditions(self, spectrum_model, params=None):
        """What chooses the spectra this method runs on (see :mod:`astra.tasks.function_upstream`).

        :param spectrum_model: the catalogue model read; the default query of the spectra
            argument applies to its own model only (``None``: not at all, as when spectra are
            given to a call).
        :param params: a call's arguments: an upstream parameter given there (a peewee
            expression on its model, or ``None`` for any result) replaces that upstream's
            condition, and is taken out of ``params``.
        :returns: a list of :class:`~astra.tasks.function_upstream.Upstream` (and
            :class:`~astra.tasks.function_upstream.SpectraQuery`) objects.
        """
        from astra.tasks.function_upstream import BySource, Upstream

        out = []
        for name, upstream in self.upstreams.items():
            if params is not None and name in params:
                given = params.pop(name)
                if upstream.by == "source_pk" and not isinstance(given, BySource):
                    given = BySource(given)  # another condition, read the same way
                upstream = Upstream(name, upstream.model, given)
            out.append(upstream)
        query = self.spectra_query
        if query is not None and spectrum_model is not None and query.model is spectrum_model:
            out.append(query)
        return out

    def bind(self, args, kwargs):
        """The method's keyword arguments from a call's ``args`` and ``kwargs``.

        :raises TypeError: as calling the function itself would, naming the method.
        """
        signature = inspect.signature(self.function)
        try:
            bound = signature.bind_partial(None, *args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None
        missing = [n for n, (p, _) in self.parameters.items() if p.default is p.empty and n not in bound.arguments]
        if missing:
            raise TypeError(f"{self.name}(): missing a required argument: {missing[0]!r}")
        params = {}
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if name == self.spectra_argument:
                continue
            if kind is inspect.Parameter.VAR_KEYWORD:
                params.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise TypeError(f"{self.name}(): give the method's arguments by name")
            else:
                params[name] = value
        return params

    def sink(self, write=True, batch_size=1000, write_frequency=None, tag=None, params=None):
        """Where results go: the database, files, or nowhere (see :mod:`astra.tasks.function_output`).

        :param write: false writes nothing.
        :param params: the method's arguments (they name the files in files mode).
        """
        from astra.tasks import function_output

        if not write:
            return function_output.MemorySink()
        provenance = self.provenance(params)
        if function_output.results_output() == "files":
            task_class = self.task_class
            path_of = functools.partial(task_class.result_path_for, self.own_params(params))
            return function_output.FileSink(self.output_model, path_of, tag=tag, provenance=provenance)
        from astra.database.writer import flush_interval

        return function_output.DatabaseSink(self.output_model, batch_size, flush_interval(write_frequency), tag=tag,
                                            provenance=provenance)

    @property
    def dotted_name(self):
        """``module.function``: the method's name in provenance records."""
        return f"{self.function.__module__}.{self.name}"

    def own_params(self, params=None):
        """The method's own arguments: every parameter, defaults filled in, upstream results left out.

        :param params: the arguments given (``None``: all defaults).
        """
        given = params or {}
        out = {}
        for name, (parameter, _) in self.parameters.items():
            if name in given:
                out[name] = given[name]
            elif parameter.default is not parameter.empty:
                out[name] = parameter.default
        return out

    def provenance(self, params=None):
        """The :class:`~astra.provenance.record.MethodProvenance` of a run with ``params``."""
        return MethodProvenance(self.dotted_name, self.function.__module__, self.own_params(params), kind="task")

    def __repr__(self):
        inputs = " | ".join(m.__name__ for m in self.input_models + tuple(u.model for u in self.upstreams.values()))
        return f"<astra task {self.__module__}.{self.name}: {inputs} -> {self.output_model.__name__}>"


def task(function=None, *, timeout=None):
    """Make a generator function over catalogue spectra an Astra method (see :mod:`astra.tasks.function`).

    ``@task`` or ``@task(timeout=60)``.

    :param function: the generator function.
    :param timeout: seconds one spectrum may run (``astra run --timeout`` overrides it; see
        :mod:`astra.core.timeout`).
    :returns: a :class:`TaskFunction`; its Luigi task is registered at once under the
        function's name, so ``luigi --module <module> <name>`` finds it.
    """
    if function is None:
        return functools.partial(task, timeout=timeout)
    wrapped = TaskFunction(function, timeout=timeout)
    wrapped.task_class  # registers the Luigi task now
    return wrapped
