"""Batch tasks used by tests that run workers in other processes (importable from tests/)."""

import json
import os
import time

import astra
from astra.tasks import BaseTask


def _append(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


class CountingBatch(BaseTask):
    """Records each setup() and process() call (with the batch size) in a log file."""

    task_namespace = "batchtests"
    obj = astra.IntParameter(batch_method=tuple)
    record_path = astra.Parameter(significant=False)
    sleep = astra.FloatParameter(default=0.0, significant=False)

    def output(self):
        return self.local_target("out.json")

    def setup(self):
        _append(self.record_path, json.dumps({"setup": self.get_batch_size(), "pid": os.getpid()}))

    def process(self, task, context):
        if self.sleep:
            time.sleep(self.sleep)
        with task.output().open("w") as fp:
            json.dump({"obj": task.obj, "payload": "x" * 10000}, fp)
        _append(self.record_path, json.dumps({"member": task.obj, "pid": os.getpid()}))


def read_log(path):
    """The records of a :class:`CountingBatch` log file."""
    if not os.path.exists(path):
        return []
    with open(path) as fp:
        return [json.loads(line) for line in fp if line.strip()]


def _failing(obj):
    return str(obj) in os.environ.get("ASTRA_TEST_FAIL_OBJ", "").split(",")


class FlakyBatch(BaseTask):
    """Writes one JSON file per member; members named in $ASTRA_TEST_FAIL_OBJ raise."""

    task_namespace = "batchtests"
    obj = astra.Parameter(batch_method=tuple)
    release = astra.Parameter(default="dr17")
    sleep = astra.FloatParameter(default=0.0, significant=False)

    def output(self):
        return self.local_target("flaky.json")

    def process(self, task, context):
        time.sleep(self.sleep)
        if _failing(task.obj):
            raise ValueError(f"no good pixels in {task.obj}")
        with task.output().open("w") as fp:
            json.dump({"obj": task.obj}, fp)


class RunRaises(BaseTask):
    """A seed 002 style task: its own run() reads self.input(), which a batch does not have."""

    task_namespace = "batchtests"
    obj = astra.Parameter(batch_method=tuple)

    def output(self):
        return self.local_target("seed.json")

    def run(self):
        with self.local_target("seed.json").open("w") as fp:  # one spectrum's: fails for a batch
            fp.write("{}")


def _row_result_model():
    from astra.database.examples import EstimateSNRResult

    return EstimateSNRResult


class RowBatch(BaseTask):
    """One result row per member (the database output); members in $ASTRA_TEST_FAIL_OBJ raise."""

    task_namespace = "batchtests"
    obj = astra.Parameter(batch_method=tuple)
    release = astra.Parameter(default="dr17")

    def process(self, task, context):
        if _failing(task.obj):
            raise ValueError(f"no good pixels in {task.obj}")
        return {"snr": float(len(task.obj)), "n_pixels": 10}


def _database_task():
    from astra.database import DatabaseOutputMixin

    class DatabaseRowBatch(DatabaseOutputMixin, RowBatch):
        """:class:`RowBatch` writing to the results database."""

        task_namespace = "batchtests"
        result_model = _row_result_model()
        result_batch_size = 50

    return DatabaseRowBatch


DatabaseRowBatch = _database_task()
