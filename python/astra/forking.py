"""Modules a process imports just before it forks, so forked workers do not import them again.

Luigi runs each task of a multi-worker run (``--workers N``, ``astra run --workers N``) in a
forked process. A module the parent has not imported yet is imported again in every child:
for the spectrum readers (:mod:`astra.tools.spectrum`, which imports specutils) that is about
a second per batch. Importing them when a task module is imported would make every command
that never reads a spectrum -- an ``astra run`` with nothing to do, ``astra --help`` -- pay
that second instead.

So the modules in :data:`PRELOAD` are imported lazily where they are used, and once, in the
parent, just before its first fork (:func:`os.register_at_fork`; Python runs these hooks
before it takes the import lock, so importing there is safe). ``subprocess`` does not fork
this way and does not trigger it.
"""

import importlib
import logging
import os
import sys

__all__ = ["PRELOAD", "preload", "install"]

logger = logging.getLogger("astra")

#: Modules imported before a fork (added to by :func:`preload`).
PRELOAD = ["astra.tools.spectrum"]

_installed = False


def preload(name):
    """Import the module ``name`` before the next fork of this process.

    :param name: a dotted module name.
    """
    if name not in PRELOAD:
        PRELOAD.append(name)


def _before_fork():
    for name in PRELOAD:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # a module that cannot import fails where it is used, not here
                logger.debug("could not import %s before forking", name, exc_info=True)


def install():
    """Register the hook (once per process; :mod:`astra.tasks.base` calls this on import)."""
    global _installed
    if not _installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork)
        _installed = True
