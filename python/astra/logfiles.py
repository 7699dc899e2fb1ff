"""Logging that a full disk does not turn into thousands of tracebacks.

* :class:`LogFile`: Python's :class:`logging.FileHandler` prints ``--- Logging error ---`` and a
  traceback for each record it cannot write, and raises from ``close()``: on a full disk that is
  thousands of tracebacks, and a run that ends on one. A :class:`LogFile` that cannot write says
  so once (one warning line on stderr, naming the file and the error), stops writing, and closes
  quietly.
* :func:`disk_full_said_once`: within the block, the first log record that says the disk is full
  (or another cause registered with :func:`add_repeated_cause`: a lost database connection) is
  one line (no traceback), and later ones are left out: the run's summary counts the spectra
  that failed for it.
"""

import contextlib
import errno
import logging
import sys

__all__ = ["LogFile", "LOG_FORMAT", "LOG_DATEFMT", "disk_full", "disk_full_said_once", "add_repeated_cause",
           "DISK_FULL_MARKS"]

#: What an error's text says when the disk (or an SQLite database's disk) was full.
DISK_FULL_MARKS = ("[Errno 28]", "No space left on device", "database or disk is full")

#: The causes said already in this process (then they are not said again).
_said = set()
def disk_full(error):
    """Whether ``error`` (an exception, or the text of one) says the disk was full.

    :param error: an exception or a text (a failure's reason).
    """
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = error if isinstance(error, str) else f"{error}" if error is not None else ""
    return any(mark in text for mark in DISK_FULL_MARKS)


#: Causes that repeat on every spectrum or batch once they happen: name -> predicate of an
#: exception or a text (see :func:`add_repeated_cause`).
_CAUSES = {}


def add_repeated_cause(name, predicate):
    """Say the cause ``name`` once (in one line, without a traceback) within
    :func:`disk_full_said_once` blocks.

    :param name: a name for it (e.g. ``"disk full"``).
    :param predicate: a function of an exception or a message text: whether it is this cause.
    """
    _CAUSES[name] = predicate


add_repeated_cause("disk full", disk_full)


class _SaidOnce(logging.Filter):
    """Lets the first record of each repeated cause through as one line; drops the others."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        cause = next((name for name, said in _CAUSES.items() if said(error) or said(message)), None)
        if cause is None:
            return True
        if cause in _said:
            return False
        _said.add(cause)
        if error is not None:
            record.msg, record.args = f"{message}: {type(error).__name__}: {error}", ()
        record.exc_info = record.exc_text = None
        return True


#: Loggers whose records a full disk repeats (Astra's, and Luigi's worker: a batch that raised).
_FILTERED = ("astra", "luigi-interface")


@contextlib.contextmanager
def disk_full_said_once():
    """Within the block (and in worker processes forked in it), the disk being full is logged
    once, in one line."""
    said = _SaidOnce()
    for name in _FILTERED:
        logging.getLogger(name).addFilter(said)
    try:
        yield
    finally:
        for name in _FILTERED:
            logging.getLogger(name).removeFilter(said)

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
LOG_DATEFMT = "%Y-%m-%d %H:%M:%S"

#: Errors already warned about in this process, by their text: a full disk is said once, not
#: once per log file.
_warned = set()


class LogFile(logging.FileHandler):
    """A :class:`logging.FileHandler` (appending, UTF-8, INFO and above, Astra's format) that
    stops writing after its first error, with one warning.

    :param path: the log file.
    """

    def __init__(self, path):
        super().__init__(path, mode="a", encoding="utf-8", delay=False)
        self.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATEFMT))
        self.setLevel(logging.INFO)
        #: The error that stopped this log (``None`` while it writes).
        self.broken = None

    def emit(self, record):
        """Write ``record``, unless an earlier write failed."""
        if self.broken is None:
            super().emit(record)

    def handleError(self, record):
        """Stop writing this log and warn once, instead of logging's traceback per record."""
        error = sys.exc_info()[1]
        self.broken = error or RuntimeError("unknown error")
        text = f"{type(self.broken).__name__}: {self.broken}"
        full = disk_full(self.broken)
        if text not in _warned and not (full and "disk full" in _said):
            _warned.add(text)
            if full:
                _said.add("disk full")
            print(f"astra: warning: cannot write the log {self.baseFilename} ({text}); it stops here, the run goes on",
                  file=sys.stderr)

    def close(self):
        """Close the file; an error flushing it (a full disk) is not raised."""
        try:
            super().close()
        except OSError as error:
            if self.broken is None:
                self.stream = None
                self.broken = error
                self.handleError(None)
