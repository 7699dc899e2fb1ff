"""Starting and stopping runs from ``astra web``: the registered tasks, their forms, the processes.

Only the tasks named in the ``web_tasks`` setting can be started (a form names a task by its
registered name, never by an import path). A run is an ``astra run`` subprocess, started in
its own process group with ``ASTRA_RUN_ID`` naming the :class:`~astra.models.run.Run` row
made for it, so the page shows it (``queued``) before the process has found its spectra; the
process's output goes to the run's log. A reaper thread records how each process ended.
"""

import csv
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import luigi

import astra.config
from astra.database.connection import get_database
from astra.datamodels.paths import get_template
from astra.luigi_glue.parameters import NO_VALUE, declared_default
from astra.runs import ENV_RUN_ID, runs_directory
from astra.runner import load_task_class
from astra.models.run import ACTIVE_STATES, Run, RunBatch, RunFailure, ensure_run_tables, utcnow

__all__ = ["registered_tasks", "is_method", "dotted_name", "form_fields", "FormError", "RunRequest", "start_run", "stop_run", "stop_all",
           "retry_failures", "time_limit"]

logger = logging.getLogger("astra")

#: Parameters a run's form does not offer as task parameters (the spectra's choice, and the
#: time limit, a field of its own).
_SPECTRA_PARAMETERS = ("release", "species", "timeout")


class FormError(ValueError):
    """A start form has a bad value; the message names the field."""


def registered_tasks():
    """The tasks ``astra web`` may start, by name: ``{name: task class or @task method}``.

    Read from the ``web_tasks`` setting: task classes as ``module.Class`` (named by the class
    name) and ``@task`` methods as ``module.function`` or their registered short name (named
    by the method's name). A name that cannot be loaded is left out with a warning.
    """
    names = astra.config.get("web_tasks") or []
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    tasks = {}
    for dotted in names:
        entry = None
        try:
            entry = load_task_class(dotted) if "." in dotted else None
        except ValueError:
            pass
        if not isinstance(entry, type):
            try:
                from astra.tasks.function_runner import load_task_function

                entry = load_task_function(dotted)
            except (ImportError, ValueError) as error:
                logger.warning("web_tasks: %s", error)
                continue
        tasks[entry.name if is_method(entry) else entry.__name__] = entry
    return tasks


def is_method(entry):
    """Whether a registered task is a ``@task`` method (it reads catalogue models)."""
    return not isinstance(entry, type) and hasattr(entry, "input_models")


def dotted_name(entry):
    """The name ``astra run`` loads a registered task by (``module.Class`` or ``module.function``)."""
    if is_method(entry):
        return f"{entry.function.__module__}.{entry.name}"
    return f"{entry.__module__}.{entry.__name__}"


def _task_class(entry):
    return entry.task_class if is_method(entry) else entry


def time_limit(entry):
    """The time limit per spectrum a registered task declares, in seconds (``0``: none)."""
    parameter = dict(_task_class(entry).get_params()).get("timeout")
    default = 0 if parameter is None else declared_default(parameter)
    return default if isinstance(default, (int, float)) else 0


@dataclasses.dataclass
class Field:
    """One task parameter as a form field.

    :param name: the parameter name.
    :param kind: ``"bool"``, ``"int"``, ``"float"`` or ``"text"``.
    :param default: the default as text (``""`` when there is none).
    :param description: the parameter's description (the long name of a flag).
    """

    name: str
    kind: str
    default: str
    description: str


def _kind(parameter):
    if isinstance(parameter, luigi.BoolParameter):
        return "bool"
    if isinstance(parameter, luigi.IntParameter):
        return "int"
    if isinstance(parameter, luigi.FloatParameter):
        return "float"
    return "text"


def form_fields(task_class):
    """The task parameters a start form offers (data-model keys and hidden ones are not).

    :param task_class: a registered task class or ``@task`` method.
    :returns: a list of :class:`Field`, flags (``BoolParameter``) first.
    """
    own = set(task_class.parameters) if is_method(task_class) else None
    task_class = _task_class(task_class)
    batch = set(task_class.batch_param_names()) if hasattr(task_class, "batch_param_names") else set()
    fields = []
    for name, parameter in task_class.get_params():
        if own is not None and name not in own:
            continue
        if name in batch or name in _SPECTRA_PARAMETERS or name.startswith("astra_") or name == "use_remote":
            continue
        if parameter.visibility != luigi.parameter.ParameterVisibility.PUBLIC:
            continue
        default = declared_default(parameter)
        if default is NO_VALUE or default is None:
            text = ""
        else:
            text = parameter.serialize(default)
        fields.append(Field(name, _kind(parameter), text, parameter.description or ""))
    fields.sort(key=lambda f: f.kind != "bool")
    return fields


@dataclasses.dataclass
class RunRequest:
    """What a start form asked for, checked.

    :param task: the registered task name.
    :param release: the data release.
    :param species: the sdss-access species.
    :param filters: data-model key values narrowing the search.
    :param limit: most spectra (``None``: all).
    :param max_batch_size: most spectra per batch (``None``: the setting).
    :param task_params: task parameters as text.
    :param keys_table: a CSV of keys (retries) instead of a search.
    :param model: for a ``@task`` method: the catalogue model it reads.
    :param where: for a ``@task`` method: an SQL condition on the catalogue's columns.
    :param retry_failed: for a ``@task`` method: re-run failed spectra whatever the policy.
    :param timeout: seconds one spectrum may run (``None``: the method's own limit; 0: none).
    """

    task: str
    release: str
    species: str
    filters: dict
    limit: int = None
    max_batch_size: int = None
    task_params: dict = dataclasses.field(default_factory=dict)
    keys_table: str = None
    model: str = None
    where: str = None
    retry_failed: bool = False
    timeout: float = None

    @classmethod
    def from_form(cls, task_name, form):
        """Check a submitted start form.

        :param task_name: the registered task name from the URL.
        :param form: the submitted fields (a mapping with ``get`` and ``getlist``-less access).
        :raises KeyError: when the task is not registered.
        :raises FormError: naming the field with a bad value.
        """
        task_class = registered_tasks()[task_name]
        if is_method(task_class):
            return cls._from_method_form(task_name, task_class, form)
        release = (form.get("release") or "").strip()
        species = (form.get("species") or "").strip()
        if not release:
            raise FormError("release: give a data release, e.g. dr17")
        if not species:
            raise FormError("species: give a species, e.g. apStar")
        try:
            keys = set(get_template(release, species).keys)
        except ValueError as error:
            raise FormError(f"release/species: {error}") from None
        filters = {}
        for number, line in enumerate((form.get("filters") or "").splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            name, eq, value = line.partition("=")
            name = name.strip()
            if not eq or not name:
                raise FormError(f"filters, line {number}: write key=value (got {line!r})")
            if name not in keys:
                raise FormError(f"filters, line {number}: {species} of {release} has no key {name!r} "
                                f"(keys: {', '.join(sorted(keys))})")
            filters[name] = value.strip()
        limit = _positive(form.get("limit"), "limit")
        max_batch_size = _positive(form.get("max_batch_size"), "max_batch_size")
        return cls(task_name, release, species, filters, limit, max_batch_size, _task_params(task_class, form),
                   timeout=_seconds(form.get("timeout"), "timeout"))

    @classmethod
    def _from_method_form(cls, task_name, method, form):
        names = [m.__name__ for m in method.input_models]
        model = (form.get("model") or names[0]).strip()
        if model not in names:
            raise FormError(f"model: {task_name} reads {', '.join(names)}, not {model!r}")
        return cls(task_name, None, None, {}, _positive(form.get("limit"), "limit"),
                   _positive(form.get("max_batch_size"), "max_batch_size"), _task_params(method, form),
                   model=model, where=(form.get("where") or "").strip() or None,
                   timeout=_seconds(form.get("timeout"), "timeout"))

    def arguments(self):
        """The ``astra run`` arguments of this request."""
        entry = registered_tasks()[self.task]
        if is_method(entry):
            args = ["run", dotted_name(entry), self.model]
            if self.where:
                args += ["--where", self.where]
            if self.retry_failed:
                args.append("--retry-failed")
        else:
            args = ["run", dotted_name(entry), "--release", self.release, "--species", self.species]
        if self.keys_table:
            args += ["--keys-table", self.keys_table]
        if self.limit:
            args += ["--limit", str(self.limit)]
        if self.max_batch_size:
            args += ["--max-batch-size", str(self.max_batch_size)]
        if self.timeout is not None:
            args += ["--timeout", f"{self.timeout:g}"]
        for name, value in {**self.filters, **self.task_params}.items():
            args.append(f"--{name.replace('_', '-')}={value}")
        return args


def _task_params(task_class, form):
    """The task parameters of a start form, checked against the parameters' own types."""
    params = dict(_task_class(task_class).get_params())
    task_params = {}
    for field in form_fields(task_class):
        if field.kind == "bool":
            task_params[field.name] = "true" if form.get(field.name) else "false"
            continue
        text = (form.get(field.name) or "").strip()
        if text == "":
            if field.default == "":
                raise FormError(f"{field.name}: a value is needed")
            continue
        try:
            params[field.name].normalize(params[field.name].parse(text))
        except Exception as error:
            raise FormError(f"{field.name}: {text!r} is not a valid {field.kind} value ({error})") from None
        task_params[field.name] = text
    return task_params


def _seconds(text, name):
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FormError(f"{name}: {text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise FormError(f"{name}: give a number of seconds >= 0 (0: no limit)")
    return value


def _positive(text, name):
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise FormError(f"{name}: {text!r} is not a whole number") from None
    if value < 1:
        raise FormError(f"{name}: must be at least 1")
    return value


class _Processes:
    """The ``astra run`` processes this server started, and a thread recording their ends."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = {}  # run id -> Popen
        self.stopping = set()
        self.thread = None

    def add(self, run_id, process):
        with self.lock:
            self.running[run_id] = process
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._reap, name="astra-web-reaper", daemon=True)
                self.thread.start()

    def _reap(self):
        while True:
            time.sleep(0.3)
            with self.lock:
                ended = [(i, p) for i, p in self.running.items() if p.poll() is not None]
                for run_id, _ in ended:
                    del self.running[run_id]
            for run_id, process in ended:
                _record_exit(run_id, process.returncode, run_id in self.stopping)
                self.stopping.discard(run_id)


_processes = _Processes()


def _record_exit(run_id, code, stopped):
    try:
        run = Run.get_or_none(Run.id == run_id)
        if run is None:
            return
        if run.state in ACTIVE_STATES:
            state = "stopped" if stopped else ("error" if code else "done")
            message = "stopped from astra web" if stopped else f"astra run ended with exit status {code}"
            Run.update(state=state, ended=utcnow(), exit_code=code, message=run.message or message).where(
                Run.id == run_id).execute()
            RunBatch.update(state="stopped" if stopped else "not run", ended=utcnow()).where(
                (RunBatch.run == run_id) & (RunBatch.state << ("pending", "running"))).execute()
        else:
            Run.update(exit_code=code).where(Run.id == run_id).execute()
    except Exception as error:  # the server goes on; the row keeps its last state
        logger.warning("could not record the end of run %s: %s", run_id, error)


def start_run(request, parameters_extra=None):
    """Record a queued run and start ``astra run`` for it.

    :param request: a checked :class:`RunRequest`.
    :param parameters_extra: more to record in the run's parameters (e.g. what it retries).
    :returns: the :class:`~astra.models.run.Run`.
    """
    ensure_run_tables()
    entry = registered_tasks()[request.task]
    args = request.arguments()
    spectra = ({"model": request.model, "where": request.where} if is_method(entry) else
               {"release": request.release, "species": request.species, "filters": request.filters})
    parameters = {**spectra, "limit": request.limit, "task_parameters": request.task_params, **(parameters_extra or {})}
    run = Run.create(
        kind="astra web", task=dotted_name(entry),
        task_family=_task_class(entry).get_task_family(), parameters=json.dumps(parameters),
        command="astra " + " ".join(args), host=socket.gethostname(), state="queued",
        user=_user(), started=utcnow(),  # shown even when the run finds nothing to do
    )
    log_path = os.path.join(runs_directory(), str(run.id), "run.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    env = dict(os.environ)
    env[ENV_RUN_ID] = str(run.id)
    env["ASTRA_OUTPUT_DIR"] = astra.config.get("output_dir")
    env["ASTRA_DATABASE_URL"] = get_database().astra_url
    env["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "astra.cli", *args], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    Run.update(pid=process.pid, log_path=log_path).where(Run.id == run.id).execute()
    _processes.add(run.id, process)
    return Run.get_by_id(run.id)


def stop_run(run_id):
    """Stop a run this server started (its whole process group).

    :param run_id: the run id.
    :returns: whether a process was signalled.
    """
    with _processes.lock:
        process = _processes.running.get(run_id)
        if process is None or process.poll() is not None:
            return False
        _processes.stopping.add(run_id)
    Run.update(state="stopping").where((Run.id == run_id) & (Run.state << ("queued", "running"))).execute()
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def stop_all(timeout=10):
    """Stop every run this server started and wait for them (when the server stops).

    :param timeout: seconds to wait for each before killing it.
    """
    with _processes.lock:
        running = list(_processes.running.items())
    for run_id, _ in running:
        stop_run(run_id)
    for run_id, process in running:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        _record_exit(run_id, process.returncode, True)


def retry_failures(failures):
    """Start one run per task (and release, or catalogue model) that retries the given failed spectra.

    For a task class, the members' keys go to a CSV keys table (``astra run --keys-table``);
    for a ``@task`` method, their ``spectrum_pk`` to ``--where`` with ``--retry-failed``. The
    other parameters they were run with are passed as task parameters.

    :param failures: :class:`~astra.models.run.RunFailure` rows.
    :returns: the runs started.
    :raises FormError: when a failure's task is not registered.
    """
    registered = registered_tasks()
    tasks = {dotted_name(c): name for name, c in registered.items()}
    groups = {}
    for failure in failures:
        name = tasks.get(failure.task)
        if name is None:
            raise FormError(f"{failure.task} is not a registered task (web_tasks): it cannot be retried from here "
                            "(astra run <task> ... runs it again; a re-run retries failed spectra)")
        keys = failure.keys_dict()
        entry = registered[name]
        if is_method(entry):
            batch = {"spectrum_pk"}
            others = tuple(sorted((k, v) for k, v in keys.items() if k not in batch and k != "spectrum_model"))
            groups.setdefault((name, ("model", keys.get("spectrum_model")), others), []).append((failure, keys, batch))
            continue
        batch = set(entry.batch_param_names())
        others = tuple(sorted((k, v) for k, v in keys.items() if k not in batch and k != "release"))
        groups.setdefault((name, keys.get("release"), others), []).append((failure, keys, batch))
    started = []
    for (name, release, others), members in groups.items():
        params = dict(others)
        if isinstance(release, tuple):  # a @task method over a catalogue model
            pks = sorted({int(keys["spectrum_pk"]) for _, keys, _ in members})
            request = RunRequest(name, None, None, {}, task_params=params, model=release[1] or None,
                                 where=f"spectrum_pk IN ({', '.join(str(pk) for pk in pks)})", retry_failed=True)
        else:
            species = params.pop("species", None) or "apStar"
            request = RunRequest(name, release, species, {}, task_params=params,
                                 keys_table=_keys_table(members))
        run = start_run(request, {"retry_of": [f.id for f, _, _ in members]})
        RunFailure.update(retried_by=run.id).where(RunFailure.id << [f.id for f, _, _ in members]).execute()
        started.append(run)
    return started


def _keys_table(members):
    """A CSV keys table of the failed members' batch keys (for ``astra run --keys-table``)."""
    columns = sorted({k for _, keys, batch in members for k in keys if k in batch})
    directory = os.path.join(runs_directory(), "retries")
    os.makedirs(directory, exist_ok=True)
    fd, table = tempfile.mkstemp(prefix="retry-", suffix=".csv", dir=directory)
    with os.fdopen(fd, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=columns)
        writer.writeheader()
        for _, keys, _ in members:
            writer.writerow({c: keys.get(c, "") for c in columns})
    return table


def _user():
    """The user this server runs as (who starts the runs)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in a container without a passwd entry
        return str(os.getuid())
