"""Moved: continuum normalisation is :mod:`astra.contrib.continuum`.

Importing this module still works (it re-exports the method, private names included) but
warns; write ``from astra.contrib.continuum import ContinuumNormalise, normalise`` instead.
"""

import warnings

from astra.contrib.continuum import tasks as _moved
from astra.contrib.continuum.tasks import *  # noqa: F401,F403

warnings.warn(
    "astra.tasks.continuum moved to astra.contrib.continuum; import from there "
    "(e.g. 'from astra.contrib.continuum import ContinuumNormalise, normalise')",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = list(_moved.__all__)


def __getattr__(name):
    return getattr(_moved, name)
