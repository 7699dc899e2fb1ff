"""How an Astra task class turns constructor arguments into parameter values, quickly.

Luigi resolves every parameter of every new task through its command-line parser, its
configuration files and the default, finds the class's parameters with ``dir()`` each time,
and does all of it twice (once for its instance cache, once more in ``Task.__init__``): about
200 µs for a task of a dozen parameters, minutes for the million tasks a survey script builds.

A :class:`ParameterPlan` is worked out once per task class: its parameters in declaration
order, which of them are positional (the author's, never Astra's hidden ones), each default
already normalised, and for each parameter the type whose values need no normalising. Building
a task then costs a dictionary copy and one type check per keyword given. Luigi's behaviour is
kept where it can differ:

* a parameter's value comes from the command line or a configuration file (``luigi.cfg``,
  ``luigi.toml``) whenever these mention the task's section: the plan asks Luigi itself for
  every parameter not given in that case, exactly as Luigi would;
* the instance cache: the same class with the same normalised values is the same object;
* a plan notices parameters added to, replaced on or removed from a class after it was made
  (``@astra.inherits`` does that), through :class:`TaskRegister`.

Every error names the task and the parameter; an unknown keyword says which task classes have
that parameter and how to inherit it.
"""


import luigi
from luigi.parameter import (
    DuplicateParameterException,
    MissingParameterException,
    ParameterVisibility,
    UnknownParameterException,
)

from astra.luigi_glue.parameters import NO_VALUE, config_path, declared_default, is_batchable
from astra.luigi_glue.registry import (
    Register,
    command_line_active,
    configuration_parsers,
    instance_cache,
    registered_classes,
)

from astra.parameters import ParameterTypeError, CanonicalMixin, plain_check, plain_type, serialises_text_as_itself
from astra.suggest import closest

__all__ = ["ParameterPlan", "TaskRegister", "plan_for", "classes_with_parameter"]

#: Bumped whenever a parameter is set on or removed from an Astra task class; plans made
#: before then are rebuilt on their next use.
_generation = 0

_MISSING = object()


class _NoPlainType:
    """Stands for "always normalise": no value's type is this class."""


class TaskRegister(Register):
    """Luigi's task metaclass with a fast ``__call__`` (see :class:`ParameterPlan`).

    It also keeps the plans honest: setting or deleting a parameter on a class invalidates them.
    """

    def __call__(cls, *args, **kwargs):
        plan = plan_for(cls)
        if plan.direct:
            values = plan.resolve(args, kwargs)
        else:  # the class post-processes values in get_param_values (e.g. data-model keys)
            values = dict(cls.get_param_values(plan.params, args, kwargs))
        return plan.instance(values, args, kwargs)

    def __setattr__(cls, name, value):
        if isinstance(value, luigi.Parameter) or isinstance(cls.__dict__.get(name), luigi.Parameter):
            _invalidate()
        super().__setattr__(name, value)

    def __delattr__(cls, name):
        if isinstance(cls.__dict__.get(name), luigi.Parameter):
            _invalidate()
        super().__delattr__(name)


def _invalidate():
    global _generation
    _generation += 1


def plan_for(cls):
    """The current :class:`ParameterPlan` of a task class (made on first use).

    :param cls: a task class whose metaclass is :class:`TaskRegister`.
    """
    plan = cls.__dict__.get("_astra_plan")
    if plan is None or plan.generation != _generation:
        plan = ParameterPlan(cls)
        type.__setattr__(cls, "_astra_plan", plan)
    return plan


def _root_class(cls):
    """The first class of ``cls``'s ancestry made by :class:`TaskRegister` (Astra's ``BaseTask``).

    Found from the class itself, so this module needs no import of :mod:`astra.tasks.base`
    (which imports this one).
    """
    return next(klass for klass in reversed(cls.__mro__) if isinstance(klass, TaskRegister))


class ParameterPlan:
    """What building a task of one class needs, worked out once.

    :param cls: the task class.
    """

    def __init__(self, cls):
        self.generation = _generation
        self.cls = cls
        self.family = family = cls.get_task_family()
        self.params = params = luigi.Task.get_params.__func__(cls)
        self.by_name = dict(params)
        self.names = [n for n, _ in params]
        self.count = len(params)
        self.positional = [
            n for n, p in params if p.positional and p.visibility == ParameterVisibility.PUBLIC
        ]
        self.plain = {n: plain_type(p) or _NoPlainType for n, p in params}
        # Checks a value of the plain type still gets (data-model keys refuse unsafe text).
        self.checks = {n: check for n, p in params if (check := plain_check(p)) is not None}
        self.start = {}
        self.required = []
        self.always_ask_luigi = False
        self.sections = {family}
        for name, param in params:
            alias = config_path(param)
            if alias:  # Luigi's deprecated [section] option alias
                self.always_ask_luigi = True
                self.sections.add(alias["section"])
            if declared_default(param) is NO_VALUE:
                self.start[name] = _MISSING
                self.required.append(name)
            else:
                self.start[name] = self.normalise(name, declared_default(param), source="default")
        self.batch_names = [n for n, p in params if is_batchable(p)]
        # Plain Luigi parameters are not normalised into their type; Luigi warns about those.
        self.warn_names = [n for n, p in params if not isinstance(p, CanonicalMixin)]
        self.identity = [
            (n, p.serialize, serialises_text_as_itself(p))
            for n, p in params
            if p.significant and p.visibility != ParameterVisibility.PRIVATE
        ]
        self.group_names = [
            n for n, p in params if p.significant and p.visibility != ParameterVisibility.PRIVATE and not is_batchable(p)
        ]
        root = _root_class(cls)
        base_get_param_values = root.__dict__["get_param_values"].__func__
        self.direct = cls.get_param_values.__func__ is base_get_param_values
        self.own_init = cls.__init__ is root.__init__

    # ------------------------------------------------------------------ values

    def normalise(self, name, value, source=None):
        """``value`` in the canonical form of parameter ``name``, or an error naming both.

        :param name: the parameter's name.
        :param value: what was given.
        :param source: where it came from, for the message (e.g. ``"default"``).
        """
        param = self.by_name[name]
        try:
            value = param.normalize(value)
        except (ParameterTypeError, TypeError, ValueError) as error:
            where = f" ({source})" if source else ""
            raise ParameterTypeError(f"{self.family}: parameter '{name}'{where}: {error}") from None
        if isinstance(value, (list, set)):  # as Luigi does: values must be hashable
            value = tuple(value)
        return value

    def check(self, name, value):
        """Run parameter ``name``'s :func:`~astra.parameters.plain_check` on ``value``."""
        try:
            self.checks[name](value)
        except (ParameterTypeError, TypeError, ValueError) as error:
            raise ParameterTypeError(f"{self.family}: parameter '{name}': {error}") from None

    def resolve(self, args, kwargs):
        """The normalised value of every parameter, in declaration order.

        :param args: positional arguments (the author's parameters in declaration order).
        :param kwargs: keyword arguments.
        :returns: a new dict of parameter name to value.
        """
        values = self.start.copy()
        if args:
            self._positional(values, args, kwargs)
        plain = self.plain
        for name, value in kwargs.items():
            try:
                kind = plain[name]
            except KeyError:
                raise self.unknown(name) from None
            if type(value) is not kind or (kind is str and not value):
                value = self.normalise(name, value)
            elif name in self.checks:
                self.check(name, value)
            values[name] = value
        if len(kwargs) + len(args) < self.count and self._luigi_has_values():
            self._ask_luigi(values, args, kwargs)
        if self.required:
            for name in self.required:
                if values[name] is _MISSING:
                    raise MissingParameterException(f"{self.family}: requires the '{name}' parameter to be set")
        return values

    def _positional(self, values, args, kwargs):
        names = self.positional
        if len(args) > len(names):
            takes = f" ({', '.join(names)})" if names else ""
            raise UnknownParameterException(
                f"{self.family}: takes at most {len(names)} positional argument(s){takes}, {len(args)} given"
            )
        for name, value in zip(names, args):
            if name in kwargs:
                raise DuplicateParameterException(
                    f"{self.family}: parameter '{name}' was given both as a positional argument and as a keyword"
                )
            values[name] = self.normalise(name, value)

    def _luigi_has_values(self):
        """Whether the command line or a configuration file may set a parameter of this class."""
        if self.always_ask_luigi or command_line_active():
            return True
        cfg, toml = configuration_parsers()
        for section in self.sections:
            if cfg is not None and cfg.has_section(section):
                return True
            if toml is not None and section in toml.data:
                return True
        return False

    def _ask_luigi(self, values, args, kwargs):
        """Luigi's own resolution (command line, configuration, default) of the parameters not given."""
        given = set(kwargs) | set(self.positional[: len(args)])
        family = self.family
        for name, param in self.params:
            if name in given:
                continue
            try:
                has_value = param.has_task_value(family, name)
            except ParameterTypeError:
                raise
            except Exception as error:
                raise ParameterTypeError(f"{family}: parameter '{name}': cannot read its configured value: {error}") from None
            if not has_value:
                values[name] = _MISSING
                continue
            try:
                value = param.task_value(family, name)
            except ParameterTypeError:
                raise  # Astra's parameters name the task and the parameter already
            except (TypeError, ValueError) as error:
                raise ParameterTypeError(f"{family}: parameter '{name}': {error}") from None
            if isinstance(value, (list, set)):
                value = tuple(value)
            values[name] = value
        self._warn_unconsumed(values)

    def _warn_unconsumed(self, values):
        # Luigi warns once per option about configured options that no parameter consumes.
        import warnings

        from luigi.parameter import UnconsumedParameterWarning

        cfg, toml = configuration_parsers()
        conf = luigi.configuration.get_config()
        if conf not in (cfg, toml) or not conf.has_section(self.family):
            return
        seen = self.cls.__dict__.get("_unconsumed_params")
        if seen is None:
            seen = set()
            type.__setattr__(self.cls, "_unconsumed_params", seen)
        ignore = getattr(self.cls, "ignore_unconsumed", set())
        for key, value in conf[self.family].items():
            key = key.replace("-", "_")
            composite = f"{self.family}_{key}"
            if key not in values and key not in ignore and composite not in seen:
                warnings.warn(
                    f"The configuration contains the parameter '{key}' with value '{value}' that is not "
                    f"consumed by the task '{self.family}'.",
                    UnconsumedParameterWarning,
                )
                seen.add(composite)

    def unknown(self, name):
        """The error for an unknown keyword: close names, and which tasks have the parameter.

        :param name: the keyword given.
        :returns: a :class:`luigi.parameter.UnknownParameterException`.
        """
        public = [n for n, p in self.params if p.visibility == ParameterVisibility.PUBLIC]
        text = f"{self.family}: unknown parameter '{name}'"
        close = closest(name, public)
        if close:
            text += f" (did you mean '{close}'?)"
        owners = classes_with_parameter(name, self.cls)
        if owners and not close:
            shown = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
            text += (
                f"; {shown} {'has' if len(owners) == 1 else 'have'} it: to give {self.cls.__name__} the "
                f"parameters of {owners[0]}, decorate the class with @astra.inherits({owners[0]})"
            )
        text += f". Parameters of {self.family}: {', '.join(public) or 'none'}"
        return UnknownParameterException(text)

    # ------------------------------------------------------------------ instances

    def instance(self, values, args=(), kwargs=None):
        """The task with these normalised values: from Luigi's instance cache, or new.

        :param values: every parameter's normalised value, in declaration order.
        :param args: the positional arguments given (for a class with its own ``__init__``).
        :param kwargs: the keyword arguments given (idem).
        """
        cls = self.cls
        cache = instance_cache(cls)
        if cache is None:
            return self.instantiate(values, args, kwargs)
        key = (cls, tuple(values.values()))
        try:
            task = cache.get(key)
        except TypeError:  # a value that cannot be hashed: no caching, as in Luigi
            return self.instantiate(values, args, kwargs)
        if task is None:
            task = cache[key] = self.instantiate(values, args, kwargs)
        return task

    def instantiate(self, values, args=(), kwargs=None):
        """A new task with these values (bypassing the cache)."""
        cls = self.cls
        if self.own_init:
            task = cls.__new__(cls)
            task._astra_init(values, self)
            return task
        # The class has its own __init__: run it as written (it resolves its arguments again).
        if kwargs is None:
            args, kwargs = (), values
        return type.__call__(cls, *args, **kwargs)


def _names_used_by_requires(cls):
    requires = getattr(cls, "requires", None)
    requires = getattr(requires, "__wrapped__", requires)
    code = getattr(requires, "__code__", None)
    return set(code.co_names) if code is not None else set()


def classes_with_parameter(name, task_class):
    """Names of registered task classes other than ``task_class`` that have parameter ``name``.

    Classes that ``task_class.requires()`` names come first (seed 002's task requires
    ``ApVisitFile`` and needs its parameters), then data-model tasks, then the others.

    :param name: a parameter name (underscores).
    :param task_class: the task class that lacks it.
    :returns: class names, best first.
    """
    used = _names_used_by_requires(task_class)
    found = {}
    for cls in registered_classes():
        if cls is task_class or cls.__name__.startswith("_"):
            continue
        if isinstance(getattr(cls, name, None), luigi.Parameter):
            data_model = getattr(cls, "sdss_data_model_name", None) is not None
            found.setdefault(cls.__name__, (cls.__name__ not in used, not data_model, cls.__name__))
    return sorted(found, key=found.get)
