"""LocalTargetTask: an external task for a local file that Astra does not make (a trained model)."""

import os

from astra.parameters import Parameter
from astra.targets import AtomicFileTarget
from astra.tasks.base import BaseTask

__all__ = ["LocalTargetTask"]


class LocalTargetTask(BaseTask):
    """A file that must exist before a task can run, such as a trained model.

    It is an external data dependency: Luigi never runs it; it is complete when the file exists.

    :param path: the file's path (``~`` and environment variables are expanded).
    """

    path = Parameter(description="path of the file")

    #: No run(): Luigi treats the task as external data.
    run = None

    def output(self):
        """A file target at :attr:`path`."""
        return AtomicFileTarget(os.path.expandvars(os.path.expanduser(self.path)))
