"""The check of an input file before a spectrum is analysed: one check for every kind of task.

A class-style task checks each member's data-model file before ``process()``
(:meth:`astra.tasks.io.base.SDSSDataModelTask.ensure_available`, which may download it first);
a ``@task`` method's spectra are checked as they are handed to the method
(:mod:`astra.tasks.function_run`). Either way a missing, empty or non-regular file is that
spectrum's failure, with a reason naming the file, and the other spectra still run. A file
that exists but is corrupt is found by the reader (:class:`~astra.tools.spectrum.SpectrumReadError`,
naming the file), also as that spectrum's failure.
"""

import os
import stat

__all__ = ["InputFileError", "input_file_problem", "MISSING", "EMPTY"]

#: :func:`input_file_problem`'s kind for a file that does not exist.
MISSING = "missing"
#: :func:`input_file_problem`'s kind for a zero-byte file.
EMPTY = "empty"


class InputFileError(RuntimeError):
    """A spectrum's input file is missing, empty, unreadable or could not be downloaded."""


def input_file_problem(path):
    """What is wrong with the input file ``path``, if anything.

    :param path: the file.
    :returns: ``None`` for a non-empty regular file, else ``(kind, message)``: ``kind`` is
        :data:`MISSING`, :data:`EMPTY` or ``"unreadable"``, and ``message`` names the file
        (``"empty file (0 bytes): /path"``, ``"file not found: /path"``, ...).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return MISSING, f"file not found: {path}"
    except OSError as error:
        return "unreadable", f"cannot read {path}: {error.strerror or error}"
    if not stat.S_ISREG(info.st_mode):
        return "unreadable", f"{path} is not a file"
    if info.st_size == 0:
        return EMPTY, f"empty file (0 bytes): {path}"
    return None
