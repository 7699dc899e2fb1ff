"""Starting runs from a form, and the failed spectra with their retry action."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from astra.models.run import Run, RunFailure
from astra.web import launch, security
from astra.datamodels.paths import sas_root

__all__ = ["blueprint", "FAILURES_PER_PAGE", "SPECIES_CHOICES"]

blueprint = Blueprint("work", __name__)

#: Failed spectra on one page (newest first).
FAILURES_PER_PAGE = 200
#: Species offered in the start form (any sdss-access species may be typed).
SPECIES_CHOICES = ("apStar", "apVisit", "spec", "mwmStar", "mwmVisit", "aspcapStar")


def release_choices(root=None):
    """The releases found at the top of the SAS root (``dr13``, ``dr17``, ``ipl-3``, ...).

    :param root: the SAS root (default: ``SAS_BASE_DIR``).
    :returns: a sorted list of names; empty when the root is missing.
    """
    import os
    import re

    root = root or sas_root()
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if re.fullmatch(r"(dr\d+|ipl-?\d+|sdsswork)", n) and os.path.isdir(os.path.join(root, n)))


def _task_or_404(name):
    tasks = launch.registered_tasks()
    if name not in tasks:
        abort(404, description=f"{name!r} is not a registered task; registered: {', '.join(sorted(tasks)) or 'none'} "
                               "(the web_tasks setting)")
    return tasks[name]


@blueprint.route("/start")
def start_index():
    """Choose a registered task to start."""
    tasks = launch.registered_tasks()
    return render_template("start_index.html", tasks=sorted(tasks.items()), dotted=launch.dotted_name,
                           is_method=launch.is_method)


@blueprint.route("/start/<name>", methods=["GET", "POST"])
def start(name):
    """A registered task's start form: its flags, its other parameters, and the spectra."""
    task_class = _task_or_404(name)
    fields = launch.form_fields(task_class)
    error = None
    if request.method == "POST":
        if not security.token_ok():
            abort(403, description="starting a run needs the access token: enter it at "
                                   f"{url_for('runs.login')} or send Authorization: Bearer <token>")
        try:
            run_request = launch.RunRequest.from_form(name, request.form)
        except launch.FormError as form_error:
            error = str(form_error)
        else:
            run = launch.start_run(run_request)
            return redirect(url_for("runs.run", run_id=run.id))
    values = request.form if request.method == "POST" else None
    releases = release_choices()
    return render_template("start.html", name=name, task_class=task_class, fields=fields, error=error,
                           values=values, species_choices=SPECIES_CHOICES, release_choices=releases,
                           default_release=releases[0] if len(releases) == 1 else "",
                           method=launch.is_method(task_class), time_limit=launch.time_limit(task_class)), (
        400 if error else 200)


@blueprint.route("/api/runs", methods=["POST"])
@security.requires_token
def api_start():
    """``POST /api/runs``: start a registered task; the JSON body holds the start form's fields
    (``task``, ``release``, ``species``, ``filters``, ``limit``, and the task's parameters)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="send a JSON object")
    name = str(body.get("task", ""))
    task_class = _task_or_404(name)
    form = {k: ("on" if v is True else "" if v is False else str(v)) for k, v in body.items() if v is not None}
    for field in launch.form_fields(task_class):  # a flag the call leaves out keeps its default
        if field.kind == "bool" and field.name not in body and field.default == "True":
            form[field.name] = "on"
    try:
        run_request = launch.RunRequest.from_form(name, form)
    except launch.FormError as error:
        abort(400, description=str(error))
    run = launch.start_run(run_request)
    return jsonify(run=run.as_dict()), 201


def _failures_query():
    query = RunFailure.select().order_by(RunFailure.id.desc())
    run_id = request.args.get("run")
    if run_id:
        if not run_id.isdigit():
            abort(400, description="run must be a run id")
        query = query.where(RunFailure.run == int(run_id))
    if request.args.get("open"):
        query = query.where(RunFailure.retried_by.is_null())
    return query


@blueprint.route("/failures")
def failures():
    """The failed spectra: reason, file, run, and a retry action."""
    page = max(1, request.args.get("page", 1, type=int))
    rows = list(_failures_query().paginate(page, FAILURES_PER_PAGE))
    run = Run.get_or_none(Run.id == int(request.args["run"])) if request.args.get("run") else None
    return render_template("failures.html", failures=rows, page=page, per_page=FAILURES_PER_PAGE, run=run)


@blueprint.route("/failures/retry", methods=["POST"])
@security.requires_token
def retry():
    """Start runs that retry the chosen failed spectra."""
    ids = [int(i) for i in request.form.getlist("failure") if i.isdigit()]
    if not ids:
        flash("choose the failed spectra to retry")
        return redirect(request.referrer or url_for("work.failures"))
    chosen = list(RunFailure.select().where(RunFailure.id << ids))
    try:
        started = launch.retry_failures(chosen)
    except launch.FormError as error:
        abort(400, description=str(error))
    flash(f"retrying {len(chosen)} spectra in run(s) " + ", ".join(str(r.id) for r in started))
    return redirect(url_for("runs.run", run_id=started[0].id))
