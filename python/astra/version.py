"""Astra's version: :data:`__version__` and its ``(major, minor)``, part of every task's identity.

A leaf module (it imports nothing), so any layer may ask for the version without importing the
:mod:`astra` facade, which sits above them all. ``astra.__version__`` and
:func:`astra.version_info` are these same objects.
"""

__all__ = ["__version__", "version_info"]

__version__ = "0.3.0.dev0"


def version_info():
    """The (major, minor) of this Astra; together they are part of every task's identity."""
    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)
