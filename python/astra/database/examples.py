"""Moved: rocket's results model is :class:`astra.contrib.rocket.results.EstimateSNRResult`.

This module re-exports it, so existing imports and ``astra create
astra.database.examples.EstimateSNRResult`` keep working; import it from
``astra.contrib.rocket.results`` in new code.
"""

from astra.contrib.rocket.results import EstimateSNRResult

__all__ = ["EstimateSNRResult"]
