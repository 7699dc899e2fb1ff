"""Continuum normalisation: :class:`ContinuumNormalise` and the functions it is built on.

The method lives in :mod:`astra.contrib.continuum.tasks` (it moved here from
``astra.tasks.continuum``, which still re-exports it with a deprecation warning).
"""

from astra.contrib.continuum import tasks as _tasks
from astra.contrib.continuum.tasks import *  # noqa: F401,F403 -- the names listed in tasks.__all__

__all__ = list(_tasks.__all__)
