"""Checking up front that a run can write where its results go.

A class-style ``astra run`` whose output directory cannot be written would otherwise print a
warning, a Luigi traceback and then one ``FileNotFoundError`` per spectrum; this check makes
it one line naming the directory, the reason and the setting that moves it.
"""

import os
import tempfile

__all__ = ["check_writable_directory"]


def check_writable_directory(path, what="output directory"):
    """Create ``path`` if needed and write (and remove) a small file in it.

    :param path: the directory.
    :param what: how to name it in the message.
    :raises ValueError: one line: the directory, the reason, and how to choose another
        (``ASTRA_OUTPUT_DIR`` or ``output_dir`` in astra.yml).
    """
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".astra-write-check-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"the {what} {path} cannot be written ({reason}): set ASTRA_OUTPUT_DIR to a directory "
                         "you can write, or output_dir in your astra.yml (astra config shows where it came from)"
                         ) from None
