"""The record of every run, its batches and its failed spectra, in the results database.

:class:`Run` is one ``astra run``, ``astra srun``, ``astra.build`` call (or a run started from
``astra web``); :class:`RunBatch` is one batch task of a run; :class:`RunFailure` is one
spectrum that failed in a batch. They live beside the results tables (SQLite by default,
PostgreSQL by URL) so ``astra web`` reads runs and results from one place. They are written
by :mod:`astra.runs`; the tables are created on first use (:func:`ensure_run_tables`).
"""

import datetime
import json
import threading
import weakref

import peewee

from astra.database.connection import get_database
from astra.models.base import BaseModel

__all__ = [
    "Run",
    "RunBatch",
    "RunFailure",
    "RUN_MODELS",
    "ACTIVE_STATES",
    "FINAL_STATES",
    "ensure_run_tables",
    "utcnow",
]

#: States of a run or batch that may still change.
ACTIVE_STATES = ("queued", "pending", "running", "stopping", "submitted")
#: States a run or batch ends in.
FINAL_STATES = ("done", "failed", "stopped", "error", "not run")


def utcnow():
    """The current time in UTC, without a time zone (as stored)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)



def _json_dict(text):
    """A JSON object stored as text, as a dict; an empty dict when it is missing or unreadable."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

class _CountsMixin:
    """Progress helpers shared by runs and batches (``total``, ``done``, ``failed``, ``skipped``)."""

    @property
    def finished(self):
        """Spectra finished so far (done, failed or skipped)."""
        return (self.done or 0) + (self.failed or 0) + (self.skipped or 0)

    @property
    def percent(self):
        """Percentage of the spectra finished (100 for a run with none)."""
        if not self.total:
            return 100 if self.state in FINAL_STATES else 0
        return min(100, int(100 * self.finished / self.total))

    def counts(self):
        """The counts and state as a dict (for the JSON API)."""
        return {
            "total": self.total, "done": self.done, "failed": self.failed, "skipped": self.skipped,
            "percent": self.percent, "state": self.state,
        }


class Run(_CountsMixin, BaseModel):
    """One run: what was started, by whom, where, and how far it got.

    ``done`` counts spectra analysed in this run, ``skipped`` those already complete before
    it, ``failed`` those that raised, ``not_run`` those whose batch never ran.
    """

    kind = peewee.TextField(help_text="astra run, astra srun, astra.build or astra web")
    task = peewee.TextField(null=True, help_text="the task as module.Class")
    task_family = peewee.TextField(null=True, index=True)
    parameters = peewee.TextField(default="{}", help_text="JSON: release, species, filters, task parameters")
    command = peewee.TextField(null=True)
    host = peewee.TextField(null=True)
    user = peewee.TextField(null=True)
    pid = peewee.IntegerField(null=True)
    parent = peewee.ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL")
    state = peewee.TextField(default="queued", index=True)
    created = peewee.DateTimeField(default=utcnow)
    started = peewee.DateTimeField(null=True)
    ended = peewee.DateTimeField(null=True)
    total = peewee.IntegerField(default=0)
    done = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)
    not_run = peewee.IntegerField(default=0)
    batches = peewee.IntegerField(default=0)
    exit_code = peewee.IntegerField(null=True)
    message = peewee.TextField(null=True)
    log_path = peewee.TextField(null=True)

    def parameters_dict(self):
        """The parameters as a dict (an empty one when they cannot be read)."""
        return _json_dict(self.parameters)

    def as_dict(self):
        """The run as a JSON-ready dict."""
        return {
            "id": self.id, "kind": self.kind, "task": self.task, "task_family": self.task_family,
            "parameters": self.parameters_dict(), "command": self.command, "host": self.host,
            "user": self.user, "pid": self.pid, "parent": self.parent_id,
            "created": _iso(self.created), "started": _iso(self.started), "ended": _iso(self.ended),
            "not_run": self.not_run, "batches": self.batches, "exit_code": self.exit_code,
            "message": self.message, **self.counts(),
        }


class RunBatch(_CountsMixin, BaseModel):
    """One batch task of a run (a single-spectrum task counts as a batch of one)."""

    run = peewee.ForeignKeyField(Run, backref="batch_rows", on_delete="CASCADE")
    task_id = peewee.TextField()
    task_family = peewee.TextField(null=True)
    summary = peewee.TextField(null=True, help_text="how many members and the first few keys")
    state = peewee.TextField(default="pending")
    host = peewee.TextField(null=True)
    pid = peewee.IntegerField(null=True)
    started = peewee.DateTimeField(null=True)
    ended = peewee.DateTimeField(null=True)
    total = peewee.IntegerField(default=0)
    done = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)
    message = peewee.TextField(null=True)
    log_path = peewee.TextField(null=True)

    class Meta:
        indexes = ((("run", "task_id"), True),)

    def as_dict(self):
        """The batch as a JSON-ready dict."""
        return {
            "id": self.id, "run": self.run_id, "task_id": self.task_id, "task_family": self.task_family,
            "summary": self.summary, "host": self.host, "pid": self.pid, "started": _iso(self.started),
            "ended": _iso(self.ended), "message": self.message, **self.counts(),
        }


class RunFailure(BaseModel):
    """One spectrum that failed: the reason, its input file and what is needed to retry it."""

    run = peewee.ForeignKeyField(Run, backref="failure_rows", on_delete="CASCADE")
    batch = peewee.ForeignKeyField(RunBatch, null=True, backref="failure_rows", on_delete="SET NULL")
    task_id = peewee.TextField(index=True)
    task = peewee.TextField(null=True, help_text="the task as module.Class")
    reason = peewee.TextField()
    path = peewee.TextField(null=True, help_text="the input file")
    keys = peewee.TextField(default="{}", help_text="JSON: the member's parameters as text")
    traceback = peewee.TextField(null=True)
    created = peewee.DateTimeField(default=utcnow)
    retried_by = peewee.ForeignKeyField(Run, null=True, backref="retries", on_delete="SET NULL")

    def keys_dict(self):
        """The member's parameters (as text) as a dict."""
        return _json_dict(self.keys)

    def as_dict(self):
        """The failure as a JSON-ready dict."""
        return {
            "id": self.id, "run": self.run_id, "batch": self.batch_id, "task_id": self.task_id,
            "task": self.task, "reason": self.reason, "path": self.path, "keys": self.keys_dict(),
            "created": _iso(self.created), "retried_by": self.retried_by_id,
        }


#: The run-record models, in creation order.
RUN_MODELS = (Run, RunBatch, RunFailure)

_ready = weakref.WeakKeyDictionary()
_ready_lock = threading.Lock()


def ensure_run_tables(db=None):
    """Create the run tables in ``db`` (default: the bound database) if they do not exist.

    :param db: a peewee database.
    :returns: the database.
    """
    db = db if db is not None else get_database()
    with _ready_lock:
        if _ready.get(db):
            return db
        with db.bind_ctx(RUN_MODELS):
            db.create_tables(RUN_MODELS, safe=True)
        _ready[db] = True
    return db


def _iso(value):
    return value.isoformat() + "Z" if value is not None else None
