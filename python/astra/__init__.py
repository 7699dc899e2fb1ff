"""Astra: a Luigi task system for analysing SDSS stellar spectra at survey scale.

Everything a task module needs is importable from ``astra`` itself::

    import astra
    from astra.tasks import BaseTask

    class MyTask(BaseTask):
        order = astra.IntParameter(default=3)
"""

from astra.version import __version__, version_info

import warnings as _warnings

with _warnings.catch_warnings():
    # Luigi warns about its range-task autoloading on import; Astra does not use it.
    _warnings.filterwarnings("ignore", "Autoloading range tasks", DeprecationWarning)
    import luigi  # noqa: F401  (imported here so its warning is silenced once)

from astra.luigi_defaults import apply_retcode_defaults as _apply_retcode_defaults

# `luigi --module` exits non-zero on failed spectra and missing inputs (see astra.luigi_defaults).
_apply_retcode_defaults()

from astra.luigi_glue.cmdline import install as _install_cmdline_hint

# `luigi --module` names @astra.inherits for a data-model key a task lacks (astra.luigi_glue.cmdline).
_install_cmdline_hint()

from luigi.util import inherits, requires

from astra.parameters import (
    BoolParameter,
    DictParameter,
    FloatParameter,
    IntParameter,
    ListParameter,
    Parameter,
    ParameterTypeError,
    TupleParameter,
)

__all__ = [
    "__version__",
    "Parameter",
    "IntParameter",
    "FloatParameter",
    "BoolParameter",
    "DictParameter",
    "ListParameter",
    "TupleParameter",
    "ParameterTypeError",
    "inherits",
    "requires",
    "build",
    "task",
    "batch_tasks",
    "version_info",
]


def task(function=None, *, timeout=None):
    """Make a generator function over catalogue spectra an Astra method, and a Luigi task.

    ``@task`` above ``def snr(spectra: Iterable[Spectrum], ...) -> Iterable[Result]``; see
    :mod:`astra.tasks.function` and the guide *Writing tasks*. ``@task(timeout=60)``: one
    spectrum may run at most 60 s (:mod:`astra.core.timeout`).

    :param function: the generator function.
    :param timeout: seconds one spectrum may run (``None``: no limit).
    :returns: a :class:`astra.tasks.function.TaskFunction`.
    """
    from astra.tasks.function import task as _task

    return _task(function, timeout=timeout)


def build(tasks, **kwargs):
    """Group ``tasks`` into batches and run them with Luigi; see :func:`astra.tasks.batch.build`."""
    from astra.tasks.batch import build as _build

    return _build(tasks, **kwargs)


def batch_tasks(tasks, max_batch_size=None):
    """Group ``tasks`` into batch tasks; see :func:`astra.tasks.batch.batch_tasks`."""
    from astra.tasks.batch import batch_tasks as _batch_tasks

    return _batch_tasks(tasks, max_batch_size=max_batch_size)
