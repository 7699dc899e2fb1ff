"""Moved to :mod:`astra.datamodels.paths` (path knowledge belongs to the data models).

``import astra.tasks.io.paths`` still works: it is the same module object, so existing code and
its monkeypatches behave as before. New code imports :mod:`astra.datamodels.paths`.
"""

import sys

from astra.datamodels import paths as _moved

sys.modules[__name__] = _moved
