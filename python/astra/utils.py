"""Small helpers a method module uses, under SDSS Astra's names.

* :data:`log` -- the logger of methods (``log.info(...)``, ``log.exception(...)``), as SDSS
  Astra's ``from astra.utils import log``. Its messages from ``info`` up are shown:

  - on the console (stderr) of ``astra run``, ``luigi --module ...`` or a script, unless the
    application configured logging itself (a handler on the root logger), which then prints
    them;
  - in the run's log ``<output_dir>/runs/<id>/run.log`` and the batch's log beside it, which
    ``astra web`` shows;
  - in Slurm job logs (the console of a job's process).

  It is the ``astra.method`` logger, a child of ``astra``: ``log.setLevel(logging.WARNING)``
  quiets it, ``logging.getLogger("astra.method")`` finds it.
"""

import logging
import sys

__all__ = ["log", "ConsoleHandler"]

_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S"


class ConsoleHandler(logging.Handler):
    """Writes records to the current ``sys.stderr``, unless the root logger has handlers (the
    application configured logging, and the record reaches those by propagation)."""

    def emit(self, record):
        """Write one record (see :class:`logging.Handler`).

        :param record: the :class:`logging.LogRecord`.
        """
        if logging.getLogger().handlers:
            return
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stream must not fail the method
            self.handleError(record)


#: The logger of methods: ``from astra.utils import log; log.info("...")``.
log = logging.getLogger("astra.method")
log.setLevel(logging.INFO)
if not any(isinstance(h, ConsoleHandler) for h in log.handlers):
    _console = ConsoleHandler(logging.INFO)
    _console.setFormatter(logging.Formatter(_FORMAT, _DATEFMT))
    log.addHandler(_console)
