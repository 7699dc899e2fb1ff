"""What each step of ``astra daily`` does (:func:`run_step`), and would do (:func:`preview_step`).

* a **migration** runs :func:`astra.models.migrate.migrate_files`: new and changed files
  become catalogue rows; unchanged files are not opened;
* a **pipeline** runs its ``@task`` method over the spectra of each input model that have no
  up-to-date result (:func:`astra.tasks.function_runner.run_pending`): what migrate just added,
  and what an upstream pipeline's new results make due;
* a **product** runs ``astra create``'s :func:`astra.products.create_summary`, unless the
  results table is exactly as it was when the product was last written (same row count, last
  ``modified`` and last key) and the file is still there.

Each returns a *record* (a JSON-serialisable dict) that :mod:`astra.daily.tasks` keeps as the
step's marker for the day. ``record["problems"]`` counts what went wrong without failing the
step (bad files, spectra whose method raised): the day's exit status is 1 when it is not 0.
A step that cannot do its work at all raises :class:`StepError`.
"""

import dataclasses
import json
import os

from astra.targets import atomic_open

__all__ = ["StepError", "DayContext", "run_step", "preview_step", "product_state_path"]

#: Failed spectra or bad files listed by name in a record (all are in the database).
LISTED = 20


class StepError(RuntimeError):
    """A step could not do its work (the message says why); the steps that need it do not run."""


@dataclasses.dataclass
class DayContext:
    """How the day runs: the Luigi scheduler the pipelines' batches go to.

    :param scheduler_host: a central luigid's host, or ``None`` for the local scheduler.
    :param scheduler_port: its port.
    """

    scheduler_host: str = None
    scheduler_port: int = None


def _migrate(step, dry_run=False):
    from astra.models.migrate import migrate_files

    spec = step.spec
    try:
        summary = migrate_files(spec["release"], spec["species"], sas_base_dir=spec["sas_base_dir"],
                                workers=spec["workers"], dry_run=dry_run, **spec["filters"])
    except (ValueError, LookupError) as error:
        raise StepError(str(error)) from None
    if not summary.found and not dry_run:
        root = spec["sas_base_dir"] or os.environ.get("SAS_BASE_DIR") or "SAS_BASE_DIR (not set)"
        raise StepError(f"no {spec['species']} files of {spec['release']} found under {root}")
    return summary


def _run_migrate(step, context):
    summary = _migrate(step)
    return {
        "text": str(summary),
        "new": summary.new, "changed": summary.changed, "unchanged": summary.unchanged,
        "bad": summary.bad, "gone": summary.gone,
        "details": summary.details()[:LISTED],
        "problems": summary.bad,
    }


def _function(step):
    from astra.tasks.function_runner import load_task_function

    return load_task_function(step.spec["task"])


def _run_pipeline(step, context):
    from astra.tasks.function_runner import run_pending

    function = _function(step)
    spec = step.spec
    models, problems, texts = {}, 0, []
    for model_name in spec["inputs"]:
        n, summary = run_pending(function, model_name, task_params=spec["params"], workers=spec["workers"] or 1,
                                 max_batch_size=spec["max_batch_size"], scheduler_host=context.scheduler_host,
                                 scheduler_port=context.scheduler_port)
        entry = {"pending": n, "done": 0, "failed": 0, "not_run": 0, "failures": []}
        if summary is not None:
            entry.update(done=summary.done - summary.skipped, failed=summary.n_failed, not_run=summary.not_run,
                         failures=[list(f) for f in summary.failed[:LISTED]])
            if summary.not_run:
                reasons = "; ".join(f"{count}: {reason}" for reason, count in summary.not_run_reasons.items())
                raise StepError(f"{model_name}: {summary.not_run} of {n} spectra were not run ({reasons})")
        models[model_name] = entry
        problems += entry["failed"]
        texts.append(f"{model_name}: {n} spectra, {entry['done']} done, {entry['failed']} failed")
    return {"text": "; ".join(texts), "models": models, "problems": problems}


def product_state_path(name):
    """Where the fingerprint of the last written product ``name`` is kept (across days).

    :param name: the product step's name.
    """
    import astra.config

    return os.path.join(os.path.expanduser(astra.config.get("output_dir")), "daily", "products", f"{name}.json")


def _product_model(step):
    from astra.database import get_model

    return get_model(step.spec["model"])


def _product_path(step, model):
    from astra.products.summary import default_summary_path

    return step.spec["output"] or default_summary_path(model)


def _fingerprint(model):
    """``[rows, last modified, last key]`` of a results table: equal when nothing was written."""
    import peewee

    from astra.database import get_database

    db = get_database()
    if not db.table_exists(model._meta.table_name):
        return [0, None, None]
    fields = model._meta.fields
    columns = [peewee.fn.COUNT(peewee.SQL("*"))]
    columns.append(peewee.fn.MAX(fields["modified"]) if "modified" in fields else peewee.SQL("NULL"))
    columns.append(peewee.fn.MAX(model._meta.primary_key))
    row = model.select(*columns).tuples().first()
    return json.loads(json.dumps(list(row), default=str))


def _last_written(step):
    try:
        with open(product_state_path(step.name)) as fp:
            return json.load(fp)
    except (OSError, ValueError):
        return {}


def _run_product(step, context):
    from astra.products import create_summary

    model = _product_model(step)
    path = _product_path(step, model)
    fingerprint = _fingerprint(model)
    last = _last_written(step)
    if last.get("fingerprint") == fingerprint and last.get("path") == path and last.get("key") == step.key \
            and os.path.exists(path):
        return {"text": f"{path} is up to date ({last.get('rows')} rows; no result changed)", "path": path,
                "rows": last.get("rows"), "written": False, "problems": 0}
    filters = step.spec["filters"] or None
    try:
        path, rows = create_summary(model, path, overwrite=True, filters=filters, where=step.spec["where"])
    except ValueError as error:
        raise StepError(f"cannot create {step.name}: {error}") from None
    with atomic_open(product_state_path(step.name)) as fp:
        json.dump({"fingerprint": fingerprint, "path": path, "rows": rows, "key": step.key}, fp)
    return {"text": f"wrote {rows} rows to {path}", "path": path, "rows": rows, "written": True, "problems": 0}


_RUN = {"migrate": _run_migrate, "pipeline": _run_pipeline, "product": _run_product}


def run_step(step, context=None):
    """Do one step's work.

    :param step: a :class:`~astra.daily.plan.Step`.
    :param context: a :class:`DayContext` (default: the local scheduler).
    :returns: the step's record (``text``, ``problems`` and what the kind reports).
    :raises StepError: when the step cannot do its work.
    """
    return _RUN[step.kind](step, context or DayContext())


def _pending_count(model, output_model):
    """Spectra of ``model`` without an up-to-date ``output_model`` result; creates no table."""
    from astra.database import get_database
    from astra.tasks.function_query import pending_spectra

    db = get_database()
    if not db.table_exists(model._meta.table_name):
        return 0
    if not db.table_exists(output_model._meta.table_name):
        return model.select().count()
    return pending_spectra(model, output_model).count()


def preview_step(step, incoming):
    """What ``step`` would do now, without doing it (``astra daily --dry-run``).

    :param step: a :class:`~astra.daily.plan.Step`.
    :param incoming: ``{step name: number of new or changed things}`` of the steps previewed
        before (a pipeline after a migration with new files says they will be added).
    :returns: ``(one line of text, number of new or changed things it would handle)``.
    """
    if step.kind == "migrate":
        summary = _migrate(step, dry_run=True)
        n = summary.new + summary.changed
        text = f"would ingest {summary.new} new and {summary.changed} changed files ({summary.unchanged} unchanged)"
        if not summary.found:
            text = "finds no files (the step would fail)"
        return text, n
    if step.kind == "pipeline":
        function = _function(step)
        counts = {m: _pending_count(function.input_model(m), function.output_model) for m in step.spec["inputs"]}
        n = sum(counts.values())
        text = "would run over " + ", ".join(f"{c} {m} spectra" for m, c in counts.items()) + " without a result"
        more = sum(incoming.get(name, 0) for name in step.requires)
        if more:
            text += f", and what the {more} new or changed before it bring"
        return text, n + more
    model = _product_model(step)
    path = _product_path(step, model)
    last = _last_written(step)
    more = sum(incoming.get(name, 0) for name in step.requires)
    if not more and last.get("fingerprint") == _fingerprint(model) and last.get("key") == step.key and os.path.exists(path):
        return f"{path} is up to date", 0
    return f"would write {path}", 1
