"""Moved to :mod:`astra.datamodels.special` (path knowledge belongs to the data models).

``import astra.tasks.io.special`` still works: it is the same module object, so existing code and
its monkeypatches behave as before. New code imports :mod:`astra.datamodels.special`.
"""

import sys

from astra.datamodels import special as _moved

sys.modules[__name__] = _moved
