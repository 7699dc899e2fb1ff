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

import astra
import astra.config
from astra.parameters import IntParameter, ParameterTypeError, is_batch_value
from astra.targets import AtomicFileTarget
from astra.tasks import identity
from astra.tasks.batch_run import BatchRunMixin
from astra.tasks.display import SchedulerDisplayMixin

__all__ = ["BaseTask", "BatchSizeError", "VERSION_PARAMETERS"]

_MAJOR, _MINOR = astra.version_info()

#: Hidden parameters that put the Astra major.minor version into every task's identity.
VERSION_PARAMETERS = ("astra_version_major", "astra_version_minor")


class BatchSizeError(ValueError):
    """The tuple-valued (batch) parameters of a task have different lengths."""


class BaseTask(SchedulerDisplayMixin, BatchRunMixin, luigi.Task):
    """A Luigi task with a stable identity, identity-derived outputs and batch mode.

    Subclass it as you would :class:`luigi.Task`. Write ``requires()``, ``output()`` and the
    per-spectrum work for one spectrum; batch mode is handled for you.
    """

    astra_version_major = IntParameter(
        default=_MAJOR, visibility=ParameterVisibility.HIDDEN, description="Astra major version (identity)"
    )
    astra_version_minor = IntParameter(
        default=_MINOR, visibility=ParameterVisibility.HIDDEN, description="Astra minor version (identity)"
    )

    #: Most members Luigi's own scheduler may merge into one batch (``batch_method=tuple``).
    max_batch_size = 1000

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The author's output() describes one spectrum; in batch mode it becomes the members'.
        single_output = cls.__dict__.get("output")
        if single_output is not None and not getattr(single_output, "_astra_batch_aware", False):
            cls.output = _batch_aware_output(single_output)
        single_requires = cls.__dict__.get("requires")
        if single_requires is not None and not getattr(single_requires, "_astra_member_aware", False):
            cls.requires = _member_aware_requires(single_requires)

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """Luigi's parameter resolution, with errors that name the task and the parameter."""
        family = cls.get_task_family()
        params_dict = dict(params)
        normalised = {}
        for name, value in kwargs.items():
            if name in params_dict:
                try:
                    value = params_dict[name].normalize(value)
                except (ParameterTypeError, TypeError, ValueError) as error:
                    raise ParameterTypeError(f"{family}: parameter '{name}': {error}") from None
            normalised[name] = value
        try:
            return super().get_param_values(params, args, normalised)
        except luigi.parameter.MissingParameterException as error:
            raise luigi.parameter.MissingParameterException(str(error).replace("[args=(), kwargs={", "[kwargs={")) from None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_identity()
        self._batch_size = self._check_batch_size()

    # ------------------------------------------------------------------ identity

    def _set_identity(self, str_params=None):
        family = self.get_task_family()
        str_params = str_params if str_params is not None else self.identity_params()
        self.identity_hash = identity.identity_hash(family, str_params)
        self._identity_str_params = str_params
        self._task_id = None  # built on first use: a batch's members rarely need theirs
        self._Task__hash = hash(self.identity_hash)

    @property
    def task_id(self):
        """The task's id: family, a few leading parameter values and the identity hash."""
        task_id = self._task_id
        if task_id is None:
            task_id = self._task_id = identity.task_id(
                self.get_task_family(), self._identity_str_params, self._summary_names(), self.identity_hash
            )
        return task_id

    @task_id.setter
    def task_id(self, value):
        # luigi.Task.__init__ assigns its own id first; _set_identity() then replaces it.
        self._task_id = value

    def identity_params(self):
        """The serialised significant parameters that define this task (version included).

        Parameters whose value is ``None`` are left out.

        :returns: a dict of parameter name to text value.
        """
        known = self.__dict__.get("_identity_str_params")
        if known is not None:  # worked out when the task was made; parameters do not change
            return dict(known)
        out = {}
        for name, param in self.get_params():
            value = self.param_kwargs[name]
            # None (an unset optional parameter) is left out, so adding an optional parameter
            # to a task class does not change the identity of existing tasks.
            if value is not None and param.significant and param.visibility != ParameterVisibility.PRIVATE:
                out[name] = param.serialize(value)
        return out

    #: Parameters whose values may appear in the task id, in order of preference (the first
    #: three that are set are used); ``None`` means the public parameters in declaration order.
    task_id_parameters = None

    @classmethod
    def _summary_names(cls):
        names = cls.__dict__.get("_astra_summary_names")
        if names is None:
            public = [
                n
                for n, p in cls.get_params()
                if p.significant and p.visibility == ParameterVisibility.PUBLIC and n not in VERSION_PARAMETERS
            ]
            names = [n for n in cls.task_id_parameters if n in public] if cls.task_id_parameters else public
            cls._astra_summary_names = names
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
        :returns: a list of names in this task's declaration order.
        """
        theirs = set(other_task_class.get_param_names(include_significant=include_significant))
        return [n for n in self._param_names(include_significant) if n in theirs]

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
        names = cls.__dict__.get("_astra_batch_names")
        if names is None:
            names = [name for name, p in cls.get_params() if p._is_batchable()]
            cls._astra_batch_names = names
        return names

    def _check_batch_size(self):
        lengths = {}
        for name in self.batch_param_names():
            value = self.param_kwargs[name]
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
        """
        return bool(self.batch_param_names()) and not self.is_batch_mode

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
        batch_names = [n for n in self.batch_param_names() if is_batch_value(self.param_kwargs[n])]
        significant = {n for n, p in self.get_params() if p.significant and p.visibility != ParameterVisibility.PRIVATE}
        params = dict(self.get_params())
        shared = dict(self.param_kwargs)
        shared_str = {n: v for n, v in self.identity_params().items() if n not in batch_names}
        for index in range(self._batch_size):
            values = dict(shared)
            str_params = dict(shared_str)
            for name in batch_names:
                value = self.param_kwargs[name][index]
                values[name] = value
                if name in significant:
                    if value is None:
                        str_params.pop(name, None)
                    else:
                        str_params[name] = params[name].serialize(value)
            member = cls._from_normalised(values, str_params)
            member._batch_index = index
            yield member

    @classmethod
    def _from_normalised(cls, values, str_params=None):
        """Build a task from already-normalised values, bypassing Luigi's instance cache."""
        task = cls.__new__(cls)
        task.__dict__.update(values)
        task.param_kwargs = values
        task.set_tracking_url = None
        task.set_status_message = None
        task.set_progress_percentage = None
        task._set_identity(str_params)
        task._batch_size = 1
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
    @functools.wraps(single_output)
    def output(self):
        if self.is_batch_mode:
            return [single_output(member) for member in self.get_batch_tasks()]
        return single_output(self)

    output._astra_batch_aware = True
    return output
