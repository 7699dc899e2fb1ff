"""Runs and batches: list and detail pages, live logs, and the JSON API beside them."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from astra.models.run import ACTIVE_STATES, Run, RunBatch, RunFailure
from astra.web import launch, security
from astra.web.logs import read_log

__all__ = ["blueprint", "RUNS_PER_PAGE", "BATCHES_PER_PAGE"]

blueprint = Blueprint("runs", __name__)

#: Runs on one page of the list (newest first, keyset pagination on the id).
RUNS_PER_PAGE = 100
#: Batches on one page of a run's detail page.
BATCHES_PER_PAGE = 200


def _int_arg(name, default=None, low=None, high=None):
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        value = int(value)
    except ValueError:
        abort(400, description=f"{name} must be a whole number, not {value!r}")
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def _runs_page():
    """The runs of one list page: ``(runs, id for the next page or None)``."""
    limit = _int_arg("limit", RUNS_PER_PAGE, 1, 1000)
    query = Run.select().order_by(Run.id.desc())
    before = _int_arg("before")
    if before is not None:
        query = query.where(Run.id < before)
    ids = request.args.get("ids")
    if ids:
        try:
            query = query.where(Run.id << [int(i) for i in ids.split(",") if i])
        except ValueError:
            abort(400, description="ids must be whole numbers separated by commas")
    state = request.args.get("state")
    if state == "active":
        query = query.where(Run.state << ACTIVE_STATES)
    elif state:
        query = query.where(Run.state == state)
    task = request.args.get("task")
    if task:
        query = query.where(Run.task_family == task)
    runs = list(query.limit(limit + 1))
    more = runs[limit - 1].id if len(runs) > limit else None
    return runs[:limit], more


def _run_or_404(run_id):
    run = Run.get_or_none(Run.id == run_id)
    if run is None:
        abort(404, description=f"no run {run_id}")
    return run


def _batch_or_404(run_id, batch_id):
    batch = RunBatch.get_or_none((RunBatch.id == batch_id) & (RunBatch.run == run_id))
    if batch is None:
        abort(404, description=f"run {run_id} has no batch {batch_id}")
    return batch


def _batches_page(run):
    page = _int_arg("batch_page", 1, 1)
    query = RunBatch.select().where(RunBatch.run == run.id).order_by(RunBatch.id)
    return list(query.paginate(page, BATCHES_PER_PAGE)), page


@blueprint.route("/")
def index():
    """The runs list is the home page."""
    return redirect(url_for("runs.runs"))


@blueprint.route("/runs")
def runs():
    """The runs, newest first, each with a live progress bar."""
    rows, more = _runs_page()
    return render_template("runs.html", runs=rows, more=more, active=ACTIVE_STATES)


@blueprint.route("/runs/<int:run_id>")
def run(run_id):
    """A run: what was started, its counts, its batches, its failures and its live log."""
    row = _run_or_404(run_id)
    batches, page = _batches_page(row)
    failures = RunFailure.select().where(RunFailure.run == row.id).count()
    children = list(Run.select().where(Run.parent == row.id).order_by(Run.id).limit(200))
    return render_template("run.html", run=row, batches=batches, batch_page=page, failures=failures,
                           children=children, per_page=BATCHES_PER_PAGE, active=ACTIVE_STATES)


@blueprint.route("/runs/<int:run_id>/batches/<int:batch_id>")
def batch(run_id, batch_id):
    """A batch: its members' summary, its progress and its live log (luigid's tracking URL)."""
    row = _batch_or_404(run_id, batch_id)
    failures = list(RunFailure.select().where(RunFailure.batch == row.id).order_by(RunFailure.id).limit(500))
    return render_template("batch.html", run=row.run, batch=row, failures=failures, active=ACTIVE_STATES)


@blueprint.route("/runs/<int:run_id>/stop", methods=["POST"])
@security.requires_token
def stop(run_id):
    """Stop a run started from this server."""
    row = _run_or_404(run_id)
    if launch.stop_run(row.id):
        flash(f"run {row.id}: stopping")
    else:
        flash(f"run {row.id} is not a running process of this server; it cannot be stopped from here")
    return redirect(url_for("runs.run", run_id=row.id))


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """Enter the access token once for this browser session."""
    if request.method == "POST":
        if security.authorize(request.form.get("token", "")):
            target = request.args.get("next") or ""
            local = target.startswith("/") and not target.startswith(("//", "/\\"))  # no redirect off this site
            return redirect(target if local else url_for("runs.runs"))
        flash("that is not the access token")
    return render_template("login.html")


# ------------------------------------------------------------------------------------- API


@blueprint.route("/api/runs")
def api_runs():
    """``GET /api/runs``: runs with counts and state (``?before=``, ``?limit=``, ``?state=``,
    ``?ids=1,2``, ``?task=``)."""
    rows, more = _runs_page()
    return jsonify(runs=[r.as_dict() for r in rows], next_before=more)


@blueprint.route("/api/runs/<int:run_id>")
def api_run(run_id):
    """``GET /api/runs/<id>``: one run, its batches (a page: ``?batch_page=``) and failures count."""
    row = _run_or_404(run_id)
    batches, page = _batches_page(row)
    failures = RunFailure.select().where(RunFailure.run == row.id).count()
    children = [c.as_dict() for c in Run.select().where(Run.parent == row.id).order_by(Run.id).limit(200)]
    return jsonify(run=row.as_dict(), batches=[b.as_dict() for b in batches], batch_page=page,
                   failures=failures, children=children)


@blueprint.route("/api/runs/<int:run_id>/log")
def api_run_log(run_id):
    """``GET /api/runs/<id>/log?offset=N``: the run's log from byte N (-1: its end)."""
    row = _run_or_404(run_id)
    return jsonify(**read_log(row.log_path, _int_arg("offset", -1)), state=row.state)


@blueprint.route("/api/runs/<int:run_id>/batches/<int:batch_id>")
def api_batch(run_id, batch_id):
    """``GET /api/runs/<id>/batches/<batch>``: one batch's counts and state."""
    return jsonify(batch=_batch_or_404(run_id, batch_id).as_dict())


@blueprint.route("/api/runs/<int:run_id>/batches/<int:batch_id>/log")
def api_batch_log(run_id, batch_id):
    """``GET /api/runs/<id>/batches/<batch>/log?offset=N``: the batch's log from byte N."""
    row = _batch_or_404(run_id, batch_id)
    return jsonify(**read_log(row.log_path, _int_arg("offset", -1)), state=row.state)


@blueprint.route("/api/runs/<int:run_id>/failures")
def api_failures(run_id):
    """``GET /api/runs/<id>/failures``: the run's failed spectra (reason, file, keys)."""
    row = _run_or_404(run_id)
    query = RunFailure.select().where(RunFailure.run == row.id).order_by(RunFailure.id).limit(10000)
    return jsonify(failures=[f.as_dict() for f in query])


@blueprint.route("/api/runs/<int:run_id>/stop", methods=["POST"])
@security.requires_token
def api_stop(run_id):
    """``POST /api/runs/<id>/stop``: stop a run started from this server."""
    row = _run_or_404(run_id)
    return jsonify(stopping=launch.stop_run(row.id), run=row.id)
