"""Moved to :mod:`astra.datamodels.find` (path knowledge belongs to the data models).

``import astra.tasks.io.find`` still works: it is the same module object, so existing code and
its monkeypatches behave as before. New code imports :mod:`astra.datamodels.find`.
"""

import sys

from astra.datamodels import find as _moved

sys.modules[__name__] = _moved
