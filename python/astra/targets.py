"""File targets that are written atomically.

A file target is complete when its file exists. Everything written here goes first to a hidden
temporary file in the same directory and is renamed into place only when writing finished
without an exception, so an exception or a killed process never leaves a partial output (and
the task is not complete).

Why not Luigi's own ``LocalTarget.open("w")`` (``luigi.local_target.atomic_file``)? In Luigi 3.8
it does not rename after an exception either, but its ``__exit__`` then returns without closing:
the temporary file (``<name>-luigi-tmp-<random>``, not hidden) stays open and on disk until the
handle is garbage-collected, which a traceback kept for the failure report can delay. Here the
temporary file is closed and removed as the exception leaves the block, its name carries
:data:`TEMPORARY_MARKER` so searches skip it, and a plain target skips Luigi's format (pipe
writer) machinery, which costs time when a run creates a million targets.
"""

import contextlib
import itertools
import os

import luigi

__all__ = ["AtomicFileTarget", "atomic_path", "atomic_open", "TEMPORARY_MARKER", "is_temporary"]

#: Part of the name of every temporary file; files containing it are never outputs.
TEMPORARY_MARKER = ".astra-tmp-"


def is_temporary(name):
    """Whether a file name is one of our in-progress temporary files."""
    return TEMPORARY_MARKER in name


_counter = itertools.count()


def _temporary_name(path):
    # Unique among processes (pid) and within one (counter); hidden, in the same directory.
    directory, _, name = os.path.abspath(path).rpartition(os.sep)
    return f"{directory}{os.sep}.{name}{TEMPORARY_MARKER}{os.getpid()}-{next(_counter)}"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Use it for writers that want a file name (``astropy.io.fits.HDUList.writeto``)::

        with atomic_path(target.path) as tmp:
            hdulist.writeto(tmp)

    :param path: the final path. Missing parent directories are created.
    """
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = _temporary_name(path)
    try:
        yield temporary
        if not os.path.exists(temporary):
            raise FileNotFoundError(f"nothing was written to the temporary file for {path}")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open ``path`` for writing atomically; the file appears only if the block succeeds.

    :param path: the final path.
    :param mode: ``"w"`` or ``"wb"``.
    :param kwargs: passed to :func:`open` (``encoding``, ...).
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_open writes only; mode {mode!r} is not 'w' or 'wb'")
    path = os.fspath(path)
    temporary = _temporary_name(path)
    try:
        fp = open(temporary, mode, **kwargs)
    except FileNotFoundError:  # first file in a new directory
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fp = open(temporary, mode, **kwargs)
    try:
        with fp:
            yield fp
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class AtomicFileTarget(luigi.LocalTarget):
    """A local file target whose writes are atomic (see the module documentation).

    :param path: the file's path.
    """

    def __init__(self, path, **kwargs):
        if kwargs:
            super().__init__(os.fspath(path), **kwargs)
        else:  # the common case, without Luigi's format machinery (a million of these per run)
            self.path = os.fspath(path)
            self.format = None
            self.is_tmp = False

    def exists(self):
        """Whether the (finished) file exists."""
        return os.path.exists(self.path)

    def open(self, mode="r"):
        """Open for reading, or for an atomic write with ``"w"``/``"wb"``.

        :param mode: ``"r"``, ``"rb"``, ``"w"`` or ``"wb"``.
        """
        if "w" in mode:
            return _AtomicWriteHandle(self.path, mode)
        return open(self.path, mode)

    def temporary_path(self):
        """A context manager yielding a temporary path renamed to :attr:`path` on success."""
        return atomic_path(self.path)

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r})"


class _AtomicWriteHandle:
    """A file handle whose content becomes visible at ``path`` only after a clean close."""

    def __init__(self, path, mode):
        # Set first: if open() below fails, __del__ and __getattr__ still find them.
        self._finished, self._fp = True, None
        self.path = path
        self._temporary = _temporary_name(path)
        try:
            self._fp = open(self._temporary, mode)
        except FileNotFoundError:  # first file in a new directory
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._fp = open(self._temporary, mode)
        self._finished = False

    def __getattr__(self, name):
        # Only called for names not set on the handle; never recurse on our own attributes.
        if name in ("_fp", "_finished", "_temporary"):
            raise AttributeError(name)
        return getattr(self._fp, name)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._finished:
            return False
        self._finished = True
        try:
            self._fp.close()
            if exc_type is None:
                os.replace(self._temporary, self.path)
                return False
        except BaseException:
            self._discard()
            raise
        self._discard()
        return False

    def _discard(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temporary)

    def close(self):
        """Finish the write and rename the file into place."""
        self.__exit__(None, None, None)

    def writable(self):
        """Always true: this handle only writes."""
        return True

    def write(self, data):
        """Write to the temporary file."""
        return self._fp.write(data)

    def __del__(self):
        # Garbage-collected without close(): an unfinished write is discarded, never renamed.
        if not getattr(self, "_finished", True):
            self._finished = True
            with contextlib.suppress(Exception):
                self._fp.close()
            self._discard()
