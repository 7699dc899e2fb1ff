"""What to say when a user's module does not import (``astra run mymethods.mean_snr ...``).

The ``astra`` and ``luigi`` commands do not put the current directory on Python's path, so a
``mymethods.py`` beside the user is not importable unless ``PYTHONPATH=.`` says so; the hint
says exactly that when the file is there.
"""

import os

__all__ = ["import_hint"]


def import_hint(module_name, error, cwd=None):
    """A suffix for "cannot import module ..." naming the likely fix, or ``""``.

    :param module_name: the dotted module name that failed, e.g. ``"mymethods"``.
    :param error: the :class:`ImportError`.
    :param cwd: the directory to look in (default: the current one).
    :returns: e.g. ``" (mymethods.py is in the current directory, which is not on Python's
        path: run with PYTHONPATH=. ...)"``.
    """
    missing = getattr(error, "name", None)
    if missing and missing != module_name and not module_name.startswith(missing + "."):
        return ""  # the module exists but one of its own imports failed
    top = module_name.split(".")[0]
    cwd = cwd or os.getcwd()
    for candidate in (f"{top}.py", os.path.join(top, "__init__.py"), top):
        if os.path.exists(os.path.join(cwd, candidate)):
            return (f" ({candidate} is in the current directory, which the astra and luigi commands do not put on "
                    "Python's path: run with PYTHONPATH=. in front, e.g. PYTHONPATH=. astra run ..., or install "
                    "your package: docs/your-module.rst)")
    return " (is its directory on PYTHONPATH? e.g. PYTHONPATH=. when it is in the current directory)"
