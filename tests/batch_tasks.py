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
