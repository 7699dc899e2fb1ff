"""BaseTask: the Luigi task every Astra task derives from.

It adds to :class:`luigi.Task`:

* **identity** -- the task id is the family, a few leading values and a hash of the significant
  parameters in canonical form plus the Astra major.minor version (see
  :mod:`astra.tasks.identity`);
* **common parameters** -- :meth:`BaseTask.get_common_param_kwargs` builds an upstream task from
  this task's own parameters;
* **output paths** from identity -- :meth:`BaseTask.local_target`;
* **batch mode** -- parameters declared with ``batch_method=tuple`` may hold one value per
  spectrum; the task then stands for a batch, its ``output()`` is its members' outputs, and
  :meth:`BaseTask.run` processes each incomplete member (see :mod:`astra.tasks.batch_run`).
"""

import functools
import os

import luigi
from luigi.parameter import ParameterVisibility
from luigi.task import flatten

import astra.config
import astra.forking
from astra.luigi_glue.parameters import warn_on_wrong_type
from astra.parameters import FloatParameter, IntParameter, is_batch_value
from astra.targets import AtomicFileTarget
from astra.version import version_info
from astra.tasks import identity
from astra.tasks.batch_run import BatchRunMixin
from astra.tasks.display import SchedulerDisplayMixin
from astra.tasks.plan import TaskRegister, plan_for

astra.forking.install()  # forked Luigi workers find the spectrum readers imported

__all__ = ["BaseTask", "BatchSizeError", "VERSION_PARAMETERS", "time_limit_parameter"]

_MAJOR, _MINOR = version_info()

#: Hidden parameters that put the Astra major.minor version into every task's identity.
VERSION_PARAMETERS = ("astra_version_major", "astra_version_minor")


def time_limit_parameter(seconds=0.0):
    """The ``timeout`` parameter of a task: seconds one spectrum may run (0: no limit; see
    :mod:`astra.core.timeout`), insignificant (it does not change what a result is).

    :param seconds: its default.
    """
    return FloatParameter(default=float(seconds), significant=False, positional=False,
                          description="seconds one spectrum may run before it is stopped and fails (0: no limit)")


class BatchSizeError(ValueError):
    """The tuple-valued (batch) parameters of a task have different lengths."""


class _Lazy:
    """An attribute worked out on first use and then kept in the instance (a plain attribute).

    A task built for a batch of a million rarely needs its own id or hash; those that do pay
    once. Assigning the attribute (as Luigi does for ``task_id``) simply sets it.
    """

    def __init__(self, function):
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __get__(self, task, owner=None):
        if task is None:
            return self
        value = task.__dict__[self.name] = self.function(task)
        return value


class BaseTask(SchedulerDisplayMixin, BatchRunMixin, luigi.Task, metaclass=TaskRegister):
    """A Luigi task with a stable identity, identity-derived outputs and batch mode.

    Subclass it as you would :class:`luigi.Task`. Write ``requires()``, ``output()`` and the
    per-spectrum work for one spectrum; batch mode is handled for you. Positional arguments
    follow the order in which the parameters were declared (Astra's hidden version parameters
    are never positional): ``Greet("2M00452143+1634446")``.
    """

    astra_version_major = IntParameter(
        default=_MAJOR,
        positional=False,
        visibility=ParameterVisibility.HIDDEN,
        description="Astra major version (identity)",
    )
    astra_version_minor = IntParameter(
        default=_MINOR,
        positional=False,
        visibility=ParameterVisibility.HIDDEN,
        description="Astra minor version (identity)",
    )

    #: Seconds one spectrum may run before it is stopped and fails (0: no limit). A class may
    #: set its own (``timeout = 60``); ``--timeout`` sets it per run.
    timeout = time_limit_parameter()

    #: Most members Luigi's own scheduler may merge into one batch (``batch_method=tuple``).
    max_batch_size = 1000

    #: Whether :func:`~astra.tasks.grouping.batch_tasks` cut this task as a batch (of any size,
    #: one included): Luigi's scheduler then never merges it (see :attr:`batchable`).
    cut_as_batch = False

    def __init_subclass__(cls, **kwargs):
        """The two wrappings Astra puts around a task class's own methods (documented in
        docs/batches.rst, "The process() contract"; each keeps the author's method as
        ``__wrapped__``, and calls it unchanged):

        * ``output()`` -- on a batch, the list of the author's ``output()`` of each member;
        * ``requires()`` -- on a member, the member of its batch's requirements when the batch
          already built them (no Luigi task building per spectrum); otherwise the author's.

        ``process()`` and ``setup()`` are never wrapped. (Claims wrap ``run()``: see
        :mod:`astra.claims`.)
        """
        super().__init_subclass__(**kwargs)
        limit = cls.__dict__.get("timeout")
        if isinstance(limit, (int, float)) and not isinstance(limit, bool):
            parameter = time_limit_parameter(limit)  # ``timeout = 60``: still set per run by --timeout
            parameter.__set_name__(cls, "timeout")
            cls.timeout = parameter
        # The author's output() describes one spectrum; in batch mode it becomes the members'.
        single_output = cls.__dict__.get("output")
        if single_output is not None and not getattr(single_output, "_astra_batch_aware", False):
            cls.output = _batch_aware_output(single_output)
        single_requires = cls.__dict__.get("requires")
        if single_requires is not None and not getattr(single_requires, "_astra_member_aware", False):
            cls.requires = _member_aware_requires(single_requires)

    @classmethod
    def get_params(cls):
        """The class's parameters as ``(name, parameter)`` in declaration order (worked out once)."""
        return list(plan_for(cls).params)

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """Resolve arguments into every parameter's normalised value (see :mod:`astra.tasks.plan`).

        Subclasses may override it to complete the values (call ``super()`` first); errors name
        the task and the parameter.

        :param params: ``(name, parameter)`` pairs (the class's own are used).
        :param args: positional arguments.
        :param kwargs: keyword arguments.
        :returns: a list of ``(name, value)`` in declaration order.
        """
        return list(plan_for(cls).resolve(args, kwargs).items())

    def __init__(self, *args, **kwargs):
        # Only classes with their own __init__ come here (others are made by TaskRegister).
        cls = type(self)
        plan = plan_for(cls)
        values = plan.resolve(args, kwargs) if plan.direct else dict(cls.get_param_values(plan.params, args, kwargs))
        self._astra_init(values, plan)

    def _astra_init(self, values, plan):
        """Set up a new task from every parameter's normalised value (what ``Task.__init__`` sets)."""
        state = self.__dict__
        state.update(values)
        state["param_kwargs"] = values
        state["set_tracking_url"] = state["set_status_message"] = state["set_progress_percentage"] = None
        for name in plan.warn_names:
            warn_on_wrong_type(plan.by_name[name], name, values[name])
        state["_batch_size"] = 1
        for name in plan.batch_names:
            if isinstance(values[name], (tuple, list)):
                state["_batch_size"] = self._check_batch_size(plan.batch_names)
                break

    def __hash__(self):
        return hash(self.identity_hash)

    # ------------------------------------------------------------------ identity

    @_Lazy
    def _identity_str_params(self):
        """The significant parameters' text values (``None`` left out), worked out once."""
        values = self.param_kwargs
        out = {}
        for name, serialise, text_is_itself in plan_for(type(self)).identity:
            value = values[name]
            # None (an unset optional parameter) is left out, so adding an optional parameter
            # to a task class does not change the identity of existing tasks.
            if value is None:
                continue
            out[name] = value if text_is_itself and type(value) is str else serialise(value)
        return out

    @_Lazy
    def identity_hash(self):
        """The hash of the task's family and significant parameters (see :mod:`astra.tasks.identity`)."""
        return identity.identity_hash(plan_for(type(self)).family, self._identity_str_params)

    @_Lazy
    def task_id(self):
        """The task's id: family, a few leading parameter values and the identity hash."""
        return identity.task_id(
            plan_for(type(self)).family, self._identity_str_params, self._summary_names(), self.identity_hash
        )

    def identity_params(self):
        """The serialised significant parameters that define this task (version included).

        Parameters whose value is ``None`` are left out.

        :returns: a dict of parameter name to text value.
        """
        return dict(self._identity_str_params)

    #: Parameters whose values may appear in the task id, in order of preference (the first
    #: three that are set are used); ``None`` means the public parameters in declaration order.
    task_id_parameters = None

    @classmethod
    def _summary_names(cls):
        plan = plan_for(cls)
        names = plan.__dict__.get("summary_names")
        if names is None:
            public = [
                n
                for n, p in cls.get_params()
                if p.significant and p.visibility == ParameterVisibility.PUBLIC and n not in VERSION_PARAMETERS
            ]
            names = [n for n in cls.task_id_parameters if n in public] if cls.task_id_parameters else public
            plan.summary_names = names
        return names

    def __repr__(self):
        parts = []
        for name, param in self.get_params():
            if not param.significant or param.visibility != ParameterVisibility.PUBLIC:
                continue
            value = self.param_kwargs[name]
            if value is None:  # unset optional keys (e.g. another release's) are noise here
                continue
            if is_batch_value(value):
                shown = ", ".join(repr(v) for v in value[:2])
                text = f"({shown}, ... {len(value)} values)" if len(value) > 2 else f"({shown})"
            else:
                text = repr(value)
                if len(text) > 60:
                    text = text[:57] + "..."
            parts.append(f"{name}={text}")
        return f"{self.get_task_family()}({', '.join(parts)})"

    # ------------------------------------------------------------------ common parameters

    @classmethod
    def _param_names(cls, include_significant):
        return [n for n, p in cls.get_params() if include_significant or p.significant]

    def get_common_param_names(self, other_task_class, include_significant=True):
        """Names of the parameters this task shares with ``other_task_class``.

        :param other_task_class: a Luigi task class.
        :param include_significant: when true (default) all parameters are considered; when
            false only significant ones (Luigi's ``get_param_names`` convention).
        :returns: a list of names in this task's declaration order (never ``timeout``: each
            method has its own time limit).
        """
        theirs = set(other_task_class.get_param_names(include_significant=include_significant))
        return [n for n in self._param_names(include_significant) if n in theirs and n != "timeout"]

    def get_common_param_kwargs(self, other_task_class, include_significant=True):
        """This task's values of the parameters it shares with ``other_task_class``.

        Batch (tuple) values pass through unchanged, so ``requires()`` written for one spectrum
        returns the matching batch of upstream tasks when this task is a batch.

        :param other_task_class: a Luigi task class.
        :param include_significant: see :meth:`get_common_param_names`.
        :returns: a dict of keyword arguments for ``other_task_class``.
        """
        names = self.get_common_param_names(other_task_class, include_significant)
        return {n: self.param_kwargs[n] for n in names}

    # ------------------------------------------------------------------ outputs

    @property
    def output_directory(self):
        """Directory of this task's outputs, derived from its family and identity hash.

        ``<output_dir>/<namespace>/<Family>/<h[:2]>/<h[2:4]>``: fanned out so a million outputs
        never land in one directory.
        """
        h = self.identity_hash
        return f"{self._output_root()}{h[:2]}{os.sep}{h[2:4]}"

    @classmethod
    def _output_root(cls):
        root = astra.config.get("output_dir")
        cached = cls.__dict__.get("_astra_output_root")
        if cached is None or cached[0] != root:
            family = cls.get_task_family().replace(".", os.sep)
            cached = (root, os.path.join(root, family, ""))
            cls._astra_output_root = cached
        return cached[1]

    def local_path(self, name):
        """The path of an output file named ``name`` for this task (one spectrum).

        :param name: a file name, e.g. ``"snr.json"``.
        """
        if self._batch_size > 1:
            raise ValueError(
                f"{self.get_task_family()}: local_path() names one spectrum's output; "
                "call it on a member from get_batch_tasks()"
            )
        h = self.identity_hash
        return f"{self._output_root()}{h[:2]}{os.sep}{h[2:4]}{os.sep}{h}-{name}"

    def local_target(self, name):
        """An atomically written file target named ``name`` whose path follows from identity.

        :param name: a file name, e.g. ``"snr.json"``.
        :returns: an :class:`astra.targets.AtomicFileTarget`.
        """
        return AtomicFileTarget(self.local_path(name))

    def complete(self):
        """Whether every output exists (for a batch: every member's, stopping at the first missing).

        A batch checks its members one by one and stops at the first incomplete member, so
        asking a fresh batch of a thousand spectra costs one check, not a thousand.
        """
        if self._batch_size > 1:
            return all(member.complete() for member in self.get_batch_tasks())
        output = self.output()
        if isinstance(output, luigi.Target):
            return output.exists()
        outputs = flatten(output)
        if not outputs:
            return False
        return all(target.exists() for target in outputs)

    # ------------------------------------------------------------------ batch mode

    @classmethod
    def batch_param_names(cls):
        """Names of the parameters that may hold one value per batch member."""
        return plan_for(cls).batch_names

    def _check_batch_size(self, names=None):
        lengths = {}
        values = self.param_kwargs
        for name in self.batch_param_names() if names is None else names:
            value = values[name]
            if value is None:  # unset optional keys (e.g. another release's) are noise here
                continue
            if is_batch_value(value):
                lengths[name] = len(value)
        if not lengths:
            return 1
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{n} has {k}" for n, k in lengths.items())
            raise BatchSizeError(f"{self.get_task_family()}: batch parameters have different lengths ({detail})")
        return next(iter(lengths.values()))

    @property
    def batchable(self):
        """Whether Luigi's scheduler may merge this task with others into a batch.

        Single-spectrum tasks submitted separately are merged (``batch_method=tuple``); a task
        that already is a batch (built by :func:`astra.build` or given tuples) is kept as it is.
        So is a batch of one spectrum :func:`astra.build` cut: merged by luigid under another
        task id, it would run on one worker what was cut for several, and the run's summary
        would find its spectra done by no batch of this run (counted as done by another run).
        """
        return bool(self.batch_param_names()) and not self.is_batch_mode and not self.cut_as_batch

    @property
    def is_batch_mode(self):
        """Whether this task stands for more than one spectrum."""
        return self._batch_size > 1

    def get_batch_size(self):
        """The number of members (spectra) in this task; 1 when not in batch mode."""
        return self._batch_size

    def get_batch_tasks(self):
        """Yield the single-spectrum tasks of this batch in order (just ``self`` if not a batch).

        Members are built directly from the batch's normalised values, without Luigi's instance
        cache, and are not kept: a batch of a million spectra holds no per-spectrum objects.
        """
        if not self.is_batch_mode:
            yield self
            return
        cls = type(self)
        plan = plan_for(cls)
        kwargs = self.param_kwargs
        batch_names = [n for n in plan.batch_names if is_batch_value(kwargs[n])]
        significant = {n: (serialise, text_is_itself) for n, serialise, text_is_itself in plan.identity}
        keyed = [(n, kwargs[n], *significant[n]) for n in batch_names if n in significant]
        other = [(n, kwargs[n]) for n in batch_names if n not in significant]
        shared = dict(kwargs)
        shared_str = {n: v for n, v in self._identity_str_params.items() if n not in batch_names}
        hasher = identity.MemberHasher(plan.family, shared_str, [n for n, *_ in keyed])
        for index in range(self._batch_size):
            values = shared.copy()
            str_params = shared_str.copy()
            texts = []
            for name, column, serialise, text_is_itself in keyed:
                value = values[name] = column[index]
                if value is None:  # left out of the identity; texts is then incomplete
                    continue
                text = str_params[name] = value if text_is_itself and type(value) is str else serialise(value)
                texts.append(text)
            for name, column in other:
                values[name] = column[index]
            member = cls._from_normalised(values, str_params)
            state = member.__dict__
            state["_batch_index"] = index
            # Every member's output path needs its hash: worked out here from the shared pieces.
            if len(texts) == len(keyed):
                state["identity_hash"] = hasher(texts)
            yield member

    @classmethod
    def _from_normalised(cls, values, str_params=None):
        """Build a task from already-normalised values, bypassing Luigi's instance cache."""
        task = cls.__new__(cls)
        state = task.__dict__
        state.update(values)
        state["param_kwargs"] = values
        state["set_tracking_url"] = state["set_status_message"] = state["set_progress_percentage"] = None
        if str_params is not None:
            state["_identity_str_params"] = str_params
        state["_batch_size"] = 1
        return task


def _member_aware_requires(single_requires):
    # A batch member's requirements may be handed to it by its batch (see
    # BatchRunMixin.run): the members of the batch's own requirements, built once per batch.
    @functools.wraps(single_requires)
    def requires(self):
        given = self.__dict__.get("_astra_requires")
        if given is not None:
            return given
        return single_requires(self)

    requires._astra_member_aware = True
    return requires


def _batch_aware_output(single_output):
    # A member made by get_batch_tasks() is asked for its output twice in a run (the
    # completeness check, then the write): it keeps the first answer. Members are not in
    # Luigi's instance cache and live only while their batch runs.
    @functools.wraps(single_output)
    def output(self):
        if self._batch_size > 1:
            return [single_output(member) for member in self.get_batch_tasks()]
        state = self.__dict__
        if "_batch_index" not in state:
            return single_output(self)
        given = state.get("_astra_output")
        if given is None:
            given = state["_astra_output"] = single_output(self)
        return given

    output._astra_batch_aware = True
    return output
