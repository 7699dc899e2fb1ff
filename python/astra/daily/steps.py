"""What each step of ``astra daily`` does (:func:`run_step`), and would do (:func:`preview_step`).

* a **migration** runs :func:`astra.models.migrate.migrate_files`: new and changed files
  become catalogue rows; unchanged files are not opened;
* a **pipeline** runs its ``@task`` method over the spectra of each input model that have no
  up-to-date result (:func:`astra.tasks.function_runner.run_pending`): what migrate just added,
  and what an upstream pipeline's new results make due. With an ``srun`` mapping the spectra
  go to Slurm instead (``astra srun <task> <Model>``, which splits them into disjoint
  ``spectrum_pk`` ranges), and the step then checks in the database that each has a result;
* a **product** runs ``astra create``'s :func:`astra.products.create_product`, unless
  :func:`astra.products.product_is_current` says the file already holds what it would write
  (a named product whose row count and latest ``modified`` match the database's).

Each returns a *record* (a JSON-serialisable dict) that :mod:`astra.daily.tasks` keeps as the
step's marker for the day. ``record["problems"]`` counts what went wrong without failing the
step (bad files, spectra whose method raised): the day's exit status is 1 when it is not 0.
A step that cannot do its work at all raises :class:`StepError`.

A pipeline step analyses new and changed spectra; it leaves a spectrum that failed on an
earlier day alone (:data:`RETRY_FAILED`: the day's summary reported it then, and a daily run
would otherwise meet every lasting failure again each day). ``astra run <task> <Model>`` (whose
failure policy retries them, :mod:`astra.core.outcome`) or a changed file runs it again.
"""

import dataclasses
import json
import os


__all__ = ["StepError", "DayContext", "run_step", "preview_step", "srun_argv"]

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


def _argument(value):
    """A method argument as ``astra run`` parses it from the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


#: Whether a pipeline step retries spectra that failed on an earlier day (see the module).
RETRY_FAILED = False


def srun_argv(step, model_name):
    """The ``astra srun <options> <task> <Model> -- <params>`` command of a pipeline with ``srun``.

    :param step: a pipeline step whose spec has an ``srun`` mapping (``astra srun``'s options).
    :param model_name: the input model.
    """
    from astra.cluster.slurm import astra_command

    spec = step.spec
    options = [item for name, value in spec["srun"].items() for item in (f"--{name.replace('_', '-')}", value)]
    params = [item for name, value in spec["params"].items() for item in (f"--{name.replace('_', '-')}", _argument(value))]
    policy = ["--retry-failed" if RETRY_FAILED else "--skip-failed"]
    return astra_command("srun", options + [spec["task"], model_name] + policy + (["--"] + params if params else []))


def _run_on_slurm(step, function, model_name):
    """``astra srun`` over the pending spectra of ``model_name``, judged by the database afterwards.

    The spectra pending before the submission must all have a result afterwards (a flagged one
    counts as a failed spectrum); whatever ``astra srun`` printed is kept for the record.
    """
    import subprocess

    from astra.models.pipeline import major_minor
    from astra.tasks.function_query import Currency, pending_spectra

    model = function.input_model(model_name)
    currency = Currency(function, step.spec["params"])  # the step's parameters decide what is out of date
    pending = pending_spectra(model, function, retry_failed=RETRY_FAILED, currency=currency)
    keys = [pk for (pk,) in pending.select(model.spectrum_pk).tuples()]
    entry = {"pending": len(keys), "done": 0, "failed": 0, "not_run": 0, "failures": []}
    if not keys:
        return entry
    argv = srun_argv(step, model_name)
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    output = (done.stdout + done.stderr).strip().splitlines()
    pending = pending_spectra(model, function, retry_failed=RETRY_FAILED, currency=currency)
    left = {pk for (pk,) in pending.select(model.spectrum_pk).tuples()} & set(keys)
    out, failed = function.output_model, []
    for start in range(0, len(keys), 900):
        chunk = keys[start:start + 900]
        failed.extend(out.select(out.spectrum_pk, out.error).where(
            out.spectrum_pk.in_(chunk) & (out.v_astra_major_minor == major_minor()) & out.flag_runtime_exception).tuples())
    entry.update(done=len(keys) - len(left) - len(failed), failed=len(failed), not_run=len(left),
                 failures=[[f"{function.name}(spectrum_pk={pk})", error] for pk, error in failed[:LISTED]],
                 srun=" ".join(argv), srun_exit_status=done.returncode, srun_output=output[-LISTED:])
    if left:
        raise StepError(f"{model_name}: {len(left)} of {len(keys)} spectra have no result after astra srun "
                        f"(exit status {done.returncode}): {output[-1] if output else 'no output'}")
    return entry


def _run_pipeline(step, context):
    from astra.tasks.function_runner import run_pending

    function = _function(step)
    spec = step.spec
    models, problems, texts = {}, 0, []
    for model_name in spec["inputs"]:
        if spec.get("srun") is not None:
            entry = models[model_name] = _run_on_slurm(step, function, model_name)
            problems += entry["failed"]
            texts.append(f"{model_name}: {entry['pending']} spectra on Slurm, {entry['done']} done, {entry['failed']} failed")
            continue
        n, summary = run_pending(function, model_name, retry_failed=RETRY_FAILED, task_params=spec["params"],
                                 workers=spec["workers"] or 1,
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


def _product(step):
    from astra.products import resolve_product

    return resolve_product(step.spec["product"], step.spec["method"])


def _product_path(step, product):
    from astra.products import product_path

    releases = step.spec["release"] or []
    return os.path.abspath(step.spec["output"] or product_path(product, releases[0] if len(releases) == 1 else None))


def _product_options(step):
    spec = step.spec
    return {"release": spec["release"], "filters": spec["filters"] or None, "where": spec["where"]}


def _run_product(step, context):
    import peewee

    from astra.products import create_product, product_is_current

    product = _product(step)
    path = _product_path(step, product)
    try:
        if product_is_current(product, path, **_product_options(step)):
            return {"text": f"{path} is up to date (nothing it is made from changed)", "path": path,
                    "written": False, "problems": 0}
        path, rows = create_product(product, path, overwrite=True, **_product_options(step))
    except (ValueError, peewee.DatabaseError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise StepError(f"cannot create {product.name}: {first}") from None
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


def _pending_count(model, function, params=None):
    """Spectra of ``model`` that ``function`` would analyse now (with the step's ``params``),
    without creating any table.

    :returns: a count, or ``None`` when it cannot be told without creating the results table
        (a downstream method that has never run).
    """
    from astra.database import get_database
    from astra.tasks.function_query import Currency, pending_spectra

    db = get_database()
    upstreams = [u.model for u in getattr(function, "upstreams", {}).values()]
    if not db.table_exists(model._meta.table_name) or not all(db.table_exists(u._meta.table_name) for u in upstreams):
        return 0  # no spectra, or no upstream results to choose them by, yet
    if not db.table_exists(function.output_model._meta.table_name):
        return None if upstreams else model.select().count()
    return pending_spectra(model, function, retry_failed=RETRY_FAILED, currency=Currency(function, params)).count()


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
        counts = {m: _pending_count(function.input_model(m), function, step.spec.get("params"))
                  for m in step.spec["inputs"]}
        n = sum(c or 0 for c in counts.values())
        text = "would run over " + ", ".join(f"{'an unknown number of' if c is None else c} {m} spectra"
                                             for m, c in counts.items()) + " without a result"
        more = sum(incoming.get(name, 0) for name in step.requires)
        if more:
            text += f", plus those the steps before it make due ({more} new or changed there)"
        return text, n + more
    from astra.products import product_is_current

    product = _product(step)
    path = _product_path(step, product)
    more = sum(incoming.get(name, 0) for name in step.requires)
    if not more and product_is_current(product, path, **_product_options(step)):
        return f"{path} is up to date", 0
    return f"would write {path}", 1
