"""Astra batch tasks for the cluster tests (luigid, Slurm, ``astra srun``, the browser).

Workers import this module with ``luigi --module cluster_batch_tasks`` (``tests/`` on
``PYTHONPATH``).

* :class:`Spectrum` -- a batched Astra task (``obj`` is a batch parameter). Its
  ``process()`` appends ``start <obj> <pid> <batch>`` before and ``done <obj> <pid>
  <batch>`` after writing each member's output (atomically), with ``O_APPEND``, to a log;
  tests read it with :func:`read_events`.
* :class:`SpectraGraph` -- one graph of ``n`` spectra: it requires
  ``astra.batch_tasks([Spectrum(obj=(0, ..., n-1))], max_batch_size)``, so the scheduler
  sees ``n / max_batch_size`` batches (plus this wrapper).
* :class:`ShareGraph` -- the same, keeping only this process's share of the batches
  (:func:`astra.cluster.select_share`), for ``--local-scheduler`` jobs.
"""

import json
import os
import time

import luigi

import astra
from astra.cluster.shares import select_share
from astra.tasks import BaseTask

#: Size of the payload written into every output (so a torn write cannot parse).
PAYLOAD_SIZE = 2000


def log_event(path, event, obj, batch_id):
    """Append ``"<event> <obj> <pid> <batch_id>"`` to ``path`` in one ``O_APPEND`` write.

    :param path: the log file.
    :param event: ``"start"`` or ``"done"``.
    :param obj: the member's ``obj``.
    :param batch_id: task id of the batch the member ran in.
    """
    line = "{} {} {} {}\n".format(event, obj, os.getpid(), batch_id).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_events(path):
    """Return the log as a list of ``(event, obj, pid, batch_id)`` tuples (``obj`` an int).

    :param path: the log file (missing: no events).
    :returns: the events in the order they were written.
    """
    if not os.path.exists(path):
        return []
    with open(path) as fp:
        rows = [line.split() for line in fp if line.strip()]
    return [(event, int(obj), pid, batch) for event, obj, pid, batch in rows]


class Spectrum(BaseTask):
    """A trivial per-spectrum analysis: sleeps, then writes ``{"obj": ..., "payload": ...}``."""

    task_namespace = "clusterbatch"
    obj = astra.IntParameter(batch_method=tuple)
    log_path = astra.Parameter(significant=False)
    sleep = astra.FloatParameter(default=0.0, significant=False)

    def output(self):
        return self.local_target("spectrum.json")

    def process(self, task, context):
        log_event(self.log_path, "start", task.obj, self.task_id)
        if self.sleep:
            time.sleep(self.sleep)
        with task.output().open("w") as fp:
            json.dump({"obj": task.obj, "payload": "x" * PAYLOAD_SIZE}, fp)
        log_event(self.log_path, "done", task.obj, self.task_id)


class SpectraGraph(luigi.WrapperTask):
    """``n`` spectra as batches of at most ``batch_size`` :class:`Spectrum` members."""

    n = luigi.IntParameter()
    batch_size = luigi.IntParameter(default=500)
    log_path = luigi.Parameter()
    sleep = luigi.FloatParameter(default=0.0)

    def batches(self):
        """The batches of this graph, in a deterministic order (built once per instance)."""
        cached = self.__dict__.get("_batches")
        if cached is None:
            survey = Spectrum(obj=tuple(range(self.n)), log_path=self.log_path, sleep=self.sleep)
            cached = self._batches = astra.batch_tasks([survey], max_batch_size=self.batch_size)
        return cached

    def requires(self):
        return self.batches()


class ShareGraph(SpectraGraph):
    """:class:`SpectraGraph` keeping only this process's share of the batches."""

    def requires(self):
        return select_share(self.batches())


def wait_for_status_message(luigid, pattern, timeout=60.0, accept=None):
    """Wait until luigid lists a running task whose status message matches ``pattern``.

    :param luigid: a :class:`astra.cluster.luigid.LuigidProcess`.
    :param pattern: a regular expression with one group, e.g. ``r"^(\\d+)/40 spectra$"``.
    :param timeout: seconds before giving up.
    :param accept: optional predicate on the group's value as an int.
    :returns: ``(task_id, task_info)`` from luigid's ``task_list``.
    :raises AssertionError: on timeout (with the last task list seen).
    """
    import re

    deadline = time.monotonic() + timeout
    tasks = {}
    while time.monotonic() < deadline:
        tasks = luigid.api("task_list", status="RUNNING", limit=False)
        for task_id, info in tasks.items():
            match = re.match(pattern, info.get("status_message") or "")
            if match and (accept is None or accept(int(match.group(1)))):
                return task_id, info
        time.sleep(0.1)
    raise AssertionError("no running task with status message {!r} after {}s; running: {}".format(
        pattern, timeout, {t: i.get("status_message") for t, i in tasks.items()}))
