"""Astra's tasks: :class:`BaseTask` and the machinery around it."""

from astra.tasks.base import BaseTask, BatchSizeError

__all__ = ["BaseTask", "BatchSizeError"]
