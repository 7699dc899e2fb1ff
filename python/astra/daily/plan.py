"""The pipelines file of ``astra daily``: reading it, checking it, ordering its steps.

A pipelines file (YAML) names three kinds of steps (the format is described in
``docs/daily.rst``; ``python/astra/etc/daily.yml`` is a complete example)::

    migrate:                       # astra migrate, first
      - release: dr13
        species: apStar
    pipelines:                     # @task methods over the spectra without a result
      snr:
        task: astra.contrib.rocket.snr
        inputs: [ApogeeCoaddedSpectrumInApStar]
        params: {min_good_pixels: 50}
    products:                      # astra create, last
      astraAllStarRocketSNR: {}
      mwmAllStar: {release: dr13}

:func:`load_plan` checks everything it can without touching the data (tasks import, models
exist, parameters parse, dependencies name known steps and form no cycle) and raises
:class:`DailyFileError` naming the file and the entry otherwise. Each :class:`Step` gets a
``key``: a hash of its own settings, the keys of the steps it needs, and the Astra major.minor.
The day's marker of a step is named by that key (see :mod:`astra.daily.tasks`), so editing a
step (or one it needs) makes it run again the same day, and nothing else does.
"""

import dataclasses
import hashlib
import json
import os
import re

import yaml

from astra.suggest import did_you_mean
from astra.models.spectrum import model_for_data_model
from astra.datamodels.paths import get_template
from astra.tasks.function_runner import load_task_function, parse_task_params
from astra.products import resolve_product
from astra.models.pipeline import major_minor

__all__ = ["DailyFileError", "Step", "DailyPlan", "load_plan", "KINDS"]

#: The step kinds, in the order a day runs them when nothing else decides.
KINDS = ("migrate", "pipeline", "product")

_TOP = {
    "migrate": "list of migrations (release, species, ...)",
    "pipelines": "mapping of pipeline name to its task, inputs, params, requires",
    "products": "mapping of product name (as astra create takes it) to its requires, release, output, ...",
    "workers": "Luigi workers of the day's graph and of each pipeline",
    "max_batch_size": "most spectra per batch",
    "sas_base_dir": "the SAS root of every migration (default $SAS_BASE_DIR)",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MIGRATE = ("name", "release", "species", "sas_base_dir", "filters", "workers")
_PIPELINE = ("task", "inputs", "params", "requires", "workers", "max_batch_size", "srun")
#: What a pipeline's ``srun`` mapping may hold: ``astra srun``'s options.
_SRUN = ("nodes", "procs", "jobs", "elements", "max_running", "time", "mem", "gres", "partition", "account", "jobs_dir")
_PRODUCT = ("product", "method", "requires", "release", "output", "where", "filters")


class DailyFileError(ValueError):
    """A pipelines file that cannot be used; the message names the file and the entry."""


@dataclasses.dataclass
class Step:
    """One step of the day: a migration, a pipeline or a product.

    :param name: the step's name (unique in the file).
    :param kind: ``"migrate"``, ``"pipeline"`` or ``"product"``.
    :param spec: its settings, checked and completed with defaults (JSON-serialisable).
    :param requires: names of the steps that must finish first.
    :param key: hash of ``spec``, the keys of ``requires`` and the Astra major.minor.
    """

    name: str
    kind: str
    spec: dict
    requires: tuple = ()
    key: str = ""


class DailyPlan:
    """A checked pipelines file: its steps in dependency order.

    :param path: the file's path.
    :param steps: the steps in an order where every step comes after those it requires.
    :param settings: the file's top-level settings (``workers``, ``max_batch_size``, ...).
    """

    def __init__(self, path, steps, settings):
        self.path = path
        self.steps = {step.name: step for step in steps}
        self.settings = settings
        digest = hashlib.sha256("".join(f"{s.name}={s.key};" for s in steps).encode())
        #: A hash of every step's key: the whole day's identity.
        self.key = digest.hexdigest()[:16]

    def ordered(self):
        """The steps, each after those it requires."""
        return list(self.steps.values())

    def step(self, name, key=None):
        """The step called ``name``; with ``key``, checked to be the step that was scheduled.

        :raises DailyFileError: for an unknown name, or a step whose settings changed since.
        """
        if name not in self.steps:
            raise DailyFileError(f"{self.path}: no step {name!r}{did_you_mean(name, self.steps)}")
        step = self.steps[name]
        if key is not None and step.key != key:
            raise DailyFileError(f"{self.path}: step {name!r} changed since the day was scheduled; run astra daily again")
        return step

    def dependants(self, name):
        """The names of the steps that need ``name``, directly or not."""
        out, todo = set(), [name]
        while todo:
            current = todo.pop()
            for step in self.steps.values():
                if current in step.requires and step.name not in out:
                    out.add(step.name)
                    todo.append(step.name)
        return out


def _error(path, where, message):
    return DailyFileError(f"{path}: {where}: {message}")


def _checked(path, where, errors, function, *args):
    """``function(*args)``, with ``errors`` turned into a :class:`DailyFileError` naming ``where``."""
    try:
        return function(*args)
    except errors as error:
        raise _error(path, where, str(error)) from None


def _mapping(path, where, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(path, where, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _names(path, where, value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(path, where, f"expected a name or a list of names, got {value!r}")
    return list(value)


def _check_keys(path, where, entry, allowed):
    for name in entry:
        if name not in allowed:
            raise _error(path, where, f"unknown setting {name!r}{did_you_mean(name, allowed)} (settings: {', '.join(allowed)})")


def _count(path, where, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error(path, where, f"expected a whole number of at least 1, got {value!r}")
    return value


def _migration(path, index, entry, defaults):
    where = f"migrate[{index}]"
    entry = _mapping(path, where, entry)
    _check_keys(path, where, entry, _MIGRATE)
    for required in ("release", "species"):
        if not entry.get(required):
            raise _error(path, where, f"give {required} (e.g. release: dr13, species: apStar)")
    release, species = str(entry["release"]), str(entry["species"])
    template = _checked(path, where, (ValueError, LookupError), get_template, release, species)
    model = _checked(path, where, (ValueError, LookupError), model_for_data_model, species)
    filters = {str(k): str(v) for k, v in _mapping(path, f"{where}.filters", entry.get("filters")).items()}
    unknown = sorted(set(filters) - set(template.keys))
    if unknown:
        raise _error(path, f"{where}.filters", f"{species} in {release} has no key {', '.join(unknown)} "
                     f"(keys: {', '.join(template.keys)})")
    sas = entry.get("sas_base_dir", defaults.get("sas_base_dir"))
    spec = {
        "release": template.release,
        "species": species,
        "model": model.__name__,
        "sas_base_dir": os.path.expanduser(str(sas)) if sas else None,
        "filters": filters,
        "workers": _count(path, f"{where}.workers", entry.get("workers")),
    }
    name = str(entry.get("name") or f"migrate-{template.release}-{species}")
    return Step(name, "migrate", spec)


def _pipeline(path, name, entry, defaults):
    where = f"pipelines.{name}"
    entry = _mapping(path, where, entry)
    _check_keys(path, where, entry, _PIPELINE)
    if not entry.get("task"):
        raise _error(path, where, "give task: the @task method (a registered name or module.function)")
    function = _checked(path, f"{where}.task", ValueError, load_task_function, str(entry["task"]))
    inputs = _names(path, f"{where}.inputs", entry.get("inputs")) or [function.input_models[0].__name__]
    inputs = [_checked(path, f"{where}.inputs", ValueError, function.input_model, model).__name__ for model in inputs]
    params = _mapping(path, f"{where}.params", entry.get("params"))
    params = _checked(path, f"{where}.params", ValueError, parse_task_params, function,
                      {str(k): v for k, v in params.items()})
    srun = entry.get("srun")
    if srun is not None:
        srun = _mapping(path, f"{where}.srun", srun)
        _check_keys(path, f"{where}.srun", srun, _SRUN)
        for option in ("nodes", "procs", "jobs", "elements", "max_running"):
            _count(path, f"{where}.srun.{option}", srun.get(option))
        srun = {str(k): str(v) for k, v in srun.items()}
    spec = {
        "task": str(entry["task"]),
        "srun": srun,
        "output_model": function.output_model.__name__,
        "upstream_models": sorted(u.model.__name__ for u in getattr(function, "upstreams", {}).values()),
        "inputs": inputs,
        "params": json.loads(json.dumps(params, default=str)),
        "workers": _count(path, f"{where}.workers", entry.get("workers", defaults.get("workers"))),
        "max_batch_size": _count(path, f"{where}.max_batch_size", entry.get("max_batch_size", defaults.get("max_batch_size"))),
    }
    return Step(name, "pipeline", spec, tuple(_names(path, f"{where}.requires", entry.get("requires"))))


def _product(path, name, entry):
    where = f"products.{name}"
    entry = _mapping(path, where, entry)
    _check_keys(path, where, entry, _PRODUCT)
    wanted = str(entry.get("product") or name)
    method = str(entry["method"]) if entry.get("method") else None
    product = _checked(path, f"{where}.product" if entry.get("product") else where, LookupError,
                       resolve_product, wanted, method)
    filters = _mapping(path, f"{where}.filters", entry.get("filters"))
    spec = {
        "product": wanted,
        "method": method,
        "kind": product.kind,
        "level": product.level,
        "model": product.model.__name__ if product.model is not None else None,
        "release": [str(r) for r in _names(path, f"{where}.release", entry.get("release"))] or None,
        "output": os.path.expanduser(str(entry["output"])) if entry.get("output") else None,
        "where": str(entry["where"]) if entry.get("where") else None,
        "filters": {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in filters.items()},
    }
    requires = entry.get("requires")
    return Step(name, "product", spec, tuple(_names(path, f"{where}.requires", requires)) if requires is not None else None)


def _implicit_requirements(path, steps):
    """Fill in the requirements a step does not state, and check those it states."""
    migrations = [s for s in steps if s.kind == "migrate"]
    pipelines = {s.name: s for s in steps if s.kind == "pipeline"}
    for step in steps:
        if step.kind == "pipeline":
            for name in step.requires:
                if name not in pipelines:
                    raise _error(path, f"pipelines.{step.name}.requires",
                                 f"no pipeline {name!r}{did_you_mean(name, pipelines)} (pipelines: {', '.join(pipelines) or 'none'})")
            feeding = [m.name for m in migrations if m.spec["model"] in step.spec["inputs"]]
            upstream = [p.name for p in pipelines.values()
                        if p.spec["output_model"] in step.spec["upstream_models"] and p.name not in step.requires]
            step.requires = tuple(feeding or [m.name for m in migrations]) + tuple(step.requires) + tuple(upstream)
        elif step.kind == "product":
            if step.requires is None and step.spec["model"] is None:  # a catalogue product
                step.requires = tuple(m.name for m in migrations)
            elif step.requires is None:  # the pipelines writing its results model
                step.requires = tuple(p.name for p in pipelines.values() if p.spec["output_model"] == step.spec["model"])
            else:
                for name in step.requires:
                    if name not in pipelines:
                        raise _error(path, f"products.{step.name}.requires",
                                     f"no pipeline {name!r}{did_you_mean(name, pipelines)} (pipelines: {', '.join(pipelines) or 'none'})")


def _order(path, steps):
    """The steps in dependency order (stable: file order among equals); a cycle is an error."""
    by_name = {s.name: s for s in steps}
    done, ordered, visiting = set(), [], []

    def visit(step):
        if step.name in done:
            return
        if step.name in visiting:
            cycle = visiting[visiting.index(step.name):] + [step.name]
            raise _error(path, "pipelines", f"the requirements form a cycle: {' -> '.join(cycle)}")
        visiting.append(step.name)
        for name in step.requires:
            visit(by_name[name])
        visiting.pop()
        done.add(step.name)
        ordered.append(step)

    for kind in KINDS:
        for step in steps:
            if step.kind == kind:
                visit(step)
    return ordered


def _keys(steps):
    keys = {}
    for step in steps:  # in dependency order, so the requirements' keys are known
        content = {"kind": step.kind, "spec": step.spec, "requires": [keys[n] for n in step.requires],
                   "astra": major_minor()}
        step.key = keys[step.name] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def load_plan(path):
    """Read and check a pipelines file.

    :param path: the YAML file.
    :returns: a :class:`DailyPlan`.
    :raises DailyFileError: naming the file and the entry that is wrong.
    """
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path) as fp:
            document = yaml.safe_load(fp)
    except OSError as error:
        raise DailyFileError(f"cannot read the pipelines file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise DailyFileError(f"{path}: not valid YAML: {error}") from None
    document = _mapping(path, "the file", document)
    _check_keys(path, "top level", document, list(_TOP))
    settings = {
        "workers": _count(path, "workers", document.get("workers")),
        "max_batch_size": _count(path, "max_batch_size", document.get("max_batch_size")),
        "sas_base_dir": document.get("sas_base_dir"),
    }
    migrations = document.get("migrate") or []
    if not isinstance(migrations, list):
        raise _error(path, "migrate", "expected a list of migrations (- release: ..., species: ...)")
    steps = [_migration(path, i, entry, settings) for i, entry in enumerate(migrations)]
    steps += [_pipeline(path, str(name), entry, settings)
              for name, entry in _mapping(path, "pipelines", document.get("pipelines")).items()]
    steps += [_product(path, str(name), entry) for name, entry in _mapping(path, "products", document.get("products")).items()]
    seen = set()
    for step in steps:
        if not _NAME.fullmatch(step.name):
            raise _error(path, step.name, "a step name is letters, digits, '.', '_' and '-' (it names the day's marker file)")
        if step.name in seen:
            raise _error(path, step.name, "two steps have this name; give each a name of its own")
        seen.add(step.name)
    if not steps:
        raise DailyFileError(f"{path}: no steps (give migrate, pipelines or products)")
    _implicit_requirements(path, steps)
    steps = _order(path, steps)
    _keys(steps)
    return DailyPlan(path, steps, settings)
