"""Tasks for the claims tests and bench: EstimateSNR that logs every spectrum it computes.

Each computed spectrum appends ``<task id> <pid>`` to the file named by ``$ASTRA_CLAIM_LOG``
(one ``O_APPEND`` write per line, so concurrent processes never interleave a line); a
spectrum computed twice appears twice. ``$ASTRA_CLAIM_SLEEP`` adds seconds per spectrum.
"""

import os
import time

from astra.contrib.rocket import EstimateSNR
from rocket_database import EstimateSNRToDatabase


def log_computed(task):
    """Append ``task``'s id and this pid to ``$ASTRA_CLAIM_LOG`` (if set)."""
    delay = float(os.environ.get("ASTRA_CLAIM_SLEEP") or 0)
    if delay:
        time.sleep(delay)
    path = os.environ.get("ASTRA_CLAIM_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{task.task_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def read_computed(path):
    """The task ids in a log written by :func:`log_computed`, one per computation."""
    if not os.path.exists(path):
        return []
    with open(path) as fp:
        return [line.split()[0] for line in fp if line.strip()]


class LoggedSNR(EstimateSNR):
    """:class:`EstimateSNR` (file outputs) that logs each spectrum it computes."""

    task_namespace = "claimtests"

    def process(self, task, context):
        log_computed(task)
        return super().process(task, context)


class LoggedSNRToDatabase(EstimateSNRToDatabase):
    """:class:`EstimateSNRToDatabase` (database outputs) that logs each spectrum it computes."""

    task_namespace = "claimtests"

    def process(self, task, context):
        log_computed(task)
        return super().process(task, context)
