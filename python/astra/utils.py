"""Small helpers a method module uses, under SDSS Astra's names.

* :data:`log` -- the ``astra`` logger (``log.info(...)``, ``log.exception(...)``): messages of
  a method go where Astra's own go (the terminal, Luigi's worker log, Slurm job logs).
"""

import logging

__all__ = ["log"]

#: The ``astra`` logger.
log = logging.getLogger("astra")
