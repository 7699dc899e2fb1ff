"""Running a task over the spectra on disk (or listed in a table): what ``astra run`` does."""

import importlib
import pkgutil

import luigi

from astra.tasks.batch import build
from astra.tasks import members
from astra.module_hint import import_hint
from astra.suggest import did_you_mean
from astra.datamodels.find import find_files, read_keys_table
from astra.datamodels.paths import sas_base_dir_set as _sas_base_dir

__all__ = ["load_module", "load_task_class", "parse_task_params", "find_tasks", "find_rows", "read_keys_table",
           "tasks_for_keys", "run_over_files"]


def load_task_class(dotted):
    """The task class named ``module.Class`` (e.g. ``astra.contrib.rocket.EstimateSNR``).

    :param dotted: the dotted name.
    :raises ValueError: naming what could not be found.
    """
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"name the task as module.Class, e.g. astra.contrib.rocket.EstimateSNR (got {dotted!r})")
    module = load_module(module_name)
    task_class = getattr(module, class_name, None)
    if not (isinstance(task_class, type) and issubclass(task_class, luigi.Task)):
        tasks = [name for name, value in vars(module).items() if isinstance(value, type) and issubclass(value, luigi.Task)]
        what = "has no task" if task_class is None else "has no task class"
        raise ValueError(f"module {module_name!r} {what} {class_name!r}{did_you_mean(class_name, tasks)}")
    refuse_removed(task_class)
    return task_class


def refuse_removed(task_class):
    """Raise the advice of a removed task's placeholder (:mod:`astra.tasks.removed`) as a ValueError.

    :param task_class: a task class.
    :raises ValueError: with what to write instead, for a placeholder.
    """
    from astra.tasks.removed import RemovedTaskError

    try:
        task_class.get_param_values([], [], {})  # placeholders refuse here; real tasks are not built
    except RemovedTaskError as error:
        raise ValueError(str(error)) from None
    except Exception:
        pass


def load_module(module_name):
    """Import the module that defines tasks, with an error that says how to fix a failure.

    :param module_name: a dotted module name, e.g. ``astra.contrib.rocket``.
    :returns: the module.
    :raises ValueError: naming the module, with a close sibling or a ``PYTHONPATH`` hint.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import module {module_name!r}: {error}{_module_hint(module_name, error)}") from None


def _module_hint(module_name, error):
    """A suggestion for a module that does not import: a close sibling, or how to make it importable."""
    missing = getattr(error, "name", None)
    if missing and missing != module_name and not module_name.startswith(missing + "."):
        return ""  # the module exists but one of its own imports failed
    parent, _, leaf = module_name.rpartition(".")
    if parent:
        try:
            package = importlib.import_module(parent)
        except ImportError:
            return _module_hint(parent, error) if "." in parent else import_hint(parent, error)
        siblings = [info.name for info in pkgutil.iter_modules(getattr(package, "__path__", []))]
        return did_you_mean(leaf, siblings)
    return import_hint(module_name, error)  # names PYTHONPATH=. when the file is in the current directory




def parse_task_params(task_class, task_params, names=None, label=None):
    """Check parameter names against ``task_class`` and parse text values: the one parser of
    ``astra run``'s task parameters, for a task class and for a ``@task`` method.

    :param task_class: the task class (a ``@task`` method's: ``method.task_class``).
    :param task_params: parameters by name (underscores), as text or values.
    :param names: the names allowed (a ``@task`` method's own arguments); ``None``: every
        parameter of the class.
    :param label: the name in messages (default: the task family).
    :returns: a dict of name to value.
    :raises ValueError: naming an unknown parameter (with the closest name) or a bad value.
    """
    params = dict(task_class.get_params())
    label = label or task_class.get_task_family()
    allowed = params if names is None else {n: params[n] for n in names}
    kwargs = {}
    for name, value in (task_params or {}).items():
        if name not in allowed:
            text = f"{label} has no parameter {name!r}{did_you_mean(name, allowed)}"
            if names is not None:
                text += f" (its parameters: {', '.join(f'--{n}'.replace('_', '-') for n in allowed) or 'none'})"
            raise ValueError(text)
        try:
            value = allowed[name].parse(value) if isinstance(value, str) else value
            kwargs[name] = allowed[name].normalize(value) if names is not None else value
        except (TypeError, ValueError) as error:
            raise ValueError(f"{label}: parameter {name!r}: {error}") from None
    return kwargs



def tasks_for_keys(task_class, rows, species=None, release=None, task_params=None):
    """Batch tasks of ``task_class`` holding every row of keys (one per release).

    :param task_class: an Astra task class whose data-model keys are batch parameters.
    :param rows: dicts of key name to text value (strings are parsed by each parameter).
    :param species: passed as the task's ``species`` parameter if it has one.
    :param release: the release (unless the rows carry one).
    :param task_params: other parameters, by name, as text or values.
    :returns: one batch task per release (none when there are no rows).
    """
    params = dict(task_class.get_params())
    kwargs = parse_task_params(task_class, task_params)  # checked even when there are no rows
    if not rows:
        return []
    if species is not None and "species" in params:
        kwargs["species"] = species
    by_release = {}  # release is not a batch parameter: one task per release
    for row in rows:
        row_release = row.get("release") or release
        if not row_release:
            raise ValueError("no release: give one (--release) or a release column in the table")
        by_release.setdefault(row_release, []).append(row)
    tasks = []
    for row_release, group in by_release.items():
        names = [name for name in group[0] if name in params and name != "release"]
        parsers = [getattr(params[name], "_parse_one", params[name].parse) for name in names]  # one value each
        parsed = [
            tuple(parse(row[name]) if row.get(name) not in (None, "") else None for name, parse in zip(names, parsers))
            for row in group
        ]
        tasks.append(task_class(**kwargs, release=row_release, **members.from_rows(names, parsed)))
    return tasks


def run_over_files(
    task_class,
    release,
    species,
    filters=None,
    keys_table=None,
    limit=None,
    workers=1,
    max_batch_size=None,
    task_params=None,
    sas_base_dir=None,
    scheduler_host=None,
    scheduler_port=None,
    share_batches=True,
):
    """Find the spectra, batch, run, and summarise.

    :param task_class: the task class to run.
    :param release: the data release, e.g. ``"dr13"``.
    :param species: the sdss-access species, e.g. ``"apStar"``.
    :param filters: key values that narrow the search.
    :param keys_table: a CSV/FITS table of keys instead of a search.
    :param limit: at most this many spectra.
    :param workers: Luigi worker processes.
    :param max_batch_size: most spectra per batch.
    :param task_params: other task parameters.
    :param sas_base_dir: the SAS root.
    :param scheduler_host: a central luigid's host (default: the ``scheduler_host`` setting, else
        Luigi's local scheduler).
    :param scheduler_port: its port.
    :param share_batches: under ``astra srun``'s share variables keep only this process's share of
        the batches; false when the keys table already is this process's share (a job array element).
    :returns: ``(number of spectra, BuildSummary)``.
    """
    with _sas_base_dir(sas_base_dir):
        n, tasks = find_tasks(task_class, release, species, filters, keys_table, limit, task_params, sas_base_dir)
        if not tasks:
            return 0, None
        summary = build(tasks, max_batch_size=max_batch_size, workers=workers, log_level="ERROR",
                       scheduler_host=scheduler_host, scheduler_port=scheduler_port,
                       share_batches=share_batches)
    return n, summary


def find_tasks(task_class, release, species, filters=None, keys_table=None, limit=None, task_params=None,
               sas_base_dir=None):
    """The batch tasks of ``task_class`` over the spectra found on disk (or listed in a table).

    :param task_class: the task class.
    :param release: the data release.
    :param species: the sdss-access species.
    :param filters: key values that narrow the search.
    :param keys_table: a CSV/FITS table of keys instead of a search.
    :param limit: at most this many spectra.
    :param task_params: other task parameters.
    :param sas_base_dir: the SAS root.
    :returns: ``(number of spectra, list of batch tasks)``.
    """
    rows = find_rows(release, species, filters, keys_table, limit, sas_base_dir)
    return len(rows), tasks_for_keys(task_class, rows, species=species, release=release, task_params=task_params)


def find_rows(release, species, filters=None, keys_table=None, limit=None, sas_base_dir=None):
    """The data-model keys of the spectra found on disk (sorted by path), or listed in a table.

    :param release: the data release.
    :param species: the sdss-access species.
    :param filters: key values that narrow the search.
    :param keys_table: a CSV/FITS table of keys instead of a search.
    :param limit: at most this many spectra.
    :param sas_base_dir: the SAS root.
    :returns: a list of dicts of key name to text value.
    """
    if keys_table:
        rows = read_keys_table(keys_table)
        return rows[:limit] if limit else rows
    return [keys for _, keys in find_files(release, species, sas_base_dir, limit=limit, **(filters or {}))]
