"""Plain Luigi tasks for the cluster tests (luigid, Slurm, ``astra srun``).

Workers import this module with ``luigi --module cluster_tasks`` (``tests/`` on
``PYTHONPATH``).  Every task appends ``start <task> <pid>`` and ``done <task> <pid>``
lines to ``<out_dir>/log.txt`` with ``O_APPEND``, so tests can check that each task ran
to completion exactly once.
"""

import json
import os
import time

import luigi

from astra.cluster.shares import select_share

LOG_NAME = "log.txt"


def log_event(out_dir, event, task_id):
    """Append ``"<event> <task_id> <pid>"`` to the shared log with one atomic write.

    :param out_dir: directory of ``log.txt``.
    :param event: ``"start"`` or ``"done"``.
    :param task_id: the task's id.
    """
    line = "{} {} {}\n".format(event, task_id, os.getpid()).encode()
    fd = os.open(os.path.join(out_dir, LOG_NAME), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_events(out_dir):
    """Return the log as a list of ``(event, task_id, pid)`` tuples.

    :param out_dir: directory of ``log.txt``.
    :returns: the events in the order they were written.
    """
    path = os.path.join(out_dir, LOG_NAME)
    if not os.path.exists(path):
        return []
    with open(path) as fp:
        return [tuple(line.split()) for line in fp if line.strip()]


class Leaf(luigi.Task):
    """One unit of work: sleeps, then writes ``leaf-<i>.txt`` atomically."""

    i = luigi.IntParameter()
    out_dir = luigi.Parameter()
    sleep = luigi.FloatParameter(default=0.0)

    def output(self):
        return luigi.LocalTarget(os.path.join(self.out_dir, "leaf-{}.txt".format(self.i)))

    def run(self):
        log_event(self.out_dir, "start", self.task_id)
        time.sleep(self.sleep)
        with self.output().open("w") as fp:  # LocalTarget writes atomically
            fp.write("{}\n".format(self.i))
        log_event(self.out_dir, "done", self.task_id)


class Root(luigi.Task):
    """Needs ``n`` leaves; writes ``root.txt`` with their sum."""

    n = luigi.IntParameter()
    out_dir = luigi.Parameter()
    sleep = luigi.FloatParameter(default=0.0)

    def requires(self):
        return [Leaf(i=i, out_dir=self.out_dir, sleep=self.sleep) for i in range(self.n)]

    def output(self):
        return luigi.LocalTarget(os.path.join(self.out_dir, "root.txt"))

    def run(self):
        log_event(self.out_dir, "start", self.task_id)
        total = 0
        for target in self.input():
            with target.open() as fp:
                total += int(fp.read())
        with self.output().open("w") as fp:
            fp.write("{}\n".format(total))
        log_event(self.out_dir, "done", self.task_id)


class ShareRoot(luigi.WrapperTask):
    """Needs only this process's share of ``n`` leaves (for ``--local-scheduler`` jobs)."""

    n = luigi.IntParameter()
    out_dir = luigi.Parameter()
    sleep = luigi.FloatParameter(default=0.0)

    def requires(self):
        return select_share([Leaf(i=i, out_dir=self.out_dir, sleep=self.sleep) for i in range(self.n)])


class Echo(luigi.Task):
    """Writes its ``text`` parameter, JSON-encoded, to ``path``: shows what arrived."""

    text = luigi.Parameter()
    path = luigi.Parameter()

    def output(self):
        return luigi.LocalTarget(self.path)

    def run(self):
        with self.output().open("w") as fp:
            json.dump({"text": self.text, "pid": os.getpid()}, fp)
